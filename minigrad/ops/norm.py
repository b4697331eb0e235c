"""Normalization: batch, group, instance and layer norm.

All four normalise groups of m values with the group's mean and BIASED variance,
    xhat = (x - mean) * inv_std,        inv_std = 1 / sqrt(var + eps),
then scale and shift per feature: y = xhat * w + b. They differ only in what a group is:
    batch norm     one channel over (N, *spatial)         w, b per channel
    group norm     C/G channels x spatial, per sample     w, b per channel
    instance norm  one channel over spatial, per sample   w, b per channel
    layer norm     the trailing normalized_shape          w, b per element of normalized_shape

Backward. Write dxhat = gy * w. x reaches xhat directly and through mean and inv_std, which
depend on every x of its group; differentiating the three paths and collecting terms gives, per
group of m values (mean() is the mean over the group),
    dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
and dw = sum(gy * xhat), db = sum(gy) over every axis that w and b are broadcast along.

Two Functions per op. The reference ones (``BatchNorm``, ``GroupNorm``, ``InstanceNorm``,
``LayerNorm``) compute exactly the lines above, one named array per step, with NumPy's
``mean``/``sum``: read them against the formulas. The fast ones (``...Fast``, at the end of this
file; what ``F`` runs unless ``minigrad.kernels.reference_kernels()`` is active) give the same
numbers with fewer passes over memory, cache-sized blocks and both cores.

An empty batch (N = 0) gives an empty output, zero gradients for w and b, and leaves running
buffers as they are (PyTorch sets them to NaN for instance norm; a batch without samples carries
no statistics).

Differentiable backwards (``backward_graph``, for ``create_graph=True``; defined on the reference
classes, so the fast ones inherit them: both save the input x and the weight themselves). They
write the backward formula above again with minigrad ops on the unpacked x and w, with mean and
inv_std recomputed from x as ops (``_graph_normalize``): the statistics depend on x, and the
second derivative must see that dependence. With fixed (running) statistics mean and inv_std are
constants and the op is affine. ``BatchNorm.backward_graph`` spells out the double backward this
composition evaluates.
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..kernels import memory
from ..kernels.threads import blas_threads, each_block, num_workers, parallel_for
from . import graph
from .reduce import Mean, Sum
from .shape import Reshape


def _spatial(x):
    """The number of positions per channel of (N, C, *spatial) (1 without spatial dims)."""
    n = 1
    for s in x.shape[2:]:
        n *= s
    return n


def _channels_view(a):
    """(N, C, *spatial) -> an (N, C, L) view (a copy only if ``a`` is not contiguous)."""
    return a.reshape(a.shape[0], a.shape[1], _spatial(a))


def _normalize_running(x3, running_mean, running_var, eps):
    """xhat = (x - running_mean) / sqrt(running_var + eps) per channel of x3 (N, C, L), with the
    statistics as copies in x's dtype (the buffers may change before backward)."""
    xp = get_array_module(x3)
    mean = running_mean.astype(x3.dtype).reshape(1, -1, 1)
    inv_std = 1.0 / xp.sqrt(running_var.astype(x3.dtype).reshape(1, -1, 1) + eps)
    return (x3 - mean) * inv_std, mean, inv_std


def _scale_shift(xhat, weight, bias):
    """y = xhat * w + b per channel of xhat (N, C, L) (w, b optional)."""
    y = xhat
    if weight is not None:
        y = y * weight[:, None]
    if bias is not None:
        y = y + bias[:, None]
    return y


def _normalize(xg, axes, eps):
    """Normalise ``xg`` over ``axes`` (the values of one group): returns xhat, mean, inv_std,
    with mean and inv_std kept broadcastable against ``xg``; var is the biased variance."""
    xp = get_array_module(xg)
    mean = xg.mean(axis=axes, keepdims=True)
    xc = xg - mean
    var = (xc * xc).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / xp.sqrt(var + eps)
    return xc * inv_std, mean, var, inv_std


def _normalize_backward(dxhat, xhat, inv_std, axes):
    """dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), means over a group."""
    mean_dxhat = dxhat.mean(axis=axes, keepdims=True)
    mean_dxhat_xhat = (dxhat * xhat).mean(axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def _update_running(running, momentum, batch_stat):
    """running = (1 - momentum) * running + momentum * batch_stat, in place."""
    running *= 1 - momentum
    running += momentum * batch_stat.astype(running.dtype)


def _empty_backward(gy, weight):
    """Gradients for an empty batch: an empty dx, zeros for the per-channel w and b."""
    xp = get_array_module(gy)
    db = xp.zeros(gy.shape[1], dtype=gy.dtype)
    return xp.zeros_like(gy), None if weight is None else xp.zeros_like(db), db


# ------------------------------------------------------------------ the same formulas on Tensors


def _graph_normalize(xg, axes, eps):
    """``_normalize`` on a Tensor: xhat and inv_std as ops of ``xg`` (mean, var recomputed)."""
    mean = Mean.apply(xg, axis=axes, keepdims=True)
    xc = xg - mean
    inv_std = (Mean.apply(xc * xc, axis=axes, keepdims=True) + eps) ** -0.5
    return xc * inv_std, inv_std


def _graph_normalize_backward(dxhat, xhat, inv_std, axes):
    """``_normalize_backward`` on Tensors: inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))."""
    mean_dxhat = Mean.apply(dxhat, axis=axes, keepdims=True)
    mean_dxhat_xhat = Mean.apply(dxhat * xhat, axis=axes, keepdims=True)
    return inv_std * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat)


def _reshape(t, shape):
    shape = tuple(shape)
    return t if t.shape == shape else Reshape.apply(t, shape=shape)


