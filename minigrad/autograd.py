"""Reverse-mode automatic differentiation.

A ``Function`` subclass is one op: ``forward`` maps raw arrays to raw arrays and saves what the
gradient needs; ``backward`` maps the output gradients to one gradient per input, by a formula
derived by hand. Calling ``SomeOp.apply(*tensors, **params)`` runs the forward and, when a gradient
is needed, makes the Function instance the ``grad_fn`` of the outputs: a node of the graph whose
edges point at the nodes (or leaf tensors) that produced its inputs.

``backward`` walks that graph from the output without recursion, in topological order, so each
node runs once with the sum of all gradients that reach it (``b = a + a; c = b + b`` works), and
frees each node's saved arrays afterwards unless ``retain_graph=True``.

Conventions for Function subclasses (the graph drawings read them):
- the class docstring's first line states the forward formula, e.g. ``y = a * b``;
- ``backward``'s docstring states the gradient formula, e.g. ``da = gy * b;  db = gy * a``;
- ``saved_names`` names, in order, the arrays given to ``save_for_backward``.

Saved arrays remember where they came from (as PyTorch's ``SavedVariable``): an array that *is* an
input's or an output's array is recorded with that tensor's version counter and its value at save
time. Before a node's backward runs, the engine compares them and raises PyTorch's "modified by an
inplace operation" error on a difference, so an in-place change never gives a silently wrong
gradient. Arrays the op made itself (a mask, ``inv_std``) are private: nobody else can change them.

Two evaluators for one formula (higher-order gradients):
- ``backward(*grad_arrays)`` works on raw arrays: the fast, default path (``create_graph=False``);
- ``backward_graph(*grad_tensors)`` (optional) writes the same formula with minigrad ops on
  ``self.unpack_saved()``: with ``create_graph=True`` the engine calls it with grad mode on, so the
  gradient is itself a graph that can be differentiated again. An op without it still gives its
  first-order gradient under ``create_graph=True``, but differentiating that gradient raises a
  ``RuntimeError`` naming the op — never a silently detached result.

Hooks live on the graph: a hook on a non-leaf tensor is stored in its node under the output index
and runs on that output's summed gradient even if the Python tensor is gone; a leaf's hooks run
once per backward on its summed gradient, just before it accumulates into ``.grad``.
"""
import functools
import inspect
import sys
import threading
import traceback
import weakref

from . import backend

# ------------------------------------------------------------------ grad modes


