"""nn.init: PyTorch's initialisers, in place, seeded by minigrad.manual_seed."""
import math

import numpy as np
import pytest

import minigrad
import nn
from nn import init


def fans(shape):
    """Reference fan_in / fan_out written from the definition (loops over the receptive field)."""
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


@pytest.mark.cpu_only  # host side only
def test_calculate_gain():
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        assert init.calculate_gain(name) == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2 / 6))
    assert init.calculate_gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(64, 300), (32, 16, 3, 3), (8, 40, 2, 3, 2)])
def test_kaiming_uniform_bound_and_spread(shape):
    t = minigrad.empty(*shape)
    out = init.kaiming_uniform_(t, a=math.sqrt(5))
    fan_in, _ = fans(shape)
    bound = math.sqrt(3) * math.sqrt(2 / (1 + 5)) / math.sqrt(fan_in)
    x = t.numpy()
    assert out is t and t.dtype == np.float32
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.95 * bound
    assert abs(x.std() - bound / math.sqrt(3)) < 0.03 * bound  # U(-b, b) has std b / sqrt(3)
    assert abs(x.mean()) < 0.03 * bound


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_std(mode):
    shape = (48, 24, 3, 3)
    t = init.kaiming_normal_(minigrad.empty(*shape), mode=mode, nonlinearity="relu")
    fan = fans(shape)[0 if mode == "fan_in" else 1]
    std = math.sqrt(2) / math.sqrt(fan)
    assert abs(t.numpy().std() - std) < 0.02 * std
    assert abs(t.numpy().mean()) < 0.02 * std


def test_xavier_uniform_and_normal():
    shape = (40, 60, 3, 3)
    fan_in, fan_out = fans(shape)
    std = 0.5 * math.sqrt(2 / (fan_in + fan_out))
    u = init.xavier_uniform_(minigrad.empty(*shape), gain=0.5).numpy()
    assert np.abs(u).max() <= math.sqrt(3) * std and abs(u.std() - std) < 0.02 * std
    n = init.xavier_normal_(minigrad.empty(*shape), gain=0.5).numpy()
    assert abs(n.std() - std) < 0.02 * std


def test_normal_uniform_trunc_normal_and_constants():
    t = minigrad.empty(200, 300)
    init.normal_(t, mean=2.0, std=0.5)
    assert abs(t.numpy().mean() - 2.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    init.uniform_(t, a=-3.0, b=1.0)
    x = t.numpy()
    assert x.min() >= -3.0 and x.max() < 1.0 and abs(x.mean() + 1.0) < 0.02
    init.trunc_normal_(t, mean=1.0, std=2.0, a=0.0, b=2.5)
    x = t.numpy()
    assert x.min() >= 0.0 and x.max() <= 2.5 and x.std() > 0.5
    init.uniform_(t)
    assert 0.0 <= t.numpy().min() and t.numpy().max() < 1.0
    assert init.zeros_(t) is t and not t.numpy().any()
    assert (init.ones_(t).numpy() == 1).all()
    assert (init.constant_(t, 0.25).numpy() == 0.25).all()
    i = minigrad.zeros(3, dtype=minigrad.int64)
    assert init.constant_(i, 7).tolist() == [7, 7, 7] and i.dtype == np.int64
    assert init.zeros_(minigrad.zeros(0, 5)).shape == (0, 5)


def test_in_place_keeps_dtype_and_records_no_graph():
    p = nn.Parameter(minigrad.zeros(16, 8, dtype=minigrad.float64))
    array = p.data
    for fn in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_uniform_, init.xavier_normal_,
               init.normal_, init.uniform_, init.trunc_normal_, init.ones_, init.zeros_):
        assert fn(p) is p
        assert p.data is array and p.dtype == np.float64 and p.grad_fn is None and p.is_leaf
    init.normal_(p)
    view = p.detach()
    init.zeros_(p)
    assert not view.numpy().any()  # views of the array see the change: it is in place


def test_seeded_by_manual_seed():
    def draw(seed):
        minigrad.manual_seed(seed)
        a = init.kaiming_uniform_(minigrad.empty(5, 4)).numpy()
        b = init.normal_(minigrad.empty(3)).numpy()
        return np.concatenate([a.ravel(), b])

    np.testing.assert_array_equal(draw(1), draw(1))
    assert not np.array_equal(draw(1), draw(2))


def test_errors_name_the_function():
    with pytest.raises(ValueError, match="kaiming_uniform_.*fewer than 2 dimensions"):
        init.kaiming_uniform_(minigrad.empty(5))
    with pytest.raises(ValueError, match="xavier_normal_"):
        init.xavier_normal_(minigrad.empty(5))
    with pytest.raises(ValueError, match="kaiming_normal_: mode 'fan_avg'"):
        init.kaiming_normal_(minigrad.empty(5, 5), mode="fan_avg")
    with pytest.raises(TypeError, match="normal_: expected a floating point tensor"):
        init.normal_(minigrad.zeros(3, dtype=minigrad.int64))
    with pytest.raises(TypeError, match="uniform_: expected a Tensor"):
        init.uniform_(np.zeros(3))
    with pytest.raises(ValueError, match="trunc_normal_"):
        init.trunc_normal_(minigrad.empty(3), a=1.0, b=0.0)
    empty = minigrad.empty(0, 3)
    assert init.kaiming_uniform_(empty) is empty  # nothing to fill
