"""Data loading, as in ``torch.utils.data``: ``Dataset``, ``TensorDataset``, ``Subset``,
``ConcatDataset``, ``random_split`` and ``DataLoader``.

A dataset is anything with ``__len__`` and ``__getitem__(i)``. ``DataLoader`` groups the items into
batches: it picks the indices of each batch (in order, shuffled once per epoch, or from a
``sampler``) and *collates* the items, stacking them along a new first axis into Tensors (tuples of
Tensors for tuple items), or calls your ``collate_fn``.

Shuffling: with ``generator=g`` (a ``minigrad.Generator``) each epoch's order is drawn from ``g``;
with ``seed=s`` the loader owns a generator seeded with ``s``; otherwise from minigrad's generator (so
``minigrad.manual_seed`` makes it reproducible). Every epoch has a new order.

Workers (``num_workers > 0``): a pool of background THREADS loads and collates the next batches
while the main loop trains on the current one. Threads rather than processes because the work is
NumPy (indexing, stacking, decoding arrays), which releases the GIL, and threads share the dataset
without pickling it or copying it into each process; a pure-Python ``__getitem__`` gains little
from threads. The batch order is decided before the workers start, and batches are handed out in
exactly that order, so ``num_workers`` never changes the results. An exception in a worker reaches
the loop (re-raised with the worker's traceback), and the pool shuts down when the loop ends,
breaks or fails.
"""
import bisect
import concurrent.futures
import itertools
import math
import numbers
import traceback

import numpy as np

from minigrad import backend
from minigrad.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate"]


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


class Subset(Dataset):
    """The items of ``dataset`` at ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in (indices.tolist() if isinstance(indices, Tensor) else indices)]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple)):
            return [self.dataset[self.indices[i]] for i in index]
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The items of several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        n = len(self)
        if index < 0:
            if -index > n:
                raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} out of range for length {n}")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping ``Subset`` s of the given ``lengths`` (counts summing to
    ``len(dataset)``, or fractions summing to 1: each gets ``floor(fraction * n)`` items and the
    remainder is dealt one by one from the first subset on, as PyTorch). The items are shuffled by
    ``generator`` (a ``minigrad.Generator``; minigrad's generator when None)."""
    from minigrad import randperm

    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1) and sum(lengths) <= 1 + 1e-9:
        for f in lengths:
            if not 0 <= f <= 1:
                raise ValueError(f"random_split: fraction {f} is not between 0 and 1")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"random_split: sum of input lengths {lengths} does not equal the length of the input "
                         f"dataset ({n}); give counts that sum to it or fractions that sum to 1")
    order = randperm(n, generator=generator).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, order[start:start + length]))
        start += length
    return out


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
    ``drop_last``. ``shuffle`` draws a new order every epoch; ``sampler`` (any iterable of indices with
    ``len``, e.g. a list or ``minigrad.randperm(n)``) gives the order instead. ``collate_fn(items)``
    replaces ``default_collate``. ``num_workers`` background threads prepare batches ahead (same
    order as without them; see the module docstring). ``pin_memory`` is accepted for PyTorch scripts
    and has no effect (CPU arrays are copied to a GPU when a batch is moved)."""

    def __init__(self, dataset, batch_size=1, shuffle=False, sampler=None, num_workers=0, collate_fn=None,
                 pin_memory=False, drop_last=False, generator=None, seed=None, prefetch_factor=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size should be a positive integer, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers should be a non-negative integer, got {num_workers!r}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        if generator is not None and seed is not None:
            raise ValueError("DataLoader: give generator or seed, not both")
        if prefetch_factor is not None and num_workers == 0:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in multiprocessing "
                             "(num_workers > 0)")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.pin_memory = bool(pin_memory)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.seed = seed
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self._rng = np.random.default_rng(seed) if seed is not None else backend.numpy_generator(generator) \
            if generator is not None else None

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return [int(i) for i in (self.sampler.tolist() if isinstance(self.sampler, Tensor) else self.sampler)]
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else backend.generator()
        return rng.permutation(n)

    def _batches(self):
        """The index arrays of this epoch's batches (the order is drawn here, in the main thread)."""
        order = np.asarray(self._order(), dtype=np.int64)
        bs = self.batch_size
        stop = len(order) // bs * bs if self.drop_last else len(order)
        return [order[start:start + bs] for start in range(0, stop, bs)]

    def _load(self, indices):
        """One batch: the whole-batch gather of a ``TensorDataset``, else collate the items."""
        if self.collate_fn is None and isinstance(self.dataset, TensorDataset) and \
                type(self.dataset).__getitem__ is TensorDataset.__getitem__:
            return self.dataset._batch(indices)
        collate = self.collate_fn or default_collate
        return collate([self.dataset[int(i)] for i in indices])

    def __iter__(self):
        batches = self._batches()  # drawn when the epoch starts
        if self.num_workers == 0:
            for indices in batches:
                yield self._load(indices)
            return
        yield from self._threaded(batches)

    def _threaded(self, batches):
        pool = concurrent.futures.ThreadPoolExecutor(self.num_workers, thread_name_prefix="DataLoader worker")
        ahead = self.num_workers * self.prefetch_factor
        pending = []
        try:
            todo = iter(enumerate(batches))
            for k, indices in itertools.islice(todo, ahead):
                pending.append((k, pool.submit(self._load, indices)))
            while pending:
                k, future = pending.pop(0)
                for k2, indices in itertools.islice(todo, 1):
                    pending.append((k2, pool.submit(self._load, indices)))
                try:
                    batch = future.result()
                except Exception as e:
                    e.add_note(f"Caught {type(e).__name__} in a DataLoader worker thread while loading batch {k}. "
                               "Original traceback:\n" + "".join(traceback.format_tb(e.__traceback__)))
                    raise
                yield batch
        finally:  # end of epoch, break out of the loop, or an error: stop the workers
            pool.shutdown(wait=True, cancel_futures=True)
