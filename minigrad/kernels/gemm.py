"""Matrix products the way OpenBLAS runs them fastest, and the blocking of big lowered products.

- ``mm`` / ``mm_into``: ``a @ b`` in the faster orientation. OpenBLAS runs a product several times
  faster when its narrow dimension comes last (measured with two threads; also far steadier when
  other processes compete for the cores), so a wide result is computed as ``(b^T @ a^T)^T``.
- ``group_mm_into`` / ``group_mm_t``: the same for block-diagonal (grouped) weights.
- ``blocks``: how to split the rows of a lowered product (e.g. im2col's ``col``) so that each block
  stays under a byte budget (``BLOCK_BYTES``, or ``BLOCK_BYTES_1THREAD`` when the BLAS runs one
  thread). Tests shrink the budgets to run the blocked code on small inputs.
"""
import os

import numpy as np

from ..backend import get_array_module

__all__ = ["mm", "mm_into", "group_mm_into", "group_mm_t", "blocks", "blas_threads",
           "BLOCK_BYTES", "BLOCK_BYTES_1THREAD"]

BLOCK_BYTES = 32 << 20  # a lowered operand is built and multiplied in blocks of at most this size ...
BLOCK_BYTES_1THREAD = 2 << 20  # ... or of about the L2 cache size when the BLAS is single-threaded


def mm(a, b):
    """``a @ b``, computed as ``(b^T @ a^T)^T`` when the result is wider than tall."""
    if a.shape[0] < b.shape[1]:
        return (b.T @ a.T).T
    return a @ b


def mm_into(a, b, out):
    """``out[...] = a @ b`` (in the faster orientation, see ``mm``)."""
    if a.shape[0] < b.shape[1]:
        out[...] = (b.T @ a.T).T
    else:
        get_array_module(out).matmul(a, b, out=out)


def group_mm_into(a, b, out):
    """``out (r, G*m) = a (r, G*k) @ b (G, k, m)`` group by group (block-diagonal weights)."""
    G, k, m = b.shape
    if G == 1:
        return mm_into(a, b[0], out)
    xp = get_array_module(a)
    r = a.shape[0]
    out.reshape(r, G, m)[...] = xp.matmul(a.reshape(r, G, k).transpose(1, 0, 2), b).transpose(1, 0, 2)


def group_mm_t(a, b, G, out_major=False):
    """``a^T @ b`` group by group: a (r, G*k), b (r, G*m) -> (G, k, m). With ``out_major`` the
    product is computed as ``b^T @ a`` (memory (G, m, k)) and a transposed view returned."""
    xp = get_array_module(a)
    r = a.shape[0]
    if G == 1:
        return ((b.T @ a).T if out_major else mm(a.T, b))[None]
    ag, bg = a.reshape(r, G, -1).transpose(1, 0, 2), b.reshape(r, G, -1).transpose(1, 0, 2)
    if out_major:
        return xp.matmul(bg.transpose(0, 2, 1), ag).transpose(0, 2, 1)
    return xp.matmul(ag.transpose(0, 2, 1), bg)


def blas_threads():
    """How many threads the BLAS runs with, as the usual environment variables say (else all cores)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def blocks(N, oh, ow, row_bytes, xp, whole_images=False):
    """Split the output pixels (n, p, q) into blocks whose rows (``row_bytes`` per output pixel)
    stay under the block budget; each block is a contiguous row range ``(n0, n1, p0, p1)`` = images
    n0:n1, output rows p0:p1 (``whole_images``: never split an image).

    With a single-threaded BLAS, blocks the size of the L2 cache let the GEMM read each piece right
    after it was written. A multi-threaded BLAS call must wake its threads, which costs
    milliseconds when other processes compete for the cores: then few, big GEMMs are better.
    """
    budget = BLOCK_BYTES_1THREAD if blas_threads() == 1 else BLOCK_BYTES
    nb = max(1, -(-N * oh * ow * row_bytes // budget)) if xp is np else 1  # a GPU wants one big GEMM
    if nb == 1 or N == 0:
        return [(0, N, 0, oh)]
    if nb <= N or whole_images:
        step = -(-N // min(nb, N))
        return [(n, min(N, n + step), 0, oh) for n in range(0, N, step)]
    step = -(-oh // -(-nb // N))  # several blocks per image
    return [(n, n + 1, p, min(oh, p + step)) for n in range(N) for p in range(0, oh, step)]
