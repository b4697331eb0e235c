"""Losses with hand-derived, fused backwards.

Class-index losses take ``x`` of shape (N, C, d1, ...) (classes on axis 1) and ``target`` (N, d1, ...).
Positions whose target equals ``ignore_index`` contribute nothing; ``w_t`` below is the class weight
of each position's target (0 at ignored positions). Reductions follow PyTorch: ``'mean'`` divides by
``D = sum(w_t)`` for class-index targets, by the number of elements otherwise.

Each loss also has a ``backward_graph``: the same gradient formulas written with minigrad ops on the
saved inputs (and the loss itself, which the weight gradient of a 'mean' loss reads), so a
gradient of a loss can be differentiated again (Hessian-vector products, gradient penalties).
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module, scatter_add
from . import graph
from .activation import Softplus
from .broadcast import sum_to
from .elementwise import Sigmoid
from .reduce import Sum
from .shape import GetItem, IndexAdd, Reshape
from .softmax import LogSoftmax, Softmax, shift_is_needed


def _target_weights(gy, t, valid, weight, reduction):
    """For the differentiable backwards of the class-target losses: the valid mask as a constant,
    each position's weight w_t = w[t] (0 where ignored), denom = sum(w_t), and gy / denom for "mean"."""
    valid_ = graph.constant(valid)
    w_t = valid_ if weight is None else GetItem.apply(weight, index=t) * valid_
    denom = Sum.apply(w_t, axis=None, keepdims=False)
    return valid_, w_t, denom, (gy / denom if reduction == "mean" else gy)


def _class_index(t):
    """Fancy index that picks, at each position of ``t`` (N, d1, ...), class ``t[...]`` of axis 1."""
    xp = get_array_module(t)
    grids = xp.ix_(*[xp.arange(n) for n in t.shape])
    return (grids[0], t) + tuple(grids[1:])


def _on_class_axis(a, ndim):
    """(C,) -> (1, C, 1, ...) so that it broadcasts against an (N, C, d1, ...) array of ``ndim`` dims."""
    return a.reshape((1, -1) + (1,) * (ndim - 2))


def _reduce(loss, reduction, denom):
    """'none' -> the per-position loss; 'sum' -> its sum; 'mean' -> its sum / denom (0-d arrays)."""
    if reduction == "none":
        return loss
    xp = get_array_module(loss)
    total = loss.sum()
    if reduction == "mean":
        with _quiet():  # 0 / 0 -> nan when every target is ignored, as PyTorch
            total = total / denom
    return xp.asarray(total, dtype=loss.dtype)


def _per_position(gy, reduction, denom):
    """The gradient reaching each position's loss: gy, or gy / denom for 'mean'. A zero denom (every
    target ignored: the loss is 0/0 = NaN, as PyTorch) gives zero gradients, as PyTorch does: no
    position took part, so none gets a gradient, and one optimizer step can't turn weights into NaN."""
    if reduction != "mean":
        return gy
    xp = get_array_module(gy)
    with _quiet():
        return xp.where(denom == 0, xp.zeros((), dtype=gy.dtype), gy / denom)


def _quiet():
    """Silence NumPy's warnings for 0/0 (CuPy never warns)."""
    return np.errstate(divide="ignore", invalid="ignore")


def _targets(x, target, weight, ignore_index):
    """valid (as x's dtype), the safe target t (0 where ignored), and w_t."""
    xp = get_array_module(x)
    valid = target != ignore_index
    t = xp.where(valid, target, 0)
    valid = valid.astype(x.dtype)
    w_t = valid if weight is None else weight[t] * valid
    return valid, t, w_t


def _class_sum(a, weight):
    """sum_c w_c a_c over the class axis 1 (w = 1 without weights)."""
    if weight is None:
        return a.sum(axis=1)
    return (a * _on_class_axis(weight, a.ndim)).sum(axis=1)


def _class_weight_grad(weight, t, per_target, per_class=None):
    """dw_c = sum over positions with target c of ``per_target`` (+ sum over positions of ``per_class``)."""
    xp = get_array_module(weight)
    gw = xp.zeros(weight.shape, dtype=weight.dtype)
    scatter_add(gw, t.reshape(-1), per_target.reshape(-1))
    if per_class is not None:
        gw += per_class.sum(axis=(0,) + tuple(range(2, per_class.ndim)))
    return gw


