"""F.cosine_similarity, F.normalize, F.pad and nn.CosineSimilarity: forward against naive loop
references, float64 gradchecks, the eps clamps, cropping, errors."""
import math

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
import nn

rng = np.random.default_rng(0)


def tensor(a, requires_grad=False):
    return minigrad.tensor(a, requires_grad=requires_grad)


def vectors(x, axis):
    """(index into the reduced output, 1-d slice along ``axis``) for every slice."""
    moved = np.moveaxis(x, axis, -1)
    for idx in np.ndindex(moved.shape[:-1]):
        yield idx, moved[idx]


# ------------------------------------------------------------------ cosine_similarity


def naive_cosine(a, b, axis, eps=1e-8):
    a, b = np.broadcast_arrays(a, b)
    out = np.empty(np.delete(a.shape, axis))
    for (idx, u), (_, v) in zip(vectors(a, axis), vectors(b, axis)):
        nu = max(math.sqrt(sum(e * e for e in u)), eps)
        nv = max(math.sqrt(sum(e * e for e in v)), eps)
        out[idx] = sum(p * q for p, q in zip(u, v)) / (nu * nv)
    return out


@pytest.mark.parametrize("shapes,dim", [(((4, 3), (4, 3)), 1), (((4, 3), (4, 3)), 0), (((2, 3, 4), (2, 3, 4)), -1),
                                        (((2, 3, 4), (1, 3, 4)), 1), (((5,), (5,)), 0)])
def test_cosine_similarity(shapes, dim):
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    got = F.cosine_similarity(tensor(a), tensor(b), dim=dim)
    expect = naive_cosine(a, b, dim % len(shapes[0]))
    assert got.shape == expect.shape
    np.testing.assert_allclose(got.numpy(), expect, rtol=1e-12, atol=1e-14)
    assert minigrad.gradcheck(lambda u, v: F.cosine_similarity(u, v, dim=dim), (tensor(a, True), tensor(b, True)))


def test_cosine_similarity_zero_vector_and_eps():
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]])
    b = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 4.0]])
    got = F.cosine_similarity(tensor(a), tensor(b))
    np.testing.assert_allclose(got.numpy(), [0.0, 1.0], atol=1e-12)
    # tiny vectors: the norm is clamped to eps, so the result shrinks instead of blowing up
    tiny = F.cosine_similarity(tensor(np.array([[1e-9, 0.0]])), tensor(np.array([[1.0, 0.0]])), eps=1e-6)
    np.testing.assert_allclose(tiny.numpy(), [1e-3], rtol=1e-9)
    # a clamped norm is a constant: x1's gradient is then x2 / (eps |x2|)
    x1 = tensor(np.array([[1e-9, 0.0]]), True)
    F.cosine_similarity(x1, tensor(np.array([[3.0, 4.0]])), eps=1e-6).sum().backward()
    np.testing.assert_allclose(x1.grad.numpy(), [[0.6e6, 0.8e6]], rtol=1e-9)


def test_cosine_similarity_float32_and_errors():
    a = tensor(rng.standard_normal((3, 4)).astype(np.float32))
    assert F.cosine_similarity(a, a).dtype == np.float32
    np.testing.assert_allclose(F.cosine_similarity(a, a).numpy(), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"cosine_similarity: x1 \(3, 4\) and x2 \(3, 5\) do not broadcast"):
        F.cosine_similarity(a, tensor(np.zeros((3, 5), dtype=np.float32)))
    with pytest.raises(IndexError, match=r"cosine_similarity: dim 2 is out of range for shape \(3, 4\)"):
        F.cosine_similarity(a, a, dim=2)
    with pytest.raises(TypeError, match="cosine_similarity: 'x2' must be a floating point tensor"):
        F.cosine_similarity(a, tensor(np.zeros((3, 4), dtype=np.int64)))


def test_cosine_similarity_module():
    a, b = rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    m = nn.CosineSimilarity(dim=0, eps=1e-6)
    np.testing.assert_allclose(m(tensor(a), tensor(b)).numpy(), naive_cosine(a, b, 0, 1e-6), rtol=1e-12)