def _graph_backward(fn, gy, affine_shape, w_shape, param_shape, sum_axes, group_shape=None, stat_axes=None):
    """The normalization backward on Tensors, for every op of this file.

    ``affine_shape``: the view of x in which w (viewed as ``w_shape``) broadcasts and dw, db (of
    ``param_shape``) sum over ``sum_axes``; ``group_shape``, ``stat_axes``: the view in which each group's statistics
    are taken over ``stat_axes`` (None: fixed statistics, the saved mean and inv_std)."""
    x, mean, inv_std, weight = fn.unpack_saved()
    need = fn.needs_input_grad
    if x.data.size == 0:  # an empty batch: empty dx, zero dw and db (no x reaches them)
        xp = x._xp
        zeros_c = graph.constant(xp.zeros(param_shape, dtype=gy.dtype))
        return (graph.constant(xp.zeros(x.shape, dtype=gy.dtype)) if need[0] else None,
                zeros_c if need[1] and weight is not None else None, zeros_c if need[2] else None)
    ga = _reshape(gy, affine_shape)
    w = None if weight is None else _reshape(weight, w_shape)
    if group_shape is None:  # fixed statistics: xhat = (x - mean) * inv_std with constants
        stat_shape = (1, -1) + (1,) * (len(affine_shape) - 2)
        mean_c = graph.constant(mean.data.reshape(stat_shape))
        inv_c = graph.constant(inv_std.data.reshape(stat_shape))
        xhat = (_reshape(x, affine_shape) - mean_c) * inv_c
    else:
        xhat_g, inv_g = _graph_normalize(_reshape(x, group_shape), stat_axes, fn.eps)
        xhat = _reshape(xhat_g, affine_shape)
    dx = dw = db = None
    if need[0]:
        dxhat = ga if w is None else ga * w
        if group_shape is None:
            dx = dxhat * inv_c
        else:
            dx = _graph_normalize_backward(_reshape(dxhat, group_shape), xhat_g, inv_g, stat_axes)
        dx = _reshape(dx, x.shape)
    if need[1] and weight is not None:
        dw = _reshape(Sum.apply(ga * xhat, axis=sum_axes, keepdims=False), param_shape)
    if need[2]:
        db = _reshape(Sum.apply(ga, axis=sum_axes, keepdims=False), param_shape)
    return dx, dw, db


# ------------------------------------------------------------------ batch norm


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (per channel; batch statistics in training)

    In training, mean and the biased var are taken over (N, *spatial) of each channel, and the
    running buffers (when given) are updated IN PLACE with PyTorch's convention
        running = (1 - momentum) * running + momentum * batch_stat        (momentum = 0.1)
    where running_var uses the UNBIASED batch variance m / (m - 1) * var. Many textbooks write
    the same update as running = 0.9 * running + 0.1 * batch and call 0.9 the momentum: PyTorch's
    momentum is one minus the textbook's. Out of training the running mean and var are the
    statistics, and the op is an affine map.
    """

    saved_names = ("x", "mean", "inv_std", "weight")
    _axes = (0, 2)  # of the (N, C, L) view: a channel's values

    def forward(self, x, weight, bias, running_mean, running_var):
        xp = get_array_module(x)
        x3 = _channels_view(x)
        if x.size == 0:  # an empty batch: nothing to normalise, buffers unchanged
            self.save_for_backward(x, None, None, weight)
            return xp.zeros_like(x)
        if self.training:
            xhat, mean, var, inv_std = _normalize(x3, self._axes, self.eps)
            if running_mean is not None:
                m = x3.shape[0] * x3.shape[2]
                _update_running(running_mean, self.momentum, mean.reshape(-1))
                _update_running(running_var, self.momentum, var.reshape(-1) * (m / (m - 1)))  # unbiased
        else:  # the running statistics (copies: the buffers may change before backward)
            xhat, mean, inv_std = _normalize_running(x3, running_mean, running_var, self.eps)
        self.save_for_backward(x, mean, inv_std, weight)
        return _scale_shift(xhat, weight, bias).reshape(x.shape)

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        (training; inv_std * dxhat with running statistics);  dw = sum(gy * xhat);  db = sum(gy)
        (means and sums over N and spatial, per channel)"""
        x, mean, inv_std, weight = self.saved_tensors
        if gy.size == 0:
            return _empty_backward(gy, weight) + (None, None)
        x3, gy3 = _channels_view(x), _channels_view(gy)
        xhat = (x3 - mean) * inv_std
        dxhat = gy3 if weight is None else gy3 * weight[:, None]
        if self.training:
            dx = _normalize_backward(dxhat, xhat, inv_std, self._axes)
        else:  # fixed statistics: x reaches y only directly
            dx = inv_std * dxhat
        dw = None if weight is None else (gy3 * xhat).sum(axis=self._axes)
        db = gy3.sum(axis=self._axes)
        return dx.reshape(x.shape), dw, db, None, None

    def backward_graph(self, gy):
        """The backward above on Tensors (composed: ``_graph_backward``, mean and inv_std recomputed
        from x as ops). In training, with incoming gradients ggx, ggw, ggb for dx, dw, db, per
        channel (M = the mean over its m values, s = inv_std, ghat = gy * w), the graph of this
        composition evaluates the classic compact double backward:
            d gy = w * s * (ggx - M(ggx) - xhat * M(ggx * xhat)) + ggw * xhat + ggb
            d w  = sum(gy * s * (ggx - M(ggx) - xhat * M(ggx * xhat)))
            d x  = s**2 * (3 * M(ggx * xhat) * M(ghat * xhat) * xhat - M(ghat * xhat) * (ggx - M(ggx))
                           - M(ggx * xhat) * (ghat - M(ghat)) - M(ggx * (ghat - M(ghat))) * xhat)
                   + ggw * s * (gy - M(gy) - xhat * M(gy * xhat))
        (dx's operator is the projection s * (1 - M - xhat M(xhat .)), symmetric, hence d gy; d x
        collects x's paths through s, xhat and dw = sum(gy * xhat)). tests/test_higher_order_heavy.py
        checks these lines against the composed graph. With running statistics (eval) the op is
        affine, xhat = (x - running_mean) * s with s constant, and
            d gy = ggx * w * s + ggw * xhat + ggb;   d w = sum(ggx * gy * s);   d x = ggw * gy * s.
        """
        n, c, spatial = gy.shape[0], gy.shape[1], _spatial(gy)
        view = (n, c, spatial)
        return _graph_backward(self, gy, view, (1, c, 1), (c,), (0, 2),
                               view if self.training else None, self._axes) + (None, None)


