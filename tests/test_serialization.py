"""minigrad.save / load (= nn.save / nn.load): nested structures in atomic .npz checkpoints, read without pickle."""
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
    assert all(isinstance(out[k], minigrad.Tensor) and out[k].device == "cpu" for k in ("w", "count", "mask", "empty"))
    np.testing.assert_array_equal(out["w"].numpy(), state["w"].numpy())
    assert out["w"].dtype == np.float32 and out["count"].dtype == np.int64 and out["count"].item() == 3
    assert out["mask"].tolist() == [True, False]
    assert type(out["f64"]) is np.ndarray and out["f64"].dtype == np.float64  # an array comes back an array
    assert type(out["scalar"]) is float and out["scalar"] == 2.5 and out["empty"].shape == (0, 4)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & stat.S_IRUSR and mode & stat.S_IWUSR


def test_nested_structure_round_trips_with_python_types(tmp_path):
    obj = {
        "model": {"fc.weight": minigrad.ones(2, 3), "fc.bias": minigrad.zeros(2)},
        "optimizer": {"state": {0: {"step": 4, "exp_avg": np.ones(2)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99),
                                                                                          "params": [0, 1]}]},
        "epoch": 3, "best": float("nan"), "inf": float("-inf"), "done": False, "note": "résumé", "none": None,
        "nested": [1, (2, [3.5, {"k": "v"}]), []], 7: "int key",
    }
    minigrad.save(obj, tmp_path / "ck.pt")
    out = minigrad.load(tmp_path / "ck.pt")
    assert out.keys() == obj.keys()
    assert out["epoch"] == 3 and type(out["epoch"]) is int and out["done"] is False and out["none"] is None
    assert np.isnan(out["best"]) and out["inf"] == float("-inf") and out["note"] == "résumé" and out[7] == "int key"
    assert out["nested"] == [1, (2, [3.5, {"k": "v"}]), []]
    assert isinstance(out["nested"][1], tuple)
    group = out["optimizer"]["param_groups"][0]
    assert group == {"lr": 0.1, "betas": (0.9, 0.99), "params": [0, 1]}
    assert list(out["optimizer"]["state"]) == [0] and out["optimizer"]["state"][0]["step"] == 4
    assert out["model"]["fc.weight"].tolist() == [[1.0] * 3] * 2
    # the tensors are ordinary .npy members, readable by NumPy alone
    with np.load(tmp_path / "ck.pt") as archive:
        assert "model.fc.weight" in archive.files
        np.testing.assert_array_equal(archive["optimizer.state.0.exp_avg"], np.ones(2))


def test_minigrad_and_nn_save_are_the_same_functions():
    assert nn.save is minigrad.save and nn.load is minigrad.load


def test_old_flat_checkpoints_still_load(tmp_path):
    path = tmp_path / "old.npz"
    np.savez(path, **{"state.0.buf": np.ones(2), "state.3.step": np.array(4), "param_groups.0.lr": np.array(0.1)})
    out = nn.load(path)
    assert sorted(out) == ["param_groups.0.lr", "state.0.buf", "state.3.step"]
    assert all(isinstance(v, minigrad.Tensor) for v in out.values())
    nested = serialization.unflatten_state(out)
    assert sorted(nested["state"]) == [0, 3] and nested["state"][3]["step"].item() == 4


@pytest.mark.cpu_only  # host side only
def test_unsaveable_values_raise_and_write_nothing(tmp_path):
    with pytest.raises(TypeError, match="save: can't save 'model.act' of type builtin_function_or_method"):
        nn.save({"model": {"act": len}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="not numeric"):
        nn.save({"obj": np.array([{}, None], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be strings or ints"):
        nn.save({(1, 2): 1}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


@pytest.mark.cpu_only  # host side only
def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from minigrad import serialization as core

    path = tmp_path / "model.npz"
    nn.save({"w": np.full(1000, 1.0, dtype=np.float32)}, path)
    good = path.read_bytes()

    def crashing_write(f, arrays, header):
        f.write(b"PK\x03\x04 half of an archive")  # some bytes reach the temporary file ...
        raise OSError(28, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(core, "_write_archive", crashing_write)
    with pytest.raises(OSError, match="No space left"):
        nn.save({"w": np.full(1000, 2.0, dtype=np.float32)}, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["model.npz"]
    monkeypatch.undo()
    assert nn.load(path)["w"].max() == 1.0
    nn.save({"w": np.full(3, 2.0, dtype=np.float32)}, path)  # and a later save replaces it
    assert nn.load(path)["w"].tolist() == [2.0, 2.0, 2.0]


def test_a_killed_save_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "model.npz"
    (tmp_path / ".model.npz.abc123.tmp").write_bytes(b"PK half")  # what a SIGKILL mid-save leaves
    (tmp_path / ".other.npz.x.tmp").write_bytes(b"keep")  # another file's: not ours to delete
    nn.save({"w": np.ones(2)}, path)
    assert sorted(os.listdir(tmp_path)) == [".other.npz.x.tmp", "model.npz"]


def test_pytorch_zip_is_refused_naming_the_file(tmp_path):
    import zipfile

    path = tmp_path / "resnet.pt"
    with zipfile.ZipFile(path, "w") as zf:  # the layout of torch.save's zip format
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        zf.writestr("archive/data/0", b"\x00" * 16)
        zf.writestr("archive/version", b"3\n")
    with pytest.raises(ValueError, match=r"resnet\.pt.*not a minigrad/NumPy checkpoint.*archive/data\.pkl"):
        minigrad.load(path)


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
