"""The graph behind a drawing: walk the ``grad_fn`` edges back from the outputs, then describe what
to draw as plain nodes, edges and module clusters (``dot.py`` turns that into Graphviz).

What the engine records for each op ``fn`` (see ``minigrad/autograd.py``):

- ``fn.next[i]``: where input ``i`` came from: ``(parent_fn, output_index)`` for another op's
  output, ``(leaf_tensor, None)`` for a leaf that requires grad, ``None`` when no gradient flows;
- ``fn.const_inputs[i]``: for inputs off the gradient path (constants, buffers): a weak reference
  to the tensor (or the tensor itself when it is 0-d, e.g. a Python scalar);
- ``fn.input_meta`` / ``fn.output_meta``: ``(shape, dtype)`` of each input / output;
- ``fn.outputs``: weak references to the output tensors (alive only while the user holds them);
- ``fn.scope``: the ``nn.Module`` calls in progress when the op ran, outermost first.

The walk is iterative (an explicit stack), so a chain of 100k ops draws like a chain of 3.
"""
import weakref

from . import labels as L

# --------------------------------------------------------------------------- the walk


def topological_ops(outputs):
    """Every op that produced ``outputs``, each once, producers before consumers.

    Depth first from each output with an explicit stack (no recursion); an op's inputs are visited in
    argument order, so the same graph always gives the same order, and so the same node ids.
    """
    order = []
    state = {}  # fn -> False while on the stack, True once placed in ``order``
    for root in (t.grad_fn for t in outputs):
        if root is None or root in state:
            continue
        state[root] = False
        stack = [(root, 0)]
        while stack:
            fn, i = stack[-1]
            edges = fn.next
            parent = None
            while i < len(edges):
                edge = edges[i]
                i += 1
                if edge is not None and edge[1] is not None and edge[0] not in state:
                    parent = edge[0]
                    break
            if parent is None:  # all inputs placed: place fn
                stack.pop()
                state[fn] = True
                order.append(fn)
            else:
                stack[-1] = (fn, i)
                state[parent] = False
                stack.append((parent, 0))
    return order


def const_input(fn, i):
    """The tensor given as input ``i`` off the gradient path, or None (not recorded, or freed)."""
    refs = getattr(fn, "const_inputs", None)
    if not refs or refs[i] is None:
        return None
    ref = refs[i]
    return ref() if isinstance(ref, weakref.ref) else ref


def input_tensor(fn, i):
    """The tensor that was input ``i`` of ``fn`` if it is still alive, else None."""
    edge = fn.next[i]
    if edge is None:
        return const_input(fn, i)
    src, index = edge
    if index is None:
        return src
    return src.outputs[index]()


# --------------------------------------------------------------------------- drawing model


class Node:
    """One box of the drawing. ``kind`` picks the style (see ``dot.STYLES``); ``path`` holds the keys of
    the module calls the node sits in, outermost first (its clusters)."""

    __slots__ = ("id", "kind", "title", "lines", "tooltip", "path", "shape", "dtype", "values", "saved", "grad", "scope")

    def __init__(self, id, kind, title=None, lines=(), tooltip=(), path=(), shape=None, values=None,  # noqa: A002
                 dtype=None):
        self.id, self.kind, self.title, self.lines = id, kind, title, list(lines)
        self.tooltip, self.path, self.shape, self.values = list(tooltip), path, shape, values
        self.dtype = dtype
        self.saved = []  # backward nodes: the arrays the backward reads (saved by the forward)
        self.grad = None  # with grad_flow: the norm of d loss / d (this tensor, or this op's output)
        self.scope = None  # module nodes: the Scope (module call) folded into this node

    def __repr__(self):
        return f"Node({self.id!r}, {self.kind!r}, {self.title!r})"


class Edge:
    """An arrow ``src -> dst``; ``kind`` picks the style: data, skip, param, const, grad, grad_leaf, seed. ``short`` is
    the label kept when an end is folded into a module node (``dx 2x64x8x8`` -> ``2x64x8x8``)."""

    __slots__ = ("src", "dst", "kind", "label", "tooltip", "short")

    def __init__(self, src, dst, kind="data", label=None, tooltip=None, short=None):
        self.src, self.dst, self.kind, self.label, self.tooltip = src, dst, kind, label, tooltip
        self.short = short

    def __repr__(self):
        return f"Edge({self.src!r} -> {self.dst!r})"


