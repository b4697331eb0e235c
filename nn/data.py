"""Data loading: ``Dataset``, ``TensorDataset`` and ``DataLoader``, as in ``torch.utils.data``.

A dataset is anything with ``__len__`` and ``__getitem__(i)``. ``DataLoader`` groups the items into
batches: it picks the indices of each batch (in order, or shuffled once per epoch) and *collates*
the items, stacking them along a new first axis into Tensors (tuples of Tensors for tuple items).

Shuffling: with ``seed=None`` each epoch's order is drawn from minigrad's generator (so
``minigrad.manual_seed`` makes it reproducible); with ``seed=s`` the loader owns a generator seeded
with ``s``: every epoch has a new order, and two loaders with the same seed give the same sequence.
"""
import numbers

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "DataLoader"]


class Dataset:
    """Base class for map-style datasets: implement ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")


class TensorDataset(Dataset):
    """Items are ``(t[i] for t in tensors)``: the i-th row of each tensor (all share the first size)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors, first dimensions {sizes}")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(Tensor._from_op(t.data[index], None, None) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]

    def _batch(self, indices):
        """Whole batch by fancy indexing (one gather per tensor, no per-item Python loop)."""
        out = []
        for t in self.tensors:
            idx = indices if t.device == "cpu" else backend.to_device(indices, t.device)
            out.append(Tensor._from_op(t.data[idx], None, None))
        return tuple(out)


def default_collate(items):
    """Stack a list of items into a batch: Tensors/arrays/numbers -> one Tensor with a new first
    axis; tuples/lists -> a tuple of batches; dicts -> a dict of batches; strings -> a list."""
    first = items[0]
    if isinstance(first, Tensor):
        xp = backend.get_array_module(first.data)
        return Tensor._from_op(xp.stack([it.data for it in items]), None, None)
    if backend.is_array(first) or isinstance(first, np.generic):
        xp = backend.get_array_module(first)
        return Tensor._from_op(xp.stack([xp.asarray(it) for it in items]), None, None)
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.asarray(items, dtype=np.bool_))
    if isinstance(first, numbers.Integral):
        return Tensor(np.asarray(items, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.asarray(items, dtype=np.float32))  # Python floats are float32 in minigrad
    if isinstance(first, str):
        return list(items)
    if isinstance(first, dict):
        return {k: default_collate([it[k] for it in items]) for k in first}
    if isinstance(first, (tuple, list)):
        if any(len(it) != len(first) for it in items):
            raise ValueError("DataLoader: the items of a batch have different lengths")
        return tuple(default_collate(list(column)) for column in zip(*items))
    raise TypeError(f"DataLoader: can't collate items of type {type(first).__name__}")


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size``; the last batch is smaller unless
    ``drop_last``. ``shuffle`` draws a new order every epoch (see the module docstring for ``seed``)."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else backend.generator()
        return rng.permutation(n)

    def __iter__(self):
        order = self._order()  # drawn when the epoch starts
        bs = self.batch_size
        stop = len(self) * bs
        # whole-batch gather, unless a subclass changed how items are made
        fast = isinstance(self.dataset, TensorDataset) and type(self.dataset).__getitem__ is TensorDataset.__getitem__
        for start in range(0, min(stop, len(order)), bs):
            indices = order[start:start + bs]
            if fast:
                yield self.dataset._batch(indices)
            else:
                yield default_collate([self.dataset[int(i)] for i in indices])
