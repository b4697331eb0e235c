"""Argument checks shared by the public ``F`` functions. Every message names the op, the argument
and what was received, so a user sees at once what to fix."""
from ..tensor import Tensor, check_same_device  # noqa: F401  (re-exported for F functions)


def expect_tensor(x, op, name, optional=False):
    """Raise ``TypeError`` unless ``x`` is a Tensor (or None when ``optional``)."""
    if x is None and optional:
        return
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, got {type(x).__name__}")


def expect_ndim(x, ndims, op, name, layout=""):
    """Raise ``ValueError`` unless ``x.ndim`` is in ``ndims`` (an int or a tuple of ints)."""
    ndims = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.ndim not in ndims:
        want = " or ".join(str(n) for n in ndims)
        layout = f" {layout}" if layout else ""
        raise ValueError(f"{op}: expected '{name}' with {want} dims{layout}, got shape {x.shape}")


def expect_float(x, op, name):
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: argument '{name}' must be a floating point tensor, got dtype {x.dtype}")


def pair(value, op, name, minimum=0):
    """An int or a pair of ints -> a tuple of two ints, each >= ``minimum``."""
    if isinstance(value, int) and not isinstance(value, bool):
        out = (value, value)
    else:
        try:
            out = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{op}: '{name}' must be an int or a pair of ints, got {value!r}") from None
        if len(out) != 2 or any(o != v for o, v in zip(out, value)):
            raise ValueError(f"{op}: '{name}' must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in out):
        raise ValueError(f"{op}: '{name}' must be >= {minimum}, got {value!r}")
    return out


def check_reduction(reduction, op):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