def _unsqueeze_class(v):
    """A per-position Tensor (N, d1, ...) -> (N, 1, d1, ...), broadcasting over the classes (0-d: as is)."""
    return v if v.ndim == 0 else Reshape.apply(v, shape=v.shape[:1] + (1,) + v.shape[1:])


def _class_axis_tensor(weight, ndim):
    """The (C,) weight Tensor as (1, C, 1, ...) (``_on_class_axis`` for Tensors)."""
    return Reshape.apply(weight, shape=(1, -1) + (1,) * (ndim - 2))


def _non_class_axes(ndim):
    return (0,) + tuple(range(2, ndim))


def _scatter_to_classes(per_target, t, n_classes):
    """(C,) Tensor: sum over the positions whose target is c of ``per_target`` (an IndexAdd)."""
    return IndexAdd.apply(Reshape.apply(per_target, shape=(-1,)), index=t.reshape(-1), shape=(n_classes,))


class CrossEntropy(Function):
    """l = (1-eps) w_t (lse(x) - x_t) + eps/C sum_c w_c (lse(x) - x_c)"""
    saved_names = ("exp_x", "sum_exp", "target", "valid", "w_t", "denom", "nll", "loss", "weight", "x", "max_x", "log_sum_exp")

    def forward(self, x, target, weight):
        xp = get_array_module(x)
        n_classes, eps = x.shape[1], self.label_smoothing
        valid, t, w_t = _targets(x, target, weight, self.ignore_index)
        m = x.max(axis=1)
        w_sum = n_classes if weight is None else weight.sum()
        if shift_is_needed(m, x.dtype):  # exp(x - m) <= 1 cannot overflow
            e = x - xp.expand_dims(m, 1)
            s_w = _class_sum(e, weight) if eps else None  # sum_c w_c (x_c - m)
            xp.exp(e, out=e)
            se = e.sum(axis=1)
            r = xp.log(se)
        else:  # every max in [-60, 80]: exp(x) is safe as it is, and a pass is saved
            s_w = _class_sum(x, weight) - w_sum * m if eps else None
            e = xp.exp(x)
            se = e.sum(axis=1)
            r = xp.log(se * xp.exp(-m))
        # r = log sum_c exp(x_c - m), so -log softmax(x)_t = r + (m - x_t): no cancellation
        nll = r + (m - x[_class_index(t)])
        loss = w_t * nll
        if eps:
            loss *= 1 - eps
            loss += (eps / n_classes) * valid * (w_sum * r - s_w)
        denom = w_t.sum()
        out = _reduce(loss, self.reduction, denom)
        # the weight's gradient needs -log softmax(x) = r + m - x: keep x (not a copy) and m, r;
        # x is kept in any case for backward_graph (it is the input itself: no copy, no time)
        x_m_r = (x, m, r) if self.needs_input_grad[2] else (x, None, None)
        self.save_for_backward(e, se, t, valid, w_t, denom, nll, out, weight, *x_m_r)
        return out

    def backward(self, gy):
        """dx = g (a p - (1-eps) w_t onehot(t) - eps/C w),  p = softmax(x),  a = (1-eps) w_t + eps/C sum(w);
        dw_c = sum_{t=c} g (1-eps) (-log p_t) + sum g eps/C (-log p_c)  [- gy L/D per target c, for 'mean']"""
        e, se, t, valid, w_t, denom, nll, out, weight, x, m, r = self.saved_tensors
        xp = get_array_module(e)
        n_classes, eps = e.shape[1], self.label_smoothing
        g = _per_position(gy, self.reduction, denom)
        gx = gw = None
        if self.needs_input_grad[0]:
            a = w_t
            if eps:
                w_sum = n_classes if weight is None else weight.sum()
                a = (1 - eps) * w_t + (eps / n_classes) * w_sum * valid
            gx = e * xp.expand_dims(g * a / se, 1)
            gx[_class_index(t)] -= (1 - eps) * g * w_t
            if eps:
                smooth = xp.expand_dims((eps / n_classes) * g * valid, 1)
                gx -= smooth if weight is None else smooth * _on_class_axis(weight, e.ndim)
        if self.needs_input_grad[2]:
            per_target = (1 - eps) * g * nll * valid
            if self.reduction == "mean":
                with _quiet():
                    per_target = per_target - gy * out / denom * valid
            per_class = None
            if eps:
                neg_logp = (xp.expand_dims(m, 1) - x) + xp.expand_dims(r, 1)
                per_class = xp.expand_dims((eps / n_classes) * g * valid, 1) * neg_logp
            gw = _class_weight_grad(weight, t, per_target, per_class)
        return gx, None, gw

    def backward_graph(self, gy):
        """the formulas of ``backward`` on Tensors: p = Softmax(x), log p = LogSoftmax(x), w_t = w[t],
        onehot(t) and the sum over positions of target c are the IndexAdd scatter"""
        t, valid = self.saved_tensors[2:4]
        out, weight, x = self.unpack_saved()[7:10]
        n_classes, eps = x.shape[1], self.label_smoothing
        index = _class_index(t)
        valid_, w_t, denom, g = _target_weights(gy, t, valid, weight, self.reduction)
        gx = gw = None
        if self.needs_input_grad[0]:
            a = w_t
            if eps:
                w_sum = n_classes if weight is None else Sum.apply(weight, axis=None, keepdims=False)
                a = (1 - eps) * w_t + (eps / n_classes) * w_sum * valid_
            p = Softmax.apply(x, axis=1)
            gx = p * _unsqueeze_class(g * a) - IndexAdd.apply((1 - eps) * g * w_t, index=index, shape=x.shape)
            if eps:
                smooth = _unsqueeze_class((eps / n_classes) * g * valid_)
                gx = gx - (smooth if weight is None else smooth * _class_axis_tensor(weight, x.ndim))
        if self.needs_input_grad[2]:
            logp = LogSoftmax.apply(x, axis=1)
            per_target = (1 - eps) * g * -GetItem.apply(logp, index=index) * valid_
            if self.reduction == "mean":
                per_target = per_target - gy * out / denom * valid_
            gw = _scatter_to_classes(per_target, t, n_classes)
            if eps:
                per_class = _unsqueeze_class((eps / n_classes) * g * valid_) * -logp
                gw = gw + Sum.apply(per_class, axis=_non_class_axes(x.ndim), keepdims=False)
        return gx, None, gw


