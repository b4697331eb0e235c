"""Dtypes (plain NumPy dtypes) and the promotion rules minigrad uses.

Rules, as in PyTorch:
- Python floats become float32 (the default dtype), Python ints int64, bools bool.
- A Python scalar never changes a tensor's dtype: ``float32_tensor * 2.5`` stays float32 and
  ``int_tensor * 2.5`` becomes float32 (NumPy would give float64 in both cases).
- Two tensors: int with float gives the float's dtype; two floats (or two ints) promote as NumPy does.
"""
import numpy as np

float32 = np.dtype("float32")
float64 = np.dtype("float64")
float16 = np.dtype("float16")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
bool = np.dtype("bool")  # noqa: A001 - mirrors torch.bool

# PyTorch's aliases, exported as minigrad.float, minigrad.long, ... (a dict here, so that this
# module keeps Python's builtins float and int)
ALIASES = {"float": float32, "double": float64, "half": float16, "long": int64, "int": int32}

default_float = float32


def as_dtype(dtype):
    """Normalise ``dtype`` (None, a NumPy dtype, a string, a Python type) to a NumPy dtype or None."""
    if dtype is None:
        return None
    if dtype is float:
        return default_float
    if dtype is int:
        return int64
    return np.dtype(dtype)


def is_floating(dtype):
    return np.issubdtype(dtype, np.floating)


def infer_dtype(data, dtype=None):
    """Dtype for fresh data of Python type: floats -> float32, ints -> int64 (arrays keep theirs);
    ``dtype`` when given. ``None``, strings, ragged lists and other non-numbers raise ``TypeError``
    (as ``torch.tensor`` does) instead of becoming a NumPy object or string array."""
    if data is None or isinstance(data, (str, bytes)):
        raise TypeError(f"tensor(): can't make a tensor from {type(data).__name__} {data!r}; expected numbers, "
                        "(nested) lists of numbers or an array")
    try:
        arr = np.asarray(data)
    except ValueError as e:  # NumPy 2 refuses ragged nesting
        raise TypeError(f"tensor(): ragged nested sequence (its rows have different lengths): {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USV":
        what = "ragged or mixed nested sequence" if arr.dtype == object else f"values of dtype {arr.dtype} (strings)"
        raise TypeError(f"tensor(): can't make a tensor from {what}; expected numbers or (nested) lists of numbers")
    if dtype is not None:
        return dtype
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)):
        return default_float
    return arr.dtype


def promote(a, b):
    """Result dtype of a binary op between two tensors of dtypes ``a`` and ``b``."""
    if a == b:
        return a
    fa, fb = is_floating(a), is_floating(b)
    if fa and not fb:
        return a
    if fb and not fa:
        return b
    return np.result_type(a, b)


def scalar_dtype(tensor_dtype, scalar):
    """Dtype of the result when a tensor of ``tensor_dtype`` meets a Python scalar."""
    if isinstance(scalar, float) and not is_floating(tensor_dtype):
        return default_float
    if tensor_dtype == bool and isinstance(scalar, int) and not isinstance(scalar, type(True)):
        return int64
    return tensor_dtype
