"""Higher-order gradients: ``create_graph=True`` through the light op families (elementwise,
reductions, shape ops and indexing, matmul, softmax, activations, losses, vector ops), checked with
``gradgradcheck`` in float64, plus third derivatives, Hessians, Newton's method and HVPs."""
import math
import warnings

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import GradcheckError, autograd, gradcheck, gradgradcheck
from minigrad.autograd import Function
from minigrad.ops.activation import NormalCDF

RNG = np.random.default_rng(1234)


def t64(*shape, low=None, scale=1.0, requires_grad=True):
    """A float64 tensor of standard normals (|x| + low when ``low`` is given: positive values)."""
    a = RNG.standard_normal(shape) * scale
    if low is not None:
        a = np.abs(a) + low
    return mg.Tensor(a, dtype=mg.float64, requires_grad=requires_grad)


def check(f, *inputs):
    assert gradgradcheck(f, inputs)


# ------------------------------------------------------------------ elementwise

ELEMENTWISE = {
    "add broadcast": (lambda a, b: (a + b) ** 2, lambda: (t64(3, 4), t64(4))),
    "sub broadcast": (lambda a, b: (a - b) ** 2, lambda: (t64(3, 1), t64(1, 4))),
    "mul broadcast": (lambda a, b: a * b, lambda: (t64(2, 3, 4), t64(3, 1))),
    "mul scalar": (lambda a: 3 * a * a, lambda: (t64(5),)),
    "div": (lambda a, b: a / b, lambda: (t64(3, 4), t64(4, low=0.5))),
    "rdiv": (lambda a: 1 / a, lambda: (t64(3, low=0.5),)),
    "neg": (lambda a: -a * a, lambda: (t64(3),)),
    "pow scalar 3": (lambda a: a**3, lambda: (t64(3, 2),)),
    "pow scalar -1.5": (lambda a: a**-1.5, lambda: (t64(4, low=0.5),)),
    "pow scalar 1": (lambda a: a**1 * a, lambda: (t64(4),)),
    "pow scalar 0": (lambda a: a**0 * a, lambda: (t64(4),)),
    "rpow": (lambda a: 2.0**a, lambda: (t64(3, 2),)),
    "pow tensors": (lambda a, b: a**b, lambda: (t64(3, 4, low=0.5), t64(4))),
    "exp": (lambda a: a.exp(), lambda: (t64(2, 3),)),
    "log": (lambda a: a.log(), lambda: (t64(2, 3, low=0.5),)),
    "sqrt": (lambda a: a.sqrt(), lambda: (t64(2, 3, low=0.5),)),
    "abs": (lambda a: a.abs() * a, lambda: (t64(2, 3),)),
    "sin": (lambda a: a.sin(), lambda: (t64(2, 3),)),
    "cos": (lambda a: a.cos(), lambda: (t64(2, 3),)),
    "tanh": (lambda a: a.tanh(), lambda: (t64(2, 3),)),
    "sigmoid": (lambda a: a.sigmoid(), lambda: (t64(2, 3, scale=3),)),
    "relu": (lambda a: a.relu() * a, lambda: (t64(2, 3),)),
    "clamp": (lambda a: a.clamp(-0.5, 0.7) * a, lambda: (t64(3, 4),)),
    "clamp min only": (lambda a: a.clamp(min=0.1) ** 2, lambda: (t64(3, 4),)),
    "maximum": (lambda a, b: mg.maximum(a, b) * a, lambda: (t64(3, 4), t64(4))),
    "minimum": (lambda a, b: mg.minimum(a, b) * b, lambda: (t64(3, 4), t64(3, 1))),
    "where": (lambda a, b: mg.where(a > 0, a * a, b * b), lambda: (t64(3, 4), t64(4))),
    "clone": (lambda a: a.clone() ** 2, lambda: (t64(3),)),
    "masked_fill_ on non-leaf": (lambda a: (a * a).masked_fill_(a.detach() > 0, 0.5) * a, lambda: (t64(3, 4),)),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_gradgradcheck_elementwise(name):
    f, make = ELEMENTWISE[name]
    check(f, *make())


def test_gradgradcheck_cast_through_float32():
    # float32 in the middle: finite differences need a big step and loose tolerances
    f = lambda a: a.astype(mg.float32).astype(mg.float64) ** 2  # noqa: E731
    assert gradgradcheck(f, (t64(3),), eps=1e-2, atol=1e-3, rtol=1e-2)


# ------------------------------------------------------------------ reductions


@pytest.mark.parametrize("dim", [None, 1, (0, 2), -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("op", ["sum", "mean", "var", "std"])
def test_gradgradcheck_reductions(op, dim, keepdim):
    def f(a):
        y = getattr(a, op)(dim, keepdim=keepdim)
        return y * y if op in ("sum", "mean") else y

    check(f, t64(3, 4, 2))


@pytest.mark.parametrize("dim", [0, 1, 2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_gradgradcheck_max_min_along_dim(dim, keepdim):
    check(lambda a: a.max(dim, keepdim=keepdim)[0] ** 2, t64(3, 4, 2))
    check(lambda a: a.min(dim, keepdim=keepdim)[0] ** 3, t64(3, 4, 2))


def test_gradgradcheck_max_min_all():
    check(lambda a: a.max() * a, t64(3, 4))
    check(lambda a: a.min() ** 2, t64(5))


# ------------------------------------------------------------------ shape ops and indexing

SHAPE = {
    "reshape": (lambda a: a.reshape(4, 3) ** 2, (3, 4)),
    "flatten": (lambda a: a.flatten(1) ** 2, (2, 3, 2)),
    "permute": (lambda a: a.permute(2, 0, 1) ** 2, (2, 3, 4)),
    "transpose": (lambda a: a.transpose(0, 1) ** 2, (2, 3)),
    "T": (lambda a: a.T**2, (2, 3)),
    "expand": (lambda a: a.expand(2, 3, 4) ** 2, (3, 1)),
    "squeeze/unsqueeze": (lambda a: a.unsqueeze(1).squeeze(1) ** 2, (3, 2)),
    "slice": (lambda a: a[1:, ::2] ** 2, (3, 4)),
    "int and None": (lambda a: a[1, None] ** 2, (3, 4)),
    "repeated int index": (lambda a: a[[0, 2, 0, 0]] ** 2, (3, 4)),
    "repeated pairs": (lambda a: a[[0, 0, 1], [1, 1, 3]] ** 3, (3, 4)),
    "bool mask": (lambda a: a[a.detach() > 0] ** 2, (3, 4)),
    "ellipsis": (lambda a: a[..., 1] ** 2, (2, 3, 2)),
}


@pytest.mark.parametrize("name", list(SHAPE))
def test_gradgradcheck_shape_ops(name):
    f, shape = SHAPE[name]
    check(f, t64(*shape))


def test_gradgradcheck_cat_stack():
    check(lambda a, b: mg.cat([a, b], dim=0) ** 2, t64(2, 3), t64(1, 3))
    check(lambda a, b: mg.cat([a, b, a], dim=1) ** 2, t64(2, 3), t64(2, 1))
    check(lambda a, b: mg.stack([a, b], dim=1) ** 2, t64(2, 3), t64(2, 3))
    b = t64(2, 3, requires_grad=False)
    check(lambda a: mg.stack([b, a], dim=-1) ** 2, t64(2, 3))


def test_gradgradcheck_setitem_index_put():
    def f(a, v):
        h = a * 1.0
        h[[0, 2], 1:] = v * v
        return h * a

    check(f, t64(3, 4), t64(3))


def test_index_add_is_getitems_adjoint():
    """<x[idx], g> == <x, IndexAdd(g)> with repeated indices: the two are adjoint."""
    x = RNG.standard_normal((4, 3))
    idx = np.array([0, 3, 0, 0])
    g = RNG.standard_normal((4, 3))
    picked = mg.Tensor(x)[idx].numpy()
    from minigrad.ops.shape import IndexAdd

    scattered = IndexAdd.apply(mg.Tensor(g), index=idx, shape=(4, 3)).numpy()
    assert np.isclose((picked * g).sum(), (x * scattered).sum())
    check(lambda v: IndexAdd.apply(v, index=idx, shape=(4, 3)) ** 2, t64(4, 3))


def test_sum_to_is_expands_adjoint():
    from minigrad.ops.broadcast import SumTo

    check(lambda a: SumTo.apply(a, shape=(3, 1)) ** 2, t64(2, 3, 4))
    check(lambda a: SumTo.apply(a * a, shape=(4,)), t64(3, 4))


# ------------------------------------------------------------------ matmul


@pytest.mark.parametrize(
    "sa, sb", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 2)), ((2, 1, 3, 4), (3, 4, 2))]
)
def test_gradgradcheck_matmul(sa, sb):
    check(lambda a, b: a @ b, t64(*sa), t64(*sb))


def test_gradgradcheck_matmul_one_side():
    w = t64(4, 2, requires_grad=False)
    check(lambda a: (a @ w).tanh(), t64(3, 4))


# ------------------------------------------------------------------ softmax family and activations


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gradgradcheck_softmax_log_softmax(dim):
    check(lambda a: a.softmax(dim), t64(3, 4, 2))
    check(lambda a: a.log_softmax(dim), t64(3, 4, 2))
    check(lambda a: F.softmax(a * 5.0, dim=dim), t64(2, 5))


def test_softmax_compact_double_backward_matches_docstring():
    """The formulas in Softmax.backward_graph's and LogSoftmax.backward_graph's docstrings."""
    x, gy, gg = t64(3, 5), t64(3, 5), RNG.standard_normal((3, 5))
    y = x.softmax(1)
    (gx,) = autograd.grad(y, x, grad_outputs=gy, create_graph=True)
    dx, dgy = autograd.grad(gx, [x, gy], grad_outputs=mg.Tensor(gg))
    yv, g = y.detach().numpy(), gy.detach().numpy()
    s = (g * yv).sum(1, keepdims=True)
    u = gg * (g - s) - (gg * yv).sum(1, keepdims=True) * g
    np.testing.assert_allclose(dgy.numpy(), yv * (gg - (gg * yv).sum(1, keepdims=True)), atol=1e-12)
    np.testing.assert_allclose(dx.numpy(), yv * (u - (u * yv).sum(1, keepdims=True)), atol=1e-12)

    y = x.log_softmax(1)
    (gx,) = autograd.grad(y, x, grad_outputs=gy, create_graph=True)
    dx, dgy = autograd.grad(gx, [x, gy], grad_outputs=mg.Tensor(gg))
    p = np.exp(y.detach().numpy())
    centered = gg - (gg * p).sum(1, keepdims=True)
    np.testing.assert_allclose(dgy.numpy(), centered, atol=1e-12)
    np.testing.assert_allclose(dx.numpy(), -g.sum(1, keepdims=True) * p * centered, atol=1e-12)


ACTIVATIONS = {
    "gelu": lambda a: F.gelu(a),
    "gelu tanh": lambda a: F.gelu(a, approximate="tanh"),
    "leaky_relu": lambda a: F.leaky_relu(a, 0.1) * a,
    "relu (F)": lambda a: F.relu(a) ** 2,
    "normal cdf": lambda a: NormalCDF.apply(a),
    "softplus": lambda a: F.softplus(a, beta=1.5, threshold=2.0),
    "silu": lambda a: F.silu(a),
    "elu": lambda a: F.elu(a, alpha=0.7),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_gradgradcheck_activations(name):
    check(ACTIVATIONS[name], t64(3, 4, scale=2))


def test_gradgradcheck_dropout():
    def f(a):
        mg.manual_seed(7)  # the same mask on every call of f
        return F.dropout(a, 0.4, training=True) * a

    check(f, t64(4, 5))


# ------------------------------------------------------------------ losses

T_IDX = mg.Tensor(np.array([0, 2, 1, 2]))
T_IGN = mg.Tensor(np.array([0, -100, 1, 2]))
T_4D = mg.Tensor(np.array([[0, 2], [1, -100]]))


def _weight():
    return mg.Tensor(np.abs(RNG.standard_normal(3)) + 0.5, dtype=mg.float64, requires_grad=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_gradgradcheck_cross_entropy(reduction, smoothing):
    kw = dict(reduction=reduction, label_smoothing=smoothing)
    check(lambda x: F.cross_entropy(x, T_IDX, **kw), t64(4, 3))
    check(lambda x, w: F.cross_entropy(x, T_IGN, weight=w, **kw), t64(4, 3), _weight())
    check(lambda x, w: F.cross_entropy(x, T_4D, weight=w, ignore_index=-100, **kw), t64(2, 3, 2), _weight())
    probs = mg.Tensor(RNG.dirichlet(np.ones(3), size=4), dtype=mg.float64, requires_grad=True)
    check(lambda x, q, w: F.cross_entropy(x, q, weight=w, **kw), t64(4, 3), probs, _weight())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradgradcheck_nll_mse_l1_bce(reduction):
    check(lambda x, w: F.nll_loss(x * x, T_IGN, weight=w, reduction=reduction), t64(4, 3), _weight())
    check(lambda x: F.nll_loss(x.log_softmax(1), T_IDX, reduction=reduction), t64(4, 3))
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction), t64(4, 3), t64(4, 3))
    check(lambda a, b: F.l1_loss(a * a, b, reduction=reduction), t64(4, 3), t64(4, 3))
    target = mg.Tensor(RNG.random((4, 3)), dtype=mg.float64, requires_grad=True)
    pos_weight = mg.Tensor(RNG.random(3) + 0.5, dtype=mg.float64, requires_grad=True)
    check(
        lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction),
        t64(4, 3, scale=2), target, t64(4, 1), pos_weight,
    )
    check(lambda x: F.binary_cross_entropy_with_logits(x, target.detach(), reduction=reduction), t64(4, 3))


def test_gradgradcheck_mse_broadcast():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the broadcast warning of mse_loss
        check(lambda a, b: F.mse_loss(a, b), t64(4, 3), t64(3))


# ------------------------------------------------------------------ vector ops


def test_gradgradcheck_cosine_similarity():
    check(lambda a, b: F.cosine_similarity(a, b, dim=1), t64(3, 4), t64(3, 4))
    check(lambda a, b: F.cosine_similarity(a, b, dim=-1), t64(3, 4), t64(1, 4))
    check(lambda a, b: F.cosine_similarity(a, b, dim=0), t64(3, 4), t64(3, 4))
    check(lambda a, b: F.cosine_similarity(a * 0.1, b, dim=1, eps=0.3), t64(3, 4), t64(3, 4))  # clamped norms


@pytest.mark.parametrize("p", [2, 1, 3, 1.5])
def test_gradgradcheck_normalize(p):
    check(lambda a: F.normalize(a, p=p, dim=1), t64(3, 4))
    check(lambda a: F.normalize(a * 0.1, p=p, dim=0, eps=0.25), t64(3, 4))


def test_gradgradcheck_pad():
    check(lambda a: F.pad(a, (1, 2)) ** 2, t64(3, 4))
    check(lambda a: F.pad(a, (-1, 2, 1, -1), value=0.5) ** 2, t64(3, 4))


# ------------------------------------------------------------------ third derivatives


def _derivatives(f, x, n):
    """[f'(x), f''(x), ..., f^(n)(x)] by nested autograd.grad with create_graph=True."""
    out, y = [], f(x)
    for _ in range(n):
        (y,) = autograd.grad(y.sum(), x, create_graph=True)
        out.append(y.detach().numpy())
    return out


THIRD = {
    # name: (f, [f', f'', f'''] analytically)
    "tanh": (lambda x: x.tanh(), lambda v: (
        1 - np.tanh(v) ** 2, -2 * np.tanh(v) * (1 - np.tanh(v) ** 2), -2 * (1 - np.tanh(v) ** 2) * (1 - 3 * np.tanh(v) ** 2))),
    "sin": (lambda x: x.sin(), lambda v: (np.cos(v), -np.sin(v), -np.cos(v))),
    "sigmoid": (lambda x: x.sigmoid(), lambda v: (
        (s := 1 / (1 + np.exp(-v))) * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s * s))),
    "x exp(x)": (lambda x: x * x.exp(), lambda v: ((v + 1) * np.exp(v), (v + 2) * np.exp(v), (v + 3) * np.exp(v))),
    "log": (lambda x: x.log(), lambda v: (1 / v, -1 / v**2, 2 / v**3)),
    "x**4": (lambda x: x**4, lambda v: (4 * v**3, 12 * v**2, 24 * v)),
}


