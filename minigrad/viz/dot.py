"""Graphviz output: ``to_dot`` builds a ``graphviz.Digraph``; ``render`` writes .dot/.svg/.png/.pdf.

Colours: blue boxes are ops, green boxes leaves that require grad (parameters), grey dashed boxes
constants and buffers (no gradient flows into them), white rounded boxes the tensors between ops,
orange the outputs. In backward drawings red boxes are the backward ops, with yellow rows for the
arrays each one reads (what its forward saved), and red arrows the gradients. Purple boxes are
folded modules.
"""
import os
import shutil
import subprocess

import graphviz

from . import graph as G
from . import labels as L

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

SAVED_FILL, SAVED_BORDER = "#fff4c2", "#b8a032"  # rows of the arrays a backward reads

EDGE_STYLES = {
    "data": dict(color="#555555", weight="4"),  # heavier: the main data path is drawn straight
    "param": dict(color="#555555"),
    "const": dict(color="#9a9a9a", style="dashed"),
    "grad": dict(color="#b5615a", fontcolor="#8c3f38", weight="4"),
    "grad_leaf": dict(color="#b5615a", fontcolor="#8c3f38"),
    "seed": dict(color="#b5615a"),
}

# nested module clusters get slightly darker fills, so the nesting reads at a glance
CLUSTER_FILLS = ["#fcfcfc", "#f4f7fb", "#eaf0f7", "#e1e9f3", "#d8e2ef", "#cfdbeb"]

_TENSOR_KINDS = ("param", "buffer", "const", "act", "output")


def build_graph(*outputs, show_shapes=True, params=None, group_modules=False, show_intermediates=True,
                collapse_depth=None, backward=False, show_values=False, show_grads=True):
    """The drawing as plain ``graph.Graph`` (nodes, edges, module calls), before any Graphviz."""
    outputs = _check_outputs("to_dot", outputs)
    if collapse_depth is not None and (isinstance(collapse_depth, bool) or not isinstance(collapse_depth, int)
                                       or collapse_depth < 0):
        raise ValueError(f"to_dot: collapse_depth must be None or an int >= 0, got {collapse_depth!r}")
    build = G.backward_graph if backward else G.forward_graph
    g = build(outputs, params=params, show_shapes=show_shapes, show_values=show_values,
              show_grads=show_grads, group=group_modules and collapse_depth != 0)
    if collapse_depth is not None:
        G.collapse(g, collapse_depth)
    if not show_intermediates and not backward:
        G.hide_intermediates(g, show_shapes)
    return g


def to_dot(*outputs, show_shapes=True, params=None, group_modules=False, show_intermediates=True,
           collapse_depth=None, backward=False, show_values=False, show_grads=True, rankdir=None, title=None):
    """Draw the graph that produced ``outputs`` (Tensors) as a ``graphviz.Digraph``.

    - ``show_shapes``: shapes and dtypes on tensor nodes (and on edges where tensors are hidden).
    - ``params``: a mapping name -> Tensor (e.g. ``dict(model.named_parameters())``) naming leaves;
      otherwise names come from ``tensor.name``, then from the modules the ops ran in.
    - ``group_modules``: each ``nn.Module`` call is a cluster labelled ``layer1.0.bn1: BatchNorm2d``.
    - ``show_intermediates=False``: only ops, leaves and outputs; shapes move onto the edges.
    - ``collapse_depth``: fold every module call at that depth (1: ``layer1``, 2: ``layer1.0``) into
      one node.
    - ``backward=True``: the gradient graph (each op's backward, the arrays it saved, the leaves whose
      ``.grad`` it fills) instead of the data flow.
    - ``show_values``: micrograd-style nodes with the values (and gradients) of tiny tensors.
    - ``show_grads``: after a backward, annotate tensors holding a ``.grad`` with its norm.
    - ``rankdir``: Graphviz layout direction ("TB", "LR"); ``title``: a caption.

    Node ids follow the order of a deterministic walk (``op0``, ``op1``, ...), so drawing the same graph
    twice gives the same source. In SVG output each op node's tooltip shows its forward and backward
    formulas, read from the op's docstrings.
    """
    g = build_graph(*outputs, show_shapes=show_shapes, params=params, group_modules=group_modules,
                    show_intermediates=show_intermediates, collapse_depth=collapse_depth, backward=backward,
                    show_values=show_values, show_grads=show_grads)
    if rankdir is None:
        rankdir = "LR" if show_values else "TB"
    return graph_to_dot(g, group_modules=group_modules, rankdir=rankdir, title=title)


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


