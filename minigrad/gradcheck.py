"""Check a hand-derived backward against central finite differences.

For every input ``x_j`` that requires grad and every output ``y_i`` the full Jacobian
``J[i][j] = d y_i / d x_j`` is computed twice: numerically, perturbing one element of ``x_j`` at a
time by ``+-eps``; analytically, running backward once per output element with a one-hot gradient.
"""
import numpy as np

from . import autograd, backend
from .autograd import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when the analytical and numerical Jacobians differ."""


def _outputs(func, inputs):
    out = func(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when backward agrees with finite differences for every input that requires grad.

    ``inputs``: a Tensor or a tuple of Tensors (and other arguments passed through); those that
    require grad must be float64. Mismatch: ``|numerical - analytical| > atol + rtol * |numerical|``,
    and a NaN or Inf in either Jacobian is always a mismatch. A floating output that does not
    require grad counts as having a zero Jacobian: a gradient silently detached from its inputs
    fails the check instead of being skipped.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; use float64 for a meaningful check")
        if not inputs[i].data.flags.c_contiguous:  # perturbing in place needs a flat view
            inputs[i].data = inputs[i]._xp.ascontiguousarray(inputs[i].data)

    outputs = [o for o in _outputs(func, inputs) if isinstance(o, Tensor)]
    checked = [k for k, o in enumerate(outputs) if o.requires_grad or np.issubdtype(o.dtype, np.floating)]

    # analytical Jacobians: one backward per output element (zero for outputs off the graph)
    analytical = {}  # (out k, input i) -> array (out_numel, in_numel)
    for k in checked:
        out = outputs[k]
        xp = out._xp
        for i in diff:
            analytical[k, i] = np.zeros((out.data.size, inputs[i].data.size))
        if not out.requires_grad:
            continue
        for e in range(out.data.size):
            seed = xp.zeros(out.shape, dtype=out.dtype)
            seed.reshape(-1)[e] = 1
            grads = autograd.run_backward([out], [seed], retain_graph=True, inputs=[inputs[i] for i in diff],
                                          accumulate=False)
            for i, g in zip(diff, grads):
                if g is not None:
                    analytical[k, i][e] = backend.to_numpy(g).reshape(-1)

    # numerical Jacobians: central differences, one input element at a time
    ok = True
    with no_grad():
        for i in diff:
            x = inputs[i].data
            flat = x.reshape(-1)  # a view: writing flat[j] perturbs the input
            for j in range(x.size):
                orig = flat[j].item()
                flat[j] = orig + eps
                plus = _flat_outputs(func, inputs)
                flat[j] = orig - eps
                minus = _flat_outputs(func, inputs)
                flat[j] = orig
                for k in checked:
                    numerical = (plus[k] - minus[k]) / (2 * eps)
                    ana = analytical[k, i][:, j]
                    # written so that NaN compares as a mismatch (NaN <= tol is False)
                    bad = ~(np.abs(numerical - ana) <= atol + rtol * np.abs(numerical))
                    if bad.any():
                        e = int(np.argmax(bad))
                        out_index = np.unravel_index(e, outputs[k].shape) if outputs[k].ndim else ()
                        in_index = np.unravel_index(j, x.shape) if x.ndim else ()
                        msg = (
                            f"Jacobian mismatch for output {k} element {tuple(int(v) for v in out_index)} with respect to "
                            f"input {i} element {tuple(int(v) for v in in_index)}: numerical {numerical[e]:.8g}, "
                            f"analytical {ana[e]:.8g}"
                        )
                        if raise_exception:
                            raise GradcheckError(msg)
                        ok = False
    return ok


def _flat_outputs(func, inputs):
    return [backend.to_numpy(o.data).astype(np.float64).reshape(-1) for o in _outputs(func, inputs) if isinstance(o, Tensor)]


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """True when the gradient of the gradient agrees with finite differences.

    The first-order gradients ``d(sum(func(inputs) * grad_outputs))/d inputs`` are computed with
    ``create_graph=True`` and checked with ``gradcheck`` as functions of ``inputs`` and of
    ``grad_outputs`` (random float64 tensors that require grad when not given), i.e. the
    Jacobian of the backward pass against central differences of the backward pass.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError("gradgradcheck: no input requires grad")
    outputs = [o for o in _outputs(func, inputs) if isinstance(o, Tensor) and o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            Tensor(backend.asarray(rng.standard_normal(o.shape), o.dtype, o.device), requires_grad=True)
            for o in outputs
        )
    else:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
        if len(grad_outputs) != len(outputs):
            raise ValueError(f"gradgradcheck: {len(grad_outputs)} grad_outputs for {len(outputs)} differentiable outputs")
    n = len(inputs)

    def first_order(*args):
        xs, gys = args[:n], args[n:]
        with enable_grad():
            outs = [o for o in _outputs(func, xs) if isinstance(o, Tensor) and o.requires_grad]
            grads = autograd.grad(outs, [xs[i] for i in diff], grad_outputs=list(gys), create_graph=True,
                                  allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_order, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
