"""Two building blocks of the differentiable backwards (``Function.backward_graph``).

A ``backward_graph`` writes an op's gradient formula with minigrad ops on Tensors, so that the
gradient is itself a graph. Inside it, an array the formula only *reads* (a mask, an index, a
shape-dependent factor) becomes a ``constant``: it takes no gradient. A gradient that must be
summed back to a broadcast input's shape goes through ``sum_to``, the op form of
``broadcast.sum_to`` (its backward is ``Expand``, so the second derivative comes for free).
"""
from .broadcast import SumTo


def constant(array):
    """``array`` as a Tensor outside the graph (no grad_fn, requires no grad)."""
    from ..tensor import Tensor

    return Tensor._from_op(array, None, None)


def sum_to(g, shape):
    """The Tensor ``g`` summed down to ``shape`` (itself when the shapes agree)."""
    shape = tuple(shape)
    return g if g.shape == shape else SumTo.apply(g, shape=shape)
