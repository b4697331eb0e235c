"""Graphviz output: ``to_dot`` builds a ``graphviz.Digraph``; ``render`` writes .dot/.svg/.png/.pdf/.html.

Colours (every drawing carries a legend saying so): blue boxes are ops, green boxes leaves that
require grad (parameters), grey dashed boxes constants and buffers (no gradient flows into them),
white rounded boxes the tensors between ops, orange the outputs. In backward drawings red boxes are
the backward ops, with yellow rows for the arrays each one reads (what its forward saved), and red
arrows the gradients. Purple boxes are folded modules; purple arrows skip connections. With
``grad_flow=True`` fills show the gradient's norm on a log scale (dark: small, yellow: large).

The ``graphviz`` Python package is an optional extra (``pip install 'minigrad[viz]'``), imported
on first use: ``import minigrad`` does not need it.
"""
import os
import shutil
import subprocess

from . import gradflow as GF
from . import graph as G
from . import labels as L


def _graphviz():
    """The ``graphviz`` package, or an ImportError that names the extra to install."""
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            "minigrad.viz draws with the `graphviz` Python package, which is not installed: "
            "pip install 'minigrad[viz]' (or pip install graphviz). Rendering .svg/.png/.pdf/.html also "
            "needs Graphviz's `dot` program (e.g. apt-get install graphviz)."
        ) from None
    return graphviz

FONT = "Helvetica"

STYLES = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#dbe8f5", color="#5b7fa6"),
    "op_micro": dict(shape="circle", style="filled", fillcolor="#dbe8f5", color="#5b7fa6", margin="0.02"),
    "bwd": dict(shape="box", style="rounded,filled", fillcolor="#f9dcd8", color="#b5615a"),
    "param": dict(shape="box", style="filled", fillcolor="#d7efd4", color="#5e9a57"),
    "buffer": dict(shape="box", style="filled,dashed", fillcolor="#ececec", color="#888888"),
    "const": dict(shape="box", style="filled,dashed", fillcolor="#f5f5f5", color="#999999"),
    "scalar": dict(shape="box", style="rounded,filled,dashed", fillcolor="#f5f5f5", color="#999999"),
    "act": dict(shape="box", style="rounded", color="#b0b0b0", fontcolor="#333333", margin="0.06,0.02",
                height="0.2"),
    "output": dict(shape="box", style="filled,bold", fillcolor="#ffe3b3", color="#c98a1b"),
    "seed": dict(shape="box", style="rounded,filled,bold", fillcolor="#ffe3b3", color="#c98a1b"),
    "module": dict(shape="box", style="filled,bold", fillcolor="#e8e2f4", color="#7a68a6"),
}

# what each kind of box means, for the legend (in this order)
MEANINGS = [
    ("op", "op (hover: its forward and backward formulas)"),
    ("bwd", "backward op (hover: its gradient formula)"),
    ("param", "parameter: a leaf that requires grad"),
    ("buffer", "buffer (e.g. running statistics): no gradient"),
    ("const", "input or constant: no gradient"),
    ("act", "tensor between ops: shape, dtype"),
    ("output", "output"),
    ("seed", "the gradient backward starts from"),
    ("module", "a module call folded into one box"),
]

SAVED_FILL, SAVED_BORDER = "#fff4c2", "#b8a032"  # rows of the arrays a backward reads

EDGE_STYLES = {
    "data": dict(color="#555555", weight="4"),  # heavier: the main data path is drawn straight
    "param": dict(color="#555555"),
    "const": dict(color="#9a9a9a", style="dashed"),
    "grad": dict(color="#b5615a", fontcolor="#8c3f38", weight="4"),
    "grad_leaf": dict(color="#b5615a", fontcolor="#8c3f38"),
    "seed": dict(color="#b5615a"),
    "skip": dict(color="#7a68a6", fontcolor="#5b4a8a", penwidth="1.6", weight="1"),
}

