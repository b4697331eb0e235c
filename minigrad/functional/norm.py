"""Normalization: ``batch_norm``, ``layer_norm``, ``group_norm``, ``instance_norm``.

The math and the hand-derived backwards live in ``minigrad/ops/norm.py``; these functions check
arguments and dispatch: to the fast Functions, or to the reference ones inside
``minigrad.kernels.reference_kernels()``. An empty batch (N = 0) gives an empty result. Running buffers (``running_mean``, ``running_var``) are updated IN PLACE:
their ``.data`` arrays change, so a module's buffers see the new values.
"""
import operator

from ..kernels.mode import use_reference
from ..ops import norm as ops
from .checks import check_same_device, expect_float, expect_tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm"]


def _check_per_channel(op, input, **vectors):
    """Each of ``vectors`` (weight, bias, running_mean, running_var) is None or has shape (C,)."""
    c = input.shape[1]
    for name, t in vectors.items():
        expect_tensor(t, op, name, optional=True)
        if t is not None and t.shape != (c,):
            raise ValueError(f"{op}: expected '{name}' of shape ({c},) for input of shape {input.shape}, got {t.shape}")


def _check_affine_dtype(op, input, weight, bias):
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != input.dtype:
            raise TypeError(f"{op}: '{name}' has dtype {t.dtype} but input has dtype {input.dtype}")


def _check_running(op, running_mean, running_var):
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{op}: give both running_mean and running_var, or neither")


def _spatial_size(input):
    n = 1
    for s in input.shape[2:]:
        n *= s
    return n


