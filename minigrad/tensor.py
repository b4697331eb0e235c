"""``Tensor``: an n-dimensional array (NumPy or CuPy) that remembers how it was computed.

A tensor made by an op has ``grad_fn`` (the op's ``Function`` node) and ``_output_index`` (which
output of that node it is); a tensor made by the user is a *leaf* (``grad_fn is None``) and, when
``requires_grad`` is True, receives the gradient in ``.grad`` after ``backward()``.
"""
import weakref

import numpy as np

from . import autograd, backend, dtypes
from .ops import elementwise as ew
from .ops import linalg, reduce, scan, select, shape, softmax


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
        source = data if isinstance(data, Tensor) else None
        if source is not None:
            data = data.data
        if backend.is_array(data):
            dev = backend.device_of(data) if device is None else backend.parse_device(device)
            arr = backend.to_device(data, dev)
            if dtype is not None and arr.dtype != dtype:
                arr = arr.astype(dtype)
        else:
            dev = backend.parse_device(device)
            arr = backend.asarray(data, dtypes.infer_dtype(data, dtype), dev)
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
        self._version_counter = source._version_counter if source is not None and arr is source.data else autograd.VersionCounter()
        self._base = None

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
        t._version_counter = autograd.VersionCounter()
        t._base = None
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
    def _version(self):
        """How many in-place changes this tensor's memory has seen (shared with its views and
        ``detach()``); a backward that needs a saved value checks it has not moved."""
        return self._version_counter.value

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
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad (only
        into ``inputs`` when given).

        ``gradient`` (same shape as self) may be omitted only for a one-element tensor.
        ``create_graph=True`` records the backward pass, so the gradients can be differentiated
        again; ``retain_graph`` defaults to ``create_graph``.
        """
        autograd.backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    def detach(self):
        """A new leaf sharing this tensor's data (and its version counter), outside the graph."""
        t = Tensor._from_op(self.data, None, None)
        t._version_counter = self._version_counter
        return t

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
        if not self.is_leaf and not self._retains_grad:
            self._retains_grad = True
            self.grad_fn.retain_output(self._output_index, self)
        return self

    def register_hook(self, fn):
        """``fn(grad) -> Tensor or None`` runs when this tensor's gradient is computed; a returned
        tensor replaces the gradient. Returns a handle with ``remove()``.

        On a non-leaf the hook lives on the graph node that made this tensor, so it runs even if
        this Python object is gone by the time of backward. On a leaf it runs once per backward
        with the summed gradient, and what it returns is what accumulates into ``.grad``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        hooks = self._hooks if self.is_leaf else self.grad_fn.add_tensor_hook(self._output_index, fn)
        if self.is_leaf:
            hooks.append(fn)
        return _HookHandle(hooks, fn)

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
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other_tensor)``; returns self when
        nothing changes. A dtype change is differentiable; a device move keeps the graph too.
        ``non_blocking`` and ``copy`` are accepted as in PyTorch (every copy here is synchronous)."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        copy = kwargs.pop("copy", False)
        if kwargs:
            raise TypeError(f"to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, backend.device) or (isinstance(a, str) and (a == "cpu" or a.startswith("cuda"))):
                device = a
            elif isinstance(a, bool):  # positional non_blocking, as in to(device, dtype, non_blocking)
                continue
            else:
                dtype = a
        out = self
        if dtype is not None and dtypes.as_dtype(dtype) != self.dtype:
            out = out.astype(dtype)
        if device is not None and backend.parse_device(device) != out.device:
            out = _ToDevice.apply(out, device=backend.parse_device(device))
        return out.clone() if copy and out is self else out

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
        """Self when its memory is C-contiguous, else a contiguous copy (differentiable)."""
        return self if self.is_contiguous() else ew.Copy.apply(self)

    # ------------------------------------------------------------ in place
    # PyTorch's rules. Every in-place method writes into this tensor's own array (views made before
    # see the change), bumps the version counter shared with its views, and returns self.
    # - On a leaf that requires grad it is allowed only under no_grad() (``p -= lr * p.grad``).
    # - When a gradient must flow through it (grad mode on, and self or the other operand requires
    #   grad) the out-of-place op is recorded and this tensor's history is rebased onto its node:
    #   after ``h.mul_(2)``, ``h.grad_fn`` is MulBackward, whose edge leads to h's previous node.
    # - A node that saved this tensor's old value sees the version move and its backward raises.

    def _inplace(self, op, out_of_place, direct, others=()):
        """Give this tensor the value ``out_of_place(old_self)`` in place.

        ``direct(array)`` does the same on the raw array when no gradient is recorded (the fast path:
        ufuncs with ``out=``). ``others``: the other Tensor operands (for the recording decision)."""
        record = autograd.is_grad_enabled() and (self.requires_grad or any(o.requires_grad for o in others))
        if record and self.is_leaf and self.requires_grad:
            raise RuntimeError(
                f"{op}: a leaf Variable that requires grad is being used in an in-place operation "
                "(wrap the update in `with minigrad.no_grad():`)"
            )
        if not record:
            direct(self.data)
            self._version_counter.bump()
            return self
        if self._base is not None and self._base.requires_grad:
            return self._inplace_on_view(op, out_of_place)
        old = self._old_value()
        self._rebase(out_of_place(old))
        return self

    def _old_value(self):
        """A Tensor that stands for this tensor's value before an in-place change: same array, same
        history, same version counter."""
        old = Tensor._from_op(self.data, self.grad_fn, self._output_index)
        old.requires_grad = self.requires_grad
        old._version_counter = self._version_counter
        return old

    def _rebase(self, res):
        """Take ``res``'s value (written into this tensor's own array) and its place in the graph."""
        node = res.grad_fn
        if res.data is not self.data:
            if node is not None and any(a is self.data for a in node._saved):
                node.replace_saved(self.data, self.data.copy())  # the node needs the old values
            self.data[...] = res.data
        self._version_counter.bump()
        if self._retains_grad:
            retained = self.grad_fn.__dict__.get("retained", {}) if self.grad_fn is not None else {}
            retained.pop(self._output_index, None)
        self.grad_fn, self._output_index, self.requires_grad = node, res._output_index, res.requires_grad
        if node is not None:
            node.outputs[res._output_index] = weakref.ref(self)
            if self._retains_grad:
                node.retain_output(res._output_index, self)

    def _inplace_on_view(self, op, out_of_place):
        """In-place change of a view ``v = base[index]`` of a tensor in the graph: the new value of
        the view is recorded, written into the base with an index-put (which rebases the base), and
        the view becomes ``base[index]`` of the new base (PyTorch's CopySlices, one level deep)."""
        base = self._base
        if base.is_leaf:
            raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used in an in-place operation")
        index = getattr(self, "_view_index", None)
        if index is None:
            raise RuntimeError(
                f"{op}: in-place change of a view made by reshape/transpose/expand, or of a view of a view, of a "
                "tensor that requires grad is not supported; change the base tensor with index assignment "
                "(base[idx] = value) or use an out-of-place op"
            )
        res = out_of_place(self._old_value())
        if res.grad_fn is not None and any(a is self.data for a in res.grad_fn._saved):
            res.grad_fn.replace_saved(self.data, self.data.copy())
        base[index] = res
        view = shape.GetItem.apply(base, index=index)
        self.grad_fn, self._output_index, self.requires_grad = view.grad_fn, 0, True
        view.grad_fn.outputs[0] = weakref.ref(self)
        return self

    def _inplace_operand(self, other, op):
        """``other`` as a Tensor that may update this one in place: same device, broadcasting to
        this tensor's shape, and a result type that casts to this tensor's dtype (as PyTorch)."""
        other = self._operand(other, op)
        if not _broadcasts_to(other.shape, self.shape):
            raise RuntimeError(f"{op}: output with shape {self.shape} doesn't match the broadcast of shapes "
                               f"{self.shape} and {other.shape}")
        result = dtypes.promote(self.dtype, other.dtype)
        if not np.can_cast(result, self.dtype, casting="same_kind"):
            raise RuntimeError(f"{op}: result type {result} can't be cast to the desired output type {self.dtype}")
        return other

    def _arith_(self, other, op, fn, ufunc):
        other = self._inplace_operand(other, op)
        o = other.astype(self.dtype) if other.dtype != self.dtype else other

        def direct(a):
            ufunc(a, o.data, out=a, casting="unsafe")

        return self._inplace(op, lambda old: fn.apply(old, o), direct, (other,))

    def add_(self, other, alpha=1):
        """self += alpha * other"""
        if alpha != 1:
            other = self._inplace_operand(other, "add_") * alpha
        return self._arith_(other, "add_", ew.Add, self._xp.add)

    def sub_(self, other, alpha=1):
        """self -= alpha * other"""
        if alpha != 1:
            other = self._inplace_operand(other, "sub_") * alpha
        return self._arith_(other, "sub_", ew.Sub, self._xp.subtract)

    def mul_(self, other):
        """self *= other"""
        return self._arith_(other, "mul_", ew.Mul, self._xp.multiply)

    def div_(self, other):
        """self /= other  (true division: an integer tensor cannot hold the result)"""
        if not dtypes.is_floating(self.dtype):
            raise RuntimeError(f"div_: result type float32 can't be cast to the desired output type {self.dtype}")
        return self._arith_(other, "div_", ew.Div, self._xp.divide)

    def pow_(self, exponent):
        """self = self ** exponent"""
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            self._inplace_operand(exponent, "pow_")

            def direct(a):
                self._xp.power(a, exponent, out=a, casting="unsafe")

            return self._inplace("pow_", lambda old: ew.PowScalar.apply(old, p=exponent), direct)
        return self._arith_(exponent, "pow_", ew.Pow, self._xp.power)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def clamp_(self, min=None, max=None):  # noqa: A002 - PyTorch's argument names
        """self = min(max(self, min), max)"""
        if min is None and max is None:
            raise ValueError("clamp_: at least one of min and max must be given")

        def direct(a):
            self._xp.clip(a, min, max, out=a, casting="unsafe")

        return self._inplace("clamp_", lambda old: ew.Clamp.apply(old, lo=min, hi=max), direct)

    clip_ = clamp_

    def relu_(self):
        """self = max(self, 0)"""

        def direct(a):
            self._xp.maximum(a, 0, out=a, casting="unsafe")

        return self._inplace("relu_", lambda old: ew.ReLU.apply(old), direct)

    def _overwrite_(self, op, src):
        """self = src (broadcast, in self's dtype); no gradient reaches the old value."""
        src = src if isinstance(src, Tensor) else self._operand(src, op)
        if src.device != self.device:
            src = src.to(self.device)
        if not _broadcasts_to(src.shape, self.shape):
            raise RuntimeError(f"{op}: the source of shape {src.shape} cannot be broadcast to the tensor's shape {self.shape}")

        def direct(a):
            a[...] = src.data

        return self._inplace(op, lambda old: ew.Overwrite.apply(old, src), direct, (src,))

    def copy_(self, src, non_blocking=False):
        """Copy ``src``'s values into this tensor (broadcast, cast to this dtype, moved to this
        device); the gradient flows to ``src``."""
        if not isinstance(src, Tensor):
            src = Tensor(src, device=self.device)
        return self._overwrite_("copy_", src)

    def fill_(self, value):
        """Set every element to ``value`` (a number or a one-element tensor)."""
        if isinstance(value, Tensor) and value.data.size != 1:
            raise RuntimeError(f"fill_: only supports a 0-dimension value tensor, got shape {value.shape}")
        return self._overwrite_("fill_", value.reshape(()) if isinstance(value, Tensor) else value)

    def zero_(self):
        """Set every element to 0."""
        return self._overwrite_("zero_", 0)

    def masked_fill_(self, mask, value):
        """self = value where mask else self (``mask`` a bool tensor broadcasting to self's shape)."""
        mask = mask if isinstance(mask, Tensor) else Tensor(mask, device=self.device)
        if mask.dtype != dtypes.bool:
            raise RuntimeError(f"masked_fill_: expected a bool mask, got dtype {mask.dtype}")
        check_same_device("masked_fill_", self, mask)
        if not _broadcasts_to(mask.shape, self.shape):
            raise RuntimeError(f"masked_fill_: the mask of shape {mask.shape} cannot be broadcast to the tensor's shape {self.shape}")
        if isinstance(value, Tensor) and value.data.size != 1:
            raise RuntimeError(f"masked_fill_: only supports a 0-dimensional value tensor, got shape {value.shape}")
        v = value.reshape(()) if isinstance(value, Tensor) else self._operand(value, "masked_fill_")
        v = v.astype(self.dtype) if v.dtype != self.dtype else v

        def direct(a):
            self._xp.copyto(a, v.data, where=mask.data)

        return self._inplace("masked_fill_", lambda old: ew.Where.apply(mask, v, old), direct, (v,))

    def uniform_(self, a=0.0, b=1.0):
        """Fill with values drawn from U(a, b) (minigrad's seeded generator)."""
        r = backend.generator().random(self.shape) * (b - a) + a
        return self._overwrite_("uniform_", Tensor(r.astype(self.dtype), device=self.device))

    def normal_(self, mean=0.0, std=1.0):
        """Fill with values drawn from N(mean, std**2) (minigrad's seeded generator)."""
        r = backend.generator().standard_normal(self.shape) * std + mean
        return self._overwrite_("normal_", Tensor(r.astype(self.dtype), device=self.device))

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
        out = shape.GetItem.apply(self, index=index)
        if out._base is self:  # a direct view: an in-place change of it can be replayed on self
            out._view_index = index
        return out

    def __setitem__(self, index, value):
        """``self[index] = value`` in place (an in-place op: see the rules above ``add_``); recorded
        as an index-put when a gradient must flow, so ``h[:, 0] = 0`` on a non-leaf differentiates."""
        idx = _convert_index(index, self)
        v = value if isinstance(value, Tensor) else self._operand(value, "setitem")
        check_same_device("setitem", self, v)

        def direct(a):
            try:
                a[idx] = v.data
            except (ValueError, IndexError) as e:
                raise type(e)(f"setitem: cannot assign a value of shape {v.shape} to index {index!r} of a "
                              f"tensor of shape {self.shape}: {e}") from None

        vv = v.astype(self.dtype) if v.dtype != self.dtype and v.requires_grad else v
        self._inplace("setitem", lambda old: shape.IndexPut.apply(old, vv, index=idx), direct, (v,))

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
        if self.dtype != other.dtype:  # as PyTorch: no silent promotion or cast in a matrix product
            raise TypeError(f"matmul: expected both operands to have the same dtype, but got {self.dtype} and "
                            f"{other.dtype} (shapes {self.shape} and {other.shape}); cast one with .to(dtype)")
        return linalg.MatMul.apply(self, other)

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

    def view(self, *shape):
        """``reshape`` that must not copy: ``RuntimeError`` when this tensor's memory layout (e.g. after
        ``transpose``) can't be viewed with the new shape, as PyTorch (use ``reshape`` there)."""
        out = self.reshape(*shape)
        if self.data.size and not self._xp.may_share_memory(out.data, self.data):
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (shape {self.shape}, strides "
                f"{self.data.strides}, new shape {out.shape}): at least one dimension spans across two contiguous "
                "subspaces. Use .reshape(...) instead."
            )
        return out

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


    # ---- PyTorch habits: conversions, and the shape/selection/reduction methods of the contract
    def half(self):
        return self.astype(dtypes.float16)

    _TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor", "int64": "LongTensor",
                   "int32": "IntTensor", "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor",
                   "bool": "BoolTensor"}

    def type(self, dtype=None):
        """With no argument, the type name (``"minigrad.FloatTensor"``); else ``astype(dtype)``."""
        if dtype is None:
            return "minigrad." + self._TYPE_NAMES.get(str(self.dtype), str(self.dtype) + "Tensor")
        return self.astype(dtype)

    def is_contiguous(self):
        """Whether the data is C-contiguous (row-major, no gaps)."""
        return bool(self.data.flags.c_contiguous)

    def repeat(self, *sizes):
        """Tile the tensor: ``sizes[i]`` copies along dim i (``len(sizes) >= ndim``; extra sizes add leading dims)."""
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise ValueError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller than the number of "
                             f"dims of the tensor (shape {self.shape})")
        if any(s < 0 for s in sizes):
            raise ValueError(f"repeat: repeats must be non-negative, got {list(sizes)}")
        return shape.Repeat.apply(self, repeats=sizes)

    def flip(self, *dims):
        """Reverse the order of elements along ``dims``."""
        axes = _normalize_axis(_shape_arg(dims), self.ndim, "flip") or ()
        return shape.Flip.apply(self, dims=axes)

    def split(self, split_size_or_sections, dim=0):
        """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the given sizes."""
        d = _dim(dim, self.ndim, "split")
        n = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0 and not (size == 0 and n == 0):
                raise ValueError(f"split: split_size must be positive, got {size}")
            sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n or any(s < 0 for s in sizes):
                raise ValueError(f"split: split sizes {sizes} don't sum to dim {dim}'s size {n} (shape {self.shape})")
        pieces, start = [], 0
        for size in sizes:
            index = (slice(None),) * d + (slice(start, start + size),)
            pieces.append(shape.GetItem.apply(self, index=index))
            start += size
        return tuple(pieces)

    def chunk(self, chunks, dim=0):
        """``chunks`` pieces along ``dim`` of size ceil(n / chunks) (fewer when that divides up sooner)."""
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
            raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
        n = self.shape[_dim(dim, self.ndim, "chunk")]
        return self.split(max(-(-n // int(chunks)), 1) if n else 0, dim)

    def gather(self, dim, index):
        """``out[i][j][k] = self[i][index[i][j][k]][k]`` for dim 1 (as ``torch.gather``); ``index`` is an
        int64 tensor with this tensor's ndim, no larger than it outside ``dim``."""
        if not isinstance(index, Tensor) or index.dtype != dtypes.int64:
            raise TypeError(f"gather: index must be an int64 Tensor, got {getattr(index, 'dtype', type(index).__name__)}")
        check_same_device("gather", self, index)
        d = _dim(dim, self.ndim, "gather")
        if index.ndim != self.ndim or any(i > s for a, (i, s) in enumerate(zip(index.shape, self.shape)) if a != d):
            raise ValueError(f"gather: index of shape {index.shape} doesn't fit input of shape {self.shape} "
                             f"(same number of dims, no larger outside dim {dim})")
        if index.data.size and (int(index.data.min()) < -self.shape[d] or int(index.data.max()) >= self.shape[d]):
            raise IndexError(f"gather: index out of range for dim {dim} of size {self.shape[d]} "
                             f"(min {int(index.data.min())}, max {int(index.data.max())})")
        idx = Tensor._from_op(index.data % max(self.shape[d], 1), None, None)
        return select.Gather.apply(self, idx, dim=d)

    def masked_fill(self, mask, value):
        """``value`` where the bool ``mask`` (broadcastable to this shape) is True, else this tensor."""
        if not isinstance(mask, Tensor) or mask.dtype != dtypes.bool:
            raise TypeError(f"masked_fill: mask must be a bool Tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
        check_same_device("masked_fill", self, mask)
        try:
            ok = np.broadcast_shapes(mask.shape, self.shape) == self.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"masked_fill: mask of shape {mask.shape} can't be broadcast to the input's shape {self.shape}")
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise ValueError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
            value = value.item()
        return select.MaskedFill.apply(self, mask, value=value)

    def cumsum(self, dim, dtype=None):
        """Running sum along ``dim`` (integer and bool inputs give int64, as PyTorch)."""
        d = _dim(dim, self.ndim, "cumsum")
        dtype = dtypes.as_dtype(dtype) or (self.dtype if dtypes.is_floating(self.dtype) else dtypes.int64)
        x = self.astype(dtype) if dtypes.is_floating(dtype) else self
        return scan.CumSum.apply(x, axis=d, dtype=dtype)

    def logsumexp(self, dim, keepdim=False):
        """log(sum(exp(x))) over ``dim`` without overflow (``-inf`` over a zero-length dim)."""
        x = self if dtypes.is_floating(self.dtype) else self.astype(dtypes.float32)
        axis = _normalize_axis(dim, self.ndim, "logsumexp") or ()
        return reduce.LogSumExp.apply(x, axis=axis, keepdims=keepdim)

    def norm(self, p=2, dim=None, keepdim=False):
        """The p-norm over ``dim`` (all elements when None): ``p`` a positive number, ``inf`` or ``"fro"`` (= 2)."""
        if not dtypes.is_floating(self.dtype):
            raise TypeError(f"norm: input dtype should be floating point, got {self.dtype}")
        p = 2 if p == "fro" or p is None else p
        if isinstance(p, str) or isinstance(p, bool) or not p > 0:
            raise ValueError(f"norm: p must be a positive number, inf or 'fro', got {p!r}")
        return reduce.Norm.apply(self, p=float(p), axis=_normalize_axis(dim, self.ndim, "norm"), keepdims=keepdim)

    def _triangle(self, diagonal, upper):
        if self.ndim < 2:
            raise ValueError(f"{'triu' if upper else 'tril'}: input must have at least 2 dims, got shape {self.shape}")
        return select.Triangle.apply(self, diagonal=int(diagonal), upper=upper)

    def tril(self, diagonal=0):
        """The lower triangle of the last two dims (elements with ``j - i <= diagonal``), zeros elsewhere."""
        return self._triangle(diagonal, False)

    def triu(self, diagonal=0):
        """The upper triangle of the last two dims (elements with ``j - i >= diagonal``), zeros elsewhere."""
        return self._triangle(diagonal, True)

    def log1p(self):
        return self._float_unary(ew.Log1p)

    def expm1(self):
        return self._float_unary(ew.Expm1)

    def argsort(self, dim=-1, descending=False, stable=False):
        """Indices that sort along ``dim`` (ties keep their order; NaN counts as the largest value)."""
        d = _dim(dim, self.ndim, "argsort")
        if self.ndim == 0:
            return Tensor._from_op(self._xp.zeros((), dtype=np.int64), None, None)
        xp = self._xp
        data = self.data if self.dtype != dtypes.bool else self.data.astype(np.int8)
        if descending:  # reversed ascending order of the reversed input keeps ties in order
            n = self.shape[d]
            idx = n - 1 - xp.flip(xp.argsort(xp.flip(data, axis=d), axis=d, kind="stable"), axis=d)
        else:
            idx = xp.argsort(data, axis=d, kind="stable")
        return Tensor._from_op(idx.astype(np.int64), None, None)

    def sort(self, dim=-1, descending=False, stable=False):
        """``(values, indices)`` sorted along ``dim``; the gradient scatters back to the indices."""
        idx = self.argsort(dim, descending)
        if self.ndim == 0:
            return MaxMinResult(self, idx)
        return MaxMinResult(select.Sort.apply(self, idx, dim=_dim(dim, self.ndim, "sort")), idx)

    def topk(self, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - PyTorch's names
        """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``, in sorted order."""
        d = _dim(dim, self.ndim, "topk")
        n = self.shape[d] if self.ndim else 1
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
            raise RuntimeError(f"topk: k ({k!r}) out of range for dim {dim} of size {n} (shape {self.shape})")
        if self.ndim == 0:
            return MaxMinResult(self, Tensor._from_op(self._xp.zeros((), dtype=np.int64), None, None))
        idx = self.argsort(d, descending=largest).data[(slice(None),) * d + (slice(0, int(k)),)]
        idx = Tensor._from_op(self._xp.ascontiguousarray(idx), None, None)
        return MaxMinResult(select.TopK.apply(self, idx, dim=d), idx)

    def isnan(self):
        return Tensor._from_op(self._xp.isnan(self.data), None, None)

    def isinf(self):
        return Tensor._from_op(self._xp.isinf(self.data), None, None)

    def isfinite(self):
        return Tensor._from_op(self._xp.isfinite(self.data), None, None)


autograd.register_tensor_class(Tensor)


def _broadcasts_to(shape_from, shape_to):
    """Whether ``shape_from`` broadcasts to exactly ``shape_to``."""
    try:
        return np.broadcast_shapes(shape_from, shape_to) == tuple(shape_to)
    except ValueError:
        return False


class _HookHandle:
    """Returned by ``register_hook``: ``remove()`` unregisters the hook."""

    def __init__(self, hooks, fn):
        self._hooks, self._fn = hooks, fn

    def remove(self):
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


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

    def backward_graph(self, gy):
        return _ToDevice.apply(gy, device=self.src)
