"""minigrad: a from-scratch tensor and autograd framework on NumPy (CPU) and CuPy (GPU)."""
from . import cuda, kernels
from .autograd import detect_anomaly, enable_grad, grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import Generator, device, manual_seed
from .creation import (
    allclose, arange, as_tensor, bmm, cat, einsum, empty, eye, from_numpy, full, linspace, maximum, minimum,
    ones, ones_like, rand, randint, randn, randperm, stack, tensor, unique, where, zeros, zeros_like,
)
from .dtypes import bool, float16, float32, float64, int32, int64  # noqa: A004
from .serialization import load, save
from . import dtypes
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
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
    "reshape view flatten transpose permute squeeze unsqueeze expand matmul softmax log_softmax "
    "repeat flip chunk split gather masked_fill cumsum logsumexp norm tril triu log1p expm1 topk sort argsort "
    "isnan isinf isfinite"
).split()
for _name in _METHODS:
    globals()[_name] = _method_as_function(_name)
del _name

from . import kernels  # noqa: E402,F401
from . import functional  # noqa: E402,F401  (after Tensor: functional builds on it)


# PyTorch's dtype aliases: minigrad.float is float32, minigrad.long int64, ... (they shadow the
# builtins only in this namespace, as torch.float does)
globals().update(dtypes.ALIASES)


def __getattr__(name):
    """Modules imported on first use:
    - ``minigrad.nn`` and ``minigrad.optim``: ``nn`` is built on minigrad, so minigrad can't import it
      while it is itself being imported;
    - ``minigrad.viz``: drawing needs the optional ``graphviz`` package (``pip install 'minigrad[viz]'``),
      and ``import minigrad`` should not."""
    if name in ("nn", "optim", "viz"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"
