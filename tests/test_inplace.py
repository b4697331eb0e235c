"""In-place methods, version counters and the "modified by an inplace operation" check (PyTorch's rules)."""
import numpy as np
import pytest

import minigrad as mg
import nn

rng = np.random.default_rng(0)


def f64(*shape, requires_grad=False):
    return mg.tensor(rng.standard_normal(shape), dtype=mg.float64, requires_grad=requires_grad)


# ------------------------------------------------------------------ values against NumPy


@pytest.mark.parametrize(
    "method, args, ref",
    [
        ("add_", (2.0,), lambda a: a + 2.0),
        ("sub_", (0.5,), lambda a: a - 0.5),
        ("mul_", (3.0,), lambda a: a * 3.0),
        ("div_", (4.0,), lambda a: a / 4.0),
        ("pow_", (2,), lambda a: a**2),
        ("clamp_", (-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5)),
        ("relu_", (), lambda a: np.maximum(a, 0)),
        ("zero_", (), lambda a: np.zeros_like(a)),
        ("fill_", (7.0,), lambda a: np.full_like(a, 7.0)),
    ],
)
def test_inplace_values_match_numpy_and_keep_the_object(method, args, ref):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = mg.tensor(a)
    view = t[1]  # a view made before sees the change
    array = t.data
    out = getattr(t, method)(*args)
    assert out is t and t.data is array
    np.testing.assert_allclose(t.numpy(), ref(a), rtol=1e-6)
    np.testing.assert_allclose(view.numpy(), ref(a)[1], rtol=1e-6)
    assert t._version == 1 and view._version == 1


def test_tensor_operands_alpha_broadcast_and_masked_fill():
    a = rng.standard_normal((2, 3))
    b = rng.standard_normal(3)
    t = mg.tensor(a)
    t.add_(mg.tensor(b), alpha=2)
    np.testing.assert_allclose(t.numpy(), a + 2 * b)
    t.sub_(mg.tensor(b), alpha=0.5)
    np.testing.assert_allclose(t.numpy(), a + 1.5 * b)
    mask = np.array([True, False, True])
    t.masked_fill_(mg.tensor(mask), -1.0)
    expected = np.where(mask, -1.0, a + 1.5 * b)
    np.testing.assert_allclose(t.numpy(), expected)
    c = mg.zeros(2, 3, dtype=mg.float64)
    c.copy_(mg.tensor(b))  # broadcast copy
    np.testing.assert_allclose(c.numpy(), np.broadcast_to(b, (2, 3)))


def test_augmented_assignment_is_in_place():
    t = mg.tensor([1.0, 2.0, 3.0])
    alias = t
    array = t.data
    t += 1
    t -= 0.5
    t *= 2
    t /= 3
    assert t is alias and t.data is array
    np.testing.assert_allclose(t.numpy(), ((np.array([1.0, 2.0, 3.0]) + 1 - 0.5) * 2) / 3, rtol=1e-6)
    assert t._version == 4


def test_setitem_writes_in_place_and_bumps():
    t = mg.zeros(2, 3)
    v = t.view(6)
    t[0, 1] = 5.0
    t[1] = mg.tensor([1.0, 2.0, 3.0])
    assert v.numpy().tolist() == [0, 5, 0, 1, 2, 3]
    assert t._version == 2


def test_random_fills_are_seeded_and_in_place():
    mg.manual_seed(3)
    t = mg.zeros(1000)
    array = t.data
    t.uniform_(-2, 2)
    assert t.data is array and -2 <= t.numpy().min() and t.numpy().max() < 2
    assert abs(t.numpy().mean()) < 0.2
    t.normal_(1.0, 0.5)
    assert abs(t.numpy().mean() - 1.0) < 0.1 and abs(t.numpy().std() - 0.5) < 0.1
    mg.manual_seed(3)
    u = mg.zeros(1000).uniform_(-2, 2)
    mg.manual_seed(3)
    np.testing.assert_array_equal(u.numpy(), mg.zeros(1000).uniform_(-2, 2).numpy())


def test_bad_inplace_inputs_raise_and_change_nothing():
    t = mg.tensor([1, 2, 3])  # int64
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        t.div_(2)
    assert t.numpy().tolist() == [1, 2, 3] and t._version == 0
    f = mg.zeros(3)
    with pytest.raises(RuntimeError, match=r"add_: output with shape \(3,\)"):
        f.add_(mg.zeros(2, 3))
    with pytest.raises(RuntimeError, match="masked_fill_: expected a bool mask"):
        f.masked_fill_(mg.tensor([1, 0, 1]), 1.0)
    with pytest.raises(RuntimeError, match="copy_"):
        f.copy_(mg.zeros(4))
    assert f._version == 0


# ------------------------------------------------------------------ leaves, no_grad, manual SGD


def test_leaf_requiring_grad_raises_outside_no_grad():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_(), lambda: w.__setitem__(0, 3.0)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            op()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w += 1
    assert w.numpy().tolist() == [1.0, 2.0] and w._version == 0
    view = w[0:1]
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        view.mul_(2)


