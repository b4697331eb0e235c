"""Winograd's minimal filtering F(2x2, 3x3) for 3x3 stride-1 convolutions (Lavin & Gray, 2016).

A 2x2 block of outputs of a 3x3 correlation reads a 4x4 tile ``d`` of the padded input. Direct
evaluation costs 2*2*3*3 = 36 multiplications per (input channel, output channel) pair; Winograd's
algorithm needs 16:

    y_tile = A^T [ (G g G^T) (.) (B^T d B) ] A          ((.) elementwise on 4x4 arrays)

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

Summed over input channels, the elementwise product becomes 16 matrix products, one per position
(r, s) of the 4x4 transform: ``M[rs] (tiles, Co) = V[rs] (tiles, C) @ U[rs] (C, Co)`` with
``V = B^T d B`` (the input transform, one cheap pass over memory) and ``U = G g G^T``.

The same identity gives the two gradients (the maps are linear, so each backward is the adjoint):
- dx: a 3x3 stride-1 convolution of gy (padded by 2 - pad) with the flipped kernel, input and
  output channels swapped: computed by the same ``conv``;
- dW: ``dU[rs] = V[rs]^T @ Z[rs]`` with ``Z = A gy_tile A^T`` (gy's 2x2 tiles lifted to 4x4), then
  ``dW = G^T dU G``, the adjoint of the weight transform.

The transforms add and subtract, so float32 rounding grows a little: on the ResNet18 shapes the max
error relative to the largest output is ~1e-6 (see ``benchmarks/bench_winograd.py``).
All arrays are channels-last: tiles are ``(N, th, tw)`` with C (or Co) contiguous last.
"""
from ..backend import get_array_module
from . import gemm, memory

__all__ = ["applies", "conv", "input_grad", "weight_grad", "ENABLED", "MIN_CHANNELS", "MIN_OUT",
           "SINGLE_THREAD_ONLY", "BLOCK_BYTES"]

# When it runs (measured on the project's 2-core machine with ``benchmarks/bench_winograd.py``,
# forward+backward against im2col): with one BLAS thread it took 0.64-0.82x im2col's time at
# C >= 128 and outputs of 8x8 or more (ResNet18's layer2/layer3 at 32x32), but 1.05-1.2x at 64
# channels (the transforms, NumPy memory passes, cost more than the GEMM time saved) and 1.2-2x at
# 4x4 outputs. With both cores, pipelined as im2col is (each pool thread transforms and multiplies
# its own block of images), it did not gain against pipelined im2col on 2026-12-01 on any ResNet18
# shape: 0.85-1.35x at 32x32 and 16x16, 1.05-1.7x at 8x8, 2x and more below (its 16 products per
# block are small and run at a fraction of the GEMM's speed). So it runs only where it gained:
# enough channels and pixels, and a single-threaded BLAS (``gemm.blas_thread_count``).
ENABLED = True
MIN_CHANNELS = 128
MIN_OUT = 8
SINGLE_THREAD_ONLY = True
BLOCK_BYTES = 2 << 20  # a pipelined block's transforms V and M (see ``conv``)

_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def applies(p):
    """Whether a conv ``plan`` (``im2col.plan``) is one Winograd F(2x2, 3x3) handles and gains on: a
    full 3x3 kernel, stride 1, no dilation, one group, padding at most 2, and the sizes and thread
    count where it was measured faster (see ``ENABLED``)."""
    N, C, H, W = p.x_shape
    return (ENABLED and p.w_shape[2:] == (3, 3) and p.taps == (0, 3, 0, 3) and p.stride == (1, 1)
            and p.dilation == (1, 1) and p.groups == 1 and all(0 <= q <= 2 for q in p.pads)
            and min(p.out) >= max(MIN_OUT, 2) and C >= MIN_CHANNELS and p.w_shape[0] >= MIN_CHANNELS and N > 0
            and (not SINGLE_THREAD_ONLY or gemm.blas_thread_count() == 1))


