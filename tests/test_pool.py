"""F.max_pool2d / avg_pool2d / adaptive_avg_pool2d and their modules: forward and gradient against
naive window-by-window references, the first-max tie rule, float64 gradchecks, errors."""
import itertools
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn

rng = np.random.default_rng(0)


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's documented formula: floor/ceil((n + 2p - d(k-1) - 1) / s) + 1, and in ceil mode
    the last window must start inside the input or the left padding."""
    f = math.ceil if ceil_mode else math.floor
    o = f((n + 2 * p - d * (k - 1) - 1) / s) + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


def windows(shape, kernel, stride, padding, dilation, ceil_mode):
    """For every output (p, q): the input positions of its window, in scan order (None = padding)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(kernel), pair(stride), pair(padding), pair(dilation)
    H, W = shape[-2:]
    oh, ow = out_size(H, kh, sh, ph, dh, ceil_mode), out_size(W, kw, sw, pw, dw, ceil_mode)
    out = {}
    for p, q in itertools.product(range(oh), range(ow)):
        taps = []
        for i, j in itertools.product(range(kh), range(kw)):
            r, c = p * sh + i * dh - ph, q * sw + j * dw - pw
            taps.append((r, c) if 0 <= r < H and 0 <= c < W else None)
        out[p, q] = taps
    return (oh, ow), out


def naive_max_pool(x, gy, kernel, stride, padding, dilation, ceil_mode):
    """Max per window (padding is -inf) and the gradient routed to the window's FIRST maximum."""
    (oh, ow), wins = windows(x.shape, kernel, stride, padding, dilation, ceil_mode)
    y = np.zeros(x.shape[:2] + (oh, ow))
    dx = np.zeros_like(x)
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for (p, q), taps in wins.items():
            best, where = -math.inf, None
            for tap in taps:
                if tap is not None and (where is None or x[n, c][tap] > best):
                    best, where = x[n, c][tap], tap
            y[n, c, p, q] = best
            dx[n, c][where] += gy[n, c, p, q]
    return y, dx


def naive_avg_pool(x, gy, kernel, stride, padding, ceil_mode, count_include_pad):
    """Window mean; divisor = window clipped to the padded input (count_include_pad) or to the input."""
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    H, W = x.shape[-2:]
    (oh, ow), wins = windows(x.shape, kernel, stride, padding, 1, ceil_mode)
    y = np.zeros(x.shape[:2] + (oh, ow))
    dx = np.zeros_like(x)
    for (p, q), taps in wins.items():
        r0, c0 = p * sh - ph, q * sw - pw
        if count_include_pad:
            div = (min(r0 + kh, H + ph) - r0) * (min(c0 + kw, W + pw) - c0)
        else:
            div = (min(r0 + kh, H) - max(r0, 0)) * (min(c0 + kw, W) - max(c0, 0))
        for tap in taps:
            if tap is not None:
                y[:, :, p, q] += x[:, :, tap[0], tap[1]] / div
                dx[:, :, tap[0], tap[1]] += gy[:, :, p, q] / div
    return y, dx


def naive_adaptive_avg_pool(x, gy, output_size):
    """Bin i of n inputs -> o outputs: [floor(i*n/o), ceil((i+1)*n/o))."""
    H, W = x.shape[-2:]
    oh, ow = output_size
    y = np.zeros(x.shape[:2] + (oh, ow))
    dx = np.zeros_like(x)
    for p, q in itertools.product(range(oh), range(ow)):
        h0, h1 = math.floor(p * H / oh), math.ceil((p + 1) * H / oh)
        w0, w1 = math.floor(q * W / ow), math.ceil((q + 1) * W / ow)
        y[:, :, p, q] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        dx[:, :, h0:h1, w0:w1] += gy[:, :, p, q][:, :, None, None] / ((h1 - h0) * (w1 - w0))
    return y, dx


def run(fn, x, channels_last=False):
    """Forward and backward with a random output gradient; returns (y, gy, dx)."""
    data = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2) if channels_last else x
    X = minigrad.tensor(data, requires_grad=True)
    y = fn(X)
    gy = rng.standard_normal(y.shape)
    y.backward(minigrad.tensor(gy))
    return y.numpy(), gy, X.grad.numpy()


# ------------------------------------------------------------------ max_pool2d

