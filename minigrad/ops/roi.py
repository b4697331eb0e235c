"""RoI Align and RoI Pool (torchvision's CPU kernels), vectorised over boxes, bins and samples.

Both ops turn each bin of each box into a list of *taps*: (pixel, weight) pairs such that

    y[k, :, bin] = sum over the taps of the bin of  weight * x[pixel, :]     (RoI Align)
    y[k, :, bin] = max over the taps of the bin of  x[pixel, :]              (RoI Pool)

where ``pixel`` indexes the (N*H*W, C) channels-last view of the map, so one tap reads C
contiguous numbers. The tap table depends only on the boxes: it is built on the host with NumPy
(a few numbers per sample, never per channel), ragged (bins hold different numbers of taps),
with ``repeat``/``cumsum`` index arithmetic instead of loops.

The heavy part, per bin a gather of its taps' rows and a weighted sum (or max), is done by
``gather_segments``: bins are grouped by tap count (rounded up to a power of two when there are
many different counts), and each group is one dense (bins, L, C) gather followed by one batched
dot product (or max) over L. Padding taps read an extra row (0 for sums, -inf for max), weight 0.

The backward of RoI Align is the same operation on the transposed table: the taps sorted by
pixel, each pixel gathering the gradients of the bins that read it. RoI Pool's backward adds each
bin's gradient at its argmax.

Both ops are linear in x for fixed boxes (RoI Pool piecewise: the argmax is fixed), so their
differentiable backwards (``backward_graph``) write the same scatter with ``shape.IndexAdd``, the
adjoint of the gather ``GetItem``: every higher derivative comes from that pair. Boxes get no
gradient (as in torchvision).
"""
import numpy as np

from ..autograd import Function
from ..backend import asarray, device_of, get_array_module, scatter_add, to_numpy
from . import graph
from .shape import IndexAdd, Permute, Reshape

_FLT_MAX = float(np.finfo(np.float32).max)  # torchvision's initial max for RoI Pool, any dtype
_CHUNK = 1 << 21  # elements gathered at once (8 MB of float32): the working set stays in cache


# ------------------------------------------------------------------ ragged index helpers


def _ragged(counts):
    """For segments of lengths ``counts``: (segment id, position inside the segment) of each item."""
    counts = np.asarray(counts, np.int64)
    seg = np.repeat(np.arange(counts.size), counts)
    first = np.cumsum(counts) - counts
    return seg, np.arange(seg.size) - first[seg]


