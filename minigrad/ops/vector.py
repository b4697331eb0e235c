"""Ops on vectors along one axis (cosine similarity, p-norm normalisation) and constant padding.

Their ``backward_graph``s recompute the norms from the saved inputs with ops (the forward keeps the
input arrays themselves for that), so the gradients can be differentiated again."""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from . import graph
from .broadcast import sum_to
from .elementwise import Clamp, Where
from .reduce import Sum
from .shape import Expand, GetItem, IndexAdd, Reshape


def _clamped_norm(v, axis, eps):
    """max(||v||_2, eps) along ``axis`` (kept) for a Tensor ``v``: the clamp is a Clamp op."""
    return Clamp.apply(Sum.apply(v * v, axis=(axis,), keepdims=True).sqrt(), lo=eps, hi=None)


class CosineSimilarity(Function):
    """y = sum(a b) / (max(|a|, eps) max(|b|, eps))"""
    saved_names = ("a_unit", "b_unit", "norm_a", "norm_b", "y", "a_unclamped", "b_unclamped")

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.shapes = (a.shape, b.shape)
        inputs = (a, b)  # kept for backward_graph (the inputs themselves, no copy)
        a, b = xp.broadcast_arrays(a, b)
        na = xp.sqrt((a * a).sum(axis=self.axis, keepdims=True))
        nb = xp.sqrt((b * b).sum(axis=self.axis, keepdims=True))
        na_c, nb_c = xp.maximum(na, self.eps), xp.maximum(nb, self.eps)
        an, bn = a / na_c, b / nb_c  # each divided by its norm first: the result stays in [-1, 1]
        y = (an * bn).sum(axis=self.axis, keepdims=True)
        self.save_for_backward(an, bn, na_c, nb_c, y, na >= self.eps, nb >= self.eps, *inputs)
        return y.squeeze(self.axis)

    def backward(self, gy):
        """da = g (b/|b| - y a/|a|) / |a|;  db = g (a/|a| - y b/|b|) / |b|  (norms clamped to eps;
        a clamped norm is a constant, so its term drops)"""
        an, bn, na_c, nb_c, y, a_free, b_free, _, _ = self.saved_tensors
        xp = get_array_module(an)
        g = xp.expand_dims(gy, self.axis)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to((bn - (y * a_free) * an) * (g / na_c), self.shapes[0])
        if self.needs_input_grad[1]:
            gb = sum_to((an - (y * b_free) * bn) * (g / nb_c), self.shapes[1])
        return ga, gb

    def backward_graph(self, gy):
        """the same formula on Tensors, with the norms recomputed from a and b by ops (the
        eps-clamp is a Clamp, whose gradient is zero where the norm was clamped)"""
        a_free, b_free = self.saved_tensors[5:7]
        a, b = self.unpack_saved()[7:9]
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        a_b = a if a.shape == shape else Expand.apply(a, shape=shape)
        b_b = b if b.shape == shape else Expand.apply(b, shape=shape)
        na_c, nb_c = _clamped_norm(a_b, self.axis, self.eps), _clamped_norm(b_b, self.axis, self.eps)
        an, bn = a_b / na_c, b_b / nb_c
        y = Sum.apply(an * bn, axis=(self.axis,), keepdims=True)
        g = Reshape.apply(gy, shape=y.shape)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = graph.sum_to((bn - (y * graph.constant(a_free)) * an) * (g / na_c), self.shapes[0])
        if self.needs_input_grad[1]:
            gb = graph.sum_to((an - (y * graph.constant(b_free)) * bn) * (g / nb_c), self.shapes[1])
        return ga, gb


class Normalize(Function):
    """y = x / max(||x||_p, eps)"""
    saved_names = ("y", "norm", "unclamped")

    def forward(self, x):
        xp = get_array_module(x)
        p = self.p
        if p == 2:
            norm = xp.sqrt((x * x).sum(axis=self.axis, keepdims=True))
        elif p == 1:
            norm = abs(x).sum(axis=self.axis, keepdims=True)
        else:
            norm = (abs(x) ** p).sum(axis=self.axis, keepdims=True) ** (1 / p)
        norm_c = xp.maximum(norm, self.eps)
        y = x / norm_c
        self.save_for_backward(y, norm_c, norm >= self.eps, x)  # x: for backward_graph
        return y

    def backward(self, gy):
        """dx = (gy - sum(gy y) dn/dx) / max(n, eps),  dn/dx = sign(y) |y|^(p-1)  (0 where n < eps)"""
        y, norm_c, free, _ = self.saved_tensors
        xp = get_array_module(y)
        p = self.p
        if p == 2:
            dn = y
        elif p == 1:
            dn = xp.sign(y)
        else:
            a = abs(y)
            dn = xp.sign(y) * xp.where(a > 0, a, 1) ** (p - 1)  # 0 where y = 0 (sign is 0)
        s = (gy * y).sum(axis=self.axis, keepdims=True) * free
        return (gy - s * dn) / norm_c

    def backward_graph(self, gy):
        """the same formula on Tensors, with the norm recomputed from x by ops"""
        free = self.saved_tensors[2]
        y, _, _, x = self.unpack_saved()
        p, axis = self.p, (self.axis,)
        if p == 2:
            norm, dn = Sum.apply(x * x, axis=axis, keepdims=True).sqrt(), y
        elif p == 1:
            norm, dn = Sum.apply(x.abs(), axis=axis, keepdims=True), graph.constant(y._xp.sign(y.data))
        else:
            norm = Sum.apply(x.abs() ** p, axis=axis, keepdims=True) ** (1 / p)
            a = y.abs()
            nonzero = graph.constant(a.data > 0)
            one = graph.constant(a._xp.ones((), dtype=a.dtype))
            dn = graph.constant(y._xp.sign(y.data)) * Where.apply(nonzero, a, one) ** (p - 1)
        s = Sum.apply(gy * y, axis=axis, keepdims=True) * graph.constant(free)
        return (gy - s * dn) / Clamp.apply(norm, lo=self.eps, hi=None)


class Pad(Function):
    """y = x surrounded by `value` (widths[d] = (before, after); negative widths crop)"""
    saved_names = ()

    def forward(self, x):
        xp = get_array_module(x)
        src, dst, out_shape = [], [], []
        for n, (lo, hi) in zip(x.shape, self.widths):
            # the kept part of the input, and where it lands in the output
            src.append(slice(max(-lo, 0), n - max(-hi, 0)))
            dst.append(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0)))
            out_shape.append(n + lo + hi)
        self.src, self.dst, self.x_shape = tuple(src), tuple(dst), x.shape
        y = xp.full(out_shape, self.value, dtype=x.dtype)
        y[self.dst] = x[self.src]
        return y

    def backward(self, gy):
        """dx = gy at the positions x was copied to (0 at cropped positions)"""
        xp = get_array_module(gy)
        if all(s.start == 0 and s.stop == n for s, n in zip(self.src, self.x_shape)):
            return xp.ascontiguousarray(gy[self.dst])
        gx = xp.zeros(self.x_shape, dtype=gy.dtype)
        gx[self.src] = gy[self.dst]
        return gx

    def backward_graph(self, gy):
        """the same on Tensors: a GetItem of gy (the adjoint of padding is cropping), placed with an
        IndexAdd when the padding cropped x"""
        kept = GetItem.apply(gy, index=self.dst)
        if all(s.start == 0 and s.stop == n for s, n in zip(self.src, self.x_shape)):
            return kept
        return IndexAdd.apply(kept, index=self.src, shape=self.x_shape)
