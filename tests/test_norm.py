"""Normalization: batch, layer, group and instance norm (functional and nn layers).

Forward against naive float64 loops written from the formulas; float64 gradcheck of input, weight
and bias in training and eval; running statistics after several steps against values computed
here by hand; train/eval switching through Module.train()/eval(); errors."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
import nn
from minigrad import gradcheck

EPS = 1e-5


def arr(*shape, seed=0, scale=1.0, offset=0.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale + offset


def t64(a, grad=True):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ------------------------------------------------------------------ naive references (float64 loops)


def ref_normalize(values, eps=EPS):
    """(values - mean) / sqrt(biased var + eps) of one group of values."""
    mean = values.sum() / values.size
    var = ((values - mean) ** 2).sum() / values.size
    return (values - mean) / np.sqrt(var + eps)


def ref_batch_norm(x, w=None, b=None, eps=EPS):
    y = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        y[:, c] = ref_normalize(x[:, c].astype(np.float64), eps)
        y[:, c] = y[:, c] * (1.0 if w is None else w[c]) + (0.0 if b is None else b[c])
    return y


def ref_affine_running(x, rm, rv, w=None, b=None, eps=EPS):
    y = np.empty_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        y[:, c] = (x[:, c] - rm[c]) / np.sqrt(rv[c] + eps) * (1.0 if w is None else w[c]) + (0.0 if b is None else b[c])
    return y


def ref_group_norm(x, groups, w=None, b=None, eps=EPS):
    n, c = x.shape[:2]
    per = c // groups
    y = np.empty_like(x, dtype=np.float64)
    for i in range(n):
        for g in range(groups):
            y[i, g * per:(g + 1) * per] = ref_normalize(x[i, g * per:(g + 1) * per].astype(np.float64), eps)
        for ch in range(c):
            y[i, ch] = y[i, ch] * (1.0 if w is None else w[ch]) + (0.0 if b is None else b[ch])
    return y


def ref_layer_norm(x, ndims, w=None, b=None, eps=EPS):
    lead = x.shape[:x.ndim - ndims]
    y = np.empty_like(x, dtype=np.float64)
    for idx in np.ndindex(*lead):
        y[idx] = ref_normalize(x[idx].astype(np.float64), eps)
        if w is not None:
            y[idx] = y[idx] * w
        if b is not None:
            y[idx] = y[idx] + b
    return y


def batch_stats(x):
    """Per-channel mean and UNBIASED variance over all axes but 1, by loops."""
    means, variances = [], []
    for c in range(x.shape[1]):
        v = x[:, c].ravel().astype(np.float64)
        mean = v.sum() / v.size
        means.append(mean)
        variances.append(((v - mean) ** 2).sum() / (v.size - 1))
    return np.array(means), np.array(variances)


# ------------------------------------------------------------------ forward against the references

BN_SHAPES = [(4, 3), (5, 3, 7), (4, 3, 5, 6), (2, 4, 1, 1), (2, 3, 1), (16, 2, 2, 3)]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_forward(shape, affine):
    c = shape[1]
    x = arr(*shape, seed=1, scale=2.0, offset=0.5).astype(np.float32)
    w = arr(c, seed=2).astype(np.float32) if affine else None
    b = arr(c, seed=3).astype(np.float32) if affine else None
    y = F.batch_norm(mg.tensor(x), None, None, w if w is None else mg.tensor(w), b if b is None else mg.tensor(b),
                     training=True)
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y.numpy(), ref_batch_norm(x, w, b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (3, 3, 2, 4)])
def test_batch_norm_eval_forward(shape):
    c = shape[1]
    x = arr(*shape, seed=4).astype(np.float32)
    rm, rv = arr(c, seed=5).astype(np.float32), (np.abs(arr(c, seed=6)) + 0.2).astype(np.float32)
    w, b = arr(c, seed=7).astype(np.float32), arr(c, seed=8).astype(np.float32)
    y = F.batch_norm(mg.tensor(x), mg.tensor(rm), mg.tensor(rv), mg.tensor(w), mg.tensor(b), training=False)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref_affine_running(x, rm, rv, w, b), rtol=1e-4, atol=1e-5)
    y = F.batch_norm(mg.tensor(x), mg.tensor(rm), mg.tensor(rv))  # training=False is the default
    np.testing.assert_allclose(y.numpy(), ref_affine_running(x, rm, rv), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("offset", [1e3, -50.0])
def test_large_mean_float32_stays_accurate(offset):
    # mean**2 >> var: the one-pass variance would cancel; the op must switch to x - mean
    x = arr(8, 3, 4, 4, seed=9, scale=0.5, offset=offset).astype(np.float32)
    y = F.batch_norm(mg.tensor(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy(), ref_batch_norm(x), rtol=1e-4, atol=2e-4)
    y = F.group_norm(mg.tensor(x), 3)
    np.testing.assert_allclose(y.numpy(), ref_group_norm(x, 3), rtol=1e-4, atol=2e-4)
    y = F.layer_norm(mg.tensor(x), (4, 4))
    np.testing.assert_allclose(y.numpy(), ref_layer_norm(x, 2), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("offset", [0.5, 1e3])
def test_float32_gradients_match_float64(offset):
    # float64 gradients are verified by gradcheck below; float32 (incl. the x - mean path) follows them
    x = arr(6, 4, 3, 3, seed=9, scale=0.5, offset=offset)
    gy = arr(6, 4, 3, 3, seed=10)
    w, b = arr(4, seed=11), arr(4, seed=12)
    fns = [lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: F.group_norm(x, 2, w, b),
           lambda x, w, b: F.layer_norm(x, (3, 3))]
    for fn in fns:
        grads = {}
        for dtype in (np.float32, np.float64):
            ts = [mg.tensor(a.astype(dtype), requires_grad=True) for a in (x, w, b)]
            fn(*ts).backward(mg.tensor(gy.astype(dtype)))
            grads[dtype] = [t.grad.numpy() for t in ts if t.grad is not None]
        for g32, g64 in zip(grads[np.float32], grads[np.float64]):
            np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-3 * np.abs(g64).max())


@pytest.mark.parametrize(
    "shape,groups", [((2, 6, 3, 4), 3), ((3, 4, 5), 1), ((2, 4, 2, 2), 4), ((3, 6), 2), ((1, 8, 3, 3), 2)]
)
def test_group_norm_forward(shape, groups):
    c = shape[1]
    x = arr(*shape, seed=10, scale=1.5, offset=-0.3).astype(np.float32)
    w, b = arr(c, seed=11).astype(np.float32), arr(c, seed=12).astype(np.float32)
    y = F.group_norm(mg.tensor(x), groups, mg.tensor(w), mg.tensor(b))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref_group_norm(x, groups, w, b), rtol=1e-4, atol=1e-5)
    y = F.group_norm(mg.tensor(x), groups)
    np.testing.assert_allclose(y.numpy(), ref_group_norm(x, groups), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 2, 6), (1, 4, 2, 2)])
def test_instance_norm_forward(shape):
    c = shape[1]
    x = arr(*shape, seed=13, scale=2.0, offset=1.0).astype(np.float32)
    w, b = arr(c, seed=14).astype(np.float32), arr(c, seed=15).astype(np.float32)
    y = F.instance_norm(mg.tensor(x), weight=mg.tensor(w), bias=mg.tensor(b))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref_group_norm(x, c, w, b), rtol=1e-4, atol=1e-5)
    # use_input_stats=False normalises with the running statistics
    rm, rv = arr(c, seed=16).astype(np.float32), (np.abs(arr(c, seed=17)) + 0.3).astype(np.float32)
    y = F.instance_norm(mg.tensor(x), mg.tensor(rm), mg.tensor(rv), mg.tensor(w), mg.tensor(b), use_input_stats=False)
    np.testing.assert_allclose(y.numpy(), ref_affine_running(x, rm, rv, w, b), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "shape,normalized", [((4, 6), 6), ((2, 3, 5), (5,)), ((2, 3, 4), (3, 4)), ((5,), 5), ((3, 1), 1)]
)
def test_layer_norm_forward(shape, normalized):
    nshape = (normalized,) if isinstance(normalized, int) else normalized
    x = arr(*shape, seed=18, scale=3.0, offset=2.0).astype(np.float32)
    w, b = arr(*nshape, seed=19).astype(np.float32), arr(*nshape, seed=20).astype(np.float32)
    y = F.layer_norm(mg.tensor(x), normalized, mg.tensor(w), mg.tensor(b))
    assert y.dtype == np.float32 and y.shape == shape
    np.testing.assert_allclose(y.numpy(), ref_layer_norm(x, len(nshape), w, b), rtol=1e-4, atol=1e-5)
    y = F.layer_norm(mg.tensor(x), normalized, eps=0.1)
    np.testing.assert_allclose(y.numpy(), ref_layer_norm(x, len(nshape), eps=0.1), rtol=1e-4, atol=1e-5)


def test_float32_gradients_stay_float32():
    x = mg.tensor(arr(4, 3, 2, 2, seed=21).astype(np.float32), requires_grad=True)
    w = mg.tensor(np.ones(3, np.float32), requires_grad=True)
    b = mg.tensor(np.zeros(3, np.float32), requires_grad=True)
    for out in (F.batch_norm(x, None, None, w, b, training=True), F.group_norm(x, 3, w, b),
                F.instance_norm(x, weight=w, bias=b), F.layer_norm(x, (2, 2))):
        x.grad = w.grad = b.grad = None
        (out * out).sum().backward()
        assert out.dtype == np.float32 and x.grad.dtype == np.float32
        assert w.grad is None or w.grad.dtype == np.float32


# ------------------------------------------------------------------ gradients (float64 gradcheck)


@pytest.mark.parametrize("shape", [(3, 2), (2, 2, 3), (2, 2, 2, 2), (3, 2, 1, 1)])
@pytest.mark.parametrize("offset", [0.3, 40.0])  # 40: the x - mean path of large means
def test_batch_norm_train_gradcheck(shape, offset):
    c = shape[1]
    x, w, b = t64(arr(*shape, seed=22, offset=offset)), t64(arr(c, seed=23)), t64(arr(c, seed=24))
    rm, rv = t64(np.zeros(c), False), t64(np.ones(c), False)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True), (x, w, b))
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), (x,))


@pytest.mark.parametrize("shape", [(3, 2), (2, 2, 2, 2)])
def test_batch_norm_eval_gradcheck(shape):
    c = shape[1]
    x, w, b = t64(arr(*shape, seed=25)), t64(arr(c, seed=26)), t64(arr(c, seed=27))
    rm, rv = t64(arr(c, seed=28), False), t64(np.abs(arr(c, seed=29)) + 0.5, False)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), (x, w, b))
    assert gradcheck(lambda x: F.batch_norm(x, rm, rv, training=False), (x,))


def test_batch_norm_weight_grad_without_input_grad():
    x = t64(arr(3, 2, 2, seed=30), grad=False)
    w, b = t64(arr(2, seed=31)), t64(arr(2, seed=32))
    assert gradcheck(lambda w, b: F.batch_norm(x, None, None, w, b, training=True), (w, b))
    rm, rv = t64(np.zeros(2), False), t64(np.full(2, 2.0), False)
    assert gradcheck(lambda w, b: F.batch_norm(x, rm, rv, w, b), (w, b))


@pytest.mark.parametrize("shape,groups", [((2, 4, 2, 2), 2), ((2, 3, 3), 3), ((3, 4), 2), ((1, 2, 2, 3), 1)])
@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_group_norm_gradcheck(shape, groups, offset):
    c = shape[1]
    x, w, b = t64(arr(*shape, seed=33, offset=offset)), t64(arr(c, seed=34)), t64(arr(c, seed=35))
    assert gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b), (x, w, b))
    assert gradcheck(lambda x: F.group_norm(x, groups), (x,))
    x.requires_grad = False
    assert gradcheck(lambda w, b: F.group_norm(x, groups, w, b), (w, b))


@pytest.mark.parametrize("use_input_stats", [True, False])
def test_instance_norm_gradcheck(use_input_stats):
    x, w, b = t64(arr(2, 3, 2, 2, seed=36, offset=0.5)), t64(arr(3, seed=37)), t64(arr(3, seed=38))
    rm, rv = t64(arr(3, seed=39), False), t64(np.abs(arr(3, seed=40)) + 0.5, False)
    f = lambda x, w, b: F.instance_norm(x, rm, rv, w, b, use_input_stats=use_input_stats)  # noqa: E731
    assert gradcheck(f, (x, w, b))


@pytest.mark.parametrize("shape,normalized", [((3, 4), 4), ((2, 2, 3), (2, 3)), ((2, 3, 2), 2)])
@pytest.mark.parametrize("offset", [0.0, 30.0])
def test_layer_norm_gradcheck(shape, normalized, offset):
    nshape = (normalized,) if isinstance(normalized, int) else normalized
    x, w, b = t64(arr(*shape, seed=41, offset=offset)), t64(arr(*nshape, seed=42)), t64(arr(*nshape, seed=43))
    assert gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), (x, w, b))
    assert gradcheck(lambda x: F.layer_norm(x, normalized), (x,))
    x.requires_grad = False
    assert gradcheck(lambda w, b: F.layer_norm(x, normalized, w, b), (w, b))


# ------------------------------------------------------------------ running statistics


@pytest.mark.parametrize("momentum", [0.1, 0.3])
def test_batch_norm_running_stats_by_hand(momentum):
    c = 3
    rm, rv = mg.zeros(c), mg.ones(c)
    mean_array, var_array = rm.data, rv.data
    exp_mean, exp_var = np.zeros(c), np.ones(c)
    for step in range(4):
        x = arr(6, c, 2, 3, seed=50 + step, scale=1 + step, offset=step - 1.0).astype(np.float32)
        F.batch_norm(mg.tensor(x), rm, rv, training=True, momentum=momentum)
        batch_mean, batch_var = batch_stats(x)  # unbiased variance
        if momentum == 0.1:  # the textbook form: 0.9 * running + 0.1 * batch
            exp_mean, exp_var = 0.9 * exp_mean + 0.1 * batch_mean, 0.9 * exp_var + 0.1 * batch_var
        else:
            exp_mean = (1 - momentum) * exp_mean + momentum * batch_mean
            exp_var = (1 - momentum) * exp_var + momentum * batch_var
    np.testing.assert_allclose(rm.numpy(), exp_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), exp_var, rtol=1e-5, atol=1e-6)
    assert rm.data is mean_array and rv.data is var_array  # updated in place
    assert rm.dtype == np.float32
    # eval leaves them alone
    F.batch_norm(mg.tensor(arr(6, c, seed=60).astype(np.float32)), rm, rv, training=False)
    np.testing.assert_allclose(rm.numpy(), exp_mean, rtol=1e-5, atol=1e-6)


def test_batch_norm_module_cumulative_average_and_counter():
    bn = nn.BatchNorm1d(2, momentum=None)
    means, variances = [], []
    for step in range(5):
        x = arr(7, 2, 3, seed=70 + step, scale=0.5 + step, offset=2.0 * step).astype(np.float32)
        bn(mg.tensor(x))
        m, v = batch_stats(x)
        means.append(m)
        variances.append(v)
    assert bn.num_batches_tracked.item() == 5 and bn.num_batches_tracked.dtype == np.int64
    # momentum=None: the plain average of every batch's statistics (the initial 0 and 1 drop out)
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean(variances, axis=0), rtol=1e-5, atol=1e-6)


def test_batch_norm_module_exponential_average():
    bn = nn.BatchNorm2d(3)
    arrays = (bn.running_mean.data, bn.running_var.data)
    exp_mean, exp_var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = arr(4, 3, 2, 2, seed=80 + step, offset=step).astype(np.float32)
        bn(mg.tensor(x))
        m, v = batch_stats(x)
        exp_mean, exp_var = 0.9 * exp_mean + 0.1 * m, 0.9 * exp_var + 0.1 * v
    assert bn.running_mean.data is arrays[0] and bn.running_var.data is arrays[1]  # updated in place
    np.testing.assert_allclose(bn.running_mean.numpy(), exp_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), exp_var, rtol=1e-5, atol=1e-6)
    assert bn.num_batches_tracked.item() == 3


def test_instance_norm_running_stats_by_hand():
    rm, rv = mg.zeros(2), mg.ones(2)
    exp_mean, exp_var = np.zeros(2), np.ones(2)
    for step in range(3):
        x = arr(3, 2, 2, 3, seed=90 + step, offset=step).astype(np.float32)
        F.instance_norm(mg.tensor(x), rm, rv, momentum=0.2)
        inst_mean = np.array([[x[n, c].mean() for c in range(2)] for n in range(3)], dtype=np.float64)
        inst_var = np.array([[x[n, c].astype(np.float64).var(ddof=1) for c in range(2)] for n in range(3)])
        exp_mean = 0.8 * exp_mean + 0.2 * inst_mean.mean(axis=0)
        exp_var = 0.8 * exp_var + 0.2 * inst_var.mean(axis=0)
    np.testing.assert_allclose(rm.numpy(), exp_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv.numpy(), exp_var, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ modules: train / eval


def test_batch_norm_module_train_eval_switch():
    bn = nn.BatchNorm2d(3)
    model = nn.Sequential(bn)
    bn.weight.data[...] = np.array([1.0, 2.0, -1.0], np.float32)
    bn.bias.data[...] = np.array([0.0, 0.5, 1.0], np.float32)
    x = arr(5, 3, 2, 2, seed=100, scale=2.0, offset=1.0).astype(np.float32)
    w, b = bn.weight.numpy(), bn.bias.numpy()
    y = model(mg.tensor(x))  # modules start in training mode: batch statistics
    assert bn.training
    np.testing.assert_allclose(y.numpy(), ref_batch_norm(x, w, b), rtol=1e-4, atol=1e-5)
    model.eval()
    assert not bn.training
    rm, rv = bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()
    y = model(mg.tensor(x))
    np.testing.assert_allclose(y.numpy(), ref_affine_running(x, rm, rv, w, b), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.numpy(), rm)  # no update in eval
    assert bn.num_batches_tracked.item() == 1
    model.train()
    model(mg.tensor(x))
    assert bn.num_batches_tracked.item() == 2
    assert not np.allclose(bn.running_mean.numpy(), rm)


def test_batch_norm_module_eval_gradcheck():
    bn = nn.BatchNorm1d(2).double()
    bn.running_mean.data[...] = [0.5, -1.0]
    bn.running_var.data[...] = [2.0, 0.5]
    bn.eval()
    x = t64(arr(3, 2, 2, seed=101))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, bn.running_mean, bn.running_var, w, b, False, 0.1, bn.eps),
                     (x, bn.weight, bn.bias))
    assert gradcheck(lambda x: bn(x), (x,))


def test_batch_norm_module_without_running_stats_or_affine():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert bn.weight is None and bn.bias is None and bn.running_mean is None and bn.num_batches_tracked is None
    assert list(bn.parameters()) == [] and list(bn.state_dict()) == []
    x = arr(6, 3, seed=102).astype(np.float32)
    bn.eval()  # no running statistics: batch statistics even in eval
    np.testing.assert_allclose(bn(mg.tensor(x)).numpy(), ref_batch_norm(x), rtol=1e-4, atol=1e-5)


def test_batch_norm_modules_shapes_buffers_and_repr():
    bn1 = nn.BatchNorm1d(4)
    assert [n for n, _ in bn1.named_parameters()] == ["weight", "bias"]
    assert list(bn1.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    np.testing.assert_array_equal(bn1.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(bn1.running_var.numpy(), np.ones(4))
    assert bn1.running_mean.dtype == np.float32 and bn1.num_batches_tracked.dtype == np.int64
    x2 = arr(5, 4, seed=103).astype(np.float32)
    x3 = arr(5, 4, 6, seed=104).astype(np.float32)
    np.testing.assert_allclose(bn1(mg.tensor(x2)).numpy(), ref_batch_norm(x2), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn1(mg.tensor(x3)).numpy(), ref_batch_norm(x3), rtol=1e-4, atol=1e-5)
    assert repr(bn1) == "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    with pytest.raises(ValueError, match="BatchNorm1d.*4D"):
        bn1(mg.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="BatchNorm2d.*3D"):
        nn.BatchNorm2d(4)(mg.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="BatchNorm2d.*channels"):
        nn.BatchNorm2d(4)(mg.zeros(2, 3, 3, 3))


def test_layer_group_instance_modules():
    ln = nn.LayerNorm((2, 3))
    assert ln.weight.shape == (2, 3) and ln.bias.shape == (2, 3)
    assert repr(ln) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    x = arr(4, 2, 3, seed=105).astype(np.float32)
    np.testing.assert_allclose(ln(mg.tensor(x)).numpy(), ref_layer_norm(x, 2), rtol=1e-4, atol=1e-5)
    assert nn.LayerNorm(3, bias=False).bias is None
    assert list(nn.LayerNorm(3, elementwise_affine=False).parameters()) == []

    gn = nn.GroupNorm(2, 4)
    assert repr(gn) == "GroupNorm(2, 4, eps=1e-05, affine=True)"
    x = arr(3, 4, 2, 2, seed=106).astype(np.float32)
    np.testing.assert_allclose(gn(mg.tensor(x)).numpy(), ref_group_norm(x, 2), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="GroupNorm.*divisible"):
        nn.GroupNorm(3, 4)

    inorm = nn.InstanceNorm2d(4)
    assert list(inorm.parameters()) == [] and inorm.running_mean is None
    np.testing.assert_allclose(inorm(mg.tensor(x)).numpy(), ref_group_norm(x, 4), rtol=1e-4, atol=1e-5)
    y = inorm(mg.tensor(x[0]))  # unbatched (C, H, W)
    assert y.shape == (4, 2, 2)
    np.testing.assert_allclose(y.numpy(), ref_group_norm(x[:1], 4)[0], rtol=1e-4, atol=1e-5)
    assert repr(inorm) == "InstanceNorm2d(4, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)"
    with pytest.warns(UserWarning, match="InstanceNorm2d.*4 channels"):  # as PyTorch: no per-channel tensors
        inorm(mg.zeros(2, 3, 2, 2))
    with pytest.raises(ValueError, match="InstanceNorm2d.*4 channels"):
        nn.InstanceNorm2d(4, affine=True)(mg.zeros(2, 3, 2, 2))

    tracked = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
    tracked(mg.tensor(x))
    assert not np.allclose(tracked.running_mean.numpy(), 0)
    tracked.eval()  # running statistics in eval
    rm, rv = tracked.running_mean.numpy(), tracked.running_var.numpy()
    np.testing.assert_allclose(tracked(mg.tensor(x)).numpy(), ref_affine_running(x, rm, rv), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ errors


def test_errors():
    with pytest.raises(ValueError, match="batch_norm.*more than 1 value per channel.*\\(1, 3\\)"):
        F.batch_norm(mg.zeros(1, 3), None, None, training=True)
    with pytest.raises(ValueError, match="batch_norm.*more than 1 value per channel"):
        nn.BatchNorm2d(3)(mg.zeros(1, 3, 1, 1))
    F.batch_norm(mg.zeros(1, 3), mg.zeros(3), mg.ones(3), training=False)  # fine out of training
    with pytest.raises(ValueError, match="batch_norm.*running_mean.*\\(3,\\)"):
        F.batch_norm(mg.zeros(2, 3), mg.zeros(4), mg.ones(4), training=True)
    with pytest.raises(ValueError, match="batch_norm.*weight"):
        F.batch_norm(mg.zeros(2, 3), None, None, mg.ones(2), training=True)
    with pytest.raises(RuntimeError, match="batch_norm.*running_mean"):
        F.batch_norm(mg.zeros(2, 3), None, None, training=False)
    with pytest.raises(ValueError, match="batch_norm.*momentum=None"):
        F.batch_norm(mg.zeros(2, 3), mg.zeros(3), mg.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match="batch_norm.*shape"):
        F.batch_norm(mg.zeros(3), None, None, training=True)
    with pytest.raises(TypeError, match="batch_norm.*input"):
        F.batch_norm(np.zeros((2, 3)), None, None, training=True)
    with pytest.raises(ValueError, match="group_norm.*divisible by num_groups=4"):
        F.group_norm(mg.zeros(2, 6, 2, 2), 4)
    with pytest.raises(ValueError, match="group_norm.*weight"):
        F.group_norm(mg.zeros(2, 6, 2, 2), 3, mg.ones(3))
    with pytest.raises(ValueError, match="layer_norm.*normalized_shape"):
        F.layer_norm(mg.zeros(2, 3), (2,))
    with pytest.raises(ValueError, match="layer_norm.*weight"):
        F.layer_norm(mg.zeros(2, 3), 3, mg.ones(2))
    with pytest.raises(ValueError, match="instance_norm.*more than 1 spatial element"):
        F.instance_norm(mg.zeros(2, 3, 1, 1))
    with pytest.raises(ValueError, match="instance_norm.*use_input_stats=False"):
        F.instance_norm(mg.zeros(2, 3, 2, 2), use_input_stats=False)
    with pytest.raises(TypeError, match="layer_norm.*dtype"):
        F.layer_norm(mg.zeros(2, 3), 3, mg.ones(3, dtype=mg.float64))


def test_batch_norm_channels_last_memory_gives_same_results():
    """Convs return channels-last memory; BatchNorm keeps that layout and must compute the same."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 4, 5, 6))  # (N, H, W, C) memory
    x_cl = mg.tensor(base.transpose(0, 3, 1, 2), requires_grad=True)  # NCHW view of it
    x_c = mg.tensor(np.ascontiguousarray(base.transpose(0, 3, 1, 2)), requires_grad=True)
    w = mg.tensor(rng.standard_normal(6), requires_grad=True)
    b = mg.tensor(rng.standard_normal(6), requires_grad=True)
    gy = rng.standard_normal((3, 6, 4, 5))
    outs = []
    for x in (x_cl, x_c):
        for training in (True, False):
            rm, rv = mg.zeros(6, dtype=mg.float64), mg.ones(6, dtype=mg.float64)
            y = F.batch_norm(x, rm, rv, w, b, training=training)
            y.backward(mg.tensor(gy))
            outs.append((y.numpy(), x.grad.numpy(), rm.numpy()))
            x.grad = None
    for a, c in zip(outs[:2], outs[2:]):
        for u, v in zip(a, c):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ edge cases, both kernels


