"""silu, softplus, elu, dropout2d, one_hot and their modules, against their formulas."""
import numpy as np
import pytest

import minigrad
import nn
from minigrad import functional as F
from minigrad import gradcheck


def x64(*shape):
    return minigrad.tensor(np.random.default_rng(1).standard_normal(shape) * 3, dtype=minigrad.float64,
                           requires_grad=True)


def test_silu_softplus_elu_forward_and_gradients():
    x = x64(4, 5)
    a = x.numpy()
    np.testing.assert_allclose(F.silu(x).numpy(), a / (1 + np.exp(-a)))
    np.testing.assert_allclose(F.softplus(x).numpy(), np.log1p(np.exp(a)))
    np.testing.assert_allclose(F.softplus(x, beta=2.0, threshold=3.0).numpy(),
                               np.where(2 * a > 3, a, np.log1p(np.exp(2 * a)) / 2))
    np.testing.assert_allclose(F.elu(x, alpha=0.5).numpy(), np.where(a > 0, a, 0.5 * (np.exp(a) - 1)))
    assert gradcheck(F.silu, x) and gradcheck(lambda t: F.softplus(t, beta=0.7), x)
    assert gradcheck(lambda t: F.elu(t, 1.3), x)
    big = minigrad.tensor([1000.0, -1000.0])
    assert F.softplus(big).tolist() == [1000.0, 0.0] and np.isfinite(F.silu(big).numpy()).all()
    for layer, fn in ((nn.SiLU(), F.silu), (nn.Softplus(beta=2.0), lambda t: F.softplus(t, 2.0)),
                      (nn.ELU(alpha=0.5), lambda t: F.elu(t, 0.5))):
        np.testing.assert_array_equal(layer(x).numpy(), fn(x).numpy())
        assert layer(minigrad.zeros(0, 3)).shape == (0, 3)


def test_dropout2d_zeroes_whole_channels():
    minigrad.manual_seed(0)
    x = minigrad.ones(8, 16, 3, 3, requires_grad=True)
    y = F.dropout2d(x, p=0.5)
    per_channel = y.numpy().reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(2) == per_channel.max(2)).all()  # each channel all kept or all dropped
    assert 0.2 < (per_channel[:, :, 0] == 0).mean() < 0.8
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    layer = nn.Dropout2d(0.5)
    layer.eval()
    assert layer(x) is x
    assert F.dropout2d(minigrad.zeros(0, 2, 3, 3), 0.5).shape == (0, 2, 3, 3)
    with pytest.raises(ValueError, match="dropout2d: expected a 3-D or 4-D"):
        F.dropout2d(minigrad.ones(2, 3), 0.5)


def test_one_hot():
    y = F.one_hot(minigrad.tensor([0, 2, 1]), 4)
    assert y.dtype == np.int64 and y.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert F.one_hot(minigrad.tensor([[1], [0]])).shape == (2, 1, 2)
    assert F.one_hot(minigrad.zeros(0, dtype=minigrad.long), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="one_hot: class values"):
        F.one_hot(minigrad.tensor([0, 5]), 3)
