"""Cosine similarity, p-norm normalisation and constant padding: argument checks, then the Functions
of ``minigrad.ops.vector``."""
import math
import numbers

import numpy as np

from .. import dtypes
from ..ops import vector as V
from .checks import check_same_device, expect_tensor

__all__ = ["cosine_similarity", "normalize", "pad"]


def _axis(dim, ndim, op, shape):
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise TypeError(f"{op}: 'dim' must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for shape {shape} (expected [{-n}, {n - 1}])")
    return int(dim) % n


def _float(x, op, name):
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{op}: '{name}' must be a floating point tensor, got dtype {x.dtype} (shape {x.shape})")


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 * x2) / (max(|x1|, eps) * max(|x2|, eps)) along ``dim``; x1 and x2 broadcast."""
    op = "cosine_similarity"
    expect_tensor(x1, op, "x1")
    expect_tensor(x2, op, "x2")
    check_same_device(op, x1, x2)
    _float(x1, op, "x1")
    _float(x2, op, "x2")
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"{op}: x1 {x1.shape} and x2 {x2.shape} do not broadcast") from None
    if not shape:
        raise ValueError(f"{op}: x1 and x2 must have at least one dim, got {x1.shape} and {x2.shape}")
    axis = _axis(dim, len(shape), op, shape)
    dtype = dtypes.promote(x1.dtype, x2.dtype)
    return V.CosineSimilarity.apply(x1.astype(dtype), x2.astype(dtype), axis=axis, eps=float(eps))


def normalize(input, p=2.0, dim=1, eps=1e-12):  # noqa: A002 - PyTorch's argument names
    """input / max(||input||_p, eps) along ``dim`` (p a positive finite number: 1, 2, ...)."""
    op = "normalize"
    expect_tensor(input, op, "input")
    _float(input, op, "input")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p < math.inf:
        raise ValueError(f"{op}: p must be a positive finite number, got {p!r}")
    axis = _axis(dim, input.ndim, op, input.shape)
    if input.ndim == 0:
        input = input.reshape(1)
        return V.Normalize.apply(input, p=float(p), axis=axis, eps=float(eps)).reshape(())
    return V.Normalize.apply(input, p=float(p), axis=axis, eps=float(eps))


def pad(input, pad, value=0.0, mode="constant"):  # noqa: A002
    """Pad with ``value``: ``pad = (left, right)`` for the last dim, then ``(top, bottom)`` for the one
    before, and so on (PyTorch's order); negative amounts crop. Only ``mode='constant'``."""
    op = "pad"
    expect_tensor(input, op, "input")
    if mode != "constant":
        raise NotImplementedError(f"{op}: only mode='constant' is implemented, got {mode!r}")
    if isinstance(value, str):
        raise TypeError(f"{op}: 'value' must be a number, got {value!r} (the signature is pad(input, pad, value=0.0, mode='constant'))")
    try:
        amounts = [int(v) for v in pad]
    except TypeError:
        raise TypeError(f"{op}: 'pad' must be a sequence of ints, got {pad!r}") from None
    if any(a != v for a, v in zip(amounts, pad)) or len(amounts) % 2:
        raise ValueError(f"{op}: 'pad' must hold an even number of ints, got {pad!r}")
    if len(amounts) // 2 > input.ndim:
        raise ValueError(f"{op}: 'pad' {tuple(amounts)} pads {len(amounts) // 2} dims but the input {input.shape} has {input.ndim}")
    widths = [(0, 0)] * input.ndim
    for i in range(len(amounts) // 2):
        d = input.ndim - 1 - i
        lo, hi = amounts[2 * i], amounts[2 * i + 1]
        if input.shape[d] + min(lo, 0) + min(hi, 0) < 0 or input.shape[d] + lo + hi < 0:
            raise ValueError(f"{op}: padding {(lo, hi)} crops more than dim {d} of the input {input.shape} holds")
        widths[d] = (lo, hi)
    return V.Pad.apply(input, widths=tuple(widths), value=value)
