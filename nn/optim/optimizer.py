"""``Optimizer``: the base class of SGD, Adam and AdamW, as in ``torch.optim``.

An optimizer holds *parameter groups*: dicts with a ``"params"`` list and the hyper-parameters for
those parameters (``lr``, ``momentum``, ...). ``step()`` updates every parameter that has a
gradient, IN PLACE on ``p.data`` (the model and the optimizer hold the same Parameter objects).
Per-parameter memory (momentum buffers, Adam's moments) lives in ``state[p]``.

Updates never write into ``p.grad`` (a gradient array may be shared); they work in optimizer-owned
arrays with ``out=`` and in-place ops, so a step allocates nothing after the first one.

Checkpoints: ``state_dict()`` has PyTorch's nested form
``{"state": {0: {"momentum_buffer": Tensor, ...}, ...}, "param_groups": [{"lr": ..., "params": [0, 1]}]}``
where parameters are numbered in group order. ``nn.save(opt.state_dict(), path)`` flattens it to keys
like ``state.0.momentum_buffer`` and ``param_groups.0.lr``; ``opt.load_state_dict(nn.load(path))``
accepts that flat form and rebuilds the nested one.
"""
import collections
import numbers

from minigrad import backend, dtypes
from minigrad.kernels import memory
from minigrad.tensor import Tensor

from ..serialization import unflatten_state

__all__ = ["Optimizer"]

_SET_MESSAGE = ("optimizer parameters need to be organized in ordered collections, but the ordering of "
                "tensors in sets will change between runs; use a list instead")


class Optimizer:
    """Base class: subclasses pass their ``defaults`` (hyper-parameters) and implement ``step``."""

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = collections.defaultdict(dict)  # Parameter -> dict (Tensors hash by identity)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or dicts, got a Tensor")
        if isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group (a dict with ``"params"``); missing hyper-parameters take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(_SET_MESSAGE)
        params = list(params) if params is not None else []
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same parameter twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        group["params"] = params
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group)
        self.param_groups.append(group)

    def _check_hyperparameters(self, group):
        if group["lr"] < 0:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {group['lr']}")
        if group.get("weight_decay", 0) < 0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay value {group['weight_decay']}")

    def zero_grad(self, set_to_none=True):
        """Drop every parameter's ``.grad`` (or, with ``set_to_none=False``, make it zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:  # a fresh array: the old one may be shared with another tensor
                    p.grad = Tensor._from_op(p.grad._xp.zeros_like(p.grad.data), None, None)

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ scratch memory
    def _scratch_like(self, x, slot):
        """A scratch array shaped like ``x`` (same dtype and device) for a temporary of the step.

        It comes from the kernels' allocator (``minigrad.kernels.memory.scratch``): one buffer per
        slot, sized for the largest parameter, reused for all, so a step allocates no temporaries."""
        return memory.scratch(x.shape, x.dtype, backend.get_array_module(x), slot=("optimizer", slot))

    # ------------------------------------------------------------ checkpoints
    def state_dict(self):
        """PyTorch's form: ``{"state": {index: {name: Tensor or number}}, "param_groups": [...]}``.

        The Tensors share the optimizer's arrays (like PyTorch): save or copy them to keep a snapshot."""
        index = {}
        groups = []
        for group in self.param_groups:
            g = {k: v for k, v in group.items() if k != "params"}
            g["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                g["params"].append(index[id(p)])
            groups.append(g)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    state[index[id(p)]] = {
                        k: Tensor._from_op(v, None, None) if backend.is_array(v) else v
                        for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore from ``state_dict()`` output, or from its flat form as returned by ``nn.load``.

        Arrays are copied onto each parameter's device; floating state takes the parameter's dtype.
        The groups must match this optimizer's (same count and sizes)."""
        if "param_groups" not in state_dict:
            state_dict = unflatten_state(state_dict)
        saved_groups = state_dict.get("param_groups")
        if not isinstance(saved_groups, list) or len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{type(self).__name__}.load_state_dict: loaded state dict has a different number of "
                             f"parameter groups ({len(saved_groups or [])} vs {len(self.param_groups)})")
        index_to_param = {}
        for saved, group in zip(saved_groups, self.param_groups):
            ids = [int(i) for i in _as_list(saved.get("params", []))]
            if len(ids) != len(group["params"]):
                raise ValueError(f"{type(self).__name__}.load_state_dict: loaded state dict contains a parameter "
                                 f"group that doesn't match the size of optimizer's group ({len(ids)} vs "
                                 f"{len(group['params'])})")
            index_to_param.update(zip(ids, group["params"]))
        saved_state = state_dict.get("state", {})
        unknown = [k for k in saved_state if int(k) not in index_to_param]
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state for unknown parameter indices {unknown}")

        # everything is converted and checked first, so a bad checkpoint changes nothing
        new_state = collections.defaultdict(dict)
        for k, entry in saved_state.items():
            p = index_to_param[int(k)]
            new_state[p] = {name: _as_state_value(v, p, name, type(self).__name__, int(k)) for name, v in entry.items()}
        new_groups = [{k: _as_hyperparameter(v) for k, v in saved.items() if k != "params"} for saved in saved_groups]
        for group, values in zip(self.param_groups, new_groups):
            group.update(values)
        self.state = new_state

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        lines.append(")")
        return "\n".join(lines)


def _as_list(v):
    if isinstance(v, Tensor):
        v = v.data
    if backend.is_array(v):
        return backend.to_numpy(v).reshape(-1).tolist()
    return list(v)


def _as_hyperparameter(v):
    """Checkpoint value -> Python number, bool or tuple (betas)."""
    if isinstance(v, Tensor):
        v = v.data
    if backend.is_array(v):
        v = backend.to_numpy(v)
        return v.item() if v.ndim == 0 else tuple(v.tolist())
    if isinstance(v, list):
        return tuple(v)
    return v


def _as_state_value(v, p, name, optimizer="Optimizer", index=None):
    """Checkpoint value -> optimizer state: arrays copied to ``p``'s device (floating ones in ``p``'s
    dtype); 0-d ``step`` counters become Python numbers. An array of another shape than its
    parameter raises ``ValueError``."""
    if isinstance(v, Tensor):
        v = v.data
    if backend.is_array(v):
        if v.ndim == 0 and name == "step":
            return v.item()
        if tuple(v.shape) != p.shape:
            raise ValueError(f"{optimizer}.load_state_dict: state {name!r} of parameter {index} has shape "
                             f"{tuple(v.shape)}, but the parameter has shape {p.shape}")
        arr = backend.to_device(v, p.device)
        if dtypes.is_floating(arr.dtype) and arr.dtype != p.dtype:
            arr = arr.astype(p.dtype)
        return arr.copy() if arr is v else arr
    if isinstance(v, numbers.Number):
        return v
    raise TypeError(f"optimizer state {name!r}: unsupported value of type {type(v).__name__}")