def test_wrong_argument_types_raise_instead_of_truncating():
    x = mg.zeros(2, 4, 3)
    with pytest.raises(TypeError, match="layer_norm.*normalized_shape.*2.7"):
        F.layer_norm(x, 2.7)
    with pytest.raises(TypeError, match="layer_norm.*normalized_shape"):
        F.layer_norm(x, (4, 3.0))
    with pytest.raises(TypeError, match="group_norm.*num_groups.*2.5"):
        F.group_norm(x, 2.5)
    with pytest.raises(TypeError, match="GroupNorm.*num_groups"):
        nn.GroupNorm(2.5, 4)
    with pytest.raises(TypeError, match="LayerNorm.*normalized_shape"):
        nn.LayerNorm(2.7)
    assert F.group_norm(x, np.int64(2)).shape == (2, 4, 3)  # NumPy integers are integers


EMPTY_CASES = [
    ("batch_norm train", (0, 3, 4, 4), lambda x, w, b: F.batch_norm(x, mg.zeros(3, dtype=x.dtype), mg.ones(3, dtype=x.dtype), w, b, training=True)),
    ("batch_norm eval", (0, 3, 4), lambda x, w, b: F.batch_norm(x, mg.zeros(3, dtype=x.dtype), mg.ones(3, dtype=x.dtype), w, b)),
    ("batch_norm 2d", (0, 3), lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
    ("group_norm", (0, 3, 2, 2), lambda x, w, b: F.group_norm(x, 3, w, b)),
    ("instance_norm", (0, 3, 2, 2), lambda x, w, b: F.instance_norm(x, mg.zeros(3, dtype=x.dtype), mg.ones(3, dtype=x.dtype), w, b)),
    ("layer_norm", (0, 5, 3), lambda x, w, b: F.layer_norm(x, 3, w[:3], b[:3])),
]


@pytest.mark.parametrize("name,shape,fn", EMPTY_CASES, ids=[c[0] for c in EMPTY_CASES])
def test_empty_batch_forward_and_backward(name, shape, fn):
    x = mg.tensor(np.zeros(shape), requires_grad=True)
    w, b = mg.tensor(arr(3, seed=1), requires_grad=True), mg.tensor(arr(3, seed=2), requires_grad=True)
    y = fn(x, w, b)
    assert y.shape == shape
    y.sum().backward()
    assert x.grad.shape == shape
    assert w.grad is not None and (w.grad.numpy() == 0).all() and (b.grad.numpy() == 0).all()


def test_empty_batch_layers_and_buffers():
    bn = nn.BatchNorm2d(3)
    y = bn(mg.zeros(0, 3, 4, 4))
    assert y.shape == (0, 3, 4, 4)
    np.testing.assert_array_equal(bn.running_mean.numpy(), np.zeros(3))  # no samples: no statistics
    np.testing.assert_array_equal(bn.running_var.numpy(), np.ones(3))
    inorm = nn.InstanceNorm2d(3, track_running_stats=True)
    assert inorm(mg.zeros(0, 3, 2, 2)).shape == (0, 3, 2, 2)
    np.testing.assert_array_equal(inorm.running_var.numpy(), np.ones(3))
    for layer, shape in ((nn.GroupNorm(2, 4), (0, 4, 3)), (nn.LayerNorm(4), (0, 4)), (nn.BatchNorm1d(4), (0, 4))):
        x = mg.zeros(*shape, requires_grad=True)
        layer(x).sum().backward()
        assert x.grad.shape == shape and (layer.weight.grad.numpy() == 0).all()


@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "instance_norm"])
def test_blocks_split_over_threads(monkeypatch, name):
    """One sample per block, blocks over both workers: the block loops of the fast kernels run on
    small inputs and agree with the loop references and gradcheck (incl. the cancellation path)."""
    from minigrad.kernels import threads
    from minigrad.ops import norm as ops

    monkeypatch.setattr(ops, "_BLOCK_BYTES", 1)
    monkeypatch.setattr(threads, "machine_busy", lambda: False)  # use the pool even on a busy machine
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    for offset in (0.3, 40.0):
        x = arr(5, 4, 3, 2, seed=30, offset=offset)
        w, b = arr(4, seed=31), arr(4, seed=32)
        if name == "layer_norm":
            fn = lambda x, w, b: F.layer_norm(x, (3, 2), w, b)  # noqa: E731
            w, b = arr(3, 2, seed=31), arr(3, 2, seed=32)
            exp = ref_layer_norm(x, 2, w, b)
        elif name == "group_norm":
            fn = lambda x, w, b: F.group_norm(x, 2, w, b)  # noqa: E731
            exp = ref_group_norm(x, 2, w, b)
        else:
            fn = lambda x, w, b: F.instance_norm(x, weight=w, bias=b)  # noqa: E731
            exp = ref_group_norm(x, 4, w, b)
        np.testing.assert_allclose(fn(t64(x), t64(w), t64(b)).numpy(), exp, rtol=1e-10, atol=1e-10)
        assert gradcheck(fn, (t64(x), t64(w), t64(b)))