class _State(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.anomaly = False
        self.scope = ()  # the nn.Module calls in progress, outermost first (for graph drawings)


_state = _State()
Tensor = None  # minigrad.tensor registers its class here on import (autograd cannot import it: a cycle)


def register_tensor_class(cls):
    global Tensor
    Tensor = cls


def is_grad_enabled():
    """Whether ops record the graph now."""
    return _state.grad_enabled


def _wrap_generator(make_context, gen_func):
    """A generator function whose every resumption runs inside ``make_context()`` (the mode must
    hold inside the generator's body, not only while the generator object is created)."""

    @functools.wraps(gen_func)
    def wrapper(*args, **kwargs):
        gen = gen_func(*args, **kwargs)
        try:
            with make_context():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_context():
                        gen.close()
                    raise
                except BaseException:
                    with make_context():
                        response = gen.throw(*sys.exc_info())
                else:
                    with make_context():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return wrapper


def _decorate(make_context, func):
    if inspect.isgeneratorfunction(func):
        return _wrap_generator(make_context, func)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with make_context():
            return func(*args, **kwargs)

    return wrapper


class _GradMode:
    """Context manager and decorator that sets grad mode to ``self.enabled`` inside.

    As in PyTorch it decorates with or without parentheses (``@no_grad()`` and ``@no_grad``), and a
    decorated generator function runs its body in the mode."""

    enabled = True

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        if orig_func is None:
            return self
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments (got {type(orig_func).__name__})")
        return _decorate(cls, orig_func)

    def __init__(self, orig_func=None):
        pass

    def __enter__(self):
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        return _decorate(type(self), func)


class no_grad(_GradMode):
    """Disable graph recording: ``with minigrad.no_grad(): ...`` or as ``@minigrad.no_grad()``."""

    enabled = False


class enable_grad(_GradMode):
    """Enable graph recording inside a ``no_grad`` region."""

    enabled = True


class set_grad_enabled:
    """``set_grad_enabled(mode)``: as a function call it sets the mode at once (like PyTorch); as a
    context manager it restores the previous mode on exit; as a decorator it applies inside."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
        self.mode = mode
        self._prev = _state.grad_enabled
        _state.grad_enabled = mode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        _state.grad_enabled = self._prev  # decorating must not change the mode of the caller
        mode = self.mode
        return _decorate(lambda: set_grad_enabled(mode), func)


class inference_mode:
    """``inference_mode(mode=True)``: like ``no_grad`` (minigrad has no separate inference tensors);
    ``inference_mode(False)`` leaves the grad mode unchanged. Context manager or decorator."""

    def __new__(cls, mode=True):
        self = super().__new__(cls)
        if callable(mode) and not isinstance(mode, bool):  # @inference_mode without parentheses
            return _decorate(cls, mode)
        return self

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self._prev = _state.grad_enabled
        if self.mode:
            _state.grad_enabled = False
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        mode = self.mode
        return _decorate(lambda: inference_mode(mode), func)


class detect_anomaly:
    """While active, forward calls remember where they were made, and the first backward op that
    produces a NaN or Inf gradient raises ``FloatingPointError`` naming the op and that line."""

    def __enter__(self):
        self._prev = _state.anomaly
        _state.anomaly = True
        return self

    def __exit__(self, *exc):
        _state.anomaly = self._prev
        return False


def current_scope():
    """The stack of ``nn.Module`` calls in progress (a tuple, outermost first)."""
    return _state.scope


def push_scope(module):
    """Enter a module call (used by ``nn.Module.__call__``); returns a token for ``pop_scope``."""
    prev = _state.scope
    _state.scope = prev + (module,)
    return prev


def pop_scope(token):
    _state.scope = token


# ------------------------------------------------------------------ versions and saved arrays


class VersionCounter:
    """One mutable cell shared by a tensor, its views and ``detach()``; every in-place change bumps it."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0

    def bump(self):
        self.value += 1


def memory_root(array):
    """The object that owns ``array``'s memory (NumPy and CuPy views point at it through ``.base``)."""
    while getattr(array, "base", None) is not None:
        array = array.base
    return array


_INPUT, _OUTPUT, _VIEW = "input", "output", "view of input"


# A saved array's origin is a tuple (kind, index, counter, version): kind is input, output or view
# of input; index its position among the op's inputs or outputs; the version counter and its value
# at save time (counter None: nothing can change the array any more).


def _classify_saved(saved, inputs, outputs):
    """The origin tuple (or None for a private array) of each saved array, found by identity."""
    metas = []
    for a in saved:
        meta = None
        if a is not None and hasattr(a, "shape"):
            for k, t in enumerate(inputs):
                if t is not None and a is t.data:
                    meta = (_INPUT, k, t._version_counter, t._version_counter.value)
                    break
            else:
                for j, t in enumerate(outputs):
                    if a is t.data:
                        meta = (_OUTPUT, j, t._version_counter, t._version_counter.value)
                        break
                else:
                    if getattr(a, "base", None) is not None:
                        root = memory_root(a)
                        for k, t in enumerate(inputs):
                            if t is not None and memory_root(t.data) is root:
                                meta = (_VIEW, k, t._version_counter, t._version_counter.value)
                                break
        metas.append(meta)
    return tuple(metas)


def _share_views(inputs, outputs):
    """An output whose array shares memory with an input's is a view of it: it shares the input's
    version counter and remembers its base tensor."""
    for t in outputs:
        root = memory_root(t.data)
        for x in inputs:
            if x is not None and memory_root(x.data) is root:
                t._version_counter = x._version_counter
                t._base = x._base if x._base is not None else x
                break


# ------------------------------------------------------------------ Function


def _user_frame():
    """'file:line' of the innermost stack frame outside minigrad and nn (the user's line)."""
    pkg_dirs = ("/minigrad/", "/nn/")
    for frame in reversed(traceback.extract_stack()[:-2]):
        name = frame.filename.replace("\\", "/")
        if not any(d in name for d in pkg_dirs) or "/tests/" in name or "/examples/" in name:
            return f"{frame.filename}:{frame.lineno}: {frame.line}"
    return "<unknown>"


def edge_of(t):
    """Where gradient for tensor ``t`` goes: ``(node, output_index)``, ``(leaf, None)`` or None."""
    if t is None or not t.requires_grad:
        return None
    return (t.grad_fn, t._output_index) if t.grad_fn is not None else (t, None)


class Function:
    """Base class of every op. Subclasses implement ``forward(*arrays)`` and ``backward(*grads)``,
    and optionally ``backward_graph(*grad_tensors)`` (see the module docstring).

    Keyword arguments given to ``apply`` (stride, dim, ...) become attributes of the instance and
    are listed in ``self.params`` (graph drawings show them).
    """

    saved_names = ()  # names of the arrays given to save_for_backward, in order (drawings show them)
    backward_graph = None  # a differentiable backward, defined by ops that support create_graph
    # set by ``apply`` before forward: False when no graph is recorded (no_grad, or no input requires
    # grad), so backward will never run and forward may skip work done only for it (max-pool's argmax)
    recording = True

    def __init__(self, **params):
        self.params = params
        self.__dict__.update(params)
        self._saved = ()
        self._saved_meta = ()
        self._released = False

    # -- used inside forward/backward
    def save_for_backward(self, *arrays):
        """Keep arrays for backward; they are released after a backward without ``retain_graph``."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time through {self.name}: its saved "
                "arrays were freed after the first backward. Pass retain_graph=True to the first "
                "backward() if you need to backward twice."
            )
        return self._saved

    def unpack_saved(self):
        """The saved arrays as Tensors, for ``backward_graph``: a saved input or output comes back
        attached to the graph (it carries the edge its forward recorded), so a gradient computed
        from it can be differentiated again; anything else comes back as a constant."""
        out = []
        metas = self._saved_meta or (None,) * len(self._saved)
        for a, meta in zip(self.saved_tensors, metas):
            t = None
            if meta is not None and meta[0] == _OUTPUT:
                t = Tensor._from_op(a, self, meta[1])
            elif meta is not None and meta[0] == _INPUT and self.next[meta[1]] is not None:
                src, index = self.next[meta[1]]
                t = src if index is None else Tensor._from_op(a, src, index)
            out.append(t if t is not None else (None if a is None else Tensor._from_op(a, None, None)))
        return tuple(out)

    def check_saved_versions(self):
        """Raise PyTorch's "modified by an inplace operation" error if a saved input or output
        changed in place after this op saved it."""
        for meta, a in zip(self._saved_meta, self._saved):
            if meta is not None and meta[2] is not None and meta[2].value != meta[3]:
                kind, index, counter, version = meta
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{a.dtype} tensor of shape {tuple(a.shape)}], which is {kind} "
                    f"{index} of {self.name}, is at version {counter.value}; expected version "
                    f"{version} instead. Hint: the in-place change happened between the forward of "
                    f"{self.name} and this backward; use an out-of-place op (e.g. x = x + 1 instead of "
                    "x += 1) or .clone() the tensor before changing it."
                )

    def replace_saved(self, array, copy):
        """Swap a saved array for a private copy (used when an in-place op overwrites the very
        array its own node saved: the node must keep the old values)."""
        saved = list(self._saved)
        metas = list(self._saved_meta) or [None] * len(saved)
        for i, a in enumerate(saved):
            if a is array:
                saved[i] = copy
                if metas[i] is not None:
                    metas[i] = (metas[i][0], metas[i][1], None, None)
        self._saved, self._saved_meta = tuple(saved), tuple(metas)

    @classmethod
    def op_name(cls):
        """The op's name in messages and drawings; a fast path (``XFast``, a subclass of the reference
        ``X``) reports as ``X``: which kernels ran is machinery, not math."""
        name = cls.__name__
        return name[:-4] if name.endswith("Fast") and len(name) > 4 else name

    @property
    def name(self):
        return self.op_name() + "Backward"

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self):
        """Free the saved arrays (called by the engine after backward)."""
        self._saved = ()
        self._saved_meta = ()
        self._released = True

    def __repr__(self):
        return f"<{self.name}>"

    # -- node-level hooks (registered through Tensor.register_hook / retain_grad)
    def add_tensor_hook(self, index, hook):
        hooks = self.__dict__.setdefault("tensor_hooks", {}).setdefault(index, [])
        hooks.append(hook)
        return hooks

    def retain_output(self, index, tensor):
        self.__dict__.setdefault("retained", {})[index] = weakref.ref(tensor)

    # -- building the graph
    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (``None`` allowed for optional inputs) and record it in the graph."""
        fn = cls(**params)
        arrays = [None if t is None else t.data for t in inputs]
        needs = tuple(t is not None and t.requires_grad for t in inputs)
        record = _state.grad_enabled and any(needs)
        fn.needs_input_grad = needs
        fn.recording = record
        out = fn.forward(*arrays)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        results = [Tensor._from_op(arr, fn if record else None, i) for i, arr in enumerate(outs)]
        _share_views(inputs, results)
        if record:
            fn._record(inputs, needs, results)
        else:
            fn._saved = ()
        return tuple(results) if multi else results[0]

    def _record(self, inputs, needs, results):
        self.next = [edge_of(t) if need else None for t, need in zip(inputs, needs)]
        self.input_meta = [None if t is None else (t.shape, t.dtype) for t in inputs]
        if False in needs:  # inputs off the gradient path (constants, buffers), for drawings:
            # held weakly; 0-d ones (Python scalars) kept, so a drawing can show their value
            self.const_inputs = [
                None if t is None or need else t if t.data.ndim == 0 else weakref.ref(t)
                for t, need in zip(inputs, needs)
            ]
        self.outputs = [weakref.ref(t) for t in results]
        self.output_meta = [(t.shape, t.dtype) for t in results]
        self.scope = _state.scope
        if _state.anomaly:
            self.trace = _user_frame()
        if self._saved:
            self._saved_meta = _classify_saved(self._saved, inputs, results)


