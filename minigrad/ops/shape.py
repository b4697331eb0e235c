"""Shape ops: they move or select elements, so each backward moves the gradient back."""
from ..autograd import Function
from ..backend import get_array_module, scatter_add


class Reshape(Function):
    """y = reshape(x, shape)"""
    saved_names = ()

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        """dx = reshape(gy, x.shape)"""
        return gy.reshape(self.in_shape)


class Permute(Function):
    """y = transpose(x, dims)"""
    saved_names = ()

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, gy):
        """dx = transpose(gy, inverse(dims))"""
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return gy.transpose(inverse)


class Expand(Function):
    """y = broadcast_to(x, shape)"""
    saved_names = ()

    def forward(self, x):
        self.in_shape = x.shape
        return get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        """dx = sum of gy over the broadcast axes"""
        from .broadcast import sum_to

        return sum_to(gy, self.in_shape)


def _is_basic(index):
    """True when ``index`` has only ints, slices, None and Ellipsis (each element picked once)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


class GetItem(Function):
    """y = x[index]"""
    saved_names = ()

    def forward(self, x):
        self.in_shape, self.in_dtype = x.shape, x.dtype
        return x[self.index]

    def backward(self, gy):
        """dx = zeros like x, with gy added at x[index] (repeated indices accumulate)"""
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        items = self.index if isinstance(self.index, tuple) else (self.index,)
        has_int_array = any(getattr(i, "dtype", None) is not None and i.dtype.kind in "iu" for i in items)
        if has_int_array:
            scatter_add(gx, self.index, gy)
        else:  # basic or boolean indexing selects each element at most once
            gx[self.index] = gy
        return gx


class Cat(Function):
    """y = concatenate(xs, axis)"""
    saved_names = ()

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        """dx_i = the slice of gy that x_i filled"""
        grads, start = [], 0
        for n, need in zip(self.sizes, self.needs_input_grad):
            index = [slice(None)] * gy.ndim
            index[self.axis] = slice(start, start + n)
            grads.append(gy[tuple(index)] if need else None)
            start += n
        return tuple(grads)


class Stack(Function):
    """y = stack(xs, axis)"""
    saved_names = ()

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy):
        """dx_i = gy[..., i, ...]  (index i along axis)"""
        xp = get_array_module(gy)
        parts = xp.moveaxis(gy, self.axis, 0)
        return tuple(parts[i] if need else None for i, need in enumerate(self.needs_input_grad))
