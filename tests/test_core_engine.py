"""The autograd engine, grad modes, dtype rules, devices, gradcheck itself, printing."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd


def test_reused_nonleaf_and_accumulation():
    a = mg.tensor([2.0, 3.0], requires_grad=True)
    b = a + a
    c = b + b
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0])
    (a * a).sum().backward()  # accumulates
    np.testing.assert_array_equal(a.grad.numpy(), [8.0, 10.0])


def test_diamond_graph():
    x = mg.tensor(3.0, requires_grad=True)
    y = x * x
    z = y * x + y.exp().log()  # x^3 + x^2
    z.backward()
    assert x.grad.item() == pytest.approx(3 * 9 + 2 * 3)


def test_deep_chain_without_recursion():
    x = mg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0
    del y
    gc.collect()


def test_retain_graph_and_second_backward_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])
    with pytest.raises(RuntimeError, match="SumBackward|MulBackward"):
        y.backward()


def test_saved_arrays_freed_after_backward():
    x = mg.tensor(np.random.rand(1000), requires_grad=True)
    y = x.exp()  # Exp saves its output
    saved = weakref.ref(y.grad_fn.saved_tensors[0])
    loss = (y * 2).sum()
    del y
    loss.backward()
    gc.collect()
    assert saved() is None
    x2 = mg.tensor(np.random.rand(10), requires_grad=True)
    y2 = x2.exp()
    y2.sum().backward(retain_graph=True)
    assert y2.grad_fn.saved_tensors  # still there with retain_graph


def test_graph_freed_when_output_dropped():
    x = mg.tensor(np.random.rand(10), requires_grad=True)
    y = (x * 3).exp()
    node = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert node() is None


def test_hooks_and_retain_grad():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy()))
    y = x * 3
    y.retain_grad()
    h = y.register_hook(lambda g: g * 10)  # replaces the gradient flowing on
    y.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [10.0, 10.0])
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])
    np.testing.assert_array_equal(seen[0], [30.0, 30.0])
    h.remove()
    x.grad = None
    y = x * 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_no_grad_enable_grad_and_decorator():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
        with mg.enable_grad():
            z = x * 2
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_detach_and_leaf_flags():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.data is y.data
    assert x.is_leaf and not y.is_leaf
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    y.backward(mg.tensor([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_leaf_grads_do_not_alias():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([1.0, 2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data += 5  # must not change b.grad
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_detect_anomaly_names_op_and_line():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        y = x.sqrt()  # d sqrt / dx at 0 is inf
        with pytest.raises(FloatingPointError, match=r"SqrtBackward.*test_core_engine.py:\d+"):
            y.sum().backward()


def test_dtype_rules():
    assert mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    f = mg.ones(3)
    assert f.dtype == np.float32
    for r in (f * 2.5, f + 1, 2.0 - f, f / 3, f**2, f.exp() * 1e-3):
        assert r.dtype == np.float32
    i = mg.tensor([1, 2])
    assert (i * 2).dtype == np.int64 and (i * 2.5).dtype == np.float32 and (i / 2).dtype == np.float32
    assert (f + mg.ones(3, dtype=mg.float64)).dtype == np.float64
    assert (i + f[:2]).dtype == np.float32
    with pytest.raises(ValueError, match=r"add: shapes \(2,\) and \(3,\)"):
        i + f
    with pytest.raises(RuntimeError, match="floating point"):
        mg.tensor([1, 2], requires_grad=True)


def test_gradient_dtype_matches_input():
    a = mg.ones(3, requires_grad=True)
    b = mg.ones(3, dtype=mg.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


@pytest.mark.cpu_only  # fakes a second device itself
def test_mixed_device_error_names_both(monkeypatch):
    a, b = mg.ones(2), mg.ones(2)
    real = mg.backend.device_of
    monkeypatch.setattr(mg.backend, "device_of", lambda arr: "cuda:0" if arr is b.data else real(arr))
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        a + b


@pytest.mark.cpu_only  # names devices itself
def test_device_strings():
    assert mg.ones(2).device == "cpu"
    assert mg.ones(2).to("cpu").device == "cpu"
    with pytest.raises(ValueError, match="invalid device"):
        mg.ones(2, device="tpu")
    if not mg.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            mg.ones(2).to("cuda")


@pytest.mark.cpu_only  # moves between the devices itself
@pytest.mark.skipif(not mg.cuda.is_available(), reason="CUDA (CuPy and an NVIDIA GPU) is not available")
def test_cuda_roundtrip_and_backward():
    x = mg.randn(3, 4, device="cuda", requires_grad=True)
    assert x.device == "cuda:0"
    y = (x.exp() * 2).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.numpy()), rtol=1e-5)
    z = x.cpu()
    assert z.device == "cpu"
    with pytest.raises(RuntimeError, match="cpu and cuda:0"):
        x + mg.ones(3, 4)


def test_manual_seed_reproducible():
    mg.manual_seed(0)
    a = mg.randn(5).numpy()
    mg.manual_seed(0)
    np.testing.assert_array_equal(a, mg.randn(5).numpy())
    assert mg.rand(3).dtype == np.float32
    assert mg.randint(0, 5, (4,)).dtype == np.int64


def test_factories():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.ones((2, 3)).numpy().sum() == 6
    assert mg.full((2,), 7).dtype == np.int64 and mg.full((2,), 7.0).dtype == np.float32
    assert mg.arange(5).dtype == np.int64 and mg.arange(0, 1, 0.25).shape == (4,)
    np.testing.assert_array_equal(mg.eye(3).numpy(), np.eye(3))
    assert mg.zeros_like(mg.ones(2, dtype=mg.float64)).dtype == np.float64
    assert mg.empty(2, requires_grad=True).requires_grad


def test_gradcheck_reports_mismatch():
    class BadSquare(autograd.Function):
        """y = x**2"""

        def forward(self, x):
            self.save_for_backward(x)
            return x * x

        def backward(self, gy):
            """dx = 3 * x * gy  (wrong on purpose)"""
            (x,) = self.saved_tensors
            return 3 * x * gy

    x = mg.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"input 0 element \(0, 0\): numerical 2, analytical 3"):
        mg.gradcheck(lambda t: BadSquare.apply(t), (x,))
    assert mg.gradcheck(lambda t: BadSquare.apply(t), (x,), raise_exception=False) is False
    with pytest.raises(ValueError, match="float64"):
        mg.gradcheck(lambda t: t * 2, (mg.ones(2, requires_grad=True),))


def test_gradcheck_multiple_outputs():
    x = mg.tensor(np.random.rand(3), requires_grad=True)
    assert mg.gradcheck(lambda t: (t * 2, t.exp()), (x,))


def test_autograd_grad_does_not_accumulate():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad((x * x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert x.grad is None


@pytest.mark.cpu_only  # the text names the device
def test_repr_like_pytorch():
    x = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert repr(x) == "tensor([[1., 2.],\n        [3., 4.]], requires_grad=True)"
    assert repr(x * 2).endswith("grad_fn=<MulBackward>)")
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=float64" in repr(mg.tensor(np.zeros(2)))


def test_conversions_and_inplace():
    x = mg.tensor([[1.5, 2.0]])
    assert x.item if False else x[0, 0].item() == 1.5
    assert x.tolist() == [[1.5, 2.0]]
    n = x.numpy()
    n[0, 0] = 9
    assert x[0, 0].item() == 1.5  # numpy() is a copy
    assert x.double().dtype == np.float64 and x.long().dtype == np.int64 and x.float().dtype == np.float32
    assert x.to(mg.float64).dtype == np.float64
    x.zero_()
    assert x.numpy().sum() == 0
    x.fill_(2)
    assert x.numpy().tolist() == [[2.0, 2.0]]
    y = mg.tensor([1.0], dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda t: t.clone() * 2, (y,))
    assert mg.gradcheck(lambda t: t.astype(mg.float32).astype(mg.float64), (y,), eps=1e-3, atol=1e-3)


def test_assigned_grad_must_match_the_tensor():
    p = mg.zeros(3, requires_grad=True)
    p.grad = mg.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(RuntimeError, match=r"assigned grad has shape \(2,\) but the tensor has shape \(3,\)"):
        p.grad = mg.ones(2)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but got ndarray"):
        p.grad = np.ones(3)
    assert p.grad.tolist() == [1.0, 1.0, 1.0]  # unchanged by the refused assignments
    p.grad = None
    assert p.grad is None