class NoDoubleBackward(Function):
    """y = the gradient computed by an op whose backward is not differentiable

    Made by ``backward(create_graph=True)`` for an op without ``backward_graph``: the first-order
    gradient is right, and differentiating it again raises instead of silently giving zero."""

    def backward(self, *grads):
        """raises: the op has no differentiable backward"""
        raise RuntimeError(
            f"double backward is not supported for {self.op}: its gradient was computed with "
            "create_graph=True, but that op has no differentiable backward (backward_graph), so the "
            "gradient cannot be differentiated again"
        )


def _not_differentiable(fn, grads):
    """First-order gradients of ``fn`` (an op without ``backward_graph``) as Tensors that depend on
    ``grads`` and on ``fn``'s inputs through a ``NoDoubleBackward`` node."""
    arrays = fn.backward(*[g.data for g in grads])
    if not isinstance(arrays, tuple):
        arrays = (arrays,)
    edges = [edge_of(g) for g in grads] + list(fn.next)
    if not _state.grad_enabled or all(e is None for e in edges):
        return tuple(None if a is None else Tensor._from_op(a, None, None) for a in arrays)
    node = NoDoubleBackward(op=fn.name)
    node.needs_input_grad = tuple(e is not None for e in edges)
    node.next = edges
    node.input_meta = [(g.shape, g.dtype) for g in grads] + list(fn.input_meta)
    node.scope = fn.scope
    results, node.outputs, node.output_meta = [], [], []
    for a in arrays:
        if a is None:
            results.append(None)
            continue
        t = Tensor._from_op(a, node, len(node.outputs))
        node.outputs.append(weakref.ref(t))
        node.output_meta.append((t.shape, t.dtype))
        results.append(t)
    return tuple(results)


