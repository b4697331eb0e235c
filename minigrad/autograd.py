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
- ``backward``'s docstring states the gradient formula, e.g. ``da = gy * b;  db = gy * a``.
"""
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


def is_grad_enabled():
    """Whether ops record the graph now."""
    return _state.grad_enabled


class _GradMode:
    """Context manager and decorator that sets grad mode to ``self.enabled`` inside."""

    enabled = True

    def __enter__(self):
        self._prev = _state.grad_enabled
        _state.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _state.grad_enabled = self._prev
        return False

    def __call__(self, func):
        import functools

        mode = type(self)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with mode():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Disable graph recording: ``with minigrad.no_grad(): ...`` or as ``@minigrad.no_grad()``."""

    enabled = False


class enable_grad(_GradMode):
    """Enable graph recording inside a ``no_grad`` region."""

    enabled = True


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


# ------------------------------------------------------------------ Function


def _user_frame():
    """'file:line' of the innermost stack frame outside minigrad and nn (the user's line)."""
    pkg_dirs = ("/minigrad/", "/nn/")
    for frame in reversed(traceback.extract_stack()[:-2]):
        name = frame.filename.replace("\\", "/")
        if not any(d in name for d in pkg_dirs) or "/tests/" in name or "/examples/" in name:
            return f"{frame.filename}:{frame.lineno}: {frame.line}"
    return "<unknown>"


class Function:
    """Base class of every op. Subclasses implement ``forward(*arrays)`` and ``backward(*grads)``.

    Keyword arguments given to ``apply`` (stride, dim, ...) become attributes of the instance and
    are listed in ``self.params`` (graph drawings show them).
    """

    def __init__(self, **params):
        self.params = params
        self.__dict__.update(params)
        self._saved = ()
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

    @property
    def name(self):
        return type(self).__name__ + "Backward"

    def forward(self, *arrays):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self):
        """Free the saved arrays (called by the engine after backward)."""
        self._saved = ()
        self._released = True

    def __repr__(self):
        return f"<{self.name}>"

    # -- building the graph
    @classmethod
    def apply(cls, *inputs, **params):
        """Run the op on Tensors (``None`` allowed for optional inputs) and record it in the graph."""
        from .tensor import Tensor

        fn = cls(**params)
        arrays = [None if t is None else t.data for t in inputs]
        needs = tuple(t is not None and t.requires_grad for t in inputs)
        record = _state.grad_enabled and any(needs)
        fn.needs_input_grad = needs
        out = fn.forward(*arrays)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if record:
            fn.next = [
                None if not need else (t.grad_fn, t._output_index) if t.grad_fn is not None else (t, None)
                for t, need in zip(inputs, needs)
            ]
            fn.input_meta = [None if t is None else (t.shape, t.dtype) for t in inputs]
            if False in needs:  # inputs off the gradient path (constants, buffers), for drawings:
                # held weakly; 0-d ones (Python scalars) kept, so a drawing can show their value
                fn.const_inputs = [
                    None if t is None or need else t if t.data.ndim == 0 else weakref.ref(t)
                    for t, need in zip(inputs, needs)
                ]
            fn.outputs = []
            fn.scope = _state.scope
            if _state.anomaly:
                fn.trace = _user_frame()
        else:
            fn._saved = ()
        results = []
        for i, arr in enumerate(outs):
            t = Tensor._from_op(arr, fn if record else None, i)
            if record:
                fn.outputs.append(weakref.ref(t))
            results.append(t)
        if record:
            fn.output_meta = [(t.shape, t.dtype) for t in results]
        return tuple(results) if multi else results[0]


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


def _check_finite(fn, grads):
    for i, g in enumerate(grads):
        if g is None:
            continue
        xp = backend.get_array_module(g)
        if not bool(xp.isfinite(g).all()):
            where = getattr(fn, "trace", "<unknown>")
            raise FloatingPointError(
                f"Function '{fn.name}' returned NaN or Inf in its gradient for input {i} "
                f"(shape {tuple(g.shape)}). Its forward was called at {where}"
            )