# nested module clusters get slightly darker fills, so the nesting reads at a glance
CLUSTER_FILLS = ["#fcfcfc", "#f4f7fb", "#eaf0f7", "#e1e9f3", "#d8e2ef", "#cfdbeb"]

_TENSOR_KINDS = ("param", "buffer", "const", "act", "output")
_FLOW_KINDS = ("op", "bwd", "param", "act", "output", "module")  # coloured by gradient norm with grad_flow


def build_graph(*outputs, show_shapes=True, params=None, group_modules=False, show_intermediates=True,
                collapse_depth=None, backward=False, show_values=False, show_grads=True, fold_params=None,
                grad_flow=False, grad_range=None, expanded=None, fold_leaves=True, grads=None):
    """The drawing as plain ``graph.Graph`` (nodes, edges, module calls), before any Graphviz.

    ``expanded`` (a set of module-call keys) and ``fold_leaves`` refine ``collapse_depth``: see
    ``graph.collapse`` (the interactive page draws one graph per set of open modules). ``grads``:
    gradient norms already computed by ``gradflow.gradient_norms`` (else ``grad_flow`` computes them)."""
    outputs = _check_outputs("to_dot", outputs)
    if collapse_depth is not None and (isinstance(collapse_depth, bool) or not isinstance(collapse_depth, int)
                                       or collapse_depth < 0):
        raise ValueError(f"to_dot: collapse_depth must be None or an int >= 0, got {collapse_depth!r}")
    if fold_params not in (None, True, False, "norm", "all"):
        raise ValueError(f"to_dot: fold_params must be None, True, False, 'norm' or 'all', got {fold_params!r}")
    if grad_flow and grads is None:
        if len(outputs) != 1:
            raise ValueError(f"to_dot(grad_flow=True): give one scalar loss, got {len(outputs)} outputs")
        grads = GF.gradient_norms(outputs[0])
    build = G.backward_graph if backward else G.forward_graph
    g = build(outputs, params=params, show_shapes=show_shapes, show_values=show_values,
              show_grads=show_grads, group=group_modules and collapse_depth != 0, grads=grads)
    if fold_params is None:
        fold_params = "norm" if group_modules else False
    if fold_params and not backward and not show_values:
        G.fold_params(g, "all" if fold_params in (True, "all") else "norm")
    if collapse_depth is not None or expanded is not None:
        G.collapse(g, collapse_depth, expanded, fold_leaves)
    if not show_intermediates and not backward:
        G.hide_intermediates(g, show_shapes)
    if grad_flow:
        g.grad_range = GF.log_range([n.grad for n in g.nodes.values()], grad_range)
    return g


