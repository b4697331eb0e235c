"""``Module`` and ``Parameter``: the building blocks of every model, as in ``torch.nn``.

A ``Module`` keeps three ordered registries, filled by plain attribute assignment:

- ``_parameters``: name -> ``Parameter`` (a leaf tensor the optimizer updates),
- ``_buffers``: name -> ``Tensor`` (state that is not trained, e.g. BatchNorm's running mean),
- ``_modules``: name -> sub-``Module``.

``self.weight = Parameter(...)`` lands in ``_parameters``, ``self.conv = Conv2d(...)`` in
``_modules``, and ``self.register_buffer("running_mean", t)`` in ``_buffers``; everything else is an
ordinary attribute. Registered names are found again by ``__getattr__`` (called by Python only when
normal lookup fails), so each value lives in exactly one place.

Walking these registries depth first gives the dotted names (``layer1.0.conv1.weight``) of
``named_parameters``, ``named_buffers``, ``named_modules`` and ``state_dict``.
"""
import collections
import itertools

import numpy as np

from minigrad import autograd, backend, dtypes
from minigrad.tensor import Tensor

__all__ = ["Module", "Parameter"]


class Parameter(Tensor):
    """A Tensor that is a module's trainable weight: a leaf with ``requires_grad=True`` by default.

    ``Parameter(data)`` shares ``data``'s array (a Tensor or a backend array); it is never part of a
    graph, even when ``data`` was computed by one.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=dtypes.float32)
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class _RemovableHandle:
    """Returned by ``register_forward_hook``; ``remove()`` unregisters the hook."""

    _ids = itertools.count()

    def __init__(self, hooks):
        self._hooks = hooks
        self.id = next(self._ids)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class _KeyError(KeyError):
    """A KeyError whose message prints as written (KeyError would show its repr, newlines escaped)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


