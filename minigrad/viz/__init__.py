"""Graph drawings: see how a forward pass and its backward are wired.

    from minigrad import viz
    y = model(x)
    viz.render(y, path="forward.svg", group_modules=True)   # needs Graphviz's `dot`
    viz.render(y, path="forward.dot")                       # Graphviz source, no Graphviz needed
    viz.render(y, path="backward.svg", backward=True)       # gradient flow and saved arrays
    dot = viz.to_dot(y)                                     # a graphviz.Digraph (Jupyter shows it)

From the command line: ``python -m minigrad.viz resnet18 --out resnet18.svg`` (``--help`` lists more).

- ``graph.py``: the iterative walk and the drawing model (nodes, edges, module calls);
- ``labels.py``: the text (shapes, op arguments, values, formulas from the ops' docstrings);
- ``dot.py``: Graphviz styles, ``to_dot`` and ``render``.
"""
from .dot import FORMATS, GraphvizNotFoundError, build_graph, find_dot, graph_to_dot, render, to_dot
from .graph import topological_ops
from .labels import backward_formula, forward_formula

__all__ = [
    "to_dot", "render", "build_graph", "graph_to_dot", "topological_ops", "forward_formula", "backward_formula",
    "GraphvizNotFoundError", "find_dot", "FORMATS",
]
