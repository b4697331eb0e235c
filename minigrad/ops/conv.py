"""Linear and 2-D convolution as matrix products (GEMMs).

Convolution is lowered to one GEMM per group ("im2col"): with ``p = (n, oh, ow)`` an output pixel,

    col[p, (i, j, c)] = x_pad[n, oh*sh + i*dh, ow*sw + j*dw, c]
    y[p, co]          = sum_k col[p, k] * W[co, (i, j, c)]                 (y = col @ W^T)

The memory layout is chosen so that no big array is ever transposed:
- the input is copied once into a zero-padded *channels-last* buffer ``(N, Hp, Wp, C)``; a window
  view of it (``as_strided``, shape ``(N, OH, OW, kh, kw, C)``, no copy) is copied into ``col`` in
  runs of C contiguous values;
- the GEMM produces ``(N*OH*OW, Cout)``: channels-last memory, returned as an NCHW-shaped *view*
  (``transpose(0, 3, 1, 2)``, no copy). Elementwise ops keep that memory order, so the next
  convolution finds its input channels-last (its "transpose" is a plain copy) and gradients that
  arrive in the same order are used without any copy.

Backward, with ``gy`` as the ``(P, Cout)`` matrix:
- ``dW = col^T @ gy`` and ``db = sum_p gy``;
- ``dx`` at stride 1 is itself a convolution: ``gy`` zero-padded by ``d*(k-1) - pad`` on each side,
  correlated with the flipped kernel, input and output channels swapped (im2col of ``gy``, then one
  GEMM that writes ``dx`` directly). At larger strides: ``dcol = gy @ W``, then col2im adds the
  kh*kw shifted windows of ``dcol`` into ``dx``, one kernel offset at a time.

Speed notes (NumPy has no fused kernels, so copies and allocations are what a GEMM-bound op loses):
- kernel taps that only ever see zero padding (a 3x3 kernel on a 1x1 or 2x2 input) are dropped;
- ``col`` is kept for ``dW`` when it is small, otherwise rebuilt from the (kh*kw times smaller)
  padded input; it is built and multiplied in blocks (``_blocks``);
- the weights are rearranged only within each output channel (cheap), never fully transposed;
- big scratch arrays come from a caching allocator (``_cache``): a fresh 75 MB NumPy array costs
  as much in page faults as the copy that fills it;
- OpenBLAS runs a product several times faster when its narrow dimension comes last (``_mm``).
"""
import os
import sys
import threading

import numpy as np

from ..autograd import Function
from ..backend import get_array_module

# ------------------------------------------------------------------ a caching allocator


class _BufferCache:
    """Reuse big host arrays instead of asking the OS for fresh pages every call.

    Each cached buffer is a flat byte array. ``empty(shape, dtype)`` hands out a view of a buffer of
    exactly that size that nobody else references (its reference count says only the cache holds
    it: views of a NumPy array keep a reference to it, so a buffer whose data is still in use -
    saved for backward, an output some tensor holds - is never handed out twice). Small arrays and
    CuPy arrays (CuPy has its own memory pool) are allocated normally.
    """

    min_bytes = 1 << 20

    def __init__(self, limit_bytes=1 << 30):
        self.limit = limit_bytes
        self.buffers = []
        self.lock = threading.Lock()
        probe = [np.empty(1)]
        self._free_refs = sys.getrefcount(probe[0])  # refs of a buffer only the list holds

    def empty(self, shape, dtype, xp=np):
        dtype = np.dtype(dtype)
        n = dtype.itemsize
        for s in shape:
            n *= s
        if xp is not np or n < self.min_bytes:
            return xp.empty(shape, dtype)
        with self.lock:
            return self._take(n).view(dtype).reshape(shape)

    def _take(self, n):
        bufs, free = self.buffers, self._free_refs
        for k in range(len(bufs)):
            if bufs[k].nbytes == n and sys.getrefcount(bufs[k]) == free:
                bufs.append(bufs.pop(k))  # most recently used last
                return bufs[-1]
        total = sum(b.nbytes for b in bufs)
        k = 0
        while total + n > self.limit and k < len(bufs):  # drop free buffers, least recently used first
            if sys.getrefcount(bufs[k]) == free:
                total -= bufs.pop(k).nbytes
            else:
                k += 1
        buf = np.empty(n, np.uint8)
        if total + n <= self.limit:
            bufs.append(buf)
        return buf

    def zeros(self, shape, dtype, xp=np):
        out = self.empty(shape, dtype, xp)
        out.fill(0)
        return out

    def clear(self):
        with self.lock:
            self.buffers = []


