"""Softmax and log-softmax along one axis, stable for large logits (the max is subtracted first)."""
from ..autograd import Function
from ..backend import get_array_module


class Softmax(Function):
    """y = exp(x - max(x)) / sum(exp(x - max(x)))"""

    def forward(self, x):
        xp = get_array_module(x)
        y = x - x.max(axis=self.axis, keepdims=True)
        xp.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = y * (gy - sum(gy * y))"""
        (y,) = self.saved_tensors
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y = x - max(x) - log(sum(exp(x - max(x))))"""

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy - exp(y) * sum(gy)"""
        (y,) = self.saved_tensors
        xp = get_array_module(y)
        return gy - xp.exp(y) * gy.sum(axis=self.axis, keepdims=True)
