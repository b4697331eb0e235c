"""Normalization: batch, group, instance and layer norm, each one op with a fused backward.

All four normalise groups of m values with the group's mean and BIASED variance,
    xhat = (x - mean) * inv_std,        inv_std = 1 / sqrt(var + eps),
then scale and shift per feature: y = xhat * w + b. They differ only in what a group is:
    batch norm     one channel over (N, *spatial)         w, b per channel
    group norm     C/G channels x spatial, per sample     w, b per channel
    instance norm  one channel over spatial, per sample   w, b per channel
    layer norm     the trailing normalized_shape          w, b per element of normalized_shape

Backward. Write dxhat = gy * w. x reaches xhat directly and through mean and inv_std, which
depend on every x of its group; differentiating the three paths and collecting terms gives, per
group of m values,
    dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat))
and dw = sum(gy * xhat), db = sum(gy) over every axis that w and b are broadcast along.

Speed (NumPy runs each pass over a big array on one core, so the number of passes is the cost):
- per-group sums are ``einsum``s, which multiply and add in one pass without a temporary;
- the variance is taken in one pass as mean(x*x) - mean**2, which is exact enough unless
  mean**2 is many times var (then digits cancel): such groups get the two-pass variance
  mean((x - mean)**2) instead, and the backward sums use (x - mean) too;
- y = x * scale + shift with per-group scale and shift, written with ``out=`` into the result;
- only the input x (no copy) and the per-group mean and inv_std are saved for backward;
- every per-group vector is cast to the input's dtype before it touches a big array, so float32
  stays float32.
"""
import threading

import numpy as np

from ..autograd import Function
from ..backend import get_array_module

# mean**2 > _CANCEL * var: the one-pass variance would lose more than ~1.2 of float32's 7 digits
_CANCEL = 16.0


# ------------------------------------------------------------------ per-group sums


def _row_sum(a2):
    """(R, D) -> (R,): the sum of each row."""
    return get_array_module(a2).einsum("rd->r", a2)


def _row_dot(a2, b2):
    """(R, D), (R, D) -> (R,): sum(a * b) of each row, without an (R, D) temporary."""
    return get_array_module(a2).einsum("rd,rd->r", a2, b2)


def _channel_sum(a3):
    """(N, C, L) -> (C,): the sum over samples and positions of each channel."""
    return get_array_module(a3).einsum("ncl->c", a3)


def _channel_dot(a3, b3):
    """(N, C, L), (N, C, L) -> (C,): sum(a * b) of each channel, without a temporary."""
    return get_array_module(a3).einsum("ncl,ncl->c", a3, b3)


def _inv_std(var, eps):
    xp = get_array_module(var)
    return 1.0 / xp.sqrt(var + eps)  # Python floats keep var's dtype


def _cancels(mean, var):
    """True when some group's one-pass variance is unreliable (see ``_CANCEL``)."""
    xp = get_array_module(mean)
    return bool(xp.any(mean * mean > _CANCEL * var))


def _copy_as(v, dtype):
    """A copy of a small per-channel vector (a buffer may change in place before backward) in the
    dtype of the big arrays it will touch."""
    return v.astype(dtype, copy=True)


_work = threading.local()


