"""``Conv2d``: 2-D convolution (``minigrad.functional.conv2d``)."""

from minigrad import functional as F
from minigrad.functional.checks import pair

from .. import init
from ..module import Module, Parameter
from .linear import _empty

__all__ = ["Conv2d"]


class Conv2d(Module):
    """2-D convolution with ``weight`` (out_channels, in_channels/groups, kH, kW) and ``bias`` (out_channels,).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``; only ``padding_mode='zeros'`` is
    supported. Initialised as PyTorch: ``kaiming_uniform_(weight, a=sqrt(5))`` and the bias from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * kH * kW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__()
        op = "Conv2d"
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"{op}: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError(f"{op}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ValueError(f"{op}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise NotImplementedError(f"{op}: padding_mode {padding_mode!r} is not supported (only 'zeros')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size, op, "kernel_size", minimum=1)
        self.stride = pair(stride, op, "stride", minimum=1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of ('valid', 'same')")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = pair(padding, op, "padding", minimum=0)
        self.dilation = pair(dilation, op, "dilation", minimum=1)
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(_empty((out_channels, in_channels // groups) + self.kernel_size, device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
