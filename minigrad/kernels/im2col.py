"""Convolution lowered to GEMMs ("im2col"), channels-last: the fast conv kernels.

With ``p = (n, oh, ow)`` an output pixel and columns ordered ``(i, j, c)``:

    col[p, (i, j, c)] = x_pad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    y[p, co]          = sum_k col[p, k] * W[co, (i, j, c)]                 (y = col @ W^T)

Three kernels, the three products of a convolution (``minigrad.ops.conv`` composes them into
conv2d and conv_transpose2d, which are adjoints of each other):

- ``forward``      y  = col(x) @ W^T
- ``input_grad``   dx = col2im(gy @ W); at stride 1 itself a convolution: gy zero-padded by
  ``d*(k-1) - pad``, correlated with the flipped kernel, input and output channels swapped
- ``weight_grad``  dW = col(x)^T @ gy

Layout: the input is copied once into a zero-padded channels-last buffer ``(N, Hp, Wp, C)``; a
window view of it (no copy) is copied into ``col`` in runs of C contiguous values; the GEMM writes
``(N*OH*OW, Cout)``, i.e. channels-last memory, which the op returns as an NCHW-shaped view.

Speed notes: kernel taps that only ever see zero padding (a 3x3 kernel on a 1x1 input) are
dropped (``plan``); ``col`` is built and multiplied in blocks, each by one of the kernel pool's
threads (``gemm.thread_blocks``, ``gemm.pipeline``); the weights are
rearranged only within each output channel, never fully transposed; big arrays come from
``memory``.
"""
from collections import namedtuple

from ..backend import get_array_module
from . import gemm, memory
from .layout import pad_nhwc, windows

__all__ = ["Plan", "plan", "out_size", "weight_rows", "keeps_col", "forward", "input_grad", "weight_grad",
           "KEEP_COL_BYTES"]

KEEP_COL_BYTES = 8 << 20  # keep col for the weight gradient up to this size (a 3x3 col is 9x the input)

# x_shape (N, C, H, W), w_shape (Co, C/G, kh, kw), out (oh, ow), taps (i0, i1, j0, j1) the live
# kernel taps, pads (top, bottom, left, right) cut to what the live taps reach (negative: crop)
Plan = namedtuple("Plan", "x_shape w_shape out taps pads stride dilation groups")


def out_size(n, pad, k, s, d):
    """Output length of a convolution over ``n`` with ``pad`` padding in total."""
    return (n + pad - d * (k - 1) - 1) // s + 1


