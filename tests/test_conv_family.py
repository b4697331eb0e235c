"""conv_transpose2d and conv1d (F and nn), and the reference/fast split of the conv family:
forward against naive loops written from the formulas, float64 gradchecks on both paths, the
adjoint identity between conv2d and conv_transpose2d, blocked code paths, empty batches, errors."""
import itertools
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from minigrad.kernels import gemm, im2col

from test_conv import naive_conv2d

rng = np.random.default_rng(1)


def t(a, requires_grad=False):
    return minigrad.tensor(a, requires_grad=requires_grad)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.fixture(params=["fast", "reference"])
def path(request):
    """Run the test body with the fast Functions, then with the reference ones."""
    with minigrad.kernels.reference_kernels(request.param == "reference"):
        yield request.param


def naive_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """y[n, g*Cog + o, p*sh + i*dh - ph, q*sw + j*dw - pw] += x[n, g*Cig + c, p, q] * w[g*Cig + c, o, i, j],
    one input pixel and one tap at a time; positions outside the output are dropped."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    N, Ci, H, W = x.shape
    _, Cog, kh, kw = w.shape
    Ho = (H - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    Wo = (W - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    y = np.zeros((N, Cog * groups, Ho, Wo))
    Cig = Ci // groups
    for n, ci, p, q, i, j in itertools.product(range(N), range(Ci), range(H), range(W), range(kh), range(kw)):
        g = ci // Cig
        u, v = p * sh + i * dh - ph, q * sw + j * dw - pw
        if 0 <= u < Ho and 0 <= v < Wo:
            y[n, g * Cog:(g + 1) * Cog, u, v] += x[n, ci, p, q] * w[ci, :, i, j]
    if b is not None:
        y += b[:, None, None]
    return y


def naive_conv1d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, o, l] = b[o] + sum_{c, k} w[o, c, k] * x_pad[n, g*Cg + c, l*s + k*d]"""
    N, C, L = x.shape
    Co, Cg, K = w.shape
    xp = np.zeros((N, C, L + 2 * padding))
    xp[:, :, padding:padding + L] = x
    Lo = (L + 2 * padding - dilation * (K - 1) - 1) // stride + 1
    y = np.zeros((N, Co, Lo))
    cog = Co // groups
    for n, o, l in itertools.product(range(N), range(Co), range(Lo)):
        g = o // cog
        for c, k in itertools.product(range(Cg), range(K)):
            y[n, o, l] += w[o, c, k] * xp[n, g * Cg + c, l * stride + k * dilation]
        y[n, o, l] += 0.0 if b is None else b[o]
    return y


# ------------------------------------------------------------------ conv_transpose2d forward

def _valid(stride, padding, output_padding, dilation, gcc, kernel):
    """output_padding below the stride or the dilation, and a non-empty output (4x3 input)."""
    s, p, o, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    size = [(n - 1) * s[k] - 2 * p[k] + d[k] * (kernel[k] - 1) + o[k] + 1 for k, n in enumerate((4, 3))]
    return all(o[k] < max(s[k], d[k]) for k in range(2)) and min(size) >= 1


CT_GRID = [c for c in itertools.product(
    [1, 2, (1, 3)],  # stride
    [0, 1, (2, 0)],  # padding
    [0, 1],  # output_padding
    [1, 2],  # dilation
    [(1, 4, 2), (2, 4, 4), (4, 4, 4)],  # (groups, C_in, C_out)
    [(3, 3), (2, 3), (1, 1)],  # kernel
) if _valid(*c)]


