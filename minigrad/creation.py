"""Functions that make tensors (``zeros``, ``randn``, ...) or combine several (``cat``, ``where``)."""
import numpy as np

from . import backend, dtypes
from .ops import elementwise as ew
from .ops import shape as shape_ops
from .tensor import Tensor, _dim, _shape_arg, check_same_device


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a leaf tensor from data (copies it). Host data goes to ``device`` (default: the default
    device); a device array stays on its device unless ``device`` says otherwise."""
    if isinstance(data, Tensor):
        data = data.data
    if backend.is_array(data):
        data = data.copy()
        if device is None and backend.device_of(data) == "cpu":
            device = backend.default_device()
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, device=device)


def _make(array, dtype, device, requires_grad):
    dev = backend.parse_device(device)
    return Tensor(backend.asarray(array, dtype, dev), requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.zeros(_shape_arg(shape), dtypes.as_dtype(dtype) or dtypes.float32), None, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.ones(_shape_arg(shape), dtypes.as_dtype(dtype) or dtypes.float32), None, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False):
    return _make(np.empty(_shape_arg(shape), dtypes.as_dtype(dtype) or dtypes.float32), None, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    size = (size,) if isinstance(size, int) else tuple(size)
    dtype = dtypes.as_dtype(dtype) or dtypes.infer_dtype(fill_value)
    return _make(np.full(size, fill_value, dtype), None, device, requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), drawn from minigrad's seeded generator."""
    dtype = dtypes.as_dtype(dtype) or dtypes.float32
    return _make(backend.generator().random(_shape_arg(shape)).astype(dtype), None, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, drawn from minigrad's seeded generator."""
    dtype = dtypes.as_dtype(dtype) or dtypes.float32
    return _make(backend.generator().standard_normal(_shape_arg(shape)).astype(dtype), None, device, requires_grad)


def randint(low, high, size, dtype=None, device=None):
    """Integers uniform on [low, high)."""
    size = (size,) if isinstance(size, int) else tuple(size)
    dtype = dtypes.as_dtype(dtype) or dtypes.int64
    return _make(backend.generator().integers(low, high, size).astype(dtype), None, device, False)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    """Like ``torch.arange``: int64 for integer arguments, float32 otherwise."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else dtypes.float32
    return _make(np.arange(start, end, step).astype(dtypes.as_dtype(dtype)), None, device, requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _make(np.eye(n, m, dtype=dtypes.as_dtype(dtype) or dtypes.float32), None, device, requires_grad)


def _same_dtype(op, tensors):
    check_same_device(op, *tensors)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = dtypes.promote(dtype, t.dtype)
    return [t.astype(dtype) for t in tensors]


def cat(tensors, dim=0):
    """Concatenate along an existing ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = _dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1 :] != ref.shape[:d] + ref.shape[d + 1 :]:
            raise ValueError(f"cat: tensor {i} has shape {t.shape}, incompatible with {ref.shape} outside dim {dim}")
    return shape_ops.Cat.apply(*_same_dtype("cat", tensors), axis=d)


def stack(tensors, dim=0):
    """Stack equal-shaped tensors along a new ``dim``."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, expected {tensors[0].shape}")
    nd = tensors[0].ndim + 1
    d = dim if dim >= 0 else dim + nd
    if not 0 <= d < nd:
        raise IndexError(f"stack: dim {dim} out of range for {nd - 1}-d tensors")
    return shape_ops.Stack.apply(*_same_dtype("stack", tensors), axis=d)


def _as_tensor(x, like):
    return x if isinstance(x, Tensor) else like._operand(x, "where")


def where(condition, input, other):  # noqa: A002 - PyTorch's names
    """Elementwise ``input if condition else other``; the gradient flows to the chosen side."""
    ref = input if isinstance(input, Tensor) else other if isinstance(other, Tensor) else Tensor(input)
    a, b = _as_tensor(input, ref), _as_tensor(other, ref)
    cond = condition if isinstance(condition, Tensor) else Tensor(condition, device=ref.device)
    check_same_device("where", cond, a, b)
    a, b = _same_dtype("where", [a, b])
    return ew.Where.apply(Tensor._from_op(cond.data.astype(bool), None, None), a, b)


def maximum(input, other):  # noqa: A002
    return input._binary(other, ew.Maximum, "maximum")


def minimum(input, other):  # noqa: A002
    return input._binary(other, ew.Minimum, "minimum")