@pytest.mark.parametrize("offset", [0.5, 300.0])
def test_fast_and_reference_agree_in_float32(offset):
    x = arr(6, 8, 4, 4, seed=40, offset=offset).astype(np.float32)
    gy = arr(6, 8, 4, 4, seed=41).astype(np.float32)
    w, b = arr(8, seed=42).astype(np.float32), arr(8, seed=43).astype(np.float32)
    fns = [lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: F.batch_norm(x, mg.zeros(8), mg.ones(8) * 2, w, b),
           lambda x, w, b: F.group_norm(x, 4, w, b),
           lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
           lambda x, w, b: F.layer_norm(x, (8, 4, 4))]
    for fn in fns:
        results = []
        for reference in (False, True):
            with mg.kernels.reference_kernels(reference):
                ts = [mg.tensor(a, requires_grad=True) for a in (x, w, b)]
                y = fn(*ts)
                y.backward(mg.tensor(gy))
                results.append([y.numpy()] + [t.grad.numpy() for t in ts if t.grad is not None])
        for fast, ref in zip(*results):
            assert fast.dtype == np.float32
            np.testing.assert_allclose(fast, ref, rtol=2e-3, atol=2e-3 * max(np.abs(ref).max(), 1))


AFFINE_CASES = [
    ("layer_norm", lambda x, w, b: F.layer_norm(x, (4, 6), w, b), (4, 6)),
    ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), (4,)),
    ("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b), (4,)),
]


