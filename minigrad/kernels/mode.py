"""Which kernels the heavy ops run: the fast ones (default) or the reference ones.

Every heavy op (normalization, attention, embedding, ...) has a reference ``Function`` whose
backward reads step by step like its derivation, and a fast ``Function`` beside it that computes
the same numbers with fewer passes, threads and scratch buffers. ``minigrad.functional`` asks
``use_reference()`` on each call:

    with minigrad.kernels.reference_kernels():
        y = F.layer_norm(x, 256)          # the readable reference op, e.g. to step through it

Tests run both paths against the same naive formula. The switch is per thread (a study running
the reference in one thread does not slow down training in another).
"""
import contextlib
import threading


class _Mode(threading.local):
    reference = False


_mode = _Mode()


def use_reference():
    """True while ``reference_kernels()`` is active in this thread."""
    return _mode.reference


@contextlib.contextmanager
def reference_kernels(enabled=True):
    """Context manager: inside it, ops dispatch to their reference Functions (``enabled=False``
    forces the fast ones, e.g. inside an outer ``reference_kernels()``)."""
    prev = _mode.reference
    _mode.reference = bool(enabled)
    try:
        yield
    finally:
        _mode.reference = prev