def to_dot(*outputs, show_shapes=True, params=None, group_modules=False, show_intermediates=True,
           collapse_depth=None, backward=False, show_values=False, show_grads=True, rankdir=None, title=None,
           fold_params=None, grad_flow=False, grad_range=None, legend=True):
    """Draw the graph that produced ``outputs`` (Tensors) as a ``graphviz.Digraph``.

    - ``show_shapes``: shapes and dtypes on tensor nodes (and on edges where tensors are hidden).
    - ``params``: a mapping name -> Tensor (e.g. ``dict(model.named_parameters())``) naming leaves;
      otherwise names come from ``tensor.name``, then from the modules the ops ran in.
    - ``group_modules``: each ``nn.Module`` call is a cluster labelled ``layer1.0.bn1: BatchNorm2d``
      (hover: its type and parameter count). Add ops that sum a block's branches get their inputs
      labelled ``identity`` / ``downsample`` (skip connections).
    - ``show_intermediates=False``: only ops, leaves and outputs; shapes move onto the edges.
    - ``collapse_depth``: fold every module call at that depth (1: ``layer1``, 2: ``layer1.0``) into
      one node, which names what it holds (``conv3x3 -> conv3x3``, ``downsample conv1x1/2 + BN``) and
      its parameter count.
    - ``fold_params``: draw parameters/buffers that feed one op inside the op's box: ``"norm"`` (only
      normalisation ops: BatchNorm's weight, bias, running_mean, running_var), ``"all"``/``True``,
      ``False``; default (None): ``"norm"`` with ``group_modules``, else ``False``.
    - ``backward=True``: the gradient graph (each op's backward, the arrays it saved for backward by
      their names (``xhat``, ``inv_std``, ...) with shape and bytes, the total saved, and the leaves
      whose ``.grad`` it fills) instead of the data flow.
    - ``grad_flow=True``: ``outputs`` is one scalar loss; a backward pass (graph kept, no ``.grad``
      touched) finds the gradient norm ``||d loss / d t||`` of EVERY tensor t (intermediate ones
      included), shown on each tensor and colouring each node on a log scale (a colour bar in the
      legend): vanishing or exploding gradients show as a fade along the depth. ``grad_range=(lo, hi)``
      fixes the colour bar's ends, so that two drawings (e.g. with and without BatchNorm) compare::

          loss = F.cross_entropy(model(x), labels)
          viz.render(loss, path="flow.svg", grad_flow=True, group_modules=True, collapse_depth=1)
          viz.render(loss, path="flow.svg", grad_flow=True, grad_range=(1e-8, 1e-1))

    - ``show_values``: micrograd-style nodes with the values (and gradients) of tiny tensors.
    - ``show_grads``: after a backward, annotate tensors holding a ``.grad`` with its norm.
    - ``rankdir``: Graphviz layout direction ("TB", "LR"); ``title``: a caption; ``legend``: a key
      to the colours and shapes (``False`` leaves it out).

    Node ids follow the order of a deterministic walk (``op0``, ``op1``, ...), so drawing the same graph
    twice gives the same source. In SVG output each op node's tooltip shows its forward and backward
    formulas, read from the op's docstrings.
    """
    g = build_graph(*outputs, show_shapes=show_shapes, params=params, group_modules=group_modules,
                    show_intermediates=show_intermediates, collapse_depth=collapse_depth, backward=backward,
                    show_values=show_values, show_grads=show_grads, fold_params=fold_params, grad_flow=grad_flow,
                    grad_range=grad_range)
    if rankdir is None:
        rankdir = "LR" if show_values else "TB"
    return graph_to_dot(g, group_modules=group_modules, rankdir=rankdir, title=title, legend=legend)


def _check_outputs(fname, outputs):
    from ..tensor import Tensor

    flat = []
    for o in outputs:
        if isinstance(o, (tuple, list)):
            flat.extend(o)
        else:
            flat.append(o)
    if not flat:
        raise TypeError(f"{fname}: give at least one output Tensor to draw")
    for o in flat:
        if not isinstance(o, Tensor):
            raise TypeError(f"{fname}: outputs must be Tensors, got {type(o).__name__}")
    return flat


def _label(node):
    if node.values and node.kind in _TENSOR_KINDS:  # micrograd style: name | data | grad
        cells = ([f"<b>{L.escape(node.title)}</b>"] if node.title else []) + [L.escape(x) for x in node.lines]
        fill = STYLES[node.kind].get("fillcolor", "white")
        tds = "".join(f"<td>{c}</td>" for c in cells)
        return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" bgcolor="{fill}">'
                f"<tr>{tds}</tr></table>>")
    if node.kind == "act" and node.title is None:
        return L.html_lines(None, node.lines, small=10)
    if node.kind == "op_micro":
        return L.html_lines(node.title, [])
    if node.saved:  # a backward op: its name, arguments, then the arrays it reads (yellow rows)
        rows = [f"<tr><td><b>{L.escape(node.title)}</b></td></tr>"]
        rows += [f'<tr><td><font point-size="9">{L.escape(line)}</font></td></tr>' for line in node.lines]
        rows += [f'<tr><td bgcolor="{SAVED_FILL}" border="1" color="{SAVED_BORDER}" cellpadding="2">'
                 f'<font point-size="9">{L.escape(s)}</font></td></tr>' for s in node.saved]
        return '<<table border="0" cellborder="0" cellspacing="2" cellpadding="0">' + "".join(rows) + "</table>>"
    return L.html_lines(node.title, node.lines)


