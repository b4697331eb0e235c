"""Scaled dot-product attention as one op with a hand-derived backward.

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

A row whose every position is masked has no finite score. Like PyTorch (2.5+), its weights are all
zero (not NaN), so its output and its gradients are zero.

Two Functions compute this. ``ScaledDotProductAttention`` is the reference: one line per step
above, on whole arrays. ``ScaledDotProductAttentionFast`` (what ``F`` runs unless
``minigrad.kernels.reference_kernels()`` is active) gives the same numbers with three changes:
- it works through the heads in blocks small enough that a block's (L, S) scores stay in the
  cache from the product that makes them, through the softmax, to the product that uses them
  (one pass over memory per block instead of one per step);
- the blocks are spread over ``minigrad.kernels.threads``'s pool, each product single-threaded:
  OpenBLAS would otherwise split every small per-head product over its own spinning threads,
  which collapses when other processes keep the cores busy;
- ``rowsum(P * dP)`` is taken as ``rowsum(gO * O) + rowsum(gW * Pd)`` (since ``O = Pd V``): an
  (L, Ev) product instead of an (L, S) one, the trick FlashAttention uses.
"""
import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..kernels.threads import blas_threads, parallel_for
from . import graph
from .broadcast import sum_to
from .elementwise import Exp, Where
from .linalg import MatMul, _swap_last
from .reduce import Sum
from .softmax import Softmax


def _dropout_multiplier(shape, p, dtype, like):
    """M = keep / (1 - p) with keep ~ Bernoulli(1 - p), drawn from minigrad's seeded generator."""
    keep = backend.generator().random(shape, dtype="float32") >= p
    xp = get_array_module(like)
    mult = backend.asarray(keep, dtype, backend.device_of(like))
    if p < 1:
        mult *= 1.0 / (1.0 - p)
    return xp.ascontiguousarray(mult)


def _mask_scores(s, mask, is_causal):
    """Add a float mask, or set the positions a bool mask drops (or the future, when causal) to
    -inf; in place on the scores ``s`` (..., L, S)."""
    xp = get_array_module(s)
    if mask is not None:
        if mask.dtype == bool:
            xp.copyto(s, -xp.inf, where=xp.logical_not(mask))
        else:
            s += mask
    if is_causal:
        L, S = s.shape[-2:]
        future = xp.logical_not(xp.tri(L, S, 0, dtype=bool))  # key j > query i
        xp.copyto(s, -xp.inf, where=future)


def _softmax_(s, masked):
    """Softmax along the last axis, in place; a row with no finite score becomes all zeros."""
    xp = get_array_module(s)
    m = s.max(axis=-1, keepdims=True)  # subtract the row max: exp never overflows
    if masked:
        m[xp.isneginf(m)] = 0
    s -= m
    xp.exp(s, out=s)
    z = s.sum(axis=-1, keepdims=True)
    if masked:
        z[z == 0] = xp.inf
    s *= xp.reciprocal(z, out=z)
    return s


