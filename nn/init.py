"""Weight initialisers, as in ``torch.nn.init``.

Each function fills a tensor IN PLACE (its array is overwritten, its dtype and device kept), records
no graph, and returns the tensor. Random numbers come from minigrad's generator
(``minigrad.manual_seed``), drawn on the host and copied to the tensor's device.

The scaled initialisers keep the variance of activations roughly constant through a layer:
a layer with ``fan_in`` inputs per output sums ``fan_in`` products, so weights of variance
``gain**2 / fan_in`` (Kaiming) or ``gain**2 * 2 / (fan_in + fan_out)`` (Xavier) keep the scale.
A uniform distribution on ``[-b, b]`` has variance ``b**2 / 3``, hence the ``sqrt(3)`` factors.
"""
import math

import numpy as np

from minigrad import backend, dtypes, no_grad
from minigrad.tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
]

_LINEAR_LIKE = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + slope**2)) for leaky_relu (slope ``param``, default 0.01),
    3/4 for selu."""
    if nonlinearity in _LINEAR_LIKE:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _check(tensor, fn):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{fn}: expected a Tensor, got {type(tensor).__name__}")


def _fill(tensor, host_array):
    """Write ``host_array`` into ``tensor``'s array in place (cast to its dtype, on its device)."""
    with no_grad():
        return tensor.copy_(Tensor(backend.to_device(host_array.astype(tensor.dtype, copy=False), tensor.device)))


def _draw_dtype(tensor, fn):
    if not dtypes.is_floating(tensor.dtype):
        raise TypeError(f"nn.init.{fn}: expected a floating point tensor, got dtype {tensor.dtype}")
    return np.float64 if tensor.dtype == np.float64 else np.float32


def _fan_in_and_fan_out(tensor, fn):
    """fan_in = size(1) * receptive field, fan_out = size(0) * receptive field
    (receptive field = product of the sizes after the first two, e.g. kH * kW)."""
    if tensor.ndim < 2:
        raise ValueError(f"nn.init.{fn}: fan in and fan out can not be computed for a tensor with fewer "
                         f"than 2 dimensions (shape {tensor.shape})")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with values drawn from U(a, b)."""
    _check(tensor, "uniform_")
    dt = _draw_dtype(tensor, "uniform_")
    r = backend.generator().random(tensor.shape, dtype=dt)
    return _fill(tensor, r * dt(b - a) + dt(a))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with values drawn from N(mean, std**2)."""
    _check(tensor, "normal_")
    dt = _draw_dtype(tensor, "normal_")
    r = backend.generator().standard_normal(tensor.shape, dtype=dt)
    return _fill(tensor, r * dt(std) + dt(mean))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """Fill with N(mean, std**2) conditioned on [a, b] (out-of-range draws are redrawn)."""
    _check(tensor, "trunc_normal_")
    dt = _draw_dtype(tensor, "trunc_normal_")
    if not a < b:
        raise ValueError(f"nn.init.trunc_normal_: expected a < b, got a={a}, b={b}")
    lo, hi = (a - mean) / std, (b - mean) / std
    if math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)) < 1e-3:
        raise ValueError(f"nn.init.trunc_normal_: [a, b] = [{a}, {b}] holds almost no mass of N({mean}, {std}**2)")
    gen = backend.generator()
    out = gen.standard_normal(tensor.shape, dtype=dt).ravel()
    bad = np.flatnonzero((out < lo) | (out > hi))
    while bad.size:  # rejection: redraw the out-of-range values only
        out[bad] = gen.standard_normal(bad.size, dtype=dt)
        bad = bad[(out[bad] < lo) | (out[bad] > hi)]
    return _fill(tensor, out.reshape(tensor.shape) * dt(std) + dt(mean))


def constant_(tensor, val):
    """Fill with ``val``."""
    _check(tensor, "constant_")
    with no_grad():
        return tensor.fill_(val)


def ones_(tensor):
    return constant_(tensor, 1)


def zeros_(tensor):
    return constant_(tensor, 0)


def xavier_uniform_(tensor, gain=1.0):
    """U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    _check(tensor, "xavier_uniform_")
    if tensor.numel() == 0:  # nothing to fill (PyTorch: a no-op)
        return tensor
    fan_in, fan_out = _fan_in_and_fan_out(tensor, "xavier_uniform_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std**2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check(tensor, "xavier_normal_")
    if tensor.numel() == 0:  # nothing to fill (PyTorch: a no-op)
        return tensor
    fan_in, fan_out = _fan_in_and_fan_out(tensor, "xavier_normal_")
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def _kaiming_std(tensor, a, mode, nonlinearity, fn):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init.{fn}: mode {mode!r} not supported, use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _fan_in_and_fan_out(tensor, fn)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"nn.init.{fn}: cannot initialise a tensor with a zero-size fan (shape {tensor.shape})")
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015); ``a`` is the leaky_relu slope."""
    _check(tensor, "kaiming_uniform_")
    if tensor.numel() == 0:  # nothing to fill (PyTorch: a no-op)
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_uniform_")
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std**2) with std = gain / sqrt(fan)."""
    _check(tensor, "kaiming_normal_")
    if tensor.numel() == 0:  # nothing to fill (PyTorch: a no-op)
        return tensor
    std = _kaiming_std(tensor, a, mode, nonlinearity, "kaiming_normal_")
    return normal_(tensor, 0.0, std)


def _calculate_fan_in_and_fan_out(tensor):
    """PyTorch's private helper, kept under its name: layers use it for the bias bound."""
    return _fan_in_and_fan_out(tensor, "_calculate_fan_in_and_fan_out")


def default_layer_init_(weight, bias=None):
    """PyTorch's default initialisation of ``Linear`` and ``Conv2d``: ``kaiming_uniform_(weight,
    a=sqrt(5))`` — i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) — and the bias from the same bound."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        uniform_(bias, -bound, bound)
    return weight
