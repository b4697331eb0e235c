"""Hooks on graph nodes, grad modes (generators included), autograd.grad / backward(inputs=...),
second backward rules, and gradcheck's NaN handling."""
import gc

import numpy as np
import pytest

import minigrad as mg
import nn
from minigrad.autograd import Function

# ------------------------------------------------------------------ hooks


def test_hook_on_freed_intermediate_still_fires():
    calls = []

    def f(x):
        h = x * 2
        h.register_hook(lambda g: calls.append(g.numpy().copy()))
        return (h * h).sum()  # h (the Python object) is gone after return

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = f(x)
    gc.collect()
    y.backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0], [4.0, 8.0])  # d(h*h)/dh = 2h
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])


def test_hook_inside_module_forward_clips_gradient():
    class Clip(nn.Module):
        def forward(self, x):
            h = x * 3
            h.register_hook(lambda g: g.clamp(-1.0, 1.0))
            return h

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (Clip()(x) * 10).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])  # clipped 10 -> 1, times 3


def test_leaf_hook_runs_once_with_summed_gradient_and_its_return_accumulates():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(g.numpy().copy())
        return g * 0.5

    x.register_hook(hook)
    (x * x).sum().backward()
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], [2.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])


def test_hook_handle_remove():
    x = mg.tensor([1.0], requires_grad=True)
    h = x * 2
    calls = []
    handle = h.register_hook(lambda g: calls.append(1))
    leaf_handle = x.register_hook(lambda g: calls.append(2))
    handle.remove()
    leaf_handle.remove()
    h.sum().backward()
    assert calls == []


def test_retain_grad_survives_and_sums():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = (x * 2).retain_grad()
    (h + h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 1 + 2 * h.numpy())


# ------------------------------------------------------------------ grad modes


def test_grad_mode_decorators_on_generators():
    @mg.no_grad()
    def gen():
        for _ in range(2):
            yield mg.is_grad_enabled()

    @mg.no_grad
    def plain():
        return mg.is_grad_enabled()

    assert list(gen()) == [False, False]
    assert mg.is_grad_enabled()
    assert plain() is False

    @mg.enable_grad()
    def inner_gen():
        yield mg.is_grad_enabled()

    with mg.no_grad():
        assert list(inner_gen()) == [True]
        assert not mg.is_grad_enabled()


def test_generator_send_throw_and_return_value():
    @mg.no_grad()
    def echo():
        got = yield mg.is_grad_enabled()
        try:
            yield (got, mg.is_grad_enabled())
        except ValueError:
            yield ("caught", mg.is_grad_enabled())
        return "done"

    g = echo()
    assert next(g) is False
    assert g.send(5) == (5, False)
    assert g.throw(ValueError) == ("caught", False)
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"


def test_set_grad_enabled_function_context_and_decorator():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.set_grad_enabled(False):
        assert (x * 2).grad_fn is None
    assert mg.is_grad_enabled()
    mg.set_grad_enabled(False)
    assert not mg.is_grad_enabled()
    mg.set_grad_enabled(True)

    @mg.set_grad_enabled(False)
    def f():
        return (x * 2).requires_grad

    assert mg.is_grad_enabled() and f() is False
    with pytest.raises(TypeError):
        mg.set_grad_enabled("yes")


def test_inference_mode():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.inference_mode():
        assert (x * 2).grad_fn is None
    with mg.inference_mode(False):
        assert (x * 2).grad_fn is not None

    @mg.inference_mode()
    def f():
        return mg.is_grad_enabled()

    assert f() is False and mg.is_grad_enabled()


# ------------------------------------------------------------------ autograd.grad and backward(inputs=)


def test_grad_returns_without_accumulating_and_checks_arguments():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = mg.autograd.grad(y, [x, w], retain_graph=True)
    assert x.grad is None and w.grad is None
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    np.testing.assert_allclose(gw.numpy(), [1.0, 2.0])
    unused = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        mg.autograd.grad(y, [unused], retain_graph=True)
    assert mg.autograd.grad(y, [x, unused], allow_unused=True, retain_graph=True)[1] is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.autograd.grad(y, [mg.tensor([1.0])])


def test_grad_with_grad_outputs_and_non_leaf_input():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = h * h
    (gh,) = mg.autograd.grad(y, h, grad_outputs=mg.tensor([1.0, 0.5]))
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy() * [1.0, 0.5])