class ScaledDotProductAttention(Function):
    """O = softmax(Q K^T * scale + mask) V"""

    # params: scale (float), is_causal (bool), dropout_p (float), need_weights (bool: also return Pd)
    saved_names = ("q", "k", "v", "p", "dropout_mult", "mask")

    def forward(self, q, k, v, mask):
        xp = get_array_module(q, k, v)
        scores = q @ xp.swapaxes(k, -1, -2) * self.scale
        _mask_scores(scores, mask, self.is_causal)
        p = _softmax_(scores, mask is not None or self.is_causal)
        mult = None
        if self.dropout_p > 0:
            mult = _dropout_multiplier(p.shape, self.dropout_p, p.dtype, p)
        pd = p if mult is None else p * mult
        out = pd @ v
        self.shapes = (q.shape, k.shape, v.shape, None if mask is None else mask.shape)
        self.save_for_backward(q, k, v, p, mult, mask)  # mask: for backward_graph
        return (out, pd) if self.need_weights else out

    def backward(self, gout, gweights=None):
        """dV = Pd^T gO;  dP = (gO V^T + gW) * M;  dS = P * (dP - rowsum(P * dP));
        dQ = dS K * scale;  dK = dS^T Q * scale;  dmask = dS"""
        q, k, v, p, mult, _ = self.saved_tensors
        xp = get_array_module(gout)
        T = lambda a: xp.swapaxes(a, -1, -2)  # noqa: E731  (the transpose of the last two axes)
        pd = p if mult is None else p * mult
        d_v = T(pd) @ gout
        d_pd = gout @ T(v)
        if gweights is not None:
            d_pd = d_pd + gweights
        d_p = d_pd if mult is None else d_pd * mult
        d_s = p * (d_p - (p * d_p).sum(axis=-1, keepdims=True))
        d_q = d_s @ k * self.scale
        d_k = T(d_s) @ q * self.scale
        q_shape, k_shape, v_shape, mask_shape = self.shapes
        d_mask = None if mask_shape is None or not self.needs_input_grad[3] else sum_to(d_s, mask_shape)
        return sum_to(d_q, q_shape), sum_to(d_k, k_shape), sum_to(d_v, v_shape), d_mask

    def backward_graph(self, gout, gweights=None):
        """The backward above on Tensors (both Functions inherit it): P recomputed from Q, K (and
        a float mask, when it requires grad) with MatMul, Exp and Sum, so that the gradients depend
        on Q, K, V and the mask in the graph; the dropout multiplier M and bool / causal masks are
        constants. Every derivative of this is again products, softmax backwards and sums."""
        saved = self.unpack_saved()  # (q, k, v, p, dropout_mult[, out], mask)
        q, k, v, mask = saved[0], saved[1], saved[2], saved[-1]
        mult = self.saved_tensors[4]
        need_q, need_k, need_v, need_mask = self.needs_input_grad
        p = self._graph_weights(q, k, mask)
        pd = p if mult is None else p * graph.constant(mult.reshape(p.shape))
        d_v = MatMul.apply(_swap_last(pd), gout) if need_v else None
        d_q = d_k = d_mask = None
        if need_q or need_k or need_mask:
            d_pd = MatMul.apply(gout, _swap_last(v))
            if gweights is not None:
                d_pd = d_pd + gweights
            d_p = d_pd if mult is None else d_pd * graph.constant(mult.reshape(p.shape))
            d_s = p * (d_p - Sum.apply(p * d_p, axis=(p.ndim - 1,), keepdims=True))
            d_q = MatMul.apply(d_s, k) * self.scale if need_q else None
            d_k = MatMul.apply(_swap_last(d_s), q) * self.scale if need_k else None
            d_mask = graph.sum_to(d_s, mask.shape) if need_mask else None
        q_shape, k_shape, v_shape, _ = self.shapes
        return tuple(None if g is None else graph.sum_to(g, shape)
                     for g, shape in ((d_q, q_shape), (d_k, k_shape), (d_v, v_shape))) + (d_mask,)

    def _graph_weights(self, q, k, mask):
        """P = softmax(Q K^T * scale + mask) as Tensor ops. Positions a bool mask, causality or a
        -inf score drop are constants: their weight is exactly 0 (Where picks a 0 score there,
        then the exp is multiplied by 0), and a row without kept positions is all zeros, as the
        forward makes it."""
        scores = MatMul.apply(q, _swap_last(k)) * self.scale
        if mask is not None and mask.dtype != bool:
            scores = scores + mask
        xp = scores._xp
        L, S = scores.shape[-2:]
        keep = xp.isfinite(scores.data)
        if mask is not None and mask.dtype == bool:
            keep &= mask.data
        if self.is_causal:
            keep &= xp.tri(L, S, 0, dtype=bool)
        axis = scores.ndim - 1
        if keep.all():
            return Softmax.apply(scores, axis=axis)
        # the row max over kept positions, a constant (softmax does not change under a shift)
        shift = xp.where(keep, scores.data, -xp.inf).max(axis=axis, keepdims=True)
        shift[~xp.isfinite(shift)] = 0
        kept = Where.apply(graph.constant(keep), scores - graph.constant(shift), graph.constant(xp.zeros((), scores.dtype)))
        e = Exp.apply(kept) * graph.constant(keep.astype(scores.dtype))
        z = Sum.apply(e, axis=(axis,), keepdims=True)
        empty_row = graph.constant((~keep.any(axis=axis, keepdims=True)).astype(scores.dtype))
        return e / (z + empty_row)


# ------------------------------------------------------------------ the fast path

_BLOCK_BYTES = 512 * 1024  # scores of one head block: about a core's L2 cache


def _flat_batch(a, batch):
    """(..., r, c) broadcast to ``batch`` + (r, c), as (B, r, c) (a view unless it broadcasts)."""
    xp = get_array_module(a)
    full = batch + a.shape[-2:]
    if a.shape != full:
        a = xp.ascontiguousarray(xp.broadcast_to(a, full))
    return a.reshape((-1,) + a.shape[-2:])


def _flat_mask(mask, batch, scores_shape):
    """The mask as (B, L, S) or, when it is the same for every batch entry, (L, S)."""
    if mask is None:
        return None
    if all(n == 1 for n in mask.shape[:-2]):
        xp = get_array_module(mask)
        return xp.broadcast_to(mask.reshape(mask.shape[-2:]), scores_shape[-2:])
    return _flat_batch(mask, batch)


