"""Checkpoints: ``save`` and ``load`` as NumPy ``.npz`` files, written atomically, read without pickle.

``save(state_dict, path)``:

- flattens nested dicts and lists to dotted keys (``{"state": {0: {"exp_avg": t}}}`` becomes
  ``"state.0.exp_avg"``); a list or tuple of plain numbers (Adam's ``betas``, a group's ``params``
  indices) is stored as one array;
- writes the archive to a temporary file in the target's folder, flushes it to disk (``fsync``),
  then renames it over ``path`` with ``os.replace``. A rename within one folder is atomic, so an
  exception, a crash or a full disk leaves either the old file or the new one, never half a file.

``load(path)`` reads with ``allow_pickle=False`` (a checkpoint can't run code) and returns a dict of
name -> CPU Tensor. Damaged or truncated archives, files that aren't ``.npz`` and object arrays raise
``ValueError`` naming the file. ``unflatten_state`` rebuilds the nesting (optimizers use it).
"""
import numbers
import os
import tempfile

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["save", "load"]


def _is_number(v):
    return isinstance(v, (numbers.Number, np.bool_)) and not isinstance(v, complex)


def flatten_state(obj, prefix=""):
    """Nested dicts/lists of Tensors, arrays and numbers -> dict of dotted key -> host NumPy array."""
    out = {}

    def put(key, arr):
        if key in out:
            raise ValueError(f"nn.save: two entries flatten to the same key {key!r}")
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise TypeError(f"nn.save: {key!r} is not numeric (dtype {arr.dtype}); only numeric arrays are saved")
        out[key] = arr

    def walk(value, key):
        if isinstance(value, Tensor):
            put(key, backend.to_numpy(value.data))
        elif backend.is_array(value):
            put(key, backend.to_numpy(value))
        elif _is_number(value):
            put(key, np.asarray(value))
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, (list, tuple)):
            if all(_is_number(v) for v in value) and value:
                put(key, np.asarray(value))
            else:
                for i, v in enumerate(value):
                    walk(v, f"{key}.{i}" if key else str(i))
        else:
            raise TypeError(f"nn.save: can't save {key or 'the value'!r} of type {type(value).__name__} "
                            "(Tensors, arrays, numbers and dicts/lists of them are saved)")

    walk(obj, prefix)
    return out


def unflatten_state(flat):
    """Dotted keys -> nested dicts, the inverse of ``flatten_state`` for optimizer checkpoints:
    digit keys become ints (state is indexed by parameter number) and ``param_groups`` a list."""
    root = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(int(part) if part.isdigit() else part, {})
            if not isinstance(node, dict):
                raise ValueError(f"unflatten_state: key {key!r} nests under a value")
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
    groups = root.get("param_groups")
    if isinstance(groups, dict):
        root["param_groups"] = [groups[i] for i in sorted(groups)]
    root.setdefault("state", {})
    return root


def save(state_dict, path):
    """Write ``state_dict`` (dict of name -> Tensor/array/number, nested dicts/lists allowed) to the
    ``.npz`` file ``path`` atomically (see the module docstring)."""
    arrays = flatten_state(state_dict)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
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


def load(path):
    """Read a ``.npz`` checkpoint (no pickle) -> dict of name -> CPU Tensor, in file order."""
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as e:
        raise ValueError(f"nn.load: {path!r} is not a readable .npz checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"nn.load: {path!r} is a single .npy array, not an .npz checkpoint (use nn.save to write one)")
    out = {}
    with archive:
        for key in archive.files:
            try:
                arr = archive[key]
            except Exception as e:  # object arrays (need pickle), truncated or corrupt members
                raise ValueError(f"nn.load: {path!r}: entry {key!r} can't be read ({type(e).__name__}: {e})") from e
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                raise ValueError(f"nn.load: {path!r}: entry {key!r} is not numeric (dtype {arr.dtype})")
            out[key] = Tensor(arr)
    return out
