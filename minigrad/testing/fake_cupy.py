"""A simulated CuPy for test runs on machines without a GPU.

``MINIGRAD_SIMULATED_CUDA=1`` (read once when ``minigrad.backend`` is imported; ``make test-device``
sets it) makes this module the array module of the ``"cuda"`` device. It computes with NumPy
underneath but keeps the rules of CuPy 13 that catch device bugs in code written for NumPy:

* ``ndarray`` is its own type, not a ``numpy.ndarray``; ``numpy.asarray(a)`` (and anything else that
  needs ``__array__``) raises ``TypeError``: a device array reaches the host only through
  ``a.get()`` / ``cupy.asnumpy(a)``.
* A NumPy array of one or more dimensions mixed into a device expression (``a + host``,
  ``cupy.where(host_mask, a, 0)``, ``cupy.concatenate([a, host])``) raises ``TypeError``; so does a
  Python list as a ufunc operand. NumPy scalars and 0-d arrays are accepted, as CuPy accepts them.
  Host arrays are accepted where CuPy copies them to the device itself: ``cupy.array`` /
  ``cupy.asarray``, and inside an index or as the value of ``a[index] = value``.
* Reductions and full integer indexing give 0-d device arrays, never NumPy scalars.
* ``cupy.asarray(host)`` always copies (device memory never aliases host memory).
* NumPy functions called on device arrays dispatch (``__array_function__``/``__array_ufunc__``) to
  the CuPy function of the same name, and raise ``TypeError`` when CuPy has none.
* Ufunc methods: only ``at`` for the ufuncs CuPy scatters with (``add``, ``subtract``, ``maximum``,
  ``minimum``, bitwise); ``reduce``/``accumulate``/``reduceat``/``outer`` are not offered.
* ``cupyx.scatter_add``, ``cupy.lib.stride_tricks.as_strided``, ``cupy.cuda.Device``,
  ``cupy.cuda.runtime.getDeviceCount`` and ``cupy.random`` (its own stream, separate from NumPy's).
* Boolean-mask indexing accepts one mask array and no other index array (CuPy's limit).

It is a test double, not a GPU: speed, streams, memory pools and kernels are not simulated.
"""
import operator
import types
import weakref

import numpy as _np

__all__ = ["cupy", "cupyx"]


def _type_error(what):
    return TypeError(
        f"Unsupported type {what} (simulated CuPy: a host array or list cannot be mixed with device arrays; "
        "move it with cupy.asarray first)"
    )


# ---------------------------------------------------------------- wrapping / unwrapping
def _wrap(value):
    """NumPy results -> device arrays (scalars become 0-d arrays, as CuPy returns them)."""
    if isinstance(value, _np.ndarray):
        return ndarray._of(value)
    if isinstance(value, _np.generic):
        return ndarray._of(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value):
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, tuple):
        return tuple(_unwrap(v) for v in value)
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _reject_host(values, lists_too=False):
    """Raise when a host array (>0-d) hides in ``values`` (lists and tuples are searched)."""
    for v in values:
        if isinstance(v, _np.ndarray) and v.ndim > 0:
            raise _type_error("<class 'numpy.ndarray'>")
        if isinstance(v, (list, tuple)):
            if lists_too:
                raise _type_error(f"<class '{type(v).__name__}'>")
            _reject_host(v)


_UFUNC_KWARGS = {"out", "casting", "dtype"}
_NO_KWARGS = {"where", "initial"}  # reductions and functions: CuPy 13 has neither (copyto aside)


def _check_kwargs(name, kwargs, allowed=None):
    bad = sorted(k for k in kwargs if (k not in allowed if allowed is not None else k in _NO_KWARGS))
    if bad and not (name == "copyto" and bad == ["where"]):
        raise TypeError(f"{name}: wrong arguments {bad} (not supported by CuPy; simulated CuPy)")


def _check_dtype(dtype):
    if dtype is not None and _np.dtype(dtype).kind in "OSUVM":
        raise ValueError(f"Unsupported dtype {_np.dtype(dtype)} (CuPy supports numeric and bool dtypes only)")