def legend_label(g, group_modules=False):
    """The legend: a swatch and a line for each kind of box and arrow the drawing holds; the total
    saved for backward; with grad_flow, the colour bar of gradient norms."""
    kinds = {"op" if n.kind == "op_micro" else n.kind for n in g.nodes.values()}
    edge_kinds = {e.kind for e in g.edges}
    rows = []

    def row(cell, text):
        rows.append(f'<tr>{cell}<td align="left"><font point-size="9">{L.escape(text)}</font></td></tr>')

    def swatch(fill, border, dashed=False):
        style = ' style="dashed"' if dashed else ""
        return (f'<td bgcolor="{fill}" color="{border}" border="1"{style} width="24" height="12" '
                f'fixedsize="true"> </td>')

    def arrow(colour):
        return f'<td><font color="{colour}" point-size="11"><b>&#8594;</b></font></td>'

    for kind, text in MEANINGS:
        if kind in kinds:
            style = STYLES[kind]
            row(swatch(style.get("fillcolor", "white"), style["color"], "dashed" in style.get("style", "")), text)
    if any(n.saved for n in g.nodes.values()):
        row(swatch(SAVED_FILL, SAVED_BORDER), "array saved for backward: name: shape dtype, bytes")
    if group_modules and any(n.path for n in g.nodes.values()):
        row(swatch(CLUSTER_FILLS[1], "#9aa8b8"), "frame: an nn.Module call (hover: type, parameters)")
    if "grad" in edge_kinds or "grad_leaf" in edge_kinds:
        row(arrow(EDGE_STYLES["grad"]["color"]), "gradient flowing back (dx: shape)")
    if "skip" in edge_kinds:
        row(arrow(EDGE_STYLES["skip"]["color"]), "skip connection (identity or downsample)")
    if "const" in edge_kinds:
        row(arrow(EDGE_STYLES["const"]["color"]), "input that gets no gradient")
    if g.saved_bytes is not None and g.saved_arrays:
        rows.append(f'<tr><td colspan="2" align="left"><font point-size="10"><b>saved for backward: '
                    f"{L.fmt_bytes(g.saved_bytes)} in {g.saved_arrays} arrays</b> (each buffer counted once)"
                    "</font></td></tr>")
    if g.grad_range is not None:
        lo, hi = g.grad_range
        cells = "".join(f'<td bgcolor="{fill}" width="18"> </td>' for fill, _, _ in GF.colour_bar(g.grad_range))
        cells = (f'<td align="right"><font point-size="9">{L.fmt_number(lo)}</font></td>' + cells
                 + f'<td align="left"><font point-size="9">{L.fmt_number(hi)}</font></td>')
        rows.append('<tr><td colspan="2" align="left"><font point-size="9">gradient norm ||d loss / d t|| '
                    "(log scale; grey: no gradient)</font></td></tr>")
        rows.append(f'<tr><td colspan="2"><table border="0" cellspacing="0" cellpadding="3"><tr>{cells}'
                    "</tr></table></td></tr>")
    head = '<tr><td colspan="2" align="left"><font point-size="10"><b>legend</b></font></td></tr>'
    return ('<<table border="1" color="#cccccc" cellborder="0" cellspacing="2" cellpadding="2" bgcolor="white">'
            + head + "".join(rows) + "</table>>")


def _quote(value):
    """A DOT attribute value: HTML-like labels (``<...>``) verbatim, anything else double-quoted.
    Backslashes are kept: they are Graphviz escapes (``\\n`` in tooltips)."""
    value = str(value)
    if value.startswith("<") and value.endswith(">"):
        return value
    return '"' + value.replace('"', '\\"') + '"'


