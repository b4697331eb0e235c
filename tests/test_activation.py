"""F.softmax / log_softmax / relu / leaky_relu / gelu / sigmoid / tanh / dropout and their modules:
forward against naive references written from the formulas, float64 gradchecks, errors."""
import math
import warnings

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from minigrad.ops.activation import erf

rng = np.random.default_rng(0)


def t64(shape, scale=1.0, requires_grad=True):
    return minigrad.tensor(rng.standard_normal(shape) * scale, requires_grad=requires_grad)


def along(x, axis):
    """Every 1-d slice of ``x`` along ``axis``, as (index tuple, vector)."""
    moved = np.moveaxis(x, axis, -1)
    for idx in np.ndindex(moved.shape[:-1]):
        yield idx, moved[idx]


def naive_softmax(x, axis, log=False):
    out = np.empty_like(np.moveaxis(x, axis, -1))
    for idx, v in along(x, axis):
        m = max(v)
        total = sum(math.exp(a - m) for a in v)
        out[idx] = [(a - m - math.log(total)) if log else math.exp(a - m) / total for a in v]
    return np.moveaxis(out, -1, axis)


# ------------------------------------------------------------------ softmax / log_softmax


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1), ((2, 3, 4), 1), ((1, 1), 1)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_forward(shape, dim, log):
    x = rng.standard_normal(shape) * 3
    fn = F.log_softmax if log else F.softmax
    y = fn(minigrad.tensor(x), dim)
    np.testing.assert_allclose(y.numpy(), naive_softmax(x, dim % len(shape), log), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_large_logits_float32(log):
    x = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, -2e4]], dtype=np.float32)
    y = (F.log_softmax if log else F.softmax)(minigrad.tensor(x), 1)
    assert y.dtype == np.float32
    assert np.isfinite(y.numpy()).all()
    expect = naive_softmax(x.astype(np.float64), 1, log)
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_softmax_gradcheck(log, dim):
    fn = F.log_softmax if log else F.softmax
    assert minigrad.gradcheck(lambda x: fn(x, dim), (t64((3, 4)),))


def test_softmax_dtype_argument():
    x = minigrad.tensor(rng.standard_normal((2, 3)).astype(np.float32))
    assert F.softmax(x, 1, dtype=minigrad.float64).dtype == np.float64


def test_softmax_errors():
    x = minigrad.tensor(rng.standard_normal((2, 3)))
    with pytest.raises(IndexError, match=r"softmax: dim 2 .*\(2, 3\)"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match=r"log_softmax: dim -3"):
        F.log_softmax(x, -3)
    with pytest.raises(TypeError, match="softmax: expected a floating point input, got dtype int64"):
        F.softmax(minigrad.tensor([1, 2, 3]), 0)
    with pytest.raises(TypeError, match="softmax: argument 'input' must be a Tensor"):
        F.softmax(np.ones(3), 0)
    with pytest.raises(TypeError, match="softmax: 'dim' must be an int"):
        F.softmax(x, None)


# ------------------------------------------------------------------ relu / leaky_relu / sigmoid / tanh


def away_from_zero(shape):
    """Random values with |x| >= 0.1, so finite differences never straddle a kink."""
    x = rng.standard_normal(shape)
    return minigrad.tensor(np.where(abs(x) < 0.1, 0.5, x), requires_grad=True)


def test_relu():
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(F.relu(minigrad.tensor(x)).numpy(), [[max(v, 0.0) for v in row] for row in x])
    assert minigrad.gradcheck(F.relu, (away_from_zero((3, 4)),))


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu(slope):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    y = F.leaky_relu(minigrad.tensor(x), slope)
    expect = [v if v > 0 else slope * v for v in x.reshape(-1)]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy().reshape(-1), expect, rtol=1e-6)
    assert minigrad.gradcheck(lambda a: F.leaky_relu(a, negative_slope=slope), (away_from_zero((3, 4)),))


def test_leaky_relu_default_slope():
    y = F.leaky_relu(minigrad.tensor([-2.0, 3.0]))
    np.testing.assert_allclose(y.numpy(), [-0.02, 3.0], rtol=1e-6)


def test_sigmoid_tanh():
    x = rng.standard_normal((3, 4)) * 3
    np.testing.assert_allclose(F.sigmoid(minigrad.tensor(x)).numpy(), [[1 / (1 + math.exp(-v)) for v in r] for r in x], rtol=1e-12)
    np.testing.assert_allclose(F.tanh(minigrad.tensor(x)).numpy(), [[math.tanh(v) for v in r] for r in x], rtol=1e-12)
    assert minigrad.gradcheck(F.sigmoid, (t64((2, 3)),))
    assert minigrad.gradcheck(F.tanh, (t64((2, 3)),))


# ------------------------------------------------------------------ erf and GELU


@pytest.mark.cpu_only  # host side only
def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-8, 8, 20001), [0.0, 1e-300, -1e-12, 5.9999, 6.0, 6.0001, 50.0, -50.0]])
    expect = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expect, rtol=2e-16 * 4, atol=2e-16)
    x32 = x.astype(np.float32)
    got = erf(x32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [math.erf(float(v)) for v in x32], rtol=0, atol=2e-7)


