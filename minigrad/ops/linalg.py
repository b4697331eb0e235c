"""Matrix product with NumPy's ``matmul`` semantics (1-D operands, batch broadcasting)."""
from ..autograd import Function
from ..backend import get_array_module
from ..kernels.threads import matmul
from .broadcast import sum_to


class MatMul(Function):
    """y = a @ b"""

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
