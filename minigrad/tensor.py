"""``Tensor``: an n-dimensional array (NumPy or CuPy) that remembers how it was computed.

A tensor made by an op has ``grad_fn`` (the op's ``Function`` node) and ``_output_index`` (which
output of that node it is); a tensor made by the user is a *leaf* (``grad_fn is None``) and, when
``requires_grad`` is True, receives the gradient in ``.grad`` after ``backward()``.
"""
import numpy as np

from . import autograd, backend, dtypes
from .ops import elementwise as ew
from .ops import linalg, reduce, shape, softmax


def _normalize_axis(dim, ndim, op):
    """``dim`` (None, int or sequence) -> None or a sorted tuple of non-negative axes."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"{op}: dimension out of range (expected to be in range of [{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {d})"
            )
        out.append(d % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats an axis")
    return tuple(sorted(out)) if ndim else None


def _dim(d, ndim, op):
    return _normalize_axis(d, ndim, op)[0] if ndim else 0


def _shape_arg(shape):
    """Accept ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


def check_same_device(op, *tensors):
    """Raise ``RuntimeError`` naming both devices when ``tensors`` are not all on one device."""
    devices = {t.device for t in tensors if t is not None}
    if len(devices) > 1:
        a, b = sorted(devices)[:2]
        raise RuntimeError(
            f"{op}: expected all tensors to be on the same device, but found at least two devices, {a} and {b}"
        )


