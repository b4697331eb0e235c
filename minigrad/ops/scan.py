"""Scans: running sums along one axis."""
from ..autograd import Function
from ..backend import get_array_module


class CumSum(Function):
    """y[i] = x[0] + x[1] + ... + x[i]  (along axis)"""

    def forward(self, x):
        return get_array_module(x).cumsum(x, axis=self.axis, dtype=self.dtype)

    def backward(self, gy):
        """dx[j] = gy[j] + gy[j+1] + ... + gy[n-1]  (a cumsum of gy run backwards)"""
        xp = get_array_module(gy)
        return xp.flip(xp.cumsum(xp.flip(gy, axis=self.axis), axis=self.axis), axis=self.axis)
