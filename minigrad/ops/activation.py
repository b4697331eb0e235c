"""Activations beyond the elementwise basics (relu, sigmoid, tanh live in ``elementwise``):
GELU (exact and tanh form), leaky ReLU, inverted dropout, and the two smooth functions the
differentiable backwards need as ops: the normal CDF (GELU's Phi) and softplus (BCE with logits).

NumPy has no ``erf``, so the exact GELU evaluates it here: a Taylor polynomial around the nearest
point of a grid (step 1/32 on [0, 6]), whose coefficients follow from ``erf' = 2/sqrt(pi) e^{-x^2}``
and the Hermite polynomials; beyond 6, ``erf`` equals 1 to double precision.
"""
import math

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from . import graph
from .elementwise import Sigmoid, Where

# ---------------------------------------------------------------------------------- erf

_ERF_STEP = 1 / 32
_ERF_MAX = 6.0  # 1 - erf(6) = 2e-17: below half an ulp of 1.0
_ERF_DEGREE = {4: 3, 8: 7}  # Taylor degree per itemsize: max error 7e-8 (float32), 1.1e-16 (float64)
_erf_tables = {}


def _erf_table(degree):
    """coef[j, k] = erf^{(j)}(x_k) / j!  at the grid points x_k = k * step, k = 0..K.

    With ``H_n`` the (physicists') Hermite polynomials, H_0 = 1, H_1 = 2x,
    H_{n+1} = 2x H_n - 2n H_{n-1}, the derivatives are  erf^{(n+1)}(x) = 2/sqrt(pi) (-1)^n H_n(x) e^{-x^2}.
    """
    if degree not in _erf_tables:
        points = int(round(_ERF_MAX / _ERF_STEP)) + 1
        coef = np.zeros((degree + 1, points))
        for k in range(points):
            x0 = k * _ERF_STEP
            coef[0, k] = math.erf(x0)
            scale = 2 / math.sqrt(math.pi) * math.exp(-x0 * x0)
            h_prev, h = 0.0, 1.0  # H_{-1} (unused), H_0
            for n in range(degree):  # coefficient j = n + 1 uses H_n
                coef[n + 1, k] = scale * (-1) ** n * h / math.factorial(n + 1)
                h_prev, h = h, 2 * x0 * h - 2 * n * h_prev
        _erf_tables[degree] = coef
    return _erf_tables[degree]


def erf(x):
    """The error function, elementwise, in the dtype of ``x`` (float32 or float64 accuracy)."""
    if x.dtype.itemsize < 4:  # float16: computed in float32
        return erf(x.astype(np.float32)).astype(x.dtype)
    xp = get_array_module(x)
    table = xp.asarray(_erf_table(_ERF_DEGREE[x.dtype.itemsize]), dtype=x.dtype)
    a = xp.minimum(abs(x), _ERF_MAX)
    nearest = xp.rint(a * (1 / _ERF_STEP))
    k = nearest.astype(np.intp)  # the grid point's index (intp: the fastest index to gather with)
    h = a - nearest * _ERF_STEP  # |h| <= step / 2
    out = table[-1][k]
    for j in range(table.shape[0] - 2, -1, -1):  # Horner in h
        out *= h
        out += table[j][k]
    return xp.copysign(out, x, out=out)


# ---------------------------------------------------------------------------------- GELU

_SQRT1_2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_K = math.sqrt(2 / math.pi)
_TANH_C = 0.044715


class GELU(Function):
    """y = x * Phi(x),  Phi(x) = (1 + erf(x / sqrt(2))) / 2"""
    saved_names = ("x", "cdf")

    def forward(self, x):
        cdf = erf(x * _SQRT1_2)
        cdf += 1
        cdf *= 0.5
        self.save_for_backward(x, cdf)
        return x * cdf

    def backward(self, gy):
        """dx = gy * (Phi(x) + x * phi(x)),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)"""
        x, cdf = self.saved_tensors
        xp = get_array_module(x)
        d = x * x
        d *= -0.5
        xp.exp(d, out=d)
        d *= x
        d *= _INV_SQRT_2PI
        d += cdf
        d *= gy
        return d

    def backward_graph(self, gy):
        x, _ = self.unpack_saved()  # Phi(x) again as an op (the saved cdf is a constant array)
        return gy * (NormalCDF.apply(x) + x * _normal_pdf(x))


class GELUTanh(Function):
    """y = x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))"""
    saved_names = ("x", "t")

    def forward(self, x):
        xp = get_array_module(x)
        t = x * x
        t *= _TANH_C
        t += 1
        t *= x
        t *= _TANH_K
        xp.tanh(t, out=t)
        self.save_for_backward(x, t)
        y = t + 1
        y *= x
        y *= 0.5
        return y

    def backward(self, gy):
        """dx = gy * ((1 + t)/2 + x/2 * (1 - t^2) * sqrt(2/pi) * (1 + 3 * 0.044715 x^2)),  t = tanh(...)"""
        x, t = self.saved_tensors
        inner = x * x
        inner *= 3 * _TANH_C
        inner += 1
        inner *= _TANH_K * 0.5
        inner *= x
        inner *= 1 - t * t
        inner += 0.5 * (1 + t)
        inner *= gy
        return inner

    def backward_graph(self, gy):
        x, _ = self.unpack_saved()  # t again from x with ops (the saved t is a constant array)
        t = (_TANH_K * (x + _TANH_C * x * x * x)).tanh()
        return gy * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_K * (1 + 3 * _TANH_C * x * x))