class Tensor:
    """An array with autograd. See the module docstring and ``../shared/API.md``."""

    __array_priority__ = 1000  # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        dtype = dtypes.as_dtype(dtype)
        if isinstance(data, Tensor):
            data = data.data
        if backend.is_array(data):
            dev = backend.device_of(data) if device is None else backend.parse_device(device)
            arr = backend.to_device(data, dev)
            if dtype is not None and arr.dtype != dtype:
                arr = arr.astype(dtype)
        else:
            dev = backend.parse_device(device)
            arr = backend.asarray(data, dtype or dtypes.infer_dtype(data), dev)
        if requires_grad and not dtypes.is_floating(arr.dtype):
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {arr.dtype}")
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self._grad = None
        self.grad_fn = None
        self._output_index = None
        self._hooks = []
        self._retains_grad = False
        self.name = None

    @classmethod
    def _from_op(cls, array, grad_fn, index):
        t = cls.__new__(cls)
        t.data = array
        t.requires_grad = grad_fn is not None
        t._grad = None
        t.grad_fn = grad_fn
        t._output_index = index
        t._hooks = []
        t._retains_grad = False
        t.name = None
        return t

    # ------------------------------------------------------------ attributes
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (a Tensor) or None."""
        return self._grad

    @grad.setter
    def grad(self, value):
        # Like PyTorch, an assigned gradient must match the tensor: a mismatch would otherwise
        # surface later, deep inside an optimizer step (on a GPU as a host/device TypeError).
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value.device != self.device:
                raise RuntimeError(f"assigned grad is on device {value.device} but the tensor is on {self.device}")
            if value.shape != self.shape:
                raise RuntimeError(f"assigned grad has shape {value.shape} but the tensor has shape {self.shape}")
        self._grad = value

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def _xp(self):
        return backend.get_array_module(self.data)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self):
        return self.ndim

    def numel(self):
        return int(self.data.size)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __hash__(self):
        return id(self)

    # ------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        ``gradient`` (same shape as self) may be omitted only for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn")
        g = autograd._initial_grad(self, gradient)
        autograd.run_backward([self], [g], retain_graph=retain_graph)

    def detach(self):
        """A new leaf sharing this tensor's data, outside the graph."""
        return Tensor._from_op(self.data, None, None)

    def requires_grad_(self, flag=True):
        if not self.is_leaf and not flag:
            raise RuntimeError("requires_grad_(False) is only allowed on leaf tensors; use detach()")
        if flag and not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"only floating point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self):
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad")
        if not self.is_leaf:
            self._retains_grad = True
        return self

    def register_hook(self, fn):
        """``fn(grad) -> Tensor or None`` runs when this tensor's gradient is computed; a returned
        tensor replaces the gradient. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        self._hooks.append(fn)
        hooks = self._hooks

        class _Handle:
            def remove(self_inner):
                if fn in hooks:
                    hooks.remove(fn)

        return _Handle()

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """A host (NumPy) copy of the data."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python scalars, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is ambiguous")
        return bool(self.item())

    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``; returns self when nothing changes.
        A dtype change is differentiable; a device move keeps the graph too."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, str) and (a == "cpu" or a.startswith("cuda")):
                device = a
            else:
                dtype = a
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None and backend.parse_device(device) != out.device:
            out = _ToDevice.apply(out, device=backend.parse_device(device))
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def astype(self, dtype):
        dtype = dtypes.as_dtype(dtype)
        if dtype == self.dtype:
            return self
        if self.requires_grad and dtypes.is_floating(dtype):
            return ew.Cast.apply(self, dtype=dtype)
        return Tensor._from_op(self.data.astype(dtype), None, None)

    def float(self):
        return self.astype(dtypes.float32)

    def double(self):
        return self.astype(dtypes.float64)

    def long(self):
        return self.astype(dtypes.int64)

    def int(self):
        return self.astype(dtypes.int32)

    def bool(self):
        return self.astype(dtypes.bool)

    def clone(self):
        return ew.Copy.apply(self)

    def contiguous(self):
        return self

    # ------------------------------------------------------------ in place (no grad)
    def zero_(self):
        self.data[...] = 0
        return self

    def fill_(self, value):
        self.data[...] = value
        return self

    # ------------------------------------------------------------ printing
    def __repr__(self):
        data = backend.to_numpy(self.data)
        body = np.array2string(
            data, separator=", ", prefix="tensor(", precision=4, threshold=1000, edgeitems=3,
            # like PyTorch: whole numbers print as "1.", others with 4 fixed decimals
            floatmode="fixed" if dtypes.is_floating(data.dtype) and not _whole(data) else "maxprec",
        )
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool) or data.size == 0:
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__

    # ------------------------------------------------------------ operators
    def _operand(self, other, op):
        """``other`` as a Tensor on this device; Python scalars take this tensor's dtype."""
        if isinstance(other, Tensor):
            check_same_device(op, self, other)
            return other
        if isinstance(other, (bool, int, float)):
            dtype = dtypes.scalar_dtype(self.dtype, other)
            return Tensor._from_op(self._xp.asarray(other, dtype=dtype), None, None)
        if backend.is_array(other) or isinstance(other, (list, tuple, np.generic)):
            return Tensor(other, device=self.device)
        raise TypeError(f"{op}: unsupported operand of type {type(other).__name__}")

    def _binary(self, other, fn, op, reverse=False):
        other = self._operand(other, op)
        a, b = (other, self) if reverse else (self, other)
        if a.shape != b.shape:
            try:
                np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") from None
        dtype = dtypes.promote(a.dtype, b.dtype)
        return fn.apply(a.astype(dtype), b.astype(dtype))

    def __add__(self, other):
        return self._binary(other, ew.Add, "add")

    def __radd__(self, other):
        return self._binary(other, ew.Add, "add", reverse=True)

    def __sub__(self, other):
        return self._binary(other, ew.Sub, "sub")

    def __rsub__(self, other):
        return self._binary(other, ew.Sub, "sub", reverse=True)

    def __mul__(self, other):
        return self._binary(other, ew.Mul, "mul")

    def __rmul__(self, other):
        return self._binary(other, ew.Mul, "mul", reverse=True)

    def __truediv__(self, other):
        if not dtypes.is_floating(self.dtype) and not (isinstance(other, Tensor) and dtypes.is_floating(other.dtype)):
            return self.astype(dtypes.float32)._binary(other, ew.Div, "div")
        return self._binary(other, ew.Div, "div")

    def __rtruediv__(self, other):
        if not dtypes.is_floating(self.dtype):
            return self.astype(dtypes.float32)._binary(other, ew.Div, "div", reverse=True)
        return self._binary(other, ew.Div, "div", reverse=True)

    def __neg__(self):
        return ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            if isinstance(exponent, float) and not dtypes.is_floating(self.dtype):
                return ew.PowScalar.apply(self.astype(dtypes.float32), p=exponent)
            return ew.PowScalar.apply(self, p=exponent)
        return self._binary(exponent, ew.Pow, "pow")

    def __rpow__(self, base):
        if isinstance(base, (int, float)) and not isinstance(base, bool):
            x = self if dtypes.is_floating(self.dtype) else self.astype(dtypes.float32)
            return ew.RPowScalar.apply(x, c=base)
        return self._binary(base, ew.Pow, "pow", reverse=True)

    def __matmul__(self, other):
        return self.matmul(other)

    def __rmatmul__(self, other):
        return self._operand(other, "matmul").matmul(self)

    def _compare(self, other, ufunc):
        other = self._operand(other, "comparison")
        return Tensor._from_op(ufunc(self.data, other.data), None, None)

    def __lt__(self, other):
        return self._compare(other, self._xp.less)

    def __le__(self, other):
        return self._compare(other, self._xp.less_equal)

    def __gt__(self, other):
        return self._compare(other, self._xp.greater)

    def __ge__(self, other):
        return self._compare(other, self._xp.greater_equal)

    def __eq__(self, other):
        return self._compare(other, self._xp.equal)

    def __ne__(self, other):
        return self._compare(other, self._xp.not_equal)

    def __invert__(self):
        return Tensor._from_op(~self.data, None, None)

    def __and__(self, other):
        return self._compare(other, self._xp.logical_and if self.dtype == dtypes.bool else self._xp.bitwise_and)

    def __or__(self, other):
        return self._compare(other, self._xp.logical_or if self.dtype == dtypes.bool else self._xp.bitwise_or)

    def __getitem__(self, index):
        index = _convert_index(index, self)
        return shape.GetItem.apply(self, index=index)

    def __setitem__(self, index, value):
        """In-place assignment into the data (no gradient flows through it)."""
        if self.requires_grad and autograd.is_grad_enabled():
            raise RuntimeError("in-place assignment to a tensor that requires grad; wrap it in minigrad.no_grad()")
        value = value.data if isinstance(value, Tensor) else value
        self.data[_convert_index(index, self)] = value

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------ math methods
    def matmul(self, other):
        other = self._operand(other, "matmul")
        if self.ndim == 0 or other.ndim == 0:
            raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes {self.shape} and {other.shape}")
        k1 = self.shape[-1]
        k2 = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if k1 != k2:
            raise ValueError(f"matmul: shapes {self.shape} and {other.shape} cannot be multiplied ({k1} != {k2})")
        dtype = dtypes.promote(self.dtype, other.dtype)
        return linalg.MatMul.apply(self.astype(dtype), other.astype(dtype))

    def sum(self, dim=None, keepdim=False):
        axis = _normalize_axis(dim, self.ndim, "sum")
        x = self if self.dtype != dtypes.bool else self.astype(dtypes.int64)
        return reduce.Sum.apply(x, axis=axis, keepdims=keepdim)

    def mean(self, dim=None, keepdim=False):
        if not dtypes.is_floating(self.dtype):
            raise TypeError(f"mean: input dtype should be floating point, got {self.dtype}")
        return reduce.Mean.apply(self, axis=_normalize_axis(dim, self.ndim, "mean"), keepdims=keepdim)

    def var(self, dim=None, unbiased=True, keepdim=False):
        axis = _normalize_axis(dim, self.ndim, "var")
        return reduce.Var.apply(self, axis=axis, keepdims=keepdim, correction=1 if unbiased else 0)

    def std(self, dim=None, unbiased=True, keepdim=False):
        return self.var(dim, unbiased, keepdim).sqrt()

    def _maxmin(self, dim, keepdim, mode):
        if self.data.size == 0:
            raise RuntimeError(f"{mode}(): cannot reduce an empty tensor of shape {self.shape}")
        if dim is None:
            return reduce.MaxMin.apply(self, axis=None, keepdims=False, mode=mode)
        d = _dim(dim, self.ndim, mode)
        if self.ndim == 0:
            return self, Tensor(0)
        out = reduce.MaxMinAlong.apply(self, dim=d, keepdim=keepdim, mode=mode)
        arg = self.data.argmax(axis=d) if mode == "max" else self.data.argmin(axis=d)
        if keepdim:
            arg = self._xp.expand_dims(arg, d)
        return MaxMinResult(out, Tensor._from_op(arg.astype(np.int64), None, None))

    def max(self, dim=None, keepdim=False):
        """Max of all elements, or ``(values, indices)`` along ``dim``."""
        return self._maxmin(dim, keepdim, "max")

    def min(self, dim=None, keepdim=False):
        """Min of all elements, or ``(values, indices)`` along ``dim``."""
        return self._maxmin(dim, keepdim, "min")

    def argmax(self, dim=None, keepdim=False):
        return self._arg(dim, keepdim, self._xp.argmax)

    def argmin(self, dim=None, keepdim=False):
        return self._arg(dim, keepdim, self._xp.argmin)

    def _arg(self, dim, keepdim, f):
        if dim is None:
            return Tensor._from_op(self._xp.asarray(f(self.data)).astype(np.int64), None, None)
        d = _dim(dim, self.ndim, "argmax")
        out = f(self.data, axis=d)
        if keepdim:
            out = self._xp.expand_dims(out, d)
        return Tensor._from_op(out.astype(np.int64), None, None)

    def _float_unary(self, fn, **params):
        x = self if dtypes.is_floating(self.dtype) else self.astype(dtypes.float32)
        return fn.apply(x, **params)

    def exp(self):
        return self._float_unary(ew.Exp)

    def log(self):
        return self._float_unary(ew.Log)

    def sqrt(self):
        return self._float_unary(ew.Sqrt)

    def sin(self):
        return self._float_unary(ew.Sin)

    def cos(self):
        return self._float_unary(ew.Cos)

    def tanh(self):
        return self._float_unary(ew.Tanh)

    def sigmoid(self):
        return self._float_unary(ew.Sigmoid)

    def abs(self):
        return ew.Abs.apply(self)

    def relu(self):
        return ew.ReLU.apply(self)

    def clamp(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        return ew.Clamp.apply(self, lo=min, hi=max)

    clip = clamp

    def pow(self, exponent):
        return self**exponent

    def softmax(self, dim):
        return softmax.Softmax.apply(self, axis=_dim(dim, self.ndim, "softmax"))

    def log_softmax(self, dim):
        return softmax.LogSoftmax.apply(self, axis=_dim(dim, self.ndim, "log_softmax"))

    # ------------------------------------------------------------ shape methods
    def reshape(self, *shape):
        shape = _shape_arg(shape)
        n = self.data.size
        known = [s for s in shape if s != -1]
        size = int(np.prod(known)) if known else 1
        if shape.count(-1) > 1 or (shape.count(-1) == 0 and size != n) or (shape.count(-1) == 1 and (size == 0 or n % size)):
            raise ValueError(f"reshape: shape {list(shape)} is invalid for input of shape {self.shape} ({n} elements)")
        return shape_op_reshape(self, shape)

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s = _dim(start_dim, self.ndim, "flatten")
        e = _dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        return self.reshape(self.shape[:s] + (int(np.prod(self.shape[s : e + 1])),) + self.shape[e + 1 :])

    def transpose(self, dim0, dim1):
        dims = list(range(self.ndim))
        a, b = _dim(dim0, self.ndim, "transpose"), _dim(dim1, self.ndim, "transpose")
        dims[a], dims[b] = dims[b], dims[a]
        return shape.Permute.apply(self, dims=tuple(dims))

    def permute(self, *dims):
        dims = _shape_arg(dims)
        if sorted(d % max(self.ndim, 1) for d in dims) != list(range(self.ndim)):
            raise ValueError(f"permute: dims {list(dims)} are not a permutation of the {self.ndim} dims of shape {self.shape}")
        return shape.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    @property
    def T(self):
        return shape.Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    def squeeze(self, dim=None):
        if dim is None:
            new = tuple(s for s in self.shape if s != 1)
        else:
            axes = _normalize_axis(dim, self.ndim, "squeeze") or ()
            new = tuple(s for i, s in enumerate(self.shape) if not (i in axes and s == 1))
        return self if new == self.shape else shape_op_reshape(self, new)

    def unsqueeze(self, dim):
        d = dim if dim >= 0 else dim + self.ndim + 1
        if not 0 <= d <= self.ndim:
            raise IndexError(f"unsqueeze: dim {dim} out of range for a tensor of {self.ndim} dims")
        return shape_op_reshape(self, self.shape[:d] + (1,) + self.shape[d:])

    def expand(self, *sizes):
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: {len(sizes)} sizes given for a tensor of shape {self.shape}")
        target = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        for i, n in enumerate(self.shape):
            if n != 1 and n != target[i + lead]:
                raise ValueError(f"expand: shape {self.shape} cannot be expanded to {target}")
        return shape.Expand.apply(self, shape=target)

    def expand_as(self, other):
        return self.expand(*other.shape)


def _whole(data):
    finite = data[np.isfinite(data)]
    return bool(np.all(finite == np.round(finite)))


def shape_op_reshape(x, new_shape):
    return shape.Reshape.apply(x, shape=tuple(new_shape))


class MaxMinResult(tuple):
    """``(values, indices)`` as returned by ``max(dim)`` / ``min(dim)``."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _convert_index(index, tensor):
    """Tensors and lists inside an index become backend arrays on the tensor's device."""

    def conv(i):
        if isinstance(i, Tensor):
            check_same_device("indexing", tensor, i)
            return i.data
        if isinstance(i, list):
            return backend.asarray(i, None, tensor.device)
        if backend.is_array(i) and backend.device_of(i) != tensor.device:
            return backend.to_device(i, tensor.device)
        return i

    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


class _ToDevice(autograd.Function):
    """y = x moved to another device"""

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        """dx = gy moved back"""
        return backend.to_device(gy, self.src)