def test_manual_sgd_loop_updates_the_parameter_itself():
    # loss = sum((w * x - y)**2): gradient 2 * x * (w * x - y); three steps by hand
    x = np.array([1.0, 2.0, -1.0])
    y = np.array([0.5, -1.0, 2.0])
    w = mg.tensor(np.zeros(3), requires_grad=True, dtype=mg.float64)
    obj = w
    lr = 0.1
    expected = np.zeros(3)
    for _ in range(3):
        loss = ((w * mg.tensor(x) - mg.tensor(y)) ** 2).sum()
        loss.backward()
        with mg.no_grad():
            w -= lr * w.grad
        w.grad = None
        expected = expected - lr * 2 * x * (expected * x - y)
    assert w is obj and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.numpy(), expected)
    assert w._version == 3


# ------------------------------------------------------------------ the version check


def _raises_modified(fn):
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as info:
        fn()
    return str(info.value)


def test_saved_input_changed_before_backward_raises():
    w = mg.tensor([1.0, 1.0, 1.0], requires_grad=True)
    a = mg.tensor([1.0, 1.0, 1.0])
    y = (w * a).sum()
    a[0] = 100.0
    msg = _raises_modified(y.backward)
    assert "MulBackward" in msg and "(3,)" in msg and "version 1" in msg and "expected version 0" in msg


def test_zero_of_saved_intermediate_raises():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    h = x.exp()  # Exp saves its output h
    y = (h * 2).sum()
    h.zero_()
    _raises_modified(y.backward)


def test_fill_under_no_grad_of_saved_leaf_raises():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with mg.no_grad():
        w.fill_(0.0)
    _raises_modified(y.backward)


def test_write_into_detached_tensor_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x.sigmoid()
    y = h.sum() * 1.0
    z = (h * h).sum() + y
    h.detach()[0] = 9.0
    _raises_modified(z.backward)


def test_optimizer_step_between_forward_and_backward_raises():
    model = nn.Linear(3, 2)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    x = mg.randn(4, 3)
    loss = model(x).pow(2).sum()
    loss.backward(retain_graph=True)
    opt.step()
    _raises_modified(loss.backward)


def test_unsaved_tensors_may_change_freely():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a = mg.tensor([3.0, 4.0])
    y = (x + a).sum()  # Add saves nothing
    a.mul_(10)
    y.backward()
    assert x.grad.numpy().tolist() == [1.0, 1.0]


def test_version_counter_shared_by_views_and_detach():
    t = mg.zeros(2, 3)
    v, r, d = t[0], t.reshape(6), t.detach()
    d.add_(1)
    assert t._version == v._version == r._version == d._version == 1
    c = t.clone()
    c.add_(1)
    assert t._version == 1 and c._version == 1


# ------------------------------------------------------------------ differentiable in-place on non-leaves


def test_inplace_on_non_leaf_rebases_history():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = x * 2
    old_node = h.grad_fn
    h.mul_(3)
    assert h.grad_fn is not old_node and h.grad_fn.name == "MulBackward"
    assert h.grad_fn.next[0][0] is old_node
    h.sum().backward()
    assert x.grad.numpy().tolist() == [6.0, 6.0, 6.0]


def test_relu_inplace_after_sigmoid_is_caught():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    s = x.sigmoid()
    s.relu_()  # SigmoidBackward saved s: the gradient would be wrong
    _raises_modified(s.sum().backward)


@pytest.mark.parametrize(
    "step",
    [
        lambda h, o: h.add_(o, alpha=0.5),
        lambda h, o: h.sub_(o),
        lambda h, o: h.mul_(o),
        lambda h, o: h.div_(o + 3.0),
        lambda h, o: h.pow_(2),
        lambda h, o: h.clamp_(-0.5, 0.7),
        lambda h, o: h.relu_(),
        lambda h, o: h.copy_(o * 2),
        lambda h, o: h.masked_fill_(o > 0, 0.25),
        lambda h, o: h.__setitem__((slice(None), 1), o[:, 0] * 3),
        lambda h, o: h[0].mul_(o[0]),  # in-place on a view: replayed on the base
        lambda h, o: h.zero_(),
    ],
)
def test_inplace_on_non_leaf_gradcheck(step):
    x = f64(3, 4, requires_grad=True)
    o = f64(3, 4, requires_grad=True)

    def func(x, o):
        h = x * 1.5 + 0.1  # a non-leaf the in-place op changes
        step(h, o)
        return h * x

    assert mg.gradcheck(func, (x, o))


def test_setitem_on_leaf_without_grad_records_the_value():
    w = f64(3, requires_grad=True)

    def func(w):
        out = mg.zeros(2, 3, dtype=mg.float64)
        out[1] = w * 2
        return out

    assert func(w).grad_fn.name == "IndexPutBackward"
    assert mg.gradcheck(func, (w,))


def test_inplace_on_reshape_view_of_graph_tensor_says_so():
    x = mg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    h = x * 2
    v = h.reshape(2, 2)
    with pytest.raises(RuntimeError, match="view made by reshape"):
        v.mul_(2)


def test_optimizers_bump_versions_and_match_before():
    mg.manual_seed(0)
    for make in (lambda p: nn.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
                 lambda p: nn.optim.Adam(p, lr=0.1, weight_decay=1e-2),
                 lambda p: nn.optim.AdamW(p, lr=0.1)):
        p = nn.Parameter(mg.tensor([1.0, -2.0, 0.5]))
        array = p.data
        opt = make([p])
        p.grad = mg.tensor([0.1, 0.2, -0.3])
        opt.step()
        assert p.data is array and p._version == (2 if isinstance(opt, nn.optim.AdamW) else 1)
