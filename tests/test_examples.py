"""Smoke tests of the training example and the three studies: each ``main(argv)`` with tiny
settings into a temporary folder, checking what it returns and writes."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import minigrad
import nn

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.cpu_only  # host side only
def test_random_shift_matches_a_loop_reference():
    train = load("train_resnet18")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 2, 4, 6)).astype(np.float32)
    out = train.random_shift(x, 2, np.random.default_rng(1), fill=-7.0)
    assert out.shape == x.shape and out.dtype == np.float32
    # the same draws as random_shift makes: dy for all images, then dx
    r = np.random.default_rng(1)
    dy, dx = r.integers(0, 5, size=5), r.integers(0, 5, size=5)
    for i in range(5):
        padded = np.full((2, 4 + 4, 6 + 4), -7.0, np.float32)
        padded[:, 2:6, 2:8] = x[i]
        np.testing.assert_array_equal(out[i], padded[:, dy[i]:dy[i] + 4, dx[i]:dx[i] + 6])
    assert train.random_shift(x, 0, rng, fill=0.0) is x


@pytest.mark.cpu_only  # host side only
def test_load_data_split_is_fixed_and_standardised():
    train = load("train_resnet18")
    a = train.load_data(split_seed=0)
    b = train.load_data(split_seed=0)
    x_tr, y_tr, x_te, y_te, background = a
    assert x_tr.shape == (1437, 1, 8, 8) and x_te.shape == (360, 1, 8, 8)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[3], b[3])
    assert abs(x_tr.mean()) < 1e-4 and abs(x_tr.std() - 1) < 1e-3
    assert np.isclose(x_tr.min(), background)
    assert set(np.bincount(y_te)) <= {35, 36, 37}  # stratified: ~36 of each digit


def test_train_resnet18_tiny_run(tmp_path):
    train = load("train_resnet18")
    out = tmp_path / "run"
    summary = train.main(["--epochs", "2", "--limit", "24", "--batch-size", "12", "--out", str(out),
                          "--no-progress", "--optimizer", "sgd"])
    assert 0.0 <= summary["test_acc"] <= 1.0
    assert len(summary["history"]["train_loss"]) == 2
    assert summary["history"]["lr"][-1] == pytest.approx(0.0, abs=1e-12)  # cosine schedule ends at 0
    for name in ("resnet18_digits.npz", "curves.png", "history.json"):
        assert (out / name).stat().st_size > 0
    assert summary["graph"] is not None and Path(summary["graph"]).stat().st_size > 0
    if summary["graph"].endswith(".svg"):
        assert "layer4" in Path(summary["graph"]).read_text()
    # the checkpoint loads into a fresh model
    model = nn.models.resnet18(num_classes=10, in_channels=1, small_input=True)
    model.load_state_dict(nn.load(out / "resnet18_digits.npz"))
    assert int(model.bn1.num_batches_tracked.item()) == 4


def test_bn_vanishing_gradients_tiny(tmp_path):
    study = load("bn_vanishing_gradients")
    r = study.main(["--depth", "8", "--width", "16", "--steps", "5", "--out", str(tmp_path)])
    # first-layer / last-layer gradient norm: shrinks with depth without BN, stays ~1 with it
    assert r["ratio_plain"] < 0.1 < 0.5 < r["ratio_bn"]
    assert r["saturated_bn"] < r["saturated_plain"]
    assert Path(r["figure"]).stat().st_size > 0


def test_bn_train_eval_gap_tiny(tmp_path):
    study = load("bn_train_eval_gap")
    r = study.main(["--epochs", "1", "--hidden", "16", "--out", str(tmp_path)])
    bn_iid, bn_sessions, ln, gn = r["rows"]
    assert ln["gap"] < 1e-5 and gn["gap"] < 1e-5  # same computation in train and eval mode
    assert bn_sessions["gap"] > 1e-2
    assert r["part1"]["eval_diff"] == 0.0 < r["part1"]["train_diff"]
    assert Path(r["figure"]).stat().st_size > 0


def test_universal_approximation_tiny(tmp_path):
    study = load("universal_approximation")
    r = study.main(["--tanh-widths", "1,4", "--sin-steps", "30", "--restarts", "1", "--relu-widths", "4",
                    "--saw-steps", "30", "--teeth", "3", "--out", str(tmp_path)])
    exact = r["sawtooth"][0]
    assert exact["mse"] < 1e-10 and exact["pieces"] == 8 and exact["params"] == 19
    assert r["sawtooth"][1]["pieces"] <= 4 + 1  # one hidden layer of 4 ReLUs: at most 5 pieces
    assert set(r["sin_mse"]) == {1, 4}
    assert Path(r["figure"]).stat().st_size > 0


def test_deep_sawtooth_net_is_exact_for_several_depths():
    study = load("universal_approximation")
    x = np.linspace(0, 1, 1025, dtype=np.float32)
    for k in (1, 2, 4, 5):
        model = study.deep_sawtooth_net(k)
        with minigrad.no_grad():
            y = model(minigrad.tensor(x[:, None])).numpy()[:, 0]
        np.testing.assert_allclose(y, study.sawtooth(x, k), atol=1e-5)
        assert study.linear_pieces(model, x[:, None]) == 2 ** k
