"""Embedding lookup (``F.embedding``); the math is in ``minigrad.ops.embedding``."""
from ..autograd import no_grad
from ..backend import get_array_module
from ..kernels.mode import use_reference
from ..ops.embedding import Embedding, EmbeddingFast
from .checks import check_same_device, expect_tensor

__all__ = ["embedding"]

_OP = "embedding"


def _renorm_(weight, idx, max_norm):
    """Rescale, in place, each looked-up row of ``weight`` whose L2 norm exceeds ``max_norm`` to
    norm ``max_norm`` (PyTorch's rule: ``row *= max_norm / (norm + 1e-7)``; each row once)."""
    xp = get_array_module(weight.data)
    with no_grad():
        rows = xp.unique(idx.reshape(-1))
        w = weight.data
        norms = xp.sqrt((w[rows] * w[rows]).sum(axis=1))
        big = norms > max_norm
        rows, norms = rows[big], norms[big]
        if rows.size:
            w[rows] *= (max_norm / (norms + 1e-7))[:, None].astype(w.dtype)


def embedding(input, weight, padding_idx=None, max_norm=None):  # noqa: A002 - PyTorch's name
    """Look up rows of ``weight`` (num_embeddings, embedding_dim) at the integer ``input`` indices:
    output shape ``input.shape + (embedding_dim,)``.

    The gradient of ``weight`` accumulates over repeated indices; the ``padding_idx`` row (negative
    counts from the end) gets none. ``max_norm``: before the lookup, every looked-up row whose L2
    norm exceeds it is rescaled IN PLACE in ``weight`` to that norm (as PyTorch does). An index
    outside ``[0, num_embeddings)`` raises ``IndexError``.
    """
    expect_tensor(input, _OP, "input")
    expect_tensor(weight, _OP, "weight")
    check_same_device(_OP, input, weight)
    if input.dtype.kind not in "iu":
        raise TypeError(f"{_OP}: 'input' must hold integer indices (int64 or int32), got dtype {input.dtype} "
                        f"(shape {input.shape})")
    if weight.ndim != 2:
        raise ValueError(f"{_OP}: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    if weight.dtype.kind != "f":
        raise TypeError(f"{_OP}: 'weight' must be a floating point tensor, got dtype {weight.dtype}")
    num = weight.shape[0]
    idx = input.data
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            raise IndexError(
                f"{_OP}: index {bad} is out of range for weight of shape {weight.shape} "
                f"(indices must be in [0, {num - 1}]; input shape {input.shape})"
            )
    if padding_idx is not None:
        padding_idx = int(padding_idx)
        if not -num <= padding_idx < num:
            raise ValueError(f"{_OP}: padding_idx {padding_idx} must be within num_embeddings {num} "
                             f"(weight shape {weight.shape})")
        padding_idx %= num
    if max_norm is not None and idx.size:
        _renorm_(weight, idx, float(max_norm))
    fn = Embedding if use_reference() else EmbeddingFast
    return fn.apply(input, weight, padding_idx=padding_idx)