class Scope:
    """One ``nn.Module`` call: drawn as a labelled cluster, or as one node when collapsed."""

    __slots__ = ("key", "path", "name", "module", "call", "leaf")

    def __init__(self, key, path, name, module, call):
        self.key, self.path, self.name, self.module, self.call = key, path, name, module, call
        self.leaf = True  # no module calls inside it (a layer, not a block)

    @property
    def depth(self):
        return len(self.path) - 1

    @property
    def label(self):
        cls = type(self.module).__name__
        text = f"{self.name}: {cls}" if self.name else cls
        return text + (f" (call {self.call + 1})" if self.call else "")


class Graph:
    """Nodes, edges and module calls of one drawing, in data-flow order."""

    def __init__(self, mode):
        self.mode = mode  # "forward" or "backward"
        self.nodes = {}  # id -> Node, in drawing order
        self.edges = []
        self.scopes = {}  # key -> Scope
        self.note = None  # a line for the graph's caption (e.g. "no graph was recorded")
        self.beside = {}  # op id -> ids of the parameters/buffers drawn on the same rank
        self.saved_bytes = None  # backward: bytes of the distinct arrays saved for backward, and their number
        self.saved_arrays = 0
        self.grad_range = None  # with grad_flow: (smallest, largest) nonzero gradient norm drawn

    def add(self, node):
        self.nodes[node.id] = node
        return node

    def counts(self):
        """``{kind: number of nodes}``: handy in tests and for a quick look."""
        out = {}
        for n in self.nodes.values():
            out[n.kind] = out.get(n.kind, 0) + 1
        return out


# --------------------------------------------------------------------------- module scopes


class _Scopes:
    """Turns each op's ``fn.scope`` (module objects) into keys of module calls, named with dotted
    names (``layer1.0.bn1``) found through the outermost module's ``named_modules()``.

    A scope tuple is a new object for each module call, so calls of one module that has no
    sub-module calls (e.g. ``relu`` used twice in a BasicBlock) are told apart and drawn as separate
    clusters. Repeated calls of a module with sub-modules share one cluster.
    """

    def __init__(self, ops, graph):
        self.graph = graph
        self.names = {}  # id(root) -> {id(module): dotted name}
        self.roots = []
        self.inner = set()  # ids of modules that have module calls inside them
        self.calls = {}  # (id(root), name) -> {id(scope tuple): call number}
        self.paths = {}  # fn -> tuple of keys
        for fn in ops:
            scope = getattr(fn, "scope", ())
            for m in scope[:-1]:
                self.inner.add(id(m))
        for fn in ops:
            self.paths[fn] = self._path(getattr(fn, "scope", ()))
        for scope in graph.scopes.values():
            scope.leaf = id(scope.module) not in self.inner

    def _names(self, root):
        names = self.names.get(id(root))
        if names is None:
            names = {}
            if hasattr(root, "named_modules"):
                for name, m in root.named_modules():
                    names.setdefault(id(m), name)
            self.names[id(root)] = names
            self.roots.append(root)
        return names

    def _path(self, scope):
        if not scope:
            return ()
        root = scope[0]
        names = self._names(root)
        path, parent = [], ""
        last = len(scope) - 1
        for depth, m in enumerate(scope):
            name = "" if depth == 0 else names.get(id(m))
            if name is None:  # a module not registered under the root
                name = f"{parent}.{type(m).__name__}" if parent else type(m).__name__
            call = 0
            if depth == last and id(m) not in self.inner:
                seen = self.calls.setdefault((id(root), name), {})
                call = seen.setdefault(id(scope), len(seen))
            key = (id(root), name, call)
            path.append(key)
            if key not in self.graph.scopes:
                self.graph.scopes[key] = Scope(key, tuple(path), name, m, call)
            parent = name
        return tuple(path)

    def owner_path(self, root, name):
        """Path of the cluster of the module that owns the parameter/buffer ``name`` (or None)."""
        owner = name.rpartition(".")[0]
        scope = self.graph.scopes.get((id(root), owner, 0))
        return scope.path if scope is not None else None


def _tensor_names(params, roots):
    """``id(tensor) -> name`` from ``params``, and ``id(tensor) -> (root, dotted name)`` from the
    modules' ``named_parameters()`` / ``named_buffers()``."""
    given = {}
    if params is not None:
        items = params.items() if hasattr(params, "items") else params
        for name, t in items:
            given[id(t)] = name
    derived = {}
    for root in roots:
        for attr in ("named_parameters", "named_buffers"):
            if hasattr(root, attr):
                for name, t in getattr(root, attr)():
                    if t is not None:
                        derived.setdefault(id(t), (root, name))
    return given, derived


