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
    if cond.dtype != dtypes.bool:
        raise TypeError(f"where: expected condition to be a bool tensor, but got a tensor with dtype {cond.dtype}")
    check_same_device("where", cond, a, b)
    a, b = _same_dtype("where", [a, b])
    return ew.Where.apply(Tensor._from_op(cond.data.astype(bool), None, None), a, b)


def maximum(input, other):  # noqa: A002
    return input._binary(other, ew.Maximum, "maximum")


def minimum(input, other):  # noqa: A002
    return input._binary(other, ew.Minimum, "minimum")


# ------------------------------------------------------------------ PyTorch habits


def from_numpy(array):
    """A tensor that SHARES memory with the NumPy ``array`` (as ``torch.from_numpy``): writing to one
    shows in the other. The dtype is kept (float64 stays float64)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"from_numpy: can't convert an array of dtype {array.dtype}; numeric and bool arrays only")
    return Tensor._from_op(array, None, None)


def as_tensor(data, dtype=None, device=None):
    """``data`` as a Tensor, without copying when it can (as ``torch.as_tensor``): a Tensor of the right
    dtype and device is returned as is, a NumPy array of the right dtype on the CPU is shared;
    anything else is converted (a copy)."""
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    if backend.is_array(data):
        dev = backend.device_of(data) if device is None else backend.parse_device(device)
        return Tensor(data, dtype=dtype, device=dev)
    return Tensor(data, dtype=dtype, device=device)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32 by default)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    dtype = dtypes.as_dtype(dtype) or dtypes.float32
    return _make(np.linspace(float(start), float(end), int(steps)).astype(dtype), None, device, requires_grad)


def randperm(n, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of ``0 .. n-1`` (int64), from ``generator`` or minigrad's generator."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative integer, got {n!r}")
    dtype = dtypes.as_dtype(dtype) or dtypes.int64
    perm = backend.numpy_generator(generator).permutation(int(n)).astype(dtype)
    return _make(perm, None, device, requires_grad)


def bmm(input, mat2):  # noqa: A002 - PyTorch's names
    """Batched matrix product: (b, n, m) @ (b, m, p) -> (b, n, p), no broadcasting."""
    for name, t in (("input", input), ("mat2", mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"bmm: {name} must be a Tensor, got {type(t).__name__}")
        if t.ndim != 3:
            raise ValueError(f"bmm: {name} must be a 3-D tensor, got shape {t.shape}")
    if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
        raise ValueError(f"bmm: shapes {input.shape} and {mat2.shape} don't match (expected (b, n, m) and (b, m, p))")
    return input.matmul(mat2)


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _explicit_equation(equation, shapes):
    """Rewrite an einsum equation without ``...`` and with ``->``; check the letters' sizes."""
    eq = equation.replace(" ", "")
    ins, arrow, out = eq.partition("->")
    subs = ins.split(",")
    if len(subs) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} has {len(subs)} operands, but {len(shapes)} were given")
    for s in subs + ([out] if arrow else []):
        if any(c not in _LETTERS for c in s.replace("...", "")) or s.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {s!r} in {equation!r}")
    free = iter([c for c in _LETTERS if c not in eq])
    n_ell = max((len(shape) - len(s.replace("...", "")) for s, shape in zip(subs, shapes) if "..." in s), default=0)
    ell = "".join(next(free) for _ in range(n_ell))
    sizes = {}
    explicit = []
    for k, (s, shape) in enumerate(zip(subs, shapes)):
        if "..." in s:
            n = len(shape) - len(s) + 3
            if n < 0:
                raise ValueError(f"einsum: operand {k} of shape {shape} has fewer dims than {s!r}")
            s = s.replace("...", ell[len(ell) - n:])
        if len(s) != len(shape):
            raise ValueError(f"einsum: operand {k} has {len(shape)} dims (shape {shape}) but subscripts {s!r}")
        for c, n in zip(s, shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: letter {c!r} has size {sizes[c]} and {n} in {equation!r} (shapes {shapes}); "
                                 "broadcasting size-1 dims is not supported")
        explicit.append(s)
    if arrow:
        out = out.replace("...", ell)
        if any(c not in sizes for c in out) or len(set(out)) != len(out):
            raise ValueError(f"einsum: output subscripts {out!r} must be distinct letters of the inputs in {equation!r}")
    else:  # implicit mode: the ellipsis letters, then letters seen once, in alphabetical order
        counts = "".join(explicit)
        out = ell + "".join(sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ell))
    return ",".join(explicit) + "->" + out


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum`` (``"bij,bjk->bik"``, implicit output, ``...``).

    The backward of each operand is itself an einsum (see ``ops.linalg.Einsum``). Operands are
    promoted to one dtype; letters must agree in size (no broadcasting of size-1 dims)."""
    from .ops import linalg

    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: expected at least one operand")
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum: operand {i} must be a Tensor, got {type(t).__name__}")
    eq = _explicit_equation(equation, [t.shape for t in operands])
    return linalg.Einsum.apply(*_same_dtype("einsum", list(operands)), equation=eq)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):  # noqa: A002
    """``|input - other| <= atol + rtol * |other|`` everywhere (a Python bool)."""
    a = input.data if isinstance(input, Tensor) else np.asarray(input)
    b = other.data if isinstance(other, Tensor) else np.asarray(other)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"allclose: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together") from None
    xp = backend.get_array_module(a, b)
    return bool(xp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values of ``input`` (flattened when ``dim`` is None), sorted; optionally the
    inverse indices (``input`` rebuilt as ``values[inverse]``) and each value's count. No gradient."""
    xp = input._xp
    out = xp.unique(input.data, return_inverse=return_inverse, return_counts=return_counts, axis=dim)
    if not (return_inverse or return_counts):
        return Tensor._from_op(out, None, None)
    values, rest = out[0], list(out[1:])
    result = [Tensor._from_op(values, None, None)]
    if return_inverse:
        inv = rest.pop(0)
        shape = input.shape if dim is None else (input.shape[dim],)
        result.append(Tensor._from_op(inv.reshape(shape).astype(np.int64), None, None))
    if return_counts:
        result.append(Tensor._from_op(rest.pop(0).astype(np.int64), None, None))
    return tuple(result)
