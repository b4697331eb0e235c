"""Checkpoints: ``minigrad.save(obj, path)`` / ``minigrad.load(path)`` (also ``nn.save`` / ``nn.load``).

``obj`` is what ``torch.save`` is usually given: nested dicts (string or int keys), lists and tuples
holding Tensors, NumPy/CuPy arrays, ints, floats, bools, strings and None, e.g.
``{"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}``.

The file is a ``.npz`` (a zip archive) WITHOUT pickle, so loading a checkpoint can't run code:

- every Tensor or array is one ``.npy`` member, named by its path in the structure
  (``model.conv1.weight.npy``, ``optimizer.state.0.exp_avg.npy``), so ``numpy.load`` reads it too;
- the structure is one JSON member, ``__structure__.json``: dicts are ``{"$dict": [[key, value], ...]}``
  (keys keep their type), tuples ``{"$tuple": [...]}``, lists JSON lists, a Tensor
  ``{"$tensor": member}``, an array ``{"$array": member}``; numbers, strings, bools and None are
  themselves (floats keep NaN and infinities).

``load`` gives the same structure back: Tensors as CPU Tensors, arrays as NumPy arrays, Python
numbers as Python numbers. An ``.npz`` without the structure member (an older flat checkpoint, or
arrays exported with ``numpy.savez``) loads as a flat dict of name -> CPU Tensor.

Writing is atomic: the archive goes to a temporary file beside ``path``, is flushed to disk
(``fsync``) and renamed over ``path`` (``os.replace``; a rename within one folder is atomic), so an
exception, a crash or a full disk leaves the old file or the new one, never half a file. Temporary
files that a killed process left behind for the same ``path`` are removed by the next save.

Errors: a damaged or truncated archive, a file that is not an ``.npz``, a zip of another kind (a
PyTorch ``.pt`` file), object or string arrays raise ``ValueError`` naming the file.
"""
import glob
import io
import json
import math
import numbers
import os
import tempfile
import zipfile

import numpy as np

from . import backend
from .tensor import Tensor

__all__ = ["save", "load"]

STRUCTURE = "__structure__.json"
_FORMAT = 1


def _is_numeric(arr):
    return arr.dtype != object and (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_)


# ---------------------------------------------------------------------------- save


