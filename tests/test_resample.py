"""F.interpolate (nearest, nearest-exact, bilinear) and nn.Upsample against per-pixel loop
references written from PyTorch's rules (ATen UpSample.h), plus gradchecks and argument errors."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functional as F

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------ references (one pixel at a time)


def _inv_scale_f32(n_in, n_out, scale):
    """PyTorch's float32 ``compute_scales_value``: 1/scale_factor if given, else in/out."""
    return np.float32(1.0 / scale) if scale is not None else np.float32(n_in) / np.float32(n_out)


def ref_nearest_index(dst, n_in, n_out, scale, exact):
    if not exact and n_out == n_in:
        return dst
    if not exact and n_out == 2 * n_in:
        return dst // 2
    s = _inv_scale_f32(n_in, n_out, scale)
    if exact:
        pos = np.float32((dst + 0.5) * float(s))
    else:
        pos = np.float32(dst) * s
    return min(int(math.floor(pos)), n_in - 1)


def ref_linear_taps(dst, n_in, n_out, scale, align_corners):
    """(i0, i1, l0, l1) for one output index, in float64."""
    if n_out == n_in:
        return dst, dst, 1.0, 0.0
    if align_corners:
        src = dst * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale is not None else n_in / n_out
        src = max((dst + 0.5) * s - 0.5, 0.0)
    i0 = min(int(math.floor(src)), n_in - 1)
    l1 = min(max(src - i0, 0.0), 1.0)
    return i0, min(i0 + 1, n_in - 1), 1.0 - l1, l1


def ref_interpolate(x, out_hw, mode, align_corners=False, scales=(None, None)):
    N, C, H, W = x.shape
    Ho, Wo = out_hw
    y = np.zeros((N, C, Ho, Wo), np.float64)
    for i in range(Ho):
        for j in range(Wo):
            if mode == "bilinear":
                a0, a1, p0, p1 = ref_linear_taps(i, H, Ho, scales[0], align_corners)
                b0, b1, q0, q1 = ref_linear_taps(j, W, Wo, scales[1], align_corners)
                y[:, :, i, j] = (p0 * (q0 * x[:, :, a0, b0] + q1 * x[:, :, a0, b1])
                                 + p1 * (q0 * x[:, :, a1, b0] + q1 * x[:, :, a1, b1]))
            else:
                exact = mode == "nearest-exact"
                a = ref_nearest_index(i, H, Ho, scales[0], exact)
                b = ref_nearest_index(j, W, Wo, scales[1], exact)
                y[:, :, i, j] = x[:, :, a, b]
    return y


def _run(x, **kw):
    return F.interpolate(mg.tensor(x), **kw).numpy()


SIZES = [(4, 6), (8, 12), (3, 5), (7, 4), (1, 1), (2, 9), (5, 5)]
SCALES = [2, 3, 0.5, 1.5, 1.7, (2.5, 0.6), 1.1, 1 / 3]


# ------------------------------------------------------------------ forward


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)])
def test_forward_size_matches_reference(mode, ac):
    align_corners = bool(ac)
    for H, W in [(5, 7), (4, 4), (1, 3), (6, 2)]:
        x = RNG.standard_normal((2, 3, H, W))
        for size in SIZES:
            got = _run(x, size=size, mode=mode, align_corners=ac)
            np.testing.assert_allclose(got, ref_interpolate(x, size, mode, align_corners), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear"])
def test_forward_scale_factor_matches_reference(mode):
    x = RNG.standard_normal((1, 2, 5, 6))
    for sf in SCALES:
        pair = sf if isinstance(sf, tuple) else (sf, sf)
        out = (math.floor(5 * pair[0]), math.floor(6 * pair[1]))
        for ac in ([False, True] if mode == "bilinear" else [None]):
            got = _run(x, scale_factor=sf, mode=mode, align_corners=ac)
            assert got.shape == (1, 2) + out
            # align_corners=True ignores the factor for coordinates, as in PyTorch
            scales = (None, None) if ac else pair
            np.testing.assert_allclose(got, ref_interpolate(x, out, mode, bool(ac), scales), rtol=1e-12, atol=1e-12)


def test_scale_factor_uses_one_over_factor_not_in_over_out():
    """5 * 1.7 = 8.5 -> 8 outputs; the coordinate map uses 1/1.7, not 5/8, so the two calls differ."""
    x = RNG.standard_normal((1, 1, 5, 5))
    by_factor = _run(x, scale_factor=1.7, mode="bilinear")
    by_size = _run(x, size=(8, 8), mode="bilinear")
    assert by_factor.shape == by_size.shape == (1, 1, 8, 8)
    assert np.abs(by_factor - by_size).max() > 1e-3
    # and 5 * 1.1 = 5.5 -> 5 outputs: the out == in shortcut copies, the factor is not used
    np.testing.assert_array_equal(_run(x, scale_factor=1.1, mode="bilinear"), x)
    np.testing.assert_array_equal(_run(x, scale_factor=1.1, mode="nearest"), x)


def test_float32_stays_float32_and_close_to_float64():
    x = RNG.standard_normal((2, 3, 6, 7))
    for mode in ("nearest", "nearest-exact", "bilinear"):
        y32 = F.interpolate(mg.tensor(x.astype(np.float32)), scale_factor=1.5, mode=mode)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32.numpy(), _run(x, scale_factor=1.5, mode=mode), rtol=1e-5, atol=1e-5)