MAX_GRID = [
    # kernel, stride, padding, dilation, ceil_mode, input (H, W)
    (2, None, 0, 1, False, (6, 6)),
    (3, 2, 1, 1, False, (7, 8)),
    (3, 2, 1, 1, True, (6, 6)),
    ((2, 3), (1, 2), (1, 1), 1, False, (5, 7)),
    (3, 1, 1, 2, False, (6, 5)),
    (2, 3, 0, 1, True, (7, 7)),
    (3, 3, 1, (2, 1), True, (8, 6)),
    (1, 2, 0, 1, False, (5, 4)),
    (4, 2, 2, 1, True, (5, 5)),
    (2, 2, 1, 1, True, (1, 1)),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode,hw", MAX_GRID)
@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool2d_forward_backward(kernel, stride, padding, dilation, ceil_mode, hw, channels_last):
    x = rng.standard_normal((2, 3) + hw)
    fn = lambda X: F.max_pool2d(X, kernel, stride, padding, dilation, ceil_mode)  # noqa: E731
    y, gy, dx = run(fn, x, channels_last)
    ref_y, ref_dx = naive_max_pool(x, gy, kernel, stride if stride is not None else kernel, padding, dilation, ceil_mode)
    assert y.shape == ref_y.shape
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_max_pool2d_ties_go_to_the_first_max(kernel, stride, padding):
    """Few distinct values, so most windows hold ties (and overlapping windows share positions):
    each window's gradient must go to its first maximum in scan order, as in PyTorch."""
    x = rng.integers(0, 3, size=(2, 2, 6, 7)).astype(np.float64)
    x[0, 0] = 1.0  # a constant plane: every window is one big tie
    y, gy, dx = run(lambda X: F.max_pool2d(X, kernel, stride, padding), x)
    ref_y, ref_dx = naive_max_pool(x, gy, kernel, stride, padding, 1, False)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    assert dx[0, 0, 0, 0] != 0  # the constant plane routes to each window's top-left tap


def test_max_pool2d_all_minus_inf_window_routes_inside_the_input():
    x = np.full((1, 1, 3, 3), -np.inf)
    y, gy, dx = run(lambda X: F.max_pool2d(X, 2, 2, 1), x)
    assert (y == -np.inf).all()
    ref_y, ref_dx = naive_max_pool(x, gy, 2, 2, 1, 1, False)
    np.testing.assert_allclose(dx, ref_dx)


def test_max_pool2d_nan_propagates():
    x = rng.standard_normal((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    y = F.max_pool2d(minigrad.tensor(x), 2).numpy()
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:, 1:]).any()


def test_max_pool2d_gradcheck():
    x = minigrad.tensor(rng.permutation(2 * 2 * 5 * 6).reshape(2, 2, 5, 6) * 0.1, requires_grad=True)  # no ties
    assert minigrad.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert minigrad.gradcheck(lambda x: F.max_pool2d(x, (2, 3), 1, (1, 0), dilation=(1, 2)), (x,))


def test_max_pool2d_float32_and_unbatched():
    x = rng.standard_normal((3, 6, 6)).astype(np.float32)
    y = F.max_pool2d(minigrad.tensor(x), 2)
    assert y.shape == (3, 3, 3) and y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), x.reshape(3, 3, 2, 3, 2).max(axis=(2, 4)))


# ------------------------------------------------------------------ avg_pool2d

AVG_GRID = [
    # kernel, stride, padding, ceil_mode, input (H, W)
    (2, None, 0, False, (6, 6)),
    (3, 2, 1, False, (7, 8)),
    (3, 2, 1, True, (6, 6)),
    ((2, 3), (1, 2), (1, 1), False, (5, 7)),
    (2, 3, 0, True, (7, 7)),
    (3, 2, 1, True, (5, 4)),
    (4, 3, 2, True, (6, 5)),
    (1, 1, 0, False, (3, 3)),
]


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,hw", AVG_GRID)
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_avg_pool2d_forward_backward(kernel, stride, padding, ceil_mode, hw, count_include_pad, channels_last):
    x = rng.standard_normal((2, 3) + hw)
    fn = lambda X: F.avg_pool2d(X, kernel, stride, padding, ceil_mode, count_include_pad)  # noqa: E731
    y, gy, dx = run(fn, x, channels_last)
    ref_y, ref_dx = naive_avg_pool(x, gy, kernel, stride if stride is not None else kernel, padding, ceil_mode, count_include_pad)
    assert y.shape == ref_y.shape
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


def test_avg_pool2d_defaults_count_the_padding():
    x = np.ones((1, 1, 2, 2))
    y = F.avg_pool2d(minigrad.tensor(x), 2, 2, 1).numpy()  # each window holds one real 1 and three zeros
    np.testing.assert_allclose(y, np.full((1, 1, 2, 2), 0.25))


def test_avg_pool2d_gradcheck():
    x = minigrad.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    assert minigrad.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), (x,))
    assert minigrad.gradcheck(lambda x: F.avg_pool2d(x, (2, 3), 1, (1, 1), count_include_pad=False), (x,))


