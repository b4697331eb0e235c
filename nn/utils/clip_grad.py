"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``.

Both work in place on ``p.grad`` of each parameter that has one, after ``backward()`` and before
``optimizer.step()``."""
import math

from minigrad import backend
from minigrad.tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so that their joint norm is at most ``max_norm``.

    total = (sum over all gradient elements of |g| ** norm_type) ** (1 / norm_type)  (inf: max |g|)
    g = g * min(1, max_norm / (total + 1e-6))    (PyTorch's formula, clamped so it never scales up)

    Returns the total norm (before clipping) as a 0-d float Tensor. A non-finite total raises
    ``RuntimeError`` with ``error_if_nonfinite=True``."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    norms = []
    for g in grads:
        a = abs(backend.to_numpy(g.data).astype("float64", copy=False))
        if norm_type == math.inf:
            norms.append(float(a.max()) if a.size else 0.0)
        else:
            norms.append(float((a**norm_type).sum()))
    total = max(norms) if norm_type == math.inf else sum(norms) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
                           f"({total}), so it cannot be clipped; pass error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        for g in grads:
            g.data = g.data * g.data.dtype.type(coef)  # a new array: a gradient may be shared
    return Tensor(total, dtype=grads[0].dtype)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        g.data = g._xp.clip(g.data, -clip_value, clip_value)