def _normal_pdf(x):
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi) for a Tensor x (differentiable)."""
    return (x * x * -0.5).exp() * _INV_SQRT_2PI


class NormalCDF(Function):
    """y = Phi(x) = (1 + erf(x / sqrt(2))) / 2"""

    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        cdf = erf(x * _SQRT1_2)
        cdf += 1
        cdf *= 0.5
        return cdf

    def backward(self, gy):
        """dx = gy * phi(x),  phi(x) = exp(-x^2 / 2) / sqrt(2 pi)"""
        (x,) = self.saved_tensors
        return gy * (get_array_module(x).exp(x * x * -0.5) * _INV_SQRT_2PI)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return gy * _normal_pdf(x)


# ---------------------------------------------------------------------------------- leaky ReLU


class LeakyReLU(Function):
    """y = x if x > 0 else negative_slope * x"""
    saved_names = ("positive",)

    def forward(self, x):
        xp = get_array_module(x)
        positive = x > 0
        self.save_for_backward(positive)
        return xp.where(positive, x, x * self.negative_slope)

    def backward(self, gy):
        """dx = gy if x > 0 else negative_slope * gy"""
        (positive,) = self.saved_tensors
        xp = get_array_module(gy)
        return xp.where(positive, gy, gy * self.negative_slope)

    def backward_graph(self, gy):
        (positive,) = self.saved_tensors
        return Where.apply(graph.constant(positive), gy, gy * self.negative_slope)


# ---------------------------------------------------------------------------------- dropout


def _uniform(like, shape):
    """Uniform [0, 1) float32 numbers from the seeded generator, on the device of ``like``."""
    return backend.uniform(shape, np.float32, like)


class Dropout(Function):
    """y = x * m / (1 - p),  m ~ Bernoulli(1 - p)"""
    saved_names = ("mask",)

    def forward(self, x):
        xp = get_array_module(x)
        if self.p >= 1:
            mask = xp.zeros(x.shape, dtype=x.dtype)
        else:
            mask = (_uniform(x, x.shape) >= self.p).astype(x.dtype)
            mask *= 1 / (1 - self.p)
        self.save_for_backward(mask)
        return x * mask

    def backward(self, gy):
        """dx = gy * m / (1 - p)"""
        (mask,) = self.saved_tensors
        return gy * mask

    def backward_graph(self, gy):
        (mask,) = self.saved_tensors
        return gy * graph.constant(mask)



class Dropout2d(Dropout):
    """y = x * m / (1 - p),  m ~ Bernoulli(1 - p) per (sample, channel): whole feature maps are zeroed"""

    saved_names = ("mask",)

    def forward(self, x):
        xp = get_array_module(x)
        shape = x.shape[:2] + (1,) * (x.ndim - 2)
        if self.p >= 1:
            mask = xp.zeros(shape, dtype=x.dtype)
        else:
            mask = (_uniform(x, shape) >= self.p).astype(x.dtype)
            mask *= 1 / (1 - self.p)
        self.save_for_backward(mask)
        return x * mask


# ---------------------------------------------------------------------------------- smooth ReLUs


def _sigmoid(xp, z):
    """1 / (1 + exp(-z)) without overflow for large |z|."""
    e = xp.exp(-abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


class SiLU(Function):
    """y = x * sigmoid(x)"""

    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return x * _sigmoid(get_array_module(x), x)

    def backward(self, gy):
        """dx = gy * s * (1 + x * (1 - s)),  s = sigmoid(x)"""
        (x,) = self.saved_tensors
        s = _sigmoid(get_array_module(x), x)
        return gy * s * (1 + x * (1 - s))

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        s = Sigmoid.apply(x)
        return gy * s * (1 + x * (1 - s))


class Softplus(Function):
    """y = log(1 + exp(beta * x)) / beta, or x where beta * x > threshold"""

    saved_names = ("x",)

    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        z = x * self.beta
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-abs(z)))) / self.beta
        return xp.where(z > self.threshold, x, soft).astype(x.dtype, copy=False)

    def backward(self, gy):
        """dx = gy * sigmoid(beta * x), or gy where beta * x > threshold"""
        (x,) = self.saved_tensors
        xp = get_array_module(x)
        z = x * self.beta
        return xp.where(z > self.threshold, gy, gy * _sigmoid(xp, z)).astype(gy.dtype, copy=False)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        linear = graph.constant(x.data * self.beta > self.threshold)
        return Where.apply(linear, gy, gy * Sigmoid.apply(x * self.beta))


class ELU(Function):
    """y = x if x > 0 else alpha * (exp(x) - 1)"""

    saved_names = ("x",)

    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        return xp.where(x > 0, x, self.alpha * xp.expm1(xp.minimum(x, 0))).astype(x.dtype, copy=False)

    def backward(self, gy):
        """dx = gy if x > 0 else gy * alpha * exp(x)"""
        (x,) = self.saved_tensors
        xp = get_array_module(x)
        return xp.where(x > 0, gy, gy * self.alpha * xp.exp(xp.minimum(x, 0))).astype(gy.dtype, copy=False)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        positive = graph.constant(x.data > 0)
        return Where.apply(positive, gy, gy * self.alpha * Where.apply(positive, x * 0, x).exp())