def _as_int(op, name, value):
    """``value`` as an int; a float (2.5) or other non-integer raises TypeError naming ``name``
    instead of being truncated."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: '{name}' must be an int, got {value!r} ({type(value).__name__})") from None


def _check_input(op, input, min_ndim, layout):
    expect_tensor(input, op, "input")
    expect_float(input, op, "input")
    if input.ndim < min_ndim:
        raise ValueError(f"{op}: expected input of shape {layout}, got shape {input.shape}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel of ``input`` (N, C, *spatial) with its mean and variance, then scale
    by ``weight`` and shift by ``bias`` (per channel).

    ``training=True``: the batch mean and BIASED variance over (N, *spatial) normalise; when the
    running buffers are given they are updated in place,
        running = (1 - momentum) * running + momentum * batch_stat
    with the UNBIASED batch variance for ``running_var``. (The textbook form
    ``running = 0.9 * running + 0.1 * batch`` is the same update: its "momentum" 0.9 is one minus
    PyTorch's 0.1.) ``training=False``: the running buffers are the statistics.

    ``momentum=None`` (a cumulative average over all batches so far) needs the number of batches,
    which a function call does not know: like PyTorch's modules, ``nn.BatchNorm*`` increments its
    ``num_batches_tracked`` and passes ``momentum = 1 / num_batches_tracked``, which makes the
    update above the running mean of all batch statistics. Called directly with
    ``momentum=None`` and buffers to update, this function raises ``ValueError``.
    """
    op = "batch_norm"
    _check_input(op, input, 2, "(N, C) or (N, C, *spatial)")
    _check_per_channel(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_running(op, running_mean, running_var)
    _check_affine_dtype(op, input, weight, bias)
    check_same_device(op, input, running_mean, running_var, weight, bias)
    training = bool(training)
    if training:
        if input.shape[0] * _spatial_size(input) == 1:  # PyTorch's check (an empty batch passes)
            raise ValueError(
                f"{op}: expected more than 1 value per channel when training, got input of shape {input.shape}"
            )
        if running_mean is not None and momentum is None:
            raise ValueError(
                f"{op}: momentum=None (a cumulative average) needs the batch count; pass "
                "momentum=1/num_batches_tracked as nn.BatchNorm1d/2d do"
            )
    elif running_mean is None:
        raise RuntimeError(f"{op}: running_mean and running_var must be given when training=False")
    fn = ops.BatchNorm if use_reference() else ops.BatchNormFast
    return fn.apply(
        input, weight, bias, running_mean, running_var,
        training=training, momentum=None if momentum is None else float(momentum), eps=float(eps),
    )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing ``normalized_shape`` dims (an int or a tuple), then
    ``* weight + bias`` (both shaped ``normalized_shape``, elementwise)."""
    op = "layer_norm"
    expect_tensor(input, op, "input")
    expect_float(input, op, "input")
    if not isinstance(normalized_shape, (tuple, list)) and not hasattr(normalized_shape, "__iter__"):
        normalized_shape = (normalized_shape,)
    shape = tuple(_as_int(op, "normalized_shape", s) for s in normalized_shape)
    if not shape or input.ndim < len(shape) or input.shape[input.ndim - len(shape):] != shape:
        raise ValueError(
            f"{op}: normalized_shape={shape} must match the trailing dims of the input, "
            f"got input of shape {input.shape}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        expect_tensor(t, op, name, optional=True)
        if t is not None and t.shape != shape:
            raise ValueError(f"{op}: expected '{name}' of shape {shape} (normalized_shape), got {t.shape}")
    _check_affine_dtype(op, input, weight, bias)
    check_same_device(op, input, weight, bias)
    fn = ops.LayerNorm if use_reference() else ops.LayerNormFast
    return fn.apply(input, weight, bias, normalized_shape=shape, eps=float(eps))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Split the C channels of ``input`` (N, C, *spatial) into ``num_groups`` groups and normalise
    each sample's group over (C / num_groups, *spatial); then ``* weight + bias`` per channel."""
    op = "group_norm"
    _check_input(op, input, 2, "(N, C, *spatial)")
    num_groups = _as_int(op, "num_groups", num_groups)
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups != 0:
        raise ValueError(
            f"{op}: num_channels={c} (input shape {input.shape}) must be divisible by num_groups={num_groups}"
        )
    if input.shape[0] * (c // num_groups) * (input.numel() // max(input.shape[0] * c, 1)) == 1:
        # PyTorch's check (one value in the batch per group)
        raise ValueError(
            f"{op}: expected more than 1 value per group, got input of shape {input.shape} with {num_groups} groups"
        )
    _check_per_channel(op, input, weight=weight, bias=bias)
    _check_affine_dtype(op, input, weight, bias)
    check_same_device(op, input, weight, bias)
    fn = ops.GroupNorm if use_reference() else ops.GroupNormFast
    return fn.apply(input, weight, bias, num_groups=num_groups, eps=float(eps))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalise each (sample, channel) of ``input`` (N, C, *spatial) over its spatial positions,
    then ``* weight + bias`` per channel.

    ``use_input_stats=True``: each instance's own mean and biased variance; given running buffers
    are updated in place with the batch average of the instance statistics (unbiased variance),
    ``running = (1 - momentum) * running + momentum * stat``. ``use_input_stats=False``: the
    running buffers are the statistics (as batch norm in eval mode).
    """
    op = "instance_norm"
    _check_input(op, input, 3, "(N, C, *spatial)")
    _check_per_channel(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_running(op, running_mean, running_var)
    _check_affine_dtype(op, input, weight, bias)
    check_same_device(op, input, running_mean, running_var, weight, bias)
    use_input_stats = bool(use_input_stats)
    if use_input_stats:
        if _spatial_size(input) == 1:  # PyTorch's check (an empty batch passes)
            raise ValueError(
                f"{op}: expected more than 1 spatial element when training, got input of shape {input.shape}"
            )
        if running_mean is not None and momentum is None:
            raise ValueError(f"{op}: momentum must be a number when running buffers are updated, got None")
    elif running_mean is None:
        raise ValueError(f"{op}: running_mean and running_var must be given when use_input_stats=False")
    fn = ops.InstanceNorm if use_reference() else ops.InstanceNormFast
    return fn.apply(
        input, weight, bias, running_mean, running_var,
        use_input_stats=use_input_stats, momentum=None if momentum is None else float(momentum), eps=float(eps),
    )
