"""Linear and convolutions: conv2d, its adjoint conv_transpose2d, and conv1d (conv2d on a height-1
image). The math lives in ``minigrad.ops.conv``; here: argument checks, then the choice between the
fast and the reference Functions (``minigrad.kernels.reference_kernels()``)."""
from .. import kernels
from ..ops import conv as _ops
from .checks import check_same_device, expect_ndim, expect_tensor, pair

__all__ = ["linear", "conv1d", "conv2d", "conv_transpose2d"]


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


def _check_common(op, input, weight, bias, groups):
    """Types, device, dims and dtypes shared by every convolution."""
    expect_tensor(input, op, "input")
    expect_tensor(weight, op, "weight")
    expect_tensor(bias, op, "bias", optional=True)
    check_same_device(op, input, weight, bias)
    expect_ndim(input, (3, 4), op, "input", "(N, C, H, W) or (C, H, W)")
    layout = "(C_in, C_out/groups, kH, kW)" if "transpose" in op else "(C_out, C_in/groups, kH, kW)"
    expect_ndim(weight, 4, op, "weight", layout)
    if input.dtype != weight.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    if bias is not None and bias.dtype != input.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} and bias dtype {bias.dtype} differ")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of ``input`` (N, C, H, W) or (C, H, W) with ``weight`` (C_out, C/groups, kh, kw),
    as PyTorch.

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'`` (stride 1 only). The output is NCHW-shaped
    with channels-last memory order (see ``minigrad.ops.conv``).
    """
    op = "conv2d"
    _check_common(op, input, weight, bias, groups)
    if input.ndim == 3:  # unbatched
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    stride = pair(stride, op, "stride", minimum=1)
    dilation = pair(dilation, op, "dilation", minimum=1)
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
    out = ((H + pad[0] + pad[1] - eff_h) // stride[0] + 1, (W + pad[2] + pad[3] - eff_w) // stride[1] + 1)
    fn = _ops.Conv2dReference if kernels.use_reference() else _ops.Conv2d
    return fn.apply(input, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups, out=out)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution of ``input`` (N, C_in, H, W) or (C_in, H, W) with ``weight``
    (C_in, C_out/groups, kh, kw), as PyTorch: the adjoint (gradient with respect to its input) of
    ``conv2d`` with the same weight, stride, padding, dilation and groups, so

        H_out = (H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1

    ``output_padding`` (< stride or < dilation) adds rows/columns at the bottom/right that the
    matching conv2d would not read. Often called "deconvolution", though it does not invert conv2d.
    The output is NCHW-shaped with channels-last memory order.
    """
    op = "conv_transpose2d"
    _check_common(op, input, weight, bias, groups)
    if input.ndim == 3:  # unbatched
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding, output_padding, groups,
                                dilation).squeeze(0)
    stride = pair(stride, op, "stride", minimum=1)
    dilation = pair(dilation, op, "dilation", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair of ints, got {padding!r}")
    padding = pair(padding, op, "padding", minimum=0)
    output_padding = pair(output_padding, op, "output_padding", minimum=0)
    N, C, H, W = input.shape
    Ci, cog, kh, kw = weight.shape
    if Ci != C:
        raise ValueError(
            f"{op}: expected input with {Ci} channels (weight {weight.shape} is (C_in, C_out/groups, kH, kW)), "
            f"got input of shape {input.shape}"
        )
    if C % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels {C} (input shape {input.shape})")
    Co = cog * groups
    if bias is not None and bias.shape != (Co,):
        raise ValueError(f"{op}: expected 'bias' of shape ({Co},), got {bias.shape} (weight shape {weight.shape}, "
                         f"groups={groups})")
    for k in range(2):
        if output_padding[k] >= stride[k] and output_padding[k] >= dilation[k]:
            raise ValueError(f"{op}: output_padding {output_padding} must be smaller than either stride "
                             f"{stride} or dilation {dilation}")
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                for n, s, p, d, k, o in zip((H, W), stride, padding, dilation, (kh, kw), output_padding))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is too small (input shape {input.shape}, weight shape "
                         f"{weight.shape}, stride {stride}, padding {padding}, dilation {dilation})")
    pad = (padding[0], padding[0], padding[1], padding[1])
    fn = _ops.ConvTranspose2dReference if kernels.use_reference() else _ops.ConvTranspose2d
    return fn.apply(input, weight, bias, stride=stride, padding=pad, dilation=dilation, groups=groups, out=out)


def _single(value, op, name, minimum=0):
    """An int or a 1-tuple -> an int >= ``minimum``."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{op}: '{name}' must be an int or a 1-tuple of ints, got {value!r}")
    if value < minimum:
        raise ValueError(f"{op}: '{name}' must be >= {minimum}, got {value!r}")
    return value


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation of ``input`` (N, C, L) or (C, L) with ``weight`` (C_out, C/groups, k), as
    PyTorch: ``conv2d`` on a height-1 image (the same code, and so the same gradients).
    ``padding`` is an int, ``'valid'`` or ``'same'`` (stride 1 only)."""
    op = "conv1d"
    expect_tensor(input, op, "input")
    expect_tensor(weight, op, "weight")
    expect_tensor(bias, op, "bias", optional=True)
    expect_ndim(input, (2, 3), op, "input", "(N, C, L) or (C, L)")
    expect_ndim(weight, 3, op, "weight", "(C_out, C_in/groups, k)")
    if input.ndim == 2:  # unbatched
        return conv1d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups).squeeze(0)
    stride = _single(stride, op, "stride", minimum=1)
    dilation = _single(dilation, op, "dilation", minimum=1)
    if not isinstance(padding, str):
        padding = (0, _single(padding, op, "padding", minimum=0))
    try:
        y = conv2d(input.unsqueeze(2), weight.unsqueeze(2), bias, (1, stride), padding, (1, dilation), groups)
    except (ValueError, TypeError) as e:  # name conv1d and its shapes, not the conv2d it runs as
        raise type(e)(str(e).replace("conv2d", op)
                      .replace(str(input.unsqueeze(2).shape), str(input.shape))
                      .replace(str(weight.unsqueeze(2).shape), str(weight.shape))) from None
    return y.squeeze(2)
