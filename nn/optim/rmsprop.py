"""RMSprop, as ``torch.optim.RMSprop`` (PyTorch's documented algorithm, step for step).

For each parameter ``p`` with gradient ``g`` (``v``, ``g_avg`` and ``b`` start at 0):

    g = g + weight_decay * p                      (L2 penalty, when weight_decay != 0)
    v = alpha * v + (1 - alpha) * g * g           (running mean of squared gradients)
    if centered:
        g_avg = alpha * g_avg + (1 - alpha) * g   (running mean of gradients)
        v~ = v - g_avg * g_avg                    (so v~ estimates the variance)
    else:
        v~ = v
    if momentum > 0:
        b = momentum * b + g / (sqrt(v~) + eps)
        p = p - lr * b
    else:
        p = p - lr * g / (sqrt(v~) + eps)

Unlike Adam there is no bias correction: ``v`` starts at 0, so the first steps are large
(``g / sqrt((1 - alpha) g^2) = 10 * sign(g)`` for alpha 0.99).
"""
from minigrad import backend, no_grad

from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop(params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False)."""

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=bool(centered)))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        for name in ("eps", "momentum", "alpha"):
            if group[name] < 0:
                raise ValueError(f"RMSprop: invalid {name} value {group[name]}")

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, alpha, eps = float(group["lr"]), float(group["alpha"]), float(group["eps"])
            weight_decay, momentum = float(group["weight_decay"]), float(group["momentum"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p.data, p.grad.data
                xp = backend.get_array_module(x)
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "square_avg": xp.zeros_like(x)}
                    if momentum > 0:
                        state["momentum_buffer"] = xp.zeros_like(x)
                    if group["centered"]:
                        state["grad_avg"] = xp.zeros_like(x)
                state["step"] += 1
                a = self._scratch_like(x, 0)
                b = self._scratch_like(x, 1)
                if weight_decay != 0:
                    g = xp.multiply(x, weight_decay, out=a)
                    g += p.grad.data
                v = state["square_avg"]
                v *= alpha
                v += xp.multiply(xp.multiply(g, g, out=b), 1 - alpha, out=b)
                if group["centered"]:
                    g_avg = state["grad_avg"]
                    g_avg *= alpha
                    g_avg += xp.multiply(g, 1 - alpha, out=b)
                    denom = xp.multiply(g_avg, g_avg, out=b)
                    xp.subtract(v, denom, out=denom)
                    xp.sqrt(denom, out=denom)
                else:
                    denom = xp.sqrt(v, out=b)
                denom += eps
                if momentum > 0:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += xp.divide(g, denom, out=denom)
                    p.sub_(xp.multiply(buf, lr, out=denom))  # in place: bumps p's version
                else:
                    p.sub_(xp.multiply(xp.divide(g, denom, out=denom), lr, out=denom))
