"""Activations, softmax and dropout: argument checks, then the Functions in ``minigrad.ops``."""
import numbers

from .. import dtypes
from ..ops import activation as act
from ..ops import elementwise as ew
from ..ops import softmax as sm
from .checks import expect_tensor

__all__ = ["softmax", "log_softmax", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "dropout"]


def _axis(dim, x, op):
    """``dim`` -> a non-negative axis of ``x``, or ``IndexError`` naming the op and the shape."""
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: 'dim' must be an int, got {dim!r}")
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for input of shape {x.shape} (expected [{-n}, {n - 1}])")
    return int(dim) % n if x.ndim else 0


def _float_input(x, op, dtype=None):
    expect_tensor(x, op, "input")
    if dtype is not None:
        x = x.astype(dtypes.as_dtype(dtype))
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating point input, got dtype {x.dtype} (shape {x.shape})")
    return x


def softmax(input, dim, dtype=None):  # noqa: A002 - PyTorch's argument names
    """exp(x) / sum(exp(x)) along ``dim`` (the max is subtracted first, so large logits are safe).
    ``dtype``: cast the input to it first."""
    x = _float_input(input, "softmax", dtype)
    return sm.Softmax.apply(x, axis=_axis(dim, x, "softmax"))


def log_softmax(input, dim, dtype=None):  # noqa: A002
    """x - log(sum(exp(x))) along ``dim``, computed without overflow."""
    x = _float_input(input, "log_softmax", dtype)
    return sm.LogSoftmax.apply(x, axis=_axis(dim, x, "log_softmax"))


def relu(input, inplace=False):  # noqa: A002
    """max(x, 0). ``inplace`` is accepted for PyTorch compatibility; the result is always a new tensor."""
    expect_tensor(input, "relu", "input")
    return ew.ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):  # noqa: A002
    """x where x > 0, else negative_slope * x (``inplace`` as in ``relu``)."""
    x = _float_input(input, "leaky_relu")
    if not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"leaky_relu: 'negative_slope' must be a number, got {negative_slope!r}")
    return act.LeakyReLU.apply(x, negative_slope=float(negative_slope))


def gelu(input, approximate="none"):  # noqa: A002
    """x * Phi(x) with Phi the standard normal CDF (exact, through erf); ``approximate='tanh'`` uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _float_input(input, "gelu")
    if approximate == "none":
        return act.GELU.apply(x)
    if approximate == "tanh":
        return act.GELUTanh.apply(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input):  # noqa: A002
    """1 / (1 + exp(-x))."""
    expect_tensor(input, "sigmoid", "input")
    return input.sigmoid()


def tanh(input):  # noqa: A002
    """tanh(x)."""
    expect_tensor(input, "tanh", "input")
    return input.tanh()


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by
    1 / (1 - p); otherwise return ``input`` unchanged. The mask comes from ``minigrad.manual_seed``'s
    generator (CuPy's on a GPU)."""
    x = _float_input(input, "dropout")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p!r}")
    if not training or p == 0:
        return x
    return act.Dropout.apply(x, p=float(p))