@pytest.mark.parametrize("name,fn,param_shape", AFFINE_CASES, ids=[c[0] for c in AFFINE_CASES])
@pytest.mark.parametrize("offset", [0.5, 1e3])
@pytest.mark.parametrize("need", ["all", "weight_only", "input_only"])
def test_float32_affine_gradients_match_float64(monkeypatch, name, fn, param_shape, offset, need):
    """The float32 kernels (fast or reference, as the fixture says) against the float64 reference
    Functions, with w and b, incl. the x - mean (cancellation) path, for each set of wanted
    gradients; the layer norm's w and b are tiled over few rows (_TILE_VALUES patched small) so
    both the tiled rows and the rows left over run."""
    from minigrad.ops import norm as ops

    monkeypatch.setattr(ops, "_TILE_VALUES", 48)  # m = 24: two rows per tiled row
    x = arr(7, 4, 6, seed=50, scale=0.5, offset=offset)  # 7 rows: 3 tiled pairs and one left over
    gy = arr(7, 4, 6, seed=51)
    w, b = arr(*param_shape, seed=52), arr(*param_shape, seed=53)
    wants = {"all": (True, True, True), "weight_only": (False, True, False), "input_only": (True, False, False)}[need]
    grads = {}
    for dtype in (np.float32, np.float64):
        with mg.kernels.reference_kernels(dtype == np.float64 or mg.kernels.use_reference()):
            ts = [mg.tensor(a.astype(dtype), requires_grad=want) for a, want in zip((x, w, b), wants)]
            y = fn(*ts)
            y.backward(mg.tensor(gy.astype(dtype)))
        grads[dtype] = [y.numpy()] + [t.grad.numpy() for t, want in zip(ts, wants) if want]
    for g32, g64 in zip(grads[np.float32], grads[np.float64]):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-3 * np.abs(g64).max())


