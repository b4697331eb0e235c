"""F.embedding (gather forward, scatter-add backward with repeated indices, padding_idx, max_norm,
errors) and nn.Embedding (init, padding row, from_pretrained); examples/embedding_study.py runs in
tests/test_examples.py."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import gradcheck
from minigrad.ops.embedding import sum_rows_by_index


def ref_embedding(idx, w):
    out = np.zeros(idx.shape + (w.shape[1],), dtype=w.dtype)
    for pos in np.ndindex(*idx.shape):
        out[pos] = w[idx[pos]]
    return out


def ref_weight_grad(idx, gy, num, padding_idx=None):
    """dW[r] = sum of gy at every position whose index is r, by a plain loop."""
    gw = np.zeros((num, gy.shape[-1]))
    for pos in np.ndindex(*idx.shape):
        if idx[pos] != padding_idx:
            gw[idx[pos]] += gy[pos]
    return gw


@pytest.mark.parametrize("idx_shape", [(5,), (2, 3), (2, 2, 4), (), (0,)])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_forward_matches_reference(idx_shape, dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 3)).astype(np.float32)
    idx = rng.integers(0, 7, idx_shape).astype(dtype)
    out = F.embedding(mg.tensor(idx), mg.tensor(w))
    assert out.shape == idx_shape + (3,)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), ref_embedding(idx, w))


def test_gradcheck_weight_with_repeats():
    idx = mg.tensor(np.array([[0, 2, 2], [4, 0, 2]]))
    w = mg.tensor(np.random.default_rng(1).standard_normal((5, 2)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding(idx, w), (w,))
    # (with padding_idx the gradient is zeroed on purpose: not a true derivative, tested below)


@pytest.mark.parametrize("num,n,dist", [(10, 12, "uniform"), (3, 200, "uniform"), (50, 400, "skewed"), (1, 30, "uniform")])
def test_repeated_indices_accumulate(num, n, dist):
    # 'skewed' and small vocabularies repeat an index far more than the fast path's rank passes,
    # so the reduceat branch runs too
    rng = np.random.default_rng(2)
    idx = rng.integers(0, num, (n,)) if dist == "uniform" else np.minimum(rng.geometric(0.15, n) - 1, num - 1)
    idx = idx.reshape(2, -1) if n % 2 == 0 else idx
    w = mg.tensor(rng.standard_normal((num, 4)), requires_grad=True)
    gy = rng.standard_normal(idx.shape + (4,))
    F.embedding(mg.tensor(idx), w).backward(mg.tensor(gy))
    np.testing.assert_allclose(w.grad.numpy(), ref_weight_grad(idx, gy, num), rtol=1e-12, atol=1e-12)


@pytest.mark.cpu_only  # host side only
def test_sum_rows_by_index_matches_add_at():
    # the three paths: few distinct indices (per-index sums), many distinct ones (rank passes),
    # and many distinct ones plus a very frequent one (rank passes, then the rest of its rows)
    rng = np.random.default_rng(3)
    frequent = rng.permutation(np.concatenate([np.arange(100), np.full(30, 7)]))
    for idx in [rng.integers(0, 4, 100), rng.integers(0, 100, 60), rng.integers(0, 7, 7), frequent]:
        num, n = 100, idx.size
        rows = rng.standard_normal((n, 3)).astype(np.float32)
        expected = np.zeros((num, 3), np.float32)
        np.add.at(expected, idx, rows)
        got = sum_rows_by_index(idx, rows, num)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding_idx,row", [(1, 1), (-1, 5)])
def test_padding_idx_row_gets_no_gradient(padding_idx, row):
    rng = np.random.default_rng(4)
    idx = np.array([[1, 5, 1, 0], [5, 5, 2, 1]])
    w = mg.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    gy = rng.standard_normal((2, 4, 3))
    out = F.embedding(mg.tensor(idx), w, padding_idx=padding_idx)
    np.testing.assert_array_equal(out.numpy(), ref_embedding(idx, w.numpy()))  # lookup is unchanged
    out.backward(mg.tensor(gy))
    np.testing.assert_array_equal(w.grad.numpy()[row], 0.0)
    np.testing.assert_allclose(w.grad.numpy(), ref_weight_grad(idx, gy, 6, padding_idx=row), rtol=1e-12)


def test_max_norm_renormalises_looked_up_rows_in_place():
    w0 = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0], [1.0, 0.0]], dtype=np.float32)
    w = mg.tensor(w0.copy(), requires_grad=True)
    out = F.embedding(mg.tensor(np.array([0, 1, 0, 3])), w, max_norm=2.0)
    expected = w0.copy()
    expected[0] *= 2.0 / (5.0 + 1e-7)  # norm 5 > 2: rescaled once although looked up twice
    # row 1 (norm 0.5) and row 3 (norm 1) are below max_norm; row 2 is not looked up
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(out.numpy(), expected[[0, 1, 0, 3]], rtol=1e-6)
    assert w.is_leaf and w.grad_fn is None
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[2, 2], [1, 1], [0, 0], [1, 1]])


def test_errors_name_op_index_and_shapes():
    w = mg.tensor(np.zeros((4, 3), np.float32))
    with pytest.raises(IndexError, match=r"embedding: index 4 .*\(4, 3\)"):
        F.embedding(mg.tensor(np.array([0, 4, 1])), w)
    with pytest.raises(IndexError, match=r"embedding: index -1 .*\(4, 3\)"):
        F.embedding(mg.tensor(np.array([[0, -1]])), w)
    with pytest.raises(TypeError, match=r"embedding: 'input' must hold integer indices.*float32.*\(2,\)"):
        F.embedding(mg.tensor(np.array([0.0, 1.0], np.float32)), w)
    with pytest.raises(TypeError, match=r"embedding: 'input'.*bool"):
        F.embedding(mg.tensor(np.array([True])), w)
    with pytest.raises(ValueError, match=r"embedding: 'weight' must be 2-D.*\(12,\)"):
        F.embedding(mg.tensor(np.array([0])), mg.tensor(np.zeros(12, np.float32)))
    with pytest.raises(ValueError, match=r"embedding: padding_idx 4 .*\(4, 3\)"):
        F.embedding(mg.tensor(np.array([0])), w, padding_idx=4)
    with pytest.raises(TypeError, match=r"embedding: argument 'input'"):
        F.embedding([0, 1], w)


# --------------------------------------------------------------------------- nn.Embedding


def test_module_init_padding_and_training():
    from nn import Embedding

    mg.manual_seed(0)
    emb = Embedding(1000, 16, padding_idx=3)
    w = emb.weight.numpy()
    assert w.shape == (1000, 16) and w.dtype == np.float32
    np.testing.assert_array_equal(w[3], 0.0)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # N(0, 1)
    assert [n for n, _ in emb.named_parameters()] == ["weight"]
    assert "1000, 16, padding_idx=3" in repr(emb)
    idx = mg.tensor(np.array([[3, 5], [5, 7]]))
    out = emb(idx)
    assert out.shape == (2, 2, 16)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    np.testing.assert_array_equal(g[3], 0.0)
    np.testing.assert_array_equal(g[5], 2.0)
    np.testing.assert_array_equal(g[7], 1.0)


def test_module_max_norm_and_negative_padding():
    from nn import Embedding

    emb = Embedding(5, 4, padding_idx=-1, max_norm=1.0)
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(emb.weight.numpy()[4], 0.0)
    out = emb(mg.tensor(np.array([0, 1, 2])))
    norms = np.linalg.norm(emb.weight.numpy()[:3], axis=1)
    assert (norms <= 1.0 + 1e-5).all()
    np.testing.assert_allclose(np.linalg.norm(out.numpy(), axis=1), norms, rtol=1e-6)
    with pytest.raises(ValueError, match="Embedding"):
        Embedding(5, 4, padding_idx=5)


def test_from_pretrained():
    from nn import Embedding

    table = mg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    emb = Embedding.from_pretrained(table)
    assert emb.weight.requires_grad is False
    assert (emb.num_embeddings, emb.embedding_dim) == (4, 3)
    np.testing.assert_array_equal(emb(mg.tensor(np.array([2]))).numpy(), [[6, 7, 8]])
    tuned = Embedding.from_pretrained(table, freeze=False, padding_idx=0)
    assert tuned.weight.requires_grad is True and tuned.padding_idx == 0
    np.testing.assert_array_equal(tuned.weight.numpy()[0], [0, 1, 2])  # the given row is kept
    tuned(mg.tensor(np.array([0, 1]))).sum().backward()
    np.testing.assert_array_equal(tuned.weight.grad.numpy()[0], 0.0)
    with pytest.raises(ValueError, match="from_pretrained.*2-D"):
        Embedding.from_pretrained(mg.tensor(np.zeros(3, np.float32)))


# Every test in this file runs twice: with the fast kernels (F's default) and the reference Function.
@pytest.fixture(autouse=True, params=["fast", "reference"])
def kernels(request):
    with mg.kernels.reference_kernels(request.param == "reference"):
        yield request.param