_cache = _BufferCache()


def clear_buffer_cache():
    """Release the scratch buffers kept between convolution calls."""
    _cache.clear()


# ------------------------------------------------------------------ layout helpers


def _nhwc(a):
    """An NCHW-shaped array as a C-contiguous channels-last array (no copy when it already is)."""
    xp = get_array_module(a)
    t = a.transpose(0, 2, 3, 1)
    if t.flags.c_contiguous:
        return t
    out = _cache.empty(t.shape, a.dtype, xp)
    out[...] = t
    return out


def _pad_nhwc(a, top, bottom, left, right, value=0):
    """NCHW-shaped ``a`` -> channels-last ``(N, H+top+bottom, W+left+right, C)`` padded with ``value``.
    A negative amount crops instead."""
    xp = get_array_module(a)
    N, C, H, W = a.shape
    src = a[:, :, max(-top, 0): H - max(-bottom, 0), max(-left, 0): W - max(-right, 0)]
    top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return _nhwc(src)
    h, w = src.shape[2], src.shape[3]
    out = _cache.empty((N, top + h + bottom, left + w + right, C), a.dtype, xp)
    out[:, :top] = value  # fill only the border
    out[:, top + h:] = value
    out[:, top:top + h, :left] = value
    out[:, top:top + h, left + w:] = value
    out[:, top:top + h, left:left + w] = src.transpose(0, 2, 3, 1)
    return out


def _windows(a, kh, kw, stride, dilation, oh, ow, groups):
    """Channels-last padded ``a`` (N, Hp, Wp, C) -> the view ``(N, oh, ow, groups, kh, kw, C/groups)``
    with ``view[n, p, q, g, i, j, c] = a[n, p*sh + i*dh, q*sw + j*dw, g*C/groups + c]`` (no copy)."""
    xp = get_array_module(a)
    N, _, _, C = a.shape
    sN, sH, sW, sC = a.strides
    (sh, sw), (dh, dw) = stride, dilation
    cg = C // groups
    return xp.lib.stride_tricks.as_strided(
        a, (N, oh, ow, groups, kh, kw, cg), (sN, sH * sh, sW * sw, sC * cg, sH * dh, sW * dw, sC)
    )


