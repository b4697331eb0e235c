"""Ops on vectors along one axis (cosine similarity, p-norm normalisation) and constant padding."""
from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


class CosineSimilarity(Function):
    """y = sum(a b) / (max(|a|, eps) max(|b|, eps))"""
    saved_names = ("a_unit", "b_unit", "norm_a", "norm_b", "y", "a_unclamped", "b_unclamped")

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.shapes = (a.shape, b.shape)
        a, b = xp.broadcast_arrays(a, b)
        na = xp.sqrt((a * a).sum(axis=self.axis, keepdims=True))
        nb = xp.sqrt((b * b).sum(axis=self.axis, keepdims=True))
        na_c, nb_c = xp.maximum(na, self.eps), xp.maximum(nb, self.eps)
        an, bn = a / na_c, b / nb_c  # each divided by its norm first: the result stays in [-1, 1]
        y = (an * bn).sum(axis=self.axis, keepdims=True)
        self.save_for_backward(an, bn, na_c, nb_c, y, na >= self.eps, nb >= self.eps)
        return y.squeeze(self.axis)

    def backward(self, gy):
        """da = g (b/|b| - y a/|a|) / |a|;  db = g (a/|a| - y b/|b|) / |b|  (norms clamped to eps;
        a clamped norm is a constant, so its term drops)"""
        an, bn, na_c, nb_c, y, a_free, b_free = self.saved_tensors
        xp = get_array_module(an)
        g = xp.expand_dims(gy, self.axis)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to((bn - (y * a_free) * an) * (g / na_c), self.shapes[0])
        if self.needs_input_grad[1]:
            gb = sum_to((an - (y * b_free) * bn) * (g / nb_c), self.shapes[1])
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
        self.save_for_backward(y, norm_c, norm >= self.eps)
        return y

    def backward(self, gy):
        """dx = (gy - sum(gy y) dn/dx) / max(n, eps),  dn/dx = sign(y) |y|^(p-1)  (0 where n < eps)"""
        y, norm_c, free = self.saved_tensors
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
