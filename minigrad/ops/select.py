"""Selection ops: pick elements by index (gather, sort, topk) or overwrite some (masked_fill,
tril/triu). Each backward sends the gradient back to where its element came from; elements that
were overwritten get none."""
from ..autograd import Function
from ..backend import get_array_module, scatter_add


def _along_axis_index(index, dim):
    """The full index tuple that ``take_along_axis(x, index, dim)`` reads: ``index`` on ``dim``,
    an open grid (``arange`` shaped to broadcast) on every other axis."""
    xp = get_array_module(index)
    full = []
    for ax, n in enumerate(index.shape):
        if ax == dim:
            full.append(index)
        else:
            shape = [1] * index.ndim
            shape[ax] = n
            full.append(xp.arange(n).reshape(shape))
    return tuple(full)


class Gather(Function):
    """y[i][j][k] = x[i][index[i][j][k]][k]  (for dim = 1; ``torch.gather``)"""

    saved_names = ("index",)

    def forward(self, x, index):
        self.in_shape = x.shape
        where = _along_axis_index(index, self.dim)
        self.save_for_backward(index)
        return x[where]

    def backward(self, gy):
        """dx = zeros like x, with gy added at x[..., index, ...] (repeated indices accumulate)"""
        (index,) = self.saved_tensors
        xp = get_array_module(gy)
        gx = xp.zeros(self.in_shape, dtype=gy.dtype)
        scatter_add(gx, _along_axis_index(index, self.dim), gy)
        return gx, None


class Sort(Gather):
    """y = x sorted along dim  (y = gather(x, dim, indices), indices = argsort(x, dim))"""


class TopK(Gather):
    """y = the k largest (or smallest) of x along dim  (y = gather(x, dim, indices))"""


class MaskedFill(Function):
    """y = value where mask else x"""

    saved_names = ("mask",)

    def forward(self, x, mask):
        xp = get_array_module(x)
        self.save_for_backward(mask)
        return xp.where(mask, xp.asarray(self.value, dtype=x.dtype), x)

    def backward(self, gy):
        """dx = gy where not mask, else 0"""
        (mask,) = self.saved_tensors
        xp = get_array_module(gy)
        return xp.where(mask, xp.zeros((), dtype=gy.dtype), gy), None


class Triangle(Function):
    """y = x * M  with M[i, j] = [j - i <= diagonal] (tril) or [j - i >= diagonal] (triu), on the last two axes"""

    def forward(self, x):
        xp = get_array_module(x)
        return xp.tril(x, self.diagonal) if self.upper is False else xp.triu(x, self.diagonal)

    def backward(self, gy):
        """dx = gy * M"""
        xp = get_array_module(gy)
        return xp.tril(gy, self.diagonal) if self.upper is False else xp.triu(gy, self.diagonal)
