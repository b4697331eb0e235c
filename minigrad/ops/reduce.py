"""Reductions. ``axis`` is None (all axes) or a tuple of non-negative ints; ``keepdims`` as NumPy.
Each backward first restores the reduced axes (size 1) so the gradient broadcasts back."""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module


def _expand_reduced(g, in_shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input of shape ``in_shape``."""
    if keepdims or axis is None and g.ndim == 0:
        return g if g.ndim == len(in_shape) else g.reshape((1,) * len(in_shape))
    axes = range(len(in_shape)) if axis is None else axis
    shape = list(in_shape)
    for a in axes:
        shape[a] = 1
    return g.reshape(shape)


def _count(shape, axis):
    n = 1
    for a in range(len(shape)) if axis is None else axis:
        n *= shape[a]
    return n


class Sum(Function):
    """y = sum(x, axis)"""

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        """dx = broadcast(gy)"""
        xp = get_array_module(gy)
        g = _expand_reduced(gy, self.in_shape, self.axis, self.keepdims)
        return xp.broadcast_to(g, self.in_shape)


class Mean(Function):
    """y = sum(x, axis) / n"""

    def forward(self, x):
        self.in_shape = x.shape
        return x.mean(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        """dx = broadcast(gy) / n"""
        xp = get_array_module(gy)
        g = _expand_reduced(gy, self.in_shape, self.axis, self.keepdims)
        return xp.broadcast_to(g / _count(self.in_shape, self.axis), self.in_shape)


class Var(Function):
    """y = sum((x - mean)**2, axis) / (n - correction)"""

    def forward(self, x):
        self.in_shape = x.shape
        mean = x.mean(axis=self.axis, keepdims=True)
        centered = x - mean
        n = _count(x.shape, self.axis)
        self.save_for_backward(centered)
        return (centered * centered).sum(axis=self.axis, keepdims=self.keepdims) / max(n - self.correction, 0)

    def backward(self, gy):
        """dx = gy * 2 * (x - mean) / (n - correction)"""
        (centered,) = self.saved_tensors
        n = _count(self.in_shape, self.axis)
        g = _expand_reduced(gy, self.in_shape, self.axis, self.keepdims)
        return g * centered * (2.0 / max(n - self.correction, 0))


class MaxMin(Function):
    """y = max(x, axis)  (or min when ``self.mode == 'min'``)"""

    def forward(self, x):
        xp = get_array_module(x)
        y = x.max(axis=self.axis, keepdims=True) if self.mode == "max" else x.min(axis=self.axis, keepdims=True)
        # Ties share the gradient equally (PyTorch's rule for max()/amax without indices).
        hit = x == y
        self.save_for_backward(hit, hit.sum(axis=self.axis, keepdims=True))
        return y if self.keepdims else xp.squeeze(y, axis=self.axis)

    def backward(self, gy):
        """dx = gy * [x == y] / count(x == y)"""
        hit, count = self.saved_tensors
        g = _expand_reduced(gy, hit.shape, self.axis, self.keepdims)
        return hit * (g / count).astype(gy.dtype)


class MaxMinAlong(Function):
    """y = x[..., argmax(x, dim), ...]  (max/min along one dim; the gradient goes to that index)"""

    def forward(self, x):
        xp = get_array_module(x)
        arg = x.argmax(axis=self.dim) if self.mode == "max" else x.argmin(axis=self.dim)
        idx = xp.expand_dims(arg, self.dim)
        self.in_shape = x.shape
        self.save_for_backward(idx)
        self.indices = arg
        y = xp.take_along_axis(x, idx, axis=self.dim)
        return y if self.keepdim else xp.squeeze(y, axis=self.dim)

    def backward(self, gy):
        """dx = gy scattered to the index that won"""
        (idx,) = self.saved_tensors
        xp = get_array_module(gy)
        g = gy if self.keepdim else xp.expand_dims(gy, self.dim)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        xp.put_along_axis(gx, idx, g, axis=self.dim)
        return gx


class LogSumExp(Function):
    """y = m + log(sum(exp(x - m), axis))  with m = max(x, axis)  (no overflow)"""

    saved_names = ("x", "y")

    def forward(self, x):
        xp = get_array_module(x)
        if x.size == 0:  # an empty sum: log(0) = -inf
            m = xp.full(tuple(1 if a in self.axis else n for a, n in enumerate(x.shape)), -xp.inf, dtype=x.dtype)
            y = m.copy()
        else:
            m = x.max(axis=self.axis, keepdims=True)
            m = xp.where(xp.isfinite(m), m, xp.zeros((), dtype=x.dtype))  # rows of -inf (or inf) stay exact
            with np.errstate(divide="ignore"):  # a row of -inf: log(0) = -inf is the answer
                y = m + xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(x, y)
        return y if self.keepdims else xp.squeeze(y, axis=self.axis)

    def backward(self, gy):
        """dx = gy * exp(x - y)  (the softmax of x along axis)"""
        x, y = self.saved_tensors
        g = _expand_reduced(gy, x.shape, self.axis, self.keepdims)
        return g * get_array_module(x).exp(x - y)


class Norm(Function):
    """y = (sum |x|**p)**(1/p) over axis  (p = inf: max |x|)"""

    saved_names = ("x", "y")

    def forward(self, x):
        xp = get_array_module(x)
        a = abs(x)
        if self.p == float("inf"):
            y = a.max(axis=self.axis, keepdims=True) if x.size else xp.zeros(_kept_shape(x.shape, self.axis), x.dtype)
        elif self.p == 1:
            y = a.sum(axis=self.axis, keepdims=True)
        elif self.p == 2:
            y = xp.sqrt((x * x).sum(axis=self.axis, keepdims=True))
        else:
            y = (a**self.p).sum(axis=self.axis, keepdims=True) ** (1.0 / self.p)
        self.save_for_backward(x, y)
        if self.keepdims:
            return y
        return y.reshape(()) if self.axis is None else xp.squeeze(y, axis=self.axis)

    def backward(self, gy):
        """dx = gy * sign(x) * |x|**(p-1) / y**(p-1)  (p=2: gy * x / y; p=1: gy * sign(x);
        p=inf: gy * sign(x) * [|x| == y] / count; 0 where y == 0, as PyTorch)"""
        x, y = self.saved_tensors
        xp = get_array_module(x)
        g = _expand_reduced(gy, x.shape, self.axis, self.keepdims)
        zero = xp.zeros((), dtype=x.dtype)
        if self.p == 1:
            return g * xp.sign(x)
        if self.p == float("inf"):
            hit = abs(x) == y
            count = hit.sum(axis=self.axis, keepdims=True)
            return xp.where(hit, g * xp.sign(x) / xp.maximum(count, 1), zero)
        safe_y = xp.where(y == 0, xp.ones((), dtype=x.dtype), y)
        if self.p == 2:
            return xp.where(y == 0, zero, g * x / safe_y)
        return xp.where(y == 0, zero, g * xp.sign(x) * abs(x) ** (self.p - 1) / safe_y ** (self.p - 1))


def _kept_shape(shape, axis):
    return tuple(1 if axis is None or a in axis else n for a, n in enumerate(shape))