def _heads_per_block(L, S, itemsize):
    return max(1, _BLOCK_BYTES // max(L * S * itemsize, 1))


def _blocks(fn, B, L, S, itemsize, xp):
    """Run ``fn(lo, hi)`` over head blocks of the flat batch B, the blocks spread over the pool
    (NumPy only), BLAS single-threaded meanwhile."""
    per_block = _heads_per_block(L, S, itemsize)
    if xp is not np:
        for b0 in range(0, B, per_block):
            fn(b0, min(b0 + per_block, B))
        return
    with blas_threads(1):
        parallel_for(fn, B, per_block)


class ScaledDotProductAttentionFast(ScaledDotProductAttention):
    """O = softmax(Q K^T * scale + mask) V"""

    saved_names = ("q", "k", "v", "p", "dropout_mult", "out", "mask")

    def forward(self, q, k, v, mask):
        xp = get_array_module(q, k, v)
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        qf, kf, vf = (_flat_batch(a, batch) for a in (q, k, v))
        B, L, S = qf.shape[0], qf.shape[1], kf.shape[1]
        maskf = _flat_mask(mask, batch, (B, L, S))
        if self.is_causal:  # the same as a bool mask that keeps key j <= query i
            maskf = xp.tri(L, S, 0, dtype=bool)
        masked = maskf is not None
        mult = None
        if self.dropout_p > 0:  # drawn up front, as the reference draws it (F makes sure the
            # scores have the full batch shape here)
            mult = _dropout_multiplier((B, L, S), self.dropout_p, q.dtype, q)
        p = xp.empty((B, L, S), dtype=q.dtype)
        result = xp.empty(batch + (L, vf.shape[2]), dtype=q.dtype)  # its own memory; out is a view
        out = result.reshape(B, L, -1)
        pd = p if mult is None else xp.empty_like(p)

        def block(lo, hi):
            s = p[lo:hi]
            xp.matmul(qf[lo:hi], xp.swapaxes(kf[lo:hi], -1, -2), out=s)
            s *= self.scale
            if maskf is not None:
                _mask_scores(s, maskf if maskf.ndim == 2 else maskf[lo:hi], False)
            _softmax_(s, masked)
            if mult is not None:
                xp.multiply(s, mult[lo:hi], out=pd[lo:hi])
            xp.matmul(pd[lo:hi], vf[lo:hi], out=out[lo:hi])

        _blocks(block, B, L, S, p.itemsize, xp)
        out = result
        self.shapes = (q.shape, k.shape, v.shape, None if mask is None else mask.shape)
        self.save_for_backward(q, k, v, p, mult, out, mask)
        return (out, pd.reshape(batch + (L, S))) if self.need_weights else out

    def backward(self, gout, gweights=None):
        """dV = Pd^T gO;  dP = (gO V^T + gW) * M;  dS = P * (dP - rowsum(gO * O + gW * Pd));
        dQ = dS K * scale;  dK = dS^T Q * scale;  dmask = dS"""
        q, k, v, p, mult, out, _ = self.saved_tensors
        xp = get_array_module(gout)
        batch = out.shape[:-2]
        qf, kf, vf = (_flat_batch(a, batch) for a in (q, k, v))
        B, L, S = p.shape
        go = gout.reshape(B, L, -1)
        of = out.reshape(B, L, -1)
        gw = None
        if gweights is not None and gweights.any():  # (all zeros when the weights were not used)
            gw = gweights.reshape(B, L, S)
        need_q, need_k, need_v, need_mask = self.needs_input_grad
        # the gradients get their own memory (a .grad must not be a view); g*f are (B, ., .) views
        gq, gk, gv = (xp.empty(batch + a.shape[-2:], dtype=a.dtype) if need else None
                      for a, need in ((q, need_q), (k, need_k), (v, need_v)))
        gqf, gkf, gvf = (None if a is None else a.reshape((B,) + a.shape[-2:]) for a in (gq, gk, gv))
        ds_all = xp.empty_like(p) if need_mask else None
        T = lambda a: xp.swapaxes(a, -1, -2)  # noqa: E731

        def block(lo, hi):
            pb = p[lo:hi]
            pd = pb if mult is None else pb * mult[lo:hi]
            if need_v:
                xp.matmul(T(pd), go[lo:hi], out=gvf[lo:hi])
            if not (need_q or need_k or need_mask):
                return
            ds = xp.matmul(go[lo:hi], T(vf[lo:hi]), out=None if ds_all is None else ds_all[lo:hi])  # dPd
            row = xp.einsum("ble,ble->bl", go[lo:hi], of[lo:hi])[..., None]  # rowsum(gO * O)
            if gw is not None:
                ds += gw[lo:hi]
                row += xp.einsum("bls,bls->bl", gw[lo:hi], pd)[..., None]
            if mult is not None:
                ds *= mult[lo:hi]
            ds -= row
            ds *= pb  # now dS
            if need_q:
                xp.matmul(ds, kf[lo:hi], out=gqf[lo:hi])
                gqf[lo:hi] *= self.scale
            if need_k:
                xp.matmul(T(ds), qf[lo:hi], out=gkf[lo:hi])
                gkf[lo:hi] *= self.scale

        _blocks(block, B, L, S, p.itemsize, xp)
        q_shape, k_shape, v_shape, mask_shape = self.shapes
        gq = None if gq is None else sum_to(gq, q_shape)
        gk = None if gk is None else sum_to(gk, k_shape)
        gv = None if gv is None else sum_to(gv, v_shape)
        gmask = None if ds_all is None else sum_to(ds_all.reshape(batch + (L, S)), mask_shape)
        return gq, gk, gv, gmask
