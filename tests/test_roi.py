"""F.roi_align / F.roi_pool and nn.RoIAlign / nn.RoIPool against per-box, per-bin, per-sample loop
references written from torchvision's CPU kernels, plus gradchecks and argument errors."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

RNG = np.random.default_rng(0)
FLT_MAX = float(np.finfo(np.float32).max)


# ------------------------------------------------------------------ references


def ref_bilinear(img, y, x):
    """torchvision's bilinear_interpolate on a (C, H, W) image: 0 outside [-1, H] x [-1, W]."""
    C, H, W = img.shape
    if y < -1.0 or y > H or x < -1.0 or x > W:
        return np.zeros(C)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= H - 1:
        y0 = y1 = H - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= W - 1:
        x0 = x1 = W - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    return hy * hx * img[:, y0, x0] + hy * lx * img[:, y0, x1] + ly * hx * img[:, y1, x0] + ly * lx * img[:, y1, x1]


def ref_roi_align(x, rois, out_hw, spatial_scale, sampling_ratio, aligned):
    N, C, H, W = x.shape
    PH, PW = out_hw
    out = np.zeros((len(rois), C, PH, PW))
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        off = 0.5 if aligned else 0.0
        sx, sy = x1 * spatial_scale - off, y1 * spatial_scale - off
        rw, rh = x2 * spatial_scale - off - sx, y2 * spatial_scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / PH, rw / PW
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / PH)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / PW)
        count = max(gh * gw, 1)
        for ph in range(PH):
            for pw in range(PW):
                acc = np.zeros(C)
                for iy in range(gh):
                    yy = sy + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = sx + pw * bw + (ix + 0.5) * bw / gw
                        acc += ref_bilinear(x[int(b)], yy, xx)
                out[k, :, ph, pw] = acc / count
    return out


def _round_half_away(v):
    return math.copysign(math.floor(abs(v) + 0.5), v)


def ref_roi_pool(x, rois, out_hw, spatial_scale):
    """Returns (output, argmax) with argmax the flat h*W+w index inside the image, -1 if none."""
    N, C, H, W = x.shape
    PH, PW = out_hw
    out = np.zeros((len(rois), C, PH, PW))
    arg = np.full((len(rois), C, PH, PW), -1)
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        sw, sh = int(_round_half_away(x1 * spatial_scale)), int(_round_half_away(y1 * spatial_scale))
        ew, eh = int(_round_half_away(x2 * spatial_scale)), int(_round_half_away(y2 * spatial_scale))
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / PH, rw / PW
        for ph in range(PH):
            for pw in range(PW):
                hs = min(max(math.floor(ph * bh) + sh, 0), H)
                he = min(max(math.ceil((ph + 1) * bh) + sh, 0), H)
                ws = min(max(math.floor(pw * bw) + sw, 0), W)
                we = min(max(math.ceil((pw + 1) * bw) + sw, 0), W)
                if he <= hs or we <= ws:
                    continue  # empty bin: 0, no argmax
                for c in range(C):
                    best, where = -FLT_MAX, -1
                    for h in range(hs, he):
                        for w in range(ws, we):
                            if x[int(b), c, h, w] > best:
                                best, where = x[int(b), c, h, w], h * W + w
                    out[k, c, ph, pw], arg[k, c, ph, pw] = best, where
    return out, arg


def _boxes(K, N, H, W, scale=1.0, spill=3.0, min_size=-0.5, max_size=8.0):
    """Random boxes in image coordinates, some partly (or fully) outside the map."""
    xy = RNG.uniform(-spill, np.array([W, H]) + spill, (K, 2)) / scale
    wh = RNG.uniform(min_size, max_size, (K, 2)) / scale
    return np.concatenate([RNG.integers(0, N, (K, 1)), xy, xy + wh], 1)


# ------------------------------------------------------------------ roi_align forward


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 0, 1, 2, 3])
@pytest.mark.parametrize("spatial_scale", [1.0, 0.5, 0.25])
def test_roi_align_matches_reference(aligned, sampling_ratio, spatial_scale):
    x = RNG.standard_normal((2, 3, 7, 9))
    rois = _boxes(6, 2, 7, 9, spatial_scale, min_size=0.0 if aligned else -0.5)
    for out_hw in [(2, 3), (1, 1)]:
        y = F.roi_align(mg.tensor(x), mg.tensor(rois), out_hw, spatial_scale, sampling_ratio, aligned)
        assert y.shape == (6, 3) + out_hw
        np.testing.assert_allclose(y.numpy(), ref_roi_align(x, rois, out_hw, spatial_scale, sampling_ratio, aligned),
                                   rtol=1e-10, atol=1e-12)


