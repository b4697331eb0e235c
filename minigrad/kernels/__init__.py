"""Speed machinery below the math: the buffer allocator, GEMM helpers, layouts, Winograd.

Kernels import only ``minigrad.backend``; ops import kernels. A heavy op (conv2d, conv_transpose2d,
pooling) has two ``Function`` classes: a *reference* one whose forward and backward read line by line
like the formulas in its docstrings, and a *fast* one built on these kernels. ``F`` picks the fast
one unless reference kernels are requested::

    with minigrad.kernels.reference():     # every op in this block runs its reference Function
        y = F.conv2d(x, w)

Tests run both against the same naive loops and gradchecks; studies can time one against the other.

    memory.py    the one buffer allocator (cached big arrays, per-thread scratch)
    gemm.py      product orientation, blocking of big lowered products
    layout.py    channels-last helpers, padding, window views
    winograd.py  F(2x2, 3x3) transforms and the batched product
"""
import threading

from . import gemm, layout, memory  # noqa: F401

__all__ = ["reference", "use_reference", "clear_buffer_cache"]


class _Mode(threading.local):
    def __init__(self):
        self.reference = False


_mode = _Mode()


def use_reference():
    """Whether ops should run their reference Functions now (see ``reference``)."""
    return _mode.reference


class reference:
    """Context manager: inside it, heavy ops run their reference Functions (``enabled=False``
    forces the fast ones). Per thread; nests."""

    def __init__(self, enabled=True):
        self.enabled = enabled

    def __enter__(self):
        self._prev = _mode.reference
        _mode.reference = self.enabled
        return self

    def __exit__(self, *exc):
        _mode.reference = self._prev
        return False


def clear_buffer_cache():
    """Release the big scratch arrays the kernels keep between calls."""
    memory.clear()