@pytest.mark.parametrize("name", list(THIRD))
def test_third_derivatives_match_analytic(name):
    f, analytic = THIRD[name]
    x = t64(6, low=0.2)
    for got, want in zip(_derivatives(f, x, 3), analytic(x.detach().numpy())):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_third_derivative_gradgradcheck_of_a_gradient():
    """gradgradcheck of x -> f'(x) (built with create_graph) checks f''' against finite differences."""

    def first(x):
        (g,) = autograd.grad((x.tanh() * x.sin()).sum(), x, create_graph=True)
        return g

    check(first, t64(5))


# ------------------------------------------------------------------ Hessians, Newton, HVP


def _hessian(loss_fn, params):
    """Full Hessian of ``loss_fn(*params)`` (flattened over all params) by double backward."""
    loss = loss_fn(*params)
    grads = autograd.grad(loss, params, create_graph=True)
    flat = mg.cat([g.reshape(-1) for g in grads])
    rows = []
    for i in range(flat.shape[0]):
        row = autograd.grad(flat[i], params, retain_graph=True, allow_unused=True)
        rows.append(np.concatenate([np.zeros(p.numel()) if r is None else r.numpy().reshape(-1) for r, p in zip(row, params)]))
    return np.stack(rows), flat


def test_hessian_by_double_backward_equals_analytic():
    # f(x) = x0^2 x1 + x1^3 + exp(x0 x2) + sin(x2)
    def f(x):
        return x[0] ** 2 * x[1] + x[1] ** 3 + (x[0] * x[2]).exp() + x[2].sin()

    v = np.array([0.3, -0.7, 1.1])
    x = mg.Tensor(v, dtype=mg.float64, requires_grad=True)
    H, _ = _hessian(f, [x])
    x0, x1, x2 = v
    e = math.exp(x0 * x2)
    want = np.array([
        [2 * x1 + x2 * x2 * e, 2 * x0, e + x0 * x2 * e],
        [2 * x0, 6 * x1, 0.0],
        [e + x0 * x2 * e, 0.0, x0 * x0 * e - math.sin(x2)],
    ])
    np.testing.assert_allclose(H, want, rtol=1e-12, atol=1e-12)


