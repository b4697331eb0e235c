"""nn.models.resnet18: torchvision's structure, names, initialisation; training and checkpoints.

The expected state-dict keys and shapes come from tests/golden/resnet18_state_dict.txt, written from
the installed torchvision by tests/golden/make_resnet18_keys.py.
"""
from pathlib import Path

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn
from nn.models.resnet import BasicBlock

GOLDEN = Path(__file__).parent / "golden" / "resnet18_state_dict.txt"


def golden(variant):
    rows = []
    for line in GOLDEN.read_text().splitlines():
        if line.startswith("#"):
            continue
        v, key, shape = line.split(" ")
        if v == variant:
            rows.append((key, tuple(int(s) for s in shape.split(",") if s)))
    return rows


def keys_and_shapes(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.fixture(scope="module")
def full():
    minigrad.manual_seed(0)
    return nn.models.resnet18()


def small_model(seed=0):
    minigrad.manual_seed(seed)
    return nn.models.resnet18(num_classes=10, in_channels=1, small_input=True)


@pytest.mark.cpu_only  # host side only
def test_state_dict_keys_order_and_shapes_match_torchvision(full):
    expected = golden("default")
    assert len(expected) == 122
    assert keys_and_shapes(full) == expected


def test_small_input_keys_match_torchvision_with_swapped_stem():
    assert keys_and_shapes(small_model()) == golden("small")


def test_parameter_count(full):
    assert sum(p.numel() for p in full.parameters()) == 11_689_512
    # the small stem: 64*1*3*3 instead of 64*3*7*7 weights, fc 512*10+10 instead of 512*1000+1000
    expected_small = 11_689_512 - 64 * 3 * 49 + 64 * 9 - (512 * 1000 + 1000) + (512 * 10 + 10)
    assert sum(p.numel() for p in small_model().parameters()) == expected_small


def test_stem_and_downsample_structure(full):
    c = full.conv1
    assert (c.kernel_size, c.stride, c.padding, c.bias) == ((7, 7), (2, 2), (3, 3), None)
    assert isinstance(full.maxpool, nn.MaxPool2d)
    assert (full.maxpool.kernel_size, full.maxpool.stride, full.maxpool.padding) in [(3, 2, 1), ((3, 3), (2, 2), (1, 1))]
    small = small_model()
    c = small.conv1
    assert (c.kernel_size, c.stride, c.padding, c.bias, c.in_channels) == ((3, 3), (1, 1), (1, 1), None, 1)
    assert isinstance(small.maxpool, nn.Identity)
    for i, layer in enumerate([full.layer1, full.layer2, full.layer3, full.layer4]):
        assert [type(b) for b in layer] == [BasicBlock, BasicBlock]
        assert (layer[0].downsample is None) == (i == 0)
        assert layer[1].downsample is None
        if i:
            conv = layer[0].downsample[0]
            assert (conv.kernel_size, conv.stride) == ((1, 1), (2, 2))
            assert layer[0].conv1.stride == (2, 2)


def test_forward_shapes():
    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=7)
    model.eval()
    with minigrad.no_grad():
        assert model(minigrad.randn(2, 3, 32, 32)).shape == (2, 7)  # 32 -> 16 -> 8 -> 8, 4, 2, 1
        assert model(minigrad.randn(1, 3, 45, 37)).shape == (1, 7)  # odd sizes: adaptive pooling
    small = small_model()
    small.eval()
    with minigrad.no_grad():
        assert small(minigrad.randn(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.cpu_only  # host side only
def test_torchvision_initialisation(full):
    # kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (out_channels * k * k))
    w = full.layer4[1].conv2.weight.numpy()  # 512x512x3x3: 2.4M samples
    std = np.sqrt(2.0 / (512 * 9))
    assert abs(w.std() / std - 1) < 0.01
    assert abs(w.mean()) < 0.01 * std
    w = full.conv1.weight.numpy()
    assert abs(w.std() / np.sqrt(2.0 / (64 * 49)) - 1) < 0.05
    for name, m in full.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            assert np.all(m.weight.numpy() == 1) and np.all(m.bias.numpy() == 0), name
            assert np.all(m.running_mean.numpy() == 0) and np.all(m.running_var.numpy() == 1), name
    # fc keeps Linear's default: U(-1/sqrt(512), 1/sqrt(512))
    assert np.abs(full.fc.weight.numpy()).max() <= 1 / np.sqrt(512)
    assert full.fc.weight.numpy().std() > 0.8 / np.sqrt(3 * 512)


def test_basic_block_matches_its_formula():
    """y = relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)), written with F ops in eval mode."""
    minigrad.manual_seed(1)
    ds = nn.Sequential(nn.Conv2d(3, 4, 1, stride=2, bias=False), nn.BatchNorm2d(4))
    block = BasicBlock(3, 4, stride=2, downsample=ds)
    for bn in (block.bn1, block.bn2, ds[1]):  # non-trivial statistics and affine parameters
        bn.running_mean.data[...] = np.random.default_rng(0).normal(size=4)
        bn.running_var.data[...] = np.random.default_rng(1).uniform(0.5, 2, size=4)
        bn.weight.data[...] = np.random.default_rng(2).normal(size=4)
        bn.bias.data[...] = np.random.default_rng(3).normal(size=4)
    block.eval()
    x = minigrad.randn(2, 3, 6, 6)

    def bn(m, t):
        scale = m.weight.numpy() / np.sqrt(m.running_var.numpy() + m.eps)
        return (t - m.running_mean.numpy()[:, None, None]) * scale[:, None, None] + m.bias.numpy()[:, None, None]

    with minigrad.no_grad():
        h = np.maximum(bn(block.bn1, F.conv2d(x, block.conv1.weight, stride=2, padding=1).numpy()), 0)
        h = bn(block.bn2, F.conv2d(minigrad.tensor(h), block.conv2.weight, padding=1).numpy())
        short = bn(ds[1], F.conv2d(x, ds[0].weight, stride=2).numpy())
        expected = np.maximum(h + short, 0)
        out = block(x).numpy()
    assert out.shape == (2, 4, 3, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_basic_block_gradcheck_train_mode():
    minigrad.manual_seed(2)
    ds = nn.Sequential(nn.Conv2d(2, 3, 1, stride=2, bias=False), nn.BatchNorm2d(3))
    block = BasicBlock(2, 3, stride=2, downsample=ds).to(minigrad.float64)
    block.train()
    x = minigrad.randn(2, 2, 4, 4, dtype=minigrad.float64, requires_grad=True)
    w = block.conv2.weight
    assert minigrad.gradcheck(lambda x, w: block(x), (x, w))


def test_few_sgd_steps_reduce_loss_and_eval_is_deterministic():
    model = small_model()
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(4, 1, 8, 8)).astype(np.float32))
    y = minigrad.tensor(np.array([0, 3, 5, 9]))
    opt = nn.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, weight_decay=5e-4)
    model.train()
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(p.grad is not None for p in model.parameters())
    assert int(model.bn1.num_batches_tracked.item()) == 6
    model.eval()
    with minigrad.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
        first_two = model(x[:2]).numpy()
    np.testing.assert_array_equal(a, b)
    # eval mode uses running statistics: a sample's logits do not depend on its batch mates
    np.testing.assert_allclose(first_two, a[:2], rtol=1e-5, atol=1e-5)
    model.train()
    with minigrad.no_grad():
        assert not np.allclose(model(x[:2]).numpy(), a[:2], atol=1e-3)  # train mode: batch statistics


def test_state_dict_save_load_gives_identical_logits(tmp_path):
    model = small_model(seed=0)
    x = minigrad.randn(3, 1, 8, 8)
    model.train()
    with minigrad.no_grad():
        model(x)  # move the running statistics away from 0 / 1
    path = tmp_path / "resnet18.npz"
    nn.save(model.state_dict(), path)
    other = small_model(seed=1)
    with minigrad.no_grad():
        other.eval()
        before = other(x).numpy()
    other.load_state_dict(nn.load(path))
    model.eval()
    other.eval()
    with minigrad.no_grad():
        expected, got = model(x).numpy(), other(x).numpy()
    assert not np.allclose(before, expected)
    np.testing.assert_array_equal(got, expected)
    loaded = nn.load(path)
    assert list(loaded) == list(model.state_dict())


def test_load_state_dict_rejects_wrong_head():
    model = small_model()
    state = nn.models.resnet18(num_classes=5, in_channels=1, small_input=True).state_dict()
    with pytest.raises((KeyError, ValueError), match="fc.weight"):
        model.load_state_dict(state)