def _common_prefix(paths):
    paths = list(paths)
    if not paths:
        return ()
    first = paths[0]
    n = len(first)
    for p in paths[1:]:
        n = min(n, len(p))
        for i in range(n):
            if p[i] != first[i]:
                n = i
                break
    return first[:n]


# --------------------------------------------------------------------------- tensor text


def _shape_line(shape, dtype, show_shapes):
    if not show_shapes:
        return []
    return [f"{L.fmt_shape(shape)} {L.fmt_dtype(dtype)}".strip()]


def _grad_lines(t, show_grads, show_values):
    """``grad ...`` lines for a tensor that holds a ``.grad``."""
    g = getattr(t, "grad", None) if t is not None else None
    if not show_grads or g is None:
        return []
    arr = g.data
    if show_values:
        vals = L.fmt_values(arr)
        if vals is not None:
            return [f"grad {vals}"]
    if arr.size == 1:
        return [f"grad {L.fmt_values(arr.reshape(()))}"]
    shape = "" if tuple(arr.shape) == t.shape else f" {L.fmt_shape(arr.shape)}"
    return [f"grad{shape} norm {L.fmt_number(L.grad_norm(arr))}"]


def _tensor_lines(t, shape, dtype, show_shapes, show_values):
    """Shape and dtype; with ``show_values``, the values of a tiny tensor instead."""
    if show_values:
        vals = L.fmt_values(t.data) if t is not None else None
        if vals is not None:
            return [f"data {vals}"]
        if t is None:
            return _shape_line(shape, dtype, show_shapes) + ["(value not kept)"]
    return _shape_line(shape, dtype, show_shapes)


class _Namer:
    def __init__(self, given, derived, scopes, group):
        self.given, self.derived, self.scopes, self.group = given, derived, scopes, group

    def name(self, t):
        """(label, full name, owner path or None) of a tensor."""
        if t is None:
            return None, None, None
        tid = id(t)
        owner = None
        full = None
        if tid in self.derived:
            root, full = self.derived[tid]
            owner = self.scopes.owner_path(root, full)
        if tid in self.given:
            full = self.given[tid]
        elif getattr(t, "name", None):
            full = t.name
        label = full
        # inside its module's cluster, `weight` reads better than `layer1.0.conv1.weight`
        if self.group and owner is not None and full is not None and tid not in self.given:
            label = full.rpartition(".")[2]
        return label, full, owner


# --------------------------------------------------------------------------- forward graph


