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


class Generator:
    """A random number generator of its own, like ``torch.Generator``: ``Generator().manual_seed(0)``.

    Accepted by ``randperm``, ``nn.data.random_split`` and ``DataLoader(generator=...)``; draws on
    the host (NumPy's PCG64), like the library's global generator."""

    def __init__(self, device="cpu"):
        self.device = str(device)
        self._seed = int(np.random.SeedSequence().entropy % (2**63))
        self._rng = np.random.default_rng(self._seed)

    def manual_seed(self, seed):
        """Re-seed; returns the generator (so ``Generator().manual_seed(0)`` chains, as in PyTorch)."""
        self._seed = int(seed)
        self._rng = np.random.default_rng(self._seed)
        return self

    def initial_seed(self):
        return self._seed

    def seed(self):
        """Seed from fresh entropy; returns the seed."""
        return self.manual_seed(np.random.SeedSequence().entropy % (2**63)).initial_seed()

    def get_state(self):
        """The generator's state (a dict, for ``set_state``)."""
        return self._rng.bit_generator.state

    def set_state(self, state):
        self._rng.bit_generator.state = state
        return self


def numpy_generator(generator=None):
    """The NumPy ``Generator`` behind a ``minigrad.Generator``, or the library's one for None."""
    if generator is None:
        return _generator
    if isinstance(generator, Generator):
        return generator._rng
    raise TypeError(f"expected a minigrad.Generator or None, got {type(generator).__name__}")


class device:  # noqa: N801 - mirrors torch.device
    """A device spec, like ``torch.device``: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``,
    ``device("cuda", 1)``. It stands wherever a device string does (``str(d)`` is that string) and
    compares equal to it. Making one does not check that the device exists; using it does."""

    def __init__(self, type, index=None):  # noqa: A002 - PyTorch's argument names
        if isinstance(type, device):
            type, index = type.type, type.index
        spec = str(type)
        if ":" in spec:
            if index is not None:
                raise ValueError(f"device: type {spec!r} already holds an index; don't pass index={index}")
            spec, _, idx = spec.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise ValueError(f"invalid device string {str(type)!r}: expected 'cpu', 'cuda' or 'cuda:N'") from None
        if spec not in ("cpu", "cuda"):
            raise ValueError(f"invalid device string {str(type)!r}: expected 'cpu', 'cuda' or 'cuda:N'")
        if index is not None and (int(index) != index or index < 0 or (spec == "cpu" and index != 0)):
            raise ValueError(f"device: invalid index {index!r} for device type {spec!r}")
        self.type = spec
        self.index = None if index is None or spec == "cpu" else int(index)

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other):
        if isinstance(other, (device, str)):
            other = str(other)
            if other == "cuda" or str(self) == "cuda":  # "cuda" means the current device, cuda:0
                return str(self).partition(":")[0] == other.partition(":")[0] and \
                    {str(self), other} <= {"cuda", "cuda:0"}
            return str(self) == other
        return NotImplemented

    def __hash__(self):
        return hash(str(self))
