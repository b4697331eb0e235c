"""Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient back to
each input's shape (``sum_to``). ``gy`` is the gradient of the output, ``y`` the output."""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


class Add(Function):
    """y = a + b"""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, gy):
        """da = gy;  db = gy  (summed over broadcast axes)"""
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])


class Sub(Function):
    """y = a - b"""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, gy):
        """da = gy;  db = -gy"""
        gb = -sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb


class Mul(Function):
    """y = a * b"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        """da = gy * b;  db = gy * a"""
        a, b = self.saved_tensors
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        """da = gy / b;  db = -gy * a / b**2"""
        a, b = self.saved_tensors
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = -x"""

    def forward(self, x):
        return -x

    def backward(self, gy):
        """dx = -gy"""
        return -gy


class PowScalar(Function):
    """y = x ** p  (p a Python number)"""

    def forward(self, x):
        self.save_for_backward(x)
        return x**self.p

    def backward(self, gy):
        """dx = gy * p * x**(p-1)"""
        (x,) = self.saved_tensors
        return gy * (self.p * x ** (self.p - 1))


class RPowScalar(Function):
    """y = c ** x  (c a Python number)"""

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.power(xp.asarray(self.c, dtype=x.dtype), x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * y * log(c)"""
        (y,) = self.saved_tensors
        xp = get_array_module(y)
        return gy * y * xp.log(xp.asarray(self.c, dtype=y.dtype))


class Pow(Function):
    """y = a ** b  (both tensors)"""

    def forward(self, a, b):
        y = a**b
        self.save_for_backward(a, b, y)
        return y

    def backward(self, gy):
        """da = gy * b * a**(b-1);  db = gy * y * log(a)  (0 where a <= 0)"""
        a, b, y = self.saved_tensors
        xp = get_array_module(a)
        ga = sum_to(gy * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            loga = xp.log(xp.where(a > 0, a, 1))
            gb = sum_to(gy * y * loga, b.shape)
        return ga, gb


class Exp(Function):
    """y = exp(x)"""

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * y"""
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    """y = log(x)"""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        """dx = gy / x"""
        (x,) = self.saved_tensors
        return gy / x


class Sqrt(Function):
    """y = sqrt(x)"""

    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy / (2 * y)"""
        (y,) = self.saved_tensors
        return gy / (2 * y)


class Abs(Function):
    """y = |x|"""

    def forward(self, x):
        self.save_for_backward(x)
        return abs(x)

    def backward(self, gy):
        """dx = gy * sign(x)  (0 at x = 0, as PyTorch)"""
        (x,) = self.saved_tensors
        return gy * get_array_module(x).sign(x)


class Sin(Function):
    """y = sin(x)"""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).sin(x)

    def backward(self, gy):
        """dx = gy * cos(x)"""
        (x,) = self.saved_tensors
        return gy * get_array_module(x).cos(x)


class Cos(Function):
    """y = cos(x)"""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).cos(x)

    def backward(self, gy):
        """dx = -gy * sin(x)"""
        (x,) = self.saved_tensors
        return -gy * get_array_module(x).sin(x)


class Tanh(Function):
    """y = tanh(x)"""

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * (1 - y**2)"""
        (y,) = self.saved_tensors
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x))"""

    def forward(self, x):
        xp = get_array_module(x)
        # stable for large |x|: exp of a non-positive number only
        e = xp.exp(-abs(x))
        y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * y * (1 - y)"""
        (y,) = self.saved_tensors
        return gy * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0)"""

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.maximum(x, 0)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * (y > 0)"""
        (y,) = self.saved_tensors
        xp = get_array_module(y)
        live = y > 0
        with np.errstate(invalid="ignore"):  # (CuPy never warns)
            gx = gy * live  # (a product, not xp.where: NumPy's where is ~15x slower on float32)
        if not bool(xp.isfinite(gx).all()):  # inf * 0 is NaN: a dead unit passes 0 on, whatever arrives (PyTorch)
            gx[~live] = 0
        return gx


class Clamp(Function):
    """y = min(max(x, lo), hi)"""

    def forward(self, x):
        xp = get_array_module(x)
        self.save_for_backward(x)
        return xp.clip(x, self.lo, self.hi).astype(x.dtype, copy=False)

    def backward(self, gy):
        """dx = gy where lo <= x <= hi, else 0"""
        (x,) = self.saved_tensors
        inside = True
        if self.lo is not None:
            inside = inside & (x >= self.lo)
        if self.hi is not None:
            inside = inside & (x <= self.hi)
        return gy * inside


class Maximum(Function):
    """y = max(a, b)  (elementwise)"""

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(a, b)
        return xp.maximum(a, b)

    def backward(self, gy):
        """da = gy where a > b, db = gy where b > a, each gy/2 where a == b (as PyTorch)"""
        a, b = self.saved_tensors
        share = (a > b) + 0.5 * (a == b)
        ga = sum_to(gy * share.astype(gy.dtype), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * (1 - share).astype(gy.dtype), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Minimum(Function):
    """y = min(a, b)  (elementwise)"""

    def forward(self, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(a, b)
        return xp.minimum(a, b)

    def backward(self, gy):
        """da = gy where a < b, db = gy where b < a, each gy/2 where a == b (as PyTorch)"""
        a, b = self.saved_tensors
        share = (a < b) + 0.5 * (a == b)
        ga = sum_to(gy * share.astype(gy.dtype), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * (1 - share).astype(gy.dtype), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Where(Function):
    """y = a where cond else b"""

    def forward(self, cond, a, b):
        xp = get_array_module(a, b)
        self.save_for_backward(cond)
        self.shapes = (a.shape, b.shape)
        return xp.where(cond, a, b)

    def backward(self, gy):
        """da = gy * cond;  db = gy * (1 - cond)"""
        (cond,) = self.saved_tensors
        xp = get_array_module(gy)
        zero = xp.zeros((), dtype=gy.dtype)
        ga = sum_to(xp.where(cond, gy, zero), self.shapes[0]) if self.needs_input_grad[1] else None
        gb = sum_to(xp.where(cond, zero, gy), self.shapes[1]) if self.needs_input_grad[2] else None
        return None, ga, gb


class Cast(Function):
    """y = x.astype(dtype)"""

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        """dx = gy.astype(x.dtype)"""
        return gy.astype(self.src)


class Copy(Function):
    """y = copy(x)"""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        """dx = gy"""
        return gy
