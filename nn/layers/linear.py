"""``Linear``: y = x @ W^T + b (``minigrad.functional.linear``)."""

import minigrad
from minigrad import functional as F

from .. import init
from ..module import Module, Parameter

__all__ = ["Linear"]


def _empty(shape, device, dtype):
    """Uninitialised float32 (or ``dtype``) storage on ``device`` (None: the default device)."""
    return minigrad.empty(shape, dtype=dtype, device=device)


class Linear(Module):
    """Fully connected layer: ``weight`` (out_features, in_features), ``bias`` (out_features,).

    Initialised as PyTorch: ``kaiming_uniform_(weight, a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and the bias from U(-1/sqrt(in_features), 1/sqrt(in_features)).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(_empty((out_features, in_features), device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