@pytest.mark.parametrize("stride,padding,output_padding,dilation,gcc,kernel", CT_GRID)
def test_conv_transpose2d_forward_grid(stride, padding, output_padding, dilation, gcc, kernel, path):
    groups, Ci, Co = gcc
    x = rng.standard_normal((2, Ci, 4, 3))
    w = rng.standard_normal((Ci, Co // groups) + kernel)
    b = rng.standard_normal(Co)
    ref = naive_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    y = F.conv_transpose2d(t(x), t(w), t(b), stride, padding, output_padding, groups, dilation)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


def test_conv_transpose2d_unbatched_float32_and_non_contiguous_input(path):
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    y = F.conv_transpose2d(t(x), t(w), stride=2, padding=1, output_padding=1)
    assert y.shape == (2, 10, 8) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), naive_conv_transpose2d(x[None], w, None, 2, 1, 1)[0], rtol=1e-5, atol=1e-5)
    xt = rng.standard_normal((1, 4, 5, 3)).transpose(0, 3, 2, 1)  # (1, 3, 5, 4), non-contiguous
    np.testing.assert_allclose(F.conv_transpose2d(t(xt), t(w.astype(np.float64)), stride=2).numpy(),
                               naive_conv_transpose2d(xt, w.astype(np.float64), stride=2), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ adjoints and gradients


@pytest.mark.parametrize("kw", [
    dict(stride=2, padding=1), dict(stride=1, padding=0, dilation=2), dict(stride=(2, 3), padding=(1, 2), groups=2),
])
def test_conv_transpose2d_is_the_adjoint_of_conv2d(kw, path):
    """<conv2d(u, W), x> = <u, conv_transpose2d(x, W)> for every u, x (same weight and geometry)."""
    u = rng.standard_normal((2, 4, 9, 11))
    w = rng.standard_normal((6, 4 // kw.get("groups", 1), 3, 3))
    y = F.conv2d(t(u), t(w), **kw).numpy()
    x = rng.standard_normal(y.shape)
    out_pad = tuple(n - m for n, m in zip(u.shape[2:], F.conv_transpose2d(t(x), t(w), **kw).shape[2:]))
    z = F.conv_transpose2d(t(x), t(w), output_padding=out_pad, **kw).numpy()
    assert z.shape == u.shape
    assert math.isclose(float((y * x).sum()), float((u * z).sum()), rel_tol=1e-10)


@pytest.mark.parametrize("shape,w_shape,kw", [
    ((2, 2, 3, 4), (2, 3, 3, 3), dict(padding=1)),
    ((1, 2, 3, 3), (2, 2, 3, 2), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 2, 3), (4, 1, 2, 2), dict(stride=(2, 1), groups=2, dilation=(1, 2))),
    ((1, 3, 3, 2), (3, 2, 1, 1), dict(stride=2, output_padding=(1, 0))),
    ((1, 2, 4, 4), (2, 2, 3, 3), dict(stride=1, padding=2)),  # padding crops the full output to less than the input
    ((2, 2, 3, 3), (2, 2, 3, 3), dict(stride=1, dilation=2, output_padding=1)),  # output_padding < dilation
])
def test_conv_transpose2d_gradcheck(shape, w_shape, kw, path):
    x = t(rng.standard_normal(shape), True)
    w = t(rng.standard_normal(w_shape), True)
    b = t(rng.standard_normal(w_shape[1] * kw.get("groups", 1)), True)
    assert minigrad.gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("shape,w_shape,kw", [
    ((2, 2, 4, 5), (3, 2, 3, 3), dict(padding=1)),
    ((1, 2, 5, 5), (2, 2, 3, 2), dict(stride=2, padding=1, dilation=(2, 1))),
    ((2, 4, 4, 3), (4, 2, 2, 2), dict(groups=2, padding=(1, 0))),
    ((2, 3, 4, 5), (2, 3, 1, 1), dict(stride=2)),
])
def test_conv2d_gradcheck_both_paths(shape, w_shape, kw, path):
    x = t(rng.standard_normal(shape), True)
    w = t(rng.standard_normal(w_shape), True)
    b = t(rng.standard_normal(w_shape[0]), True)
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 1, 1, 1), (2, 0, 1, 2), (1, 2, 2, 1), (3, 1, 1, 4)])
def test_conv2d_reference_and_fast_agree_with_naive(stride, padding, dilation, groups, path):
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 4 // groups, 3, 2))
    y = F.conv2d(t(x), t(w), stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x, w, None, stride, padding, dilation, groups),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,w_shape,kw", [
    ((3, 8, 14, 12), (8, 6, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 8, 20, 20), (8, 8, 3, 3), dict(padding=1)),
    ((2, 8, 10, 10), (8, 4, 3, 3), dict(stride=(1, 2), groups=2, dilation=2)),
])
@pytest.mark.parametrize("block_bytes", [1 << 30, 1 << 14])
def test_conv_transpose2d_blocked_matches_reference(shape, w_shape, kw, block_bytes, monkeypatch):
    """The fast path in one block or in many (block budget patched small) against the reference
    Function, forward and both gradients."""
    monkeypatch.setattr(gemm, "THREAD_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(w_shape)
    results = []
    for ref in (False, True):
        with minigrad.kernels.reference_kernels(ref):
            X, Wt = t(x, True), t(w, True)
            y = F.conv_transpose2d(X, Wt, **kw)
            y.backward(t(np.cos(np.arange(y.numpy().size)).reshape(y.shape)))
            results.append((y.numpy(), X.grad.numpy(), Wt.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("keep_col", [True, False])
@pytest.mark.parametrize("block_bytes", [1 << 30, 1 << 14])
def test_conv2d_blocked_matches_reference(keep_col, block_bytes, monkeypatch):
    monkeypatch.setattr(im2col, "KEEP_COL_BYTES", 1 << 30 if keep_col else 0)
    monkeypatch.setattr(gemm, "THREAD_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
    x = rng.standard_normal((3, 8, 18, 16))
    w = rng.standard_normal((12, 8, 3, 3))
    for kw in (dict(padding=1), dict(stride=2, padding=1)):
        results = []
        for ref in (False, True):
            with minigrad.kernels.reference_kernels(ref):
                X, Wt = t(x, True), t(w, True)
                y = F.conv2d(X, Wt, **kw)
                y.backward(t(np.sin(np.arange(y.numpy().size)).reshape(y.shape)))
                results.append((y.numpy(), X.grad.numpy(), Wt.grad.numpy()))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_float32_gradients_agree_with_float64(path):
    """conv2d then conv_transpose2d with the same weight (its adjoint): float32 tracks float64."""
    x = rng.standard_normal((2, 4, 9, 9))
    w = rng.standard_normal((6, 4, 3, 3)) * 0.3
    out = {}
    for dt in (np.float32, np.float64):
        X, Wt = t(x.astype(dt), True), t(w.astype(dt), True)
        y = F.conv_transpose2d(F.conv2d(X, Wt, padding=1, stride=2), Wt, padding=1, stride=2, output_padding=0)
        (y * y).sum().backward()
        out[dt] = (y.numpy(), X.grad.numpy(), Wt.grad.numpy())
    for a, b in zip(out[np.float32], out[np.float64]):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


# ------------------------------------------------------------------ conv1d


@pytest.mark.parametrize("stride,padding,dilation,groups,k", [
    (1, 0, 1, 1, 3), (2, 1, 1, 1, 3), (1, 2, 2, 2, 3), (3, 0, 1, 4, 1), (1, 1, 1, 1, 5),
])
def test_conv1d_forward_and_gradcheck(stride, padding, dilation, groups, k, path):
    x = rng.standard_normal((2, 4, 9))
    w = rng.standard_normal((4, 4 // groups, k))
    b = rng.standard_normal(4)
    y = F.conv1d(t(x), t(w), t(b), stride, padding, dilation, groups)
    np.testing.assert_allclose(y.numpy(), naive_conv1d(x, w, b, stride, padding, dilation, groups), rtol=1e-10, atol=1e-10)
    X, Wt, B = t(x, True), t(w, True), t(b, True)
    assert minigrad.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding, dilation, groups), (X, Wt, B))


def test_conv1d_padding_strings_unbatched_and_module():
    x = rng.standard_normal((3, 10))
    w = rng.standard_normal((2, 3, 4))
    same = F.conv1d(t(x), t(w), padding="same")
    assert same.shape == (2, 10)  # total padding 3: 1 before, 2 after (PyTorch)
    xpad = np.pad(x, ((0, 0), (1, 2)))
    np.testing.assert_allclose(same.numpy(), naive_conv1d(xpad[None], w)[0], rtol=1e-10, atol=1e-10)
    assert F.conv1d(t(x), t(w), padding="valid").shape == (2, 7)
    minigrad.manual_seed(0)
    m = nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2)
    assert m.weight.shape == (6, 2, 3) and m.bias.shape == (6,)
    assert m.stride == (2,) and m.padding == (1,)
    bound = 1 / math.sqrt(2 * 3)
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    xs = rng.standard_normal((2, 4, 11)).astype(np.float32)
    np.testing.assert_allclose(m(t(xs)).numpy(), naive_conv1d(xs, m.weight.numpy(), m.bias.numpy(), 2, 1, 1, 2),
                               rtol=1e-5, atol=1e-5)
    assert repr(m) == "Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), groups=2)"


def test_conv1d_errors_name_conv1d():
    x, w = t(np.zeros((2, 3, 8))), t(np.zeros((4, 2, 3)))
    with pytest.raises(ValueError, match=r"conv1d: expected input with 2 channels.*\(2, 3, 8\)"):
        F.conv1d(x, w)
    with pytest.raises(ValueError, match=r"conv1d: expected 'input' with 2 or 3 dims"):
        F.conv1d(t(np.zeros((1, 2, 3, 8))), w)
    with pytest.raises(ValueError, match=r"conv1d: 'stride' must be >= 1"):
        F.conv1d(x, t(np.zeros((4, 3, 3))), stride=0)
    with pytest.raises(TypeError, match="conv1d: input dtype float32 and weight dtype float64"):
        F.conv1d(t(np.zeros((2, 3, 8), np.float32)), t(np.zeros((4, 3, 3))))


# ------------------------------------------------------------------ empty batches, dtypes, errors


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d", "conv1d"])
def test_empty_batch(op, path):
    if op == "conv1d":
        x, w, out_shape = np.zeros((0, 3, 8)), rng.standard_normal((4, 3, 3)), (0, 4, 8)
        fn = lambda x, w, b: F.conv1d(x, w, b, padding=1)  # noqa: E731
    elif op == "conv2d":
        x, w, out_shape = np.zeros((0, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), (0, 4, 3, 3)
        fn = lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1)  # noqa: E731
    else:
        x, w, out_shape = np.zeros((0, 3, 3, 3)), rng.standard_normal((3, 4, 3, 3)), (0, 4, 6, 6)
        fn = lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1)  # noqa: E731
    X, Wt, B = t(x, True), t(w, True), t(np.ones(4), True)
    y = fn(X, Wt, B)
    assert y.shape == out_shape
    y.sum().backward()
    assert X.grad.shape == x.shape
    np.testing.assert_array_equal(Wt.grad.numpy(), np.zeros(w.shape))
    np.testing.assert_array_equal(B.grad.numpy(), np.zeros(4))


@pytest.mark.parametrize("fn", [F.conv2d, F.conv_transpose2d])
def test_mixed_dtypes_raise_type_error_naming_both(fn):
    x32, w32, b32 = t(np.zeros((1, 3, 5, 5), np.float32)), t(np.zeros((3, 3, 3, 3), np.float32)), t(np.zeros(3, np.float32))
    name = fn.__name__
    with pytest.raises(TypeError, match=f"{name}: input dtype float32 and weight dtype float64 differ"):
        fn(x32, t(np.zeros((3, 3, 3, 3))))
    with pytest.raises(TypeError, match=f"{name}: input dtype float32 and bias dtype float64 differ"):
        fn(x32, w32, t(np.zeros(3)))
    with pytest.raises(TypeError, match=f"{name}: input dtype float64 and weight dtype float32 differ"):
        fn(t(np.zeros((1, 3, 5, 5))), w32, b32)


@pytest.mark.parametrize("x_shape,w_shape,kw,match", [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, r"conv_transpose2d: expected input with 4 channels.*\(2, 3, 5, 5\)"),
    ((2, 3, 5, 5), (3, 2, 3, 3), dict(groups=2), r"conv_transpose2d: groups=2 must divide in_channels 3"),
    ((2, 4, 5, 5), (4, 2, 3, 3), dict(stride=2, output_padding=2), r"conv_transpose2d: output_padding \(2, 2\) must be smaller"),
    ((2, 4, 1, 1), (4, 2, 1, 1), dict(padding=1), r"conv_transpose2d: output size \(-1, -1\) is too small"),
    ((2, 4, 5, 5), (4, 2, 3, 3), dict(padding="same"), r"conv_transpose2d: padding must be an int or a pair"),
    ((2, 4, 5, 5), (4, 2, 3), {}, r"conv_transpose2d: expected 'weight' with 4 dims \(C_in, C_out/groups, kH, kW\)"),
])
def test_conv_transpose2d_errors(x_shape, w_shape, kw, match):
    with pytest.raises(ValueError, match=match):
        F.conv_transpose2d(t(np.zeros(x_shape)), t(np.zeros(w_shape)), **kw)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected 'bias' of shape \(4,\), got \(3,\)"):
        F.conv_transpose2d(t(np.zeros((1, 2, 3, 3))), t(np.zeros((2, 2, 3, 3))), t(np.zeros(3)), groups=2)


# ------------------------------------------------------------------ nn.ConvTranspose2d


def test_conv_transpose2d_module():
    minigrad.manual_seed(0)
    m = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == (4, 3, 3, 3) and m.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 3 * 3)  # fan_in from the weight's second dim, as PyTorch
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    x = rng.standard_normal((2, 4, 5, 4)).astype(np.float32)
    y = m(t(x))
    assert y.shape == (2, 6, 10, 8)
    np.testing.assert_allclose(y.numpy(), naive_conv_transpose2d(x, m.weight.numpy(), m.bias.numpy(), 2, 1, 1, 2),
                               rtol=1e-5, atol=1e-5)
    assert repr(m) == ("ConvTranspose2d(4, 6, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), "
                       "output_padding=(1, 1), groups=2)")
    m0 = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    assert m0(t(x), output_size=(10, 8)).shape == (2, 6, 10, 8)
    assert m0(t(x), output_size=(2, 6, 9, 7)).shape == (2, 6, 9, 7)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: requested output_size \(12, 8\) is not reachable"):
        m0(t(x), output_size=(12, 8))