# ------------------------------------------------------------------ group and instance norm


class GroupNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics per sample over C/G channels x spatial)"""

    saved_names = ("x", "mean", "inv_std", "weight")

    def _groups(self, x):
        """(N, C, *spatial) -> (N, G, C/G * spatial): one row of values per group."""
        return x.reshape(x.shape[0], self.num_groups, (x.shape[1] // self.num_groups) * _spatial(x))

    def forward(self, x, weight, bias):
        xhat, mean, _, inv_std = _normalize(self._groups(x), (2,), self.eps)
        y = _channels_view(xhat.reshape(x.shape))
        if weight is not None:
            y = y * weight[:, None]
        if bias is not None:
            y = y + bias[:, None]
        self.save_for_backward(x, mean, inv_std, weight)
        return y.reshape(x.shape)

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
        dw = sum(gy * xhat);  db = sum(gy)   (means over the m = C/G * spatial values of a group;
        dw, db sum over N and spatial)"""
        x, mean, inv_std, weight = self.saved_tensors
        gy3 = _channels_view(gy)
        xhat = (self._groups(x) - mean) * inv_std
        xhat3 = _channels_view(xhat.reshape(x.shape))
        dxhat = gy3 if weight is None else gy3 * weight[:, None]
        dx = _normalize_backward(self._groups(dxhat), xhat, inv_std, (2,))
        dw = None if weight is None else (gy3 * xhat3).sum(axis=(0, 2))
        db = gy3.sum(axis=(0, 2))
        return dx.reshape(x.shape), dw, db

    def backward_graph(self, gy):
        """The backward above on Tensors (``_graph_backward``: statistics recomputed from x as ops)."""
        n, c, spatial = gy.shape[0], gy.shape[1], _spatial(gy)
        groups = (n, self.num_groups, (c // self.num_groups) * spatial)
        return _graph_backward(self, gy, (n, c, spatial), (1, c, 1), (c,), (0, 2), groups, (2,))


class InstanceNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics per sample and channel over spatial)

    With ``use_input_stats`` each (sample, channel) uses its own mean and biased var, and running
    buffers (when given) move towards their average over the batch,
        running = (1 - momentum) * running + momentum * mean_over_N(instance_stat)
    with the unbiased instance variance for running_var. Without it the running statistics are
    used as batch norm uses them in eval mode.
    """

    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias, running_mean, running_var):
        x3 = _channels_view(x)
        if self.use_input_stats:
            xhat, mean, var, inv_std = _normalize(x3, (2,), self.eps)
            if running_mean is not None and x.shape[0] > 0:
                spatial = x3.shape[2]
                _update_running(running_mean, self.momentum, mean.mean(axis=(0, 2)))
                _update_running(running_var, self.momentum, var.mean(axis=(0, 2)) * (spatial / (spatial - 1)))
        else:  # the running statistics, as batch norm in eval mode
            xhat, mean, inv_std = _normalize_running(x3, running_mean, running_var, self.eps)
        self.save_for_backward(x, mean, inv_std, weight)
        return _scale_shift(xhat, weight, bias).reshape(x.shape)

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        (inv_std * dxhat with running statistics);  dw = sum(gy * xhat);  db = sum(gy)
        (means over the spatial values of one sample and channel)"""
        x, mean, inv_std, weight = self.saved_tensors
        x3, gy3 = _channels_view(x), _channels_view(gy)
        xhat = (x3 - mean) * inv_std
        dxhat = gy3 if weight is None else gy3 * weight[:, None]
        if self.use_input_stats:
            dx = _normalize_backward(dxhat, xhat, inv_std, (2,))
        else:
            dx = inv_std * dxhat
        dw = None if weight is None else (gy3 * xhat).sum(axis=(0, 2))
        db = gy3.sum(axis=(0, 2))
        return dx.reshape(x.shape), dw, db, None, None

    def backward_graph(self, gy):
        """The backward above on Tensors (``_graph_backward``: statistics recomputed from x as ops,
        or the running ones as constants)."""
        n, c, spatial = gy.shape[0], gy.shape[1], _spatial(gy)
        view = (n, c, spatial)
        return _graph_backward(self, gy, view, (1, c, 1), (c,), (0, 2),
                               view if self.use_input_stats else None, (2,)) + (None, None)


# ------------------------------------------------------------------ layer norm


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics over the trailing normalized_shape)"""

    saved_names = ("x", "mean", "inv_std", "weight")

    def _rows(self, a):
        """(..., *normalized_shape) -> (R, m): one row per group."""
        m = 1
        for s in self.normalized_shape:
            m *= s
        return a.reshape(-1, m)

    def forward(self, x, weight, bias):
        xhat, mean, _, inv_std = _normalize(self._rows(x), (1,), self.eps)
        y = xhat
        if weight is not None:
            y = y * weight.reshape(-1)
        if bias is not None:
            y = y + bias.reshape(-1)
        self.save_for_backward(x, mean, inv_std, weight)
        return y.reshape(x.shape)

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
        dw = sum(gy * xhat);  db = sum(gy)   (means along each row of m = prod(normalized_shape)
        values; dw, db sum over the rows)"""
        x, mean, inv_std, weight = self.saved_tensors
        gy2 = self._rows(gy)
        xhat = (self._rows(x) - mean) * inv_std
        dxhat = gy2 if weight is None else gy2 * weight.reshape(-1)
        dx = _normalize_backward(dxhat, xhat, inv_std, (1,))
        shape = self.normalized_shape
        dw = None if weight is None else (gy2 * xhat).sum(axis=0).reshape(shape)
        db = gy2.sum(axis=0).reshape(shape)
        return dx.reshape(x.shape), dw, db

    def backward_graph(self, gy):
        """The backward above on Tensors (``_graph_backward``: statistics recomputed from x as ops)."""
        m = 1
        for size in self.normalized_shape:
            m *= size
        rows = (gy.data.size // max(m, 1), m)
        return _graph_backward(self, gy, rows, (m,), tuple(self.normalized_shape), (0,), rows, (1,))


# ================================================================== the fast kernels
# The same numbers as the reference Functions above, computed with fewer passes over memory:
# - statistics in one pass: sum(x) and sum(x*x) (an ``einsum``: it multiplies and adds without a
#   temporary), var = mean(x*x) - mean**2. That loses digits when mean**2 is many times var
#   (the two terms nearly cancel): such groups get the two-pass variance mean((x - mean)**2),
#   and their backward works on x - mean for the same reason;
# - the backward's sums per group, sum(dxhat) and sum(dxhat * xhat), and dw and db are fused the
#   same way; in layer and group norm, plain and weighted sums of rows or columns are
#   matrix-vector products (one BLAS pass, several times faster than NumPy's reductions);
# - layer and group norm work through cache-sized blocks of samples (every pass over a block
#   finds it still in the cache), the blocks spread over the cores by minigrad.kernels.threads;
#   batch norm (statistics across the whole batch) writes y = x * scale + shift in one pass;
# - every per-group vector is cast to the input's dtype before it touches a big array, so
#   float32 stays float32.
# The backward formulas are those of the reference; the code rearranges them as commented.

# mean**2 > _CANCEL * var: the one-pass variance would lose more than ~1.2 of float32's 7 digits
_CANCEL = 16.0
_BLOCK_BYTES = 1024 * 1024  # one block of samples of x (fewer, bigger blocks: each NumPy call costs ~1-2 us)


def _inv_std(var, eps):
    xp = get_array_module(var)
    return 1.0 / xp.sqrt(var + eps)  # Python floats keep var's dtype


def _cancels(mean, var):
    """True when some group's one-pass variance is unreliable (see ``_CANCEL``)."""
    xp = get_array_module(mean)
    return bool(xp.any(mean * mean > _CANCEL * var))


def _channel_sum(a3):
    """(N, C, L) -> (C,): the sum over samples and positions of each channel."""
    return get_array_module(a3).einsum("ncl->c", a3)


def _channel_dot(a3, b3):
    """(N, C, L), (N, C, L) -> (C,): sum(a * b) of each channel, without a temporary."""
    return get_array_module(a3).einsum("ncl,ncl->c", a3, b3)


def _empty_channels_like(a):
    """A fresh array shaped like ``a``; channels-last when ``a`` is (convolutions return
    channels-last memory), so that neighbouring convs need no transposes. Either way its
    (N, C, L) ``_channels_view`` is a view, as ``out=`` writes require."""
    xp = get_array_module(a)
    if a.ndim >= 3 and a.strides[1] == a.itemsize and a.strides[-1] == a.shape[1] * a.itemsize:
        out = xp.empty_like(a)
        if _channels_view(out).base is not None:
            return out
    return xp.empty(a.shape, dtype=a.dtype)


# ------------------------------------------------------------------ affine with fixed statistics
# BatchNorm in eval mode and InstanceNorm with use_input_stats=False: every channel uses the given
# running mean and variance, so the op is the elementwise affine map y = x * scale + shift.


def _fixed_stats_forward(fn, x, weight, bias, running_mean, running_var):
    xp = get_array_module(x)
    inv_std = _inv_std(running_var.astype(x.dtype), fn.eps)  # (copies: buffers may change later)
    mean = running_mean.astype(x.dtype)
    scale = inv_std if weight is None else inv_std * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y = _empty_channels_like(x)
    x3, y3 = _channels_view(x), _channels_view(y)

    def affine(i):  # (a block of samples per thread)
        xp.multiply(x3[i], scale[:, None], out=y3[i])
        y3[i] += shift[:, None]

    each_block(affine, y3)
    fn.save_for_backward(x, mean, inv_std, weight)
    return y


def _fixed_stats_backward(fn, gy):
    """dx = gy * w * inv_std;  dw = sum(gy * (x - running_mean) * inv_std);  db = sum(gy)"""
    x, mean, inv_std, weight = fn.saved_tensors
    xp = get_array_module(gy)
    gy3 = _channels_view(gy)
    dx = dw = db = None
    if fn.needs_input_grad[0]:
        scale = inv_std if weight is None else inv_std * weight
        dx = _empty_channels_like(gy)
        xp.multiply(gy3, scale[:, None], out=_channels_view(dx))
    if fn.needs_input_grad[1] and weight is not None:
        xc = xp.subtract(_channels_view(x), mean[:, None])
        dw = _channel_dot(gy3, xc) * inv_std
    if fn.needs_input_grad[2]:
        db = _channel_sum(gy3)
    return dx, dw, db


# BatchNorm's passes are split over the pool from this size (measured: 8 MiB 2x faster split, 4 MiB
# and below slower: four hand-offs per forward and backward, partial sums per block)
_BN_SPLIT_BYTES = 8 << 20


def _block_sum(parts):
    """The sum of the per-block partial results ``each_block`` returned (tuples add up item by item)."""
    total = list(parts[0])
    for part in parts[1:]:
        for k, v in enumerate(part):
            total[k] = total[k] + v
    return total


class BatchNormFast(BatchNorm):
    """y = (x - mean) / sqrt(var + eps) * w + b   (per channel; batch statistics in training)

    The fast path: one-pass statistics (sum and sum of squares, falling back to two passes when
    they would cancel), y as one multiply-add per value, every pass split over the samples on the
    kernel pool's threads (``each_block``: partial channel sums per block, added up)."""

    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias, running_mean, running_var):
        if x.size == 0:
            return super().forward(x, weight, bias, running_mean, running_var)
        if not self.training:
            return _fixed_stats_forward(self, x, weight, bias, running_mean, running_var)
        xp = get_array_module(x)
        x3 = _channels_view(x)
        m = x3.shape[0] * x3.shape[2]
        y = _empty_channels_like(x)
        y3 = _channels_view(y)
        s1, s2 = _block_sum(each_block(lambda i: (_channel_sum(x3[i]), _channel_dot(x3[i], x3[i])), x3, _BN_SPLIT_BYTES))
        mean = s1 / m
        var = s2 / m - mean * mean
        self.centered = _cancels(mean, var)
        if self.centered:  # two-pass variance, x - mean parked in y
            def centre(i):
                xp.subtract(x3[i], mean[:, None], out=y3[i])
                return (_channel_dot(y3[i], y3[i]),)
            var = _block_sum(each_block(centre, y3, _BN_SPLIT_BYTES))[0] / m
        inv_std = _inv_std(var, self.eps)
        scale = inv_std if weight is None else inv_std * weight
        if self.centered:  # y = (x - mean) * scale + b
            def affine(i):
                y3[i] *= scale[:, None]
                if bias is not None:
                    y3[i] += bias[:, None]
        else:  # y = x * scale + (b - mean * scale)
            shift = (-mean * scale if bias is None else bias - mean * scale)[:, None]

            def affine(i):
                xp.multiply(x3[i], scale[:, None], out=y3[i])
                y3[i] += shift
        each_block(affine, y3, _BN_SPLIT_BYTES)
        if running_mean is not None:
            _update_running(running_mean, self.momentum, mean)
            _update_running(running_var, self.momentum, var * (m / (m - 1)))  # the unbiased batch variance
        self.save_for_backward(x, mean, inv_std, weight)
        return y

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
        dw = sum(gy * xhat);  db = sum(gy)   (means and sums over N and spatial, per channel)"""
        if gy.size == 0:
            return super().backward(gy)
        if not self.training:
            return _fixed_stats_backward(self, gy) + (None, None)
        x, mean, inv_std, weight = self.saved_tensors
        xp = get_array_module(gy)
        x3, gy3 = _channels_view(x), _channels_view(gy)
        m = x3.shape[0] * x3.shape[2]
        want_dx = self.needs_input_grad[0]
        dx = _empty_channels_like(gy) if want_dx or self.centered else None
        dx3 = None if dx is None else _channels_view(dx)
        if self.centered:  # sum(gy * (x - mean)) with x - mean parked in dx
            def sums(i):
                xp.subtract(x3[i], mean[:, None], out=dx3[i])
                return _channel_sum(gy3[i]), _channel_dot(gy3[i], dx3[i])
            sum_gy, sum_gy_xc = _block_sum(each_block(sums, gy3, _BN_SPLIT_BYTES))
        else:
            sum_gy, sum_gy_x = _block_sum(each_block(lambda i: (_channel_sum(gy3[i]), _channel_dot(gy3[i], x3[i])), gy3, _BN_SPLIT_BYTES))
            sum_gy_xc = sum_gy_x - mean * sum_gy
        sum_gy_xhat = sum_gy_xc * inv_std
        dw = sum_gy_xhat if self.needs_input_grad[1] and weight is not None else None
        db = sum_gy if self.needs_input_grad[2] else None
        if not want_dx:
            return None, dw, db, None, None
        # One channel is one group, so w factors out of the reference's formula:
        #   dx = w*inv_std * (gy - sum(gy)/m - xhat*sum(gy*xhat)/m)
        #      = a * (gy - c - k*(x - mean)),   a = w*inv_std,  c = sum(gy)/m,  k = inv_std*sum(gy*xhat)/m
        #      = a*gy - a*k*x + a*(k*mean - c)
        a = inv_std if weight is None else inv_std * weight
        k = inv_std * sum_gy_xhat / m
        c = sum_gy / m
        if self.centered:  # dx3 holds x - mean
            def input_grad(i):
                dx3[i] *= -k[:, None]
                dx3[i] -= c[:, None]
                dx3[i] += gy3[i]
                dx3[i] *= a[:, None]
        else:
            ak, shift = (-a * k)[:, None], (a * (k * mean - c))[:, None]

            def input_grad(i):
                xp.multiply(x3[i], ak, out=dx3[i])
                dx3[i] += shift
                dx3[i] += xp.multiply(gy3[i], a[:, None], out=_work(gy3[i].shape, gy.dtype, xp))
        each_block(input_grad, dx3, _BN_SPLIT_BYTES)
        return dx, dw, db, None, None


# ------------------------------------------------------------------ blocks of samples over the pool
# Layer, group and instance norm take each sample's statistics alone, so they work through blocks
# of whole samples: each block's passes find it in the cache, and the blocks spread over the cores.
# Sums that are plain or weighted sums of rows or columns run as matrix-vector products (BLAS
# walks the data once, ~4x faster than NumPy's reductions), with BLAS on one thread: the pool
# already keeps both cores busy, and woken OpenBLAS threads would spin on them.


def _samples_per_block(n, sample_bytes):
    """Samples per block: blocks of at most ``_BLOCK_BYTES``, as many as a multiple of the pool's
    threads once there is more than one (equal shares: a block left over for one thread makes the
    others wait for it)."""
    if n == 0:
        return 1
    blocks = -(-n * sample_bytes // _BLOCK_BYTES)
    if blocks > 1:
        workers = num_workers()
        blocks = -(-blocks // workers) * workers
    return max(1, -(-n // blocks))


def _work(shape, dtype, xp, slot="norm"):
    """A block-sized temporary: the thread's reused scratch buffer (NumPy), else a fresh array."""
    return memory.scratch(shape, dtype, xp, slot=slot)