IncompatibleKeys = collections.namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _is_dtype_name(name):
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of layers and models: subclass it, call ``super().__init__()``, assign Parameters
    and sub-modules as attributes, and define ``forward``. Call the module (``m(x)``), not ``forward``:
    ``__call__`` also runs the forward hooks and tells graph drawings which module an op belongs to.
    """

    def __init__(self):
        d = self.__dict__  # set directly: __setattr__ below needs these to exist
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers"] = set()
        d["_modules"] = {}
        d["_forward_hooks"] = {}

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        token = autograd.push_scope(self)  # graph drawings group the ops made inside this call
        try:
            out = self.forward(*args, **kwargs)
            if self._forward_hooks:
                for hook in list(self._forward_hooks.values()):
                    result = hook(self, args, out)
                    if result is not None:
                        out = result
        finally:
            autograd.pop_scope(token)
        return out

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            d["_modules"][name] = value
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(nn.Module or None expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name, keep):
        """Remove ``name`` from the instance dict and the other registries before registering it in
        ``keep`` (where a re-assigned name keeps its place in the order)."""
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            if store != keep:
                d[store].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            registry = d.get(store)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            registry = d.get(store)
            if registry is not None and name in registry:
                del registry[name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        names = list(super().__dir__())
        for store in ("_parameters", "_buffers", "_modules"):
            names += list(self.__dict__.get(store, ()))
        return sorted(set(names))

    def _check_new_name(self, name, kind):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name can't be empty or contain '.', got {name!r}")

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter or None) under ``name``."""
        self._check_new_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' (nn.Parameter or None expected)")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register ``tensor`` (a Tensor or None) as a buffer: moved by ``to()``, saved by
        ``state_dict()`` when ``persistent``, never returned by ``parameters()``."""
        self._check_new_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' as buffer '{name}' (Tensor or None expected)")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Register ``module`` (a Module or None) as the child ``name``."""
        self._check_new_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The sub-module at dotted path ``target`` (``""`` is self)."""
        module = self
        for item in target.split(".") if target else ():
            child = module._modules.get(item)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no submodule '{item}' (looking up '{target}')")
            module = child
        return module

    # ------------------------------------------------------------ walking the tree
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """``(dotted name, module)`` for self and every descendant, depth first in definition order;
        a module reachable twice is yielded once unless ``remove_duplicate=False``."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, store, prefix, recurse, remove_duplicate):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[store].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """``(dotted name, Parameter)`` pairs; a shared Parameter appears once (first name)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------ modes and gradients
    def train(self, mode=True):
        """Set training mode (``self.training``) here and in every descendant; returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(): mode is expected to be a bool, got {type(mode).__name__}")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self):
        """``train(False)``: BatchNorm uses its running statistics, Dropout does nothing."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's ``.grad`` (or, with ``set_to_none=False``, make it zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:  # a fresh array: the old one may be shared with another tensor
                p.grad = Tensor._from_op(p.grad._xp.zeros_like(p.grad.data), None, None)

    def apply(self, fn):
        """Call ``fn(module)`` on every descendant (children first) and on self; returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def register_forward_hook(self, hook):
        """``hook(module, input, output)`` runs after each ``forward``; ``input`` is the tuple of
        positional arguments. A non-None return value replaces the output. Returns a handle with
        ``remove()``."""
        handle = _RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------ devices and dtypes
    def to(self, *args, **kwargs):
        """``to(device)``, ``to(dtype)`` or both: move/cast every parameter and buffer IN PLACE
        (Parameter objects are kept, their ``.data`` replaced, so optimizers holding them still
        work). A dtype applies to floating point tensors only. Returns self."""
        device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"Module.to(): unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, bool):  # positional non_blocking
                continue
            if isinstance(a, backend.device) or (
                    isinstance(a, str) and (a == "cpu" or a.startswith("cuda") or not _is_dtype_name(a))):
                device = a
            else:
                dtype = a
        device = None if device is None else backend.parse_device(device)
        dtype = dtypes.as_dtype(dtype)
        if dtype is not None and not dtypes.is_floating(dtype):
            raise TypeError(f"Module.to() only accepts floating point dtypes, got {dtype}")

        def convert(t):
            if t is None:
                return
            arr = t.data
            if dtype is not None and dtypes.is_floating(arr.dtype) and arr.dtype != dtype:
                arr = arr.astype(dtype)
            if device is not None:
                arr = backend.to_device(arr, device)
            t.data = arr

        for module in self.modules():
            for p in module._parameters.values():
                if p is not None:
                    convert(p)
                    convert(p.grad)
            for b in module._buffers.values():
                convert(b)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    # ------------------------------------------------------------ state dict
    def _state_items(self, prefix=""):
        """``(key, tensor)`` for this module's parameters then persistent buffers, then each child's,
        recursively: PyTorch's state_dict order. Shared tensors appear under every name."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers:
                yield prefix + name, b
        for name, module in self._modules.items():
            if module is not None:
                yield from module._state_items(prefix + name + ".")

    def state_dict(self, prefix="", keep_vars=False):
        """An ordered dict of dotted name -> Tensor for every parameter and persistent buffer.

        As in PyTorch the tensors are detached but SHARE their arrays with the module: training on
        changes them too. Copy (``nn.save``, or ``{k: v.clone() ...}``) to keep a snapshot.
        ``keep_vars=True`` returns the Parameter objects themselves.
        """
        out = collections.OrderedDict()
        for key, t in self._state_items(prefix):
            out[key] = t if keep_vars else t.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (Tensors, NumPy/CuPy arrays or numbers) into the existing parameters and
        buffers, in place, cast to each one's dtype and device.

        Everything is validated first; on any problem nothing is changed and the error lists every
        problem: ``KeyError`` for missing or unexpected keys (only with ``strict=True``), else
        ``ValueError`` for mis-shaped values. Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        own = dict(self._state_items())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mis_shaped, bad_values, ready = [], [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            try:
                arr = value.data if isinstance(value, Tensor) else value
                if not backend.is_array(arr):
                    arr = np.asarray(arr)
                if tuple(arr.shape) != target.shape:
                    mis_shaped.append(f"{key}: checkpoint shape {tuple(arr.shape)}, model shape {target.shape}")
                    continue
                if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                    raise TypeError(f"dtype {arr.dtype} is not numeric")
                arr = backend.to_device(arr.astype(target.dtype, copy=False), target.device)
            except (TypeError, ValueError) as e:
                bad_values.append(f"{key}: {e}")
                continue
            ready.append((target, arr))
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mis_shaped:
            problems.append("mis-shaped keys: " + "; ".join(mis_shaped))
        if bad_values:
            problems.append("unusable values: " + "; ".join(bad_values))
        if problems:
            msg = f"Error(s) in loading state_dict for {type(self).__name__} (nothing was changed):\n  " + "\n  ".join(problems)
            if strict and (missing or unexpected):
                raise _KeyError(msg)
            raise ValueError(msg)
        for target, arr in ready:
            if arr is not target.data:
                target.data[...] = arr
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        """One line (or several) describing this module's settings; shown by ``repr``."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(module), 2) for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                body = extra_lines[0]
            else:
                body = "\n  " + "\n  ".join(lines) + "\n"
        return self._get_name() + "(" + body + ")"
