"""Higher-order gradients through the heavy op families: normalization (batch, group, instance,
layer), scaled dot-product attention, embedding, interpolate, roi_align / roi_pool, linear, the
conv family (conv2d, conv_transpose2d, conv1d), max / avg / adaptive-avg pooling, and a gradient
penalty through a small CNN.

``gradgradcheck`` in float64 on several shapes and arguments, on both kernel paths (the fast
Functions and, inside ``minigrad.kernels.reference_kernels()``, the reference ones: the fast ones
inherit the reference's ``backward_graph``, so both must save what it unpacks). Plus BatchNorm's
compact double backward, written in its docstring, against the composed graph."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import autograd, gradgradcheck
from minigrad.functional.attention import _attention_with_weights

RNG = np.random.default_rng(4321)


def t64(*shape, requires_grad=True, positive=False):
    a = RNG.standard_normal(shape)
    if positive:
        a = np.abs(a) + 0.5
    return mg.tensor(a, dtype=mg.float64, requires_grad=requires_grad)  # on the test's device


@pytest.fixture(params=["fast", "reference"])
def kernels(request):
    with mg.kernels.reference_kernels(request.param == "reference"):
        yield request.param


def check(f, *inputs):
    assert gradgradcheck(f, inputs)


# ------------------------------------------------------------------ normalization


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (3, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train(kernels, shape, affine):
    c = shape[1]
    params = (t64(c), t64(c)) if affine else ()
    rm, rv = mg.zeros(c, dtype=mg.float64), mg.ones(c, dtype=mg.float64)

    def f(x, *wb):
        return F.batch_norm(x, rm, rv, *wb, training=True)

    check(f, t64(*shape), *params)


@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval_is_affine(kernels, affine):
    rm, rv = t64(3, requires_grad=False), t64(3, requires_grad=False, positive=True)
    params = (t64(3), t64(3)) if affine else ()
    check(lambda x, *wb: F.batch_norm(x, rm, rv, *wb, training=False) ** 2, t64(4, 3, 2, 2), *params)


def test_batch_norm_train_second_derivative_through_a_square(kernels):
    # y**2 makes the gradient depend on y: the x -> statistics -> y paths are exercised twice
    check(lambda x, w: F.batch_norm(x, None, None, w, None, training=True) ** 2, t64(6, 2, 3), t64(2))


def test_batch_norm_empty_batch(kernels):
    x, w, b = t64(0, 3, 2), t64(3), t64(3)
    y = F.batch_norm(x, None, None, w, b, training=True)
    gx, gw, gb = autograd.grad(y, (x, w, b), grad_outputs=mg.zeros(0, 3, 2, dtype=mg.float64), create_graph=True)
    assert gx.shape == (0, 3, 2) and gw.shape == (3,) and gb.shape == (3,)
    assert not gw.detach().numpy().any() and not gb.detach().numpy().any()


def test_batch_norm_compact_double_backward_in_its_docstring():
    """BatchNorm.backward_graph's docstring formulas (per channel, M = mean over the channel)
    against the composed graph's double backward."""
    n, c, l = 4, 3, 5
    x, w, b = t64(n, c, l), t64(c), t64(c)
    gy = t64(n, c, l)
    ggx, ggw, ggb = (RNG.standard_normal(s) for s in ((n, c, l), (c,), (c,)))
    y = F.batch_norm(x, None, None, w, b, training=True, eps=1e-5)
    dx, dw, db = autograd.grad(y, (x, w, b), grad_outputs=gy, create_graph=True)
    loss = (dx * mg.tensor(ggx)).sum() + (dw * mg.tensor(ggw)).sum() + (db * mg.tensor(ggb)).sum()
    d_gy, d_x, d_w = (t.numpy() for t in autograd.grad(loss, (gy, x, w)))

    X, W, G = x.detach().numpy(), w.detach().numpy()[:, None], gy.detach().numpy()
    M = lambda a: a.mean(axis=(0, 2), keepdims=True)  # noqa: E731
    s = 1 / np.sqrt(M((X - M(X)) ** 2) + 1e-5)
    xhat = (X - M(X)) * s
    ghat = G * W
    ggw, ggb = ggw[:, None], ggb[:, None]
    proj_ggx = s * (ggx - M(ggx) - xhat * M(ggx * xhat))
    want_gy = W * proj_ggx + ggw * xhat + ggb
    want_w = (G * proj_ggx).sum(axis=(0, 2))
    want_x = s**2 * (3 * M(ggx * xhat) * M(ghat * xhat) * xhat - M(ghat * xhat) * (ggx - M(ggx))
                     - M(ggx * xhat) * (ghat - M(ghat)) - M(ggx * (ghat - M(ghat))) * xhat) \
        + ggw * s * (G - M(G) - xhat * M(G * xhat))
    np.testing.assert_allclose(d_gy, want_gy, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d_w, want_w, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(d_x, want_x, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", [1, 2, 6])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm(kernels, groups, affine):
    params = (t64(6), t64(6)) if affine else ()
    check(lambda x, *wb: F.group_norm(x, groups, *wb), t64(2, 6, 3), *params)


def test_group_norm_4d_squared(kernels):
    check(lambda x, w: F.group_norm(x, 2, w) ** 2, t64(2, 4, 2, 2), t64(4))


@pytest.mark.parametrize("use_input_stats", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_instance_norm(kernels, use_input_stats, affine):
    rm, rv = t64(3, requires_grad=False), t64(3, requires_grad=False, positive=True)
    params = dict(weight=t64(3), bias=t64(3)) if affine else {}

    def f(x, *wb):
        kw = dict(zip(("weight", "bias"), wb))
        return F.instance_norm(x, rm, rv, use_input_stats=use_input_stats, **kw) ** 2

    check(f, t64(2, 3, 4), *params.values())


@pytest.mark.parametrize("shape,normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((2, 2, 1, 4), (4,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(kernels, shape, normalized, affine):
    params = (t64(*normalized), t64(*normalized)) if affine else ()
    check(lambda x, *wb: F.layer_norm(x, normalized, *wb) ** 2, t64(*shape), *params)


def test_layer_norm_third_derivative_has_a_graph(kernels):
    x = t64(2, 5)
    y = F.layer_norm(x, 5)
    (g,) = autograd.grad((y**3).sum(), x, create_graph=True)
    (h,) = autograd.grad((g * g).sum(), x, create_graph=True)
    assert h.grad_fn is not None
    check(lambda a: autograd.grad((F.layer_norm(a, 5) ** 3).sum(), a, create_graph=True)[0], x)


# ------------------------------------------------------------------ attention


def sdpa(**kw):
    return lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw)


def test_sdpa_plain(kernels):
    check(sdpa(), t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3))


def test_sdpa_scale_and_broadcast_batch(kernels):
    check(sdpa(scale=0.3), t64(2, 1, 3, 4), t64(1, 2, 5, 4), t64(2, 2, 5, 3))


def test_sdpa_causal(kernels):
    check(sdpa(is_causal=True), t64(2, 4, 3), t64(2, 4, 3), t64(2, 4, 2))
    check(sdpa(is_causal=True), t64(3, 3), t64(5, 3), t64(5, 2))  # L < S: top-left aligned


def test_sdpa_bool_mask_with_a_fully_masked_row(kernels):
    keep = RNG.random((3, 5)) > 0.4
    keep[1] = False  # that row's output and gradients are zero
    keep[0, 0] = True
    check(sdpa(attn_mask=mg.tensor(keep)), t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3))


def test_sdpa_float_mask_that_requires_grad(kernels):
    def f(q, k, v, m):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)

    check(f, t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3), t64(3, 5))


