"""Activations, softmax and dropout: argument checks, then the Functions in ``minigrad.ops``."""
import numbers

from .. import dtypes
from ..ops import activation as act
from ..ops import elementwise as ew
from ..ops import softmax as sm
from .checks import expect_tensor

__all__ = ["softmax", "log_softmax", "relu", "leaky_relu", "gelu", "sigmoid", "tanh", "dropout", "dropout2d",
           "silu", "softplus", "elu", "one_hot"]


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


def _probability(p, op):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{op}: probability has to be between 0 and 1, but got {p!r}")
    return float(p)


def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by
    1 / (1 - p); otherwise return ``input`` unchanged. The mask comes from ``minigrad.manual_seed``'s
    generator (CuPy's on a GPU)."""
    x = _float_input(input, "dropout")
    p = _probability(p, "dropout")
    if not training or p == 0:
        return x
    return act.Dropout.apply(x, p=p)


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Channel dropout for (N, C, H, W) (or (N, C, L)) input: in training, zero each whole channel of
    each sample with probability ``p`` and scale the rest by 1 / (1 - p) (neighbouring pixels are
    correlated, so dropping single pixels regularises little)."""
    x = _float_input(input, "dropout2d")
    p = _probability(p, "dropout2d")
    if x.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 3-D or 4-D input (N, C, ...), got shape {x.shape}")
    if not training or p == 0:
        return x
    return act.Dropout2d.apply(x, p=p)


def silu(input, inplace=False):  # noqa: A002
    """x * sigmoid(x) (also called swish)."""
    return act.SiLU.apply(_float_input(input, "silu"))


def softplus(input, beta=1.0, threshold=20.0):  # noqa: A002
    """log(1 + exp(beta * x)) / beta, a smooth ReLU; linear (= x) where beta * x > threshold."""
    x = _float_input(input, "softplus")
    for name, v in (("beta", beta), ("threshold", threshold)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"softplus: {name!r} must be a number, got {v!r}")
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return act.Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def elu(input, alpha=1.0, inplace=False):  # noqa: A002
    """x if x > 0 else alpha * (exp(x) - 1)."""
    x = _float_input(input, "elu")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"elu: 'alpha' must be a number, got {alpha!r}")
    return act.ELU.apply(x, alpha=float(alpha))


def one_hot(tensor, num_classes=-1):
    """int64 (..., num_classes) with a 1 at each value of the int64 ``tensor`` (``num_classes=-1``:
    max + 1). Values outside [0, num_classes) raise ``ValueError``. No gradient."""
    from ..tensor import Tensor

    expect_tensor(tensor, "one_hot", "tensor")
    if tensor.dtype != dtypes.int64:
        raise TypeError(f"one_hot: expected an int64 tensor of class indices, got dtype {tensor.dtype}")
    data = tensor.data
    if num_classes == -1:
        if data.size == 0:
            raise ValueError("one_hot: can not infer the number of classes from an empty tensor; pass num_classes")
        num_classes = int(data.max()) + 1
    if data.size and (int(data.min()) < 0 or int(data.max()) >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes}), got min {int(data.min())} "
                         f"and max {int(data.max())}")
    xp = tensor._xp
    out = (data[..., None] == xp.arange(num_classes)).astype(dtypes.int64)
    return Tensor._from_op(out, None, None)
