"""Shape ops: they move or select elements, so each backward moves the gradient back."""
from ..autograd import Function
from ..backend import get_array_module, scatter_add


class Reshape(Function):
    """y = reshape(x, shape)"""

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        """dx = reshape(gy, x.shape)"""
        return gy.reshape(self.in_shape)


class Permute(Function):
    """y = transpose(x, dims)"""

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

    def forward(self, *xs):
        return get_array_module(*xs).stack(xs, axis=self.axis)

    def backward(self, gy):
        """dx_i = gy[..., i, ...]  (index i along axis)"""
        xp = get_array_module(gy)
        parts = xp.moveaxis(gy, self.axis, 0)
        return tuple(parts[i] if need else None for i, need in enumerate(self.needs_input_grad))


class IndexPut(Function):
    """y = x with y[index] = v  (written into x's own array: the op behind ``x[index] = v``)"""

    def forward(self, x, v):
        self.v_shape = v.shape
        x[self.index] = v
        return x

    def backward(self, gy):
        """dx = gy with gy[index] = 0;  dv = gy[index] summed to v's shape"""
        gx = gv = None
        if self.needs_input_grad[0]:
            gx = gy.copy()
            gx[self.index] = 0
        if self.needs_input_grad[1]:
            from .broadcast import sum_to

            gv = sum_to(gy[self.index], self.v_shape)
        return gx, gv


class Repeat(Function):
    """y = tile(x, repeats)  (``Tensor.repeat``: x's shape is first padded with leading 1s)"""

    def forward(self, x):
        self.in_shape = x.shape
        return get_array_module(x).tile(x, self.repeats)

    def backward(self, gy):
        """dx = gy split into (repeats[i], size[i]) blocks per axis, summed over the block axes"""
        lead = len(self.repeats) - len(self.in_shape)
        sizes = (1,) * lead + tuple(self.in_shape)
        blocks = []
        for r, s in zip(self.repeats, sizes):
            blocks += [r, s]
        g = gy.reshape(blocks).sum(axis=tuple(range(0, 2 * len(sizes), 2)))
        return g.reshape(self.in_shape)


class Flip(Function):
    """y = x reversed along dims"""

    def forward(self, x):
        return get_array_module(x).flip(x, axis=self.dims)

    def backward(self, gy):
        """dx = gy reversed along dims"""
        return get_array_module(gy).flip(gy, axis=self.dims)
