"""Resampling layers: ``Upsample`` (as ``torch.nn.Upsample``) and the detection heads' ``RoIAlign`` /
``RoIPool`` (as ``torchvision.ops.RoIAlign`` / ``RoIPool``). They hold no parameters: each is
``minigrad.functional`` with its settings stored (see ``F.interpolate``, ``F.roi_align``, ``F.roi_pool``)."""
from minigrad import functional as F

from ..module import Module

__all__ = ["Upsample", "RoIAlign", "RoIPool"]


class Upsample(Module):
    """Resize (N, C, H, W) inputs to ``size`` or by ``scale_factor``: ``F.interpolate`` as a layer."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        self.size = tuple(size) if isinstance(size, (list, tuple)) else size
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class RoIAlign(Module):
    """``F.roi_align`` as a layer: ``forward(input, rois)`` with rois a (K, 5) Tensor or a list of (L, 4)."""

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):  # noqa: A002
        return F.roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio, self.aligned)

    def extra_repr(self):
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}")


class RoIPool(Module):
    """``F.roi_pool`` as a layer: ``forward(input, rois)`` with rois a (K, 5) Tensor or a list of (L, 4)."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):  # noqa: A002
        return F.roi_pool(input, rois, self.output_size, self.spatial_scale)

    def extra_repr(self):
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"
