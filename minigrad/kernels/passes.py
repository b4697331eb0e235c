"""Big elementwise passes split over the kernel pool's threads (``threads.each_block``).

NumPy runs each pass on one core; the hot ones of a network (ReLU forward and backward, the
residual add) run here in one block of samples per thread when the arrays are big enough to gain
(``threads.SPLIT_BYTES``), else as the single NumPy call they stand for. Each function states the
formula it computes; the ops in ``minigrad.ops.elementwise`` call them.
"""
import numpy as np

from ..backend import get_array_module
from .threads import each_block

__all__ = ["add", "relu", "relu_grad"]


def add(a, b):
    """a + b for two arrays of the same shape and dtype; the result has a's memory order."""
    xp = get_array_module(a)
    y = xp.empty_like(a)
    each_block(lambda i: xp.add(a[i], b[i], out=y[i]), y)
    return y


def relu(x):
    """max(x, 0), in x's memory order."""
    xp = get_array_module(x)
    y = xp.empty_like(x)
    each_block(lambda i: xp.maximum(x[i], 0, out=y[i]), y)
    return y


def relu_grad(gy, y):
    """gy * (y > 0), in gy's memory order; 0 where y <= 0 even when gy is inf or nan (PyTorch)."""
    xp = get_array_module(y)
    gx = xp.empty_like(gy)

    def block(i):
        live = y[i] > 0
        with np.errstate(invalid="ignore"):  # (CuPy never warns)
            xp.multiply(gy[i], live, out=gx[i])  # (a product, not xp.where: NumPy's where is ~15x slower)
        if not bool(xp.isfinite(gx[i]).all()):  # inf * 0 is nan: a dead unit passes 0 on
            gx[i][~live] = 0

    each_block(block, gx)
    return gx
