"""Basic layers: ``Identity`` and ``Flatten``."""
from ..module import Module

__all__ = ["Identity", "Flatten"]


class Identity(Module):
    """y = x (a placeholder that ignores its constructor arguments, as in PyTorch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return input


class Flatten(Module):
    """y = x.flatten(start_dim, end_dim): by default keeps the batch dimension."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