def _quote(value):
    """A DOT attribute value: HTML-like labels (``<...>``) verbatim, anything else double-quoted.
    Backslashes are kept: they are Graphviz escapes (``\\n`` in tooltips)."""
    value = str(value)
    if value.startswith("<") and value.endswith(">"):
        return value
    return '"' + value.replace('"', '\\"') + '"'


def _attrs(attrs):
    return " ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def graph_to_dot(g, group_modules=False, rankdir="TB", title=None):
    """Turn a ``graph.Graph`` into a ``graphviz.Digraph`` (clusters when ``group_modules``).

    The node and edge lines are written here, straight into the Digraph's body: quoting attribute by
    attribute through ``Digraph.node`` is too slow for graphs of 100k nodes."""
    dot = graphviz.Digraph("minigrad", format="svg")
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
        return f"{indent}{node.id} [label={_label(node)} {style}{tip}]\n"

    body = dot.body
    if not group_modules:
        body.extend(node_line(node, "\t") for node in g.nodes.values())
        body.extend(_same_rank(g, g.nodes.values(), "\t"))
    else:
        _emit_clusters(body, g, node_line)
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


def _emit_clusters(body, g, node_line):
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
        attrs = dict(label=L.escape(scope.label), labeljust="l", fontsize="10", fontcolor="#444444",
                     style="rounded,filled", fillcolor=fill, color="#9aa8b8", penwidth="0.8", margin="6")
        body.append(f"{indent}subgraph {ids[key]} {{\n")
        body.append(f"{indent}\tgraph [{_attrs(attrs)}]\n")
        body.extend(node_line(node, indent + "\t") for node in members[key])
        body.extend(_same_rank(g, members[key], indent + "\t"))
        stack.append(("close", key))
        stack.extend(("open", child) for child in reversed(children[key]))


# --------------------------------------------------------------------------- rendering


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is needed (for .svg, .png, .pdf) but is not installed."""


FORMATS = ("dot", "gv", "svg", "png", "pdf")


def find_dot():
    """Path of Graphviz's ``dot`` program, or None when it is not on PATH."""
    return shutil.which("dot")


def render(*outputs, path, **to_dot_options):
    """Draw ``outputs`` (Tensors, or one ``graphviz.Digraph`` from ``to_dot``) into ``path``.

    The extension picks the format: ``.dot``/``.gv`` is the Graphviz source (no Graphviz needed);
    ``.svg``, ``.png``, ``.pdf`` run Graphviz's ``dot``. Returns ``path``.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(f"render: cannot tell the format of '{path}': use a .dot, .gv, .svg, .png or .pdf path")
    if len(outputs) == 1 and isinstance(outputs[0], graphviz.Digraph):
        if to_dot_options:
            raise TypeError("render: options go to to_dot, not with an already built Digraph")
        dot = outputs[0]
    else:
        dot = to_dot(*outputs, **to_dot_options)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if ext in ("dot", "gv"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(dot.source)
        return path
    exe = find_dot()
    if exe is None:
        raise GraphvizNotFoundError(
            f"render('{path}'): Graphviz's `dot` program was not found on PATH; .{ext} output needs it. "
            "Install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
            "(macOS), `conda install -c conda-forge graphviz` (conda) or `winget install graphviz` "
            "(Windows), or write the source instead with a .dot path (render(..., path='graph.dot'))."
        )
    proc = subprocess.run([exe, f"-T{ext}", "-o", path], input=dot.source.encode("utf-8"), capture_output=True)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise RuntimeError(f"render('{path}'): dot failed with exit status {proc.returncode}: {err}")
    return path