def naive_gelu(x, approximate):
    if approximate == "none":
        return [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x]
    return [0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3))) for v in x]


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_forward(approximate):
    x = np.concatenate([rng.standard_normal(50) * 3, [0.0, -40.0, 40.0, 1e-8, -8.5, 8.5]])
    y = F.gelu(minigrad.tensor(x), approximate=approximate)
    np.testing.assert_allclose(y.numpy(), naive_gelu(x, approximate), rtol=1e-14, atol=1e-15)
    y32 = F.gelu(minigrad.tensor(x.astype(np.float32)), approximate=approximate)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32.numpy(), naive_gelu(x.astype(np.float32), approximate), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate):
    x = minigrad.tensor(np.array([-4.0, -1.5, -0.3, 0.0, 0.2, 0.9, 2.5, 7.0]), requires_grad=True)
    assert minigrad.gradcheck(lambda a: F.gelu(a, approximate=approximate), (x,))


def test_gelu_errors():
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        F.gelu(minigrad.tensor([1.0]), approximate="fast")
    with pytest.raises(TypeError, match="gelu: expected a floating point input"):
        F.gelu(minigrad.tensor([1, 2]))


# ------------------------------------------------------------------ dropout


def test_dropout_identity_when_not_training_or_p0():
    x = t64((3, 4))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scale(p):
    minigrad.manual_seed(1)
    x = minigrad.tensor(rng.random(200_000).astype(np.float32) + 0.5)
    y = F.dropout(x, p).numpy()
    assert y.dtype == np.float32
    dropped = y == 0
    assert abs(dropped.mean() - p) < 0.01
    np.testing.assert_allclose(y[~dropped], x.numpy()[~dropped] / (1 - p), rtol=1e-6)


def test_dropout_seeded_and_gradient():
    x = t64((4, 5))
    minigrad.manual_seed(7)
    y1 = F.dropout(x, 0.4)
    minigrad.manual_seed(7)
    y2 = F.dropout(x, 0.4)
    np.testing.assert_array_equal(y1.numpy(), y2.numpy())
    g = rng.standard_normal((4, 5))
    y1.backward(minigrad.tensor(g))
    kept = y1.numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / 0.6, 0.0), rtol=1e-12)


def test_dropout_p1_zeroes_everything():
    x = t64((3, 3))
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)


@pytest.mark.parametrize("p", [-0.1, 1.5, "a"])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match="dropout: probability has to be between 0 and 1"):
        F.dropout(t64((2,)), p)


# ------------------------------------------------------------------ modules


def test_activation_modules_match_functional():
    x = t64((2, 5), requires_grad=False)
    pairs = [
        (nn.ReLU(), F.relu(x)),
        (nn.ReLU(inplace=True), F.relu(x)),
        (nn.LeakyReLU(0.3), F.leaky_relu(x, 0.3)),
        (nn.GELU(), F.gelu(x)),
        (nn.GELU(approximate="tanh"), F.gelu(x, approximate="tanh")),
        (nn.Sigmoid(), F.sigmoid(x)),
        (nn.Tanh(), F.tanh(x)),
        (nn.Softmax(dim=0), F.softmax(x, 0)),
        (nn.LogSoftmax(dim=1), F.log_softmax(x, 1)),
    ]
    for module, expect in pairs:
        np.testing.assert_array_equal(module(x).numpy(), expect.numpy())


@pytest.mark.cpu_only  # host side only
def test_module_reprs():
    assert repr(nn.ReLU()) == "ReLU()"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softmax(dim=-1)) == "Softmax(dim=-1)"
    assert repr(nn.Dropout(0.1)) == "Dropout(p=0.1, inplace=False)"


def test_softmax_module_implicit_dim_warns():
    x = t64((2, 3), requires_grad=False)
    with pytest.warns(UserWarning, match="implicit dimension"):
        y = nn.Softmax()(x)
    np.testing.assert_allclose(y.numpy(), naive_softmax(x.numpy(), 1), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.Softmax(dim=1)(x)


def test_dropout_module_train_eval():
    x = minigrad.ones(1000)
    drop = nn.Dropout(0.5)
    minigrad.manual_seed(0)
    y = drop(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="Dropout: probability"):
        nn.Dropout(2.0)


def test_relu_backward_dead_units_pass_zero_even_for_non_finite_gradients():
    """dx = gy * (y > 0), with PyTorch's threshold semantics: a dead unit gives 0 even when inf or
    NaN arrives; a live one passes them on. Also on channels-last memory (conv outputs)."""
    x = minigrad.tensor(np.array([-1.0, 2.0, 0.0, 3.0]), requires_grad=True)
    x.relu().backward(minigrad.tensor(np.array([np.inf, np.nan, np.nan, np.inf])))
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, np.nan, 0.0, np.inf])
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    cl = np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    xt = minigrad.tensor(cl, requires_grad=True)
    xt.relu().backward(minigrad.tensor(cl * 2))
    np.testing.assert_array_equal(xt.grad.numpy(), np.where(a > 0, 2 * a, 0.0))
