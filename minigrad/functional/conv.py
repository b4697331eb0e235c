"""Linear and 2-D convolution (the math lives in ``minigrad.ops.conv``)."""
from ..ops import conv as _ops
from .checks import check_same_device, expect_ndim, expect_tensor, pair

__all__ = ["linear", "conv2d"]


def linear(input, weight, bias=None):
    """``y = input @ weight^T + bias`` for ``input`` (..., in_features), ``weight`` (out, in), ``bias`` (out,)."""
    op = "linear"
    expect_tensor(input, op, "input")
    expect_tensor(weight, op, "weight")
    expect_tensor(bias, op, "bias", optional=True)
    check_same_device(op, input, weight, bias)
    expect_ndim(weight, 2, op, "weight", "(out_features, in_features)")
    if input.ndim < 1:
        raise ValueError(f"{op}: expected 'input' with at least 1 dim (..., in_features), got shape {input.shape}")
    if input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"{op}: input's last dim {input.shape[-1]} does not match weight's in_features {weight.shape[1]} "
            f"(input shape {input.shape}, weight shape {weight.shape})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"{op}: expected 'bias' of shape ({weight.shape[0]},), got {bias.shape} (weight shape {weight.shape})"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:  # as PyTorch: no silent promotion or cast
            raise TypeError(f"{op}: expected input and {name} to have the same dtype, but got {input.dtype} "
                            f"and {t.dtype}; cast one with .to(dtype)")
    return _ops.Linear.apply(input, weight, bias)


def _conv_padding(padding, kernel, dilation, stride, op):
    """``padding`` (int, pair, 'valid' or 'same') -> (top, bottom, left, right)."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions (stride {stride})")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)  # PyTorch puts the odd extra pixel at the end
                out += [total // 2, total - total // 2]
            return tuple(out)
        raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    ph, pw = pair(padding, op, "padding", minimum=0)
    return (ph, ph, pw, pw)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of ``input`` (N, C, H, W) or (C, H, W) with ``weight`` (C_out, C/groups, kh, kw),
    as PyTorch.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only). The output is NCHW-shaped
    with channels-last memory order (see ``minigrad.ops.conv``).
    """
    op = "conv2d"
    expect_tensor(input, op, "input")
    expect_tensor(weight, op, "weight")
    expect_tensor(bias, op, "bias", optional=True)
    check_same_device(op, input, weight, bias)
    expect_ndim(input, (3, 4), op, "input", "(N, C, H, W) or (C, H, W)")
    expect_ndim(weight, 4, op, "weight", "(C_out, C_in/groups, kH, kW)")
    if input.ndim == 3:  # unbatched
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    stride = pair(stride, op, "stride", minimum=1)
    dilation = pair(dilation, op, "dilation", minimum=1)
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    N, C, H, W = input.shape
    Co, cg, kh, kw = weight.shape
    if C % groups or Co % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both in_channels {C} and out_channels {Co} "
            f"(input shape {input.shape}, weight shape {weight.shape})"
        )
    if cg * groups != C:
        raise ValueError(
            f"{op}: expected input with {cg * groups} channels (weight {weight.shape} with groups={groups}), "
            f"got input of shape {input.shape}"
        )
    if bias is not None and bias.shape != (Co,):
        raise ValueError(f"{op}: expected 'bias' of shape ({Co},), got {bias.shape} (weight shape {weight.shape})")
    pad = _conv_padding(padding, (kh, kw), dilation, stride, op)
    eff_h, eff_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if H + pad[0] + pad[1] < eff_h or W + pad[2] + pad[3] < eff_w:
        raise ValueError(
            f"{op}: kernel ({kh}, {kw}) with dilation {dilation} spans ({eff_h}, {eff_w}), larger than the padded "
            f"input ({H + pad[0] + pad[1]}, {W + pad[2] + pad[3]}) (input shape {input.shape}, padding {padding})"
        )
    if input.dtype != weight.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    return _ops.Conv2d.apply(input, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups)