def forward_graph(outputs, params=None, show_shapes=True, show_values=False, show_grads=True, group=False, grads=None):
    """The data-flow graph: tensors -> op -> tensors, for every op behind ``outputs``.

    ``grads`` (from ``gradflow.gradient_norms``) maps ``(fn, output index)`` and ``id(leaf)`` to the
    norm of the loss's gradient there: each tensor then shows it (and ``Node.grad`` holds it)."""
    g = Graph("forward")
    ops = topological_ops(outputs)
    scopes = _Scopes(ops, g)
    given, derived = _tensor_names(params, scopes.roots)
    namer = _Namer(given, derived, scopes, group)
    op_id = {fn: f"op{k}" for k, fn in enumerate(ops)}

    out_pos = {}  # (fn, index) or id(leaf) -> position among outputs
    for k, t in enumerate(outputs):
        out_pos.setdefault((t.grad_fn, t._output_index) if t.grad_fn is not None else id(t), k)
    used = set(out_pos)
    for fn in ops:
        for edge in fn.next:
            if edge is not None and edge[1] is not None:
                used.add(edge)

    leaf_ids = {}  # key -> node id, for leaves and constants
    consumers = {}  # leaf/const node id -> paths of the ops using it
    users = {}  # leaf/const node id -> ids of the ops using it
    placement = {}  # leaf/const node id -> owner path, or "top"/"common"
    n_out = len(outputs)

    def out_title(k, t):
        if t is not None and getattr(t, "name", None):
            return t.name
        return "output" if n_out == 1 else f"output {k}"

    def leaf_node(key, t, shape, dtype, requires_grad):
        nid = leaf_ids.get(key)
        if nid is not None:
            return nid
        label, full, owner = namer.name(t)
        if requires_grad:
            kind, prefix = "param", "leaf"
            title = label or "leaf"
        elif label is not None and (id(t) in given or id(t) in derived):  # a module's buffer
            kind, prefix, title = "buffer", "const", label
        elif label is not None:  # a named input
            kind, prefix, title = "const", "const", label
        elif len(shape) == 0 and t is not None:
            kind, prefix, title = "scalar", "const", L.fmt_values(t.data)
        else:
            kind, prefix, title = "const", "const", "const"
        nid = f"{prefix}{len(leaf_ids)}"
        leaf_ids[key] = nid
        lines = [] if kind == "scalar" else _tensor_lines(t, shape, dtype, show_shapes, show_values)
        norm = grads.get(id(t)) if grads is not None and t is not None else None
        lines += _flow_lines(norm) if grads is not None else _grad_lines(t, show_grads, show_values)
        tip = [full or title, f"{L.fmt_shape(shape)} {L.fmt_dtype(dtype)}",
               "leaf: requires grad" if requires_grad else "constant: no gradient flows into it"]
        if t is None:
            tip.append("(the tensor was freed; shape and dtype as recorded)")
        if key in out_pos:
            kind_out = "output"
            title = out_title(out_pos[key], t) if not label else title
            g.add(Node(nid, kind_out, title, lines, tip, (), shape, show_values, dtype)).grad = norm
            placement[nid] = "top"
            return nid
        g.add(Node(nid, kind, title, lines, tip, (), shape, show_values, dtype)).grad = norm
        if owner is not None:
            placement[nid] = owner
        else:
            placement[nid] = "common" if kind in ("scalar", "buffer") else "top"
        return nid

    for fn in ops:
        path = scopes.paths[fn]
        oid = op_id[fn]
        names = L.input_names(fn)
        in_edges = []
        for i, edge in enumerate(fn.next):
            meta = fn.input_meta[i]
            if meta is None:  # an optional input given as None
                continue
            shape, dtype = meta
            label = None
            if edge is not None and edge[1] is not None:
                src = f"{op_id[edge[0]]}_y{edge[1]}"
                kind = "data"
                label = _skip_label(fn, path, scopes.paths[edge[0]], g)
                if label is not None:
                    kind = "skip"
            elif edge is not None:
                leaf = edge[0]
                src = leaf_node(id(leaf), leaf, shape, dtype, True)
                kind = "param"
            else:
                t = const_input(fn, i)
                key = id(t) if t is not None else ("freed", oid, i)
                src = leaf_node(key, t, shape, dtype, False)
                kind = "const"
            if edge is None or edge[1] is None:  # a leaf or constant: made outside every block
                label = _skip_label(fn, path, (), g)
                kind = "skip" if label is not None else kind
            if src in placement:
                consumers.setdefault(src, []).append(path)
                users.setdefault(src, set()).add(oid)
            tip = f"{names[i]}: {L.fmt_shape(shape)} {L.fmt_dtype(dtype)}"
            if label is not None:
                tip = f"skip connection ({label}): " + tip
            in_edges.append(Edge(src, oid, kind, label, tip, label))
        node = g.add(_op_node(fn, oid, path, names, show_values))
        if grads is not None:
            node.grad = grads.get((fn, 0))
        g.edges.extend(in_edges)
        for index, (shape, dtype) in enumerate(fn.output_meta):
            if (fn, index) not in used:
                continue
            t = fn.outputs[index]()
            aid = f"{oid}_y{index}"
            title = t.name if t is not None and getattr(t, "name", None) else None
            lines = _tensor_lines(t, shape, dtype, show_shapes, show_values)
            norm = grads.get((fn, index)) if grads is not None else None
            lines += _flow_lines(norm) if grads is not None else _grad_lines(t, show_grads, show_values)
            tip = [f"output {index} of {L.op_type(fn)}: {L.fmt_shape(shape)} {L.fmt_dtype(dtype)}"]
            if (fn, index) in out_pos:
                title = title or out_title(out_pos[(fn, index)], t)
                g.add(Node(aid, "output", title, lines, tip, (), shape, show_values, dtype)).grad = norm
            else:
                g.add(Node(aid, "act", title, lines, tip, path, shape, show_values, dtype)).grad = norm
            g.edges.append(Edge(oid, aid, "data"))

    for t in outputs:  # outputs that are leaves (no op behind them)
        if t.grad_fn is None:
            leaf_node(id(t), t, t.shape, t.dtype, t.requires_grad)
    if not ops:
        g.note = "no graph was recorded: the outputs have no grad_fn (no input requires grad, or no_grad)"

    for nid, where in placement.items():
        if where == "top":
            continue
        node = g.nodes[nid]
        node.path = _common_prefix(consumers.get(nid, ())) if where == "common" else where
        _place_beside(g, nid, users.get(nid, ()))
    return g


