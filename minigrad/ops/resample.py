"""Resampling of (N, C, H, W) maps: nearest and bilinear interpolation (PyTorch's rules).

Both modes are separable: every output row reads 1 (nearest) or 2 (bilinear) input rows with
fixed weights, and every output column likewise reads input columns. We call such a list of
(index, weight) pairs, one entry per output position, a *tap* list. The forward applies the width
taps, then the height taps (PyTorch's order of operations, so float32 rounds the same way):

    a[n, c, h, j] = sum_t ww_t[j] * x[n, c, h, iw_t[j]]
    y[n, c, i, j] = sum_t wh_t[i] * a[n, c, ih_t[i], j]

The backward is the transpose of that linear map: each input position collects, with the same
weights, the gradient of every output that read it. We turn that scatter into a gather by
*transposing the tap list* (for each input index: which outputs read it, with which weight), so
both directions are a few ``take``s along one axis. The tap tables depend only on the sizes; they
are built on the host with NumPy (O(H + W) numbers) and moved to the input's device.

Source coordinates follow ATen's UpSample.h. With ``scale_factor`` given (and not recomputed),
the coordinate map uses ``1 / scale_factor``, not ``in / out``:
- nearest:        src = min(floor(dst * s), in - 1), computed in float32, with the shortcuts
                  out == in (copy) and out == 2 * in (src = dst // 2);
- nearest-exact:  src = min(floor((dst + 0.5) * s), in - 1);
- bilinear:       align_corners=True:  src = dst * (in - 1) / (out - 1)  (scale_factor ignored);
                  align_corners=False: src = max((dst + 0.5) * s - 0.5, 0);
                  i0 = min(floor(src), in - 1), i1 = min(i0 + 1, in - 1), l1 = src - i0, l0 = 1 - l1;
                  out == in copies.
where s = 1 / scale_factor when a scale factor was given, else in / out.

The nearest indices are computed in float32 for every dtype, as by ATen's ``nearest_idx``, which
PyTorch's backward always uses and its forward uses on outputs up to about 128 pixels. On larger
outputs PyTorch's forward computes them another way (in double for float64), so where dst * s is an
integer that float32 rounds down (float64, 2 -> 166 pixels, dst 83) its forward reads one pixel
further than its own backward sends the gradient. We keep forward and backward consistent.
"""
import numpy as np

from ..autograd import Function
from ..backend import asarray, device_of, get_array_module


def _coord_dtype(dtype):
    """The precision PyTorch computes coordinates in (``opmath``): double for double, else float."""
    return np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)


def _inv_scale(in_size, out_size, scale, ct):
    """``compute_scales_value``: 1/scale_factor when one was given, else in/out (in dtype ``ct``)."""
    if scale is not None and scale > 0:
        return ct.type(1.0 / scale)
    return ct.type(in_size) / ct.type(out_size)


def nearest_taps(in_size, out_size, scale, exact):
    """One tap per output: ``[(src, None)]`` (weight 1)."""
    dst = np.arange(out_size)
    if not exact and out_size == in_size:
        src = dst
    elif not exact and out_size == 2 * in_size:
        src = dst >> 1
    else:
        s = _inv_scale(in_size, out_size, scale, np.dtype(np.float32))
        if exact:  # (dst + 0.5) is a double in ATen; the product is rounded to float for floorf
            pos = ((dst + 0.5) * np.float64(s)).astype(np.float32)
        else:
            pos = dst.astype(np.float32) * s
        src = np.minimum(np.floor(pos).astype(np.int64), in_size - 1)
    return [(src, None)]


