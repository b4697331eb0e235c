"""The CUDA device against the CPU: the same seed and inputs give the same results on both.

Runs unchanged on a real GPU (CuPy and an NVIDIA device) and on the simulated device of
``make test-device``; skips otherwise. Each test moves data between the devices itself, so it runs
once (``cpu_only`` here means "not repeated per default device").
"""
import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from minigrad import backend

pytestmark = [
    pytest.mark.cpu_only,
    pytest.mark.skipif(
        not minigrad.cuda.is_available(),
        reason="no CUDA device: needs CuPy (pip install -e '.[cuda]') and an NVIDIA GPU, "
        "or the simulated device (make test-device)",
    ),
]


def test_device_arrays_are_device_arrays():
    x = minigrad.randn(3, 4, device="cuda")
    assert x.device == "cuda:0" and minigrad.cuda.device_count() >= 1
    assert not isinstance(x.data, np.ndarray)  # a cupy.ndarray (or the simulated one)
    assert isinstance(x.numpy(), np.ndarray) and isinstance((x * 2).sum().data, type(x.data))
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        x + minigrad.ones(3, 4, device="cpu")


def _step(device, seed=0):
    """One SGD step (momentum, weight decay) of ResNet18 in train mode on ``device``."""
    minigrad.manual_seed(seed)
    model = nn.models.resnet18(num_classes=10, in_channels=1, small_input=True).to(device)
    rng = np.random.default_rng(seed)
    x = minigrad.tensor(rng.normal(size=(4, 1, 8, 8)).astype(np.float32), device=device)
    y = minigrad.tensor(np.array([0, 3, 5, 9]), device=device)
    opt = nn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
    opt.step()
    loss2 = F.cross_entropy(model(x), y)
    return loss.item(), loss2.item(), grads, {k: v.numpy() for k, v in model.state_dict().items()}, model


def test_resnet18_training_step_agrees_with_cpu():
    cpu, dev = _step("cpu"), _step("cuda")
    assert all(p.device == "cuda:0" for p in dev[4].parameters())
    np.testing.assert_allclose(dev[0], cpu[0], rtol=1e-5)
    np.testing.assert_allclose(dev[1], cpu[1], rtol=1e-4)
    for name in ("conv1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias", "fc.weight", "fc.bias"):
        # float32 sums in another order (the host splits them over threads): errors scale with the largest entry
        scale = np.abs(cpu[2][name]).max()
        np.testing.assert_allclose(dev[2][name], cpu[2][name], rtol=1e-3, atol=2e-5 * scale, err_msg=name)
    for name, value in cpu[3].items():  # weights after the step and the BN running statistics
        scale = float(np.abs(value).max()) if value.size else 0.0
        np.testing.assert_allclose(dev[3][name], value, rtol=1e-4, atol=max(1e-6, 2e-5 * scale), err_msg=name)


def test_checkpoint_from_the_device_holds_host_arrays_and_loads_on_either_device(tmp_path):
    model = _step("cuda")[4]
    opt = nn.optim.Adam(model.parameters())
    path = tmp_path / "ckpt.npz"
    nn.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    with np.load(path, allow_pickle=False) as archive:  # plain NumPy reads it: host arrays only
        assert "model.fc.weight" in archive.files
        np.testing.assert_array_equal(archive["model.fc.weight"], model.fc.weight.numpy())
    loaded = nn.load(path)["model"]
    assert all(t.device == "cpu" for t in loaded.values())
    x = minigrad.randn(2, 1, 8, 8)
    model.eval()
    with minigrad.no_grad():
        expected = model(x.cuda()).numpy()
    for device in ("cpu", "cuda"):
        other = nn.models.resnet18(num_classes=10, in_channels=1, small_input=True).to(device).eval()
        other.load_state_dict(loaded)
        assert all(p.device == backend.parse_device(device) for p in other.parameters())
        with minigrad.no_grad():
            np.testing.assert_allclose(other(x.to(device)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_seed_gives_the_same_random_numbers_on_both_devices():
    out = {}
    for device in ("cpu", "cuda"):
        minigrad.manual_seed(7)
        x = minigrad.ones(64, device=device)
        out[device] = (minigrad.randn(5, device=device).numpy(), F.dropout(x, 0.5, training=True).numpy(),
                       nn.Linear(3, 2, device=device).weight.numpy())
    for a, b in zip(out["cpu"], out["cuda"]):
        np.testing.assert_array_equal(a, b)


def test_embedding_gradient_accumulates_repeated_indices_on_the_device():
    weight = np.random.default_rng(0).normal(size=(5, 3))
    idx = np.array([[0, 2, 0], [4, 0, 2]])
    grads = {}
    for device in ("cpu", "cuda"):
        w = minigrad.tensor(weight, requires_grad=True, device=device)
        (F.embedding(minigrad.tensor(idx, device=device), w) ** 2).sum().backward()
        grads[device] = w.grad.numpy()
    np.testing.assert_allclose(grads["cuda"], grads["cpu"], rtol=1e-12)
    assert grads["cpu"][0, 0] == pytest.approx(2 * 3 * weight[0, 0])  # row 0 used three times


def test_gradcheck_on_the_device():
    x = minigrad.tensor(np.random.default_rng(1).normal(size=(2, 3, 5, 5)), requires_grad=True, device="cuda")
    w = minigrad.tensor(np.random.default_rng(2).normal(size=(4, 3, 3, 3)), requires_grad=True, device="cuda")
    assert minigrad.gradcheck(lambda a, b: F.conv2d(a, b, padding=1, stride=2), (x, w))


def test_train_example_with_device_cuda_matches_cpu(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import importlib.util
    import pathlib
    import sys

    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    sys.path.insert(0, str(examples))  # the example imports its sibling helper module
    try:
        spec = importlib.util.spec_from_file_location("train_resnet18", examples / "train_resnet18.py")
        train = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(train)
    finally:
        sys.path.remove(str(examples))
    runs = {}
    for device in ("cpu", "cuda"):
        runs[device] = train.main(
            ["--epochs", "1", "--limit", "24", "--batch-size", "12", "--out", str(tmp_path / device), "--no-progress",
             "--optimizer", "sgd", "--device", device] + (["--no-graph"] if device == "cpu" else []))
    cpu, dev = runs["cpu"]["history"], runs["cuda"]["history"]
    np.testing.assert_allclose(dev["train_loss"], cpu["train_loss"], rtol=1e-4)
    np.testing.assert_allclose(dev["test_loss"], cpu["test_loss"], rtol=1e-4)
    assert runs["cuda"]["graph"] is not None  # the drawing was made from the device graph


def test_assigned_grad_on_another_device_is_refused():
    p = minigrad.zeros(3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="assigned grad is on device cpu but the tensor is on cuda:0"):
        p.grad = minigrad.ones(3, device="cpu")
    assert p.grad is None