def _scratch(shape, dtype, xp):
    """A work array for a temporary that never leaves the op (NumPy: one buffer reused per thread).
    A fresh array of this size would cost a page fault per 4 KiB on first touch, about as much
    as the arithmetic done in it."""
    size = 1
    for s in shape:
        size *= s
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    buf = getattr(_work, "buf", None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = _work.buf = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


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


def _channels_view(a):
    """(N, C, *spatial) -> an (N, C, L) view (a copy only if ``a`` is not contiguous)."""
    return a.reshape(a.shape[0], a.shape[1], -1)


# ------------------------------------------------------------------ affine with fixed statistics
# BatchNorm in eval mode and InstanceNorm with use_input_stats=False: every channel uses the given
# running mean and variance, so the op is the elementwise affine map y = x * scale + shift.


def _fixed_stats_forward(fn, x, weight, bias, running_mean, running_var):
    xp = get_array_module(x)
    inv_std = _copy_as(_inv_std(running_var, fn.eps), x.dtype)
    mean = _copy_as(running_mean, x.dtype)
    scale = inv_std if weight is None else inv_std * weight
    shift = -mean * scale if bias is None else bias - mean * scale
    y = _empty_channels_like(x)
    y3 = _channels_view(y)
    xp.multiply(_channels_view(x), scale[:, None], out=y3)
    y3 += shift[:, None]
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
    if fn.needs_input_grad[1]:
        xc = xp.subtract(_channels_view(x), mean[:, None])
        dw = _channel_dot(gy3, xc) * inv_std
    if fn.needs_input_grad[2]:
        db = _channel_sum(gy3)
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

    def forward(self, x, weight, bias, running_mean, running_var):
        if not self.training:
            return _fixed_stats_forward(self, x, weight, bias, running_mean, running_var)
        xp = get_array_module(x)
        x3 = _channels_view(x)
        m = x3.shape[0] * x3.shape[2]
        y = _empty_channels_like(x)
        y3 = _channels_view(y)
        mean = _channel_sum(x3) / m
        var = _channel_dot(x3, x3) / m - mean * mean
        self.centered = _cancels(mean, var)
        if self.centered:  # two-pass variance, x - mean parked in y
            xp.subtract(x3, mean[:, None], out=y3)
            var = _channel_dot(y3, y3) / m
        inv_std = _inv_std(var, self.eps)
        scale = inv_std if weight is None else inv_std * weight
        if self.centered:
            y3 *= scale[:, None]
            if bias is not None:
                y3 += bias[:, None]
        else:  # y = x * scale + (b - mean * scale)
            xp.multiply(x3, scale[:, None], out=y3)
            y3 += (-mean * scale if bias is None else bias - mean * scale)[:, None]
        if running_mean is not None:
            mom = self.momentum
            running_mean *= 1 - mom
            running_mean += mom * mean
            running_var *= 1 - mom
            running_var += (mom * m / (m - 1)) * var  # the unbiased batch variance
        self.save_for_backward(x, mean, inv_std, weight)
        return y

    def backward(self, gy):
        """dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)),  dxhat = gy * w;
        dw = sum(gy * xhat);  db = sum(gy)"""
        if not self.training:
            return _fixed_stats_backward(self, gy) + (None, None)
        x, mean, inv_std, weight = self.saved_tensors
        xp = get_array_module(gy)
        x3, gy3 = _channels_view(x), _channels_view(gy)
        m = x3.shape[0] * x3.shape[2]
        want_dx = self.needs_input_grad[0]
        dx = _empty_channels_like(gy) if want_dx or self.centered else None
        dx3 = None if dx is None else _channels_view(dx)
        sum_gy = _channel_sum(gy3)
        if self.centered:  # sum(gy * (x - mean)) with x - mean parked in dx
            xp.subtract(x3, mean[:, None], out=dx3)
            sum_gy_xc = _channel_dot(gy3, dx3)
        else:
            sum_gy_xc = _channel_dot(gy3, x3) - mean * sum_gy
        sum_gy_xhat = sum_gy_xc * inv_std
        dw = sum_gy_xhat if self.needs_input_grad[1] else None
        db = sum_gy if self.needs_input_grad[2] else None
        if not want_dx:
            return None, dw, db, None, None
        # One channel is one group, so w factors out of the formula above:
        #   dx = w*inv_std * (gy - sum(gy)/m - xhat*sum(gy*xhat)/m)
        #      = a * (gy - c - k*(x - mean)),   a = w*inv_std,  c = sum(gy)/m,  k = inv_std*sum(gy*xhat)/m
        a = inv_std if weight is None else inv_std * weight
        k = inv_std * sum_gy_xhat / m
        c = sum_gy / m
        if self.centered:
            dx3 *= -k[:, None]
            dx3 -= c[:, None]
        else:  # -k*(x - mean) - c = -k*x + (k*mean - c)
            xp.multiply(x3, -k[:, None], out=dx3)
            dx3 += (k * mean - c)[:, None]
        dx3 += gy3
        dx3 *= a[:, None]
        return dx, dw, db, None, None


# ------------------------------------------------------------------ group and instance norm
# One row per (sample, group): (N*G, C/G * spatial) for group norm, (N*C, spatial) for instance
# norm; w and b act on the (N, C, spatial) view.


def _row_stats(x2, out):
    """(R, D) rows -> mean and biased var of each row, and whether the two-pass variance was
    needed (see _CANCEL); if it was, ``out`` holds x - mean."""
    xp = get_array_module(x2)
    d = x2.shape[1]
    mean = _row_sum(x2) / d
    var = _row_dot(x2, x2) / d - mean * mean
    if not _cancels(mean, var):
        return mean, var, False
    xp.subtract(x2, mean[:, None], out=out)
    return mean, _row_dot(out, out) / d, True


def _per_channel(v, n, c):
    """A per-(sample, group) vector -> (N, C): each group's value repeated for its channels."""
    xp = get_array_module(v)
    v = v.reshape(n, -1)
    reps = c // v.shape[1]
    return xp.repeat(v, reps, axis=1) if reps > 1 else v


def _group_forward(fn, x, weight, bias, groups):
    """Group norm with ``groups`` groups (instance norm: groups = C); returns y, mean, biased var."""
    xp = get_array_module(x)
    n, c = x.shape[0], x.shape[1]
    y = xp.empty(x.shape, dtype=x.dtype)
    y3 = _channels_view(y)
    mean, var, fn.centered = _row_stats(x.reshape(n * groups, -1), y.reshape(n * groups, -1))
    inv_std = _inv_std(var, fn.eps)
    # scale[n, c] = inv_std of c's group * w[c], so that one pass applies both
    scale = _per_channel(inv_std, n, c)
    if weight is not None:
        scale = scale * weight
    if fn.centered:  # y holds x - mean
        y3 *= scale[:, :, None]
        if bias is not None:
            y3 += bias[:, None]
    else:  # y = x * scale + (b - mean * scale)
        shift = _per_channel(mean, n, c) * scale
        shift = -shift if bias is None else bias - shift
        xp.multiply(_channels_view(x), scale[:, :, None], out=y3)
        y3 += shift[:, :, None]
    fn.save_for_backward(x, mean, inv_std, weight)
    return y, mean, var


def _group_backward(fn, gy):
    """dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)),  dxhat = gy * w,
    sums over the m values of a group;  dw = sum(gy * xhat);  db = sum(gy)"""
    x, mean, inv_std, weight = fn.saved_tensors
    xp = get_array_module(gy)
    n, c = gy.shape[0], gy.shape[1]
    x3, gy3 = _channels_view(x), _channels_view(gy)
    groups = len(mean) // n
    m = x.size // (n * groups)
    mean_nc, inv_nc = _per_channel(mean, n, c), _per_channel(inv_std, n, c)
    # per (sample, channel): sum(gy) and sum(gy * xhat); dw and db add them over samples
    dx = xp.empty(gy.shape, dtype=gy.dtype) if fn.needs_input_grad[0] or fn.centered else None
    dx3 = None if dx is None else _channels_view(dx)
    q = xp.einsum("ncl->nc", gy3)
    if fn.centered:  # x - mean, parked in dx
        xp.subtract(x3, mean_nc[:, :, None], out=dx3)
        p = xp.einsum("ncl,ncl->nc", gy3, dx3)
    else:
        p = xp.einsum("ncl,ncl->nc", gy3, x3) - mean_nc * q
    p *= inv_nc
    dw = p.sum(axis=0) if fn.needs_input_grad[1] else None
    db = q.sum(axis=0) if fn.needs_input_grad[2] else None
    if not fn.needs_input_grad[0]:
        return None, dw, db
    if weight is not None:  # sums of dxhat = gy * w, w per channel
        p *= weight
        q *= weight
    sum_dxhat = _per_channel(q.reshape(n * groups, -1).sum(axis=1), n, c)
    sum_dxhat_xhat = _per_channel(p.reshape(n * groups, -1).sum(axis=1), n, c)
    # dx = a*gy + k*(x - mean) + s  with  a = inv_std*w,  k = -inv_std**2 * sum(dxhat*xhat)/m,
    #                                     s = -inv_std*sum(dxhat)/m     (per sample and channel)
    a = inv_nc if weight is None else inv_nc * weight
    k = -inv_nc * inv_nc * sum_dxhat_xhat / m
    s = -inv_nc * sum_dxhat / m
    if fn.centered:
        dx3 *= k[:, :, None]
    else:  # k*(x - mean) + s = k*x + (s - k*mean)
        xp.multiply(x3, k[:, :, None], out=dx3)
        s -= k * mean_nc
    dx3 += s[:, :, None]
    dx3 += xp.multiply(gy3, a[:, :, None], out=_scratch(gy3.shape, gy.dtype, xp))
    return dx, dw, db


class GroupNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics per sample over C/G channels x spatial)"""
    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias):
        return _group_forward(self, x, weight, bias, self.num_groups)[0]

    def backward(self, gy):
        """dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)),  dxhat = gy * w;
        dw = sum(gy * xhat);  db = sum(gy)   (m = C/G * spatial values per group)"""
        return _group_backward(self, gy)


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
        if not self.use_input_stats:
            return _fixed_stats_forward(self, x, weight, bias, running_mean, running_var)
        n, c = x.shape[0], x.shape[1]
        y, mean, var = _group_forward(self, x, weight, bias, c)
        if running_mean is not None:
            mom = self.momentum
            spatial = x.size // (n * c)
            running_mean *= 1 - mom
            running_mean += mom * mean.reshape(n, c).mean(axis=0)
            running_var *= 1 - mom
            running_var += (mom * spatial / (spatial - 1)) * var.reshape(n, c).mean(axis=0)
        return y

    def backward(self, gy):
        """dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)),  dxhat = gy * w;
        dw = sum(gy * xhat);  db = sum(gy)   (m = spatial values per sample and channel)"""
        if not self.use_input_stats:
            return _fixed_stats_backward(self, gy) + (None, None)
        return _group_backward(self, gy) + (None, None)


# ------------------------------------------------------------------ layer norm


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b   (statistics over the trailing normalized_shape)"""
    saved_names = ("x", "mean", "inv_std", "weight")

    def forward(self, x, weight, bias):
        xp = get_array_module(x)
        d = 1
        for s in self.normalized_shape:
            d *= s
        x2 = x.reshape(-1, d)  # one row per group
        y = xp.empty(x.shape, dtype=x.dtype)
        y2 = y.reshape(x2.shape)
        mean, var, centered = _row_stats(x2, y2)
        inv_std = _inv_std(var, self.eps)
        if not centered:
            xp.subtract(x2, mean[:, None], out=y2)
        y2 *= inv_std[:, None]
        if weight is not None:
            y2 *= weight.reshape(-1)
        if bias is not None:
            y2 += bias.reshape(-1)
        self.save_for_backward(x, mean, inv_std, weight)
        return y

    def backward(self, gy):
        """dx = (1/m) * inv_std * (m*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat)),  dxhat = gy * w;
        dw = sum(gy * xhat);  db = sum(gy)   (dx's sums along each row of m = prod(normalized_shape))"""
        x, mean, inv_std, weight = self.saved_tensors
        xp = get_array_module(gy)
        m = x.size // len(mean)
        gy2 = gy.reshape(-1, m)
        dx = xp.empty(gy.shape, dtype=gy.dtype)
        xhat = dx.reshape(gy2.shape)  # xhat is built in dx's buffer, then turned into dx
        xp.subtract(x.reshape(gy2.shape), mean[:, None], out=xhat)
        xhat *= inv_std[:, None]
        shape = self.normalized_shape
        dw = xp.einsum("rd,rd->d", gy2, xhat).reshape(shape) if self.needs_input_grad[1] else None
        db = xp.einsum("rd->d", gy2).reshape(shape) if self.needs_input_grad[2] else None
        if not self.needs_input_grad[0]:
            return None, dw, db
        dxhat = gy2
        if weight is not None:
            dxhat = xp.multiply(gy2, weight.reshape(-1), out=_scratch(gy2.shape, gy.dtype, xp))
        sum_dxhat = _row_sum(dxhat)
        sum_dxhat_xhat = _row_dot(dxhat, xhat)
        # dx = inv_std * (dxhat - sum(dxhat)/m - xhat * sum(dxhat*xhat)/m)
        xhat *= (-sum_dxhat_xhat / m)[:, None]
        xhat -= (sum_dxhat / m)[:, None]
        xhat += dxhat
        xhat *= inv_std[:, None]
        return dx, dw, db