def _attrs(attrs):
    return " ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def graph_to_dot(g, group_modules=False, rankdir="TB", title=None, legend=True, element_ids=None):
    """Turn a ``graph.Graph`` into a ``graphviz.Digraph`` (clusters when ``group_modules``).

    The node and edge lines are written here, straight into the Digraph's body: quoting attribute by
    attribute through ``Digraph.node`` is too slow for graphs of 100k nodes. ``element_ids`` (a
    function of a Scope, for the interactive page) gives module nodes and clusters SVG ids."""
    dot = _graphviz().Digraph("minigrad", format="svg")
    caption = [t for t in (title, g.note) if t]
    dot.attr(rankdir=rankdir, fontname=FONT, nodesep="0.25", ranksep="0.3", newrank="true")
    if caption:
        dot.attr(label=L.escape(" / ".join(caption)), labelloc="t", fontsize="14")
    dot.attr("node", fontname=FONT, fontsize="11", margin="0.1,0.04", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="9", arrowsize="0.6", penwidth="1.0")
    styles = {kind: _attrs(style) for kind, style in STYLES.items()}
    plain = _attrs(dict(shape="plain"))

    def node_line(node, indent):
        style = plain if node.values and node.kind in _TENSOR_KINDS else styles[node.kind]
        tip = f" tooltip={_quote(L.tooltip(node.tooltip))}" if node.tooltip else ""
        if g.grad_range is not None and node.kind in _FLOW_KINDS:
            fill, font = GF.colour(node.grad, g.grad_range)
            base = STYLES[node.kind].get("style", "")
            filled = base if "filled" in base else ",".join(x for x in (base, "filled") if x)
            style += f' fillcolor="{fill}" fontcolor="{font}" style="{filled}"'
        if element_ids is not None and node.scope is not None:
            style += f' id="{element_ids(node.scope, "node")}"'
        return f"{indent}{node.id} [label={_label(node)} {style}{tip}]\n"

    body = dot.body
    if not group_modules:
        body.extend(node_line(node, "\t") for node in g.nodes.values())
        body.extend(_same_rank(g, g.nodes.values(), "\t"))
    else:
        _emit_clusters(body, g, node_line, element_ids)
    if legend:
        body.append(f"\tlegend [label={legend_label(g, group_modules)} shape=plain]\n")
        body.append("\t{rank=min; legend}\n")
    edge_styles = {kind: _attrs(style) for kind, style in EDGE_STYLES.items()}
    for e in g.edges:
        extra = ""
        if e.label:
            extra += f" label={_quote(L.escape(e.label))}"
        if e.tooltip:
            extra += f" tooltip={_quote(L.tooltip([e.tooltip]))}"
        body.append(f"\t{e.src} -> {e.dst} [{edge_styles[e.kind]}{extra}]\n")
    return dot


def _same_rank(g, nodes, indent):
    """Rank constraints that keep the data path straight: an op's only parameter is drawn beside
    it (``{rank=same; op; weight}``), several (BatchNorm's) in one row above it."""
    lines = []
    for node in nodes:
        beside = [nid for nid in g.beside.get(node.id, ()) if nid in g.nodes]
        if len(beside) == 1:
            lines.append(f"{indent}{{rank=same; {node.id}; {beside[0]}}}\n")
        elif beside:
            lines.append(f"{indent}{{rank=same; {'; '.join(beside)}}}\n")
    return lines