def _live_taps(n, pad, k, s, d, o):
    """Kernel taps [t0, t1) that read a real input pixel for at least one of the ``o`` outputs."""
    live = []
    for t in range(k):
        c = t * d - pad  # input position of tap t at output 0
        p = max(0, -(c // s))  # first output whose tap t lies at or after input position 0
        if p < o and p * s + c <= n - 1:
            live.append(t)
    return (live[0], live[-1] + 1) if live else (0, 1)


def plan(x_shape, w_shape, stride, padding, dilation, groups, out=None):
    """The geometry of a convolution; ``padding`` = (top, bottom, left, right). ``out`` (oh, ow)
    keeps only the first outputs (conv_transpose2d's output_padding can leave input rows that no
    output of the matching convolution needs)."""
    (H, W), (kh, kw) = x_shape[2:], w_shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = padding
    oh, ow = out or (out_size(H, pt + pb, kh, sh, dh), out_size(W, pl + pr, kw, sw, dw))
    i0, i1 = _live_taps(H, pt, kh, sh, dh, oh)
    j0, j1 = _live_taps(W, pl, kw, sw, dw, ow)
    top, left = pt - i0 * dh, pl - j0 * dw
    bottom = (oh - 1) * sh + (i1 - i0 - 1) * dh + 1 - H - top
    right = (ow - 1) * sw + (j1 - j0 - 1) * dw + 1 - W - left
    return Plan(tuple(x_shape), tuple(w_shape), (oh, ow), (i0, i1, j0, j1), (top, bottom, left, right),
                tuple(stride), tuple(dilation), groups)


def weight_rows(w, p):
    """(Co, cg, kh, kw) -> (G, Co/G, kh'*kw'*cg) over the live taps: each output channel's taps ordered
    (i, j, c) like col's columns. A copy that transposes only within each output channel."""
    xp = get_array_module(w)
    i0, i1, j0, j1 = p.taps
    w = w[:, :, i0:i1, j0:j1]
    Co, cg, kh, kw = w.shape
    out = xp.empty((Co, kh, kw, cg), w.dtype)
    out[...] = w.transpose(0, 2, 3, 1)
    return out.reshape(p.groups, Co // p.groups, kh * kw * cg)


def _is_pointwise(a, kh, kw, oh, ow):
    """A 1x1 kernel at stride 1 without padding: ``col`` is the input itself."""
    return kh == kw == 1 and a.shape[1] == oh and a.shape[2] == ow


def _conv_gemm(a, wt, out, kh, kw, stride, dilation, keep_col=False):
    """``out (N, oh, ow, G*m) = col @ wt`` per group. ``a``: channels-last padded input; ``wt``:
    (G, kh*kw*C/G, m). Returns the whole col (P, kh*kw*C) when ``keep_col``.

    Pipelined on NumPy (``gemm.pipeline``): col is cut into ``gemm.thread_blocks``, and each pool
    thread copies a block and multiplies it while the block is still in its cache."""
    xp = get_array_module(a)
    N, oh, ow, Co = out.shape
    C = a.shape[3]
    pointwise = _is_pointwise(a, kh, kw, oh, ow)  # col is a itself: no copies
    K = C if pointwise else kh * kw * C
    view = None if pointwise else windows(a, kh, kw, stride, dilation, oh, ow, wt.shape[0])
    col = a.reshape(-1, C) if pointwise else memory.empty((N * oh * ow, K), a.dtype, xp) if keep_col else None

    def run(n0, n1, p0, p1):
        rows = (n1 - n0) * (p1 - p0) * ow
        if col is None:
            block = memory.scratch((rows, K), a.dtype, xp, slot="col")
        else:
            start = (n0 * oh + p0) * ow  # the block's own rows of the whole col
            block = col[start: start + rows]
        if not pointwise:
            block.reshape(view[n0:n1, p0:p1].shape)[...] = view[n0:n1, p0:p1]  # the im2col copy
        gemm.group_mm_into(block, wt, out[n0:n1, p0:p1].reshape(rows, Co))

    gemm.pipeline(gemm.thread_blocks(N, oh, ow, K * a.itemsize, xp), run)
    return col if keep_col else None


def _kernel_size(p):
    i0, i1, j0, j1 = p.taps
    return i1 - i0, j1 - j0


def forward(x, wm, p, keep_col=False):
    """``y`` (N, oh, ow, Co) channels-last = col(x) @ W^T, with ``wm = weight_rows(W, p)``.
    Returns ``(y, col)``; col is None unless ``keep_col``."""
    xp = get_array_module(x)
    kh, kw = _kernel_size(p)
    a = pad_nhwc(x, *p.pads)
    y = memory.empty((p.x_shape[0],) + p.out + (p.w_shape[0],), x.dtype, xp)
    col = _conv_gemm(a, wm.transpose(0, 2, 1), y, kh, kw, p.stride, p.dilation, keep_col)
    return y, col


def keeps_col(p, itemsize):
    """Whether ``forward`` should keep col for the weight gradient (small enough)."""
    kh, kw = _kernel_size(p)
    N, C = p.x_shape[:2]
    return N * p.out[0] * p.out[1] * kh * kw * C * itemsize <= KEEP_COL_BYTES


def weight_grad(x, g, p, col=None):
    """dW (Co, C/G, kh, kw) = col(x)^T @ gy; ``g`` is gy channels-last (N, oh, ow, Co); ``col`` the
    kept col, else col is rebuilt block by block from ``x``."""
    xp = get_array_module(g)
    kh, kw = _kernel_size(p)
    N, oh, ow, Co = g.shape
    G = p.groups
    C = p.x_shape[1]
    K = kh * kw * C
    out_major = Co * K >= 1 << 19  # big weights: (Co, K) memory order, cheap to turn into (Co, C, kh, kw)
    # the rows (output pixels) split over the pool's threads, each adding up its own blocks' products
    parts = gemm.thread_blocks(N, oh, ow, K * g.itemsize, xp)
    if col is not None:
        def part(n0, n1, p0, p1):
            r0, r1 = (n0 * oh + p0) * ow, ((n1 - 1) * oh + p1) * ow
            return gemm.group_mm_t(col[r0:r1], g[n0:n1, p0:p1].reshape(r1 - r0, Co), G, out_major)
    else:
        view = windows(pad_nhwc(x, *p.pads), kh, kw, p.stride, p.dilation, oh, ow, G)

        def part(n0, n1, p0, p1):
            rows = (n1 - n0) * (p1 - p0) * ow
            block = memory.scratch((rows, K), g.dtype, xp, slot="col")
            block.reshape(view[n0:n1, p0:p1].shape)[...] = view[n0:n1, p0:p1]  # the im2col copy
            return gemm.group_mm_t(block, g[n0:n1, p0:p1].reshape(rows, Co), G, out_major)
    gwt = gemm.pipeline(parts, part, accumulate=True)
    # gwt (G, kh*kw*cg, Co/G) -> (Co, cg, kh, kw), zero at the dropped taps
    cg = C // G
    i0, i1, j0, j1 = p.taps
    gw = (xp.zeros if (kh, kw) != p.w_shape[2:] else xp.empty)(p.w_shape, g.dtype)
    gw.reshape(G, Co // G, cg, *p.w_shape[2:])[..., i0:i1, j0:j1] = (
        gwt.reshape(G, kh, kw, cg, Co // G).transpose(0, 4, 3, 1, 2))
    return gw


def input_grad(g, wm, p):
    """dx (N, H, W, C) channels-last from gy channels-last ``g`` (N, oh, ow, Co), ``wm = weight_rows(W, p)``."""
    xp = get_array_module(g)
    N, C, H, W = p.x_shape
    oh, ow = p.out
    pt, pb, pl, pr = p.pads
    kh, kw = _kernel_size(p)
    Co = g.shape[3]
    G = p.groups
    cg, cog = C // G, Co // G
    (sh, sw), (dh, dw) = p.stride, p.dilation
    if sh == sw == 1:
        # dx = gy zero-padded by d*(k-1) - pad, correlated with the flipped kernel, in/out channels swapped
        gpad = pad_nhwc(g.transpose(0, 3, 1, 2), dh * (kh - 1) - pt, dh * (kh - 1) - pb,
                        dw * (kw - 1) - pl, dw * (kw - 1) - pr)
        wf = xp.ascontiguousarray(  # wf[g, (i', j', co), c] = W[co, c, kh-1-i', kw-1-j']
            wm.reshape(G, cog, kh, kw, cg)[:, :, ::-1, ::-1].transpose(0, 2, 3, 1, 4)).reshape(G, kh * kw * cog, cg)
        dx = memory.empty((N, H, W, C), g.dtype, xp)
        _conv_gemm(gpad, wf, dx, kh, kw, (1, 1), (dh, dw))
        return dx
    # strided: dcol = gy @ W block by block, each kernel offset's window added back (col2im)
    K = kh * kw * C
    top, left = max(pt, 0), max(pl, 0)  # dxp covers the input plus the (non-negative) padding
    ot, ol = top - pt, left - pl  # where padded position 0 lies in dxp
    dxp = memory.zeros((N, top + H + max(pb, 0), left + W + max(pr, 0), G, cg), g.dtype, xp)
    hi, wi = (oh - 1) * sh + 1, (ow - 1) * sw + 1

    def run(n0, n1, _p0, _p1):  # whole images: their windows in dxp overlap no other block's
        r = (n1 - n0) * oh * ow
        dcol = memory.scratch((r, K), g.dtype, xp, slot="dcol")
        gemm.group_mm_into(g[n0:n1].reshape(r, Co), wm, dcol)
        dcol = dcol.reshape(n1 - n0, oh, ow, G, kh, kw, cg)
        for i in range(kh):
            for j in range(kw):
                u, v = ot + i * dh, ol + j * dw
                dxp[n0:n1, u: u + hi: sh, v: v + wi: sw] += dcol[:, :, :, :, i, j]

    gemm.pipeline(gemm.thread_blocks(N, oh, ow, K * g.itemsize, xp, whole_images=True), run)
    return dxp[:, top: top + H, left: left + W].reshape(N, H, W, C)

