"""F.conv2d and nn.Conv2d: forward against naive references written from the formula, float64
gradchecks, adjoint identities at sizes where the blocked GEMM path runs, errors."""
import itertools
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from minigrad.kernels import gemm, im2col

rng = np.random.default_rng(0)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n, k, s, p, d):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def naive_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n, co, p, q] = b[co] + sum_{c, i, j} w[co, c, i, j] * x_pad[n, g*Cg + c, p*sh + i*dh, q*sw + j*dw],
    one output pixel at a time."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw), dtype=np.float64)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    oh, ow = out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw)
    y = np.zeros((N, Co, oh, ow))
    cog = Co // groups
    for n, co, p, q in itertools.product(range(N), range(Co), range(oh), range(ow)):
        g = co // cog
        window = xp[n, g * Cg:(g + 1) * Cg, p * sh: p * sh + dh * (kh - 1) + 1: dh, q * sw: q * sw + dw * (kw - 1) + 1: dw]
        y[n, co, p, q] = (window * w[co]).sum() + (0.0 if b is None else b[co])
    return y


def shifted_conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """The same sum taken one kernel tap (i, j) at a time over whole arrays (fast enough for big inputs)."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    xp = np.zeros((N, C, H + 2 * ph, W + 2 * pw))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    oh, ow = out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw)
    y = np.zeros((N, Co, oh, ow))
    cog = Co // groups
    for g, i, j in itertools.product(range(groups), range(kh), range(kw)):
        tap = xp[:, g * Cg:(g + 1) * Cg, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
        y[:, g * cog:(g + 1) * cog] += np.einsum("oc,ncpq->nopq", w[g * cog:(g + 1) * cog, :, i, j], tap)
    return y


def t(a, requires_grad=False):
    return minigrad.tensor(a, requires_grad=requires_grad)


# ------------------------------------------------------------------ forward against the naive loop

GRID = list(itertools.product(
    [1, 2, 3, (1, 2)],  # stride
    [0, 1, 2, (2, 0)],  # padding
    [1, 2],  # dilation
    [(1, 4), (2, 4), (4, 4)],  # (groups, C): groups 1, 2 and C (depthwise)
    [(3, 3), (2, 3), (1, 1)],  # kernel
))


@pytest.mark.parametrize("stride,padding,dilation,gc,kernel", GRID)
def test_conv2d_forward_grid(stride, padding, dilation, gc, kernel):
    groups, C = gc
    N, H, W, Co = 2, 7, 6, 4
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((Co, C // groups) + kernel)
    b = rng.standard_normal(Co)
    y = F.conv2d(t(x), t(w), t(b), stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = naive_conv2d(x, w, b, stride, padding, dilation, groups)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,kernel,stride,padding,dilation", [
    ((1, 3, 5, 9), (3, 2), 1, 0, 1),  # batch 1, non-square everything
    ((1, 2, 1, 1), (3, 3), 1, 1, 1),  # 1x1 input: only the centre tap sees data
    ((2, 2, 2, 2), (3, 3), 2, 1, 1),  # 2x2 input, stride 2
    ((2, 2, 3, 1), (3, 3), 1, 2, 2),  # taps that only ever see padding
    ((1, 2, 4, 4), (4, 4), 3, 0, 1),  # kernel as large as the input
    ((2, 3, 5, 4), (1, 1), 1, 2, 1),  # 1x1 kernel with padding
])
def test_conv2d_forward_edge_cases(shape, kernel, stride, padding, dilation):
    x = rng.standard_normal(shape)
    w = rng.standard_normal((3, shape[1]) + kernel)
    y = F.conv2d(t(x), t(w), stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x, w, None, stride, padding, dilation), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel,dilation", [((3, 3), 1), ((2, 4), 1), ((3, 2), (2, 1))])
def test_conv2d_padding_strings(kernel, dilation):
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((2, 3) + kernel)
    same = F.conv2d(t(x), t(w), padding="same", dilation=dilation)
    assert same.shape == (2, 2, 6, 7)
    # PyTorch pads total = d*(k-1), the odd pixel at the end: check against explicit zero padding
    (dh, dw) = pair(dilation)
    th, tw = dh * (kernel[0] - 1), dw * (kernel[1] - 1)
    xpad = np.pad(x, ((0, 0), (0, 0), (th // 2, th - th // 2), (tw // 2, tw - tw // 2)))
    np.testing.assert_allclose(same.numpy(), naive_conv2d(xpad, w, dilation=dilation), rtol=1e-10, atol=1e-10)
    valid = F.conv2d(t(x), t(w), padding="valid", dilation=dilation)
    np.testing.assert_allclose(valid.numpy(), naive_conv2d(x, w, dilation=dilation), rtol=1e-10, atol=1e-10)


def test_conv2d_float32_stays_float32_and_unbatched_input():
    x = rng.standard_normal((3, 8, 8)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    X, Wt, B = t(x, True), t(w, True), t(b, True)
    y = F.conv2d(X, Wt, B, padding=1)
    assert y.shape == (4, 8, 8) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), naive_conv2d(x[None], w, b, 1, 1)[0], rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert X.grad.dtype == Wt.grad.dtype == B.grad.dtype == np.float32


def test_conv2d_channels_last_input_same_result():
    x = rng.standard_normal((2, 5, 6, 7))
    w = rng.standard_normal((3, 5, 3, 3))
    x_cl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # NCHW shape, NHWC memory
    np.testing.assert_array_equal(F.conv2d(t(x_cl), t(w), padding=1).numpy(), F.conv2d(t(x), t(w), padding=1).numpy())


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("shape,w_shape,kw", [
    ((2, 2, 4, 5), (3, 2, 3, 3), dict(padding=1)),
    ((1, 2, 5, 5), (2, 2, 3, 2), dict(stride=2, padding=1, dilation=(2, 1))),
    ((2, 4, 4, 3), (4, 2, 2, 2), dict(groups=2, padding=(1, 0))),
    ((1, 3, 4, 4), (3, 1, 3, 3), dict(groups=3, stride=(1, 2), padding=1)),  # depthwise
    ((2, 3, 4, 5), (2, 3, 1, 1), dict(stride=2)),  # 1x1 downsample
    ((2, 2, 3, 3), (2, 2, 1, 1), {}),  # 1x1 stride 1: col is the input itself
    ((2, 2, 1, 2), (2, 2, 3, 3), dict(padding=1)),  # taps that see only padding get zero gradient
    ((1, 2, 5, 4), (2, 2, 3, 3), dict(stride=3, padding=2, dilation=2)),
    ((2, 2, 3, 4), (2, 2, 3, 3), dict(stride=2, padding=1, dilation=2)),  # live taps start inside the input
])
@pytest.mark.parametrize("keep_col", [True, False])
def test_conv2d_gradcheck(shape, w_shape, kw, keep_col, monkeypatch):
    """keep_col=False: the forward keeps only the padded input and backward rebuilds col."""
    monkeypatch.setattr(im2col, "KEEP_COL_BYTES", 1 << 30 if keep_col else 0)
    x = t(rng.standard_normal(shape), True)
    w = t(rng.standard_normal(w_shape), True)
    b = t(rng.standard_normal(w_shape[0]), True)
    assert minigrad.gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), (x, w, b))


def test_conv2d_gradcheck_channels_last_gradient():
    """The output (and so its gradient) is channels-last memory; backward reads it without a copy."""
    x = t(rng.standard_normal((2, 3, 4, 4)), True)
    w = t(rng.standard_normal((2, 3, 3, 3)), True)
    assert minigrad.gradcheck(lambda x, w: F.conv2d(F.conv2d(x, w, padding=1), w[:, :2], padding=1), (x, w))


def test_conv2d_no_input_grad_skips_dx():
    x = t(rng.standard_normal((2, 3, 5, 5)))
    w = t(rng.standard_normal((4, 3, 3, 3)), True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3)


@pytest.mark.parametrize("shape,w_shape,kw", [
    ((3, 8, 30, 26), (16, 8, 3, 3), dict(padding=1)),
    ((4, 8, 28, 28), (8, 8, 3, 3), dict(stride=2, padding=1)),  # strided col2im over image blocks
    ((2, 8, 40, 40), (8, 4, 3, 3), dict(padding=2, dilation=2, groups=2)),
    ((3, 16, 24, 24), (32, 16, 1, 1), dict(stride=2)),
    ((2, 6, 70, 40), (4, 6, 5, 3), dict(stride=(1, 2), padding=(2, 1))),
])
@pytest.mark.parametrize("keep_col", [True, False])
@pytest.mark.parametrize("block_bytes", [1 << 30, 1 << 16])
def test_conv2d_large_blocked_forward_and_adjoint(shape, w_shape, kw, keep_col, block_bytes, monkeypatch):
    """col built in one piece or in many blocks (several per image, or whole images), kept for the
    weight gradient or rebuilt. The forward is checked against the tap-by-tap sum; the gradients by
    the adjoint identities of a bilinear map: <dy, y(x, W)> = <dx, x> = <dW, W>."""
    monkeypatch.setattr(im2col, "KEEP_COL_BYTES", 1 << 30 if keep_col else 0)
    monkeypatch.setattr(gemm, "THREAD_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(gemm, "MIN_BLOCK_ROWS", 1)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    X, Wt = t(x, True), t(w, True)
    y = F.conv2d(X, Wt, **kw)
    np.testing.assert_allclose(y.numpy(), shifted_conv2d(x.astype(np.float64), w.astype(np.float64), **kw), rtol=1e-4, atol=1e-4)
    gy = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(t(gy))
    inner = float((gy.astype(np.float64) * y.numpy()).sum())
    assert math.isclose(float((X.grad.numpy().astype(np.float64) * x).sum()), inner, rel_tol=1e-4)
    assert math.isclose(float((Wt.grad.numpy().astype(np.float64) * w).sum()), inner, rel_tol=1e-4)


def test_conv2d_outputs_from_the_buffer_cache_never_alias():
    """Two live outputs of the same (cache-sized) shape must be different memory; a freed one is reused."""
    x = t(rng.standard_normal((8, 16, 32, 32)).astype(np.float32))
    w = t(rng.standard_normal((16, 16, 3, 3)).astype(np.float32))
    y1 = F.conv2d(x, w, padding=1)
    keep = y1.numpy()
    y2 = F.conv2d(x * 2.0, w, padding=1)
    assert not np.shares_memory(y1.data, y2.data)
    np.testing.assert_array_equal(y1.numpy(), keep)
    np.testing.assert_allclose(y2.numpy(), 2 * keep, rtol=1e-5, atol=1e-4)
    minigrad.kernels.clear_buffer_cache()


def test_conv2d_retain_graph_backward_twice():
    x = t(rng.standard_normal((4, 8, 24, 24)).astype(np.float32), True)
    w = t(rng.standard_normal((8, 8, 3, 3)).astype(np.float32), True)
    y = F.conv2d(x, w, padding=1)
    gy = t(rng.standard_normal(y.shape).astype(np.float32))
    y.backward(gy, retain_graph=True)
    g1 = w.grad.numpy().copy()
    F.conv2d(x * 3.0, w, padding=1)  # reuses free cache buffers in between
    w.grad = None
    y.backward(gy)
    np.testing.assert_array_equal(w.grad.numpy(), g1)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("x_shape,w_shape,kw,match", [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, r"conv2d: expected input with 2 channels.*\(2, 3, 5, 5\)"),
    ((2, 4, 5, 5), (6, 2, 3, 3), dict(groups=4), r"conv2d: groups=4 must divide.*6"),
    ((2, 3, 5, 5), (4, 1, 3, 3), dict(groups=2), r"conv2d: groups=2 must divide.*3"),
    ((2, 3, 2, 5), (4, 3, 5, 3), {}, r"conv2d: kernel \(5, 3\).*larger than the padded input \(2, 5\)"),
    ((2, 3, 4, 4), (4, 3, 3, 3), dict(padding=1, dilation=3), r"conv2d: kernel \(3, 3\) with dilation \(3, 3\) spans \(7, 7\)"),
    ((3, 5, 5), (4, 3, 3), {}, r"conv2d: expected 'weight' with 4 dims.*\(4, 3, 3\)"),
    ((5, 5), (4, 3, 3, 3), {}, r"conv2d: expected 'input' with 3 or 4 dims.*\(5, 5\)"),
    ((1, 2, 3, 5, 5), (4, 3, 3, 3), {}, r"conv2d: expected 'input' with 3 or 4 dims"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(stride=2, padding="same"), r"conv2d: padding='same' is not supported for strided"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding="full"), r"conv2d: padding must be"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(stride=0), r"conv2d: 'stride' must be >= 1"),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding=-1), r"conv2d: 'padding' must be >= 0"),
])
def test_conv2d_errors(x_shape, w_shape, kw, match):
    with pytest.raises(ValueError, match=match):
        F.conv2d(t(np.zeros(x_shape)), t(np.zeros(w_shape)), **kw)


def test_conv2d_bias_and_type_errors():
    x, w = t(np.zeros((1, 3, 5, 5))), t(np.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"conv2d: expected 'bias' of shape \(4,\), got \(3,\)"):
        F.conv2d(x, w, t(np.zeros(3)))
    with pytest.raises(TypeError, match="conv2d: argument 'input' must be a Tensor"):
        F.conv2d(np.zeros((1, 3, 5, 5)), w)
    with pytest.raises(TypeError, match="conv2d: input dtype float32 and weight dtype float64"):
        F.conv2d(t(np.zeros((1, 3, 5, 5), np.float32)), w)


# ------------------------------------------------------------------ nn.Conv2d


def test_conv2d_module_parameters_init_and_forward():
    minigrad.manual_seed(0)
    m = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == (6, 2, 3, 2) and m.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3 * 2)  # kaiming_uniform_(a=sqrt(5)) and the bias: both 1/sqrt(fan_in)
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.bias.numpy()).max() <= bound
    assert np.abs(m.weight.numpy()).max() > 0.8 * bound
    x = rng.standard_normal((2, 4, 5, 6)).astype(np.float32)
    ref = naive_conv2d(x, m.weight.numpy(), m.bias.numpy(), 2, 1, 1, 2)
    np.testing.assert_allclose(m(t(x)).numpy(), ref, rtol=1e-5, atol=1e-5)
    assert nn.Conv2d(3, 8, 3, bias=False).bias is None
    assert nn.Conv2d(3, 8, 3, padding="same")(t(np.zeros((1, 3, 7, 7), np.float32))).shape == (1, 8, 7, 7)


def test_conv2d_module_repr_and_errors():
    assert repr(nn.Conv2d(3, 64, 3, padding=1, bias=False)) == \
        "Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)"
    assert repr(nn.Conv2d(4, 8, (3, 5), stride=2, dilation=2, groups=4)) == \
        "Conv2d(4, 8, kernel_size=(3, 5), stride=(2, 2), dilation=(2, 2), groups=4)"
    assert repr(nn.Conv2d(2, 2, 3, padding="same")) == "Conv2d(2, 2, kernel_size=(3, 3), stride=(1, 1), padding=same)"
    with pytest.raises(ValueError, match="Conv2d: in_channels \\(3\\) must be divisible by groups \\(2\\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: out_channels \\(5\\) must be divisible by groups \\(2\\)"):
        nn.Conv2d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: padding='same' is not supported for strided"):
        nn.Conv2d(4, 4, 3, stride=2, padding="same")
