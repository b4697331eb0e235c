"""The one buffer allocator: big host arrays are reused instead of asked afresh from the OS.

A fresh 75 MB NumPy array costs as much in page faults (one per 4 KiB on first touch) as the copy
that fills it, so the heavy ops take their big arrays from here. Two kinds of request:

- ``empty(shape, dtype, xp)`` / ``zeros(...)``: an array that may leave the op (an output, an
  array saved for backward). It comes from a cache of flat buffers; a buffer is handed out again
  only when nothing else references it (its reference count says only the cache holds it: a view
  of a NumPy array keeps a reference to its base), so live data is never overwritten.
- ``scratch(shape, dtype, xp, slot)``: a work array for a temporary that never leaves the caller
  (used and dropped before the caller returns). One buffer per (thread, slot), grown as needed;
  two temporaries alive at once take different slots.

Small arrays and CuPy arrays (CuPy has its own memory pool) are allocated normally.
"""
import sys
import threading

import numpy as np

from .threads import each_block

__all__ = ["BufferCache", "buffers", "empty", "zeros", "owns", "scratch", "clear"]


class BufferCache:
    """Reuse big host arrays; see the module docstring. ``limit_bytes`` caps what the cache keeps."""

    min_bytes = 1 << 20

    def __init__(self, limit_bytes=1 << 30):
        self.limit = limit_bytes
        self.buffers = []  # flat uint8 arrays, least recently used first
        self.lock = threading.Lock()
        probe = [np.empty(1)]
        self._free_refs = sys.getrefcount(probe[0])  # refs of a buffer only the list holds

    def empty(self, shape, dtype, xp=np):
        dtype = np.dtype(dtype)
        n = dtype.itemsize
        for s in shape:
            n *= s
        if xp is not np or n < self.min_bytes:
            return xp.empty(shape, dtype)
        with self.lock:
            return self._take(n).view(dtype).reshape(shape)

    def _take(self, n):
        bufs, free = self.buffers, self._free_refs
        for k in range(len(bufs)):
            if bufs[k].nbytes == n and sys.getrefcount(bufs[k]) == free:
                bufs.append(bufs.pop(k))  # most recently used last
                return bufs[-1]
        total = sum(b.nbytes for b in bufs)
        k = 0
        while total + n > self.limit and k < len(bufs):  # drop free buffers, least recently used first
            if sys.getrefcount(bufs[k]) == free:
                total -= bufs.pop(k).nbytes
            else:
                k += 1
        buf = np.empty(n, np.uint8)
        if total + n <= self.limit:
            bufs.append(buf)
        return buf

    def owns(self, root):
        """True when ``root`` (an array's memory root, ``.base`` followed to the end) is one of the
        cache's buffers: an array handed out by ``empty`` and still referenced is never handed out
        again, so it may be kept (e.g. as a ``.grad``) like a fresh array."""
        with self.lock:
            return any(b is root for b in self.buffers)

    def zeros(self, shape, dtype, xp=np):
        out = self.empty(shape, dtype, xp)
        if out.ndim and type(out) is np.ndarray:
            each_block(lambda i: out[i].fill(0), out)  # a big fill split over the pool
        else:
            out.fill(0)
        return out

    def clear(self):
        with self.lock:
            self.buffers = []


buffers = BufferCache()
empty = buffers.empty
zeros = buffers.zeros
owns = buffers.owns

_work = threading.local()


def scratch(shape, dtype, xp=np, slot=0):
    """A work array for a temporary that never leaves the caller: one buffer per (thread, slot,
    dtype), reused and grown as needed. Its contents are undefined."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    size = 1
    for s in shape:
        size *= s
    dtype = np.dtype(dtype)
    table = getattr(_work, "table", None)
    if table is None:
        table = _work.table = {}
    buf = table.get((slot, dtype))
    if buf is None or buf.size < size:
        buf = table[(slot, dtype)] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def clear():
    """Release the cached buffers (this thread's scratch too)."""
    buffers.clear()
    _work.table = {}