class CrossEntropyProbs(Function):
    """l = -sum_c w_c q_c log softmax(x)_c,  q = (1-eps) target + eps/C"""
    saved_names = ("log_probs", "q", "q_weighted", "weight")

    def forward(self, x, target, weight):
        xp = get_array_module(x)
        n_classes, eps = x.shape[1], self.label_smoothing
        logp = x - x.max(axis=1, keepdims=True)
        logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
        q = target * (1 - eps) + eps / n_classes if eps else target
        qw = q if weight is None else q * _on_class_axis(weight, x.ndim)
        loss = -(qw * logp).sum(axis=1)
        denom = loss.size
        out = _reduce(loss, self.reduction, denom)
        self.save_for_backward(logp, q, qw, weight, x, target)  # x, target: the inputs, for backward_graph
        self.denom = denom
        return out

    def backward(self, gy):
        """dx = g * (softmax(x) sum_c w_c q_c - w q);  dtarget = -g (1-eps) w log softmax(x);
        dw_c = -sum g q_c log softmax(x)_c"""
        logp, q, qw, weight, _, _ = self.saved_tensors
        xp = get_array_module(logp)
        g = _per_position(gy, self.reduction, self.denom)
        g = xp.expand_dims(g, 1) if self.reduction == "none" else g
        gx = gt = gw = None
        if self.needs_input_grad[0]:
            gx = xp.exp(logp)
            gx *= qw.sum(axis=1, keepdims=True)
            gx -= qw
            gx *= g
        if self.needs_input_grad[1]:
            gt = logp * (-(1 - self.label_smoothing) * g)
            if weight is not None:
                gt *= _on_class_axis(weight, logp.ndim)
        if self.needs_input_grad[2]:
            gw = -(g * q * logp).sum(axis=(0,) + tuple(range(2, logp.ndim)))
        return gx, gt, gw

    def backward_graph(self, gy):
        weight, x, target = self.unpack_saved()[3:6]
        n_classes, eps = x.shape[1], self.label_smoothing
        logp = LogSoftmax.apply(x, axis=1)
        q = target * (1 - eps) + eps / n_classes if eps else target
        w = None if weight is None else _class_axis_tensor(weight, x.ndim)
        qw = q if w is None else q * w
        g = gy / self.denom if self.reduction == "mean" else gy
        g = _unsqueeze_class(g) if self.reduction == "none" else g
        gx = gt = gw = None
        if self.needs_input_grad[0]:
            gx = g * (logp.exp() * Sum.apply(qw, axis=(1,), keepdims=True) - qw)
        if self.needs_input_grad[1]:
            gt = logp * (-(1 - eps) * g)
            gt = gt if w is None else gt * w
        if self.needs_input_grad[2]:
            gw = -Sum.apply(g * q * logp, axis=_non_class_axes(x.ndim), keepdims=False)
        return gx, gt, gw


