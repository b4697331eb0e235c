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


def infer_dtype(data):
    """Dtype for fresh data of Python type: floats -> float32, ints -> int64 (arrays keep theirs)."""
    arr = np.asarray(data)
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