# ------------------------------------------------------------------ the backward walk


def _topological_order(roots):
    """Nodes reachable from ``roots`` and, for each, how many graph edges point at it."""
    dependents = {}
    stack = [fn for fn in roots if fn is not None]
    seen = set(stack)
    while stack:
        fn = stack.pop()
        for edge in fn.next:
            if edge is None or edge[1] is None:  # no grad / a leaf tensor
                continue
            parent = edge[0]
            dependents[parent] = dependents.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return dependents


def _accumulate(buffer, key, grad):
    prev = buffer.get(key)
    buffer[key] = grad if prev is None else prev + grad


def _raw(g):
    """The array of a gradient (a Tensor under create_graph, else already an array)."""
    return g.data if hasattr(g, "grad_fn") else g


def _check_finite(fn, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        g = _raw(g)
        xp = backend.get_array_module(g)
        if not bool(xp.isfinite(g).all()):
            where = getattr(fn, "trace", "<unknown>")
            raise FloatingPointError(
                f"Function '{fn.name}' returned NaN or Inf in its gradient for input {i} "
                f"(shape {tuple(g.shape)}). Its forward was called at {where}"
            )


def run_backward(tensors, grads, retain_graph=False, create_graph=False, inputs=None, accumulate=True):
    """Backpropagate ``grads`` from ``tensors``: arrays, or Tensors when ``create_graph``.

    - ``inputs=None``: gradients accumulate into ``.grad`` of every leaf that requires grad;
    - ``inputs`` given, ``accumulate=True``: only into those tensors' ``.grad`` (``backward(inputs=)``);
    - ``inputs`` given, ``accumulate=False``: nothing accumulates; the gradients of ``inputs`` are
      returned (None where unreachable). This is ``minigrad.autograd.grad``.
    With ``create_graph`` the walk runs with grad mode on and each node's ``backward_graph``, so the
    gradients it produces are Tensors with a graph of their own.
    """
    wanted_leaves, wanted_nodes, captured = None, None, {}
    if inputs is not None:
        wanted_leaves = {id(t) for t in inputs if t.grad_fn is None}
        wanted_nodes = {(t.grad_fn, t._output_index): t for t in inputs if t.grad_fn is not None}

    # ids of arrays already stored in some .grad during this walk; the seeds are the caller's arrays
    # (not copied: a copy of a big gradient costs its page faults), so they count as given away
    seeds = {id(memory_root(_raw(g))) for g in grads if g is not None}
    delivered = set(seeds)
    leaf_grads = {}  # id(leaf) -> [leaf, summed gradient]
    node_grads = {}  # fn -> {output_index: grad}
    roots = []
    for t, g in zip(tensors, grads):
        if t.grad_fn is None:  # backward from a leaf
            if t.requires_grad:
                _add_leaf_grad(leaf_grads, t, g)
            continue
        _accumulate(node_grads.setdefault(t.grad_fn, {}), t._output_index, g)
        roots.append(t.grad_fn)

    prev_mode = _state.grad_enabled
    _state.grad_enabled = bool(create_graph)
    try:
        dependents = _topological_order(roots)
        ready = [fn for fn in dict.fromkeys(roots) if dependents.get(fn, 0) == 0]
        while ready:
            fn = ready.pop()
            grads_in = _output_grads(fn, node_grads.pop(fn), create_graph, wanted_nodes, captured,
                                     delivered if accumulate else None)
            fn.check_saved_versions()
            if create_graph:
                graph_backward = fn.backward_graph
                in_grads = graph_backward(*grads_in) if graph_backward is not None else _not_differentiable(fn, grads_in)
            else:
                in_grads = fn.backward(*grads_in)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if _state.anomaly:
                _check_finite(fn, in_grads)
            if not retain_graph:
                fn.release()
            for edge, g, meta in zip(fn.next, in_grads, fn.input_meta):
                if edge is None or g is None:
                    continue
                if g.dtype != meta[1]:
                    g = g.astype(meta[1])
                parent, index = edge
                if index is None:  # a leaf tensor
                    _add_leaf_grad(leaf_grads, parent, g)
                    continue
                _accumulate(node_grads.setdefault(parent, {}), index, g)
                dependents[parent] -= 1
                if dependents[parent] == 0:
                    ready.append(parent)

        for leaf, g in leaf_grads.values():
            g = _run_hooks(leaf._hooks, g, create_graph)
            if inputs is not None and id(leaf) in wanted_leaves:
                captured[id(leaf)] = g
                if not accumulate:
                    continue
            if accumulate and (inputs is None or id(leaf) in wanted_leaves):
                if tuple(g.shape) != leaf.shape:  # broadcasting is reduced inside the ops
                    raise RuntimeError(f"gradient of shape {tuple(g.shape)} reached a leaf of shape {leaf.shape}")
                _set_or_add_grad(leaf, g, delivered)
    finally:
        _state.grad_enabled = prev_mode

    if inputs is None:
        return None
    result = [captured.get(id(t)) for t in inputs]
    result = [g.copy() if g is not None and not create_graph and id(memory_root(g)) in seeds else g for g in result]
    if accumulate:  # backward(inputs=[...]): non-leaf inputs get .grad too
        for t, g in zip(inputs, result):
            if t.grad_fn is not None and g is not None:
                _set_or_add_grad(t, g, delivered)
        return None
    return result


def _add_leaf_grad(leaf_grads, leaf, g):
    entry = leaf_grads.get(id(leaf))
    if entry is None:
        leaf_grads[id(leaf)] = [leaf, g]
    else:
        entry[1] = entry[1] + g


def _output_grads(fn, out_grads, create_graph, wanted_nodes, captured, delivered):
    """The gradient of each output of ``fn``: summed, passed through the node's hooks (and stored
    for retained and wanted tensors), zeros for outputs no gradient reached."""
    hooks = fn.__dict__.get("tensor_hooks")
    retained = fn.__dict__.get("retained")
    grads = []
    for i, (shape, dtype) in enumerate(fn.output_meta):
        g = out_grads.get(i)
        if g is not None:
            if hooks and hooks.get(i):
                g = _run_hooks(hooks[i], g, create_graph)
            if retained and i in retained and delivered is not None:  # autograd.grad leaves .grad alone
                t = retained[i]()
                if t is not None:
                    _set_or_add_grad(t, g, delivered)
            if wanted_nodes is not None and (fn, i) in wanted_nodes:
                captured[id(wanted_nodes[(fn, i)])] = g
        else:
            xp = backend.get_array_module(*[_raw(v) for v in out_grads.values()])
            g = xp.zeros(shape, dtype=dtype)
            if create_graph:
                g = Tensor._from_op(g, None, None)
        grads.append(g)
    return grads


def _run_hooks(hooks, g, create_graph):
    """Each hook sees the gradient as a Tensor; one that returns a value replaces the gradient."""
    if not hooks:
        return g
    for hook in list(hooks):
        out = hook(g if create_graph else Tensor._from_op(g, None, None))
        if out is not None:
            if create_graph:
                g = out if isinstance(out, Tensor) else Tensor._from_op(out, None, None)
            else:
                g = out.data if isinstance(out, Tensor) else out
    return g


def _private_buffer(root):
    """Whether a view's memory belongs to the kernels' buffer cache (an op's fresh output, as good
    as its own array; see ``kernels.memory.owns``)."""
    from .kernels import memory

    return memory.owns(root)


def _set_or_add_grad(tensor, g, delivered=None):
    """Store ``g`` as ``tensor.grad`` or add it (out of place). A stored gradient owns its memory:
    views (except of an op's buffer from the kernels' cache), and arrays whose memory was already
    given to another tensor in this walk, are copied first. Under ``create_graph`` ``g`` is a
    Tensor with a graph and is stored as it is."""
    if isinstance(g, Tensor):
        tensor.grad = g if tensor.grad is None else tensor.grad + g
        return
    if tensor.grad is None:
        root = memory_root(g)
        if (g.base is not None and not _private_buffer(root)) or (delivered is not None and id(root) in delivered):
            g = root = g.copy()
        if delivered is not None:
            delivered.add(id(root))
        tensor.grad = Tensor._from_op(g, None, None)
    else:
        tensor.grad.data = tensor.grad.data + g


def _outputs_and_seeds(op, outputs, grads, create_graph):
    """Check ``outputs`` (a Tensor or a list) and their gradients (None, a Tensor or a list) and
    make the seeds of a backward walk."""
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grads is None or isinstance(grads, Tensor):
        grads = [grads] * len(outputs) if grads is None else [grads]
    if len(grads) != len(outputs):
        raise ValueError(f"{op}: got {len(grads)} gradients for {len(outputs)} tensors")
    for t in outputs:
        if not t.requires_grad:
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does not have a grad_fn")
    return outputs, [_initial_grad(t, g, create_graph) for t, g in zip(outputs, grads)]


def _differentiated(op, inputs):
    """``inputs`` as a list of Tensors that require grad."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise RuntimeError(f"{op}: 'inputs' argument should not be empty")
    for t in inputs:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"{op}: one of the differentiated Tensors does not require grad")
    return inputs


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``minigrad.autograd.backward``: ``Tensor.backward`` for several outputs at once."""
    tensors, seeds = _outputs_and_seeds("backward", tensors, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _differentiated("backward", inputs)
    if retain_graph is None:
        retain_graph = create_graph
    run_backward(tensors, seeds, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated.

    Like ``torch.autograd.grad``: ``retain_graph`` defaults to ``create_graph``; with
    ``create_graph=True`` the result has a graph and can be differentiated again.
    """
    outputs, seeds = _outputs_and_seeds("grad", outputs, grad_outputs, create_graph)
    inputs = _differentiated("grad", inputs)
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, seeds, retain_graph=retain_graph, create_graph=create_graph,
                          inputs=inputs, accumulate=False)
    if not allow_unused and any(g is None for g in result):
        raise RuntimeError("grad: one of the differentiated Tensors appears to not have been used in the "
                           "graph. Set allow_unused=True if this is the desired behavior.")
    return tuple(g if g is None or isinstance(g, Tensor) else Tensor._from_op(g, None, None) for g in result)


def _initial_grad(output, gradient, create_graph=False):
    """The gradient that seeds a backward: ones for a one-element output, else the given one.
    An array (a copy, so leaves' .grad never alias the caller's), or under ``create_graph`` a Tensor
    (the caller's own, when it requires grad: double backward differentiates through it)."""
    if gradient is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs; backward() was called "
                f"on a tensor of shape {output.shape}: pass `gradient` of that shape"
            )
        g = output._xp.ones(output.shape, dtype=output.dtype)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else backend.asarray(gradient, output.dtype, output.device)
        if tuple(g.shape) != output.shape:
            raise RuntimeError(f"backward: gradient of shape {tuple(g.shape)} does not match the output's shape {output.shape}")
        if create_graph and isinstance(gradient, Tensor) and gradient.requires_grad:
            return gradient if gradient.dtype == output.dtype else gradient.astype(output.dtype)
        g = g.astype(output.dtype, copy=False)  # the walk never writes into it (see run_backward)
    return Tensor._from_op(g, None, None) if create_graph else g