def test_newton_on_quartic_converges_in_known_steps():
    """f(x) = x^4 - 2x^2 from x = 2: x <- x - f'(x)/f''(x), f' = 4x^3 - 4x, f'' = 12x^2 - 4."""
    expected, v = [], 2.0
    while abs(v - 1.0) > 1e-12:
        v = v - (4 * v**3 - 4 * v) / (12 * v**2 - 4)
        expected.append(v)
    assert len(expected) == 7  # the known count (DeZero's step 33 shows the same iterates)

    x = mg.Tensor(2.0, dtype=mg.float64, requires_grad=True)
    got = []
    for _ in expected:
        y = x**4 - 2 * x**2
        (g,) = autograd.grad(y, x, create_graph=True)
        (h,) = autograd.grad(g, x)
        x = mg.Tensor(x.item() - g.item() / h.item(), dtype=mg.float64, requires_grad=True)
        got.append(x.item())
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    assert got[-1] == pytest.approx(1.0, abs=1e-12)


def _mlp_params():
    return [t64(4, 5, scale=0.5), t64(5, scale=0.1), t64(5, 3, scale=0.5), t64(3, scale=0.1)]


def _mlp_loss(X, target):
    def loss(w1, b1, w2, b2):
        return F.cross_entropy((X @ w1 + b1).tanh() @ w2 + b2, target)

    return loss


