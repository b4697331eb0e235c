"""Elementwise ops. Binary ops broadcast like NumPy; their backward sums the gradient back to
each input's shape (``sum_to``). ``gy`` is the gradient of the output, ``y`` the output.

Each op's ``backward_graph`` is its ``backward`` formula again, written with minigrad ops on the
saved inputs/outputs (``unpack_saved``), so the gradient can be differentiated again: e.g. Tanh's
``gy * (1 - y * y)`` is a Mul, a Sub and a Mul whose own backwards give the second derivative. Masks
(ReLU, Clamp, Abs's sign, Where's condition) are constants there: their derivative is zero.
"""

from ..autograd import Function
from ..backend import get_array_module
from ..kernels import passes
from . import graph
from .broadcast import sum_to


class Add(Function):
    """y = a + b"""
    saved_names = ()

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        if a.shape == b.shape and a.dtype == b.dtype:
            return passes.add(a, b)  # (the same, split over the cores when big)
        return a + b

    def backward(self, gy):
        """da = gy;  db = gy  (summed over broadcast axes)"""
        return sum_to(gy, self.shapes[0]), sum_to(gy, self.shapes[1])

    def backward_graph(self, gy):
        return (graph.sum_to(gy, self.shapes[0]) if self.needs_input_grad[0] else None,
                graph.sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None)


class Sub(Function):
    """y = a - b"""
    saved_names = ()

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, gy):
        """da = gy;  db = -gy"""
        gb = -sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None
        return sum_to(gy, self.shapes[0]), gb

    def backward_graph(self, gy):
        return (graph.sum_to(gy, self.shapes[0]) if self.needs_input_grad[0] else None,
                -graph.sum_to(gy, self.shapes[1]) if self.needs_input_grad[1] else None)


class Mul(Function):
    """y = a * b"""
    saved_names = ("a", "b")

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        """da = gy * b;  db = gy * a"""
        a, b = self.saved_tensors
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_graph(self, gy):
        a, b = self.unpack_saved()
        ga = graph.sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = graph.sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    """y = a / b"""
    saved_names = ("a", "b")

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        """da = gy / b;  db = -gy * a / b**2"""
        a, b = self.saved_tensors
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb

    def backward_graph(self, gy):
        a, b = self.unpack_saved()
        ga = graph.sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = graph.sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = -x"""
    saved_names = ()

    def forward(self, x):
        return -x

    def backward(self, gy):
        """dx = -gy"""
        return -gy

    def backward_graph(self, gy):
        return -gy


class PowScalar(Function):
    """y = x ** p  (p a Python number)"""
    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return x**self.p

    def backward(self, gy):
        """dx = gy * p * x**(p-1)"""
        (x,) = self.saved_tensors
        return gy * (self.p * x ** (self.p - 1))

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        if self.p == 0:  # d/dx x**0 = 0 everywhere (x**-1 would put NaN at x = 0)
            return gy * 0
        if self.p == 1:
            return gy
        return gy * (self.p * x ** (self.p - 1))


class RPowScalar(Function):
    """y = c ** x  (c a Python number)"""
    saved_names = ("y",)

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

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return gy * y * float(get_array_module(y.data).log(self.c))


class Pow(Function):
    """y = a ** b  (both tensors)"""
    saved_names = ("a", "b", "y")

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

    def backward_graph(self, gy):
        a, b, y = self.unpack_saved()
        ga = graph.sum_to(gy * b * a ** (b - 1), a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            one = graph.constant(a._xp.ones((), dtype=a.dtype))
            loga = Where.apply(graph.constant(a.data > 0), a, one).log()
            gb = graph.sum_to(gy * y * loga, b.shape)
        return ga, gb


class Exp(Function):
    """y = exp(x)"""
    saved_names = ("y",)

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * y"""
        (y,) = self.saved_tensors
        return gy * y

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return gy * y


class Log(Function):
    """y = log(x)"""
    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        """dx = gy / x"""
        (x,) = self.saved_tensors
        return gy / x

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return gy / x