def _flow_lines(norm):
    """The gradient-flow line of a tensor: the norm of d loss / d tensor (none: no gradient reaches it)."""
    if norm is None:
        return ["no gradient"]
    return [f"grad norm {L.fmt_number(norm)}"]


def _skip_label(fn, path, src_path, g):
    """``'identity'`` or the shortcut module's name (``'downsample'``) for an input of an ``Add`` that
    sums a block's branches (as in ResNet's ``out + identity``), else None. The identity is the input
    made outside the block; the shortcut is the one made by a sub-module not on the main path
    (named ``downsample``, ``shortcut`` or ``skip``)."""
    if L.op_type(fn) != "Add" or not path or g.scopes[path[-1]].leaf:
        return None
    block = path[-1]
    if block not in src_path:
        return "identity"
    inner = src_path[len(path)] if len(src_path) > len(path) else None
    if inner is not None:
        short = g.scopes[inner].name.rpartition(".")[2]
        if short in ("downsample", "shortcut", "skip"):
            return short
    return None


def _place_beside(g, nid, ops):
    """A parameter used by one op, in that op's cluster, is drawn beside it (``Graph.beside``), so
    that the main path of the drawing stays straight."""
    if len(ops) == 1:
        (op,) = ops
        if g.nodes[op].path == g.nodes[nid].path:
            g.beside.setdefault(op, []).append(nid)


_SYMBOLS = {
    "Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Neg": "neg", "MatMul": "@", "PowScalar": "**",
    "Pow": "**", "Exp": "exp", "Log": "log", "Tanh": "tanh", "Sigmoid": "sigmoid", "ReLU": "relu",
    "Sum": "sum", "Mean": "mean",
}


def _op_node(fn, oid, path, names, micro):
    op = L.op_type(fn)
    params = L.fmt_params(fn.params)
    fwd, bwd = L.formulas(fn)
    tip = [f"{op}: {fwd}", f"backward: {bwd}"]
    ins = [f"{n} {L.fmt_shape(m[0])} {L.fmt_dtype(m[1])}" for n, m in zip(names, fn.input_meta) if m is not None]
    tip.append("inputs: " + ", ".join(ins))
    tip.append("outputs: " + ", ".join(f"{L.fmt_shape(s)} {L.fmt_dtype(d)}" for s, d in fn.output_meta))
    if params:
        tip.append("args: " + ", ".join(params))
    if getattr(fn, "trace", None):
        tip.append(f"called at {fn.trace}")
    if micro:
        sym = _SYMBOLS.get(op, op.lower())
        if op == "PowScalar":
            sym = f"**{L.fmt_param(fn.params.get('p'))}"
        return Node(oid, "op_micro", sym, [], tip, path)
    return Node(oid, "op", op, L.wrap(params), tip, path)


# --------------------------------------------------------------------------- backward graph


