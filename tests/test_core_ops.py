"""Core Tensor ops: forward against NumPy, backward with float64 gradcheck (broadcasting, size-1, 0-d)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import gradcheck


def t64(*shape, positive=False, seed=0):
    rng = np.random.default_rng(seed + sum(shape) * 7 + len(shape))
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return mg.tensor(a, requires_grad=True)


BINARY_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((1,), (5,)), ((2, 3), ())]


@pytest.mark.parametrize("sa,sb", BINARY_SHAPES)
@pytest.mark.parametrize(
    "op,ref",
    [
        (lambda a, b: a + b, np.add),
        (lambda a, b: a - b, np.subtract),
        (lambda a, b: a * b, np.multiply),
        (lambda a, b: a / b, np.divide),
        (lambda a, b: mg.maximum(a, b), np.maximum),
        (lambda a, b: mg.minimum(a, b), np.minimum),
    ],
)
def test_binary_broadcast(op, ref, sa, sb):
    a, b = t64(*sa), t64(*sb, positive=True, seed=1)
    out = op(a, b)
    np.testing.assert_allclose(out.numpy(), ref(a.numpy(), b.numpy()))
    assert out.shape == np.broadcast_shapes(sa, sb)
    assert gradcheck(op, (a, b))


def test_pow_variants():
    a, b = t64(3, 4, positive=True), t64(4, positive=True, seed=2)
    np.testing.assert_allclose((a**b).numpy(), a.numpy() ** b.numpy())
    assert gradcheck(lambda x, y: x**y, (a, b))
    assert gradcheck(lambda x: x**3, (t64(2, 3),))
    assert gradcheck(lambda x: x**0.5, (a,))
    assert gradcheck(lambda x: 2.0**x, (t64(2, 3),))
    np.testing.assert_allclose((2.0 ** a).numpy(), 2.0 ** a.numpy())


@pytest.mark.parametrize("shape", [(), (1,), (3, 4), (2, 3, 1)])
@pytest.mark.parametrize(
    "name,ref,positive",
    [
        ("exp", np.exp, False), ("log", np.log, True), ("sqrt", np.sqrt, True), ("abs", np.abs, False),
        ("sin", np.sin, False), ("cos", np.cos, False), ("tanh", np.tanh, False),
        ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), False), ("relu", lambda x: np.maximum(x, 0), False),
    ],
)
def test_unary(name, ref, positive, shape):
    x = t64(*shape, positive=positive)
    out = getattr(x, name)()
    np.testing.assert_allclose(out.numpy(), ref(x.numpy()), rtol=1e-12)
    np.testing.assert_allclose(getattr(mg, name)(x).numpy(), out.numpy())
    assert gradcheck(lambda t: getattr(t, name)(), (x,))


def test_neg_clamp_sigmoid_extremes():
    x = t64(3, 5)
    assert gradcheck(lambda t: -t, (x,))
    np.testing.assert_allclose(x.clamp(-0.5, 0.3).numpy(), np.clip(x.numpy(), -0.5, 0.3))
    assert gradcheck(lambda t: t.clamp(min=-0.5, max=0.3), (x,))
    assert gradcheck(lambda t: t.clamp(min=0.1), (x,))
    big = mg.tensor([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(big.sigmoid().numpy(), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clamp"):
        x.clamp()


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False), ((0, 2), True), ((0, 2), False)])
def test_reductions(dim, keepdim):
    x = t64(3, 4, 2)
    npdim = dim if not isinstance(dim, tuple) else tuple(dim)
    np.testing.assert_allclose(x.sum(dim, keepdim).numpy(), x.numpy().sum(axis=npdim, keepdims=keepdim))
    np.testing.assert_allclose(x.mean(dim, keepdim).numpy(), x.numpy().mean(axis=npdim, keepdims=keepdim))
    np.testing.assert_allclose(x.var(dim, True, keepdim).numpy(), x.numpy().var(axis=npdim, ddof=1, keepdims=keepdim))
    np.testing.assert_allclose(x.std(dim, False, keepdim).numpy(), x.numpy().std(axis=npdim, keepdims=keepdim))
    assert gradcheck(lambda t: t.sum(dim, keepdim), (x,))
    assert gradcheck(lambda t: t.mean(dim, keepdim), (x,))
    assert gradcheck(lambda t: t.var(dim, True, keepdim), (x,))
    assert gradcheck(lambda t: t.std(dim, False, keepdim), (x,))


def test_reduction_of_0d_and_size1():
    s = t64()
    assert gradcheck(lambda t: t.sum(), (s,))
    one = t64(1, 1)
    assert gradcheck(lambda t: t.mean(0), (one,))
    assert one.sum(dim=1, keepdim=True).shape == (1, 1)


def test_max_min_with_dim_and_ties():
    x = mg.tensor([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]], dtype=mg.float64, requires_grad=True)
    v, i = x.max(dim=1)
    np.testing.assert_array_equal(v.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(i.numpy(), [1, 0])  # first max wins
    v.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()  # full reduction: ties share the gradient evenly
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [0.5, 0, 0.5]])
    vals = x.min(dim=0, keepdim=True)
    assert vals.values.shape == (1, 3) and vals.indices.numpy().tolist() == [[0, 1, 0]]
    y = t64(3, 4, 5)
    assert gradcheck(lambda t: t.max(dim=2)[0], (y,))
    assert gradcheck(lambda t: t.min(dim=0, keepdim=True)[0], (y,))
    assert gradcheck(lambda t: t.max(), (y,))
    assert x.argmax().item() == 3 and x.argmin(dim=1).tolist() == [0, 1]


def test_matmul_shapes():
    cases = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (5, 4, 2))]
    for sa, sb in cases:
        a, b = t64(*sa), t64(*sb, seed=3)
        np.testing.assert_allclose((a @ b).numpy(), a.numpy() @ b.numpy())
        assert gradcheck(lambda x, y: x @ y, (a, b)), (sa, sb)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3, 4\) and \(5, 2\)"):
        t64(3, 4) @ t64(5, 2)


def test_shape_ops():
    x = t64(2, 3, 4)
    assert gradcheck(lambda t: t.reshape(4, -1), (x,))
    assert gradcheck(lambda t: t.view(6, 4), (x,))
    assert gradcheck(lambda t: t.transpose(0, 2), (x,))
    assert gradcheck(lambda t: t.permute(2, 0, 1), (x,))
    assert gradcheck(lambda t: t.flatten(1), (x,))
    assert gradcheck(lambda t: t.unsqueeze(1).squeeze(1), (x,))
    assert gradcheck(lambda t: t.T, (x,))
    assert gradcheck(lambda t: t[:, :1].expand(2, 3, 4), (x,))
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), x.numpy().transpose(2, 0, 1))
    assert x.flatten().shape == (24,) and x.flatten(0, 1).shape == (6, 4)
    assert x[:, :1].squeeze().shape == (2, 4) and x.unsqueeze(-1).shape == (2, 3, 4, 1)
    with pytest.raises(ValueError, match="reshape"):
        x.reshape(5, 5)
    with pytest.raises(IndexError, match="transpose"):
        x.transpose(0, 3)


def test_getitem_gradients_accumulate():
    x = t64(5, 3)
    idx = np.array([0, 2, 2, 4, 2])
    y = x[idx]
    np.testing.assert_array_equal(y.numpy(), x.numpy()[idx])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:, 0], [1, 0, 3, 0, 1])
    for index in [1, (slice(1, 4), 2), (None, Ellipsis, 1), mg.tensor([4, 4, 0]), ([0, 0], [1, 1]), x.detach() > 0]:
        assert gradcheck(lambda t: t[index], (x,))


def test_cat_stack_where():
    a, b = t64(2, 3), t64(2, 2, seed=5)
    np.testing.assert_array_equal(mg.cat([a, b], dim=1).numpy(), np.concatenate([a.numpy(), b.numpy()], 1))
    assert gradcheck(lambda x, y: mg.cat([x, y], dim=-1), (a, b))
    c = t64(2, 3, seed=6)
    np.testing.assert_array_equal(mg.stack([a, c], dim=1).numpy(), np.stack([a.numpy(), c.numpy()], 1))
    assert gradcheck(lambda x, y: mg.stack([x, y]), (a, c))
    cond = a.detach() > 0
    assert gradcheck(lambda x, y: mg.where(cond, x, y), (a, c))
    assert gradcheck(lambda x: mg.where(cond, x, 0.0), (a,))
    with pytest.raises(ValueError, match="cat"):
        mg.cat([a, t64(3, 3)], dim=1)
    with pytest.raises(ValueError, match="stack"):
        mg.stack([a, b])


def test_comparisons_have_no_grad():
    x = t64(3)
    for r in (x < 0, x <= 0, x > 0, x >= 0, x == 0, x != 0):
        assert r.dtype == np.bool_ and not r.requires_grad and r.grad_fn is None


def test_softmax_methods():
    x = t64(3, 5)
    e = np.exp(x.numpy() - x.numpy().max(1, keepdims=True))
    np.testing.assert_allclose(x.softmax(1).numpy(), e / e.sum(1, keepdims=True))
    np.testing.assert_allclose(x.log_softmax(-1).numpy(), np.log(e / e.sum(1, keepdims=True)))
    assert gradcheck(lambda t: t.softmax(0), (x,))
    assert gradcheck(lambda t: t.log_softmax(1), (x,))
    big = mg.tensor([[1e4, 0.0, -1e4]])
    assert np.isfinite(big.log_softmax(1).numpy()).all()