def test_backward_inputs_accumulates_only_there():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([3.0, 4.0], requires_grad=True)
    h = x * w
    h.sum().backward(inputs=[w, h])
    assert x.grad is None
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])
    np.testing.assert_allclose(h.grad.numpy(), [1.0, 1.0])


def test_second_backward_raises_only_where_saved_arrays_are_needed():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()  # nothing saved: a second backward works and accumulates, as in PyTorch
    y.backward()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    z = (x * x).sum()  # MulBackward saved x: its arrays are freed after the first backward
    z.backward()
    with pytest.raises(RuntimeError, match="second time through MulBackward"):
        z.backward()


# ------------------------------------------------------------------ gradcheck


class _NaNGrad(Function):
    """y = 2 * x"""

    def forward(self, x):
        return 2 * x

    def backward(self, gy):
        """dx = NaN (deliberately broken)"""
        return gy * np.nan


class _Detached(Function):
    """y = x ** 2"""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        """dx = 0 (deliberately wrong)"""
        return gy * 0


def test_gradcheck_fails_on_nan_backward():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(mg.GradcheckError, match="analytical nan"):
        mg.gradcheck(lambda t: _NaNGrad.apply(t), (x,))
    assert mg.gradcheck(lambda t: _NaNGrad.apply(t), (x,), raise_exception=False) is False
    assert mg.gradcheck(lambda t: t * 2, (x,))


def test_gradcheck_does_not_skip_nan_input_elements():
    x = mg.tensor([1.0, np.nan], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda t: t * 2, (x,), raise_exception=False) is False


def test_gradcheck_fails_on_wrong_and_on_detached_gradients():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: _Detached.apply(t), (x,))

    def detached(t):
        with mg.no_grad():
            return t * t  # an output that varies with t but carries no graph

    with pytest.raises(mg.GradcheckError):
        mg.gradcheck(lambda t: (t.sum(), detached(t)), (x,))


def test_seed_gradients_are_not_copied_but_never_aliased_by_a_result():
    """backward(g) does not copy g (a big seed would cost its page faults), yet no .grad and no
    autograd.grad result shares memory with the caller's g, however directly g reaches it."""
    import numpy as np

    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = mg.tensor(np.ones((2, 3)))
    (x + 0).backward(g)  # Add's backward passes g on unchanged to the leaf
    x.backward(g)  # backward from the leaf itself
    g.data[...] = 100.0
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    assert not np.shares_memory(x.grad.data, g.data)
    (dx,) = mg.autograd.grad(x + 0, x, grad_outputs=g)
    assert not np.shares_memory(dx.data, g.data)
    np.testing.assert_array_equal(dx.numpy(), np.full((2, 3), 100.0))
    y = x + 0
    y.retain_grad()
    y.backward(g)
    assert not np.shares_memory(y.grad.data, g.data)


def test_leaf_grads_keep_an_ops_cached_buffer_but_never_share_memory():
    """A big gradient an op wrote into the kernels' buffer cache is stored as .grad without a copy
    (the cache never hands out a buffer something still references); gradients that are views
    of one array (cat's backward slices the seed) are copied, so no two .grads share memory."""
    import numpy as np

    import minigrad.functional as F
    from minigrad.autograd import memory_root
    from minigrad.kernels import memory

    x = mg.tensor(np.random.default_rng(0).standard_normal((8, 8, 64, 64)).astype(np.float32), requires_grad=True)
    w = mg.tensor(np.random.default_rng(1).standard_normal((8, 8, 3, 3)).astype(np.float32), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    if type(x.grad.data) is np.ndarray:  # (a GPU array has CuPy's own pool)
        assert memory.owns(memory_root(x.grad.data))
    before = x.grad.numpy().copy()
    F.conv2d(mg.tensor(x.numpy()), w, padding=1)  # another op asking the cache for buffers
    np.testing.assert_array_equal(x.grad.numpy(), before)

    a, b = mg.tensor(np.ones((2, 3)), requires_grad=True), mg.tensor(np.ones((4, 3)), requires_grad=True)
    g = mg.tensor(np.arange(18.0).reshape(6, 3))
    mg.cat([a, b]).backward(g)
    assert not np.shares_memory(a.grad.data, b.grad.data)
    assert not np.shares_memory(a.grad.data, g.data) and not np.shares_memory(b.grad.data, g.data)
    np.testing.assert_array_equal(b.grad.numpy(), np.arange(6.0, 18.0).reshape(4, 3))
