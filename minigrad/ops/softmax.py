"""Softmax and log-softmax along one axis, stable for large logits (the max is subtracted first)."""
from ..autograd import Function
from ..backend import get_array_module


def shift_is_needed(m, dtype):
    """Softmax is shift invariant; subtracting the max m only matters when exp(x) could overflow, or
    underflow in the terms that count. With every max in [-60, 80] neither happens (float32 and
    float64), and softmax can skip the subtraction pass."""
    return dtype.itemsize < 4 or not (m.size and float(m.max()) <= 80 and float(m.min()) >= -60)


class Softmax(Function):
    """y = exp(x - max(x)) / sum(exp(x - max(x)))"""

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:  # an empty batch or a zero-length dim: an empty result, as PyTorch
            y = x.copy()
            self.save_for_backward(y)
            return y
        m = x.max(axis=self.axis, keepdims=True)
        if shift_is_needed(m, x.dtype):
            y = x - m
            xp.exp(y, out=y)
        else:
            y = xp.exp(x)
        y *= 1 / y.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = y * (gy - sum(gy * y))"""
        (y,) = self.saved_tensors
        gx = gy - (gy * y).sum(axis=self.axis, keepdims=True)
        gx *= y
        return gx


class LogSoftmax(Function):
    """y = x - max(x) - log(sum(exp(x - max(x))))"""

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:  # an empty batch or a zero-length dim: an empty result, as PyTorch
            y = x.copy()
            self.save_for_backward(y)
            return y
        y = x - x.max(axis=self.axis, keepdims=True)  # (x - max) - lse: no cancellation, so always shifted
        y -= xp.log(xp.exp(y).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy - exp(y) * sum(gy)"""
        (y,) = self.saved_tensors
        xp = get_array_module(y)
        gx = xp.exp(y)
        gx *= gy.sum(axis=self.axis, keepdims=True)
        return xp.subtract(gy, gx, out=gx)