def test_hvp_on_small_mlp_equals_full_hessian_times_v():
    X = t64(6, 4, requires_grad=False)
    target = mg.Tensor(np.array([0, 1, 2, 1, 0, 2]))
    params = _mlp_params()
    loss_fn = _mlp_loss(X, target)
    H, _ = _hessian(loss_fn, params)
    assert np.allclose(H, H.T, atol=1e-12)  # a Hessian is symmetric

    # the Hessian against central differences of the (first-order) gradient
    flat = np.concatenate([p.numpy().reshape(-1) for p in params])

    def grad_at(theta):
        ps, k = [], 0
        for p in params:
            ps.append(mg.Tensor(theta[k:k + p.numel()].reshape(p.shape), dtype=mg.float64, requires_grad=True))
            k += p.numel()
        return np.concatenate([g.numpy().reshape(-1) for g in autograd.grad(loss_fn(*ps), ps)])

    eps, numeric = 1e-6, np.zeros_like(H)
    for i in range(flat.size):
        d = np.zeros_like(flat)
        d[i] = eps
        numeric[:, i] = (grad_at(flat + d) - grad_at(flat - d)) / (2 * eps)
    np.testing.assert_allclose(H, numeric, atol=1e-6)

    # Hessian-vector product without forming H: grad(<grad(loss), v>)
    v = [mg.Tensor(RNG.standard_normal(p.shape), dtype=mg.float64) for p in params]
    grads = autograd.grad(loss_fn(*params), params, create_graph=True)
    dot = sum((g * vi).sum() for g, vi in zip(grads, v))
    hvp = np.concatenate([h.numpy().reshape(-1) for h in autograd.grad(dot, params)])
    np.testing.assert_allclose(hvp, H @ np.concatenate([vi.numpy().reshape(-1) for vi in v]), atol=1e-12)


