"""Adam and AdamW, as in ``torch.optim.Adam`` / ``torch.optim.AdamW``.

For each parameter ``p`` with gradient ``g``, step ``t`` (starting at 1):

    g = g + weight_decay * p               (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)        (AdamW instead: decoupled weight decay)
    m = beta1 * m + (1 - beta1) * g        (first moment, starts at 0; computed as m += (1 - beta1) * (g - m))
    v = beta2 * v + (1 - beta2) * g * g    (second moment, starts at 0)
    v_max = max(v_max, v)                  (amsgrad only; starts at 0; then v_max replaces v below)
    p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

The two ``1 - beta**t`` factors undo the bias of ``m`` and ``v`` towards their zero start.
``amsgrad`` (Reddi et al.) divides by the largest second moment seen so far, so the effective step
size never grows back. This is PyTorch's documented algorithm, step for step.
"""
import math

from minigrad import backend, no_grad

from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=bool(amsgrad)))

    def _check_hyperparameters(self, group):
        super()._check_hyperparameters(group)
        name = type(self).__name__
        if group["eps"] < 0:
            raise ValueError(f"{name}: invalid epsilon value {group['eps']}")
        betas = group["betas"]
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{name}: invalid betas {betas}: expected two values in [0, 1)")

    @no_grad()
    def step(self):
        for group in self.param_groups:
            lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                x, g = p.data, p.grad.data
                xp = backend.get_array_module(x)
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "exp_avg": xp.zeros_like(x), "exp_avg_sq": xp.zeros_like(x)}
                    if group.get("amsgrad"):
                        state["max_exp_avg_sq"] = xp.zeros_like(x)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                a = self._scratch_like(x, 0)
                b = self._scratch_like(x, 1)

                if weight_decay != 0:
                    if self._decoupled:
                        p.mul_(1 - lr * weight_decay)
                    else:
                        g = xp.multiply(x, weight_decay, out=a)
                        g += p.grad.data
                m += xp.multiply(xp.subtract(g, m, out=b), 1 - beta1, out=b)
                v *= beta2
                v += xp.multiply(xp.multiply(g, g, out=b), 1 - beta2, out=b)

                step_size = lr / (1 - beta1**t)
                if group.get("amsgrad"):
                    v_max = state["max_exp_avg_sq"]
                    xp.maximum(v_max, v, out=v_max)
                    v = v_max
                denom = xp.sqrt(v, out=b)
                denom /= math.sqrt(1 - beta2**t)
                denom += eps
                p.sub_(xp.multiply(xp.divide(m, denom, out=b), step_size, out=b))  # bumps p's version


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False): Adam with
    decoupled weight decay (Loshchilov & Hutter), ``p *= 1 - lr * weight_decay`` before the Adam step."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