# ------------------------------------------------------------------ adaptive_avg_pool2d


@pytest.mark.parametrize("hw,output_size,expect", [
    ((6, 6), 1, (1, 1)),
    ((6, 4), (3, 2), (3, 2)),  # equal bins
    ((7, 5), (3, 2), (3, 2)),  # overlapping bins
    ((5, 7), (None, 3), (5, 3)),  # None keeps the input size
    ((3, 2), (5, 4), (5, 4)),  # more outputs than inputs
    ((4, 4), (4, 4), (4, 4)),
])
@pytest.mark.parametrize("channels_last", [False, True])
def test_adaptive_avg_pool2d(hw, output_size, expect, channels_last):
    x = rng.standard_normal((2, 3) + hw)
    y, gy, dx = run(lambda X: F.adaptive_avg_pool2d(X, output_size), x, channels_last)
    assert y.shape == (2, 3) + expect
    ref_y, ref_dx = naive_adaptive_avg_pool(x, gy, expect)
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)


def test_adaptive_avg_pool2d_gradcheck_and_float32():
    x = minigrad.tensor(rng.standard_normal((2, 2, 5, 7)), requires_grad=True)
    assert minigrad.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), (x,))
    assert minigrad.gradcheck(lambda x: F.adaptive_avg_pool2d(x, 1), (x,))
    x32 = minigrad.tensor(rng.standard_normal((2, 4, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.adaptive_avg_pool2d(x32, (2, 2))
    y.sum().backward()
    assert y.dtype == x32.grad.dtype == np.float32


# ------------------------------------------------------------------ errors and modules


@pytest.mark.parametrize("call,match", [
    (lambda x: F.max_pool2d(x, 2, padding=2), r"max_pool2d: padding \(2, 2\) should be at most half of kernel_size \(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 3, padding=(0, 2)), r"avg_pool2d: padding \(0, 2\) should be at most half"),
    (lambda x: F.max_pool2d(x, 7), r"max_pool2d: kernel_size \(7, 7\).*larger than the padded input \(5, 6\).*\(1, 2, 5, 6\)"),
    (lambda x: F.max_pool2d(x, 3, dilation=3), r"max_pool2d: kernel_size \(3, 3\) \(dilation \(3, 3\)\) is larger"),
    (lambda x: F.avg_pool2d(x[0, 0], 2), r"avg_pool2d: expected 'input' with 3 or 4 dims.*\(5, 6\)"),
    (lambda x: F.max_pool2d(x, 0), r"max_pool2d: 'kernel_size' must be >= 1"),
    (lambda x: F.max_pool2d(x, 2, stride=0), r"max_pool2d: 'stride' must be >= 1"),
    (lambda x: F.adaptive_avg_pool2d(x, 0), r"adaptive_avg_pool2d: 'output_size' must be >= 1"),
    (lambda x: F.adaptive_avg_pool2d(x, (1, 2, 3)), r"adaptive_avg_pool2d: output_size must be an int or a pair"),
    (lambda x: F.adaptive_avg_pool2d(x.reshape(2, 30), 1), r"adaptive_avg_pool2d: expected 'input' with 3 or 4 dims"),
])
def test_pool_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(minigrad.tensor(np.zeros((1, 2, 5, 6))))


def test_pool_modules():
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    X = minigrad.tensor(x)
    m = nn.MaxPool2d(3, 2, 1)
    assert repr(m) == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)"
    np.testing.assert_array_equal(m(X).numpy(), F.max_pool2d(X, 3, 2, 1).numpy())
    a = nn.AvgPool2d(2)
    assert a.stride == 2 and repr(a) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"
    np.testing.assert_allclose(a(X).numpy(), x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)), rtol=1e-5, atol=1e-6)
    g = nn.AdaptiveAvgPool2d((1, 1))
    assert repr(g) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    np.testing.assert_allclose(g(X).numpy(), x.mean(axis=(2, 3), keepdims=True), rtol=1e-5, atol=1e-6)
    assert list(m.parameters()) == [] and list(g.parameters()) == []


def test_max_pool_without_a_graph_skips_the_winners_and_agrees():
    """Under no_grad (or with no input requiring grad) forward is not recorded: the op keeps no
    argmax, and its value is the recorded forward's."""
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 7))
    X = minigrad.tensor(x, requires_grad=True)
    recorded = F.max_pool2d(X, 3, stride=2, padding=1)
    with minigrad.no_grad():
        plain = F.max_pool2d(X, 3, stride=2, padding=1)
    assert plain.grad_fn is None and recorded.grad_fn is not None
    assert recorded.grad_fn.recording and len(recorded.grad_fn._saved) == 1
    np.testing.assert_array_equal(plain.numpy(), recorded.numpy())