def backward_graph(outputs, params=None, show_shapes=True, show_values=False, show_grads=True, group=False,
                   grads=None):
    """The gradient graph: from the outputs' gradients through each op's backward to the leaves'
    ``.grad``, with the arrays each backward reads (its saved tensors), each named by the op's
    ``saved_names``, with its shape and bytes; ``Graph.saved_bytes`` is their total (each buffer once).
    ``grads`` as in ``forward_graph``: each backward op then shows the norm of the gradient it receives."""
    g = Graph("backward")
    ops = topological_ops(outputs)
    scopes = _Scopes(ops, g)
    given, derived = _tensor_names(params, scopes.roots)
    namer = _Namer(given, derived, scopes, group)
    op_id = {fn: f"op{k}" for k, fn in enumerate(ops)}
    leaf_ids = {}
    users, owners = {}, {}  # leaf node id -> ids of the backward ops feeding it / owner path
    memory = {}  # owner of a saved buffer -> its bytes (each buffer counted once in the total)

    for k, t in enumerate(outputs):
        if t.grad_fn is None:
            continue
        sid = f"grad{k}"
        one = t.data.size == 1
        name = t.name or "output"
        title = f"d{name}/d{name} = 1" if one else f"gradient of {name}"
        lines = _shape_line(t.shape, t.dtype, show_shapes and not one)
        tip = ["the gradient that starts backward()" if one else "the gradient given to backward(gradient=...)"]
        g.add(Node(sid, "seed", title, lines, tip, ()))
        g.edges.append(Edge(sid, op_id[t.grad_fn], "seed"))

    for fn in reversed(ops):
        oid = op_id[fn]
        path = scopes.paths[fn]
        names = L.input_names(fn)
        params = L.fmt_params(fn.params)
        lines = L.wrap(params)
        released = getattr(fn, "_released", False)
        if released:
            lines.append("(saved arrays freed by backward)")
        fwd, bwd = L.formulas(fn)
        tip = [f"{fn.name}: {bwd}", f"forward: {fwd}"]
        if getattr(fn, "trace", None):
            tip.append(f"called at {fn.trace}")
        node = g.add(Node(oid, "bwd", fn.name, lines, tip, path))
        if grads is not None:
            node.grad = grads.get((fn, 0))
            node.lines += _flow_lines(node.grad)
        saved = () if released else getattr(fn, "_saved", ())
        if saved:
            node.saved = _saved_rows(fn, saved, names, namer, show_shapes, memory)
            node.tooltip.append("saved by the forward, read by this backward: " + "; ".join(node.saved))
        for i, edge in enumerate(fn.next):
            if edge is None:
                continue
            shape, dtype = fn.input_meta[i]
            short = L.fmt_shape(shape) if show_shapes else None
            label = f"d{names[i]}" + (f" {short}" if show_shapes else "")
            tip = f"gradient for input {names[i]} of {L.op_type(fn)}: {L.fmt_shape(shape)} {L.fmt_dtype(dtype)}"
            src, index = edge
            if index is not None:
                g.edges.append(Edge(oid, op_id[src], "grad", label, tip, short))
                continue
            nid = leaf_ids.get(id(src))
            if nid is None:
                nid = leaf_ids[id(src)] = f"leaf{len(leaf_ids)}"
                label_name, full, owner = namer.name(src)
                lines = _shape_line(src.shape, src.dtype, show_shapes)
                lines += _grad_lines(src, show_grads, show_values)
                if grads is not None:
                    lines = _shape_line(src.shape, src.dtype, show_shapes) + _flow_lines(grads.get(id(src)))
                ltip = [f"{full or 'leaf'}: .grad accumulates here (AccumulateGrad)"]
                leaf_node = g.add(Node(nid, "param", label_name or "leaf", lines, ltip, (), src.shape, show_values))
                leaf_node.grad = grads.get(id(src)) if grads is not None else None
                owners[nid] = owner
            users.setdefault(nid, set()).add(oid)
            g.edges.append(Edge(oid, nid, "grad_leaf", label, tip, short))
    if not ops:
        g.note = "no graph was recorded: the outputs have no grad_fn (no input requires grad, or no_grad)"
    g.saved_bytes, g.saved_arrays = sum(memory.values()), len(memory)
    for nid, owner in owners.items():
        g.nodes[nid].path = owner if owner is not None else ()
        _place_beside(g, nid, users.get(nid, ()))
    return g


def _saved_rows(fn, saved, names, namer, show_shapes, memory):
    """One line per array ``fn`` saved for backward: ``'xhat: 2x64x8x8 float32, 32 KiB'``.

    The name is the op's own (``fn.saved_names[j]``); where the array is also one of fn's
    inputs or outputs with a known name (a parameter, a named tensor), that name follows
    (``'w = fc.weight'``). Ops that declare no names get the input/output's name, else ``saved[j]``.
    An array saved twice (``y = x * x``) is one line; ``memory`` collects bytes per buffer (a
    reshaped view shares its base's) for the graph's total.
    """
    declared = getattr(fn, "saved_names", None)  # an op whose saves vary names them per call
    known = _known_arrays(fn, names, namer)
    rows, order = {}, []
    for j, arr in enumerate(saved):
        if arr is None or not hasattr(arr, "shape"):
            continue
        decl = declared[j] if declared is not None and j < len(declared) else None
        if id(arr) not in rows:
            rows[id(arr)] = (arr, [])
            order.append(id(arr))
        rows[id(arr)][1].append(decl if decl is not None else f"saved[{j}]")
        owner, nbytes = _memory(arr)
        memory[owner] = max(memory.get(owner, 0), nbytes)
    lines = []
    for key in order:
        arr, decls = rows[key]
        found = known(arr)
        if all(d.startswith("saved[") for d in decls) and found:  # no declared name: the input's
            text = ", ".join(role + (f" = {full}" if full else "") for role, full in found)
        else:
            text = ", ".join(decls)
            fulls = [full or role for role, full in found if (full or role) not in decls]
            if fulls:
                text += " = " + fulls[0]
        if show_shapes:
            text += f": {L.fmt_shape(arr.shape)} {L.fmt_dtype(arr.dtype)}, {L.fmt_bytes(arr.nbytes)}"
        lines.append(text)
    return lines


