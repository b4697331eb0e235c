"""Losses: forward against naive references written from the formulas (PyTorch's definitions,
including weighted means and label smoothing), float64 gradchecks for every differentiable input,
numerical stability, errors naming the op and the shapes, and the loss modules."""
import math
import warnings

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn

rng = np.random.default_rng(0)


def tensor(a, requires_grad=False):
    return minigrad.tensor(a, requires_grad=requires_grad)


# ------------------------------------------------------------------ naive references


def positions(target):
    """Every position of a (N, d1, ...) target as (n, rest) so that logits[(n, :) + rest] is its row."""
    for idx in np.ndindex(target.shape):
        yield idx, (idx[0], slice(None)) + idx[1:]


def naive_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's definition: l = (1-eps) w[t] (-log p_t) + eps/C sum_c w_c (-log p_c), 0 where ignored;
    'mean' divides the sum by the summed w[t] of the positions that are not ignored."""
    C = x.shape[1]
    w = np.ones(C) if weight is None else weight
    losses = np.zeros(target.shape)
    denom = 0.0
    for idx, row in positions(target):
        t = int(target[idx])
        if t == ignore_index:
            continue
        v = x[row]
        lse = max(v) + math.log(sum(math.exp(a - max(v)) for a in v))
        nll = w[t] * (lse - v[t])
        smooth = sum(w[c] * (lse - v[c]) for c in range(C))
        losses[idx] = (1 - smoothing) * nll + smoothing / C * smooth
        denom += w[t]
    if reduction == "none":
        return losses
    return losses.sum() / denom if reduction == "mean" else losses.sum()


def naive_nll(x, target, weight=None, ignore_index=-100, reduction="mean"):
    w = np.ones(x.shape[1]) if weight is None else weight
    losses = np.zeros(target.shape)
    denom = 0.0
    for idx, row in positions(target):
        t = int(target[idx])
        if t != ignore_index:
            losses[idx] = -w[t] * x[row][t]
            denom += w[t]
    if reduction == "none":
        return losses
    return losses.sum() / denom if reduction == "mean" else losses.sum()


def naive_cross_entropy_probs(x, q, weight=None, reduction="mean", smoothing=0.0):
    C = x.shape[1]
    w = np.ones(C) if weight is None else weight
    losses = np.zeros((x.shape[0],) + x.shape[2:])
    for idx, row in positions(losses):
        v = x[row]
        lse = max(v) + math.log(sum(math.exp(a - max(v)) for a in v))
        qs = [(1 - smoothing) * q[row][c] + smoothing / C for c in range(C)]
        losses[idx] = -sum(w[c] * qs[c] * (v[c] - lse) for c in range(C))
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()


def targets(shape, C, ignore=None):
    t = rng.integers(0, C, shape)
    if ignore is not None:
        t.reshape(-1)[::3] = ignore
    return t


# ------------------------------------------------------------------ cross_entropy forward


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 2), (2, 3, 2, 3), (1, 1)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_forward(shape, reduction, smoothing, weighted):
    x = rng.standard_normal(shape) * 2
    t = targets((shape[0],) + shape[2:], shape[1], ignore=-100 if shape[0] > 1 else None)
    w = rng.random(shape[1]) + 0.1 if weighted else None
    got = F.cross_entropy(tensor(x), tensor(t), None if w is None else tensor(w), reduction=reduction, label_smoothing=smoothing)
    expect = naive_cross_entropy(x, t, w, -100, reduction, smoothing)
    assert got.shape == np.shape(expect)
    np.testing.assert_allclose(got.numpy(), expect, rtol=1e-12, atol=1e-12)


def test_cross_entropy_custom_ignore_index_and_unbatched():
    x = rng.standard_normal((6, 4))
    t = np.array([0, 3, 2, 2, 1, 2])
    got = F.cross_entropy(tensor(x), tensor(t), ignore_index=2)
    np.testing.assert_allclose(got.numpy(), naive_cross_entropy(x, t, ignore_index=2), rtol=1e-12)
    one = F.cross_entropy(tensor(x[1]), tensor(np.array(3)), reduction="none")
    assert one.shape == ()
    np.testing.assert_allclose(one.numpy(), naive_cross_entropy(x[1:2], t[1:2], reduction="sum"), rtol=1e-12)


def test_cross_entropy_uint8_targets():
    x = rng.standard_normal((3, 4))
    t = np.array([1, 0, 3], dtype=np.uint8)
    np.testing.assert_allclose(F.cross_entropy(tensor(x), tensor(t)).numpy(), naive_cross_entropy(x, t.astype(np.int64)), rtol=1e-12)


def test_cross_entropy_all_ignored():
    x = tensor(rng.standard_normal((3, 4)))
    t = tensor(np.full(3, -100))
    assert math.isnan(F.cross_entropy(x, t).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def test_cross_entropy_large_logits_float32():
    x = np.array([[1e4, 0.0, -1e4], [-1e4, 1e4, 0.0], [3e4, 3e4, -3e4]], dtype=np.float32)
    logits = tensor(x, requires_grad=True)
    loss = F.cross_entropy(logits, tensor(np.array([0, 0, 1])), reduction="none", label_smoothing=0.1)
    assert loss.dtype == np.float32
    expect = naive_cross_entropy(x.astype(np.float64), np.array([0, 0, 1]), reduction="none", smoothing=0.1)
    np.testing.assert_allclose(loss.numpy(), expect, rtol=1e-6)
    loss.sum().backward()
    assert logits.grad.dtype == np.float32
    assert np.isfinite(logits.grad.numpy()).all()
    # dl/dx = softmax(x) - 0.9 onehot(t) - 0.1/3; softmax is one-hot on rows 0 and 1, (1/2, 1/2, 0) on row 2
    p = np.array([[1.0, 0, 0], [0, 1, 0], [0.5, 0.5, 0]])
    expect_grad = p - 0.9 * np.eye(3)[[0, 0, 1]] - 0.1 / 3
    np.testing.assert_allclose(logits.grad.numpy(), expect_grad, atol=1e-6)


def test_cross_entropy_keeps_float32():
    logits = tensor(rng.standard_normal((8, 10)).astype(np.float32), requires_grad=True)
    w = tensor(rng.random(10).astype(np.float32))
    loss = F.cross_entropy(logits, tensor(targets(8, 10)), w, label_smoothing=0.1)
    assert loss.dtype == np.float32 and loss.shape == ()
    loss.backward()
    assert logits.grad.dtype == np.float32


# ------------------------------------------------------------------ cross_entropy gradients


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_gradcheck_logits_and_weight(reduction, smoothing):
    x = tensor(rng.standard_normal((5, 4)), requires_grad=True)
    w = tensor(rng.random(4) + 0.2, requires_grad=True)
    t = tensor(np.array([0, 3, -100, 1, 3]))
    assert minigrad.gradcheck(
        lambda a, b, c: F.cross_entropy(a, b, c, reduction=reduction, label_smoothing=smoothing), (x, t, w)
    )


@pytest.mark.parametrize("offset", [-200.0, 500.0])
def test_cross_entropy_gradcheck_large_offset(offset):
    """Logits far from 0 take the max-subtracted path; the loss and gradients stay exact."""
    x = rng.standard_normal((4, 3))
    t = np.array([2, 0, -100, 1])
    w = rng.random(3) + 0.2
    got = F.cross_entropy(tensor(x + offset), tensor(t), tensor(w), label_smoothing=0.2)
    np.testing.assert_allclose(got.numpy(), naive_cross_entropy(x, t, w, smoothing=0.2), rtol=1e-9)
    args = (tensor(x + offset, True), tensor(t), tensor(w, True))
    assert minigrad.gradcheck(lambda a, b, c: F.cross_entropy(a, b, c, label_smoothing=0.2), args)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_gradcheck_spatial(reduction):
    x = tensor(rng.standard_normal((2, 3, 2, 2)), requires_grad=True)
    t = tensor(np.array([[[0, 2], [1, -1]], [[2, 2], [0, 1]]]))
    assert minigrad.gradcheck(
        lambda a: F.cross_entropy(a, t, ignore_index=-1, reduction=reduction, label_smoothing=0.1), (x,)
    )


def test_cross_entropy_gradcheck_unweighted_logits_only():
    x = tensor(rng.standard_normal((4, 6)), requires_grad=True)
    t = tensor(targets(4, 6))
    assert minigrad.gradcheck(lambda a: F.cross_entropy(a, t), (x,))


# ------------------------------------------------------------------ class-probability targets


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2)])
def test_cross_entropy_probability_targets(reduction, shape):
    x = rng.standard_normal(shape)
    q = rng.random(shape)
    q /= q.sum(axis=1, keepdims=True)
    w = rng.random(shape[1]) + 0.1
    got = F.cross_entropy(tensor(x), tensor(q), tensor(w), reduction=reduction, label_smoothing=0.2)
    np.testing.assert_allclose(got.numpy(), naive_cross_entropy_probs(x, q, w, reduction, 0.2), rtol=1e-12)
    args = (tensor(x, True), tensor(q, True), tensor(w, True))
    assert minigrad.gradcheck(lambda a, b, c: F.cross_entropy(a, b, c, reduction=reduction, label_smoothing=0.2), args)


# ------------------------------------------------------------------ cross_entropy / nll errors


def test_cross_entropy_errors():
    x = tensor(rng.standard_normal((4, 3)))
    with pytest.raises(TypeError, match=r"cross_entropy: expected target of dtype int64.*int32.*\(4, 3\).*\(4,\)"):
        F.cross_entropy(x, tensor(np.zeros(4, dtype=np.int32)))
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape \(4,\) for input of shape \(4, 3\), got \(5,\)"):
        F.cross_entropy(x, tensor(np.zeros(5, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"cross_entropy: a floating point target .* \(4, 3\), got \(4,\)"):
        F.cross_entropy(x, tensor(np.zeros(4)))
    with pytest.raises(IndexError, match="cross_entropy: target 3 is out of bounds for 3 classes"):
        F.cross_entropy(x, tensor(np.array([0, 1, 3, 0])))
    with pytest.raises(IndexError, match="cross_entropy: target -2 is out of bounds"):
        F.cross_entropy(x, tensor(np.array([0, 1, -2, 0])))
    with pytest.raises(ValueError, match=r"cross_entropy: 'weight' must have shape \(3,\)"):
        F.cross_entropy(x, tensor(np.zeros(4, dtype=np.int64)), weight=tensor(np.ones(4)))
    with pytest.raises(ValueError, match="cross_entropy: reduction must be"):
        F.cross_entropy(x, tensor(np.zeros(4, dtype=np.int64)), reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be between"):
        F.cross_entropy(x, tensor(np.zeros(4, dtype=np.int64)), label_smoothing=1.5)
    with pytest.raises(TypeError, match="cross_entropy: 'input' must be a floating point tensor"):
        F.cross_entropy(tensor(np.zeros((4, 3), dtype=np.int64)), tensor(np.zeros(4, dtype=np.int64)))


# ------------------------------------------------------------------ nll_loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3)])
def test_nll_loss(reduction, shape):
    x = rng.standard_normal(shape)
    t = targets((shape[0],) + shape[2:], shape[1], ignore=-100)
    w = rng.random(shape[1]) + 0.1
    got = F.nll_loss(tensor(x), tensor(t), tensor(w), reduction=reduction)
    np.testing.assert_allclose(got.numpy(), naive_nll(x, t, w, -100, reduction), rtol=1e-12)
    args = (tensor(x, True), tensor(t), tensor(w, True))
    assert minigrad.gradcheck(lambda a, b, c: F.nll_loss(a, b, c, reduction=reduction), args)


def test_nll_loss_of_log_softmax_is_cross_entropy():
    x = tensor(rng.standard_normal((6, 5)))
    t = tensor(targets(6, 5))
    np.testing.assert_allclose(F.nll_loss(F.log_softmax(x, 1), t).numpy(), F.cross_entropy(x, t).numpy(), rtol=1e-12)


def test_nll_loss_errors():
    x = tensor(rng.standard_normal((2, 3, 4)))
    with pytest.raises(ValueError, match=r"nll_loss: expected target of shape \(2, 4\) for input of shape \(2, 3, 4\), got \(2, 3\)"):
        F.nll_loss(x, tensor(np.zeros((2, 3), dtype=np.int64)))
    with pytest.raises(TypeError, match="nll_loss: expected target of dtype int64"):
        F.nll_loss(x, tensor(np.zeros((2, 4))))
    with pytest.raises(IndexError, match="nll_loss: target 7 is out of bounds for 3 classes"):
        F.nll_loss(x, tensor(np.full((2, 4), 7)))


# ------------------------------------------------------------------ mse / l1


@pytest.mark.parametrize("kind", ["mse", "l1"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 1, 3)])
def test_mse_l1(kind, reduction, shape):
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    per = [(u - v) ** 2 if kind == "mse" else abs(u - v) for u, v in zip(a.reshape(-1), b.reshape(-1))]
    expect = {"none": np.reshape(per, shape), "sum": sum(per), "mean": sum(per) / len(per)}[reduction]
    fn = F.mse_loss if kind == "mse" else F.l1_loss
    np.testing.assert_allclose(fn(tensor(a), tensor(b), reduction=reduction).numpy(), expect, rtol=1e-12)
    # |a - b| >= 0.1 keeps the finite differences of l1 away from its kink
    b = np.where(abs(a - b) < 0.1, a + 0.5, b)
    assert minigrad.gradcheck(lambda u, v: fn(u, v, reduction=reduction), (tensor(a, True), tensor(b, True)))


def test_mse_broadcast_warns_and_reduces_gradient():
    a = tensor(rng.standard_normal((3, 4)), True)
    b = tensor(rng.standard_normal((4,)), True)
    with pytest.warns(UserWarning, match=r"mse_loss: target size \(4,\) differs from input size \(3, 4\)"):
        loss = F.mse_loss(a, b)
    np.testing.assert_allclose(loss.numpy(), ((a.numpy() - b.numpy()) ** 2).mean(), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert minigrad.gradcheck(lambda u, v: F.mse_loss(u, v), (a, b))


def test_mse_l1_errors_and_dtype():
    with pytest.raises(ValueError, match=r"mse_loss: input \(3, 4\) and target \(3,\) do not broadcast"):
        F.mse_loss(tensor(np.zeros((3, 4))), tensor(np.zeros(3)))
    with pytest.raises(TypeError, match="l1_loss: 'target' must be a floating point tensor"):
        F.l1_loss(tensor(np.zeros(3)), tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(ValueError, match="l1_loss: reduction must be"):
        F.l1_loss(tensor(np.zeros(3)), tensor(np.zeros(3)), reduction="mea")
    x = tensor(np.ones(3, dtype=np.float32))
    assert F.mse_loss(x, x * 2).dtype == np.float32


# ------------------------------------------------------------------ binary_cross_entropy_with_logits


def naive_bce(x, t, w=None, pw=None, reduction="mean"):
    w = np.ones_like(x) if w is None else np.broadcast_to(w, x.shape)
    pw = np.ones_like(x) if pw is None else np.broadcast_to(pw, x.shape)
    per = np.empty_like(x)
    for i in np.ndindex(x.shape):
        s = 1 / (1 + math.exp(-x[i]))
        per[i] = -w[i] * (pw[i] * t[i] * math.log(s) + (1 - t[i]) * math.log(1 - s))
    return {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_with_logits(reduction, weighted):
    x = rng.standard_normal((4, 3)) * 3
    t = rng.random((4, 3))
    w = rng.random((4, 1)) + 0.1 if weighted else None
    pw = rng.random(3) * 3 if weighted else None
    got = F.binary_cross_entropy_with_logits(
        tensor(x), tensor(t), None if w is None else tensor(w), reduction=reduction, pos_weight=None if pw is None else tensor(pw)
    )
    np.testing.assert_allclose(got.numpy(), naive_bce(x, t, w, pw, reduction), rtol=1e-12)


def test_bce_with_logits_gradcheck_every_input():
    args = (
        tensor(rng.standard_normal((3, 2)) * 2, True),
        tensor(rng.random((3, 2)), True),
        tensor(rng.random((3, 1)) + 0.1, True),
        tensor(rng.random(2) * 2, True),
    )
    for reduction in ("mean", "none"):
        assert minigrad.gradcheck(
            lambda a, b, c, d: F.binary_cross_entropy_with_logits(a, b, c, reduction=reduction, pos_weight=d), args
        )


def test_bce_with_logits_large_logits():
    x = tensor(np.array([100.0, -100.0, 800.0, -800.0], dtype=np.float32), True)
    t = tensor(np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [0.0, 0.0, 800.0, 800.0], atol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 1.0, -1.0], atol=1e-6)


def test_bce_with_logits_errors():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target size \(3,\) must be the same as input size \(3, 2\)"):
        F.binary_cross_entropy_with_logits(tensor(np.zeros((3, 2))), tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: 'pos_weight' of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(tensor(np.zeros((3, 2))), tensor(np.zeros((3, 2))), pos_weight=tensor(np.ones(3)))


# ------------------------------------------------------------------ modules


def test_cross_entropy_loss_module():
    w = tensor(rng.random(4) + 0.1)
    crit = nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1)
    x = rng.standard_normal((5, 4))
    t = np.array([0, 1, 2, 3, 1])
    np.testing.assert_allclose(crit(tensor(x), tensor(t)).numpy(), naive_cross_entropy(x, t, w.numpy(), 1, "mean", 0.1), rtol=1e-12)
    assert list(crit.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    assert nn.CrossEntropyLoss(reduction="sum").reduction == "sum"
    assert nn.CrossEntropyLoss(size_average=False).reduction == "sum"
    assert nn.MSELoss(reduce=False).reduction == "none"


def test_regression_loss_modules():
    a, b = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(nn.MSELoss()(tensor(a), tensor(b)).numpy(), ((a - b) ** 2).mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.L1Loss(reduction="sum")(tensor(a), tensor(b)).numpy(), abs(a - b).sum(), rtol=1e-12)
    t = rng.random((3, 2))
    np.testing.assert_allclose(nn.BCEWithLogitsLoss()(tensor(a), tensor(t)).numpy(), naive_bce(a, t), rtol=1e-12)
    x = tensor(rng.standard_normal((3, 4)))
    t = tensor(targets(3, 4))
    np.testing.assert_allclose(nn.NLLLoss()(F.log_softmax(x, 1), t).numpy(), F.cross_entropy(x, t).numpy(), rtol=1e-12)
