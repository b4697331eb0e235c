"""Scaled dot-product attention (``F.scaled_dot_product_attention``); the math is in
``minigrad.ops.attention``."""
import math

import numpy as np

from ..kernels.mode import use_reference
from ..ops.attention import ScaledDotProductAttention, ScaledDotProductAttentionFast
from .checks import check_same_device, expect_tensor

__all__ = ["scaled_dot_product_attention"]

_OP = "scaled_dot_product_attention"


def _broadcast(tensors, what):
    """Broadcast shape of the batch dims (all but the last two) of ``tensors``."""
    try:
        return np.broadcast_shapes(*(t.shape[:-2] for t in tensors))
    except ValueError:
        shapes = ", ".join(str(t.shape) for t in tensors)
        raise ValueError(f"{_OP}: the batch dimensions of {what} do not broadcast, got shapes {shapes}") from None


def _check_attention(query, key, value, attn_mask, dropout_p, is_causal, scale):
    """Validate the arguments; return the batch shape of the output, that of the attention
    weights (query's and key's batch dims broadcast) and the scale."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        expect_tensor(t, _OP, name)
        if t.ndim < 2:
            raise ValueError(f"{_OP}: '{name}' must have at least 2 dims (..., seq, features), got shape {t.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{_OP}: '{name}' must be a floating point tensor, got dtype {t.dtype}")
    expect_tensor(attn_mask, _OP, "attn_mask", optional=True)
    check_same_device(_OP, query, key, value, attn_mask)
    if not (query.dtype == key.dtype == value.dtype):
        raise TypeError(
            f"{_OP}: expected query, key and value to have the same dtype, got query {query.dtype}, "
            f"key {key.dtype}, value {value.dtype}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"{_OP}: query (..., L, E) and key (..., S, E) must share E, got query {query.shape} and key {key.shape}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"{_OP}: key (..., S, E) and value (..., S, Ev) must share S, got key {key.shape} and value {value.shape}"
        )
    batch = _broadcast([query, key, value], "query, key and value")
    L, S = query.shape[-2], key.shape[-2]
    scores = _broadcast([query, key], "query and key") + (L, S)
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError(f"{_OP}: an explicit attn_mask must not be given with is_causal=True")
        if attn_mask.dtype != np.bool_ and attn_mask.dtype != query.dtype:
            raise TypeError(
                f"{_OP}: attn_mask must be bool or have the query's dtype {query.dtype}, got {attn_mask.dtype}"
            )
        try:
            ok = np.broadcast_shapes(attn_mask.shape, scores) == scores
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{_OP}: attn_mask of shape {attn_mask.shape} does not broadcast to the attention weights' "
                f"shape {scores} (query {query.shape}, key {key.shape})"
            )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_OP}: dropout_p must be in [0, 1], got {dropout_p}")
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    return batch, scores[:-2], float(scale)


def _op(batch, scores_batch, dropout_p, need_weights):
    """The Function to run: the fast one unless reference kernels are requested. The fast one
    works on the full batch shape; when value's batch dims broadcast beyond the scores', the
    weights (returned, or dropped out) keep the scores' shape, which only the reference gives."""
    if use_reference() or (batch != scores_batch and (dropout_p > 0 or need_weights)):
        return ScaledDotProductAttention
    return ScaledDotProductAttentionFast


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """``softmax(query @ key^T * scale + mask) @ value``, one op with a fused backward.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch dims
    broadcast. ``scale`` defaults to ``1 / sqrt(E)``. ``attn_mask`` broadcasts to (..., L, S): a bool
    mask KEEPS the True positions, a float mask (the query's dtype) is added to the scores and gets
    a gradient when it requires grad. ``is_causal`` masks the future (key j > query i, top-left
    aligned); it cannot be combined with ``attn_mask``. With ``dropout_p > 0`` the attention weights
    are dropped out (always: pass 0 in evaluation). A row with every position masked yields zeros
    (as PyTorch 2.5+ does) rather than NaN.
    """
    batch, scores_batch, scale = _check_attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return _op(batch, scores_batch, dropout_p, False).apply(
        query, key, value, attn_mask,
        scale=scale, is_causal=bool(is_causal), dropout_p=float(dropout_p), need_weights=False,
    )


def _attention_with_weights(query, key, value, attn_mask=None, dropout_p=0.0, scale=None):
    """Like ``scaled_dot_product_attention`` but returns ``(output, weights)``, the weights after
    dropout; both are differentiable (used by ``nn.MultiheadAttention``)."""
    batch, scores_batch, scale = _check_attention(query, key, value, attn_mask, dropout_p, False, scale)
    return _op(batch, scores_batch, dropout_p, True).apply(
        query, key, value, attn_mask,
        scale=scale, is_causal=False, dropout_p=float(dropout_p), need_weights=True,
    )
