"""Stochastic gradient descent with momentum, as in ``torch.optim.SGD``.

For each parameter ``p`` with gradient ``g``, step ``t``:

    d = g + weight_decay * p                                (L2 penalty in the gradient)
    b = d                                    if t == 1      (momentum buffer starts at the first d)
    b = momentum * b + (1 - dampening) * d   otherwise
    d = d + momentum * b   (nesterov)   or   d = b   (plain momentum)
    p = p - lr * d
"""
from minigrad import backend, no_grad

from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)."""

    def __init__(self, params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False):
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum value {momentum}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, momentum = float(group["lr"]), float(group["momentum"])
            dampening, weight_decay = float(group["dampening"]), float(group["weight_decay"])
            nesterov = bool(group["nesterov"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p.data, p.grad.data
                a = self._scratch_like(x, 0)
                d = g  # read only: never written
                if weight_decay != 0:
                    d = _mul(x, weight_decay, a)
                    d += g
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.copy()
                    else:
                        buf *= momentum
                        if dampening != 0:
                            buf += _mul(d, 1 - dampening, a)
                        else:
                            buf += d
                    if nesterov:  # d + momentum * b
                        if d is a:
                            a += _mul(buf, momentum, self._scratch_like(x, 1))
                        else:
                            _mul(buf, momentum, a)
                            a += d
                        d = a
                    else:
                        d = buf
                p.add_(_mul(d, -lr, a))  # in place: bumps p's version counter


def _mul(x, scalar, out):
    """out = x * scalar (a Python float, so the result keeps x's dtype)."""
    return backend.get_array_module(x).multiply(x, scalar, out=out)