def _emit_clusters(body, g, node_line, element_ids=None):
    """Nodes into nested module clusters; a cluster's children are listed in order of appearance."""
    children = {None: []}  # cluster key (None: the top) -> child keys
    members = {None: []}
    ids = {}
    for node in g.nodes.values():
        parent = None
        for key in node.path:
            if key not in children:
                children[key], members[key] = [], []
                ids[key] = f"cluster_{len(ids)}"
                children[parent].append(key)
            parent = key
        members[parent].append(node)
    body.extend(node_line(node, "\t") for node in members[None])
    body.extend(_same_rank(g, members[None], "\t"))
    # depth first with an explicit stack: ("open", key) writes a cluster's head and nodes, then its
    # children, then ("close", key) its closing brace
    stack = [("open", key) for key in reversed(children[None])]
    while stack:
        action, key = stack.pop()
        scope = g.scopes[key]
        indent = "\t" * (scope.depth + 1)
        if action == "close":
            body.append(indent + "}\n")
            continue
        fill = CLUSTER_FILLS[min(scope.depth, len(CLUSTER_FILLS) - 1)]
        n_params = G.module_params(scope.module)[0]
        attrs = dict(label=L.escape(scope.label), labeljust="l", fontsize="10", fontcolor="#444444",
                     style="rounded,filled", fillcolor=fill, color="#9aa8b8", penwidth="0.8", margin="6",
                     tooltip=f"{scope.label}: {n_params:,} parameters")
        if element_ids is not None:
            attrs["id"] = element_ids(scope, "cluster")
        body.append(f"{indent}subgraph {ids[key]} {{\n")
        body.append(f"{indent}\tgraph [{_attrs(attrs)}]\n")
        body.extend(node_line(node, indent + "\t") for node in members[key])
        body.extend(_same_rank(g, members[key], indent + "\t"))
        stack.append(("close", key))
        stack.extend(("open", child) for child in reversed(children[key]))


# --------------------------------------------------------------------------- rendering


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed (for .svg, .png, .pdf) but is not installed."""


FORMATS = ("dot", "gv", "svg", "png", "pdf", "html")


def find_dot():
    """Path of Graphviz's ``dot`` program, or None when it is not on PATH."""
    return shutil.which("dot")


def run_dot(source, fmt, path=None):
    """Run Graphviz's ``dot -T<fmt>`` on DOT ``source``; write ``path``, or return the bytes."""
    exe = find_dot()
    if exe is None:
        raise GraphvizNotFoundError(
            f"render('{path or fmt}'): Graphviz's `dot` program was not found on PATH; .{fmt} output needs it. "
            "Install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
            "(macOS), `conda install -c conda-forge graphviz` (conda) or `winget install graphviz` "
            "(Windows), or write the source instead with a .dot path (render(..., path='graph.dot'))."
        )
    cmd = [exe, f"-T{fmt}"] + (["-o", path] if path else [])
    proc = subprocess.run(cmd, input=source.encode("utf-8"), capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"render('{path or fmt}'): dot failed with exit status {proc.returncode}: {err}")
    return path if path else proc.stdout


def render(*outputs, path, **to_dot_options):
    """Draw ``outputs`` (Tensors, or one ``graphviz.Digraph`` from ``to_dot``) into ``path``.

    The extension picks the format: ``.dot``/``.gv`` is the Graphviz source (no Graphviz needed);
    ``.svg``, ``.png``, ``.pdf`` run Graphviz's ``dot``; ``.html`` writes one self-contained
    interactive page (see ``html.write_page``: pan and zoom, module clusters that open and close on
    click, formulas on hover), which also needs ``dot`` to lay the drawings out. Returns ``path``.
    """
    from ..tensor import Tensor

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"render: cannot tell the format of '{path}': use a .dot, .gv, .svg, .png, .pdf or .html path")
    built = len(outputs) == 1 and not isinstance(outputs[0], Tensor) and hasattr(outputs[0], "source")
    if built and to_dot_options:
        raise TypeError("render: options go to to_dot, not with an already built Digraph")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if ext == "html":
        if built:
            raise TypeError("render: an .html page is drawn from the output Tensors (it lays out several "
                            "views), not from a built Digraph")
        from .html import write_page

        return write_page(*outputs, path=path, **to_dot_options)
    dot = outputs[0] if built else to_dot(*outputs, **to_dot_options)
    if ext in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot.source)
        return path
    return run_dot(dot.source, ext, path)
