"""minigrad: a from-scratch tensor and autograd framework on NumPy (CPU) and CuPy (GPU)."""
from . import cuda
from .autograd import detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad
from .backend import manual_seed
from .creation import (
    arange, cat, empty, eye, full, maximum, minimum, ones, ones_like, rand, randint, randn, stack,
    tensor, where, zeros, zeros_like,
)
from .dtypes import bool, float16, float32, float64, int32, int64  # noqa: A004
from .gradcheck import GradcheckError, gradcheck
from .tensor import Tensor


def _method_as_function(name):
    method = getattr(Tensor, name)

    def function(input, *args, **kwargs):  # noqa: A002
        return method(input, *args, **kwargs)

    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = method.__doc__
    return function


# Every Tensor method of the contract is also a function: minigrad.exp(x) == x.exp()
_METHODS = (
    "sum mean var std max min argmax argmin exp log sqrt abs sin cos tanh sigmoid relu clamp pow "
    "reshape view flatten transpose permute squeeze unsqueeze expand matmul softmax log_softmax"
).split()
for _name in _METHODS:
    globals()[_name] = _method_as_function(_name)
del _name

from . import kernels  # noqa: E402,F401
from . import functional  # noqa: E402,F401  (after Tensor: functional builds on it)
from . import viz  # noqa: E402,F401

__version__ = "0.1.0"