def _weight_transform(w):
    """U[r, s] = (G g G^T)[r, s] for each (co, c): (Co, C, 3, 3) -> (16, C, Co)."""
    xp = get_array_module(w)
    G = xp.asarray(_G, dtype=w.dtype)
    t = xp.tensordot(w, G, axes=([3], [1]))  # (Co, C, 3, s): g G^T
    U = xp.tensordot(G, t, axes=([1], [2]))  # (r, Co, C, s): G g G^T
    return xp.ascontiguousarray(U.transpose(0, 3, 2, 1)).reshape(16, w.shape[1], w.shape[0])


def _padded(x, pads, th, tw):
    """NCHW-shaped x (a block of images) -> channels-last (n, 2*th + 2, 2*tw + 2, C), zero-padded
    (top, left) and up to the tile grid (bottom, right); the thread's scratch buffer."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    top, _, left, _ = pads
    a = memory.scratch((N, 2 * th + 2, 2 * tw + 2, C), x.dtype, xp, slot="winograd-pad")
    a[:, :top] = 0
    a[:, top + H:] = 0
    a[:, top:top + H, :left] = 0
    a[:, top:top + H, left + W:] = 0
    a[:, top:top + H, left:left + W] = x.transpose(0, 2, 3, 1)
    return a


def _input_transform(a, th, tw):
    """V (4, 4, n, th, tw, C) = B^T d B for every 4x4 tile d = a[:, 2ty:2ty+4, 2tx:2tx+4] (stride 2)."""
    xp = get_array_module(a)
    N, _, Wp, C = a.shape
    V = memory.scratch((4, 4, N, th, tw, C), a.dtype, xp, slot="winograd-v")
    R = [a[:, r: r + 2 * th - 1: 2] for r in range(4)]  # row r of every tile: (N, th, Wp, C)
    u = memory.scratch((N, th, Wp, C), a.dtype, xp, slot="winograd-in")
    for i, (p, q, sign) in enumerate(((0, 2, -1), (1, 2, 1), (2, 1, -1), (1, 3, -1))):  # rows of B^T
        (xp.add if sign > 0 else xp.subtract)(R[p], R[q], out=u)
        S = [u[:, :, s: s + 2 * tw - 1: 2] for s in range(4)]  # column s of every tile
        xp.subtract(S[0], S[2], out=V[i, 0])
        xp.add(S[1], S[2], out=V[i, 1])
        xp.subtract(S[2], S[1], out=V[i, 2])
        xp.subtract(S[1], S[3], out=V[i, 3])
    return V


def _output_transform(M, y):
    """y (n, 2*th, 2*tw, Co) = A^T m A for each tile's 4x4 ``m`` = M[:, :, n, ty, tx]."""
    xp = get_array_module(M)
    T = memory.scratch((2,) + M.shape[1:], M.dtype, xp, slot="winograd-out")
    xp.add(M[0], M[1], out=T[0])
    T[0] += M[2]  # row 0 of A^T: m0 + m1 + m2
    xp.subtract(M[1], M[2], out=T[1])
    T[1] -= M[3]  # row 1 of A^T: m1 - m2 - m3
    for r in range(2):
        t = T[r]
        even, odd = y[:, r::2, 0::2], y[:, r::2, 1::2]
        xp.add(t[0], t[1], out=even)
        even += t[2]
        xp.subtract(t[1], t[2], out=odd)
        odd -= t[3]
    return y