def test_worked_example_from_the_docstring():
    """(1,1,10,14) -> (6,6), align_corners=True: output (2,2) reads the point (y=3.6, x=5.2)."""
    x = np.zeros((1, 1, 10, 14))
    x[0, 0, 3, 5], x[0, 0, 4, 5], x[0, 0, 3, 6], x[0, 0, 4, 6] = 10, 20, 30, 40
    y = _run(x, size=(6, 6), mode="bilinear", align_corners=True)
    weights = {(3, 5): 0.4 * 0.8, (4, 5): 0.6 * 0.8, (3, 6): 0.4 * 0.2, (4, 6): 0.6 * 0.2}
    np.testing.assert_allclose(list(weights.values()), [0.32, 0.48, 0.08, 0.12])
    assert y[0, 0, 2, 2] == pytest.approx(sum(w * x[0, 0, r, c] for (r, c), w in weights.items()))
    assert y[0, 0, 2, 2] == pytest.approx(20.0)
    # the same with one-hot maps: each neighbour's weight is recovered on its own
    for (r, c), w in weights.items():
        e = np.zeros((1, 1, 10, 14))
        e[0, 0, r, c] = 1
        assert _run(e, size=(6, 6), mode="bilinear", align_corners=True)[0, 0, 2, 2] == pytest.approx(w)
    assert "(y=3.6, x=5.2)" in F.interpolate.__doc__ and "0.32" in F.interpolate.__doc__


def test_nearest_floor_rule_is_not_the_round_rule():
    """[a, b] resized to 3: PyTorch's floor rule [a, a, b]; nearest-exact (pixel centres) [a, b, b]."""
    x = np.array([[[[1.0, 2.0]]]])
    np.testing.assert_array_equal(_run(x, size=(1, 3), mode="nearest")[0, 0, 0], [1, 1, 2])
    np.testing.assert_array_equal(_run(x, size=(1, 3), mode="nearest-exact")[0, 0, 0], [1, 2, 2])
    # 2x upsampling: both modes repeat each pixel twice
    x = np.array([[[[10.0, 20.0], [30.0, 40.0]]]])
    want = [[10, 10, 20, 20], [10, 10, 20, 20], [30, 30, 40, 40], [30, 30, 40, 40]]
    for mode in ("nearest", "nearest-exact"):
        np.testing.assert_array_equal(_run(x, scale_factor=2, mode=mode)[0, 0], want)


def test_bilinear_align_corners_maps_corners_to_corners():
    x = RNG.standard_normal((1, 2, 4, 5))
    y = _run(x, size=(7, 9), mode="bilinear", align_corners=True)
    for (i, j), (a, b) in {(0, 0): (0, 0), (0, 8): (0, 4), (6, 0): (3, 0), (6, 8): (3, 4)}.items():
        np.testing.assert_allclose(y[0, :, i, j], x[0, :, a, b], rtol=1e-12)
    # align_corners=False: the first output reads the first pixel (clamped), not a mix
    y = _run(x, size=(8, 10), mode="bilinear")
    np.testing.assert_allclose(y[0, :, 0, 0], x[0, :, 0, 0], rtol=1e-12)