def test_sdpa_float_mask_with_minus_inf(kernels):
    m = np.where(RNG.random((3, 5)) > 0.3, RNG.standard_normal((3, 5)), -np.inf)
    m[2] = -np.inf
    check(sdpa(attn_mask=mg.tensor(m)), t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3))


def test_sdpa_dropout(kernels):
    def f(q, k, v):
        mg.manual_seed(7)  # the same dropout mask at every evaluation
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)

    check(f, t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3))


def test_sdpa_with_weights_as_an_output(kernels):
    def f(q, k, v):
        mg.manual_seed(7)
        return _attention_with_weights(q, k, v, dropout_p=0.2)

    check(f, t64(2, 3, 4), t64(2, 5, 4), t64(2, 5, 3))


# ------------------------------------------------------------------ embedding


@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_weight(kernels, padding_idx):
    idx = mg.tensor(np.array([[0, 2, 2], [4, 0, 1]]))
    check(lambda w: F.embedding(idx, w, padding_idx=padding_idx) ** 2, t64(5, 3))
    check(lambda w: F.embedding(idx, w, padding_idx=padding_idx), t64(5, 3))


def test_embedding_gradient_is_a_scatter_add_of_the_gradient():
    idx = mg.tensor(np.array([1, 1, 3]))
    w = t64(4, 2)
    gy = t64(3, 2)
    (gw,) = autograd.grad(F.embedding(idx, w), w, grad_outputs=gy, create_graph=True)
    assert type(gw.grad_fn).__name__ == "IndexAdd"
    (ggy,) = autograd.grad((gw * gw).sum(), gy)  # d/dgy sum(gw^2) = 2 gw[idx]
    np.testing.assert_allclose(ggy.numpy(), 2 * gw.detach().numpy()[[1, 1, 3]])