def test_roi_align_edge_boxes():
    """Boxes partly outside, fully outside, tiny (sub-pixel), degenerate (x2 < x1), on the border."""
    x = RNG.standard_normal((1, 2, 5, 6))
    rois = np.array([
        [0, -2.0, -1.5, 2.0, 3.0],   # partly outside, top-left
        [0, 4.0, 3.0, 9.0, 8.0],     # partly outside, bottom-right
        [0, -9.0, -9.0, -3.0, -4.0],  # fully outside: zeros
        [0, 2.3, 1.7, 2.4, 1.75],    # tiny
        [0, 3.0, 2.0, 1.0, 1.0],     # x2 < x1, y2 < y1
        [0, 0.0, 0.0, 5.0, 4.0],     # exactly the map
        [0, 5.0, 4.0, 6.0, 5.0],     # on the last pixel
    ])
    for aligned in (False, True):
        for sr in (-1, 2):
            y = F.roi_align(mg.tensor(x), mg.tensor(rois), (3, 2), 1.0, sr, aligned).numpy()
            np.testing.assert_allclose(y, ref_roi_align(x, rois, (3, 2), 1.0, sr, aligned), rtol=1e-10, atol=1e-12)
            assert np.all(y[2] == 0)


def test_roi_align_aligned_shifts_by_half_a_pixel():
    """On a linear ramp x[h, w] = w, a 1x1 bin of box [a, b] averages the ramp over the box:
    aligned=True gives (a + b) / 2 - 0.5 (pixel centres), aligned=False gives (a + b) / 2."""
    x = np.tile(np.arange(10.0), (1, 1, 10, 1))
    rois = np.array([[0, 2.0, 2.0, 6.0, 6.0]])
    for aligned, want in [(False, 4.0), (True, 3.5)]:
        y = F.roi_align(mg.tensor(x), mg.tensor(rois), 1, 1.0, 4, aligned)
        assert y.numpy()[0, 0, 0, 0] == pytest.approx(want)


def test_roi_align_list_of_boxes_equals_batch_index_format():
    x = RNG.standard_normal((3, 2, 6, 6))
    per_image = [RNG.uniform(0, 5, (2, 4)), np.zeros((0, 4)), RNG.uniform(0, 5, (3, 4))]
    per_image = [np.concatenate([b[:, :2], b[:, :2] + RNG.uniform(0.5, 3, (len(b), 2))], 1) for b in per_image]
    rois = np.concatenate([np.concatenate([np.full((len(b), 1), i), b], 1) for i, b in enumerate(per_image)])
    a = F.roi_align(mg.tensor(x), [mg.tensor(b) for b in per_image], (2, 2), 0.5, 2)
    b = F.roi_align(mg.tensor(x), mg.tensor(rois), (2, 2), 0.5, 2)
    assert a.shape == (5, 2, 2, 2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(b.numpy(), ref_roi_align(x, rois, (2, 2), 0.5, 2, False), rtol=1e-10)
    p = F.roi_pool(mg.tensor(x), [mg.tensor(b) for b in per_image], (2, 2), 0.5)
    np.testing.assert_array_equal(p.numpy(), F.roi_pool(mg.tensor(x), mg.tensor(rois), (2, 2), 0.5).numpy())


def test_roi_align_float32_and_no_boxes():
    x = RNG.standard_normal((2, 4, 8, 8))
    rois = _boxes(5, 2, 8, 8)
    y = F.roi_align(mg.tensor(x.astype(np.float32)), mg.tensor(rois.astype(np.float32)), 3, 1.0, -1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref_roi_align(x, rois.astype(np.float32).astype(np.float64), (3, 3), 1.0, -1, False),
                               rtol=1e-4, atol=1e-5)
    empty = F.roi_align(mg.tensor(x), mg.zeros(0, 5, dtype=mg.float64), 3)
    assert empty.shape == (0, 4, 3, 3)


# ------------------------------------------------------------------ roi_align backward


@pytest.mark.parametrize("aligned,sr", [(False, -1), (True, 2), (False, 1)])
def test_roi_align_gradcheck(aligned, sr):
    x = mg.tensor(RNG.standard_normal((2, 1, 4, 5)), requires_grad=True)
    rois = mg.tensor(np.array([[0, 0.3, 0.6, 3.1, 2.9], [1, -1.0, 1.2, 2.2, 5.0], [0, 2.5, 2.5, 2.7, 2.6]]))
    assert mg.gradcheck(lambda t: F.roi_align(t, rois, 2, 1.0, sr, aligned), (x,))


def test_roi_align_backward_is_the_adjoint():
    """<roi_align(x), g> == <x, dx(g)> on a bigger case with many overlapping boxes."""
    x = mg.tensor(RNG.standard_normal((2, 5, 12, 10)), requires_grad=True)
    rois = mg.tensor(_boxes(40, 2, 12, 10, 0.5, max_size=12))
    y = F.roi_align(x, rois, (3, 4), 0.5, -1, True)
    g = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(g))
    assert np.sum(y.numpy() * g) == pytest.approx(np.sum(x.numpy() * x.grad.numpy()), rel=1e-10)
    # float32 gradient stays float32
    x32 = mg.tensor(x.numpy().astype(np.float32), requires_grad=True)
    F.roi_align(x32, rois, 3, 0.5).sum().backward()
    assert x32.grad.dtype == np.float32


