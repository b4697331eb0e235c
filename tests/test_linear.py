"""F.linear and nn.Linear: forward against a naive loop, float64 gradchecks, errors, init and repr."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn

rng = np.random.default_rng(0)


def naive_linear(x, w, b=None):
    """y[..., o] = b[o] + sum_i x[..., i] * w[o, i], one output element at a time."""
    flat = x.reshape(-1, x.shape[-1])
    y = np.zeros((flat.shape[0], w.shape[0]))
    for r in range(flat.shape[0]):
        for o in range(w.shape[0]):
            y[r, o] = sum(flat[r, i] * w[o, i] for i in range(w.shape[1])) + (0.0 if b is None else b[o])
    return y.reshape(x.shape[:-1] + (w.shape[0],))


def t(a, requires_grad=False):
    return minigrad.tensor(a, requires_grad=requires_grad)


@pytest.mark.parametrize("x_shape", [(5,), (3, 5), (2, 3, 5), (2, 1, 3, 5), (0, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_forward(x_shape, bias):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal((4, 5))
    b = rng.standard_normal(4) if bias else None
    y = F.linear(t(x), t(w), None if b is None else t(b))
    assert y.shape == x_shape[:-1] + (4,)
    np.testing.assert_allclose(y.numpy(), naive_linear(x, w, b), rtol=1e-12, atol=1e-12)


def test_linear_wide_output_and_float32():
    """More outputs than rows (the product is computed transposed internally) and float32 kept."""
    x = rng.standard_normal((3, 7)).astype(np.float32)
    w = rng.standard_normal((50, 7)).astype(np.float32)
    b = rng.standard_normal(50).astype(np.float32)
    X, Wt, B = t(x, True), t(w, True), t(b, True)
    y = F.linear(X, Wt, B)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), naive_linear(x, w, b), rtol=1e-5, atol=1e-5)
    y.sum().backward()
    assert X.grad.dtype == Wt.grad.dtype == B.grad.dtype == np.float32
    np.testing.assert_allclose(Wt.grad.numpy(), np.broadcast_to(x.sum(0), (50, 7)), rtol=1e-5)


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 2, 4)])
def test_linear_gradcheck(x_shape):
    x = t(rng.standard_normal(x_shape), True)
    w = t(rng.standard_normal((3, 4)), True)
    b = t(rng.standard_normal(3), True)
    assert minigrad.gradcheck(F.linear, (x, w, b))
    assert minigrad.gradcheck(lambda x, w: F.linear(x, w), (x, w))


def test_linear_skips_gradients_not_needed():
    x = t(rng.standard_normal((3, 4)))
    w = t(rng.standard_normal((2, 4)), True)
    F.linear(x, w).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(x.numpy().sum(0), (2, 4)))


def test_linear_errors():
    x, w = t(np.zeros((3, 5))), t(np.zeros((4, 6)))
    with pytest.raises(ValueError, match=r"linear: input's last dim 5 does not match weight's in_features 6.*\(3, 5\).*\(4, 6\)"):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"linear: expected 'weight' with 2 dims.*\(6,\)"):
        F.linear(x, t(np.zeros(6)))
    with pytest.raises(ValueError, match=r"linear: expected 'bias' of shape \(4,\), got \(5,\)"):
        F.linear(t(np.zeros((3, 6))), w, t(np.zeros(5)))
    with pytest.raises(ValueError, match="linear: expected 'input' with at least 1 dim"):
        F.linear(t(np.float64(1.0)), w)
    with pytest.raises(TypeError, match="linear: argument 'weight' must be a Tensor"):
        F.linear(x, np.zeros((4, 5)))


def test_linear_module():
    minigrad.manual_seed(0)
    m = nn.Linear(20, 30)
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == (30, 20) and m.bias.shape == (30,) and m.weight.dtype == np.float32
    bound = 1 / math.sqrt(20)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)); bias too
    for p in (m.weight, m.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.7 * bound
    x = rng.standard_normal((2, 20)).astype(np.float32)
    np.testing.assert_allclose(m(t(x)).numpy(), naive_linear(x, m.weight.numpy(), m.bias.numpy()), rtol=1e-5, atol=1e-5)
    assert repr(m) == "Linear(in_features=20, out_features=30, bias=True)"
    nb = nn.Linear(3, 2, bias=False)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]
    assert repr(nb) == "Linear(in_features=3, out_features=2, bias=False)"
    assert nn.Linear(3, 2, dtype=minigrad.float64).weight.dtype == np.float64
