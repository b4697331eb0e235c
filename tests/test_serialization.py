"""nn.save / nn.load: atomic .npz checkpoints, read without pickle."""
import os
import stat

import numpy as np
import pytest

import minigrad
import nn
from nn import serialization


def test_round_trip_keeps_values_dtypes_and_order(tmp_path):
    state = {
        "w": minigrad.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "count": minigrad.tensor(3),
        "mask": minigrad.tensor([True, False]),
        "f64": np.linspace(0, 1, 4),
        "scalar": 2.5,
        "empty": minigrad.zeros(0, 4),
    }
    path = tmp_path / "ckpt.npz"
    nn.save(state, path)
    out = nn.load(path)
    assert list(out) == list(state)
    assert all(isinstance(v, minigrad.Tensor) and v.device == "cpu" for v in out.values())
    np.testing.assert_array_equal(out["w"].numpy(), state["w"].numpy())
    assert out["w"].dtype == np.float32 and out["count"].dtype == np.int64 and out["count"].item() == 3
    assert out["mask"].tolist() == [True, False] and out["f64"].dtype == np.float64
    assert out["scalar"].item() == 2.5 and out["empty"].shape == (0, 4)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & stat.S_IRUSR and mode & stat.S_IWUSR


@pytest.mark.cpu_only  # host side only
def test_nested_values_are_flattened_with_dots(tmp_path):
    state = {"state": {0: {"buf": np.ones(2)}, 3: {"step": 4}}, "groups": [{"lr": 0.1, "betas": (0.9, 0.99)}]}
    nn.save(state, tmp_path / "n.npz")
    out = nn.load(tmp_path / "n.npz")
    assert sorted(out) == ["groups.0.betas", "groups.0.lr", "state.0.buf", "state.3.step"]
    assert out["groups.0.betas"].tolist() == [0.9, 0.99]
    nested = serialization.unflatten_state(out)
    assert sorted(nested["state"]) == [0, 3] and nested["state"][3]["step"].item() == 4


@pytest.mark.cpu_only  # host side only
def test_unsaveable_values_raise_and_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="nn.save: can't save 'name'"):
        nn.save({"name": "resnet"}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="not numeric"):
        nn.save({"obj": np.array([{}, None], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="same key 'a.b'"):
        nn.save({"a.b": 1, "a": {"b": 2}}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.cpu_only  # host side only
def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    nn.save({"w": np.full(1000, 1.0, dtype=np.float32)}, path)
    good = path.read_bytes()

    def crashing_savez(f, **arrays):
        f.write(b"PK\x03\x04 half of an archive")  # some bytes reach the temporary file ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(serialization.np, "savez", crashing_savez)
    with pytest.raises(OSError, match="No space left"):
        nn.save({"w": np.full(1000, 2.0, dtype=np.float32)}, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]
    monkeypatch.undo()
    assert nn.load(path)["w"].numpy().max() == 1.0
    nn.save({"w": np.full(3, 2.0, dtype=np.float32)}, path)  # and a later save replaces it
    assert nn.load(path)["w"].tolist() == [2.0, 2.0, 2.0]


@pytest.mark.cpu_only  # host side only
def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, ok=np.zeros(2), payload=np.array([{"a": 1}, len], dtype=object))
    with pytest.raises(ValueError, match=r"evil\.npz.*'payload'"):
        nn.load(path)


@pytest.mark.cpu_only  # host side only
def test_damaged_and_foreign_files_raise_value_error_naming_the_file(tmp_path):
    path = tmp_path / "cut.npz"
    nn.save({"w": np.arange(10000, dtype=np.float32), "b": np.zeros(3)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.npz"):
        nn.load(path)
    text = tmp_path / "notes.npz"
    text.write_text("definitely not a zip archive\n" * 10)
    with pytest.raises(ValueError, match=r"notes\.npz"):
        nn.load(text)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.npz"):
        nn.load(empty)
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match=r"single\.npy.*not an \.npz"):
        nn.load(npy)
    strings = tmp_path / "strings.npz"
    np.savez(strings, names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"strings\.npz.*'names'"):
        nn.load(strings)
    with pytest.raises(FileNotFoundError):
        nn.load(tmp_path / "missing.npz")


@pytest.mark.cpu_only  # host side only
def test_any_numeric_npz_loads(tmp_path):
    path = tmp_path / "exported.npz"
    np.savez(path, **{"conv1.weight": np.ones((2, 1, 3, 3), dtype=np.float32), "bn1.num_batches_tracked": np.array(5)})
    out = nn.load(path)
    assert out["conv1.weight"].shape == (2, 1, 3, 3) and out["bn1.num_batches_tracked"].item() == 5
