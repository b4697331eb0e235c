"""Speed machinery below the math: what the heavy ops share to run fast, kept out of their formulas.

Kernels import only ``minigrad.backend``; ops import kernels. A heavy op (conv2d, conv_transpose2d,
the normalisations, attention, embedding) has two ``Function`` classes: a *reference* one whose
forward and backward read line by line like the formulas in its docstrings, and a *fast* one built
on these kernels. ``minigrad.functional`` picks the fast one unless reference kernels are requested::

    with minigrad.kernels.reference_kernels():   # every op in this block runs its reference Function
        y = F.conv2d(x, w)

Tests run both against the same naive loops and gradchecks; studies can time one against the other.

    mode.py      reference or fast kernels (``use_reference()``, ``reference_kernels()``)
    memory.py    the one buffer allocator (cached big arrays, per-thread scratch)
    gemm.py      product orientation; big lowered products cut into blocks, pipelined on the pool
    layout.py    channels-last helpers, padding, window views
    im2col.py    the fast convolution's plan and its three lowered products
    winograd.py  F(2x2, 3x3) transforms and the batched product
    threads.py   one small thread pool for splitting big passes; the BLAS thread policy
    passes.py    big elementwise passes (ReLU, its gradient, add) split over the pool
"""
from . import gemm, layout, memory  # noqa: F401
from .mode import reference_kernels, use_reference  # noqa: F401

__all__ = ["reference_kernels", "use_reference", "clear_buffer_cache"]


def clear_buffer_cache():
    """Release the big scratch arrays the kernels keep between calls."""
    memory.clear()
