"""Scaled dot-product attention as one op with a fused, hand-derived backward.

Forward, for query Q (..., L, E), key K (..., S, E), value V (..., S, Ev):

    S_ = Q K^T * scale + mask        scores (..., L, S); a masked position is -inf
    P  = softmax(S_)                 along the last axis (S)
    Pd = P * M                       dropout: M = keep / (1 - p), or 1
    O  = Pd V                        (..., L, Ev)

Backward (gO = dLoss/dO, gW = dLoss/dPd when the weights are an output too):

    dV  = Pd^T gO
    dPd = gO V^T + gW
    dP  = dPd * M
    dS  = P * (dP - rowsum(P * dP))          softmax backward
    dQ  = dS K * scale;   dK = dS^T Q * scale;   dmask = dS

``rowsum(P * dP)`` is ``rowsum(Pd * dPd)`` = ``rowsum(gO * O) + rowsum(gW * Pd)`` (since
``O = Pd V``): an (L, Ev) product instead of an (L, S) one, the trick FlashAttention uses.

A row whose every position is masked has no finite score. Like PyTorch (2.5+), its weights are all
zero (not NaN), so its output and its gradients are zero.
"""
from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from .broadcast import sum_to


def _dropout_multiplier(shape, p, dtype, like):
    """M = keep / (1 - p) with keep ~ Bernoulli(1 - p), drawn from minigrad's seeded generator."""
    keep = backend.generator().random(shape, dtype="float32") >= p
    xp = get_array_module(like)
    mult = backend.asarray(keep, dtype, backend.device_of(like))
    if p < 1:
        mult *= 1.0 / (1.0 - p)
    return xp.ascontiguousarray(mult)


class ScaledDotProductAttention(Function):
    """O = softmax(Q K^T * scale + mask) V"""
    saved_names = ("q", "k", "v", "probs", "dropout_mask", "out")

    # params: scale (float), is_causal (bool), dropout_p (float), need_weights (bool: also return Pd)

    def forward(self, q, k, v, mask):
        xp = get_array_module(q, k, v)
        s = q @ xp.swapaxes(k, -1, -2)  # (..., L, S), a fresh buffer: everything below is in place
        s *= self.scale
        masked = mask is not None or self.is_causal
        if mask is not None:
            if mask.dtype == bool:
                xp.copyto(s, -xp.inf, where=xp.logical_not(mask))
            else:
                s += mask
        if self.is_causal:
            L, S = s.shape[-2:]
            future = xp.logical_not(xp.tri(L, S, 0, dtype=bool))  # j > i
            xp.copyto(s, -xp.inf, where=future)
        # stable softmax: subtract the row max; a fully masked row (max = -inf) becomes all zeros
        m = s.max(axis=-1, keepdims=True)
        if masked:
            m[xp.isneginf(m)] = 0
        s -= m
        xp.exp(s, out=s)
        z = s.sum(axis=-1, keepdims=True)
        if masked:
            z[z == 0] = xp.inf
        s *= xp.reciprocal(z, out=z)
        p = s
        mult = None
        if self.dropout_p > 0:
            mult = _dropout_multiplier(p.shape, self.dropout_p, p.dtype, p)
            pd = p * mult
        else:
            pd = p
        out = pd @ v
        self.shapes = (q.shape, k.shape, v.shape, None if mask is None else mask.shape)
        self.save_for_backward(q, k, v, p, mult, out)
        return (out, pd) if self.need_weights else out

    def backward(self, gout, gweights=None):
        """dV = Pd^T gO;  dP = (gO V^T + gW) * M;  dS = P * (dP - rowsum(gO * O + gW * Pd));
        dQ = dS K * scale;  dK = dS^T Q * scale;  dmask = dS"""
        q, k, v, p, mult, out = self.saved_tensors
        xp = get_array_module(gout)
        pd = p if mult is None else p * mult
        need_q, need_k, need_v, need_mask = self.needs_input_grad
        gv = sum_to(xp.swapaxes(pd, -1, -2) @ gout, self.shapes[2]) if need_v else None
        if not (need_q or need_k or need_mask):
            return None, None, gv, None
        dp = gout @ xp.swapaxes(v, -1, -2)  # dPd, fresh: modified in place below
        row = xp.einsum("...e,...e->...", gout, out)[..., None]  # rowsum(gO * O), no temporary
        if gweights is not None and gweights.any():  # (all zeros when the weights were not used)
            dp += gweights
            row = row + (gweights * pd).sum(axis=-1, keepdims=True)
        if mult is not None:
            dp *= mult
        dp -= row
        dp *= p  # now dS
        gq = gk = gmask = None
        if need_q:
            gq = dp @ k
            gq *= self.scale
            gq = sum_to(gq, self.shapes[0])
        if need_k:
            gk = xp.swapaxes(dp, -1, -2) @ q
            gk *= self.scale
            gk = sum_to(gk, self.shapes[1])
        if need_mask:
            gmask = sum_to(dp, self.shapes[3])
        return gq, gk, gv, gmask