def test_gradgradcheck_small_mlp():
    X = t64(3, 4, requires_grad=False)
    target = mg.Tensor(np.array([0, 2, 1]))
    check(_mlp_loss(X, target), *_mlp_params())


# ------------------------------------------------------------------ engine behaviour


def test_backward_create_graph_leaves_grad_with_grad_fn():
    x = t64(4)
    y = (x**3).sum()
    y.backward(create_graph=True)
    assert x.grad is not None and x.grad.grad_fn is not None and x.grad.requires_grad
    np.testing.assert_allclose(x.grad.detach().numpy(), 3 * x.detach().numpy() ** 2)
    g = x.grad
    x.grad = None
    g.sum().backward()  # d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())


def test_backward_without_create_graph_gives_plain_grad():
    x = t64(4)
    (x**3).sum().backward()
    assert x.grad.grad_fn is None and not x.grad.requires_grad


class _SquareWrongGraph(Function):
    """y = x^2, whose backward_graph has the right value but a wrong derivative (x + x.detach())"""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        """dx = 2 x gy"""
        (x,) = self.saved_tensors
        return 2 * x * gy

    def backward_graph(self, gy):
        (x,) = self.unpack_saved()
        return gy * (x + x.detach())  # value 2x, but d/dx of it is 1, not 2


class _CubeFirstOrderOnly(Function):
    """y = x^3 (no backward_graph)"""

    def forward(self, x):
        self.save_for_backward(x)
        return x**3

    def backward(self, gy):
        """dx = 3 x^2 gy"""
        (x,) = self.saved_tensors
        return 3 * x * x * gy


def test_gradgradcheck_fails_on_wrong_second_derivative():
    x = t64(4)
    assert gradcheck(lambda a: _SquareWrongGraph.apply(a), (x,))  # the first order is right
    with pytest.raises(GradcheckError, match="mismatch"):
        gradgradcheck(lambda a: _SquareWrongGraph.apply(a), (x,))
    assert gradgradcheck(lambda a: _SquareWrongGraph.apply(a), (x,), raise_exception=False) is False


def test_op_without_double_backward_raises_naming_it():
    x = t64(3)
    y = _CubeFirstOrderOnly.apply(x * 2).sum()
    (g,) = autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 24 * x.detach().numpy() ** 2)  # first order is right
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="_CubeFirstOrderOnlyBackward"):
        g.sum().backward()
    with pytest.raises(RuntimeError, match="double backward is not supported"):  # gradgradcheck too
        gradgradcheck(lambda a: _CubeFirstOrderOnly.apply(a), (x,))
