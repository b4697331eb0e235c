"""Reverse broadcasting: the gradient of a broadcast is a sum over the broadcast axes.

``sum_to`` works on arrays (the first-order backwards); ``SumTo`` is the same sum as an op, the
adjoint of ``shape.Expand``, used by the differentiable backwards (``backward_graph``).
"""
from ..autograd import Function
from ..backend import get_array_module


def sum_to(grad, shape):
    """Sum ``grad`` down to ``shape`` (the inverse of NumPy broadcasting ``shape`` -> ``grad.shape``).

    Leading axes that broadcasting added are summed away; axes that were size 1 are summed with
    ``keepdims``. Returns ``grad`` itself when the shapes already agree.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    if lead:
        out = out.reshape(shape)
    return out


class SumTo(Function):
    """y = sum_to(x, shape)  (x summed over the axes that broadcasting ``shape`` -> x.shape added)"""

    saved_names = ()

    def forward(self, x):
        self.in_shape = x.shape
        return sum_to(x, self.shape)

    def backward(self, gy):
        """dx = broadcast(gy, x.shape)"""
        return get_array_module(gy).broadcast_to(gy, self.in_shape)

    def backward_graph(self, gy):
        """dx = Expand(gy): SumTo and Expand are adjoint, each one's backward is the other"""
        from .shape import Expand

        return Expand.apply(gy, shape=self.in_shape)