# ------------------------------------------------------------------ interpolate

INTERPOLATE = [
    dict(size=(5, 7), mode="bilinear"),
    dict(size=(5, 7), mode="bilinear", align_corners=True),
    dict(size=(2, 3), mode="bilinear", align_corners=True),
    dict(scale_factor=(1.5, 0.7), mode="bilinear"),
    dict(scale_factor=2, mode="nearest"),
    dict(size=(5, 3), mode="nearest"),
    dict(size=(2, 3), mode="nearest-exact"),
]


@pytest.mark.parametrize("kw", INTERPOLATE, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_interpolate(kw):
    x = t64(1, 2, 3, 4)
    check(lambda a: F.interpolate(a, **kw) ** 2, x)
    check(lambda a: F.interpolate(a, **kw), x)


def test_interpolate_and_its_adjoint_call_each_other():
    x = t64(1, 2, 3, 4)
    y = F.interpolate(x, size=(5, 6), mode="bilinear")
    assert type(y.grad_fn).__name__ == "Interpolate"
    (g,) = autograd.grad((y**3).sum(), x, create_graph=True)
    (h,) = autograd.grad((g**2).sum(), x, create_graph=True)  # the adjoint's gradient: Interpolate again
    names = set()
    stack, seen = [h.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        names.add(type(fn).__name__)
        stack.extend(e[0] for e in fn.next if e is not None and e[1] is not None)
    assert {"Interpolate", "InterpolateAdjoint"} <= names
    # <interp(x), u> == <x, adjoint(u)>
    from minigrad.ops.resample import InterpolateAdjoint

    u = t64(1, 2, 5, 6, requires_grad=False)
    a = InterpolateAdjoint.apply(u, in_hw=(3, 4), size=(5, 6), scales=(None, None), mode="bilinear", align_corners=False)
    np.testing.assert_allclose((y.detach() * u).sum().item(), (x.detach() * a).sum().item(), rtol=1e-12)


# ------------------------------------------------------------------ roi_align / roi_pool

BOXES = np.array([[0, 0.5, 1.0, 3.2, 4.1], [1, 1.3, 0.2, 4.0, 3.9], [0, 2, 2, 2.5, 2.5]])


@pytest.mark.parametrize("kw", [dict(output_size=(2, 3)),
                                dict(output_size=(3, 2), sampling_ratio=2, aligned=True, spatial_scale=0.8)])
def test_roi_align(kw):
    boxes = mg.tensor(BOXES)
    check(lambda x: F.roi_align(x, boxes, **kw) ** 2, t64(2, 2, 5, 5))


@pytest.mark.parametrize("kw", [dict(output_size=(2, 2)), dict(output_size=(3, 3), spatial_scale=0.5)])
def test_roi_pool(kw):
    boxes = mg.tensor(BOXES)
    check(lambda x: F.roi_pool(x, boxes, **kw) ** 3, t64(2, 2, 5, 5))


# ------------------------------------------------------------------ linear, conv family, pooling

CONV2D = {
    "padding 1, bias": (dict(padding=1), (2, 2, 4, 4), (3, 2, 3, 3), True),
    "stride 2, asymmetric": (dict(stride=2, padding=(1, 0)), (1, 2, 5, 6), (2, 2, 3, 2), True),
    "dilation, groups": (dict(dilation=(1, 2), groups=2), (1, 4, 5, 6), (4, 2, 2, 2), False),
    "1x1": (dict(), (2, 3, 3, 3), (2, 3, 1, 1), True),
}


@pytest.mark.parametrize("name", list(CONV2D))
def test_conv2d(kernels, name):
    kw, xs, ws, bias = CONV2D[name]
    args = (t64(*xs), t64(*ws)) + ((t64(ws[0]),) if bias else ())
    check(lambda x, w, *b: F.conv2d(x, w, *b, **kw) ** 2, *args)


CONV_T = {
    "stride 2, output_padding": (dict(stride=2, padding=1, output_padding=1), (1, 2, 3, 3), (2, 3, 3, 3), True),
    "groups, dilation": (dict(stride=2, groups=2, dilation=2), (1, 4, 2, 3), (4, 1, 2, 2), False),
    "stride 1": (dict(padding=1), (2, 2, 3, 3), (2, 2, 3, 3), True),
}


@pytest.mark.parametrize("name", list(CONV_T))
def test_conv_transpose2d(kernels, name):
    kw, xs, ws, bias = CONV_T[name]
    args = (t64(*xs), t64(*ws)) + ((t64(ws[1] * kw.get("groups", 1)),) if bias else ())
    check(lambda x, w, *b: F.conv_transpose2d(x, w, *b, **kw) ** 2, *args)


def test_conv2d_linear_in_each_argument_second_derivative_is_cross_term(kernels):
    # conv2d(x, w) is bilinear: d2/dx2 = 0, so without the square only the x-w cross terms remain
    check(lambda x, w: F.conv2d(x, w, stride=2, padding=1), t64(1, 2, 5, 5), t64(3, 2, 3, 3))


def test_conv2d_gradients_are_the_conv_family():
    x, w = t64(1, 2, 4, 4), t64(3, 2, 3, 3)
    gx, gw = autograd.grad((F.conv2d(x, w, padding=1) ** 2).sum(), (x, w), create_graph=True)
    assert type(gx.grad_fn).__name__ == "ConvTranspose2d"
    assert type(gw.grad_fn).__name__ == "Conv2dWeightGrad"


def test_conv1d(kernels):
    check(lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1) ** 2, t64(2, 2, 6), t64(3, 2, 3), t64(3))


def test_linear():
    check(lambda x, w, b: F.linear(x, w, b) ** 2, t64(2, 3, 4), t64(5, 4), t64(5))
    check(lambda x, w: F.linear(x, w).tanh(), t64(3, 4), t64(2, 4))
    check(lambda x, w: F.linear(x.transpose(0, 1), w) ** 2, t64(4, 3), t64(2, 4))  # non-contiguous x


POOL = {
    "max 2": lambda x: F.max_pool2d(x, 2) ** 2,
    "max 3/2 pad ceil": lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True) ** 2,
    "max dilated overlapping": lambda x: F.max_pool2d(x, 2, stride=1, dilation=2) ** 3,
    "avg 2": lambda x: F.avg_pool2d(x, 2) ** 2,
    "avg 3/2 pad ceil exclude-pad": lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                           count_include_pad=False) ** 2,
    "adaptive uneven": lambda x: F.adaptive_avg_pool2d(x, (3, 4)) ** 2,
    "adaptive even": lambda x: F.adaptive_avg_pool2d(x, (1, 3)) ** 2,
    "adaptive global": lambda x: F.adaptive_avg_pool2d(x, 1) ** 2,
}