# ------------------------------------------------------------------ roi_pool


@pytest.mark.parametrize("spatial_scale", [1.0, 0.5, 0.25])
def test_roi_pool_matches_reference(spatial_scale):
    x = RNG.standard_normal((2, 3, 7, 9))
    rois = _boxes(8, 2, 7, 9, spatial_scale)
    for out_hw in [(2, 3), (3, 3), (1, 1)]:
        y = F.roi_pool(mg.tensor(x), mg.tensor(rois), out_hw, spatial_scale)
        want, _ = ref_roi_pool(x, rois, out_hw, spatial_scale)
        np.testing.assert_array_equal(y.numpy(), want)


def test_roi_pool_rounding_ties_empty_bins_and_backward_to_argmax():
    x = np.round(RNG.standard_normal((1, 2, 6, 6)))  # many ties: the first pixel (row-major) wins
    rois = np.array([
        [0, 0.5, 1.5, 3.5, 4.5],     # halves round away from zero: [1, 2] .. [4, 5]
        [0, -2.5, -2.5, 0.4, 0.4],   # partly outside: -3 .. 0
        [0, 2.0, 2.0, 2.0, 2.0],     # one pixel, 3x3 bins -> all bins read it
        [0, 4.0, 4.0, 9.0, 9.0],     # bins past the border are empty -> 0
        [0, -9.0, -9.0, -7.0, -7.0],  # fully outside -> 0
    ])
    xt = mg.tensor(x, requires_grad=True)
    y = F.roi_pool(xt, mg.tensor(rois), (3, 3), 1.0)
    want, arg = ref_roi_pool(x, rois, (3, 3), 1.0)
    np.testing.assert_array_equal(y.numpy(), want)
    assert np.all(want[4] == 0) and (arg[3] == -1).any() and (arg[3] >= 0).any()
    g = RNG.standard_normal(y.shape)
    y.backward(mg.tensor(g))
    gx = np.zeros_like(x)
    for k, c, i, j in np.ndindex(arg.shape):
        if arg[k, c, i, j] >= 0:
            gx[0, c].reshape(-1)[arg[k, c, i, j]] += g[k, c, i, j]
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-12)


def test_roi_pool_gradcheck():
    x = mg.tensor(RNG.permutation(40).reshape(1, 2, 4, 5) * 0.1, requires_grad=True)  # distinct values
    rois = mg.tensor(np.array([[0, 0.0, 0.0, 3.0, 2.0], [0, 1.0, 1.0, 4.0, 3.0]]))
    assert mg.gradcheck(lambda t: F.roi_pool(t, rois, 2, 1.0), (x,))