class Sqrt(Function):
    """y = sqrt(x)"""
    saved_names = ("y",)

    def forward(self, x):
        y = get_array_module(x).sqrt(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy / (2 * y)"""
        (y,) = self.saved_tensors
        return gy / (2 * y)

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return gy / (2 * y)


class Abs(Function):
    """y = |x|"""
    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return abs(x)

    def backward(self, gy):
        """dx = gy * sign(x)  (0 at x = 0, as PyTorch)"""
        (x,) = self.saved_tensors
        return gy * get_array_module(x).sign(x)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return gy * graph.constant(x._xp.sign(x.data))


class Sin(Function):
    """y = sin(x)"""
    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).sin(x)

    def backward(self, gy):
        """dx = gy * cos(x)"""
        (x,) = self.saved_tensors
        return gy * get_array_module(x).cos(x)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return gy * Cos.apply(x)


class Cos(Function):
    """y = cos(x)"""
    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).cos(x)

    def backward(self, gy):
        """dx = -gy * sin(x)"""
        (x,) = self.saved_tensors
        return -gy * get_array_module(x).sin(x)

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return -gy * Sin.apply(x)


class Tanh(Function):
    """y = tanh(x)"""
    saved_names = ("y",)

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * (1 - y**2)"""
        (y,) = self.saved_tensors
        return gy * (1 - y * y)

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return gy * (1 - y * y)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x))"""
    saved_names = ("y",)

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

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return gy * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0)"""
    saved_names = ("y",)

    def forward(self, x):
        y = passes.relu(x)  # max(x, 0), split over the cores when big
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * (y > 0)"""
        (y,) = self.saved_tensors
        return passes.relu_grad(gy, y)  # 0 at dead units even where gy is inf or nan (PyTorch)

    def backward_graph(self, gy):
        (y,) = self.unpack_saved()
        return Where.apply(graph.constant(y.data > 0), gy, _zero(gy))


class Clamp(Function):
    """y = min(max(x, lo), hi)"""
    saved_names = ("x",)

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

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        inside = True
        if self.lo is not None:
            inside = inside & (x.data >= self.lo)
        if self.hi is not None:
            inside = inside & (x.data <= self.hi)
        return gy * graph.constant(x._xp.asarray(inside, dtype=gy.dtype))


class Maximum(Function):
    """y = max(a, b)  (elementwise)"""
    saved_names = ("a", "b")

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

    def backward_graph(self, gy):
        a, b = self.unpack_saved()
        return _share_grads(self, gy, a, b, (a.data > b.data) + 0.5 * (a.data == b.data))


class Minimum(Function):
    """y = min(a, b)  (elementwise)"""
    saved_names = ("a", "b")

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

    def backward_graph(self, gy):
        a, b = self.unpack_saved()
        return _share_grads(self, gy, a, b, (a.data < b.data) + 0.5 * (a.data == b.data))


class Where(Function):
    """y = a where cond else b"""
    saved_names = ("cond",)

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

    def backward_graph(self, gy):
        (cond,) = self.unpack_saved()
        zero = _zero(gy)
        ga = graph.sum_to(Where.apply(cond, gy, zero), self.shapes[0]) if self.needs_input_grad[1] else None
        gb = graph.sum_to(Where.apply(cond, zero, gy), self.shapes[1]) if self.needs_input_grad[2] else None
        return None, ga, gb


class Cast(Function):
    """y = x.astype(dtype)"""
    saved_names = ()

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        """dx = gy.astype(x.dtype)"""
        return gy.astype(self.src)

    def backward_graph(self, gy):
        return Cast.apply(gy, dtype=self.src)


class Copy(Function):
    """y = copy(x)"""
    saved_names = ()

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        """dx = gy"""
        return gy

    def backward_graph(self, gy):
        return gy


class Overwrite(Function):
    """y = src  (broadcast to x's shape, in x's dtype: x's old value is discarded)"""

    saved_names = ()

    def forward(self, x, src):
        self.src_shape, self.src_dtype = src.shape, src.dtype
        return get_array_module(x).broadcast_to(src, x.shape).astype(x.dtype, copy=True)

    def backward(self, gy):
        """dx = 0;  dsrc = gy  (summed over broadcast axes)"""
        xp = get_array_module(gy)
        gx = xp.zeros_like(gy) if self.needs_input_grad[0] else None
        gsrc = sum_to(gy, self.src_shape).astype(self.src_dtype, copy=False) if self.needs_input_grad[1] else None
        return gx, gsrc

    def backward_graph(self, gy):
        gx = graph.constant(gy._xp.zeros_like(gy.data)) if self.needs_input_grad[0] else None
        gsrc = graph.sum_to(gy, self.src_shape).astype(self.src_dtype) if self.needs_input_grad[1] else None
        return gx, gsrc


def _zero(g):
    """A 0-d zero in ``g``'s dtype, outside the graph (the other branch of a masked gradient)."""
    return graph.constant(g._xp.zeros((), dtype=g.dtype))


def _share_grads(fn, gy, a, b, share):
    """Maximum/Minimum's gradients as Tensors: ``share`` (an array) of gy goes to a, the rest to b."""
    share = graph.constant(share.astype(gy.dtype))
    ga = graph.sum_to(gy * share, a.shape) if fn.needs_input_grad[0] else None
    gb = graph.sum_to(gy * (1 - share), b.shape) if fn.needs_input_grad[1] else None
    return ga, gb



class Log1p(Function):
    """y = log(1 + x)  (accurate for tiny x)"""

    saved_names = ("x",)

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log1p(x)

    def backward(self, gy):
        """dx = gy / (1 + x)"""
        (x,) = self.saved_tensors
        return gy / (1 + x)


class Expm1(Function):
    """y = exp(x) - 1  (accurate for tiny x)"""

    saved_names = ("y",)

    def forward(self, x):
        y = get_array_module(x).expm1(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        """dx = gy * (y + 1)"""
        (y,) = self.saved_tensors
        return gy * (y + 1)
