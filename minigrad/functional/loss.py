"""Loss functions: argument checks (each error names the op and the shapes), then the fused
Functions of ``minigrad.ops.loss``."""
import numbers
import warnings

import numpy as np

from .. import dtypes
from ..ops import loss as L
from .checks import Tensor, check_reduction, check_same_device, expect_tensor

__all__ = ["cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy_with_logits"]

_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))  # PyTorch's: Long or Byte


def _float(x, op, name):
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"{op}: '{name}' must be a floating point tensor, got dtype {x.dtype} (shape {x.shape})")


def _cast(x, dtype):
    return None if x is None else x.astype(dtype)


def _class_weight(weight, x, op):
    if weight is None:
        return None
    _float(weight, op, "weight")
    n_classes = x.shape[1]
    if weight.shape != (n_classes,):
        raise ValueError(f"{op}: 'weight' must have shape ({n_classes},), one value per class of input {x.shape}, got {weight.shape}")
    return weight.astype(x.dtype)


def _class_targets(op, input, target, weight, ignore_index):  # noqa: A002
    """Check input (C,) / (N, C, d1, ...) and class-index target () / (N, d1, ...). Returns
    (x, t, weight, unbatched): x with a batch axis added to a 1-D input, t the target as an int64 array."""
    expect_tensor(input, op, "input")
    expect_tensor(target, op, "target")
    expect_tensor(weight, op, "weight", optional=True)
    check_same_device(op, input, target, weight)
    _float(input, op, "input")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (C,) or (N, C, d1, ...), got a 0-d tensor")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"{op}: 'ignore_index' must be an int, got {ignore_index!r}")
    if target.dtype not in _INDEX_DTYPES:
        raise TypeError(
            f"{op}: expected target of dtype int64 (class indices), got {target.dtype} "
            f"(input {input.shape}, target {target.shape})"
        )
    unbatched = input.ndim == 1
    want = () if unbatched else (input.shape[0],) + input.shape[2:]
    if target.shape != want:
        raise ValueError(f"{op}: expected target of shape {want} for input of shape {input.shape}, got {target.shape}")
    x = input.reshape(1, -1) if unbatched else input
    t = target.data.reshape(x.shape[:1] + x.shape[2:]).astype(np.int64, copy=False)
    bad = (t != ignore_index) & ((t < 0) | (t >= x.shape[1]))
    if bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {value} is out of bounds for {x.shape[1]} classes (input {input.shape})")
    return x, t, _class_weight(weight, x, op), unbatched


def _from_array(t):
    return Tensor._from_op(t, None, None)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):  # noqa: A002
    """Cross-entropy between logits ``input`` (C,) or (N, C, d1, ...) and ``target``: class indices
    (int64, shape () or (N, d1, ...)) or class probabilities (float, the input's shape).

    One fused op: log-softmax (shift invariant, computed so that logits of any size are safe), weighted negative
    log-likelihood and label smoothing, with PyTorch's reductions: ``'mean'`` over class-index targets
    divides by the summed weights of the targets that are not ``ignore_index``.
    """
    op = "cross_entropy"
    check_reduction(reduction, op)
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
    expect_tensor(target, op, "target")
    if dtypes.is_floating(target.dtype):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction, float(label_smoothing))
    x, t, w, unbatched = _class_targets(op, input, target, weight, ignore_index)
    t = target if t.shape == target.shape and t.dtype == target.data.dtype else _from_array(t)  # drawings name it
    out = L.CrossEntropy.apply(
        x, t, w, ignore_index=int(ignore_index), reduction=reduction, label_smoothing=float(label_smoothing)
    )
    return out.reshape(()) if unbatched and reduction == "none" else out


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):  # noqa: A002
    op = "cross_entropy"
    expect_tensor(input, op, "input")
    expect_tensor(weight, op, "weight", optional=True)
    check_same_device(op, input, target, weight)
    _float(input, op, "input")
    if target.shape != input.shape:
        raise ValueError(
            f"{op}: a floating point target holds class probabilities and must have the input's shape "
            f"{input.shape}, got {target.shape} (class indices must be int64)"
        )
    if ignore_index != -100:
        raise ValueError(f"{op}: ignore_index is not supported with class-probability targets")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have shape (C,) or (N, C, d1, ...), got a 0-d tensor")
    unbatched = input.ndim == 1
    x, q = (input.reshape(1, -1), target.reshape(1, -1)) if unbatched else (input, target)
    out = L.CrossEntropyProbs.apply(
        x, _cast(q, x.dtype), _class_weight(weight, x, op), reduction=reduction, label_smoothing=label_smoothing
    )
    return out.reshape(()) if unbatched and reduction == "none" else out


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities ``input`` (C,) or (N, C, d1, ...) at class-index
    ``target``: ``-weight[t] * input[t]``, reduced as ``cross_entropy``."""
    op = "nll_loss"
    check_reduction(reduction, op)
    x, t, w, unbatched = _class_targets(op, input, target, weight, ignore_index)
    out = L.NLLLoss.apply(x, _from_array(t), w, ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


def _pair(op, input, target):  # noqa: A002
    """Check two float tensors that broadcast; cast both to their common dtype."""
    expect_tensor(input, op, "input")
    expect_tensor(target, op, "target")
    check_same_device(op, input, target)
    _float(input, op, "input")
    _float(target, op, "target")
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{op}: input {input.shape} and target {target.shape} do not broadcast") from None
    if input.shape != target.shape:
        warnings.warn(
            f"{op}: target size {target.shape} differs from input size {input.shape}; they are broadcast, "
            "which is likely a mistake",
            stacklevel=3,
        )
    dtype = dtypes.promote(input.dtype, target.dtype)
    return input.astype(dtype), target.astype(dtype)


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    """(input - target)^2, reduced by ``reduction`` ('mean', 'sum' or 'none')."""
    check_reduction(reduction, "mse_loss")
    a, b = _pair("mse_loss", input, target)
    return L.MSELoss.apply(a, b, reduction=reduction)


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    """|input - target|, reduced by ``reduction``."""
    check_reduction(reduction, "l1_loss")
    a, b = _pair("l1_loss", input, target)
    return L.L1Loss.apply(a, b, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):  # noqa: A002
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` (same shape), computed from the
    logits without overflow: ``w * ((1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x)))``.
    ``weight`` broadcasts to the input; ``pos_weight`` weighs the positive term (per class: last dim)."""
    op = "binary_cross_entropy_with_logits"
    check_reduction(reduction, op)
    expect_tensor(input, op, "input")
    expect_tensor(target, op, "target")
    expect_tensor(weight, op, "weight", optional=True)
    expect_tensor(pos_weight, op, "pos_weight", optional=True)
    check_same_device(op, input, target, weight, pos_weight)
    _float(input, op, "input")
    if target.shape != input.shape:
        raise ValueError(f"{op}: target size {target.shape} must be the same as input size {input.shape}")
    for name, t in (("weight", weight), ("pos_weight", pos_weight)):
        if t is None:
            continue
        _float(t, op, name)
        try:
            ok = np.broadcast_shapes(t.shape, input.shape) == input.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"{op}: '{name}' of shape {t.shape} does not broadcast to the input's shape {input.shape}")
    dtype = input.dtype
    return L.BCEWithLogits.apply(
        input, target.astype(dtype), _cast(weight, dtype), _cast(pos_weight, dtype),
        reduction=reduction,
    )