def _memory(arr):
    """(owner of the memory, bytes): a reshaped view (``x.reshape(-1, n)``) has the same owner as ``x``."""
    base = getattr(arr, "base", None)
    return id(arr if base is None else base), int(arr.nbytes)


def _known_arrays(fn, names, namer):
    """A function giving, for a saved array, ``[(role, full name)]`` of fn's inputs and outputs that
    hold it (or whose reshaped view it is) and are still known: ``[('a', 'x')]``, ``[('y', None)]``."""
    exact, memory = {}, {}

    def add(t, role, full):
        exact.setdefault(id(t.data), []).append((role, full))
        memory.setdefault(_memory(t.data)[0], []).append((role, full))

    for i in range(len(fn.input_meta)):
        if fn.input_meta[i] is None:
            continue
        t = input_tensor(fn, i)
        if t is not None:
            _, full, _ = namer.name(t)
            add(t, names[i], full if full != names[i] else None)
    for index, ref in enumerate(fn.outputs):
        t = ref()
        if t is not None:
            add(t, "y" if len(fn.outputs) == 1 else f"y{index}", getattr(t, "name", None))

    def known(arr):
        return exact.get(id(arr)) or memory.get(_memory(arr)[0]) or []

    return known


# --------------------------------------------------------------------------- simplifications


def collapse(g, depth=None, expanded=None, fold_leaves=True):
    """Fold module calls into one node each (``module`` nodes); tensors leaving a folded call stay
    drawn, so the shapes between modules remain.

    A call is open (drawn as a cluster of what it holds) when its depth is below ``depth`` (0: the
    model, 1: ``layer1``, 2: ``layer1.0``, ...) or its key is in ``expanded``; everything inside the
    outermost closed call is folded into it. A layer (a module without sub-modules, e.g. ``conv1``)
    is folded even inside an open call when ``fold_leaves`` (the architecture view), and drawn open
    (its ops) when not (the interactive page's view).
    """

    def is_open(scope):
        if scope.leaf:
            return not fold_leaves
        return (depth is not None and scope.depth < depth) or (expanded is not None and scope.key in expanded)

    def fold_key(node):
        for key in node.path:
            if not is_open(g.scopes[key]):
                return key
        return None

    keys = {nid: fold_key(node) for nid, node in g.nodes.items()}
    mod_ids, members, target = {}, {}, {}
    out_edges = {}
    for e in g.edges:
        out_edges.setdefault(e.src, []).append(e)

    def fold(node, key):
        mid = mod_ids.get(key)
        if mid is None:
            mid = mod_ids[key] = f"mod{len(mod_ids)}"
        members.setdefault(mid, []).append(node)
        return mid

    for node in g.nodes.values():
        key = keys[node.id]
        if key is None:
            target[node.id] = node.id
        elif node.kind == "act" and any(keys[e.dst] != key for e in out_edges.get(node.id, ())):
            node.path = g.scopes[key].path[:-1]  # used outside its module call: keep it, outside
            target[node.id] = node.id
        else:
            target[node.id] = fold(node, key)

    nodes = {}
    for node in g.nodes.values():
        t = target[node.id]
        if t == node.id:
            nodes[node.id] = node
        elif t not in nodes:
            key = keys[node.id]
            nodes[t] = _module_node(t, g.scopes[key], members[t], g.mode)
    edges, seen = [], set()
    for e in g.edges:
        src, dst = target[e.src], target[e.dst]
        if src == dst:
            continue
        if (src, dst) != (e.src, e.dst):  # an edge into or out of a folded call: one per pair
            if (src, dst) in seen:
                continue
            seen.add((src, dst))
            e = Edge(src, dst, e.kind, e.short, e.tooltip, e.short)
        edges.append(e)
    g.nodes, g.edges = nodes, edges
    g.beside = {op: [n for n in ids if n in nodes] for op, ids in g.beside.items() if op in nodes}
    return g


def module_params(module):
    """Number of distinct parameters (elements) of a module, and the norm of their ``.grad`` (None
    when none has one)."""
    n, seen, sq, grads = 0, set(), 0.0, 0
    if hasattr(module, "parameters"):
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
                if p.grad is not None:
                    grads += 1
                    sq += L.grad_norm(p.grad.data) ** 2
    return n, (sq ** 0.5 if grads else None)


