"""Convolution layers: ``Conv1d``, ``Conv2d`` and ``ConvTranspose2d`` (``minigrad.functional``)."""

from minigrad import functional as F
from minigrad.functional.checks import pair

from .. import init
from ..module import Module, Parameter
from .linear import _empty

__all__ = ["Conv1d", "Conv2d", "ConvTranspose2d"]


def _single(value, op, name, minimum=0):
    """An int or a 1-tuple -> a 1-tuple of ints (PyTorch keeps Conv1d's geometry as 1-tuples)."""
    v = value[0] if isinstance(value, (tuple, list)) and len(value) == 1 else value
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{op}: '{name}' must be an int or a 1-tuple of ints, got {value!r}")
    if v < minimum:
        raise ValueError(f"{op}: '{name}' must be >= {minimum}, got {value!r}")
    return (v,)


class _ConvNd(Module):
    """What every convolution layer shares: argument checks (at construction, as PyTorch), the
    weight and bias, PyTorch's initialisation and the repr. ``transposed`` layers store their weight
    as (in_channels, out_channels/groups, *kernel_size)."""

    transposed = False
    to_tuple = staticmethod(pair)

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                 padding_mode, device, dtype, output_padding=0):
        super().__init__()
        op = type(self).__name__
        tup = self.to_tuple
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
        self.kernel_size = tup(kernel_size, op, "kernel_size", minimum=1)
        self.stride = tup(stride, op, "stride", minimum=1)
        if isinstance(padding, str) and not self.transposed:
            if padding not in ("same", "valid"):
                raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of ('valid', 'same')")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = tup(padding, op, "padding", minimum=0)
        self.dilation = tup(dilation, op, "dilation", minimum=1)
        self.output_padding = tup(output_padding, op, "output_padding", minimum=0)
        self.groups = groups
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) if self.transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(_empty(shape + self.kernel_size, device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_layer_init_(self.weight, self.bias)

    def extra_repr(self):
        n = len(self.kernel_size)
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L) with ``weight`` (out_channels, in_channels/groups, k) and ``bias``
    (out_channels,). ``padding`` is an int, ``'valid'`` or ``'same'``. Initialised as PyTorch."""

    to_tuple = staticmethod(_single)

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Conv2d(_ConvNd):
    """2-D convolution with ``weight`` (out_channels, in_channels/groups, kH, kW) and ``bias`` (out_channels,).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``; only ``padding_mode='zeros'`` is
    supported. Initialised as PyTorch: ``kaiming_uniform_(weight, a=sqrt(5))`` and the bias from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels/groups * kH * kW.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype)

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (the adjoint of ``Conv2d``) with ``weight`` (in_channels,
    out_channels/groups, kH, kW) and ``bias`` (out_channels,); see ``F.conv_transpose2d`` for the
    output size. Initialised as PyTorch (fan_in = out_channels/groups * kH * kW, from the weight's
    second dim). ``forward(input, output_size=None)``: ``output_size`` (the last two dims, or a
    full shape) picks ``output_padding`` to reach that size, as PyTorch.
    """

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, device, dtype, output_padding=output_padding)

    def forward(self, input, output_size=None):  # noqa: A002 - PyTorch's name
        output_padding = self.output_padding
        if output_size is not None:
            size = tuple(output_size)[-2:]
            smallest = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
                        zip(input.shape[-2:], self.stride, self.padding, self.dilation, self.kernel_size)]
            output_padding = tuple(o - m for o, m in zip(size, smallest))
            if len(size) != 2 or any(not 0 <= e < max(s, d) for e, s, d in
                                     zip(output_padding, self.stride, self.dilation)):
                raise ValueError(f"ConvTranspose2d: requested output_size {tuple(output_size)} is not reachable "
                                 f"from input shape {input.shape} (smallest {tuple(smallest)}, output_padding "
                                 f"must be below stride {self.stride} or dilation {self.dilation})")
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                  self.groups, self.dilation)