def _blas_threads():
    """How many threads the BLAS runs with, as the usual environment variables say (else all cores)."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def _blocks(N, oh, ow, row_bytes, xp, whole_images=False):
    """Split the output pixels (n, p, q) into blocks whose ``col`` (``row_bytes`` per output pixel)
    stays under the block budget; each block is a contiguous row range ``(n0, n1, p0, p1)`` = images
    n0:n1, output rows p0:p1.

    With a single-threaded BLAS, blocks the size of the L2 cache let the GEMM read each piece of col
    right after it was written. A multi-threaded BLAS call must wake its threads, which costs
    milliseconds when other processes compete for the cores: then few, big GEMMs are better.
    """
    budget = _BLOCK_BYTES_1THREAD if _blas_threads() == 1 else _BLOCK_BYTES
    nb = max(1, -(-N * oh * ow * row_bytes // budget)) if xp is np else 1  # a GPU wants one big GEMM
    if nb == 1:
        return [(0, N, 0, oh)]
    if nb <= N or whole_images:
        step = -(-N // min(nb, N))
        return [(n, min(N, n + step), 0, oh) for n in range(0, N, step)]
    step = -(-oh // -(-nb // N))  # several blocks per image
    return [(n, n + 1, p, min(oh, p + step)) for n in range(N) for p in range(0, oh, step)]


def _mm(a, b):
    """``a @ b``, computed as ``(b^T @ a^T)^T`` when the result is wider than tall: OpenBLAS runs a
    product faster with its narrow axis last (measured: up to several times faster with two threads,
    and far steadier when other processes compete for the cores)."""
    if a.shape[0] < b.shape[1]:
        return (b.T @ a.T).T
    return a @ b


def _mm_into(a, b, out):
    """``out[...] = a @ b`` (in the faster orientation, see ``_mm``)."""
    if a.shape[0] < b.shape[1]:
        out[...] = (b.T @ a.T).T
    else:
        get_array_module(out).matmul(a, b, out=out)


def _out_size(n, pad, k, s, d):
    return (n + pad - d * (k - 1) - 1) // s + 1


def _live_taps(n, pad, k, s, d, o):
    """Kernel taps [t0, t1) that read a real input pixel for at least one of the ``o`` outputs.
    The others only ever see zero padding (e.g. a 3x3 kernel on a 1x1 input): they are skipped."""
    live = []
    for t in range(k):
        c = t * d - pad  # input position of tap t at output 0
        p = max(0, -(c // s))  # first output whose tap t lies at or after input position 0
        if p < o and p * s + c <= n - 1:
            live.append(t)
    return (live[0], live[-1] + 1) if live else (0, 1)


def _conv_plan(x_shape, w_shape, stride, padding, dilation):
    """Output size, the live taps and the padding that goes with them: (oh, ow), (i0, i1, j0, j1),
    (top, bottom, left, right). Bottom/right padding is cut to exactly what the windows reach
    (negative: rows the windows never reach are cropped)."""
    (H, W), (kh, kw) = x_shape[2:], w_shape[2:]
    (sh, sw), (dh, dw) = stride, dilation
    pt, pb, pl, pr = padding
    oh, ow = _out_size(H, pt + pb, kh, sh, dh), _out_size(W, pl + pr, kw, sw, dw)
    i0, i1 = _live_taps(H, pt, kh, sh, dh, oh)
    j0, j1 = _live_taps(W, pl, kw, sw, dw, ow)
    top, left = pt - i0 * dh, pl - j0 * dw
    bottom = (oh - 1) * sh + (i1 - i0 - 1) * dh + 1 - H - top
    right = (ow - 1) * sw + (j1 - j0 - 1) * dw + 1 - W - left
    return (oh, ow), (i0, i1, j0, j1), (top, bottom, left, right)


# ------------------------------------------------------------------ linear


class Linear(Function):
    """y = x @ W^T + b"""
    saved_names = ("x2d", "w")

    def forward(self, x, w, b):
        x2 = x.reshape(-1, x.shape[-1])
        y = x2 @ w.T
        if b is not None:
            y += b
        self.save_for_backward(x2, w)
        self.has_bias = b is not None
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, gy):
        """dx = gy @ W;  dW = gy^T @ x;  db = sum(gy) over all but the last axis"""
        # (each product in the orientation that gives a C-ordered result: a weight's gradient
        # lands in .grad as it is, with no copy)
        x2, w = self.saved_tensors
        g2 = gy.reshape(-1, gy.shape[-1])
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = g2 @ w
            gx = gx if gy.ndim == 2 else gx.reshape(gy.shape[:-1] + (w.shape[1],))
        if self.needs_input_grad[1]:
            gw = g2.T @ x2
        if self.has_bias and self.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb


# ------------------------------------------------------------------ conv2d


def _group_mm_into(a, b, out):
    """``out (r, G*m) = a (r, G*k) @ b (G, k, m)`` group by group (block-diagonal weights)."""
    G, k, m = b.shape
    if G == 1:
        return _mm_into(a, b[0], out)
    xp = get_array_module(a)
    r = a.shape[0]
    out.reshape(r, G, m)[...] = xp.matmul(a.reshape(r, G, k).transpose(1, 0, 2), b).transpose(1, 0, 2)


def _group_mm_t(a, b, G, out_major=False):
    """``a^T @ b`` group by group: a (r, G*k), b (r, G*m) -> (G, k, m). With ``out_major`` the
    product is computed as ``b^T @ a`` (memory (G, m, k)) and a transposed view returned."""
    xp = get_array_module(a)
    r = a.shape[0]
    if G == 1:
        return ((b.T @ a).T if out_major else _mm(a.T, b))[None]
    ag, bg = a.reshape(r, G, -1).transpose(1, 0, 2), b.reshape(r, G, -1).transpose(1, 0, 2)
    if out_major:
        return xp.matmul(bg.transpose(0, 2, 1), ag).transpose(0, 2, 1)
    return xp.matmul(ag.transpose(0, 2, 1), bg)


_BLOCK_BYTES = 32 << 20  # col is built and multiplied in blocks of at most this size ...
_BLOCK_BYTES_1THREAD = 2 << 20  # ... or of about the L2 cache size when the BLAS is single-threaded
_KEEP_COL_BYTES = 8 << 20  # keep col for the weight gradient up to this size; rebuild larger ones (memory: a 3x3 col is 9x the input)


def _is_pointwise(a, kh, kw, oh, ow):
    """A 1x1 kernel at stride 1 without padding: ``col`` is the input itself."""
    return kh == kw == 1 and a.shape[1] == oh and a.shape[2] == ow


def _col_blocks(a, kh, kw, stride, dilation, oh, ow, groups, into=None):
    """``col`` of the channels-last padded input ``a`` (N, Hp, Wp, C), block by block (``_blocks``):
    yields ``((n0, n1, p0, p1), block)``, block = (rows, kh*kw*C), columns ordered (group, i, j, c).
    Blocks are written into ``into`` (the whole col, which the caller keeps) when given, else into
    one reused scratch buffer."""
    xp = get_array_module(a)
    N, C = a.shape[0], a.shape[3]
    if _is_pointwise(a, kh, kw, oh, ow):  # col is the input itself
        yield (0, N, 0, oh), a.reshape(-1, C)
        return
    view = _windows(a, kh, kw, stride, dilation, oh, ow, groups)
    K = kh * kw * C
    blocks = _blocks(N, oh, ow, K * a.itemsize, xp)
    scratch = into is None
    if scratch:
        into = _cache.empty((max((n1 - n0) * (p1 - p0) for n0, n1, p0, p1 in blocks) * ow, K), a.dtype, xp)
    for n0, n1, p0, p1 in blocks:
        start = 0 if scratch else (n0 * oh + p0) * ow  # the block's own rows of the whole col
        block = into[start: start + (n1 - n0) * (p1 - p0) * ow]
        block.reshape(view[n0:n1, p0:p1].shape)[...] = view[n0:n1, p0:p1]  # the im2col copy
        yield (n0, n1, p0, p1), block


def _conv_gemm(a, wt, out, kh, kw, stride, dilation, keep_col=False):
    """``out (N, oh, ow, G*m) = col @ wt`` per group, one block of col at a time. ``a``: channels-last
    padded input; ``wt``: (G, kh*kw*C/G, m). Returns the whole col (P, kh*kw*C) when ``keep_col``."""
    xp = get_array_module(a)
    N, oh, ow, Co = out.shape
    col = None
    if keep_col:
        C = a.shape[3]
        if _is_pointwise(a, kh, kw, oh, ow):
            col = a.reshape(-1, C)
        else:
            col = _cache.empty((N * oh * ow, kh * kw * C), a.dtype, xp)
    for (n0, n1, p0, p1), block in _col_blocks(a, kh, kw, stride, dilation, oh, ow, wt.shape[0], into=col):
        _group_mm_into(block, wt, out[n0:n1, p0:p1].reshape(len(block), Co))
    return col


def _weight_rows(w, G):
    """(Co, cg, kh, kw) -> (G, Co/G, kh*kw*cg): each output channel's taps ordered (i, j, c) like
    col's columns. A copy that transposes only within each output channel's (cg, kh*kw) block."""
    xp = get_array_module(w)
    Co, cg, kh, kw = w.shape
    out = xp.empty((Co, kh, kw, cg), w.dtype)
    out[...] = w.transpose(0, 2, 3, 1)
    return out.reshape(G, Co // G, kh * kw * cg)


class Conv2d(Function):
    """y[n,co,p,q] = b[co] + sum_{c,i,j} W[co,c,i,j] * x_pad[n, g*C/G + c, p*sh + i*dh, q*sw + j*dw]

    Params: stride (sh, sw), padding (top, bottom, left, right), dilation (dh, dw), groups.
    """
    saved_names = ("col", "w_rows")

    def forward(self, x, w, b):
        xp = get_array_module(x)
        N = x.shape[0]
        Co = w.shape[0]
        (oh, ow), taps, pads = _conv_plan(x.shape, w.shape, self.stride, self.padding, self.dilation)
        i0, i1, j0, j1 = taps
        a = _pad_nhwc(x, *pads)
        wm = _weight_rows(w[:, :, i0:i1, j0:j1], self.groups)  # only the live taps
        y = _cache.empty((N, oh, ow, Co), x.dtype, xp)
        # dW needs col: keep it when small, else keep the padded input (kh*kw times smaller) and
        # let backward rebuild col block by block
        keep = self.needs_input_grad[1] and N * oh * ow * wm.shape[2] * self.groups * x.itemsize <= _KEEP_COL_BYTES
        col = _conv_gemm(a, wm.transpose(0, 2, 1), y, i1 - i0, j1 - j0, self.stride, self.dilation, keep)
        if b is not None:
            y += b
        self.save_for_backward(col if keep else a if self.needs_input_grad[1] else None, wm)
        self.col_kept = keep
        self.plan = (x.shape, w.shape, (oh, ow), taps, pads)
        self.has_bias = b is not None
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        """dW = col^T @ gy;  db = sum(gy);  dx = col2im(gy @ W) (stride 1: gy correlated with the flipped W)"""
        a, wm = self.saved_tensors
        xp = get_array_module(gy)
        x_shape, w_shape, _, (i0, i1, j0, j1), _ = self.plan
        Co, cg = w_shape[:2]
        G, kh, kw = self.groups, i1 - i0, j1 - j0
        g = _nhwc(gy)  # (N, oh, ow, Co), no copy when gy is channels-last
        gx = gw = gb = None
        if self.has_bias and self.needs_input_grad[2]:
            gb = g.reshape(-1, Co).sum(axis=0)
        if self.needs_input_grad[1]:
            gwt = self._grad_weight(a, g, kh, kw)  # (G, kh*kw*cg, Co/G)
            gw = (xp.zeros if (kh, kw) != w_shape[2:] else xp.empty)(w_shape, gy.dtype)
            gw.reshape(G, Co // G, cg, *w_shape[2:])[..., i0:i1, j0:j1] = (
                gwt.reshape(G, kh, kw, cg, Co // G).transpose(0, 4, 3, 1, 2))
        if self.needs_input_grad[0]:
            gx = self._grad_input(g, wm, kh, kw)
        return gx, gw, gb

    def _grad_weight(self, a, g, kh, kw):
        """dW = col^T @ gy, summed over blocks when col is rebuilt from the padded input ``a``"""
        N, oh, ow, Co = g.shape
        G = self.groups
        K = a.shape[1] if self.col_kept else kh * kw * a.shape[3]
        # big weights: compute dW in (Co, K) memory order, cheap to turn into (Co, C, kh, kw)
        out_major = Co * K >= 1 << 19
        if self.col_kept:  # a is col itself
            return _group_mm_t(a, g.reshape(-1, Co), G, out_major)
        acc = None
        for (n0, n1, p0, p1), block in _col_blocks(a, kh, kw, self.stride, self.dilation, oh, ow, G):
            part = _group_mm_t(block, g[n0:n1, p0:p1].reshape(len(block), Co), G, out_major)
            acc = part if acc is None else acc.__iadd__(part)
        return acc

    def _grad_input(self, g, wm, kh, kw):
        xp = get_array_module(g)
        (N, C, H, W), _, (oh, ow), _, (pt, pb, pl, pr) = self.plan
        Co = g.shape[3]
        G = self.groups
        cg, cog = C // G, Co // G
        (sh, sw), (dh, dw) = self.stride, self.dilation
        if sh == sw == 1:
            # dx = gy zero-padded by d*(k-1) - pad, correlated with the flipped kernel, in/out channels swapped
            gpad = _pad_nhwc(g.transpose(0, 3, 1, 2), dh * (kh - 1) - pt, dh * (kh - 1) - pb,
                             dw * (kw - 1) - pl, dw * (kw - 1) - pr)
            wf = xp.ascontiguousarray(  # wf[g, (i', j', co), c] = W[co, c, kh-1-i', kw-1-j']
                wm.reshape(G, cog, kh, kw, cg)[:, :, ::-1, ::-1].transpose(0, 2, 3, 1, 4)).reshape(G, kh * kw * cog, cg)
            dx = _cache.empty((N, H, W, C), g.dtype, xp)
            _conv_gemm(gpad, wf, dx, kh, kw, (1, 1), (dh, dw))
            return dx.transpose(0, 3, 1, 2)
        # strided: dcol = gy @ W block by block, each kernel offset's window added back (col2im)
        K = kh * kw * C
        top, left = max(pt, 0), max(pl, 0)  # dxp covers the input plus the (non-negative) padding
        ot, ol = top - pt, left - pl  # where padded position 0 lies in dxp
        dxp = _cache.zeros((N, top + H + max(pb, 0), left + W + max(pr, 0), G, cg), g.dtype, xp)
        blocks = _blocks(N, oh, ow, K * g.itemsize, xp, whole_images=True)
        buf = _cache.empty((max(n1 - n0 for n0, n1, _, _ in blocks) * oh * ow * K,), g.dtype, xp)
        hi, wi = (oh - 1) * sh + 1, (ow - 1) * sw + 1
        for n0, n1, _, _ in blocks:
            r = (n1 - n0) * oh * ow
            dcol = buf[: r * K].reshape(r, K)
            _group_mm_into(g[n0:n1].reshape(r, Co), wm, dcol)
            dcol = dcol.reshape(n1 - n0, oh, ow, G, kh, kw, cg)
            for i in range(kh):
                for j in range(kw):
                    u, v = ot + i * dh, ol + j * dw
                    dxp[n0:n1, u: u + hi: sh, v: v + wi: sw] += dcol[:, :, :, :, i, j]
        dx = dxp[:, top: top + H, left: left + W].reshape(N, H, W, C)
        return dx.transpose(0, 3, 1, 2)
