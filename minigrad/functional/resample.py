"""Resampling: ``interpolate`` (nearest, nearest-exact, bilinear) and the detection ops
``roi_align`` / ``roi_pool`` (torchvision's semantics). The math lives in ``minigrad.ops.resample``
and ``minigrad.ops.roi``; here are the argument checks and the conventions."""
import math
import numbers

import numpy as np

from .. import backend
from ..ops.resample import Interpolate
from ..ops.roi import RoIAlign, RoIPool
from .checks import Tensor, check_same_device, expect_float, expect_ndim, expect_tensor, pair

__all__ = ["interpolate", "roi_align", "roi_pool"]

_MODES = ("nearest", "nearest-exact", "bilinear")


def _two(value, op, name, kind):
    """A number or a pair of numbers -> a tuple of two (ints when ``kind is int``)."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{op}: '{name}' must be one value or one per spatial dim (2), got {value!r}")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or (kind is int and not isinstance(v, numbers.Integral)):
            raise TypeError(f"{op}: '{name}' must be {'ints' if kind is int else 'numbers'}, got {value!r}")
        out.append(kind(v))
    return tuple(out)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    """Resize a (N, C, H, W) map to ``size`` or by ``scale_factor`` (exactly one of them).

    With ``scale_factor`` the output size is ``floor(in * scale_factor)`` and, as in PyTorch
    (``recompute_scale_factor`` unset), the source coordinate uses ``1 / scale_factor`` rather than
    ``in / out`` (they differ when ``in * scale_factor`` is not an integer).

    ``mode="nearest"``: PyTorch's rule ``src = floor(dst * in / out)`` (clamped to ``in - 1``).
    This is NOT the textbook rule ``src = round(dst * in / out)`` and not pixel-centre aligned:
    resizing the row ``[a, b]`` to 3 pixels gives ``[a, a, b]`` (dst 1 -> floor(0.67) = 0), while
    the round rule gives ``[a, b, b]`` (round(0.67) = 1). ``mode="nearest-exact"`` uses pixel centres,
    ``src = floor((dst + 0.5) * in / out)``, and gives ``[a, b, b]`` here (PyTorch's docs: it matches
    scikit-image's and PIL's nearest). For integer upscaling (2x, 3x) both modes agree.

    ``mode="bilinear"``: each output pixel is mapped to a real source point (y, x) and is the
    weighted mean of its four neighbours, each weight the product of the 1-D "closeness"
    ``1 - |distance|`` along y and along x. With ``align_corners=False`` (default) pixels are unit
    squares and their centres are matched: ``src = (dst + 0.5) * in / out - 0.5``, clamped at 0;
    with ``align_corners=True`` the corner pixels' centres are matched: ``src = dst * (in - 1) /
    (out - 1)``. Worked example: the value at (y=3.6, x=5.2) is read from rows 3, 4 and columns
    5, 6 with the fractional parts 0.6 (y) and 0.2 (x)::

        x[3,5]: (1 - 0.6) * (1 - 0.2) = 0.4 * 0.8 = 0.32
        x[4,5]:       0.6 * (1 - 0.2) = 0.6 * 0.8 = 0.48
        x[3,6]: (1 - 0.6) * 0.2       = 0.4 * 0.2 = 0.08
        x[4,6]:       0.6 * 0.2       = 0.6 * 0.2 = 0.12     (the weights sum to 1)

    so with x[3,5]=10, x[4,5]=20, x[3,6]=30, x[4,6]=40 the value is 3.2 + 9.6 + 2.4 + 4.8 = 20.0.
    (Resizing a (1, 1, 10, 14) map to (6, 6) with ``align_corners=True`` reads exactly this point
    for output (2, 2): 2 * 9/5 = 3.6 and 2 * 13/5 = 5.2.) A weight is largest for the nearest
    neighbour: it is a closeness, not a distance.

    Backward: every output's gradient goes back to the 1 or 4 input pixels it read, with the same
    weights (summed where several outputs read one pixel).
    """
    op = "interpolate"
    expect_tensor(input, op, "input")
    expect_ndim(input, 4, op, "input", "(N, C, H, W)")
    if mode not in _MODES:
        raise ValueError(f"{op}: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if mode == "bilinear":
        expect_float(input, op, "input")
        align_corners = bool(align_corners) if align_corners is not None else False
    elif align_corners is not None:
        raise ValueError(f"{op}: align_corners can only be set with mode='bilinear', got mode={mode!r}")
    if (size is None) == (scale_factor is None):
        which = "both" if size is not None else "neither"
        raise ValueError(f"{op}: give exactly one of size and scale_factor ({which} given)")
    H, W = input.shape[2:]
    if size is not None:
        out = _two(size, op, "size", int)
        scales = (None, None)
    else:
        scales = _two(scale_factor, op, "scale_factor", float)
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"{op}: scale_factor must be positive and finite, got {scale_factor!r}")
        out = (int(math.floor(H * scales[0])), int(math.floor(W * scales[1])))
    if min(out) < 1 or min(H, W) < 1:
        raise ValueError(f"{op}: input and output sizes must be > 0, got input (H={H}, W={W}), output {out}")
    return Interpolate.apply(input, size=out, scales=scales, mode=mode, align_corners=align_corners)


# ------------------------------------------------------------------ RoI ops


def _rois(input, boxes, op):
    """``boxes`` as a (K, 5) Tensor ``(batch_index, x1, y1, x2, y2)`` in ``input``'s dtype.

    Accepts that form or a list of (L_i, 4) Tensors (image i's boxes). Batch indices must be
    integers in [0, N).
    """
    if isinstance(boxes, (list, tuple)):
        parts = []
        for i, b in enumerate(boxes):
            expect_tensor(b, op, f"boxes[{i}]")
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f"{op}: each tensor in the boxes list must have shape (L, 4), got boxes[{i}] of shape {b.shape}")
            check_same_device(op, input, b)
            ids = b._xp.full((b.shape[0], 1), i, dtype=input.dtype)
            parts.append(b._xp.concatenate([ids, b.data.astype(input.dtype, copy=False)], axis=1))
        xp = input._xp
        rois = xp.concatenate(parts, axis=0) if parts else xp.zeros((0, 5), input.dtype)
    elif isinstance(boxes, Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(
                f"{op}: boxes must be a (K, 5) tensor of (batch_index, x1, y1, x2, y2) or a list of (L, 4) "
                f"tensors, got a tensor of shape {boxes.shape}"
            )
        check_same_device(op, input, boxes)
        rois = boxes.data.astype(input.dtype, copy=False)
    else:
        raise TypeError(f"{op}: boxes must be a Tensor (K, 5) or a list of (L, 4) Tensors, got {type(boxes).__name__}")
    ids = backend.to_numpy(rois[:, 0])
    N = input.shape[0]
    bad = (ids != np.floor(ids)) | (ids < 0) | (ids >= N) | ~np.isfinite(ids)
    if bad.any():
        raise ValueError(
            f"{op}: batch index {float(ids[bad][0]):g} in boxes is out of range: expected an integer in [0, {N}) "
            f"for an input batch of {N} images"
        )
    return Tensor(rois)


def _check_roi_args(input, output_size, spatial_scale, op):
    expect_tensor(input, op, "input")
    expect_ndim(input, 4, op, "input", "(N, C, H, W)")
    expect_float(input, op, "input")
    output_size = pair(output_size, op, "output_size", minimum=1)
    if not isinstance(spatial_scale, numbers.Real) or not spatial_scale > 0:
        raise ValueError(f"{op}: spatial_scale must be a positive number, got {spatial_scale!r}")
    return output_size


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):  # noqa: A002
    """RoI Align (Mask R-CNN), as ``torchvision.ops.roi_align``: (N, C, H, W) -> (K, C, h, w).

    For each box (image coordinates; ``spatial_scale`` maps them to the feature map, e.g. 1/16):
    scale the corners (and shift them by -0.5 when ``aligned=True``, so that a box edge at pixel
    boundary 0 maps to continuous coordinate -0.5, the edge of pixel 0); with ``aligned=False`` the
    box is at least 1 x 1. Cut it into h x w bins of size (box / output_size), NOT rounded; in each
    bin take ``sampling_ratio`` x ``sampling_ratio`` regularly spaced points (``<= 0``: adaptive,
    ``ceil(box_size / output_size)`` per side), read each with bilinear interpolation (0 for a
    point outside [-1, H] x [-1, W], clamped to the border inside) and average them. No coordinate
    is ever rounded: this is what removes RoI Pool's quantization error.

    ``boxes``: a (K, 5) Tensor of ``(batch_index, x1, y1, x2, y2)`` or a list of (L_i, 4) Tensors,
    one per image. Only ``input`` gets a gradient: each bin's gradient is spread over the 4
    neighbours of each of its sample points with the bilinear weights (divided by the sample count).
    """
    op = "roi_align"
    ph, pw = _check_roi_args(input, output_size, spatial_scale, op)
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
        raise TypeError(f"{op}: sampling_ratio must be an int, got {sampling_ratio!r}")
    rois = _rois(input, boxes, op)
    return RoIAlign.apply(input, rois, output_size=(ph, pw), spatial_scale=float(spatial_scale),
                          sampling_ratio=int(sampling_ratio), aligned=bool(aligned))


def roi_pool(input, boxes, output_size, spatial_scale=1.0):  # noqa: A002
    """RoI Pool (Fast R-CNN), as ``torchvision.ops.roi_pool``: (N, C, H, W) -> (K, C, h, w).

    Quantized twice: the scaled box corners are rounded to whole pixels (the box then spans
    ``x2 - x1 + 1`` pixels, at least 1), and bin ``i`` of ``n`` covers pixels
    ``[floor(i * size / n), ceil((i + 1) * size / n))`` of the box, clipped to the map. Each bin is
    the max over its pixels (0 for an empty bin). Backward: each bin's gradient goes to its argmax.
    """
    op = "roi_pool"
    ph, pw = _check_roi_args(input, output_size, spatial_scale, op)
    rois = _rois(input, boxes, op)
    return RoIPool.apply(input, rois, output_size=(ph, pw), spatial_scale=float(spatial_scale))
