"""2-D pooling (the math lives in ``minigrad.ops.pool``). Inputs are (N, C, H, W) or unbatched (C, H, W)."""
from ..ops import pool as _ops
from .checks import expect_float, expect_ndim, expect_tensor, pair

__all__ = ["max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"]


def _batched(input, op):
    expect_tensor(input, op, "input")
    expect_ndim(input, (3, 4), op, "input", "(N, C, H, W) or (C, H, W)")
    expect_float(input, op, "input")
    return (input.unsqueeze(0), True) if input.ndim == 3 else (input, False)


def _window_args(input, kernel_size, stride, padding, dilation, op):
    kernel = pair(kernel_size, op, "kernel_size", minimum=1)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):  # PyTorch: kernel_size
        stride = kernel
    else:
        stride = pair(stride, op, "stride", minimum=1)
    padding = pair(padding, op, "padding", minimum=0)
    dilation = pair(dilation, op, "dilation", minimum=1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} should be at most half of kernel_size {kernel}")
    H, W = input.shape[-2:]
    if H + 2 * padding[0] < dilation[0] * (kernel[0] - 1) + 1 or W + 2 * padding[1] < dilation[1] * (kernel[1] - 1) + 1:
        raise ValueError(
            f"{op}: kernel_size {kernel} (dilation {dilation}) is larger than the padded input "
            f"({H + 2 * padding[0]}, {W + 2 * padding[1]}) (input shape {input.shape}, padding {padding})"
        )
    return kernel, stride, padding, dilation


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over each window; padding counts as -inf. The gradient goes to the window's first maximum."""
    op = "max_pool2d"
    x, unbatched = _batched(input, op)
    kernel, stride, padding, dilation = _window_args(x, kernel_size, stride, padding, dilation, op)
    y = _ops.MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=bool(ceil_mode))
    return y.squeeze(0) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each window; with ``count_include_pad`` the zero padding counts in the divisor."""
    op = "avg_pool2d"
    x, unbatched = _batched(input, op)
    kernel, stride, padding, dilation = _window_args(x, kernel_size, stride, padding, 1, op)
    y = _ops.AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=bool(ceil_mode), count_include_pad=bool(count_include_pad))
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool2d(input, output_size):
    """Mean over PyTorch's adaptive bins: bin i of n inputs -> o outputs spans [floor(i*n/o), ceil((i+1)*n/o)).

    ``output_size`` is an int or a pair; a ``None`` entry keeps that input size.
    """
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(input, op)
    H, W = x.shape[-2:]
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size, output_size)
    try:
        oh, ow = output_size
    except (TypeError, ValueError):
        raise ValueError(f"{op}: output_size must be an int or a pair, got {output_size!r}") from None
    oh, ow = H if oh is None else oh, W if ow is None else ow
    oh, ow = pair((oh, ow), op, "output_size", minimum=1)
    if H < 1 or W < 1:
        raise ValueError(f"{op}: expected a non-empty spatial size, got input shape {input.shape}")
    y = _ops.AdaptiveAvgPool2d.apply(x, output_size=(oh, ow))
    return y.squeeze(0) if unbatched else y
