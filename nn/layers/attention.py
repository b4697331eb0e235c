"""``MultiheadAttention``, parameterised as PyTorch's (``in_proj_weight``, ``in_proj_bias``, ``out_proj``).

    q, k, v = query W_q^T + b_q,  key W_k^T + b_k,  value W_v^T + b_v   (W_q; W_k; W_v = in_proj_weight)
    split E into num_heads heads of E / num_heads features
    head_h  = softmax(q_h k_h^T / sqrt(E / num_heads) + mask) v_h      (F's fused attention op)
    output  = concat(head_1, ..., head_H) out_proj.weight^T + out_proj.bias

MASKS follow ``torch.nn.MultiheadAttention``, the OPPOSITE of ``F.scaled_dot_product_attention``:
a bool ``True`` marks a position that may NOT be attended. Float masks are added to the scores.
"""
import numpy as np

import minigrad
import minigrad.functional as F
from minigrad.functional.attention import _attention_with_weights
from minigrad.tensor import Tensor

from .. import init
from ..module import Module, Parameter

__all__ = ["MultiheadAttention"]

_NAME = "MultiheadAttention"


def _as_additive(mask, dtype):
    """A mask Tensor as something to add to the scores: bool True -> -inf, float unchanged."""
    if mask.dtype == np.bool_:
        xp = mask._xp
        return Tensor._from_op(xp.where(mask.data, xp.asarray(-np.inf, dtype=dtype), xp.asarray(0, dtype=dtype)),
                               None, None)
    return mask


def _map_same(fn, query, key, value):
    """(fn(query), fn(key), fn(value)), keeping ``query is key`` and ``key is value`` true where they were
    (self-attention then takes the one-matmul projection)."""
    q = fn(query)
    k = q if key is query else fn(key)
    v = k if value is key else q if value is query else fn(value)
    return q, k, v