def _channels_last(x, fill):
    """(N, C, H, W) -> (N*H*W + 1, C): row p is pixel p's channels; the last row is ``fill``."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    out = xp.empty((N * H * W + 1, C), x.dtype)
    out[:-1].reshape(N, H, W, C)[...] = x.transpose(0, 2, 3, 1)
    out[-1] = fill
    return out


def gather_segments(src, taps, weights, lengths, reduce="sum"):
    """Per segment s (its taps contiguous in ``taps``, ``lengths[s]`` of them):

        reduce="sum":  rows[s] = sum_j weights[j] * src[taps[j]]          -> rows
        reduce="max":  rows[s] = max_j src[taps[j]], first j reaching it  -> rows, argmax taps

    ``src`` is a (R + 1, C) device array whose last row is the padding row; ``taps``, ``weights``
    and ``lengths`` are host arrays. Empty segments give the padding row (and argmax tap R).
    """
    xp = get_array_module(src)
    dev = device_of(src)
    S, C, pad = lengths.size, src.shape[1], src.shape[0] - 1
    rows = xp.empty((S, C), src.dtype)
    rows[...] = src[-1]
    arg = xp.full((S, C), pad, np.int64) if reduce == "max" else None
    starts = np.cumsum(lengths) - lengths
    width = lengths  # one group per distinct length; when there are many, round up to powers of 2
    if np.unique(lengths).size > 64:
        width = np.where(lengths > 0, 1 << np.ceil(np.log2(np.maximum(lengths, 1))).astype(np.int64), 0)
    for L in np.unique(width[width > 0]):
        group = np.flatnonzero(width == L)
        step = max(1, _CHUNK // (int(L) * C))
        j = np.arange(L)
        for lo in range(0, group.size, step):
            seg = group[lo:lo + step]
            inside = j < lengths[seg, None]
            at = np.where(inside, starts[seg, None] + j, 0)
            idx = asarray(np.where(inside, taps[at], pad), None, dev)
            g = xp.take(src, idx, axis=0)  # (segments, L, C)
            if reduce == "sum":
                w = asarray(np.where(inside, weights[at], 0).astype(src.dtype), None, dev)
                rows[asarray(seg, None, dev)] = xp.einsum("sl,slc->sc", w, g)
            else:  # the first j reaching the max is the one with the largest rank L - j
                m = g.max(axis=1)
                rank = xp.asarray(np.arange(L, 0, -1).astype(np.uint8 if L < 256 else np.int32))
                first = L - ((g == m[:, None, :]) * rank[None, :, None]).max(axis=1).astype(np.int64)
                first += xp.arange(seg.size)[:, None] * int(L)  # position in the flattened idx
                rows[asarray(seg, None, dev)] = m
                arg[asarray(seg, None, dev)] = xp.take(idx.reshape(-1), first)
    return rows if reduce == "sum" else (rows, arg)


def _to_nchw(rows, K, P1, P2):
    """(K*P1*P2, C) -> (K, C, P1, P2), contiguous."""
    C = rows.shape[1]
    return get_array_module(rows).ascontiguousarray(rows.reshape(K, P1, P2, C).transpose(0, 3, 1, 2))


# ------------------------------------------------------------------ RoI Align


def _axis_samples(start, bin_size, grid, pooled, size, ct):
    """Bilinear taps along one axis for every (box, bin row) and every sample in it.

    Sample ``i`` of bin ``p`` sits at ``start + p * bin + (i + 0.5) * bin / grid`` (torchvision's
    order of operations, in dtype ``ct``). A sample outside [-1, size] reads 0; inside it is
    clamped to >= 0 and reads ``low = floor(c)`` with weight ``1 - (c - low)`` and ``low + 1``
    with weight ``c - low`` (both the last index when ``low >= size - 1``).
    Returns flat arrays (segment = box * pooled + p, index, weight), sorted by segment, with the
    taps of one segment that hit the same index merged (weights added).
    """
    K = start.size
    G = int(grid.max()) if K else 0
    if G <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, ct)
    p = np.arange(pooled).astype(ct)[None, :, None]
    i = np.arange(G)
    g = np.maximum(grid, 1).astype(ct)[:, None, None]
    b = bin_size[:, None, None]
    c = (start[:, None, None] + p * b) + (i.astype(ct) + ct.type(0.5))[None, None, :] * b / g
    valid = (i[None, None, :] < grid[:, None, None]) & (c >= -1) & (c <= size)
    c = np.where(c <= 0, ct.type(0), c)
    low = c.astype(np.int64)
    last = low >= size - 1
    low = np.where(last, size - 1, low)
    c = np.where(last, low.astype(ct), c)
    frac = c - low.astype(ct)
    high = np.where(last, low, low + 1)
    seg = np.broadcast_to((np.arange(K)[:, None] * pooled + np.arange(pooled)[None, :])[:, :, None], c.shape)
    seg = np.concatenate([seg[valid], seg[valid]])
    idx = np.concatenate([low[valid], high[valid]])
    w = np.concatenate([(ct.type(1) - frac)[valid], frac[valid]])
    # merge taps of one segment that read the same row/column (a pixel is then read once per bin)
    order = np.lexsort((idx, seg))
    seg, idx, w = seg[order], idx[order], w[order]
    new = np.ones(seg.size, bool)
    new[1:] = (seg[1:] != seg[:-1]) | (idx[1:] != idx[:-1])
    starts = np.flatnonzero(new)
    return seg[starts], idx[starts], np.add.reduceat(w, starts).astype(ct) if w.size else w


def roi_align_taps(rois, spatial_scale, output_size, sampling_ratio, aligned, height, width):
    """The tap table of RoI Align for (K, 5) host ``rois``: (pixel, weight, taps per bin, samples per bin).

    ``pixel`` indexes (N*H*W); bins are in (k, ph, pw) order and the taps of a bin are contiguous.
    """
    ct = rois.dtype
    PH, PW = output_size
    K = rois.shape[0]
    scale = ct.type(spatial_scale)
    offset = ct.type(0.5) if aligned else ct.type(0)
    x1, y1, x2, y2 = (rois[:, j] * scale - offset for j in (1, 2, 3, 4))
    roi_w, roi_h = x2 - x1, y2 - y1
    if not aligned:  # legacy behaviour: boxes are at least 1 x 1
        roi_w, roi_h = np.maximum(roi_w, ct.type(1)), np.maximum(roi_h, ct.type(1))
    bin_h, bin_w = roi_h / ct.type(PH), roi_w / ct.type(PW)
    if sampling_ratio > 0:
        grid_h = grid_w = np.full(K, sampling_ratio, np.int64)
    else:  # adaptive; a negative-size box (aligned=True) gets no samples
        grid_h = np.maximum(np.ceil(roi_h / ct.type(PH)), 0).astype(np.int64)
        grid_w = np.maximum(np.ceil(roi_w / ct.type(PW)), 0).astype(np.int64)
    count = np.maximum(grid_h * grid_w, 1).astype(ct)

    yseg, yidx, wy = _axis_samples(y1, bin_h, grid_h, PH, height, ct)
    xseg, xidx, wx = _axis_samples(x1, bin_w, grid_w, PW, width, ct)
    ny = np.bincount(yseg, minlength=K * PH).reshape(K, PH)
    nx = np.bincount(xseg, minlength=K * PW).reshape(K, PW)
    ystart = (np.cumsum(ny) - ny.ravel()).reshape(K, PH)
    xstart = (np.cumsum(nx) - nx.ravel()).reshape(K, PW)
    # a bin's taps are the cross product of its row taps and its column taps
    n = (ny[:, :, None] * nx[:, None, :]).ravel()
    nx_bin = np.broadcast_to(nx[:, None, :], (K, PH, PW)).ravel()
    bin_, local = _ragged(n)
    ye = np.broadcast_to(ystart[:, :, None], (K, PH, PW)).ravel()[bin_] + local // nx_bin[bin_]
    xe = np.broadcast_to(xstart[:, None, :], (K, PH, PW)).ravel()[bin_] + local % nx_bin[bin_]
    box = bin_ // (PH * PW)
    batch = rois[:, 0].astype(np.int64)
    pixel = (batch[box] * height + yidx[ye]) * width + xidx[xe]
    weight = wy[ye] * wx[xe]
    return pixel, weight, n, np.repeat(count, PH * PW)


class RoIAlign(Function):
    """y[k,c,i,j] = mean over the samples (sy,sx) of bin (i,j) of box k of bilinear(x[b_k,c], sy, sx)"""
    saved_names = ("pixel", "weight", "n_taps", "count")

    def forward(self, x, rois):
        N, C, H, W = x.shape
        PH, PW = self.output_size
        K = rois.shape[0]
        pixel, weight, n, count = roi_align_taps(to_numpy(rois), self.spatial_scale, self.output_size,
                                                 self.sampling_ratio, self.aligned, H, W)
        self.in_shape = x.shape
        self.save_for_backward(pixel, weight, n, count)
        rows = gather_segments(_channels_last(x, 0), pixel, weight, n)  # (K*PH*PW, C)
        rows /= asarray(count[:, None], None, device_of(x))
        return _to_nchw(rows, K, PH, PW)

    def backward(self, gy):
        """dx[b,c,h,w] = sum over the taps (bin, pixel=(b,h,w), weight) of weight / count[bin] * gy[bin, c]
        (every sample's 4 bilinear neighbours get the bin's gradient times their weight)"""
        if not self.needs_input_grad[0]:
            return None, None
        xp = get_array_module(gy)
        pixel, weight, n, count = self.saved_tensors
        N, C, H, W = self.in_shape
        bin_ = _ragged(n)[0]
        order = np.argsort(pixel, kind="stable")  # the transposed table: taps grouped by pixel
        pix = pixel[order]
        degree = np.bincount(pix, minlength=N * H * W)  # how many taps read each pixel
        w = (weight / count[bin_])[order]
        K, _, PH, PW = gy.shape
        src = xp.empty((K * PH * PW + 1, C), gy.dtype)
        src[:-1].reshape(K, PH, PW, C)[...] = gy.transpose(0, 2, 3, 1)
        src[-1] = 0
        rows = gather_segments(src, bin_[order], w, degree)  # (N*H*W, C)
        return _to_nchw(rows, N, H, W), None

    def backward_graph(self, gy):
        """dx[pixel] += weight / count[bin] * gy[bin], over every tap (bin, pixel, weight): a
        GetItem of the bins' rows, a product with constant weights and an IndexAdd"""
        if not self.needs_input_grad[0]:
            return None, None
        pixel, weight, n, count = self.saved_tensors
        N, C, H, W = self.in_shape
        bin_ = _ragged(n)[0]
        dev = device_of(gy.data)
        rows = _rows_of(gy)  # (K*PH*PW, C)
        taps = rows[asarray(bin_, None, dev)] * graph.constant(asarray((weight / count[bin_])[:, None], gy.dtype, dev))
        pixels = IndexAdd.apply(taps, index=asarray(pixel, None, dev), shape=(N * H * W, C))
        return _nchw_of(pixels, N, H, W), None