@pytest.mark.parametrize("name,fn,param_shape", AFFINE_CASES, ids=[c[0] for c in AFFINE_CASES])
def test_channels_last_and_strided_inputs(name, fn, param_shape):
    """Inputs whose memory is not in (N, C, ...) order (a channels-last view, a strided slice) give
    the same values and gradients as contiguous copies (the fast paths copy them to order)."""
    base = arr(3, 6, 5, 4, seed=54)  # (N, H, W, C) memory, viewed as (N, C, H, W) = (3, 4, 6, 5)
    views = [base.transpose(0, 3, 1, 2), arr(3, 4, 6, 10, seed=55)[..., ::2]]
    w, b = arr(*param_shape, seed=56), arr(*param_shape, seed=57)
    if name == "layer_norm":
        fn = lambda x, w, b: F.layer_norm(x, (6, 5), w, b)  # noqa: E731
        w, b = arr(6, 5, seed=56), arr(6, 5, seed=57)
    gy = arr(3, 4, 6, 5, seed=58)
    for view in views:
        results = []
        for x in (view, np.ascontiguousarray(view)):
            ts = [mg.tensor(x, requires_grad=True), t64(w), t64(b)]
            y = fn(*ts)
            y.backward(mg.tensor(gy))
            results.append([y.numpy()] + [t.grad.numpy() for t in ts])
        for got, exp in zip(*results):
            np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)


# Every test in this file runs twice: with the fast kernels (F's default) and the reference Functions.
@pytest.fixture(autouse=True, params=["fast", "reference"])
def kernels(request):
    with mg.kernels.reference_kernels(request.param == "reference"):
        yield request.param