# ------------------------------------------------------------------ Winograd F(2x2, 3x3)


@pytest.fixture
def winograd_on(monkeypatch):
    from minigrad.kernels import winograd

    monkeypatch.setattr(winograd, "ENABLED", True)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(winograd, "MIN_OUT", 2)
    monkeypatch.setattr(winograd, "SINGLE_THREAD_ONLY", False)
    return winograd


@pytest.mark.parametrize("shape,co,padding", [
    ((2, 3, 6, 7), 4, 1),  # odd output width: the tile grid is cropped
    ((1, 2, 5, 5), 3, 2),
    ((2, 2, 4, 6), 2, 0),
    ((1, 3, 3, 4), 2, (1, 2)),
    ((3, 2, 6, 5), 3, 1),
])
@pytest.mark.parametrize("block_bytes", [1 << 30, 1])  # 1: one image per block, blocks over two threads
def test_winograd_matches_naive_and_gradchecks(shape, co, padding, block_bytes, winograd_on, monkeypatch):
    from minigrad.kernels import threads

    monkeypatch.setattr(winograd_on, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(threads, "machine_busy", lambda: False)  # the pool even on a busy machine
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    x = rng.standard_normal(shape)
    w = rng.standard_normal((co, shape[1], 3, 3))
    b = rng.standard_normal(co)
    X, Wt, B = t(x, True), t(w, True), t(b, True)
    y = F.conv2d(X, Wt, B, padding=padding)
    fn = y.grad_fn
    assert fn.winograd  # the Winograd path ran
    ph, pw = pair(padding)
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    np.testing.assert_allclose(y.numpy(), naive_conv2d(xpad, w, b), rtol=1e-10, atol=1e-10)
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding), (X, Wt, B))