def _module_node(mid, scope, members, mode="forward"):
    m = scope.module
    n_params, grad = module_params(m)
    lines = [type(m).__name__ + (f" (call {scope.call + 1})" if scope.call else "")]
    contents = L.module_contents(m) or L.layer_lines(m)
    if contents:
        lines += contents
    else:
        extra = m.extra_repr() if hasattr(m, "extra_repr") else ""
        if extra:
            lines += L.wrap([s.strip() for s in extra.replace("\n", ", ").split(", ")], 34)[:3]
    if n_params:
        lines.append(f"{n_params:,} params")
    # with grad_flow: the gradient reaching the call's output (its last op; in backward order, its first)
    flows = [n.grad for n in members if n.kind in ("op", "bwd") and n.grad is not None]
    flow = (flows[0] if mode == "backward" else flows[-1]) if flows else None
    if flow is not None:
        lines.append(f"output grad norm {L.fmt_number(flow)}")
    elif grad is not None:  # after a backward: the norm of all its parameters' gradients together
        lines.append(f"grad norm {L.fmt_number(grad)}")
    ops = {}
    for node in members:
        if node.kind in ("op", "bwd", "op_micro"):
            name = node.title
            ops[name] = ops.get(name, 0) + 1
    tip = [f"{scope.label}, {n_params:,} parameters",
           f"{sum(ops.values())} ops: " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in ops.items())]
    node = Node(mid, "module", scope.name or type(m).__name__, lines, tip, scope.path[:-1])
    node.grad = flow
    node.scope = scope
    return node


NORM_OPS = ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm")


def fold_params(g, which="norm"):
    """Draw the parameters and buffers that feed a single op inside that op's box, as lines
    (``params weight, bias: 64``, ``buffers running_mean, running_var: 64``), instead of one box each.

    ``which="norm"``: only for normalisation ops (BatchNorm's four boxes are otherwise about 40% of a
    ResNet's nodes); ``"all"``: for every op."""
    users = {}
    for e in g.edges:
        src = g.nodes.get(e.src)
        if src is not None and src.kind in ("param", "buffer"):
            users.setdefault(e.src, set()).add(e.dst)
    folded = {}  # op id -> {"params": [...], "buffers": [...]}
    for nid, ops in users.items():
        if len(ops) != 1:
            continue
        (op,) = ops
        opnode, leaf = g.nodes.get(op), g.nodes[nid]
        if opnode is None or opnode.kind != "op" or leaf.path != opnode.path:
            continue
        if which == "norm" and opnode.title not in NORM_OPS:
            continue
        kind = "params" if leaf.kind == "param" else "buffers"
        folded.setdefault(op, {}).setdefault(kind, []).append(leaf)
    gone = set()
    for op, kinds in folded.items():
        node = g.nodes[op]
        for kind in ("params", "buffers"):
            by_shape = {}
            for leaf in kinds.get(kind, ()):
                by_shape.setdefault(L.fmt_shape(leaf.shape), []).append(leaf.title)
                gone.add(leaf.id)
                node.tooltip.append(f"{kind[:-1]} " + "; ".join(str(x) for x in leaf.tooltip[:2]))
            for shape, names in by_shape.items():
                node.lines.append(f"{kind} {', '.join(names)}: {shape}")
    if gone:
        g.nodes = {k: n for k, n in g.nodes.items() if k not in gone}
        g.edges = [e for e in g.edges if e.src not in gone]
        g.beside = {op: [n for n in ids if n not in gone] for op, ids in g.beside.items()}
    return g


def hide_intermediates(g, show_shapes=True):
    """Drop the tensor nodes between ops; their shapes move onto the edges."""
    incoming = {}
    for e in g.edges:
        if e.dst in g.nodes and g.nodes[e.dst].kind == "act":
            incoming[e.dst] = e
    edges = []
    for e in g.edges:
        node = g.nodes.get(e.dst)
        if node is not None and node.kind == "act":
            continue  # op -> tensor: replaced below
        src = g.nodes.get(e.src)
        if src is not None and src.kind == "act" and e.src in incoming:
            producer = incoming[e.src].src
            parts = [src.title] if src.title else []
            if src.shape is not None and show_shapes:
                dtype = L.fmt_dtype(src.dtype)
                parts.append(L.fmt_shape(src.shape) + ("" if dtype == "float32" else f" {dtype}"))
            if e.label:  # a skip connection keeps its name
                parts.insert(0, e.label)
            label = " ".join(parts) or None
            e = Edge(producer, e.dst, e.kind, label, e.tooltip)
        edges.append(e)
    g.nodes = {k: n for k, n in g.nodes.items() if n.kind != "act"}
    g.edges = edges
    return g
