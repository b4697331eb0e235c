"""Shape ops: they move or select elements, so each backward moves the gradient back.

They are linear, so each differentiable backward (``backward_graph``) is another shape op applied to
the gradient, in adjoint pairs whose backwards call each other: Reshape <-> Reshape, Permute <->
Permute (inverse), Expand <-> SumTo, GetItem <-> IndexAdd (the scatter-add). Cat, Stack, IndexPut
and Pad's gradients are GetItems, so every order of derivative comes from these pairs.
"""
from ..autograd import Function
from ..backend import get_array_module, scatter_add
from . import graph
from .elementwise import Where


class Reshape(Function):
    """y = reshape(x, shape)"""
    saved_names = ()

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        """dx = reshape(gy, x.shape)"""
        return gy.reshape(self.in_shape)

    def backward_graph(self, gy):
        return Reshape.apply(gy, shape=self.in_shape)


class Permute(Function):
    """y = transpose(x, dims)"""
    saved_names = ()

    def forward(self, x):
        return x.transpose(self.dims)

    def backward(self, gy):
        """dx = transpose(gy, inverse(dims))"""
        return gy.transpose(self._inverse())

    def backward_graph(self, gy):
        return Permute.apply(gy, dims=self._inverse())

    def _inverse(self):
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return tuple(inverse)


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

    def backward_graph(self, gy):
        return graph.sum_to(gy, self.in_shape)


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
        return _index_add(self.in_shape, self.index, gy)

    def backward_graph(self, gy):
        return IndexAdd.apply(gy, index=self.index, shape=self.in_shape)


def _index_add(shape, index, values):
    """zeros(shape) with ``values`` added at [index] (repeated integer indices accumulate)."""
    xp = get_array_module(values)
    out = xp.zeros(shape, dtype=values.dtype)
    items = index if isinstance(index, tuple) else (index,)
    has_int_array = any(getattr(i, "dtype", None) is not None and i.dtype.kind in "iu" for i in items)
    if has_int_array:
        scatter_add(out, index, values)
    else:  # basic or boolean indexing selects each element at most once
        out[index] = values
    return out


class IndexAdd(Function):
    """y = zeros(shape) with x added at y[index]  (repeated indices accumulate: the adjoint of GetItem)"""

    saved_names = ()

    def forward(self, x):
        return _index_add(self.shape, self.index, x)

    def backward(self, gy):
        """dx = gy[index]"""
        return gy[self.index]

    def backward_graph(self, gy):
        return GetItem.apply(gy, index=self.index)


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

    def backward_graph(self, gy):
        grads, start = [], 0
        for n, need in zip(self.sizes, self.needs_input_grad):
            index = (slice(None),) * self.axis + (slice(start, start + n),)
            grads.append(GetItem.apply(gy, index=index) if need else None)
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

    def backward_graph(self, gy):
        lead = (slice(None),) * self.axis
        return tuple(GetItem.apply(gy, index=lead + (i,)) if need else None for i, need in enumerate(self.needs_input_grad))


class IndexPut(Function):
    """y = x with y[index] = v  (written into x's own array: the op behind ``x[index] = v``)"""

    saved_names = ()

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

    def backward_graph(self, gy):
        gx = gv = None
        if self.needs_input_grad[0]:
            kept = gy._xp.ones(gy.shape, dtype=bool)
            kept[self.index] = False
            gx = Where.apply(graph.constant(kept), gy, graph.constant(gy._xp.zeros((), dtype=gy.dtype)))
        if self.needs_input_grad[1]:
            gv = graph.sum_to(GetItem.apply(gy, index=self.index), self.v_shape)
        return gx, gv



class Repeat(Function):
    """y = tile(x, repeats)  (``Tensor.repeat``: x's shape is first padded with leading 1s)"""

    saved_names = ()

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

    saved_names = ()

    def forward(self, x):
        return get_array_module(x).flip(x, axis=self.dims)

    def backward(self, gy):
        """dx = gy reversed along dims"""
        return get_array_module(gy).flip(gy, axis=self.dims)
