"""nn.data: Dataset, TensorDataset, DataLoader."""
import numpy as np
import pytest

import minigrad
from nn.data import DataLoader, Dataset, TensorDataset


def make_dataset(n=10):
    x = minigrad.tensor(np.arange(n * 6, dtype=np.float32).reshape(n, 2, 3))
    y = minigrad.tensor(np.arange(n) * 10)
    return TensorDataset(x, y)


class Squares(Dataset):
    """A map-style dataset with mixed item types (array, int, float, dict)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((2,), i, dtype=np.float32), i, i * 0.5, {"sq": minigrad.tensor([i * i])}


def flat_labels(loader):
    return [int(v) for _, y in loader for v in y.tolist()]


def test_tensor_dataset_items_and_checks():
    ds = make_dataset(4)
    assert len(ds) == 4
    x, y = ds[2]
    assert isinstance(x, minigrad.Tensor) and x.shape == (2, 3) and y.item() == 20
    np.testing.assert_array_equal(x.numpy(), np.arange(12, 18).reshape(2, 3))
    with pytest.raises(ValueError, match="TensorDataset: size mismatch"):
        TensorDataset(minigrad.zeros(3, 2), minigrad.zeros(4))
    assert len(TensorDataset(np.zeros((5, 1)))) == 5  # arrays are wrapped


@pytest.mark.parametrize("n,bs,drop_last,sizes", [
    (10, 4, False, [4, 4, 2]),
    (10, 4, True, [4, 4]),
    (8, 4, False, [4, 4]),
    (8, 4, True, [4, 4]),
    (3, 5, False, [3]),
    (3, 5, True, []),
    (3, 1, False, [1, 1, 1]),
])
def test_batch_shapes_and_last_partial_batch(n, bs, drop_last, sizes):
    loader = DataLoader(make_dataset(n), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == len(sizes) == len(batches)
    for (x, y), size in zip(batches, sizes):
        assert isinstance(x, minigrad.Tensor) and x.shape == (size, 2, 3) and x.dtype == np.float32
        assert y.shape == (size,) and y.dtype == np.int64
    assert flat_labels(loader) == [10 * i for i in range(sum(sizes))]  # in order without shuffle


def test_batches_are_copies_not_views_of_the_dataset():
    ds = make_dataset(4)
    x, _ = next(iter(DataLoader(ds, batch_size=2)))
    x.data[...] = -1
    assert ds.tensors[0].numpy().min() == 0


def test_seeded_shuffle_is_reproducible_and_changes_every_epoch():
    ds = make_dataset(20)
    a = DataLoader(ds, batch_size=6, shuffle=True, seed=123)
    b = DataLoader(ds, batch_size=6, shuffle=True, seed=123)
    epochs_a = [flat_labels(a) for _ in range(3)]
    epochs_b = [flat_labels(b) for _ in range(3)]
    assert epochs_a == epochs_b
    for order in epochs_a:
        assert sorted(order) == [10 * i for i in range(20)]  # each epoch is a permutation
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    assert flat_labels(DataLoader(ds, batch_size=6, shuffle=True, seed=124)) != epochs_a[0]
    # items stay paired across tensors after shuffling
    for x, y in DataLoader(ds, batch_size=7, shuffle=True, seed=1):
        np.testing.assert_array_equal(x.numpy()[:, 0, 0], y.numpy() / 10 * 6)


def test_unseeded_shuffle_follows_manual_seed():
    ds = make_dataset(15)
    minigrad.manual_seed(7)
    first = flat_labels(DataLoader(ds, batch_size=4, shuffle=True))
    minigrad.manual_seed(7)
    again = flat_labels(DataLoader(ds, batch_size=4, shuffle=True))
    assert first == again and first != sorted(first)


def test_generic_dataset_collates_each_field():
    batches = list(DataLoader(Squares(5), batch_size=2))
    assert len(batches) == 3
    arr, ints, floats, d = batches[1]
    assert isinstance(batches[1], tuple)
    assert arr.shape == (2, 2) and arr.dtype == np.float32 and arr.tolist() == [[2, 2], [3, 3]]
    assert ints.dtype == np.int64 and ints.tolist() == [2, 3]
    assert floats.dtype == np.float32 and floats.tolist() == [1.0, 1.5]
    assert d["sq"].shape == (2, 1) and d["sq"].tolist() == [[4], [9]]
    assert batches[2][0].shape == (1, 2)


def test_tensor_dataset_subclass_items_are_used():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2.0, y

    x, y = next(iter(DataLoader(Doubled(*make_dataset(3).tensors), batch_size=3)))
    np.testing.assert_array_equal(x.numpy(), make_dataset(3).tensors[0].numpy() * 2)


def test_loader_argument_checks():
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(make_dataset(), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(make_dataset(), batch_size=2.5)
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())