class MultiheadAttention(Module):
    """Multi-head attention over ``embed_dim`` features split into ``num_heads`` heads.

    Inputs are (L, N, E) (or (N, L, E) with ``batch_first=True``, or unbatched (L, E)); ``forward``
    returns ``(output, weights)`` where ``weights`` are the attention weights averaged over heads
    (N, L, S) (per head (N, num_heads, L, S) with ``average_attn_weights=False``), or None when
    ``need_weights=False``. With ``dropout > 0`` the weights are dropped out in training mode
    (and returned after dropout, as PyTorch does).

    Deliberate difference: a query row whose every key is masked gets zero weights and a zero
    head output (PyTorch gives NaN on its ``need_weights=True`` path, zeros on the other).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, batch_first=False):
        super().__init__()
        from .linear import Linear

        embed_dim, num_heads = int(embed_dim), int(num_heads)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"{_NAME}: embed_dim and num_heads must be positive, got {embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"{_NAME}: embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{_NAME}: dropout must be in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.in_proj_weight = Parameter(minigrad.empty(3 * embed_dim, embed_dim))
        if bias:
            self.in_proj_bias = Parameter(minigrad.empty(3 * embed_dim))
        else:
            self.in_proj_bias = None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias)
        self._reset_parameters()

    def _reset_parameters(self):
        init.xavier_uniform_(self.in_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def extra_repr(self):
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, batch_first={self.batch_first}"

    # ------------------------------------------------------------------ helpers
    def _project(self, query, key, value):
        """The three input projections; one matmul when query, key and value are the same tensor."""
        E, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        if query is key and key is value:
            qkv = F.linear(query, w, b)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        return F.linear(query, w[:E], bq), F.linear(key, w[E:2 * E], bk), F.linear(value, w[2 * E:], bv)

    def _merge_masks(self, attn_mask, key_padding_mask, N, L, S, dtype):
        """One mask for F's attention op, broadcastable to (N, H, L, S), in F's convention: bool KEEPS
        True positions, float is added. None when there is no mask."""
        H = self.num_heads
        masks = []
        if attn_mask is not None:
            if not isinstance(attn_mask, Tensor):
                raise TypeError(f"{_NAME}: attn_mask must be a Tensor, got {type(attn_mask).__name__}")
            if attn_mask.shape == (L, S):
                masks.append(attn_mask)
            elif attn_mask.shape == (N * H, L, S):
                masks.append(attn_mask.reshape(N, H, L, S))
            else:
                raise ValueError(
                    f"{_NAME}: attn_mask must have shape (L, S) = {(L, S)} or (N * num_heads, L, S) = "
                    f"{(N * H, L, S)}, got {attn_mask.shape}"
                )
        if key_padding_mask is not None:
            if not isinstance(key_padding_mask, Tensor):
                raise TypeError(f"{_NAME}: key_padding_mask must be a Tensor, got {type(key_padding_mask).__name__}")
            if key_padding_mask.shape != (N, S):
                raise ValueError(f"{_NAME}: key_padding_mask must have shape (N, S) = {(N, S)}, got {key_padding_mask.shape}")
            masks.append(key_padding_mask.reshape(N, 1, 1, S))
        for m in masks:
            if m.dtype != np.bool_ and m.dtype != dtype:
                raise TypeError(f"{_NAME}: masks must be bool or of the query's dtype {dtype}, got {m.dtype}")
        if not masks:
            return None
        if all(m.dtype == np.bool_ for m in masks):  # True = blocked here; F keeps True
            keep = ~masks[0].data
            for m in masks[1:]:
                keep = keep & ~m.data
            return Tensor._from_op(keep, None, None)
        total = _as_additive(masks[0], dtype)
        for m in masks[1:]:
            total = total + _as_additive(m, dtype)
        return total

    # ------------------------------------------------------------------ forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{_NAME}: '{name}' must be a Tensor, got {type(t).__name__}")
        if is_causal and attn_mask is None:
            raise RuntimeError(
                f"{_NAME}: is_causal=True is only a hint that attn_mask is the causal mask; pass that attn_mask "
                "too (e.g. a bool (L, S) mask, True above the diagonal)"
            )
        batched = query.ndim == 3
        if not batched:
            if query.ndim != 2 or key.ndim != 2 or value.ndim != 2:
                raise ValueError(
                    f"{_NAME}: query, key and value must all be 3-D (batched) or all 2-D (unbatched), got "
                    f"{query.shape}, {key.shape}, {value.shape}"
                )
            query, key, value = _map_same(lambda t: t.unsqueeze(1), query, key, value)  # (L, 1, E)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.reshape(1, -1)
        elif key.ndim != 3 or value.ndim != 3:
            raise ValueError(f"{_NAME}: query is 3-D, so key and value must be too, got {key.shape}, {value.shape}")
        elif self.batch_first:  # the internal layout is (L, N, E)
            query, key, value = _map_same(lambda t: t.transpose(0, 1), query, key, value)

        L, N, E = query.shape
        S = key.shape[0]
        if E != self.embed_dim or key.shape[2] != E or value.shape[2] != E:
            raise ValueError(
                f"{_NAME}: expected query, key and value with embed_dim {self.embed_dim} features, got "
                f"{query.shape}, {key.shape}, {value.shape} (as (L, N, E))"
            )
        if key.shape[:2] != value.shape[:2] or key.shape[1] != N:
            raise ValueError(
                f"{_NAME}: key and value must have shape (S, N, E) with the query's batch size {N}, got "
                f"key {key.shape} and value {value.shape} (as (S, N, E))"
            )

        q, k, v = self._project(query, key, value)
        H, hd = self.num_heads, self.head_dim
        # (L, N, E) -> (N, H, L, hd)
        q = q.reshape(L, N, H, hd).permute(1, 2, 0, 3)
        k = k.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        v = v.reshape(S, N, H, hd).permute(1, 2, 0, 3)
        mask = self._merge_masks(attn_mask, key_padding_mask, N, L, S, query.dtype)
        p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = _attention_with_weights(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(L, N, E))  # heads concatenated: (L, N, E)
        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out = out.squeeze(1)
            if weights is not None:
                weights = weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights
