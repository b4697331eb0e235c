"""scaled_dot_product_attention (forward vs a loop reference, gradcheck of Q, K, V and the float
mask, masks, causal, dropout, errors) and nn.MultiheadAttention (vs the formula with its
parameters); examples/char_lm.py runs in tests/test_examples.py."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import gradcheck
from minigrad.functional.attention import _attention_with_weights

OP = "scaled_dot_product_attention"


def arr(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def ref_sdpa(q, k, v, mask=None, is_causal=False, scale=None):
    """Loop reference, written from the formula: for every batch entry and query row i,
    w = softmax_j(q_i . k_j * scale + mask_ij) (masked j excluded; no allowed j -> zeros),
    out_i = sum_j w_j v_j."""
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    L, E = q.shape[-2:]
    S, Ev = v.shape[-2:]
    scale = 1 / math.sqrt(E) if scale is None else scale
    if mask is not None:
        mask = np.broadcast_to(mask, batch + (L, S))
    qb, kb, vb = (np.broadcast_to(a, batch + a.shape[-2:]) for a in (q, k, v))
    out = np.zeros(batch + (L, Ev))
    weights = np.zeros(batch + (L, S))
    for b in np.ndindex(*batch):
        for i in range(L):
            scores, allowed = [], []
            for j in range(S):
                s = float(np.dot(qb[b][i], kb[b][j])) * scale
                ok = True
                if is_causal and j > i:
                    ok = False
                if mask is not None:
                    m = mask[b][i, j]
                    if mask.dtype == bool:
                        ok = ok and bool(m)
                    else:
                        s += float(m)
                        ok = ok and m != -np.inf
                scores.append(s)
                allowed.append(ok)
            if not any(allowed):
                continue
            top = max(s for s, ok in zip(scores, allowed) if ok)
            e = [math.exp(s - top) if ok else 0.0 for s, ok in zip(scores, allowed)]
            z = sum(e)
            for j in range(S):
                weights[b][i, j] = e[j] / z
                out[b][i] += e[j] / z * vb[b][j]
    return out, weights


def tensors(*arrays, grad=True):
    return [mg.tensor(a, requires_grad=grad) for a in arrays]


# --------------------------------------------------------------------------- forward

SHAPES = [
    ((4, 3), (5, 3), (5, 2)),  # no batch
    ((2, 4, 3), (2, 5, 3), (2, 5, 6)),  # L != S, Ev != E
    ((2, 2, 3, 4), (2, 2, 3, 4), (2, 2, 3, 4)),  # (B, H, L, E)
    ((2, 2, 3, 4), (1, 1, 5, 4), (5, 3)),  # broadcast batch dims of K and V
    ((1, 4), (1, 4), (1, 1)),  # one position
]


@pytest.mark.parametrize("qs,ks,vs", SHAPES)
def test_forward_matches_reference(qs, ks, vs):
    q, k, v = arr(*qs, seed=1), arr(*ks, seed=2), arr(*vs, seed=3)
    out = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False))
    expected, _ = ref_sdpa(q, k, v)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("L,S", [(4, 4), (3, 5), (5, 3)])
def test_causal_and_scale(L, S):
    q, k, v = arr(2, L, 3, seed=4), arr(2, S, 3, seed=5), arr(2, S, 2, seed=6)
    out = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), is_causal=True, scale=0.7)
    expected, _ = ref_sdpa(q, k, v, is_causal=True, scale=0.7)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_bool_mask_keeps_true_and_float_mask_is_added():
    q, k, v = arr(2, 3, 4, 3, seed=7), arr(2, 3, 5, 3, seed=8), arr(2, 3, 5, 2, seed=9)
    bmask = np.random.default_rng(0).random((4, 5)) > 0.4
    bmask[:, 0] = True
    out = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), attn_mask=mg.tensor(bmask))
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, bmask)[0], rtol=1e-10, atol=1e-12)
    fmask = arr(3, 4, 5, seed=10)
    out = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), attn_mask=mg.tensor(fmask))
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q, k, v, fmask)[0], rtol=1e-10, atol=1e-12)
    # a bool mask equals the float mask with -inf at the False positions
    as_float = np.where(bmask, 0.0, -np.inf)
    out2 = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), attn_mask=mg.tensor(as_float))
    out1 = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), attn_mask=mg.tensor(bmask))
    np.testing.assert_allclose(out1.numpy(), out2.numpy(), rtol=1e-12)


def test_fully_masked_row_gives_zeros_and_zero_grads():
    q, k, v = tensors(arr(3, 4, seed=11), arr(5, 4, seed=12), arr(5, 2, seed=13))
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(mask))
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_array_equal(out.numpy()[1], 0.0)
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q.numpy(), k.numpy(), v.numpy(), mask)[0], atol=1e-12)
    out.sum().backward()
    np.testing.assert_array_equal(q.grad.numpy()[1], 0.0)
    assert np.isfinite(k.grad.numpy()).all() and np.isfinite(v.grad.numpy()).all()


def test_float32_stays_float32_and_large_logits_are_stable():
    q, k, v = (arr(2, 4, 8, seed=s, dtype=np.float32) for s in (14, 15, 16))
    q *= 300  # scores of magnitude ~1e3: exp would overflow without the max subtraction
    out = F.scaled_dot_product_attention(*tensors(q, k, v))
    assert out.dtype == np.float32
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(out.numpy(), ref_sdpa(q.astype(np.float64), k, v)[0], rtol=1e-4, atol=1e-4)
    out.sum().backward()


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("qs,ks,vs", [((3, 2), (4, 2), (4, 3)), ((2, 2, 2), (1, 3, 2), (3, 2))])
def test_gradcheck_qkv(qs, ks, vs):
    q, k, v = tensors(arr(*qs, seed=17), arr(*ks, seed=18), arr(*vs, seed=19))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), (q, k, v))


def test_gradcheck_causal_scale_and_bool_mask():
    q, k, v = tensors(arr(1, 3, 2, seed=20), arr(1, 4, 2, seed=21), arr(1, 4, 2, seed=22))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.9), (q, k, v))
    m = mg.tensor(np.array([[True, False, True, True], [False, False, False, False], [True, True, False, True]]))
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v))


def test_gradcheck_float_mask_broadcast():
    q, k, v = tensors(arr(2, 3, 2, seed=23), arr(2, 4, 2, seed=24), arr(2, 4, 2, seed=25))
    mask = mg.tensor(arr(3, 4, seed=26), requires_grad=True)  # broadcast over the batch
    fn = lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m)  # noqa: E731
    assert gradcheck(fn, (q, k, v, mask))


def test_gradcheck_weights_output_and_dropout():
    q, k, v = tensors(arr(2, 3, 2, seed=27), arr(2, 3, 2, seed=28), arr(2, 3, 2, seed=29))

    def both(q, k, v):  # output and attention weights, dropout mask fixed by the seed
        mg.manual_seed(3)
        return _attention_with_weights(q, k, v, dropout_p=0.4)

    assert gradcheck(both, (q, k, v))

    def out_only(q, k, v):
        mg.manual_seed(5)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    assert gradcheck(out_only, (q, k, v))


def test_dropout_zeroes_and_rescales_weights():
    q, k, v = (arr(4, 6, 3, seed=s) for s in (30, 31, 32))
    _, p = ref_sdpa(q, k, v)
    mg.manual_seed(0)
    out, w = _attention_with_weights(*tensors(q, k, v, grad=False), dropout_p=0.5)
    w = w.numpy()
    kept = w != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(w[kept], 2 * p[kept], rtol=1e-12)
    np.testing.assert_allclose(out.numpy(), w @ v, rtol=1e-10, atol=1e-12)
    # same seed, same mask; dropout_p=1 drops everything
    mg.manual_seed(0)
    out2 = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), dropout_p=0.5)
    np.testing.assert_array_equal(out.numpy(), out2.numpy())
    out3 = F.scaled_dot_product_attention(*tensors(q, k, v, grad=False), dropout_p=1.0)
    np.testing.assert_array_equal(out3.numpy(), 0.0)


# --------------------------------------------------------------------------- errors


def test_errors_name_op_and_shapes():
    q, k, v = tensors(arr(2, 3, 4), arr(2, 5, 4), arr(2, 5, 6), grad=False)
    with pytest.raises(ValueError, match=rf"{OP}.*\(2, 3, 4\).*\(2, 5, 3\)"):
        F.scaled_dot_product_attention(q, mg.tensor(arr(2, 5, 3)), v)
    with pytest.raises(ValueError, match=rf"{OP}.*\(2, 5, 4\).*\(2, 6, 6\)"):
        F.scaled_dot_product_attention(q, k, mg.tensor(arr(2, 6, 6)))
    with pytest.raises(ValueError, match=rf"{OP}.*\(3, 3, 4\)"):
        F.scaled_dot_product_attention(mg.tensor(arr(3, 3, 4)), k, v)
    with pytest.raises(ValueError, match=rf"{OP}.*attn_mask.*\(4, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(np.ones((4, 5), dtype=bool)))
    with pytest.raises(RuntimeError, match=rf"{OP}.*is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(np.ones((3, 5), dtype=bool)), is_causal=True)
    with pytest.raises(TypeError, match=rf"{OP}.*same dtype"):
        F.scaled_dot_product_attention(q, k, mg.tensor(arr(2, 5, 6, dtype=np.float32)))
    with pytest.raises(TypeError, match=rf"{OP}.*attn_mask.*int64"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=mg.tensor(np.zeros((3, 5), dtype=np.int64)))
    with pytest.raises(ValueError, match=rf"{OP}.*dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match=rf"{OP}.*'query'.*\(4,\)"):
        F.scaled_dot_product_attention(mg.tensor(arr(4)), k, v)
    with pytest.raises(TypeError, match=rf"{OP}.*'key'"):
        F.scaled_dot_product_attention(q, k.numpy(), v)


# --------------------------------------------------------------------------- nn.MultiheadAttention


def np_softmax_masked(scores, blocked):
    """Row softmax over allowed positions; a row with none allowed gives zeros."""
    s = np.where(blocked, -np.inf, scores)
    top = s.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(blocked, 0.0, np.exp(s - top))
    z = e.sum(axis=-1, keepdims=True)
    return np.divide(e, z, out=np.zeros_like(e), where=z > 0)


def ref_mha(mha, query, key, value, blocked=None, add=None):
    """From the formula, with the module's parameters; inputs (L, N, E) as NumPy arrays.
    ``blocked`` (bool, True = may not attend) and ``add`` (float) broadcast to (N, H, L, S).
    Returns the output (L, N, E) and the per-head weights (N, H, L, S)."""
    E, H = mha.embed_dim, mha.num_heads
    hd = E // H
    W = mha.in_proj_weight.numpy()
    b = mha.in_proj_bias.numpy() if mha.in_proj_bias is not None else np.zeros(3 * E)
    Wo = mha.out_proj.weight.numpy()
    bo = mha.out_proj.bias.numpy() if mha.out_proj.bias is not None else np.zeros(E)
    L, N, _ = query.shape
    S = key.shape[0]
    out = np.zeros((L, N, E))
    weights = np.zeros((N, H, L, S))
    for n in range(N):
        q = query[:, n] @ W[:E].T + b[:E]
        k = key[:, n] @ W[E:2 * E].T + b[E:2 * E]
        v = value[:, n] @ W[2 * E:].T + b[2 * E:]
        heads = []
        for h in range(H):
            sl = slice(h * hd, (h + 1) * hd)
            scores = q[:, sl] @ k[:, sl].T / np.sqrt(hd)
            if add is not None:
                scores = scores + np.broadcast_to(add, (N, H, L, S))[n, h]
            blk = np.zeros((L, S), bool) if blocked is None else np.broadcast_to(blocked, (N, H, L, S))[n, h]
            blk = blk | np.isneginf(scores)
            w = np_softmax_masked(scores, blk)
            weights[n, h] = w
            heads.append(w @ v[:, sl])
        out[:, n] = np.concatenate(heads, axis=1) @ Wo.T + bo
    return out, weights


def make_mha(E=8, H=2, **kw):
    from nn import MultiheadAttention

    mg.manual_seed(0)
    mha = MultiheadAttention(E, H, **kw).double()
    with mg.no_grad():  # non-zero biases, so the test sees them
        for p in (mha.in_proj_bias, mha.out_proj.bias):
            if p is not None:
                p.data[...] = np.random.default_rng(1).standard_normal(p.shape)
    return mha


def test_mha_parameters_and_init():
    from nn import MultiheadAttention

    mg.manual_seed(0)
    mha = MultiheadAttention(16, 4)
    names = {n: tuple(p.shape) for n, p in mha.named_parameters()}
    assert names == {"in_proj_weight": (48, 16), "in_proj_bias": (48,), "out_proj.weight": (16, 16), "out_proj.bias": (16,)}
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform over (3E, E)
    w = mha.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    np.testing.assert_array_equal(mha.in_proj_bias.numpy(), 0)
    np.testing.assert_array_equal(mha.out_proj.bias.numpy(), 0)
    nobias = MultiheadAttention(16, 4, bias=False)
    assert [n for n, _ in nobias.named_parameters()] == ["in_proj_weight", "out_proj.weight"]
    with pytest.raises(ValueError, match="MultiheadAttention.*divisible"):
        MultiheadAttention(10, 3)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("self_attention", [True, False])
def test_mha_matches_formula(batch_first, self_attention):
    mha = make_mha(batch_first=batch_first)
    L, S, N, E = 3, (3 if self_attention else 5), 2, 8
    query = arr(L, N, E, seed=40)
    key = query if self_attention else arr(S, N, E, seed=41)
    value = query if self_attention else arr(S, N, E, seed=42)

    def t(a):
        return mg.tensor(a.transpose(1, 0, 2) if batch_first else a)

    tq = t(query)
    tk = tq if self_attention else t(key)
    tv = tq if self_attention else t(value)
    out, w = mha(tq, tk, tv)
    expected, weights = ref_mha(mha, query, key, value)
    if batch_first:
        expected = expected.transpose(1, 0, 2)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), weights.mean(axis=1), rtol=1e-10, atol=1e-12)
    out2, w2 = mha(tq, tk, tv, need_weights=False)
    assert w2 is None
    np.testing.assert_allclose(out2.numpy(), expected, rtol=1e-10, atol=1e-12)
    _, per_head = mha(tq, tk, tv, average_attn_weights=False)
    np.testing.assert_allclose(per_head.numpy(), weights, rtol=1e-10, atol=1e-12)


def test_mha_masks_true_means_blocked():
    mha = make_mha(E=8, H=2)
    L, S, N, H = 3, 4, 2, 2
    query, key = arr(L, N, 8, seed=43), arr(S, N, 8, seed=44)
    tq, tk = mg.tensor(query), mg.tensor(key)
    attn = np.array([[False, True, False, False], [True, True, False, False], [False, False, False, True]])
    kpm = np.array([[False, False, False, True], [True, False, False, False]])
    # bool attn_mask (L, S) and bool key_padding_mask (N, S)
    out, w = mha(tq, tk, tk, attn_mask=mg.tensor(attn), key_padding_mask=mg.tensor(kpm), average_attn_weights=False)
    blocked = attn[None, None] | kpm[:, None, None, :]
    exp_out, exp_w = ref_mha(mha, query, key, key, blocked=blocked)
    np.testing.assert_allclose(out.numpy(), exp_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), exp_w, rtol=1e-10, atol=1e-12)
    assert (w.numpy()[blocked.repeat(H, axis=1) if blocked.shape[1] == 1 else blocked] == 0).all()
    # float (N * H, L, S) attn_mask with a bool key_padding_mask
    fmask = arr(N * H, L, S, seed=45)
    out, w = mha(tq, tk, tk, attn_mask=mg.tensor(fmask), key_padding_mask=mg.tensor(kpm), average_attn_weights=False)
    exp_out, exp_w = ref_mha(mha, query, key, key, blocked=kpm[:, None, None, :], add=fmask.reshape(N, H, L, S))
    np.testing.assert_allclose(out.numpy(), exp_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), exp_w, rtol=1e-10, atol=1e-12)
    # is_causal is a hint that needs the causal mask itself
    causal = np.triu(np.ones((L, L), bool), k=1)
    a, _ = mha(tq, tq, tq, attn_mask=mg.tensor(causal), is_causal=True)
    np.testing.assert_allclose(a.numpy(), ref_mha(mha, query, query, query, blocked=causal)[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="MultiheadAttention.*is_causal"):
        mha(tq, tq, tq, is_causal=True)
    with pytest.raises(ValueError, match=r"MultiheadAttention: attn_mask.*\(5, 5\)"):
        mha(tq, tk, tk, attn_mask=mg.tensor(np.zeros((5, 5), bool)))
    with pytest.raises(ValueError, match=r"MultiheadAttention: key_padding_mask.*\(2, 3\)"):
        mha(tq, tk, tk, key_padding_mask=mg.tensor(np.zeros((2, 3), bool)))
    with pytest.raises(ValueError, match=r"MultiheadAttention.*embed_dim 8.*\(3, 2, 6\)"):
        mha(mg.tensor(arr(3, 2, 6)), tk, tk)


def test_mha_unbatched():
    mha = make_mha(E=4, H=2)
    x = arr(3, 4, seed=46)
    kpm = np.array([False, True, False])
    out, w = mha(mg.tensor(x), mg.tensor(x), mg.tensor(x), key_padding_mask=mg.tensor(kpm))
    exp_out, exp_w = ref_mha(mha, x[:, None], x[:, None], x[:, None], blocked=kpm[None, None, None, :])
    assert out.shape == (3, 4) and w.shape == (3, 3)
    np.testing.assert_allclose(out.numpy(), exp_out[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), exp_w[0].mean(axis=0), rtol=1e-10, atol=1e-12)


def test_mha_gradcheck_inputs_and_parameters():
    mha = make_mha(E=4, H=2)
    q = mg.tensor(arr(2, 1, 4, seed=47), requires_grad=True)
    kv = mg.tensor(arr(3, 1, 4, seed=48), requires_grad=True)
    mask = mg.tensor(arr(2, 3, seed=49), requires_grad=True)  # float mask gets a gradient too
    fn = lambda q, kv, m, w, b, wo: mha(q, kv, kv, attn_mask=m)  # noqa: E731  (output and weights)
    assert gradcheck(fn, (q, kv, mask, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight))
    x = mg.tensor(arr(2, 1, 4, seed=50), requires_grad=True)  # self-attention: packed projection
    assert gradcheck(lambda x, w: mha(x, x, x, need_weights=False)[0], (x, mha.in_proj_weight))


def test_mha_dropout_in_training_only():
    mha = make_mha(E=8, H=2, dropout=0.5)
    x = mg.tensor(arr(5, 2, 8, seed=51))
    mg.manual_seed(1)
    out_a, w_a = mha(x, x, x, average_attn_weights=False)
    mg.manual_seed(1)
    out_b, _ = mha(x, x, x, average_attn_weights=False)
    np.testing.assert_array_equal(out_a.numpy(), out_b.numpy())  # the seed fixes the dropout mask
    w_a = w_a.numpy()
    assert (w_a == 0).mean() > 0.25  # about half the weights dropped
    mha.eval()
    out_e, w_e = mha(x, x, x, average_attn_weights=False)
    exp_out, exp_w = ref_mha(mha, x.numpy(), x.numpy(), x.numpy())
    np.testing.assert_allclose(out_e.numpy(), exp_out, rtol=1e-10, atol=1e-12)
    kept = w_a != 0
    np.testing.assert_allclose(w_a[kept], 2 * exp_w[kept], rtol=1e-10)  # kept weights scaled by 1 / (1 - p)


# --------------------------------------------------------------------------- both kernels
# Every test in this file runs twice: with the fast kernels (F's default) and the reference Function.


@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "float"])
def test_head_blocks_split_over_threads(monkeypatch, mask_kind):
    """One head per block and one block per worker: the loops and threads of the fast path run
    on small inputs, and agree with the loop reference and gradcheck."""
    from minigrad.kernels import threads
    from minigrad.ops import attention as ops

    monkeypatch.setattr(ops, "_BLOCK_BYTES", 1)
    monkeypatch.setattr(threads, "machine_busy", lambda: False)  # use the pool even on a busy machine
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    B, H, L, S, E = 2, 3, 4, 5, 3
    q, k, v = arr(B, H, L, E, seed=60), arr(B, 1, S, E, seed=61), arr(B, H, S, 2, seed=62)
    mask, causal = None, mask_kind == "causal"
    if mask_kind == "bool":
        mask = np.random.default_rng(63).random((H, L, S)) > 0.3
    elif mask_kind == "float":
        mask = arr(B, H, L, S, seed=64)
    tq, tk, tv = tensors(q, k, v)
    tm = None if mask is None else mg.tensor(mask, requires_grad=mask.dtype != bool)
    out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal)
    exp = ref_sdpa(q, k, v, None if mask is None else mask, is_causal=causal)[0]
    np.testing.assert_allclose(out.numpy(), exp, rtol=1e-10, atol=1e-12)
    inputs = (tq, tk, tv) if tm is None or not tm.requires_grad else (tq, tk, tv, tm)
    fn = lambda q, k, v, m=tm: F.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=causal)  # noqa: E731
    assert gradcheck(fn, inputs)


def test_fast_and_reference_agree_in_float32_with_dropout():
    q, k, v = (arr(2, 4, 16, 8, seed=s, dtype=np.float32) for s in (70, 71, 72))
    outs = []
    for reference in (False, True):
        with mg.kernels.reference_kernels(reference):
            tq, tk, tv = tensors(q, k, v)
            mg.manual_seed(3)
            out, w = _attention_with_weights(tq, tk, tv, dropout_p=0.3)
            (out.sum() + (w * w).sum()).backward()
            outs.append([out.numpy(), w.numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(autouse=True, params=["fast", "reference"])
def kernels(request):
    with mg.kernels.reference_kernels(request.param == "reference"):
        yield request.param