def run_backward(tensors, grads, retain_graph=False, inputs=None):
    """Backpropagate ``grads`` (arrays) from ``tensors``.

    With ``inputs=None`` gradients accumulate into ``.grad`` of leaves that require grad.
    With ``inputs`` (a list of tensors) nothing is accumulated; the gradients of those tensors are
    returned instead (None where unreachable). This is ``minigrad.autograd.grad``.
    """
    capture = None
    if inputs is not None:
        capture = {}
        wanted_leaves = {id(t): t for t in inputs if t.grad_fn is None}
        wanted_nodes = {(t.grad_fn, t._output_index): t for t in inputs if t.grad_fn is not None}

    delivered = set()  # ids of arrays already stored in some leaf's .grad during this walk
    node_grads = {}  # fn -> {output_index: grad}
    roots = []
    for t, g in zip(tensors, grads):
        if t.grad_fn is None:  # backward from a leaf
            if t.requires_grad:
                _deliver_to_leaf(t, g, capture, wanted_leaves if capture is not None else None, delivered)
            continue
        node_grads.setdefault(t.grad_fn, {})
        _accumulate(node_grads[t.grad_fn], t._output_index, g)
        roots.append(t.grad_fn)

    dependents = _topological_order(roots)
    ready = [fn for fn in dict.fromkeys(roots) if dependents.get(fn, 0) == 0]
    while ready:
        fn = ready.pop()
        out_grads = node_grads.pop(fn)
        grads_in = []
        for i, (shape, dtype) in enumerate(fn.output_meta):
            g = out_grads.get(i)
            ref = fn.outputs[i]()
            if ref is not None and g is not None:
                g = _run_hooks(ref, g)
                if ref._retains_grad:
                    _set_or_add_grad(ref, g, delivered)
            if capture is not None and g is not None and (fn, i) in wanted_nodes:
                capture[id(wanted_nodes[(fn, i)])] = g
            if g is None:
                xp = backend.get_array_module(*[v for v in out_grads.values()])
                g = xp.zeros(shape, dtype=dtype)
            grads_in.append(g)
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
                _deliver_to_leaf(parent, g, capture, wanted_leaves if capture is not None else None, delivered)
                continue
            _accumulate(node_grads.setdefault(parent, {}), index, g)
            dependents[parent] -= 1
            if dependents[parent] == 0:
                ready.append(parent)
    if capture is not None:
        return [capture.get(id(t)) for t in inputs]
    return None


def _run_hooks(tensor, g):
    if not tensor._hooks:
        return g
    from .tensor import Tensor

    for hook in tensor._hooks:
        out = hook(Tensor(g))
        if out is not None:
            g = out.data if isinstance(out, Tensor) else out
    return g


def _set_or_add_grad(tensor, g, delivered=None):
    """Store ``g`` as ``tensor.grad`` or add it (out of place). A stored gradient owns its memory:
    views, and arrays already given to another tensor in this walk, are copied first."""
    from .tensor import Tensor

    if tensor.grad is None:
        if g.base is not None or (delivered is not None and id(g) in delivered):
            g = g.copy()
        if delivered is not None:
            delivered.add(id(g))
        tensor.grad = Tensor(g)
    else:
        tensor.grad.data = tensor.grad.data + g


def _deliver_to_leaf(leaf, g, capture, wanted, delivered):
    g = _run_hooks(leaf, g)
    if capture is not None:
        if id(leaf) in wanted:
            prev = capture.get(id(leaf))
            capture[id(leaf)] = g if prev is None else prev + g
        return
    if g.shape != leaf.shape:  # a gradient must match its tensor; broadcasting is reduced in ops
        raise RuntimeError(f"gradient of shape {tuple(g.shape)} reached a leaf of shape {leaf.shape}")
    _set_or_add_grad(leaf, g, delivered)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of accumulated.

    Like ``torch.autograd.grad`` (first order only).
    """
    from .tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    arrays = [_initial_grad(o, g) for o, g in zip(outputs, grad_outputs)]
    result = run_backward(outputs, arrays, retain_graph=retain_graph, inputs=inputs)
    out = []
    for t, g in zip(inputs, result):
        if g is None and not allow_unused:
            raise RuntimeError("one of the inputs is not used in the graph of the outputs (pass allow_unused=True)")
        out.append(None if g is None else Tensor(g))
    return tuple(out)


def _initial_grad(output, gradient):
    """The gradient that seeds a backward: ones for a one-element output, else the given one."""
    from .tensor import Tensor

    if gradient is None:
        if output.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs; backward() was called "
                f"on a tensor of shape {output.shape}: pass `gradient` of that shape"
            )
        return output._xp.ones(output.shape, dtype=output.dtype)
    g = gradient.data if isinstance(gradient, Tensor) else backend.asarray(gradient, output.dtype, output.device)
    if tuple(g.shape) != output.shape:
        raise RuntimeError(f"backward: gradient of shape {tuple(g.shape)} does not match the output's shape {output.shape}")
    return g.astype(output.dtype, copy=True)  # a copy: leaves' .grad must not alias the caller's array