def test_roi_pool_float32_and_nan_ignored_like_torchvision():
    x = RNG.standard_normal((1, 1, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    y = F.roi_pool(mg.tensor(x), mg.tensor(np.array([[0, 0, 0, 1, 1]], np.float32)), 1)
    assert y.dtype == np.float32
    assert y.numpy()[0, 0, 0, 0] == np.nanmax(x[0, 0, :2, :2])


# ------------------------------------------------------------------ the segmented gather both ops use


@pytest.mark.cpu_only  # host side only
@pytest.mark.parametrize("max_len", [5, 150])  # few distinct lengths (exact groups) / many (powers of 2)
def test_gather_segments_matches_loops(monkeypatch, max_len):
    from minigrad.ops import roi

    monkeypatch.setattr(roi, "_CHUNK", 64)  # force several chunks per group
    R, C = 30, 3
    src = np.concatenate([RNG.standard_normal((R, C)), np.zeros((1, C))])
    lengths = RNG.integers(0, max_len, 200)
    lengths[:3] = 0
    taps = RNG.integers(0, R, lengths.sum())
    weights = RNG.standard_normal(lengths.sum())
    rows = roi.gather_segments(src, taps, weights, lengths)
    src[-1] = -np.inf
    mx, arg = roi.gather_segments(src, taps, None, lengths, reduce="max")
    start = 0
    for s, n in enumerate(lengths):
        t, w = taps[start:start + n], weights[start:start + n]
        start += n
        np.testing.assert_allclose(rows[s], (w[:, None] * src[t]).sum(0), rtol=1e-12, atol=1e-12)
        if n == 0:
            assert np.all(mx[s] == -np.inf) and np.all(arg[s] == R)
        else:
            np.testing.assert_array_equal(mx[s], src[t].max(0))
            np.testing.assert_array_equal(arg[s], t[src[t].argmax(0)])  # first tap reaching the max


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("op", [F.roi_align, F.roi_pool])
def test_errors(op):
    name = op.__name__
    x = mg.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=f"{name}: boxes must be a \\(K, 5\\) tensor.*shape \\(3, 4\\)"):
        op(x, mg.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=f"{name}: boxes must be a \\(K, 5\\)"):
        op(x, mg.zeros(5), 2)
    with pytest.raises(ValueError, match=f"{name}: each tensor in the boxes list must have shape \\(L, 4\\)"):
        op(x, [mg.zeros(2, 4), mg.zeros(2, 5)], 2)
    with pytest.raises(ValueError, match=f"{name}: batch index 2 in boxes is out of range: expected an integer in \\[0, 2\\)"):
        op(x, mg.tensor([[0, 0, 0, 1, 1], [2, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=f"{name}: batch index -1 in boxes is out of range"):
        op(x, mg.tensor([[-1, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=f"{name}: batch index 0.5 in boxes is out of range"):
        op(x, mg.tensor([[0.5, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=f"{name}: batch index 2 in boxes"):
        op(x, [mg.zeros(1, 4), mg.zeros(0, 4), mg.zeros(1, 4)], 2)  # 3 lists for 2 images
    with pytest.raises(TypeError, match=f"{name}: boxes must be a Tensor"):
        op(x, np.zeros((1, 5)), 2)
    with pytest.raises(ValueError, match=f"{name}: 'output_size' must be >= 1"):
        op(x, mg.zeros(1, 5), 0)
    with pytest.raises(ValueError, match=f"{name}: spatial_scale must be a positive number"):
        op(x, mg.zeros(1, 5), 2, 0.0)
    with pytest.raises(ValueError, match=f"{name}: expected 'input' with 4 dims"):
        op(mg.randn(3, 8, 8), mg.zeros(1, 5), 2)


# ------------------------------------------------------------------ modules


def test_modules():
    import nn

    x = mg.tensor(RNG.standard_normal((2, 3, 8, 8)))
    rois = mg.tensor(_boxes(4, 2, 16, 16, 0.5))
    align = nn.RoIAlign((2, 3), 0.5, 2, aligned=True)
    np.testing.assert_array_equal(align(x, rois).numpy(), F.roi_align(x, rois, (2, 3), 0.5, 2, True).numpy())
    assert repr(align) == "RoIAlign(output_size=(2, 3), spatial_scale=0.5, sampling_ratio=2, aligned=True)"
    pool = nn.RoIPool(2, 0.5)
    np.testing.assert_array_equal(pool(x, rois).numpy(), F.roi_pool(x, rois, 2, 0.5).numpy())
    assert repr(pool) == "RoIPool(output_size=2, spatial_scale=0.5)"
    assert list(align.parameters()) == [] and list(pool.parameters()) == []