# ------------------------------------------------------------------ normalize


def naive_normalize(x, p, axis, eps=1e-12):
    out = np.empty_like(np.moveaxis(x, axis, -1))
    for idx, v in vectors(x, axis):
        n = max(sum(abs(e) ** p for e in v) ** (1 / p), eps)
        out[idx] = [e / n for e in v]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("p", [1, 2.0, 3.0, 1.5])
@pytest.mark.parametrize("shape,dim", [((3, 4), 1), ((3, 4), 0), ((2, 3, 2), -1), ((5,), 0)])
def test_normalize(p, shape, dim):
    x = rng.standard_normal(shape)
    got = F.normalize(tensor(x), p=p, dim=dim)
    np.testing.assert_allclose(got.numpy(), naive_normalize(x, p, dim % len(shape)), rtol=1e-12)
    # |x| >= 0.1: away from the kink of |x|^p at 0
    x = np.where(abs(x) < 0.1, 0.5, x)
    assert minigrad.gradcheck(lambda a: F.normalize(a, p=p, dim=dim), (tensor(x, True),))


def test_normalize_zero_vector_and_default_dim():
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    got = F.normalize(tensor(x))  # p=2, dim=1
    np.testing.assert_allclose(got.numpy(), [[0.0, 0.0], [0.6, 0.8]], rtol=1e-12)
    t = tensor(x, True)
    F.normalize(t).sum().backward()
    assert np.isfinite(t.grad.numpy()).all()
    np.testing.assert_array_equal(t.grad.numpy()[0], [1e12, 1e12])  # clamped norm: dy/dx = 1/eps


def test_normalize_errors():
    x = tensor(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match="normalize: p must be a positive finite number"):
        F.normalize(x, p=0)
    with pytest.raises(ValueError, match="normalize: p must be a positive finite number"):
        F.normalize(x, p=math.inf)
    with pytest.raises(IndexError, match=r"normalize: dim 3 is out of range for shape \(2, 3\)"):
        F.normalize(x, dim=3)


# ------------------------------------------------------------------ pad


def naive_pad(x, pad, value):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths))
    out = np.full(out_shape, value, dtype=x.dtype)
    for idx in np.ndindex(out_shape):
        src = tuple(i - lo for i, (lo, _) in zip(idx, widths))
        if all(0 <= s < n for s, n in zip(src, x.shape)):
            out[idx] = x[src]
    return out


@pytest.mark.parametrize("shape,pad", [
    ((3, 4), (1, 2)),
    ((3, 4), (1, 0, 0, 2)),
    ((2, 3, 4), (0, 1, 2, 0, 1, 1)),
    ((3, 4), (-1, 2)),  # crops the first column
    ((3, 5), (-1, -2, 1, -1)),
    ((2, 2, 3), (0, 0)),
])
def test_pad(shape, pad):
    x = rng.standard_normal(shape)
    got = F.pad(tensor(x), pad, value=2.5)
    np.testing.assert_array_equal(got.numpy(), naive_pad(x, pad, 2.5))
    assert minigrad.gradcheck(lambda a: F.pad(a, pad, value=2.5), (tensor(x, True),))


def test_pad_keeps_dtype_and_default_value():
    x = tensor(np.arange(6, dtype=np.int64).reshape(2, 3))
    got = F.pad(x, (1, 1))
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), naive_pad(x.numpy(), (1, 1), 0))
    assert F.pad(tensor(np.ones((2, 2), dtype=np.float32)), (1, 1, 1, 1)).dtype == np.float32


def test_pad_errors():
    x = tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pad: 'pad' must hold an even number of ints"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match=r"pad: 'pad' \(1, 1, 1, 1, 1, 1\) pads 3 dims but the input \(2, 3\) has 2"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"pad: padding \(-2, -2\) crops more than dim 1 of the input \(2, 3\)"):
        F.pad(x, (-2, -2))
    with pytest.raises(NotImplementedError, match="pad: only mode='constant'"):
        F.pad(x, (1, 1), mode="reflect")
    with pytest.raises(TypeError, match="pad: 'value' must be a number"):
        F.pad(x, (1, 1), "constant")