def _encode(obj):
    """``obj`` -> (JSON-able structure, {member name: host array}); raises ``TypeError`` on a value
    that can't be saved, naming where it is."""
    arrays = {}

    def put(arr, path):
        if not _is_numeric(arr):
            raise TypeError(f"save: {path or 'the value'!r} is not numeric (dtype {arr.dtype}); only numeric arrays are saved")
        name = path or "value"
        if name in arrays or name == STRUCTURE[:-5]:
            i = 1
            while f"{name}~{i}" in arrays:
                i += 1
            name = f"{name}~{i}"
        arrays[name] = arr
        return name

    def walk(value, path):
        if isinstance(value, Tensor):
            return {"$tensor": put(backend.to_numpy(value.data), path)}
        if backend.is_array(value):
            return {"$array": put(backend.to_numpy(value), path)}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            v = float(value)
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(value, dict):
            items = []
            for k, v in value.items():
                if isinstance(k, bool) or not isinstance(k, (str, numbers.Integral)):
                    raise TypeError(f"save: dict key {k!r} at {path or 'the top'!r} is a {type(k).__name__}; "
                                    "keys must be strings or ints")
                k = k if isinstance(k, str) else int(k)
                items.append([k, walk(v, f"{path}.{k}" if path else str(k))])
            return {"$dict": items}
        if isinstance(value, (list, tuple)):
            items = [walk(v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(value)]
            return items if isinstance(value, list) else {"$tuple": items}
        raise TypeError(f"save: can't save {path or 'the value'!r} of type {type(value).__name__} (Tensors, arrays, "
                        "numbers, bools, strings, None and dicts/lists/tuples of them are saved)")

    return walk(obj, ""), arrays


def _remove_stale_temporaries(folder, base):
    """Delete temporaries a killed ``save`` of the same file left behind."""
    for stale in glob.glob(os.path.join(glob.escape(folder), glob.escape("." + base + ".") + "*.tmp")):
        try:
            os.unlink(stale)
        except OSError:
            pass


def save(obj, path):
    """Write ``obj`` (nested dicts/lists/tuples of Tensors, arrays, numbers, strings, None) to the
    ``.npz`` file ``path``, atomically and without pickle (see the module docstring)."""
    structure, arrays = _encode(obj)
    header = json.dumps({"format": _FORMAT, "root": structure}).encode()
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temporaries(folder, base)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_archive(f, arrays, header)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _write_archive(f, arrays, header):
    """The ``.npz`` layout of ``numpy.savez`` (uncompressed zip of ``.npy`` members) plus the structure."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, arr in arrays.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(arr), allow_pickle=False)
        zf.writestr(STRUCTURE, header)


# ---------------------------------------------------------------------------- load


def load(path, map_location=None, weights_only=None):
    """Read a checkpoint written by ``save`` (the same structure back) or any ``.npz`` of numeric
    arrays (a flat dict of name -> CPU Tensor). ``map_location`` (a device) moves the Tensors there;
    ``weights_only`` is accepted for PyTorch compatibility (loading never runs code here)."""
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:
        if _is_npy(path):
            raise ValueError(f"load: {path!r} is a single .npy array, not an .npz checkpoint (use save to write one)") from e
        raise ValueError(f"load: {path!r} is not a readable .npz checkpoint ({type(e).__name__}: {e})") from e
    with zf:
        names = zf.namelist()
        foreign = [n for n in names if not n.endswith(".npy") and n != STRUCTURE]
        if foreign:
            raise ValueError(f"load: {path!r} is not a minigrad/NumPy checkpoint: it is a zip archive with members "
                             f"that are not .npy arrays ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                             "a PyTorch .pt file, for example, must be converted (torch.load, then numpy.savez)")
        arrays = {}
        for name in names:
            if name.endswith(".npy"):
                arrays[name[:-4]] = _read_member(zf, name, path)
        structure = None
        if STRUCTURE in names:
            try:
                structure = json.loads(zf.read(STRUCTURE).decode())
            except Exception as e:
                raise ValueError(f"load: {path!r}: the structure member can't be read ({type(e).__name__}: {e})") from e
    device = None if map_location is None else backend.parse_device(map_location)
    if structure is None:
        return {k: _tensor(v, device) for k, v in arrays.items()}
    return _decode(structure.get("root"), arrays, path, device)


def _is_npy(path):
    try:
        with open(path, "rb") as f:
            return f.read(6) == b"\x93NUMPY"
    except OSError:
        return False


def _read_member(zf, name, path):
    key = name[:-4]
    try:
        arr = np.lib.format.read_array(io.BytesIO(zf.read(name)), allow_pickle=False)
    except Exception as e:  # object arrays (need pickle), truncated or corrupt members
        raise ValueError(f"load: {path!r}: entry {key!r} can't be read ({type(e).__name__}: {e})") from e
    if not _is_numeric(arr):
        raise ValueError(f"load: {path!r}: entry {key!r} is not numeric (dtype {arr.dtype})")
    return arr


def _tensor(arr, device):
    return Tensor(arr) if device is None else Tensor(arr, device=device)


def _decode(node, arrays, path, device):
    def member(name):
        if name not in arrays:
            raise ValueError(f"load: {path!r}: the structure names a missing entry {name!r}")
        return arrays[name]

    def walk(v):
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            if "$tensor" in v:
                return _tensor(member(v["$tensor"]), device)
            if "$array" in v:
                return member(v["$array"])
            if "$float" in v:
                return float(v["$float"])
            if "$tuple" in v:
                return tuple(walk(x) for x in v["$tuple"])
            if "$dict" in v:
                return {k: walk(x) for k, x in v["$dict"]}
            raise ValueError(f"load: {path!r}: unknown structure node {sorted(v)}")
        return v

    return walk(node)