class NLLLoss(Function):
    """l = -w_t x_t"""
    saved_names = ("target", "valid", "w_t", "x_t", "denom", "loss", "weight")

    def forward(self, x, target, weight):
        valid, t, w_t = _targets(x, target, weight, self.ignore_index)
        x_t = x[_class_index(t)]
        loss = -w_t * x_t
        denom = w_t.sum()
        out = _reduce(loss, self.reduction, denom)
        self.save_for_backward(t, valid, w_t, x_t, denom, out, weight, x)  # x: for backward_graph
        self.x_shape = x.shape
        return out

    def backward(self, gy):
        """dx = -g w_t onehot(t);  dw_c = -sum_{t=c} g x_t  [- gy L/D per target c, for 'mean']"""
        t, valid, w_t, x_t, denom, out, weight, _ = self.saved_tensors
        xp = get_array_module(w_t)
        g = _per_position(gy, self.reduction, denom)
        gx = gw = None
        if self.needs_input_grad[0]:
            gx = xp.zeros(self.x_shape, dtype=w_t.dtype)
            gx[_class_index(t)] = -g * w_t
        if self.needs_input_grad[2]:
            per_target = -g * x_t * valid
            if self.reduction == "mean":
                with _quiet():
                    per_target = per_target - gy * out / denom * valid
            gw = _class_weight_grad(weight, t, per_target)
        return gx, None, gw

    def backward_graph(self, gy):
        t, valid = self.saved_tensors[:2]
        out, weight, x = self.unpack_saved()[5:8]
        index = _class_index(t)
        valid_, w_t, denom, g = _target_weights(gy, t, valid, weight, self.reduction)
        gx = gw = None
        if self.needs_input_grad[0]:
            gx = IndexAdd.apply(-(g * w_t), index=index, shape=x.shape)
        if self.needs_input_grad[2]:
            per_target = -g * GetItem.apply(x, index=index) * valid_
            if self.reduction == "mean":
                per_target = per_target - gy * out / denom * valid_
            gw = _scatter_to_classes(per_target, t, x.shape[1])
        return gx, None, gw


class MSELoss(Function):
    """l = (a - b)^2"""
    saved_names = ("diff",)

    def forward(self, a, b):
        d = a - b
        self.save_for_backward(d, a, b)  # a, b: the inputs themselves, for backward_graph
        self.shapes, self.n = (a.shape, b.shape), d.size
        return _reduce(d * d, self.reduction, d.size)

    def backward(self, gy):
        """da = 2 g (a - b);  db = -da"""
        d, _, _ = self.saved_tensors
        ga = d * (2 * _per_position(gy, self.reduction, d.size))
        return (
            sum_to(ga, self.shapes[0]) if self.needs_input_grad[0] else None,
            sum_to(-ga, self.shapes[1]) if self.needs_input_grad[1] else None,
        )

    def backward_graph(self, gy):
        _, a, b = self.unpack_saved()
        ga = (a - b) * (2 * (gy / self.n if self.reduction == "mean" else gy))
        return (
            graph.sum_to(ga, self.shapes[0]) if self.needs_input_grad[0] else None,
            graph.sum_to(-ga, self.shapes[1]) if self.needs_input_grad[1] else None,
        )