def _tiles(out):
    oh, ow = out
    return -(-oh // 2), -(-ow // 2)


def _image_blocks(N, th, tw, C, Co, xp):
    """Blocks of whole images for ``gemm.pipeline``: a block's transforms (V, M) about ``BLOCK_BYTES``."""
    return gemm.thread_blocks(N, th, tw, 16 * (C + Co) * 4, xp, whole_images=True, budget=BLOCK_BYTES)


def conv(x, w, pads, out):
    """Channels-last y (N, oh, ow, Co) = the 3x3 stride-1 correlation of NCHW-shaped ``x`` with ``w``
    (Co, C, 3, 3), zero padding ``pads`` (top, bottom, left, right) and output size ``out``.
    Pipelined: each pool thread transforms a block of images, runs the 16 products with a one-thread
    BLAS and transforms them back, all in its cache (``gemm.pipeline``)."""
    xp = get_array_module(x)
    N, C = x.shape[:2]
    Co = w.shape[0]
    th, tw = _tiles(out)
    U = _weight_transform(w)
    oh, ow = out
    y = memory.empty((N, 2 * th, 2 * tw, Co), x.dtype, xp)

    def run(n0, n1, _p0, _p1):
        V = _input_transform(_padded(x[n0:n1], pads, th, tw), th, tw).reshape(16, -1, C)
        M = memory.scratch((16, V.shape[1], Co), x.dtype, xp, slot="winograd-m")
        for k in range(16):
            gemm.mm_into(V[k], U[k], M[k])
        _output_transform(M.reshape(4, 4, n1 - n0, th, tw, Co), y[n0:n1])

    gemm.pipeline(_image_blocks(N, th, tw, C, Co, xp), run)
    if (2 * th, 2 * tw) == (oh, ow):
        return y
    cropped = memory.empty((N, oh, ow, Co), x.dtype, xp)
    cropped[...] = y[:, :oh, :ow]
    return cropped


def input_grad(g, w, p):
    """dx (N, H, W, C) channels-last from gy channels-last ``g`` (N, oh, ow, Co): gy padded by
    2 - pad, correlated with the flipped kernel, input and output channels swapped."""
    wf = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # wf[c, co, i, j] = W[co, c, 2-i, 2-j]
    top, bottom, left, right = p.pads
    return conv(g.transpose(0, 3, 1, 2), wf, (2 - top, 2 - bottom, 2 - left, 2 - right), p.x_shape[2:])


def weight_grad(x, g, p):
    """dW (Co, C, 3, 3) = G^T (sum over tiles of (B^T d B) (.) (A gy A^T)) G, as 16 products
    dU[rs] = V[rs]^T @ Z[rs] over the tiles (each pool thread adds up its own blocks' products)."""
    xp = get_array_module(g)
    N, oh, ow, Co = g.shape
    C = x.shape[1]
    th, tw = _tiles((oh, ow))
    if (2 * th, 2 * tw) != (oh, ow):  # gy on the whole tile grid: zeros beyond the output
        gg = memory.zeros((N, 2 * th, 2 * tw, Co), g.dtype, xp)
        gg[:, :oh, :ow] = g
        g = gg

    def part(n0, n1, _p0, _p1):
        n = n1 - n0
        V = _input_transform(_padded(x[n0:n1], p.pads, th, tw), th, tw).reshape(16, -1, C)
        # Z (4, 4, n, th, tw, Co) = A z A^T for each 2x2 tile z of gy, A = [[1, 0], [1, 1], [1, -1], [0, -1]]
        Z = memory.scratch((4, 4, n, th, tw, Co), g.dtype, xp, slot="winograd-z")
        g0, g1 = g[n0:n1, 0::2], g[n0:n1, 1::2]  # row 0 and row 1 of every tile
        rows = memory.scratch((4, n, th, 2 * tw, Co), g.dtype, xp, slot="winograd-rows")
        rows[0] = g0
        xp.add(g0, g1, out=rows[1])
        xp.subtract(g0, g1, out=rows[2])
        xp.negative(g1, out=rows[3])
        for i in range(4):
            c0, c1 = rows[i][:, :, 0::2], rows[i][:, :, 1::2]
            Z[i, 0] = c0
            xp.add(c0, c1, out=Z[i, 1])
            xp.subtract(c0, c1, out=Z[i, 2])
            xp.negative(c1, out=Z[i, 3])
        Z = Z.reshape(16, -1, Co)
        dU = xp.empty((16, C, Co), g.dtype)
        for k in range(16):
            gemm.mm_into(V[k].T, Z[k], dU[k])
        return dU

    dU = gemm.pipeline(_image_blocks(N, th, tw, C, Co, xp), part, accumulate=True)
    G = xp.asarray(_G, dtype=g.dtype)
    t = xp.tensordot(G, dU.reshape(4, 4, C, Co), axes=([0], [0]))  # (i, s, C, Co): G^T dU
    dw = xp.tensordot(t, G, axes=([1], [0]))  # (i, C, Co, j): G^T dU G
    return xp.ascontiguousarray(dw.transpose(2, 1, 0, 3))
