"""Gradient flow: the norm of d loss / d t for every tensor t of a graph, intermediate ones included.

Intermediate tensors are usually gone by the time a drawing is made (only their ops are kept), so
their gradients cannot be read from ``.grad``. ``gradient_norms`` asks the engine for them instead:
``minigrad.autograd.grad`` returns the gradient at any op output named by its ``(grad_fn, output
index)`` pair, so one backward pass (which keeps the graph, and leaves every ``.grad`` untouched)
gives them all.
"""
import math

from .. import autograd
from . import labels as L
from .graph import topological_ops


def _op_output(fn, index):
    """A Tensor that stands for output ``index`` of op ``fn`` in ``grad(..., inputs=...)``: the engine
    finds a non-leaf input by its ``(grad_fn, _output_index)``, so the original tensor (usually gone by
    now) is not needed and no data is attached."""
    from ..tensor import Tensor

    return Tensor._from_op(None, fn, index)


def gradient_norms(loss):
    """``{(fn, output index): norm, id(leaf): norm}`` of d loss / d tensor for every op output and
    every leaf that requires grad behind ``loss`` (a one-element Tensor). Tensors no gradient reaches
    are left out. The graph is kept (``retain_graph=True``) and no ``.grad`` changes."""
    if loss.data.size != 1:
        raise ValueError(
            f"grad_flow: the output must be a scalar loss (one element), got shape {loss.shape}; "
            "reduce it first, e.g. F.cross_entropy(logits, labels) or out.pow(2).mean()"
        )
    if loss.grad_fn is None:
        raise ValueError("grad_flow: the loss has no grad_fn (no input requires grad, or it was made under no_grad)")
    ops = topological_ops([loss])
    if any(getattr(fn, "_released", False) for fn in ops):
        raise ValueError("grad_flow: the graph's saved arrays were freed by an earlier backward(); draw before "
                         "calling backward(), or call backward(retain_graph=True)")
    targets, keys, leaves = [], [], set()
    for fn in ops:
        for index in range(len(fn.output_meta)):
            targets.append(_op_output(fn, index))
            keys.append((fn, index))
        for edge in fn.next:
            if edge is not None and edge[1] is None and id(edge[0]) not in leaves:
                leaves.add(id(edge[0]))
                targets.append(edge[0])
                keys.append(id(edge[0]))
    # tensors that retain_grad() get their .grad filled by any backward walk: keep them as they are
    retained = [t for fn in ops for t in (ref() for ref in fn.outputs) if t is not None and t._retains_grad]
    before = [t.grad for t in retained]
    try:
        grads = autograd.grad(loss, targets, retain_graph=True, allow_unused=True)
    finally:
        for t, g in zip(retained, before):
            t.grad = g
    return {key: L.grad_norm(g.data) for key, g in zip(keys, grads) if g is not None}


def log_range(norms, fixed=None):
    """(lo, hi): the smallest and largest nonzero norm (a colour scale's ends), or ``fixed``."""
    if fixed is not None:
        lo, hi = fixed
        if not (lo > 0 and hi > 0):
            raise ValueError(f"grad_range must be two positive numbers (lo, hi), got {fixed!r}")
        return float(min(lo, hi)), float(max(lo, hi))
    pos = [v for v in norms if v is not None and v > 0 and math.isfinite(v)]
    if not pos:
        return None
    return min(pos), max(pos)


# A sequential colour scale (viridis), dark = small gradient, yellow = large.
PALETTE = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b",
           "#fde725"]


def colour(norm, lo_hi):
    """(fill, font colour) of a gradient norm on the log scale between ``lo_hi``; grey for 0/none."""
    if norm is None or lo_hi is None:
        return "#eeeeee", "#555555"
    if norm <= 0 or not math.isfinite(norm):
        return "#dddddd", "#333333"
    lo, hi = lo_hi
    span = math.log10(hi) - math.log10(lo)
    t = 0.5 if span <= 0 else (math.log10(norm) - math.log10(lo)) / span
    t = min(max(t, 0.0), 1.0)
    k = min(int(t * len(PALETTE)), len(PALETTE) - 1)
    return PALETTE[k], "white" if k < 5 else "black"


def colour_bar(lo_hi, steps=len(PALETTE)):
    """[(fill, font colour, label)] for a colour bar from ``lo`` to ``hi`` on a log scale."""
    lo, hi = lo_hi
    a, b = math.log10(lo), math.log10(hi)
    out = []
    for k in range(steps):
        v = 10 ** (a + (b - a) * (k + 0.5) / steps)
        out.append((PALETTE[min(k, len(PALETTE) - 1)], "white" if k < 5 else "black", f"{v:.0e}"))
    return out