def test_nearest_keeps_integer_dtype():
    x = mg.tensor(np.arange(12).reshape(1, 1, 3, 4))
    y = F.interpolate(x, scale_factor=2)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy()[0, 0, ::2, ::2], np.arange(12).reshape(3, 4))


# ------------------------------------------------------------------ backward


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)])
@pytest.mark.parametrize("kw", [dict(size=(5, 3)), dict(scale_factor=0.7), dict(scale_factor=(1.5, 2))])
def test_gradcheck(mode, ac, kw):
    x = mg.tensor(RNG.standard_normal((1, 2, 3, 4)), requires_grad=True)
    assert mg.gradcheck(lambda t: F.interpolate(t, mode=mode, align_corners=ac, **kw), (x,))


@pytest.mark.parametrize("mode,ac", [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True)])
def test_backward_is_the_adjoint_on_larger_maps(mode, ac):
    """<interp(x), g> == <x, dx(g)> for random x, g: the backward is exactly the transposed map."""
    for H, W, size in [(9, 11, (20, 7)), (16, 16, (32, 32)), (13, 10, (4, 25))]:
        x = mg.tensor(RNG.standard_normal((2, 3, H, W)), requires_grad=True)
        y = F.interpolate(x, size=size, mode=mode, align_corners=ac)
        g = RNG.standard_normal(y.shape)
        y.backward(mg.tensor(g))
        assert x.grad.shape == x.shape
        assert np.sum(y.numpy() * g) == pytest.approx(np.sum(x.numpy() * x.grad.numpy()), rel=1e-10)


def test_backward_float32_gradient_dtype():
    x = mg.tensor(RNG.standard_normal((1, 2, 5, 5)).astype(np.float32), requires_grad=True)
    F.interpolate(x, scale_factor=2, mode="bilinear").sum().backward()
    assert x.grad.dtype == np.float32
    # every input pixel of a 2x bilinear upsampling is read with total weight 4 except at the border
    assert x.grad.numpy()[0, 0, 2, 2] == pytest.approx(4.0)


# ------------------------------------------------------------------ errors


def test_errors():
    x = mg.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="interpolate.*exactly one of size and scale_factor.*both"):
        F.interpolate(x, size=(2, 2), scale_factor=2)
    with pytest.raises(ValueError, match="interpolate.*exactly one of size and scale_factor.*neither"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="interpolate: mode"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(ValueError, match="interpolate: mode"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match="interpolate: align_corners"):
        F.interpolate(x, scale_factor=2, mode="nearest", align_corners=True)
    with pytest.raises(ValueError, match="interpolate: expected 'input' with 4 dims"):
        F.interpolate(mg.randn(2, 4, 4), scale_factor=2)
    with pytest.raises(ValueError, match="interpolate: input and output sizes must be > 0"):
        F.interpolate(x, scale_factor=0.2)
    with pytest.raises(ValueError, match="interpolate: input and output sizes must be > 0"):
        F.interpolate(x, size=(0, 3))
    with pytest.raises(ValueError, match="interpolate: scale_factor must be positive"):
        F.interpolate(x, scale_factor=-2)
    with pytest.raises(ValueError, match="interpolate: 'size'"):
        F.interpolate(x, size=(2, 2, 2))
    with pytest.raises(TypeError, match="interpolate: 'size' must be ints"):
        F.interpolate(x, size=2.5)
    with pytest.raises(TypeError, match="interpolate: argument 'input' must be a Tensor"):
        F.interpolate(np.zeros((1, 1, 2, 2)), scale_factor=2)


# ------------------------------------------------------------------ nn.Upsample


def test_upsample_module():
    import nn

    x = mg.tensor(RNG.standard_normal((1, 2, 3, 4)))
    up = nn.Upsample(scale_factor=2, mode="bilinear")
    np.testing.assert_array_equal(up(x).numpy(), F.interpolate(x, scale_factor=2, mode="bilinear").numpy())
    assert repr(up) == "Upsample(scale_factor=2.0, mode='bilinear')"
    up = nn.Upsample(size=(5, 7))
    assert up(x).shape == (1, 2, 5, 7)
    assert repr(up) == "Upsample(size=(5, 7), mode='nearest')"
    assert list(up.parameters()) == []
    with pytest.raises(ValueError, match="interpolate"):
        nn.Upsample(size=3, scale_factor=2)(x)
