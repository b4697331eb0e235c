"""A PyTorch training script runs on minigrad after a mechanical import swap (the README's
"Coming from PyTorch"): it trains a CNN on scikit-learn's digits to >= 95%, saves a nested
checkpoint each epoch, and a run resumed from that checkpoint ends exactly where an uninterrupted
run does."""
import pathlib
import re

import numpy as np
import pytest

import minigrad

pytestmark = pytest.mark.cpu_only  # subprocesses / host-side files: the device run adds nothing

SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "pytorch_script.py.txt"


def port(source):
    """The swap the README documents: torch.utils.data -> minigrad.nn.data, then torch -> minigrad."""
    source = source.replace("torch.utils.data", "minigrad.nn.data")
    return re.sub(r"\btorch\b", "minigrad", source)


def run(checkpoint, epochs=3, stop_after_epoch=None, resume=False):
    namespace = {"EPOCHS": epochs, "STOP_AFTER_EPOCH": stop_after_epoch, "CHECKPOINT": str(checkpoint),
                 "RESUME": resume, "__name__": "__main__"}
    exec(compile(port(SCRIPT.read_text()), str(SCRIPT), "exec"), namespace)
    return namespace


def test_the_fixture_is_a_pytorch_script_and_the_port_only_touches_imports():
    source = SCRIPT.read_text()
    assert "import torch\n" in source and "minigrad" not in source.split("# The test sets")[1]
    ported = port(source)
    assert not re.search(r"\btorch\b", ported)
    changed = [(a, b) for a, b in zip(source.splitlines(), ported.splitlines()) if a != b]
    assert all(re.sub(r"\btorch\b", "minigrad", a.replace("torch.utils.data", "minigrad.nn.data")) == b
               for a, b in changed)


def test_script_trains_saves_and_resumes_exactly(tmp_path, capsys):
    pytest.importorskip("sklearn")
    full = run(tmp_path / "full.pt")
    assert full["accuracy"] >= 0.95
    checkpoint = minigrad.load(tmp_path / "full.pt")
    assert checkpoint["epoch"] == 2 and type(checkpoint["epoch"]) is int
    assert set(checkpoint) == {"model", "optimizer", "scheduler", "epoch", "accuracy"}
    assert isinstance(checkpoint["model"]["conv1.weight"], minigrad.Tensor)

    part = run(tmp_path / "part.pt", stop_after_epoch=0)
    resumed = run(tmp_path / "part.pt", resume=True)
    assert part["losses"] + resumed["losses"] == full["losses"]
    assert resumed["accuracy"] == full["accuracy"]
    final_full, final_resumed = minigrad.load(tmp_path / "full.pt"), minigrad.load(tmp_path / "part.pt")
    for name, value in final_full["model"].items():
        np.testing.assert_array_equal(final_resumed["model"][name].numpy(), value.numpy(), err_msg=name)
    assert final_resumed["scheduler"] == final_full["scheduler"]
    assert "epoch 2: loss" in capsys.readouterr().out