@pytest.mark.parametrize("name", list(POOL))
def test_pooling(name):
    check(POOL[name], t64(2, 2, 5, 6))


def test_avg_pool_and_its_adjoint_call_each_other():
    from minigrad.ops.pool import AvgPool2dAdjoint

    x = t64(1, 2, 5, 6)
    (g,) = autograd.grad((F.avg_pool2d(x, 2, padding=1) ** 2).sum(), x, create_graph=True)
    assert type(g.grad_fn).__name__ == "AvgPool2dAdjoint"
    u = t64(1, 2, 3, 4, requires_grad=False)
    y = F.avg_pool2d(x.detach(), 2, padding=1)
    fn = g.grad_fn
    a = AvgPool2dAdjoint.apply(u, **fn.params)
    np.testing.assert_allclose((y * u).sum().item(), (x.detach() * a).sum().item(), rtol=1e-12)


# ------------------------------------------------------------------ a gradient penalty through a CNN


def _train_cnn(penalty, steps=30):
    import nn

    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 3
    templates = rng.standard_normal((3, 1, 8, 8))  # a learnable task: template of the class + noise
    x = mg.tensor((templates[labels] + 0.5 * rng.standard_normal((16, 1, 8, 8))).astype(np.float32),
                  requires_grad=True)
    y = mg.tensor(labels)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 3))
    opt = mg.optim.Adam(model.parameters(), lr=0.03)
    losses, penalties = [], []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y, reduction="sum") / 16
        (gx,) = autograd.grad(loss * 16, x, create_graph=True)  # row i: d loss_i / d x_i
        grad_norm2 = (gx * gx).sum() / 16
        total = loss + penalty * grad_norm2
        opt.zero_grad()
        total.backward()
        assert all(p.grad is not None for p in model.parameters())
        opt.step()
        losses.append(total.item())
        penalties.append(grad_norm2.item())
    return losses, penalties


def test_gradient_penalty_through_a_small_cnn_trains():
    """loss = cross_entropy + lambda * mean ||d loss_i / d x_i||^2 through conv, batch norm, relu,
    max-pool, adaptive avg-pool and linear: the penalty's gradient is a double backward through
    all of them, and training with it brings the loss down."""
    losses, _ = _train_cnn(penalty=5.0)
    assert losses[-1] < 0.3 * losses[0], losses


def test_gradient_penalty_reaches_every_parameter():
    import nn

    mg.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.Tanh(), nn.AvgPool2d(2),
                          nn.Flatten(), nn.Linear(8, 2))
    x = mg.tensor(RNG.standard_normal((3, 1, 4, 4)).astype(np.float32), requires_grad=True)
    (gx,) = autograd.grad(model(x).sum(), x, create_graph=True)
    grads = autograd.grad((gx * gx).sum(), list(model.parameters()), allow_unused=True)
    for (name, _), g in zip(model.named_parameters(), grads):
        if name in ("0.bias", "1.bias", "5.bias"):  # shifts that dy/dx does not depend on (BN removes 0.bias)
            continue
        assert g is not None and float(np.abs(g.numpy()).max()) > 0, name