def test_winograd_float32_close_to_float64_reference(winograd_on):
    x = rng.standard_normal((2, 16, 8, 8))
    w = rng.standard_normal((16, 16, 3, 3)) * 0.1
    gy = rng.standard_normal((2, 16, 8, 8))
    out = {}
    for dt, ref in ((np.float32, False), (np.float64, True)):
        with minigrad.kernels.reference_kernels(ref):
            X, Wt = t(x.astype(dt), True), t(w.astype(dt), True)
            y = F.conv2d(X, Wt, padding=1)
            y.backward(t(gy.astype(dt)))
            out[dt] = (y.numpy(), X.grad.numpy(), Wt.grad.numpy())
    for a, b in zip(out[np.float32], out[np.float64]):
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()


def test_winograd_skips_shapes_it_does_not_handle(winograd_on):
    from minigrad.kernels import im2col

    def plan(**kw):
        return im2col.plan((1, 2, 6, 6), (2, 2, 3, 3), kw.get("stride", (1, 1)), kw.get("pads", (1, 1, 1, 1)),
                           kw.get("dilation", (1, 1)), kw.get("groups", 1))
    assert winograd_on.applies(plan())
    assert not winograd_on.applies(plan(stride=(2, 2)))
    assert not winograd_on.applies(plan(dilation=(2, 2)))
    assert not winograd_on.applies(plan(groups=2))
    assert not winograd_on.applies(plan(pads=(3, 3, 3, 3)))
    winograd_on.MIN_OUT = 8  # (restored by monkeypatch)
    assert not winograd_on.applies(plan())


def test_resnet18_step_same_with_reference_kernels():
    """A whole ResNet18 forward/backward (float64, 8x8 inputs) gives the same loss and gradients
    with the fast and the reference conv Functions."""
    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=3, in_channels=1, small_input=True).double()
    local = np.random.default_rng(7)  # its own generator: the data must not depend on which tests ran before
    x = t(local.standard_normal((4, 1, 8, 8)))
    target = t(np.array([0, 2, 1, 0]))
    results = []
    for ref in (False, True):
        with minigrad.kernels.reference_kernels(ref):
            model.zero_grad()
            loss = F.cross_entropy(model(x), target)
            loss.backward()
            results.append([loss.item()] + [p.grad.numpy().copy() for p in model.parameters()])
    assert math.isclose(results[0][0], results[1][0], rel_tol=1e-10)  # float64; the two paths sum in different orders
    for a, b in zip(results[0][1:], results[1][1:]):  # (BatchNorm over few images amplifies rounding)
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9 * np.abs(b).max())
