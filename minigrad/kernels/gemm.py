"""Matrix products the way OpenBLAS runs them fastest, and the blocking of big lowered products.

- ``mm`` / ``mm_into``: ``a @ b`` in the faster orientation. OpenBLAS runs a product several times
  faster when its narrow dimension comes last (measured with two threads; also far steadier when
  other processes compete for the cores), so a wide result is computed as ``(b^T @ a^T)^T``.
- ``group_mm_into`` / ``group_mm_t``: the same for block-diagonal (grouped) weights.
- ``thread_blocks`` and ``pipeline``: a lowered product (e.g. im2col's ``col`` @ W) cut into
  blocks of rows (``THREAD_BLOCK_BYTES`` each, at least two per thread), each block built and
  multiplied by one of the kernel pool's threads with a one-thread BLAS, while it is still in that
  core's cache. Tests shrink the budget to run the blocked code on small inputs.
"""
import contextlib
import os

import numpy as np

from ..backend import get_array_module
from . import threads

__all__ = ["mm", "mm_into", "group_mm_into", "group_mm_t", "thread_blocks", "pipeline", "blas_thread_count",
           "THREAD_BLOCK_BYTES", "MIN_BLOCK_ROWS"]

# A pipelined block: written by one thread and multiplied by it right away, from its cache. Measured
# on the ResNet18 3x3 shapes (2 cores, L2 1 MiB each): 2-5 MiB blocks run 1.05-1.5x faster than
# one big product on OpenBLAS's two threads (which also has to wait for the whole col), and the
# OpenBLAS workers, never woken, do not spin on the cores the pool's threads need. 2 MiB beat 4 MiB
# by ~10% at 64 channels (conv forward+backward); a product of fewer than ~256 rows runs slower.
THREAD_BLOCK_BYTES = 2 << 20
MIN_BLOCK_ROWS = 256  # ... but at least this many rows


def _thread_policy(a, b):
    """The BLAS thread policy of ``threads.py`` for ``a @ b``: a small product runs single-threaded
    (spinning BLAS threads would fight for the cores on a busy machine)."""
    if type(a) is np.ndarray and threads.small_gemm(a.shape[0], b.shape[1], a.shape[1]):
        return threads.blas_threads(1)
    return contextlib.nullcontext()


def mm(a, b):
    """``a @ b``, computed as ``(b^T @ a^T)^T`` when the result is wider than tall."""
    with _thread_policy(a, b):
        if a.shape[0] < b.shape[1]:
            return (b.T @ a.T).T
        return a @ b


def mm_into(a, b, out):
    """``out[...] = a @ b`` (in the faster orientation, see ``mm``)."""
    with _thread_policy(a, b):
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


def blas_thread_count():
    """How many threads the BLAS runs with, as the usual environment variables say (else all cores)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def thread_blocks(N, oh, ow, row_bytes, xp, whole_images=False, budget=None):
    """Blocks of whole output rows ``(n0, n1, p0, p1)`` (images n0:n1, rows p0:p1) for
    ``pipeline``: each under ``budget`` bytes (default ``THREAD_BLOCK_BYTES``) at ``row_bytes`` per
    output pixel unless that leaves fewer than ``MIN_BLOCK_ROWS`` pixels, and at least two per pool
    thread so that a thread slowed by another process leaves its share to the others.
    ``whole_images``: never split an image. One block on a GPU."""
    if xp is not np:
        return [(0, N, 0, oh)]
    workers = threads.num_workers()
    rows = max((budget or THREAD_BLOCK_BYTES) // max(row_bytes, 1), MIN_BLOCK_ROWS)
    nb = -(-N * oh * ow // rows)
    if workers > 1:  # a multiple of the threads, at least two each
        nb = max(-(-nb // workers) * workers, 2 * workers)
    return _split(N, oh, min(nb, N if whole_images else N * oh), whole_images)


def pipeline(parts, run, accumulate=False):
    """``run(*part)`` for every part of ``parts``, spread over the kernel pool, each call with a
    one-thread BLAS. No OpenBLAS worker is woken, so none is left spinning on a core the pool
    needs next. ``accumulate``: each thread adds up its own parts' results (consecutive parts),
    and the sum of all is returned; the parts must then be independent of the order they run in.
    A single part runs as it is, under ``matmul``'s usual policy (a GPU's one big product)."""
    if len(parts) == 1:
        return run(*parts[0])
    if accumulate:
        def chunk(lo, hi):
            total = run(*parts[lo])
            for i in range(lo + 1, hi):
                total += run(*parts[i])
            return total
        per = -(-len(parts) // threads.num_workers())
    else:
        def chunk(lo, hi):
            for i in range(lo, hi):
                run(*parts[i])
        per = 1
    with threads.blas_threads(1):
        results = threads.parallel_for(chunk, len(parts), per)
    if not accumulate:
        return None
    total = results[0]
    for r in results[1:]:
        total += r
    return total


def _split(N, oh, nb, whole_images):
    """About ``nb`` contiguous row ranges ``(n0, n1, p0, p1)`` of the output pixels (n, p, q), as
    equal as whole images (or whole output rows) allow."""
    if nb <= 1 or N == 0:
        return [(0, N, 0, oh)]
    if nb <= N or whole_images:
        nb = min(nb, N)
        edges = [N * i // nb for i in range(nb + 1)]
        return [(edges[i], edges[i + 1], 0, oh) for i in range(nb)]
    per_image = min(-(-nb // N), oh)  # several blocks per image
    edges = [oh * i // per_image for i in range(per_image + 1)]
    return [(n, n + 1, edges[i], edges[i + 1]) for n in range(N) for i in range(per_image)]
