"""Array backends: NumPy for ``"cpu"``, CuPy for ``"cuda"`` / ``"cuda:N"``.

This is the only module that knows about CuPy. Every op gets its array module with
``xp = get_array_module(array)`` and writes its math once against ``xp``; what differs between
NumPy and CuPy (scatter-add, host copies, random numbers, the default device) is a function here.

Test runs without a GPU set ``MINIGRAD_SIMULATED_CUDA=1`` (``make test-device``): the ``"cuda"``
device is then ``minigrad.testing.fake_cupy``, NumPy underneath with CuPy's rules on top (no
implicit host copies, no host arrays in device expressions). The variable is read once, here.
"""
import os

import numpy as np

SIMULATED = os.environ.get("MINIGRAD_SIMULATED_CUDA", "") not in ("", "0")

if SIMULATED:
    from .testing.fake_cupy import cupy as _cupy, cupyx as _cupyx

    _CUDA_DEVICES = _cupy.cuda.runtime.getDeviceCount()
else:
    try:  # CuPy is optional: present only with the `cuda` extra and a CUDA device.
        import cupy as _cupy
        import cupyx as _cupyx

        try:
            _CUDA_DEVICES = _cupy.cuda.runtime.getDeviceCount()
        except Exception:  # driver missing or no device
            _CUDA_DEVICES = 0
    except ImportError:
        _cupy = None
        _cupyx = None
        _CUDA_DEVICES = 0


def cuda_available():
    return _cupy is not None and _CUDA_DEVICES > 0


def cuda_device_count():
    return _CUDA_DEVICES if _cupy is not None else 0


def get_array_module(*arrays):
    """Return ``numpy`` or ``cupy``: the module that owns the given arrays."""
    if _cupy is not None:
        for a in arrays:
            if isinstance(a, _cupy.ndarray):
                return _cupy
    return np


def is_array(obj):
    return isinstance(obj, np.ndarray) or (_cupy is not None and isinstance(obj, _cupy.ndarray))


def device_of(array):
    """Device string of an array: ``"cpu"`` or ``"cuda:N"``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return f"cuda:{array.device.id}"
    return "cpu"


_default_device = "cpu"


def set_default_device(device):
    """Device of new tensors made without ``device=`` from host data (like ``torch.set_default_device``;
    the test suite uses it to run every test on each device)."""
    global _default_device
    _default_device = parse_device(device if device is not None else "cpu")


def default_device():
    return _default_device


def parse_device(device):
    """Normalise a device spec (``None``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``) to ``"cpu"`` or ``"cuda:N"``.
    ``None`` is the default device (``"cpu"`` unless ``set_default_device`` changed it)."""
    if device is None:
        return _default_device
    device = str(device)
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        index = 0 if device == "cuda" else device[5:]
        try:
            index = int(index)
        except ValueError:
            raise ValueError(f"invalid device string {device!r}: expected 'cpu', 'cuda' or 'cuda:N'") from None
        if not cuda_available():
            raise RuntimeError(
                f"device {device!r} requested but CUDA is not available "
                "(install CuPy with `pip install minigrad[cuda]` on a machine with an NVIDIA GPU)"
            )
        if index >= _CUDA_DEVICES:
            raise RuntimeError(f"device {device!r} requested but only {_CUDA_DEVICES} CUDA device(s) exist")
        return f"cuda:{index}"
    raise ValueError(f"invalid device string {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


def to_device(array, device):
    """Copy ``array`` to ``device`` (a normalised device string); no copy when it is already there."""
    if device_of(array) == device:
        return array
    if device == "cpu":
        return _cupy.asnumpy(array)
    with _cupy.cuda.Device(int(device[5:])):
        return _cupy.asarray(array)


def asarray(data, dtype=None, device="cpu"):
    """Make a backend array on ``device`` from array-like ``data``."""
    if device == "cpu":
        if _cupy is not None and isinstance(data, _cupy.ndarray):
            data = _cupy.asnumpy(data)
        return np.asarray(data, dtype=dtype)
    with _cupy.cuda.Device(int(device[5:])):
        return _cupy.asarray(data, dtype=dtype)


def to_numpy(array):
    """A host (NumPy) copy of ``array``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.array(array, copy=True)


def scatter_add(target, indices, values):
    """``target[indices] += values`` with repeated indices accumulated (unbuffered), in place:
    ``np.add.at`` on the host, ``cupyx.scatter_add`` on the device (CuPy < 12.1 has no ``add.at``)."""
    if _cupy is not None and isinstance(target, _cupy.ndarray):
        _cupyx.scatter_add(target, indices, values)
    else:
        np.add.at(target, indices, values)


# ---------------------------------------------------------------- random numbers
# One seeded generator for the whole library (host side). Random tensors are drawn on the host
# and moved to their device, so a seed gives the same numbers on every backend.
_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed minigrad's random number generator (and CuPy's when present)."""
    global _generator
    _generator = np.random.default_rng(seed)
    if cuda_available():
        _cupy.random.seed(seed)


def uniform(shape, dtype, like):
    """Uniform [0, 1) numbers from minigrad's seeded generator, on the device of array ``like``:
    drawn on the host and copied, so one seed gives the same numbers on every device."""
    return asarray(_generator.random(shape, dtype=np.float32).astype(dtype, copy=False), None, device_of(like))


def generator():
    """The library's NumPy ``Generator``."""
    return _generator