# ---------------------------------------------------------------- the device array
_owners = weakref.WeakValueDictionary()  # id(NumPy array owning memory) -> its device array
class _MemoryPointer:
    """Stand-in for ``cupy.cuda.MemoryPointer`` (``ndarray.data``): not a host buffer."""

    def __init__(self, array):
        self.ptr = array.__array_interface__["data"][0]
        self.device = Device(0)


class ndarray:
    """Device array of the simulated CuPy (holds a NumPy array ``_a``; see the module docstring)."""

    __slots__ = ("_a", "__weakref__")
    __hash__ = None

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        _check_dtype(dtype)
        self._a = _np.empty(shape, dtype=dtype, order=order)

    @classmethod
    def _of(cls, array):
        out = cls.__new__(cls)
        out._a = array
        if array.base is None and id(array) not in _owners:
            _owners[id(array)] = out  # views' .base answers with this object
        return out

    # -- attributes CuPy has
    shape = property(lambda self: self._a.shape)

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray._of(self._a.T))
    mT = property(lambda self: ndarray._of(_np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: ndarray._of(self._a.real))
    imag = property(lambda self: ndarray._of(self._a.imag))
    @property
    def base(self):
        """The device array owning this view's memory (one object per owner, as in CuPy), or None."""
        root = self._a
        while getattr(root, "base", None) is not None:
            root = root.base
        if root is self._a:
            return None
        owner = _owners.get(id(root))
        if owner is None or owner._a is not root:
            owner = ndarray._of(root)
        return owner
    device = property(lambda self: Device(0))
    data = property(lambda self: _MemoryPointer(self._a))

    def __getattr__(self, name):
        if name.startswith("__") or name in _NDARRAY_MISSING:
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}'")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args, **kwargs):
            _check_kwargs(name, kwargs)
            if name == "repeat" and args and isinstance(args[0], ndarray):
                raise ValueError("cupy.ndarray cannot be specified as `repeats` argument.")
            _reject_host(args)
            _reject_host(kwargs.values())
            return _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))

        method.__name__ = name
        return method

    # -- host transfers (explicit only)
    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            out[...] = self._a
            return out
        return _np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None):
        if not isinstance(arr, _np.ndarray):
            raise TypeError(f"Only numpy.ndarray can be set to cupy.ndarray, got {type(arr)}")
        if arr.shape != self.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        self._a[...] = arr

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "Implicit conversion to a NumPy array is not allowed. Please use `.get()` to construct a NumPy array "
            "explicitly. (simulated CuPy)"
        )

    # -- NumPy dispatch: np.f(device_array) runs cupy.f, as with CuPy
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fake = _ufunc(ufunc.__name__)
        if fake is None:
            return NotImplemented
        if method == "__call__":
            return fake(*inputs, **kwargs)
        if method == "at" and fake._scatter:
            return fake.at(*inputs, **kwargs)
        return NotImplemented

    def __array_function__(self, func, types, args, kwargs):
        impl = _function(func.__name__)
        if impl is None:
            return NotImplemented
        return impl(*args, **kwargs)

    # -- Python protocol
    def __len__(self):
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return self._a.shape[0]

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self._a.shape[0]))

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __complex__(self):
        return complex(self._a)

    def __index__(self):
        return operator.index(self._a)

    def __format__(self, spec):
        return format(self._a, spec)

    def __repr__(self):
        return repr(self._a)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return ndarray._of(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray._of(self._a.copy())

    def __reduce__(self):
        return (_rebuild, (self._a,))

    # -- indexing: host index arrays and values are copied to the device, as CuPy does
    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _unwrap(value)


def _rebuild(array):
    return ndarray._of(array)


def _index(key):
    parts = key if isinstance(key, tuple) else (key,)
    arrays = [p for p in parts if isinstance(p, (ndarray, _np.ndarray, list)) or isinstance(p, bool)]
    kinds = [_np.asarray(_unwrap(p)).dtype.kind for p in arrays]
    if "b" in kinds and len(arrays) > 1:
        raise ValueError("currently, CuPy only supports slices that consist of one boolean array.")
    return _unwrap(key)


def _binary(np_op, reflected=False):
    def op(self, other):
        if isinstance(other, (list, tuple)):
            raise _type_error(f"<class '{type(other).__name__}'>")
        if isinstance(other, _np.ndarray) and other.ndim > 0:
            raise _type_error("<class 'numpy.ndarray'>")
        if not isinstance(other, (ndarray, _np.ndarray, _np.generic, int, float, complex, bool)):
            return NotImplemented
        a, b = self._a, _unwrap(other)
        return _wrap(np_op(b, a) if reflected else np_op(a, b))

    return op


def _inplace(np_iop):
    def op(self, other):
        if isinstance(other, (list, tuple)):
            raise _type_error(f"<class '{type(other).__name__}'>")
        if isinstance(other, _np.ndarray) and other.ndim > 0:
            raise _type_error("<class 'numpy.ndarray'>")
        if not isinstance(other, (ndarray, _np.ndarray, _np.generic, int, float, complex, bool)):
            return NotImplemented
        np_iop(self._a, _unwrap(other))
        return self

    return op


for _name, _op in [
    ("add", operator.add), ("sub", operator.sub), ("mul", operator.mul), ("truediv", operator.truediv),
    ("floordiv", operator.floordiv), ("mod", operator.mod), ("pow", operator.pow), ("matmul", operator.matmul),
    ("and", operator.and_), ("or", operator.or_), ("xor", operator.xor),
    ("lshift", operator.lshift), ("rshift", operator.rshift),
]:
    setattr(ndarray, f"__{_name}__", _binary(_op))
    setattr(ndarray, f"__r{_name}__", _binary(_op, reflected=True))
    setattr(ndarray, f"__i{_name}__", _inplace(getattr(operator, f"i{_name}")))
for _name, _op in [("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge),
                   ("eq", operator.eq), ("ne", operator.ne)]:
    setattr(ndarray, f"__{_name}__", _binary(_op))
for _name, _op in [("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs), ("invert", operator.invert)]:
    setattr(ndarray, f"__{_name}__", (lambda f: lambda self: _wrap(f(self._a)))(_op))

# Methods of numpy.ndarray that cupy.ndarray lacks (or that expose host memory).
_NDARRAY_MISSING = {"ctypes", "tostring", "itemset", "newbyteorder", "getfield", "setfield", "dump", "dumps",
                    "partition", "searchsorted", "resize", "byteswap", "tofile"}


# ---------------------------------------------------------------- ufuncs and functions
_SCATTER_UFUNCS = {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"}


class _Ufunc:
    """A CuPy ufunc: device arrays and scalars in, device arrays out; ``at`` for scatter ufuncs only."""

    def __init__(self, np_ufunc):
        self._np = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout, self.nargs = np_ufunc.nin, np_ufunc.nout, np_ufunc.nargs
        self._scatter = np_ufunc.__name__ in _SCATTER_UFUNCS

    def __repr__(self):
        return f"<ufunc 'cupy.{self.__name__}'> (simulated)"

    def __call__(self, *args, **kwargs):
        _check_kwargs(self.__name__, kwargs, _UFUNC_KWARGS)
        _reject_host(args, lists_too=True)
        out = kwargs.get("out")
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            if not all(isinstance(o, ndarray) for o in outs):
                raise TypeError(f"{self.__name__}: out must be a cupy.ndarray (simulated CuPy)")
        res = self._np(*_unwrap(args), **_unwrap(kwargs))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(res)

    def at(self, a, indices, b=None):
        if not self._scatter:
            raise AttributeError(f"cupy.{self.__name__}.at is not supported")
        if not isinstance(a, ndarray):
            raise TypeError(f"{self.__name__}.at: a must be a cupy.ndarray (simulated CuPy)")
        _reject_host([b])
        args = () if b is None else (_unwrap(b),)
        self._np.at(a._a, _index(indices), *args)

    def __getattr__(self, name):
        raise AttributeError(f"cupy.{self.__name__}.{name} is not offered by the simulated CuPy (CuPy 13 supports "
                             "ufunc methods for selected ufuncs only; use cupy.sum/cupy.max/... instead)")


# Functions NumPy has and CuPy 13 does not (or that are host-only).
_MODULE_MISSING = {"errstate", "seterr", "geterr", "nditer", "ndenumerate", "ndindex", "frompyfunc", "fromiter",
                   "save", "savez", "savez_compressed", "load", "loadtxt", "savetxt", "genfromtxt", "fromfile",
                   "set_printoptions", "get_printoptions", "printoptions", "array2string", "memmap", "recarray",
                   "char", "rec", "ma", "ctypeslib", "object_", "str_", "bytes_", "void"}

_ufunc_cache = {}
_function_cache = {}


def _ufunc(name):
    np_ufunc = getattr(_np, name, None)
    if not isinstance(np_ufunc, _np.ufunc):
        return None
    if name not in _ufunc_cache:
        _ufunc_cache[name] = _Ufunc(np_ufunc)
    return _ufunc_cache[name]


def _array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, blocking=False):
    data = _unwrap(obj)
    out = _np.array(data, dtype=dtype, copy=True, order=order, ndmin=ndmin)
    _check_dtype(out.dtype)
    if not copy and isinstance(obj, ndarray) and out.dtype == obj.dtype:
        return obj
    return ndarray._of(out)


def _asarray(a, dtype=None, order=None, copy=None, blocking=False):
    if isinstance(a, ndarray):
        if (dtype is None or _np.dtype(dtype) == a.dtype) and not copy:
            return a
        return ndarray._of(_np.array(a._a, dtype=dtype, copy=True))
    return _array(a, dtype=dtype)


def _function(name, module=_np):
    """The CuPy counterpart of NumPy function ``name`` (None when CuPy has none)."""
    if name in _MODULE_MISSING:
        return None
    key = (module.__name__, name)
    if key in _function_cache:
        return _function_cache[key]
    if module is _np and name == "array":
        impl = _array
    elif module is _np and name in ("asarray", "asanyarray"):
        impl = _asarray
    else:
        fn = getattr(module, name, None)
        if fn is None or not callable(fn) or isinstance(fn, type):
            return None
        if isinstance(fn, _np.ufunc):
            return _ufunc(name)

        def impl(*args, **kwargs):
            _check_kwargs(name, kwargs)
            if name == "repeat" and isinstance(kwargs.get("repeats", args[1] if len(args) > 1 else None), ndarray):
                raise ValueError("cupy.ndarray cannot be specified as `repeats` argument.")
            _reject_host(args)
            _reject_host(kwargs.values())
            if "dtype" in kwargs:
                _check_dtype(kwargs["dtype"])
            out = kwargs.get("out")
            res = fn(*_unwrap(args), **_unwrap(kwargs))
            return out if isinstance(out, ndarray) else _wrap(res)

        impl.__name__ = name
    _function_cache[key] = impl
    return impl


class _Namespace(types.ModuleType):
    """A module of the simulated CuPy that mirrors a NumPy module (``numpy``, ``numpy.linalg``, ...)."""

    def __init__(self, name, np_module, extras=None, missing=()):
        super().__init__(name)
        self._np_module = np_module
        self._missing = set(missing)
        for k, v in (extras or {}).items():
            setattr(self, k, v)

    def __getattr__(self, name):
        if name.startswith("__") or name in self._missing:
            raise AttributeError(f"module '{self.__name__}' has no attribute '{name}' (simulated CuPy)")
        attr = getattr(self._np_module, name)
        if isinstance(attr, _np.ufunc):
            return _ufunc(name)
        if isinstance(attr, (type, types.ModuleType)) or not callable(attr):
            if isinstance(attr, types.ModuleType):
                raise AttributeError(f"module '{self.__name__}' has no attribute '{name}' (simulated CuPy)")
            return attr
        return _function(name, self._np_module)


# ---------------------------------------------------------------- cupy.cuda
class Device:
    """``cupy.cuda.Device``: a context manager; the simulated machine has one device, id 0."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if not 0 <= self.id < _DEVICE_COUNT:
            raise RuntimeError(f"cudaErrorInvalidDevice: invalid device ordinal {self.id} (simulated CuPy)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def use(self):
        pass

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}> (simulated)"


_DEVICE_COUNT = 1


class _MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_memory_pool = _MemoryPool()

cuda = types.ModuleType("cupy.cuda")
cuda.Device = Device
cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: _DEVICE_COUNT)
cuda.is_available = lambda: True
cuda.get_device_id = lambda: 0
cuda.get_default_memory_pool = lambda: _memory_pool
cuda.get_current_stream = lambda: types.SimpleNamespace(synchronize=lambda: None)


# ---------------------------------------------------------------- cupy.random (its own stream)
# CuPy's generator (cuRAND XORWOW) gives other numbers than NumPy's PCG64 for the same seed; Philox
# stands in for it, so code that draws on the wrong side shows up as a CPU/device mismatch.
_rng = _np.random.Generator(_np.random.Philox())


def _seed(seed=None):
    global _rng
    _rng = _np.random.Generator(_np.random.Philox(seed))


def _random(size=None, dtype=float):
    return _wrap(_np.asarray(_rng.random(size, dtype=_np.dtype(dtype))))


random = types.ModuleType("cupy.random")
random.seed = _seed
random.random = _random
random.random_sample = _random
random.rand = lambda *size, dtype=float: _random(size or None, dtype)
random.standard_normal = lambda size=None, dtype=float: _wrap(_np.asarray(_rng.standard_normal(size, dtype=_np.dtype(dtype))))
random.randn = lambda *size, dtype=float: random.standard_normal(size or None, dtype)
random.normal = lambda loc=0.0, scale=1.0, size=None, dtype=float: _wrap(_np.asarray(_rng.normal(loc, scale, size).astype(dtype)))
random.uniform = lambda low=0.0, high=1.0, size=None, dtype=float: _wrap(_np.asarray(_rng.uniform(low, high, size).astype(dtype)))
random.randint = lambda low, high=None, size=None, dtype=int: _wrap(_np.asarray(_rng.integers(low, high, size, dtype=dtype)))
random.permutation = lambda x: _wrap(_rng.permutation(_unwrap(x)))


# ---------------------------------------------------------------- cupy.lib.stride_tricks
def _as_strided(x, shape=None, strides=None):
    if not isinstance(x, ndarray):
        raise TypeError("as_strided: x must be a cupy.ndarray (simulated CuPy)")
    return ndarray._of(_np.lib.stride_tricks.as_strided(x._a, shape=shape, strides=strides))


lib = types.ModuleType("cupy.lib")
lib.stride_tricks = types.SimpleNamespace(as_strided=_as_strided)


# ---------------------------------------------------------------- the module objects
def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args):
    return cupy if any(isinstance(a, ndarray) for a in args) else _np


cupy = _Namespace(
    "cupy", _np, missing=_MODULE_MISSING,
    extras=dict(
        ndarray=ndarray, asnumpy=asnumpy, get_array_module=get_array_module, cuda=cuda, random=random, lib=lib,
        linalg=_Namespace("cupy.linalg", _np.linalg), fft=_Namespace("cupy.fft", _np.fft),
        array=_array, asarray=_asarray, asanyarray=_asarray, __version__="13.0.0-simulated", _simulated=True,
    ),
)


def _scatter(np_ufunc):
    def scatter(a, slices, value):
        if not isinstance(a, ndarray):
            raise TypeError("scatter: a must be a cupy.ndarray (simulated CuPy)")
        np_ufunc.at(a._a, _index(slices), _unwrap(value))

    return scatter


cupyx = types.ModuleType("cupyx")
cupyx.scatter_add = _scatter(_np.add)
cupyx.scatter_max = _scatter(_np.maximum)
cupyx.scatter_min = _scatter(_np.minimum)
cupyx.errstate = _np.errstate