def _blocks(block, n, per, xp):
    """Run ``block(n0, n1)`` over blocks of ``per`` samples, spread over the thread pool with BLAS
    on one thread (NumPy only); returns the blocks' results."""
    if xp is not np:  # as parallel_for: an empty batch is one empty block
        return [block(n0, min(n0 + per, n)) for n0 in range(0, n, per)] or [block(0, 0)]
    with blas_threads(1):
        return parallel_for(block, n, per)


def _ones(n, like):
    return get_array_module(like).ones(n, dtype=like.dtype)


# A row of m values broadcast down a block (w, b of layer norm) costs NumPy's loop machinery once
# per row: for m = 256 that doubles a pass. Tiled t times, the vector meets t rows at once, seen
# as one row of t * m values: the pass runs as fast as one between two arrays of the same shape.
_TILE_VALUES = 8192  # t * m, about 32 KiB of float32: the tiled vector stays in L1


def _tiled(v):
    """``v`` (m,) repeated t times (t * m ~ ``_TILE_VALUES``), for ``_by_columns``; CuPy: ``v``."""
    xp = get_array_module(v)
    if xp is not np:
        return v
    return xp.tile(v, max(1, _TILE_VALUES // max(v.shape[0], 1)))


def _by_columns(ufunc, a2, vt, out2):
    """``ufunc(a2, v, out=out2)`` with v (m,) broadcast along the rows of ``a2`` (r, m), given
    ``vt = _tiled(v)``: whole groups of t rows as single rows, the remaining rows one by one."""
    r, m = a2.shape
    t = vt.shape[0] // max(m, 1)
    head = r - r % t if t > 1 and a2.flags.c_contiguous and out2.flags.c_contiguous else 0
    if head:
        ufunc(a2[:head].reshape(-1, t * m), vt, out=out2[:head].reshape(-1, t * m))
    if head < r:
        ufunc(a2[head:], vt[:m], out=out2[head:])


# ------------------------------------------------------------------ layer norm: rows
# x seen as rows (R, m); w and b (m,) broadcast along the rows.


def _row_stats(x2, y2, ones, eps):
    """Mean, biased variance and inv_std of each row of ``x2`` (r, m): sum(x) as ``x2 @ ones``,
    sum(x*x) an einsum; where the one-pass variance would cancel (``_cancels``) it is taken again
    from x - mean, which is then left in ``y2``. Returns (mean, var, inv_std, centered)."""
    xp = get_array_module(x2)
    m = x2.shape[1]
    mu = (x2 @ ones) / m
    var = xp.einsum("rm,rm->r", x2, x2) / m - mu * mu
    centered = _cancels(mu, var)
    if centered:  # two-pass variance, x - mean parked in y
        xp.subtract(x2, mu[:, None], out=y2)
        var = xp.einsum("rm,rm->r", y2, y2) / m
    return mu, var, _inv_std(var, eps), centered


def _rows_forward(x2, w, b, eps, y2):
    """Normalise each row of ``x2`` (R, m), then ``* w + b`` (each (m,) or None), into ``y2``.
    Returns the (R,) mean, biased var and inv_std, and whether a block took the two-pass variance.

    sum(x) is x2 @ ones, sum(x*x) an einsum (no temporary); then y = x * inv_std - mean * inv_std,
    * w, + b in place: four passes over the block, w and b tiled (``_by_columns``). (Writing
    b - mean * inv_std * w as one small product [-mean * inv_std, 1] @ [w; b] saves a pass but
    needs a scratch block: no faster.)"""
    xp = get_array_module(x2)
    r, m = x2.shape
    mean, var_out, inv = (xp.empty(r, dtype=x2.dtype) for _ in range(3))
    ones = _ones(m, x2)
    wt = None if w is None else _tiled(w)
    bt = None if b is None else _tiled(b)

    def block(r0, r1):
        xb, yb = x2[r0:r1], y2[r0:r1]
        mu, var, iv, centered = _row_stats(xb, yb, ones, eps)
        mean[r0:r1], var_out[r0:r1], inv[r0:r1] = mu, var, iv
        if centered:
            yb *= iv[:, None]
        else:  # xhat = x * inv_std - mean * inv_std
            xp.multiply(xb, iv[:, None], out=yb)
            yb -= (mu * iv)[:, None]
        if w is not None:
            _by_columns(xp.multiply, yb, wt, yb)
        if b is not None:
            _by_columns(xp.add, yb, bt, yb)
        return centered

    centered = _blocks(block, r, _samples_per_block(r, m * x2.itemsize), xp)
    return mean, var_out, inv, any(centered)


def _rows_backward(x2, g2, mean, inv, w, centered, want_dx, want_w, want_b, dx2):
    """dx (written into ``dx2`` when ``want_dx``), dw = sum(gy * xhat) and db = sum(gy) over the rows
    (None where not wanted), for rows of ``_rows_forward``.

    With P = gy * x (one pass) every sum is a product of a matrix with one or two vectors:
        [db; s] = [ones; mean * inv_std] @ gy,   dw = inv_std @ P - s,
        A = sum(dxhat) = gy @ w,  B = sum(dxhat * xhat) = inv_std * (P @ w - mean * A)   per row.
    Then dx = inv_std * (dxhat - A/m - xhat * B/m) = k * x + c + (gy * w) * inv_std with, per row,
    k = -inv_std**2 * B/m and c = -inv_std * A/m - k * mean: five passes. Where the forward found
    cancellation (``centered``), x - mean takes x's place (and 0 mean's): P, B and k * x then lose
    no digits to differences of large sums."""
    xp = get_array_module(g2)
    r, m = g2.shape
    ones_m = _ones(m, g2)
    wv = ones_m if w is None else w
    wt = None if w is None else _tiled(w)

    def block(r0, r1):
        xb, gb = x2[r0:r1], g2[r0:r1]
        mu, iv = mean[r0:r1], inv[r0:r1]
        sums = None
        if want_b or (want_w and not centered):
            sums = xp.stack([_ones(r1 - r0, gb), mu * iv]) @ gb
        if centered:  # x - mean, parked in dx (or scratch)
            xs = dx2[r0:r1] if want_dx else _work(gb.shape, gb.dtype, xp, "norm-xc")
            xp.subtract(xb, mu[:, None], out=xs)
        else:
            xs = xb
        db = sums[0] if want_b else None
        if not (want_dx or want_w):
            return None, db
        p = xp.multiply(gb, xs, out=_work(gb.shape, gb.dtype, xp))
        dw = None
        if want_w:
            dw = iv @ p if centered else iv @ p - sums[1]
        if not want_dx:
            return dw, db
        a = gb @ wv
        bb = p @ wv if centered else p @ wv - mu * a
        bb *= iv
        k = -iv * iv * bb / m
        c = -iv * a / m if centered else -iv * a / m - k * mu
        dxb = dx2[r0:r1]
        xp.multiply(xs, k[:, None], out=dxb)  # (in place where xs is dx)
        dxb += c[:, None]
        if w is None:
            xp.multiply(gb, iv[:, None], out=p)
        else:
            _by_columns(xp.multiply, gb, wt, p)
            p *= iv[:, None]
        dxb += p
        return dw, db

    parts = _blocks(block, r, _samples_per_block(r, m * g2.itemsize), xp)
    dw = sum(part[0] for part in parts) if want_w else None
    db = sum(part[1] for part in parts) if want_b else None
    return dw, db


# ------------------------------------------------------------------ group and instance norm
# x seen as (N, G, K, L): N samples, G groups per sample, each group K channels of L values.
# Statistics are per (n, g), over (K, L); w and b per channel (g, k), broadcast along L.


def _grouped(x, groups):
    """(N, C, *spatial) -> (N, G, C/G, L), C-contiguous (a copy if ``x`` is not: every pass below
    then walks memory in order, and the views it takes are views)."""
    xp = get_array_module(x)
    return xp.ascontiguousarray(x).reshape(x.shape[0], groups, x.shape[1] // groups, _spatial(x))


def _group_forward(fn, x, weight, bias, groups):
    """Group norm (instance norm: groups = C) as y = x * scale + shift, with scale = inv_std * w
    and shift = b - mean * scale per (sample, channel): two passes over each block of samples
    after the statistics (taken as layer norm's, one row of C/G * L values per group). Returns
    y, mean, biased var; saves x, mean, inv_std, w."""
    xp = get_array_module(x)
    n, g, k = x.shape[0], groups, x.shape[1] // groups
    x4 = _grouped(x, groups)
    length = x4.shape[3]
    m = k * length
    y = memory.empty(x.shape, x.dtype, xp)  # a reused buffer (no page faults); y4 is a view of it
    y4 = y.reshape(x4.shape)
    mean, var_out, inv = (xp.empty((n, g), dtype=x.dtype) for _ in range(3))
    ones = _ones(m, x)
    w3 = None if weight is None else weight.reshape(g, k)
    b3 = None if bias is None else bias.reshape(g, k)

    def block(n0, n1):
        nb = n1 - n0
        groups_rows, chans = (nb * g, m), (nb * g * k, length)
        xr, yr = x4[n0:n1].reshape(groups_rows), y4[n0:n1].reshape(groups_rows)  # one row per group
        mu, var, iv, centered = _row_stats(xr, yr, ones, fn.eps)
        mu, iv = mu.reshape(nb, g, 1), iv.reshape(nb, g, 1)
        scale = xp.broadcast_to(iv, (nb, g, k)) if w3 is None else iv * w3
        yc = y4[n0:n1].reshape(chans)  # one row per (sample, channel)
        if centered:  # y = (x - mean) * scale + b
            yc *= scale.reshape(-1, 1)
            if b3 is not None:
                y4[n0:n1] += b3[:, :, None]
        else:  # y = x * scale + (b - mean * scale)
            shift = -mu * scale if b3 is None else b3 - mu * scale
            xp.multiply(x4[n0:n1].reshape(chans), scale.reshape(-1, 1), out=yc)
            yc += shift.reshape(-1, 1)
        mean[n0:n1], var_out[n0:n1], inv[n0:n1] = mu.reshape(nb, g), var.reshape(nb, g), iv.reshape(nb, g)
        return centered

    fn.centered = any(_blocks(block, n, _samples_per_block(n, x4[:1].nbytes), xp))
    fn.save_for_backward(x, mean, inv, weight)
    return y, mean, var_out


def _group_backward(fn, gy, groups):
    """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
    dw = sum(gy * xhat);  db = sum(gy)

    Per (sample, channel) sums q = sum(gy) (rows of L values times ones) and sum(gy * x) (an
    einsum) give p = sum(gy * xhat) = inv_std * (sum(gy * x) - mean * q), hence dw and db (summed
    over samples) and, times w and summed over a group's channels, the group's A = sum(dxhat) and
    B = sum(dxhat * xhat). Then dx = a * gy + k * x + c with a = inv_std * w per channel and
    k = -inv_std**2 * B/m, c = -inv_std * A/m - k * mean per group: four passes. With
    cancellation (``fn.centered``) x - mean replaces x, as in ``_rows_backward``."""
    x, mean, inv, weight = fn.saved_tensors
    xp = get_array_module(gy)
    n, c = x.shape[0], x.shape[1]
    g, k = groups, c // groups
    x4, gy4 = _grouped(x, groups), _grouped(gy, groups)
    length = x4.shape[3]
    m = k * length
    want_dx = fn.needs_input_grad[0]
    dx = xp.empty(x.shape, dtype=gy.dtype) if want_dx else None  # its own memory, as a .grad wants
    dx4 = None if dx is None else dx.reshape(x4.shape)
    w3 = None if weight is None else weight.reshape(g, k)
    ones = _ones(length, gy)

    def block(n0, n1):
        xb, gb = x4[n0:n1], gy4[n0:n1]
        nb = n1 - n0
        groups_rows, chans = (nb * g, m), (nb * c, length)
        mu, iv = mean[n0:n1].reshape(-1, 1), inv[n0:n1].reshape(-1, 1)
        if fn.centered:  # x - mean, parked in dx (or scratch)
            xs = dx4[n0:n1] if want_dx else _work(xb.shape, xb.dtype, xp, "norm-xc")
            xp.subtract(xb.reshape(groups_rows), mu, out=xs.reshape(groups_rows))
        else:
            xs = xb
        gc = gb.reshape(chans)
        q = (gc @ ones).reshape(nb, g, k)
        p = xp.einsum("rl,rl->r", gc, xs.reshape(chans)).reshape(nb, g, k)
        mu3, iv3 = mu.reshape(nb, g, 1), iv.reshape(nb, g, 1)
        if not fn.centered:
            p -= mu3 * q
        p *= iv3  # sum(gy * xhat) per (sample, channel)
        part = (p.sum(axis=0), q.sum(axis=0))
        if not want_dx:
            return part
        qw, pw = (q, p) if w3 is None else (q * w3, p * w3)  # sums of dxhat, dxhat * xhat
        kk = -iv3 * iv3 * pw.sum(axis=2, keepdims=True) / m
        cc = -iv3 * qw.sum(axis=2, keepdims=True) / m
        if not fn.centered:
            cc -= kk * mu3
        dxr = dx4[n0:n1].reshape(groups_rows)  # one row per group
        xp.multiply(xs.reshape(groups_rows), kk.reshape(-1, 1), out=dxr)  # (in place where xs is dx)
        dxr += cc.reshape(-1, 1)
        a = xp.broadcast_to(iv3, q.shape) if w3 is None else iv3 * w3
        dxc = dx4[n0:n1].reshape(chans)  # one row per (sample, channel)
        dxc += xp.multiply(gc, a.reshape(-1, 1), out=_work(chans, gb.dtype, xp))
        return part

    parts = _blocks(block, n, _samples_per_block(n, x4[:1].nbytes), xp)
    dw = db = None
    if fn.needs_input_grad[1] and weight is not None:
        dw = sum(p[0] for p in parts).reshape(c)
    if fn.needs_input_grad[2]:
        db = sum(p[1] for p in parts).reshape(c)
    return dx, dw, db


class GroupNormFast(GroupNorm):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics per sample over C/G channels x spatial)"""

    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias):
        return _group_forward(self, x, weight, bias, self.num_groups)[0]

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
        dw = sum(gy * xhat);  db = sum(gy)   (means over the m = C/G * spatial values of a group)"""
        return _group_backward(self, gy, self.num_groups)


class InstanceNormFast(InstanceNorm):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics per sample and channel over spatial)"""

    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias, running_mean, running_var):
        if not self.use_input_stats:
            return _fixed_stats_forward(self, x, weight, bias, running_mean, running_var)
        c, spatial = x.shape[1], _spatial(x)
        y, mean, var = _group_forward(self, x, weight, bias, c)
        if running_mean is not None and x.shape[0] > 0:
            _update_running(running_mean, self.momentum, mean.mean(axis=0))
            _update_running(running_var, self.momentum, var.mean(axis=0) * (spatial / (spatial - 1)))
        return y

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
        (inv_std * dxhat with running statistics);  dw = sum(gy * xhat);  db = sum(gy)"""
        if not self.use_input_stats:
            return _fixed_stats_backward(self, gy) + (None, None)
        return _group_backward(self, gy, gy.shape[1]) + (None, None)


class LayerNormFast(LayerNorm):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics over the trailing normalized_shape)"""

    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias):
        xp = get_array_module(x)
        y = memory.empty(x.shape, x.dtype, xp)  # a reused buffer (no page faults): y2 is a view of it
        x2, y2 = self._rows(x), self._rows(y)
        mean, _, inv, self.centered = _rows_forward(
            x2, None if weight is None else weight.reshape(-1), None if bias is None else bias.reshape(-1),
            self.eps, y2)
        self.save_for_backward(x, mean, inv, weight)
        return y

    def backward(self, gy):
        """dxhat = gy * w;  dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat));
        dw = sum(gy * xhat);  db = sum(gy)   (means along each row of m = prod(normalized_shape))"""
        x, mean, inv, weight = self.saved_tensors
        xp = get_array_module(gy)
        want_dx = self.needs_input_grad[0]
        want_w = self.needs_input_grad[1] and weight is not None
        dx = xp.empty(x.shape, dtype=gy.dtype) if want_dx else None  # its own memory, as a .grad wants
        dw, db = _rows_backward(
            self._rows(x), self._rows(gy), mean, inv, None if weight is None else weight.reshape(-1),
            self.centered, want_dx, want_w, self.needs_input_grad[2], None if dx is None else self._rows(dx))
        shape = self.normalized_shape
        return dx, None if dw is None else dw.reshape(shape), None if db is None else db.reshape(shape)
