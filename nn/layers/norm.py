"""Normalization layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``GroupNorm``, ``InstanceNorm2d``.

Parameters and buffers are named and initialised as in PyTorch: ``weight`` = 1 and ``bias`` = 0
(when affine), buffers ``running_mean`` = 0, ``running_var`` = 1 and ``num_batches_tracked`` = 0
(int64). The math lives in ``minigrad.functional`` (``F.batch_norm`` ...), which updates the running
buffers in place.
"""
import operator
import warnings

import numpy as np

import minigrad
import minigrad.functional as F

from .. import init
from ..module import Module, Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "InstanceNorm2d"]


def _index(layer, name, value):
    """``value`` as an int; a float such as 2.5 raises TypeError instead of being truncated."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{layer}: '{name}' must be an int, got {value!r} ({type(value).__name__})") from None


class _NormBase(Module):
    """What batch and instance norm share: per-channel affine parameters and running statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 device=None, dtype=None):
        super().__init__()
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(minigrad.empty(self.num_features, dtype=dtype, device=device))
            self.bias = Parameter(minigrad.empty(self.num_features, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", minigrad.zeros(self.num_features, dtype=dtype, device=device))
            self.register_buffer("running_var", minigrad.ones(self.num_features, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", minigrad.tensor(np.array(0, dtype=np.int64), device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, input):
        if not isinstance(input, minigrad.Tensor):
            raise TypeError(f"{type(self).__name__}: expected a Tensor, got {type(input).__name__}")
        dims = self._input_dims
        if input.ndim not in dims:
            want = " or ".join(f"{d}D" for d in dims)
            raise ValueError(
                f"{type(self).__name__}: expected {want} input (got {input.ndim}D input of shape {input.shape})"
            )
        channel = 0 if input.ndim == min(dims) and self._unbatched_ok else 1
        if input.shape[channel] != self.num_features:
            msg = (f"{type(self).__name__}: expected {self.num_features} channels at dim {channel}, "
                   f"got input of shape {input.shape}")
            if self.affine or self.track_running_stats:  # per-channel tensors would not fit
                raise ValueError(msg)
            warnings.warn(msg + "; normalizing anyway (the layer has no per-channel tensors)")

    _unbatched_ok = False

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Batch norm over (N, *spatial) per channel (see ``F.batch_norm``).

    Training: batch statistics; the running buffers move towards them by ``momentum``:
        running = (1 - momentum) * running + momentum * batch_stat        (PyTorch, momentum=0.1)
    which is the textbook running = 0.9 * running + 0.1 * batch with the textbook's momentum 0.9.
    ``momentum=None``: a cumulative average, running = mean of all batch statistics so far. The
    module increments ``num_batches_tracked`` to t and passes momentum = 1/t, which gives exactly
    that: running_t = (1 - 1/t) * running_{t-1} + (1/t) * stat_t.
    Eval (``.eval()``): the running statistics are used. ``track_running_stats=False``: no buffers,
    batch statistics in both modes.
    """

    def forward(self, input):  # noqa: A002 - PyTorch's name
        self._check_input(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1  # in place: the buffer object keeps its array
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        pass_buffers = not self.training or self.track_running_stats  # to be used (eval) or updated
        return F.batch_norm(
            input,
            self.running_mean if pass_buffers else None,
            self.running_var if pass_buffers else None,
            self.weight, self.bias, use_batch_stats, factor, self.eps,
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input, per channel C."""

    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) input, per channel C."""

    _input_dims = (4,)


class InstanceNorm2d(_NormBase):
    """Instance norm of (N, C, H, W) or unbatched (C, H, W) input: each sample's channel is
    normalised over its H x W positions (see ``F.instance_norm``). PyTorch's defaults: no affine
    parameters and no running statistics; with ``track_running_stats=True`` the running buffers
    are updated in training and used in eval."""

    _input_dims = (3, 4)
    _unbatched_ok = True

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input):  # noqa: A002
        self._check_input(input)
        unbatched = input.ndim == 3
        x = input.unsqueeze(0) if unbatched else input
        y = F.instance_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias,
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0, self.eps,
        )
        return y.squeeze(0) if unbatched else y


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims (an int or a tuple); with
    ``elementwise_affine`` a ``weight`` (ones) and ``bias`` (zeros, unless ``bias=False``) shaped
    ``normalized_shape``."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None, dtype=None):
        super().__init__()
        if not hasattr(normalized_shape, "__iter__"):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(_index("LayerNorm", "normalized_shape", s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(minigrad.ones(self.normalized_shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(minigrad.zeros(self.normalized_shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Split the ``num_channels`` channels into ``num_groups`` groups and normalise each sample's
    group over its channels and positions; per-channel ``weight`` (ones) and ``bias`` (zeros) when
    ``affine``."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None, dtype=None):
        super().__init__()
        num_groups = _index("GroupNorm", "num_groups", num_groups)
        num_channels = _index("GroupNorm", "num_channels", num_channels)
        if num_groups <= 0 or num_channels % num_groups != 0:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(minigrad.ones(self.num_channels, dtype=dtype, device=device))
            self.bias = Parameter(minigrad.zeros(self.num_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):  # noqa: A002
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