def linear_taps(in_size, out_size, scale, align_corners, dtype):
    """Two taps per output: ``[(i0, l0), (i1, l1)]`` with weights in ``dtype``."""
    ct = _coord_dtype(dtype)
    dst = np.arange(out_size)
    if out_size == in_size:
        return [(dst, np.ones(out_size, dtype)), (dst, np.zeros(out_size, dtype))]
    if align_corners:
        ratio = ct.type(in_size - 1) / ct.type(out_size - 1) if out_size > 1 else ct.type(0)
        src = ratio * dst.astype(ct)
    else:
        ratio = _inv_scale(in_size, out_size, scale, ct)
        src = ratio * (dst.astype(ct) + ct.type(0.5)) - ct.type(0.5)
        src = np.maximum(src, ct.type(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    l1 = np.clip(src - i0.astype(ct), 0, 1).astype(ct)
    l0 = ct.type(1) - l1
    i1 = np.minimum(i0 + 1, in_size - 1)
    return [(i0, l0.astype(dtype)), (i1, l1.astype(dtype))]


def transpose_taps(taps, in_size, out_size, dtype):
    """The taps of the transposed map: for each input index, the outputs that read it.

    Returns ``[(dst_j, w_j)]`` for j < m (m = most readers of one input); slots an input does not
    use point at output 0 with weight 0.
    """
    src = np.concatenate([idx for idx, _ in taps])
    dst = np.concatenate([np.arange(out_size)] * len(taps))
    w = np.concatenate([np.ones(out_size, dtype) if wt is None else wt for _, wt in taps])
    keep = w != 0  # a zero-weight tap (e.g. i1 when src is an integer) sends nothing back
    src, dst, w = src[keep], dst[keep], w[keep]
    order = np.argsort(src, kind="stable")
    src, dst, w = src[order], dst[order], w[order]
    counts = np.bincount(src, minlength=in_size)
    first = np.cumsum(counts) - counts
    slot = np.arange(src.size) - first[src]
    m = int(counts.max()) if src.size else 0
    idx_t = np.zeros((m, in_size), np.int64)
    w_t = np.zeros((m, in_size), dtype)
    idx_t[slot, src] = dst
    w_t[slot, src] = w
    return [(idx_t[j], w_t[j]) for j in range(m)]


def _on_device(taps, like):
    dev = device_of(like)
    return [(asarray(i, None, dev), None if w is None else asarray(w, None, dev)) for i, w in taps]


def apply_taps(x, taps, axis):
    """``sum_t w_t * take(x, idx_t, axis)``: each tap is one gather along ``axis`` (2 or 3)."""
    xp = get_array_module(x)
    out = None
    for idx, w in taps:
        part = xp.take(x, idx, axis=axis)
        if w is not None:
            part *= w if axis == x.ndim - 1 else w[:, None]
        if out is None:
            out = part
        else:
            out += part
    return out


def interpolation_taps(mode, align_corners, in_hw, size, scales, dtype):
    """The (height, width) tap lists of resizing ``in_hw`` to ``size`` (host arrays, O(H + W))."""
    (H, W), (Ho, Wo), (sh, sw) = in_hw, size, scales
    if mode == "bilinear":
        return (linear_taps(H, Ho, sh, align_corners, dtype), linear_taps(W, Wo, sw, align_corners, dtype))
    exact = mode == "nearest-exact"
    return nearest_taps(H, Ho, sh, exact), nearest_taps(W, Wo, sw, exact)


def resample(x, taps):
    """The forward map: width taps, then height taps."""
    th, tw = taps
    return apply_taps(apply_taps(x, _on_device(tw, x), 3), _on_device(th, x), 2)


def resample_adjoint(g, taps, in_hw):
    """The transposed map: each input position gathers, with the same weights, the outputs that read it."""
    (th, tw), (H, W) = taps, in_hw
    Ho, Wo = g.shape[2:]
    gth = transpose_taps(th, H, Ho, g.dtype)
    gtw = transpose_taps(tw, W, Wo, g.dtype)
    return apply_taps(apply_taps(g, _on_device(gth, g), 2), _on_device(gtw, g), 3)


class Interpolate(Function):
    """y[n,c,i,j] = sum_(s,t) wh_s[i] * ww_t[j] * x[n,c,ih_s[i],iw_t[j]]

    Linear in x: its gradient is its adjoint ``InterpolateAdjoint``, whose gradient is
    ``Interpolate`` again (the pair's backward_graphs call each other)."""
    saved_names = ()

    def forward(self, x):
        self.in_hw = tuple(x.shape[2:])
        self.taps = interpolation_taps(self.mode, self.align_corners, self.in_hw, self.size, self.scales, x.dtype)
        return resample(x, self.taps)

    def backward(self, gy):
        """dx[n,c,a,b] = sum over the (i,j) that read (a,b) of wh[i] * ww[j] * gy[n,c,i,j]
        (the tap lists transposed: a gather over the outputs that read each input)"""
        return resample_adjoint(gy, self.taps, self.in_hw)

    def backward_graph(self, gy):
        return InterpolateAdjoint.apply(gy, in_hw=self.in_hw, size=self.size, scales=self.scales,
                                        mode=self.mode, align_corners=self.align_corners)


class InterpolateAdjoint(Function):
    """y[n,c,a,b] = sum over the (i,j) that read (a,b) of wh[i] * ww[j] * x[n,c,i,j]  (Interpolate's transpose)

    ``x`` has the interpolated size ``size``; ``y`` the original ``in_hw``. This is Interpolate's
    gradient as an op of its own, so that the gradient can be differentiated: its backward is
    Interpolate's forward map."""
    saved_names = ()

    def forward(self, g):
        self.taps = interpolation_taps(self.mode, self.align_corners, self.in_hw, self.size, self.scales, g.dtype)
        return resample_adjoint(g, self.taps, self.in_hw)

    def backward(self, gy):
        """dx = Interpolate(gy)  (the adjoint of the adjoint is the map itself)"""
        return resample(gy, self.taps)

    def backward_graph(self, gy):
        return Interpolate.apply(gy, size=self.size, scales=self.scales, mode=self.mode,
                                 align_corners=self.align_corners)