class L1Loss(Function):
    """l = |a - b|"""
    saved_names = ("diff",)

    def forward(self, a, b):
        d = a - b
        self.save_for_backward(d)
        self.shapes = (a.shape, b.shape)
        return _reduce(abs(d), self.reduction, d.size)

    def backward(self, gy):
        """da = g sign(a - b);  db = -da"""
        (d,) = self.saved_tensors
        xp = get_array_module(d)
        ga = xp.sign(d) * _per_position(gy, self.reduction, d.size)
        return (
            sum_to(ga, self.shapes[0]) if self.needs_input_grad[0] else None,
            sum_to(-ga, self.shapes[1]) if self.needs_input_grad[1] else None,
        )

    def backward_graph(self, gy):
        (d,) = self.saved_tensors
        ga = graph.constant(get_array_module(d).sign(d)) * (gy / d.size if self.reduction == "mean" else gy)
        return (
            graph.sum_to(ga, self.shapes[0]) if self.needs_input_grad[0] else None,
            graph.sum_to(-ga, self.shapes[1]) if self.needs_input_grad[1] else None,
        )


class BCEWithLogits(Function):
    """l = w ((1 - t) x + (1 + (pw - 1) t) softplus(-x))"""
    saved_names = ("x", "target", "weight", "pos_weight", "softplus", "raw_loss")

    def forward(self, x, t, w, pw):
        xp = get_array_module(x)
        sp = xp.log1p(xp.exp(-abs(x)))
        sp += xp.maximum(-x, 0)  # softplus(-x) = log(1 + exp(-x)), without overflow
        lw = 1 if pw is None else 1 + (pw - 1) * t
        raw = (1 - t) * x + lw * sp
        loss = raw if w is None else raw * w
        self.save_for_backward(x, t, w, pw, sp, raw)
        return _reduce(loss, self.reduction, loss.size)

    def backward(self, gy):
        """dx = g w ((1 - t) - (1 + (pw - 1) t) sigmoid(-x));  dt = g w (-x + (pw - 1) softplus(-x));
        dpw = g w t softplus(-x);  dw = g ((1 - t) x + (1 + (pw - 1) t) softplus(-x))"""
        x, t, w, pw, sp, raw = self.saved_tensors
        xp = get_array_module(x)
        g = _per_position(gy, self.reduction, x.size)
        gw_ = g if w is None else g * w  # the gradient reaching the unweighted loss
        gx = gt = gw = gpw = None
        if self.needs_input_grad[0]:
            e = xp.exp(-abs(x))
            sig_neg = xp.where(x >= 0, e / (1 + e), 1 / (1 + e))  # sigmoid(-x)
            lw = 1 if pw is None else 1 + (pw - 1) * t
            gx = sum_to(gw_ * ((1 - t) - lw * sig_neg), x.shape)
        if self.needs_input_grad[1]:
            dt = -x if pw is None else (pw - 1) * sp - x
            gt = sum_to(gw_ * dt, t.shape)
        if self.needs_input_grad[2]:
            gw = sum_to(g * raw, w.shape)
        if self.needs_input_grad[3]:
            gpw = sum_to(gw_ * t * sp, pw.shape)
        return gx, gt, gw, gpw

    def backward_graph(self, gy):
        """the formulas of ``backward`` on Tensors, with softplus(-x) and sigmoid(-x) as ops"""
        x, t, w, pw = self.unpack_saved()[:4]
        g = gy / x.data.size if self.reduction == "mean" else gy
        gw_ = g if w is None else g * w
        sp = Softplus.apply(-x, beta=1.0, threshold=float("inf"))
        lw = 1 if pw is None else 1 + (pw - 1) * t
        gx = gt = gw = gpw = None
        if self.needs_input_grad[0]:
            gx = graph.sum_to(gw_ * ((1 - t) - lw * Sigmoid.apply(-x)), x.shape)
        if self.needs_input_grad[1]:
            gt = graph.sum_to(gw_ * (-x if pw is None else (pw - 1) * sp - x), t.shape)
        if self.needs_input_grad[2]:
            gw = graph.sum_to(g * ((1 - t) * x + lw * sp), w.shape)
        if self.needs_input_grad[3]:
            gpw = graph.sum_to(gw_ * t * sp, pw.shape)
        return gx, gt, gw, gpw
