"""PyTorch habits on tensors: the contract's extra methods and functions, each against a naive
reference written from its formula, with float64 gradchecks for the differentiable ones."""
import numpy as np
import pytest

import minigrad
from minigrad import gradcheck

rng = np.random.default_rng(0)


def t64(*shape, grad=True):
    return minigrad.tensor(rng.standard_normal(shape), dtype=minigrad.float64, requires_grad=grad)


# ---------------------------------------------------------------- creation and conversion

def test_from_numpy_shares_memory_and_as_tensor_avoids_copies():
    a = np.arange(6.0).reshape(2, 3)
    t = minigrad.from_numpy(a)
    assert t.dtype == np.float64 and t.shape == (2, 3)
    a[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t.data[1, 2] = -1.0
    assert a[1, 2] == -1.0
    with pytest.raises(TypeError, match="from_numpy: expected a numpy.ndarray"):
        minigrad.from_numpy([1, 2])
    assert minigrad.as_tensor(t) is t
    shared = minigrad.as_tensor(a)
    a[0, 1] = 7.0
    assert shared[0, 1].item() == 7.0
    assert minigrad.as_tensor([1, 2], dtype=minigrad.float).dtype == np.float32
    assert minigrad.as_tensor(a, dtype=minigrad.float32).dtype == np.float32


def test_dtype_aliases_device_and_generator():
    assert (minigrad.float, minigrad.double, minigrad.half, minigrad.long, minigrad.int) == (
        np.float32, np.float64, np.float16, np.int64, np.int32)
    d = minigrad.device("cpu")
    assert str(d) == "cpu" and d == "cpu" and d.type == "cpu" and d.index is None
    assert minigrad.device("cuda:1").index == 1 and minigrad.device("cuda", 1) == "cuda:1"
    with pytest.raises(ValueError, match="invalid device"):
        minigrad.device("tpu")
    x = minigrad.ones(2, device=d)
    assert x.to(d) is x and x.to(d, dtype=minigrad.float64, non_blocking=True).dtype == np.float64
    assert minigrad.zeros(2, device=d).device == "cpu"
    g1, g2 = minigrad.Generator().manual_seed(3), minigrad.Generator().manual_seed(3)
    assert minigrad.randperm(10, generator=g1).tolist() == minigrad.randperm(10, generator=g2).tolist()
    assert sorted(minigrad.randperm(10).tolist()) == list(range(10)) and minigrad.randperm(0).shape == (0,)


def test_size_type_and_contiguity():
    x = minigrad.zeros(2, 3)
    assert x.size() == (2, 3) and x.size(1) == 3 and x.numel() == 6 and x.dim() == 2
    assert x.type() == "minigrad.FloatTensor" and x.type(minigrad.long).dtype == np.int64
    assert x.half().dtype == np.float16
    xt = x.T
    assert x.is_contiguous() and not xt.is_contiguous()
    c = xt.contiguous()
    assert c.is_contiguous() and c.shape == (3, 2) and x.contiguous() is x


def test_view_of_incompatible_memory_raises_and_reshape_copies():
    x = minigrad.tensor(np.arange(6.0).reshape(2, 3))
    assert x.view(3, 2).shape == (3, 2) and x.view(-1).shape == (6,)
    with pytest.raises(RuntimeError, match="view size is not compatible.*Use .reshape"):
        x.T.view(6)
    assert x.T.reshape(6).tolist() == [0, 3, 1, 4, 2, 5]
    assert minigrad.zeros(0, 3).T.view(0).shape == (0,)


@pytest.mark.parametrize("bad", [None, "abc", [[1, 2], [3]], ["a", 1]])
def test_tensor_of_non_numbers_raises_type_error(bad):
    with pytest.raises(TypeError, match="tensor"):
        minigrad.tensor(bad)


def test_linspace_allclose_unique_isnan():
    assert np.allclose(minigrad.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert minigrad.linspace(0, 1, 5).dtype == np.float32 and minigrad.linspace(2, 3, 0).shape == (0,)
    assert minigrad.allclose(minigrad.ones(3), minigrad.ones(3) + 1e-9)
    assert not minigrad.allclose(minigrad.ones(3), minigrad.ones(3) * 1.1)
    values, inverse, counts = minigrad.unique(minigrad.tensor([3, 1, 3, 2, 1, 3]), return_inverse=True,
                                              return_counts=True)
    assert values.tolist() == [1, 2, 3] and counts.tolist() == [2, 1, 3]
    assert values.numpy()[inverse.numpy()].tolist() == [3, 1, 3, 2, 1, 3]
    x = minigrad.tensor([1.0, float("nan"), float("inf"), -float("inf")])
    assert x.isnan().tolist() == [False, True, False, False]
    assert x.isinf().tolist() == [False, False, True, True]
    assert minigrad.isfinite(x).tolist() == [True, False, False, False]


# ---------------------------------------------------------------- shape and selection

@pytest.mark.parametrize("shape,sizes", [((2, 3), (2, 1)), ((3,), (2, 2)), ((2, 1, 3), (1, 4, 2)), ((0, 2), (3, 1))])
def test_repeat_matches_tile(shape, sizes):
    x = t64(*shape)
    np.testing.assert_array_equal(x.repeat(*sizes).numpy(), np.tile(x.numpy(), sizes))
    assert gradcheck(lambda a: a.repeat(*sizes), x)


def test_flip_chunk_split():
    x = t64(3, 4)
    np.testing.assert_array_equal(x.flip(0, 1).numpy(), x.numpy()[::-1, ::-1])
    np.testing.assert_array_equal(minigrad.flip(x, [1]).numpy(), x.numpy()[:, ::-1])
    assert gradcheck(lambda a: a.flip(1), x)
    assert [c.shape for c in x.chunk(3, dim=1)] == [(3, 2), (3, 2)]  # ceil(4/3) = 2: fewer chunks, as PyTorch
    assert [c.shape for c in x.split(3, dim=1)] == [(3, 3), (3, 1)]
    parts = x.split([1, 2], dim=0)
    assert [p.shape for p in parts] == [(1, 4), (2, 4)]
    np.testing.assert_array_equal(minigrad.cat(parts).numpy(), x.numpy())
    assert gradcheck(lambda a: a.split([1, 3], dim=1)[1] * 2, x)
    with pytest.raises(ValueError, match="split sizes"):
        x.split([1, 1], dim=0)


def test_gather_matches_loop_and_accumulates_repeated_indices():
    x = t64(3, 4)
    index = minigrad.tensor([[0, 0, 3], [1, 2, 1], [3, 3, 3]])
    out = x.gather(1, index)
    ref = np.array([[x.numpy()[i, index.numpy()[i, j]] for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(out.numpy(), ref)
    out.sum().backward()
    expected = np.zeros((3, 4))
    for i in range(3):
        for j in range(3):
            expected[i, index.numpy()[i, j]] += 1
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert gradcheck(lambda a: a.gather(0, minigrad.tensor([[2, 0, 1, 1]])), x)
    with pytest.raises(IndexError, match="gather: index out of range"):
        x.gather(1, minigrad.tensor([[4]]))
    with pytest.raises(TypeError, match="int64"):
        x.gather(1, minigrad.tensor([[0.0]]))


def test_masked_fill_and_triangles():
    x = t64(3, 3)
    mask = minigrad.tensor([True, False, True])
    np.testing.assert_array_equal(x.masked_fill(mask, -1.0).numpy(), np.where(mask.numpy(), -1.0, x.numpy()))
    assert gradcheck(lambda a: a.masked_fill(mask, 0.5), x)
    with pytest.raises(TypeError, match="bool"):
        x.masked_fill(minigrad.tensor([1, 0, 1]), 0.0)
    for k in (-1, 0, 1):
        tril = np.array([[x.numpy()[i, j] if j - i <= k else 0 for j in range(3)] for i in range(3)])
        triu = np.array([[x.numpy()[i, j] if j - i >= k else 0 for j in range(3)] for i in range(3)])
        np.testing.assert_array_equal(x.tril(k).numpy(), tril)
        np.testing.assert_array_equal(minigrad.triu(x, k).numpy(), triu)
    assert gradcheck(lambda a: a.tril(0) + a.triu(1) * 3, t64(2, 3, 3))


def test_sort_argsort_topk_scatter_back():
    x = minigrad.tensor([[3.0, 1.0, 2.0, 1.0], [0.0, -1.0, 5.0, 4.0]], dtype=minigrad.float64, requires_grad=True)
    values, indices = x.sort(dim=1)
    assert values.tolist() == [[1, 1, 2, 3], [-1, 0, 4, 5]] and indices.tolist() == [[1, 3, 2, 0], [1, 0, 3, 2]]
    desc = x.sort(dim=1, descending=True)
    assert desc.values.tolist() == [[3, 2, 1, 1], [5, 4, 0, -1]] and desc.indices.tolist()[0] == [0, 2, 1, 3]
    assert x.argsort(dim=0).tolist() == [[1, 1, 0, 0], [0, 0, 1, 1]]
    top = x.topk(2)
    assert top.values.tolist() == [[3, 2], [5, 4]] and top.indices.tolist() == [[0, 2], [2, 3]]
    low = x.topk(1, dim=1, largest=False)
    assert low.values.tolist() == [[1], [-1]]
    (top.values * minigrad.tensor([[1.0, 10.0]], dtype=minigrad.float64)).sum().backward()
    assert x.grad.tolist() == [[1, 0, 10, 0], [0, 0, 1, 10]]
    y = t64(3, 5)
    assert gradcheck(lambda a: a.sort(1, descending=True).values, y)
    assert gradcheck(lambda a: a.topk(2, dim=0).values, y)
    with pytest.raises(RuntimeError, match="topk: k"):
        y.topk(6)
    assert y.topk(0).values.shape == (3, 0)


# ---------------------------------------------------------------- math

def test_cumsum_and_its_reversed_cumsum_backward():
    x = t64(3, 4)
    ref = np.array([[x.numpy()[i, : j + 1].sum() for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(x.cumsum(1).numpy(), ref)
    assert gradcheck(lambda a: a.cumsum(0), x) and gradcheck(lambda a: a.cumsum(-1), x)
    assert minigrad.tensor([1, 2, 3]).cumsum(0).tolist() == [1, 3, 6]
    assert minigrad.tensor([True, True]).cumsum(0).dtype == np.int64
    assert minigrad.zeros(0, 3).cumsum(0).shape == (0, 3)


def test_logsumexp_is_stable_and_empty_gives_minus_inf():
    x = t64(3, 4)
    np.testing.assert_allclose(x.logsumexp(1).numpy(), np.log(np.exp(x.numpy()).sum(1)))
    np.testing.assert_allclose(x.logsumexp((0, 1), keepdim=True).numpy(), [[np.log(np.exp(x.numpy()).sum())]])
    big = minigrad.tensor([1000.0, 1000.0])
    assert np.isclose(big.logsumexp(0).item(), 1000 + np.log(2))
    assert minigrad.tensor([-np.inf, -np.inf]).logsumexp(0).item() == -np.inf
    assert minigrad.zeros(2, 0).logsumexp(1).tolist() == [-np.inf, -np.inf]
    assert gradcheck(lambda a: a.logsumexp(0), x)


@pytest.mark.parametrize("p", [1, 2, 3, float("inf"), "fro"])
def test_norm_against_formula(p):
    x = t64(3, 4)
    a = np.abs(x.numpy())
    q = 2 if p == "fro" else p
    ref = a.max(1) if q == float("inf") else (a**q).sum(1) ** (1 / q)
    np.testing.assert_allclose(x.norm(p, dim=1).numpy(), ref)
    assert gradcheck(lambda t: t.norm(p, dim=1), x)
    assert gradcheck(lambda t: t.norm(p), x)


def test_norm_at_zero_has_zero_gradient():
    z = minigrad.zeros(3, dtype=minigrad.float64, requires_grad=True)
    z.norm().backward()
    assert z.grad.tolist() == [0, 0, 0]


def test_log1p_expm1():
    x = minigrad.tensor(rng.uniform(-0.5, 2, (3, 4)), dtype=minigrad.float64, requires_grad=True)
    np.testing.assert_allclose(x.log1p().numpy(), np.log(1 + x.numpy()))
    np.testing.assert_allclose(x.expm1().numpy(), np.exp(x.numpy()) - 1)
    assert minigrad.tensor([1e-10], dtype=minigrad.float64).log1p().item() == pytest.approx(1e-10, rel=1e-9)
    assert gradcheck(lambda a: a.log1p() + a.expm1(), x)


def test_bmm_and_einsum_against_loops():
    a, b = t64(2, 3, 4), t64(2, 4, 5)
    np.testing.assert_allclose(minigrad.bmm(a, b).numpy(), np.stack([a.numpy()[i] @ b.numpy()[i] for i in range(2)]))
    assert gradcheck(minigrad.bmm, (a, b))
    with pytest.raises(ValueError, match="bmm: input must be a 3-D"):
        minigrad.bmm(a[0], b)
    out = minigrad.einsum("bij,bjk->bik", a, b)
    np.testing.assert_allclose(out.numpy(), minigrad.bmm(a, b).numpy())
    assert gradcheck(lambda x, y: minigrad.einsum("bij,bjk->bik", x, y), (a, b))
    m = t64(4, 4)
    assert np.isclose(minigrad.einsum("ii", m).item(), np.trace(m.numpy()))  # implicit output, a diagonal
    assert gradcheck(lambda x: minigrad.einsum("ii->i", x), m)
    assert gradcheck(lambda x: minigrad.einsum("ij->", x), m)  # every letter summed away
    assert gradcheck(lambda x, y: minigrad.einsum("...ij,jk", x, y), (a, t64(4, 2)))
    v = t64(4)
    np.testing.assert_allclose(minigrad.einsum("i,j->ij", v, v).numpy(), np.outer(v.numpy(), v.numpy()))
    with pytest.raises(ValueError, match="einsum: letter 'j' has size 4 and 5"):
        minigrad.einsum("ij,jk->ik", t64(3, 4), t64(5, 2))
