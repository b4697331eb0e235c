"""Matrix product with NumPy's ``matmul`` semantics (1-D operands, batch broadcasting)."""
from ..autograd import Function
from ..backend import get_array_module
from . import graph
from ..kernels.threads import matmul
from .broadcast import sum_to
from .shape import Permute, Reshape


class MatMul(Function):
    """y = a @ b"""
    saved_names = ("a", "b")

    def forward(self, a, b):
        self.save_for_backward(a, b)
        return matmul(a, b)  # a @ b, with minigrad's BLAS thread policy

    def backward(self, gy):
        """da = gy @ b^T;  db = a^T @ gy  (batch axes summed back where they were broadcast)"""
        a, b = self.saved_tensors
        xp = get_array_module(gy)
        # Treat 1-D operands as matrices: a (n,) -> (1, n), b (n,) -> (n, 1).
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = gy
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = sum_to(matmul(g, xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            gb = sum_to(matmul(xp.swapaxes(a2, -1, -2), g), b2.shape).reshape(b.shape)
        return ga, gb

    def backward_graph(self, gy):
        """the same formula with MatMul itself: matmul's gradients are matmuls (an adjoint pair with
        itself), so every higher derivative is one too"""
        a, b = self.unpack_saved()
        a2 = Reshape.apply(a, shape=(1,) + a.shape) if a.ndim == 1 else a
        b2 = Reshape.apply(b, shape=b.shape + (1,)) if b.ndim == 1 else b
        g_shape = list(gy.shape)
        if b.ndim == 1:
            g_shape.append(1)
        if a.ndim == 1:
            g_shape.insert(len(g_shape) - 1, 1)
        g = Reshape.apply(gy, shape=tuple(g_shape)) if tuple(g_shape) != gy.shape else gy
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = graph.sum_to(MatMul.apply(g, _swap_last(b2)), a2.shape)
            ga = Reshape.apply(ga, shape=a.shape) if a.ndim == 1 else ga
        if self.needs_input_grad[1]:
            gb = graph.sum_to(MatMul.apply(_swap_last(a2), g), b2.shape)
            gb = Reshape.apply(gb, shape=b.shape) if b.ndim == 1 else gb
        return ga, gb


def _swap_last(t):
    """A Tensor with its last two axes swapped (a Permute, so it stays differentiable)."""
    dims = tuple(range(t.ndim - 2)) + (t.ndim - 1, t.ndim - 2)
    return Permute.apply(t, dims=dims)



class Einsum(Function):
    """y = einsum(equation, *xs)  (``equation`` explicit, ``"ij,jk->ik"``: no ``...``, see ``minigrad.einsum``)"""

    saved_names = ("xs",)

    def forward(self, *xs):
        self.save_for_backward(*xs)
        return get_array_module(*xs).einsum(self.equation, *xs)

    def backward(self, gy):
        """dx_i = einsum("out,others,ones->x_i's letters", gy, *other operands)  (itself an einsum:
        a letter only x_i has gets a ones vector, a repeated letter (a diagonal) an identity matrix)"""
        xs = self.saved_tensors
        xp = get_array_module(gy)
        ins, out = self.equation.split("->")
        subs = ins.split(",")
        grads = []
        for i, (x, sub) in enumerate(zip(xs, subs)):
            if not self.needs_input_grad[i]:
                grads.append(None)
                continue
            sizes = dict(zip(sub, x.shape))
            terms = [out] + [s for j, s in enumerate(subs) if j != i]
            operands = [gy] + [o for j, o in enumerate(xs) if j != i]
            seen = set("".join(terms))
            for letter in dict.fromkeys(sub):  # summed away in the forward by x_i alone: broadcast back
                if letter not in seen:
                    terms.append(letter)
                    operands.append(xp.ones(sizes[letter], dtype=gy.dtype))
            # a letter repeated inside x_i (a diagonal, "ii"): a fresh letter tied to the first by an identity
            free = iter(sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") - set(self.equation)))
            target = ""
            for letter in sub:
                if letter in target:
                    new = next(free)
                    terms.append(letter + new)
                    operands.append(xp.eye(sizes[letter], dtype=gy.dtype))
                    letter = new
                target += letter
            grads.append(xp.einsum(",".join(terms) + "->" + target, *operands))
        return tuple(grads)
