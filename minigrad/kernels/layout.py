"""Memory layouts of NCHW-shaped arrays: channels-last helpers, padding, window views.

The heavy ops of minigrad keep NCHW *shapes* (PyTorch's semantics) but store 4-D activations
*channels-last*: ``(N, H, W, C)`` memory seen through a ``transpose(0, 3, 1, 2)`` view. Elementwise
NumPy ops keep the memory order of their inputs (``order='K'``), so a whole network stays in one
layout and no pass walks two arrays stored in different orders.
"""

import numpy as np

from ..backend import get_array_module
from . import memory
from .threads import each_block

__all__ = ["is_channels_last", "nhwc", "copy_to_channels_last", "pad_nhwc", "windows", "empty_like_layout"]


def is_channels_last(a):
    """True when the NCHW-shaped ``a`` is stored (N, H, W, C) (and is not also NCHW-contiguous)."""
    return a.ndim == 4 and not a.flags.c_contiguous and a.transpose(0, 2, 3, 1).flags.c_contiguous


def nhwc(a):
    """An NCHW-shaped array as a C-contiguous channels-last array (no copy when it already is)."""
    xp = get_array_module(a)
    t = a.transpose(0, 2, 3, 1)
    if t.flags.c_contiguous:
        return t
    out = memory.empty(t.shape, a.dtype, xp)
    copy_to_channels_last(out, a)
    return out


def copy_to_channels_last(dst, src):
    """``dst[...] = src.transpose(0, 2, 3, 1)``: NCHW-shaped ``src`` into (N, H, W, C)-shaped ``dst``
    (e.g. the inside of a padded buffer), one block of images per pool thread.

    Reading ``src`` across its channels jumps by a channel's size; when that is a multiple of
    4 KiB (32x32 float32 planes) every read of a pixel's C values falls into the same cache set and
    the plain copy runs ~3x slower. Then each image goes through a scratch copy whose channel rows
    are padded by 64 bytes, which breaks the aliasing."""
    xp = get_array_module(src)
    N, C, H, W = src.shape
    aliased = xp is np and src.strides[1] % 4096 == 0 and C >= 8 and H * W >= 16
    row = H * W + 64 // src.itemsize

    def images(i):
        if not aliased:
            dst[i] = src[i].transpose(0, 2, 3, 1)
            return
        tmp = memory.scratch((C, row), src.dtype, xp, slot="nhwc")[:, :H * W].reshape(C, H, W)
        for n in range(N)[i] if isinstance(i, slice) else range(N):
            tmp[...] = src[n]
            dst[n] = tmp.transpose(1, 2, 0)

    each_block(images, dst)


def pad_nhwc(a, top, bottom, left, right, value=0):
    """NCHW-shaped ``a`` -> channels-last ``(N, H+top+bottom, W+left+right, C)`` padded with ``value``.
    A negative amount crops instead."""
    xp = get_array_module(a)
    N, C, H, W = a.shape
    src = a[:, :, max(-top, 0): H - max(-bottom, 0), max(-left, 0): W - max(-right, 0)]
    top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    if not (top or bottom or left or right):
        return nhwc(src)
    h, w = src.shape[2], src.shape[3]
    out = memory.empty((N, top + h + bottom, left + w + right, C), a.dtype, xp)
    out[:, :top] = value  # fill only the border
    out[:, top + h:] = value
    out[:, top:top + h, :left] = value
    out[:, top:top + h, left + w:] = value
    copy_to_channels_last(out[:, top:top + h, left:left + w], src)
    return out


def windows(a, kh, kw, stride, dilation, oh, ow, groups):
    """Channels-last padded ``a`` (N, Hp, Wp, C) -> the view ``(N, oh, ow, groups, kh, kw, C/groups)``
    with ``view[n, p, q, g, i, j, c] = a[n, p*sh + i*dh, q*sw + j*dw, g*C/groups + c]`` (no copy)."""
    xp = get_array_module(a)
    N, _, _, C = a.shape
    sN, sH, sW, sC = a.strides
    (sh, sw), (dh, dw) = stride, dilation
    cg = C // groups
    return xp.lib.stride_tricks.as_strided(
        a, (N, oh, ow, groups, kh, kw, cg), (sN, sH * sh, sW * sw, sC * cg, sH * dh, sW * dw, sC)
    )


def empty_like_layout(x, shape):
    """An uninitialised NCHW-shaped array of ``shape`` with the memory order of ``x`` (from the
    buffer cache)."""
    xp = get_array_module(x)
    if is_channels_last(x):
        N, C, H, W = shape
        return memory.empty((N, H, W, C), x.dtype, xp).transpose(0, 3, 1, 2)
    return memory.empty(shape, x.dtype, xp)