def _rows_of(g):
    """The Tensor (K, C, P1, P2) as its (K*P1*P2, C) rows (differentiable: Permute, Reshape)."""
    K, C, P1, P2 = g.shape
    return Reshape.apply(Permute.apply(g, dims=(0, 2, 3, 1)), shape=(K * P1 * P2, C))


def _nchw_of(rows, K, P1, P2):
    """``_to_nchw`` on a Tensor: (K*P1*P2, C) -> (K, C, P1, P2)."""
    C = rows.shape[1]
    return Permute.apply(Reshape.apply(rows, shape=(K, P1, P2, C)), dims=(0, 3, 1, 2))


# ------------------------------------------------------------------ RoI Pool


def _round_half_away(v):
    """C's ``round``: halves go away from zero (NumPy's ``round`` goes to even)."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def roi_pool_taps(rois, spatial_scale, output_size, height, width):
    """The cells of every RoI Pool bin: (pixel, cells per bin); cells of a bin in row-major order."""
    ct = rois.dtype
    PH, PW = output_size
    K = rois.shape[0]
    scale = ct.type(spatial_scale)
    x1, y1, x2, y2 = (_round_half_away(rois[:, j] * scale).astype(np.int64) for j in (1, 2, 3, 4))
    roi_w = np.maximum(x2 - x1 + 1, 1)
    roi_h = np.maximum(y2 - y1 + 1, 1)

    def edges(start, roi_size, pooled, size):
        bin_size = roi_size.astype(ct)[:, None] / ct.type(pooled)
        p = np.arange(pooled).astype(ct)[None, :]
        lo = np.floor(p * bin_size).astype(np.int64) + start[:, None]
        hi = np.ceil((p + ct.type(1)) * bin_size).astype(np.int64) + start[:, None]
        return np.clip(lo, 0, size), np.clip(hi, 0, size)

    hs, he = edges(y1, roi_h, PH, height)
    ws, we = edges(x1, roi_w, PW, width)
    nh = np.maximum(he - hs, 0)[:, :, None]
    nw = np.maximum(we - ws, 0)[:, None, :]
    n = (nh * nw).ravel()  # 0 for an empty bin
    bin_, local = _ragged(n)
    nw_bin = np.broadcast_to(nw, (K, PH, PW)).ravel()[bin_]
    row = np.broadcast_to(hs[:, :, None], (K, PH, PW)).ravel()[bin_] + local // nw_bin
    col = np.broadcast_to(ws[:, None, :], (K, PH, PW)).ravel()[bin_] + local % nw_bin
    batch = rois[:, 0].astype(np.int64)
    pixel = (batch[bin_ // (PH * PW)] * height + row) * width + col
    return pixel, n


class RoIPool(Function):
    """y[k,c,i,j] = max of x[b_k,c] over the pixels of the quantized bin (i,j) of box k (0 if empty)"""
    saved_names = ("argmax",)

    def forward(self, x, rois):
        xp = get_array_module(x)
        N, C, H, W = x.shape
        PH, PW = self.output_size
        K = rois.shape[0]
        pixel, n = roi_pool_taps(to_numpy(rois), self.spatial_scale, self.output_size, H, W)
        src = _channels_last(x, -np.inf)
        src[xp.isnan(src)] = -np.inf  # torchvision's `if (v > maxval)` never picks a NaN
        rows, arg = gather_segments(src, pixel, None, n, reduce="max")
        # torchvision starts from maxval = -FLT_MAX, argmax = -1; an empty bin gives 0
        found = rows > -_FLT_MAX
        empty = asarray((n == 0)[:, None], None, device_of(x))
        rows = xp.where(empty, 0, xp.where(found, rows, -_FLT_MAX)).astype(x.dtype, copy=False)
        self.in_shape = x.shape
        self.save_for_backward(xp.where(found, arg, -1))
        return _to_nchw(rows, K, PH, PW)

    def backward(self, gy):
        """dx[b,c,h,w] = sum of gy[k,c,i,j] over the bins whose argmax is pixel (b,h,w)"""
        if not self.needs_input_grad[0]:
            return None, None
        xp = get_array_module(gy)
        (arg,) = self.saved_tensors  # (K*PH*PW, C) pixel per bin and channel, -1 for none
        N, C, H, W = self.in_shape
        P = N * H * W
        g = gy.transpose(0, 2, 3, 1).reshape(-1)
        flat = (xp.where(arg >= 0, arg, P) * C + xp.arange(C)[None, :]).reshape(-1)  # -1 -> a spare pixel P
        gx = xp.zeros((P + 1) * C, gy.dtype)
        scatter_add(gx, flat, g)
        return _to_nchw(gx[:-C].reshape(P, C), N, H, W), None

    def backward_graph(self, gy):
        """the same scatter as an IndexAdd (into a spare pixel P for bins without argmax)"""
        if not self.needs_input_grad[0]:
            return None, None
        (arg,) = self.saved_tensors
        xp = get_array_module(arg)
        N, C, H, W = self.in_shape
        P = N * H * W
        flat = (xp.where(arg >= 0, arg, P) * C + xp.arange(C)[None, :]).reshape(-1)
        gx = IndexAdd.apply(Reshape.apply(_rows_of(gy), shape=(flat.shape[0],)), index=flat, shape=((P + 1) * C,))
        return _nchw_of(Reshape.apply(gx[:-C], shape=(P, C)), N, H, W), None
