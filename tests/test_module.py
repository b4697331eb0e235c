"""nn.Module, nn.Parameter, containers, Identity/Flatten."""
import collections

import numpy as np
import pytest

import minigrad
import nn
from minigrad import autograd
from nn import Module, Parameter


# ---------------------------------------------------------------- small modules used below
class Affine(Module):
    """y = x * weight + bias, with a running mean buffer and a non-persistent counter."""

    def __init__(self, n=3):
        super().__init__()
        self.weight = Parameter(minigrad.ones(n))
        self.bias = Parameter(minigrad.zeros(n))
        self.register_buffer("running_mean", minigrad.zeros(n))
        self.register_buffer("calls", minigrad.zeros(1, dtype=minigrad.int64), persistent=False)
        self.n = n

    def forward(self, x):
        self.calls.data += 1
        return x * self.weight + self.bias

    def extra_repr(self):
        return f"n={self.n}"


class Block(Module):
    def __init__(self):
        super().__init__()
        self.scale = Parameter(minigrad.full((2,), 2.0))
        self.first = Affine(2)
        self.register_buffer("step", minigrad.tensor(0))
        self.second = Affine(2)

    def forward(self, x):
        return self.second(self.first(x)) * self.scale


class Net(Module):
    def __init__(self):
        super().__init__()
        self.stem = Affine(2)
        self.blocks = nn.Sequential(Block(), Block())
        self.head = Parameter(minigrad.ones(2, 2))

    def forward(self, x):
        return self.blocks(self.stem(x)) @ self.head


class Dropoutish(Module):
    """Behaves differently in training and eval mode."""

    def forward(self, x):
        return x * 0.0 if self.training else x


def arrays(model):
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- Parameter
def test_parameter_is_a_leaf_tensor_sharing_data():
    a = np.arange(3, dtype=np.float32)
    p = Parameter(a)
    assert isinstance(p, minigrad.Tensor) and p.is_leaf and p.requires_grad
    assert p.data is a and p.dtype == np.float32
    x = minigrad.ones(2, requires_grad=True)
    q = Parameter(x * 2)  # made by an op: the Parameter is still a fresh leaf
    assert q.is_leaf and q.grad_fn is None and q.tolist() == [2.0, 2.0]
    assert not Parameter(minigrad.ones(2), requires_grad=False).requires_grad
    assert Parameter().shape == (0,)


@pytest.mark.cpu_only  # the text names the device
def test_parameter_repr_and_ops_return_plain_tensors():
    p = Parameter(minigrad.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert str(p) == repr(p)
    y = p * 2
    assert type(y) is minigrad.Tensor
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0])


# ---------------------------------------------------------------- names and order
def test_named_parameters_buffers_modules_in_definition_order():
    net = Net()
    assert [k for k, _ in net.named_parameters()] == [
        "head",
        "stem.weight", "stem.bias",
        "blocks.0.scale", "blocks.0.first.weight", "blocks.0.first.bias",
        "blocks.0.second.weight", "blocks.0.second.bias",
        "blocks.1.scale", "blocks.1.first.weight", "blocks.1.first.bias",
        "blocks.1.second.weight", "blocks.1.second.bias",
    ]
    assert [k for k, _ in net.named_buffers()] == [
        "stem.running_mean", "stem.calls",
        "blocks.0.step", "blocks.0.first.running_mean", "blocks.0.first.calls",
        "blocks.0.second.running_mean", "blocks.0.second.calls",
        "blocks.1.step", "blocks.1.first.running_mean", "blocks.1.first.calls",
        "blocks.1.second.running_mean", "blocks.1.second.calls",
    ]
    assert [k for k, _ in net.named_modules()] == [
        "", "stem", "blocks", "blocks.0", "blocks.0.first", "blocks.0.second",
        "blocks.1", "blocks.1.first", "blocks.1.second",
    ]
    assert [k for k, _ in net.named_children()] == ["stem", "blocks"]
    assert list(net.children()) == [net.stem, net.blocks]
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert [k for k, _ in net.stem.named_parameters(prefix="x")] == ["x.weight", "x.bias"]
    assert [k for k, _ in net.named_parameters(recurse=False)] == ["head"]
    assert len(list(net.buffers())) == 12 and len(list(net.modules())) == 9


def test_state_dict_order_is_params_then_buffers_then_children():
    sd = Net().state_dict()
    assert list(sd) == [
        "head",
        "stem.weight", "stem.bias", "stem.running_mean",
        "blocks.0.scale", "blocks.0.step",
        "blocks.0.first.weight", "blocks.0.first.bias", "blocks.0.first.running_mean",
        "blocks.0.second.weight", "blocks.0.second.bias", "blocks.0.second.running_mean",
        "blocks.1.scale", "blocks.1.step",
        "blocks.1.first.weight", "blocks.1.first.bias", "blocks.1.first.running_mean",
        "blocks.1.second.weight", "blocks.1.second.bias", "blocks.1.second.running_mean",
    ]  # the non-persistent "calls" buffers are left out
    assert all(type(v) is minigrad.Tensor and not v.requires_grad for v in sd.values())


def test_shared_parameters_and_modules_are_listed_once_but_saved_under_each_name():
    m = Module()
    m.a = Affine(2)
    m.b = m.a  # the same module twice
    m.tied = m.a.weight  # and a parameter shared with it
    assert [k for k, _ in m.named_parameters()] == ["tied", "a.bias"]
    assert [k for k, _ in m.named_modules()] == ["", "a"]
    assert [k for k, _ in m.named_modules(remove_duplicate=False)] == ["", "a", "b"]
    assert list(m.state_dict()) == ["tied", "a.weight", "a.bias", "a.running_mean",
                                    "b.weight", "b.bias", "b.running_mean"]


def test_state_dict_tensors_share_memory_with_the_model():
    m = Affine(2)
    sd = m.state_dict()
    assert sd["weight"].data is m.weight.data
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


# ---------------------------------------------------------------- attribute registration
def test_attribute_assignment_registers_and_reassigns():
    m = Module()
    m.w = Parameter(minigrad.ones(2))
    m.child = Affine(2)
    m.register_buffer("buf", minigrad.zeros(1))
    m.plain = 5
    assert list(m._parameters) == ["w"] and list(m._modules) == ["child"] and list(m._buffers) == ["buf"]
    assert "w" not in m.__dict__ and m.plain == 5
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = minigrad.ones(2)  # a plain Tensor can't replace a Parameter
    m.w = None
    assert m.w is None and list(m.named_parameters()) == [("child.weight", m.child.weight), ("child.bias", m.child.bias)]
    m.buf = minigrad.ones(3)  # a Tensor replaces a buffer
    assert m.buf.shape == (3,) and "buf" in m._buffers
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    with pytest.raises(TypeError, match="child module 'child'"):
        m.child = 3
    m.child = Parameter(minigrad.zeros(1))  # a name may move from one registry to another
    assert "child" in m._parameters and "child" not in m._modules
    del m.child
    assert not hasattr(m, "child")
    del m.plain
    with pytest.raises(AttributeError, match="Module' object has no attribute 'nothing'"):
        m.nothing  # noqa: B018


def test_reassigning_a_name_keeps_its_place_in_the_order():
    m = Affine(2)
    m.weight = Parameter(minigrad.zeros(2))
    m.running_mean = minigrad.ones(2)
    assert list(m.state_dict()) == ["weight", "bias", "running_mean"]
    net = Net()
    net.stem = Affine(2)
    assert [k for k, _ in net.named_children()] == ["stem", "blocks"]


def test_register_buffer_and_parameter_checks():
    m = Affine(2)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", minigrad.zeros(1))
    with pytest.raises(KeyError, match=r"contain '\.'"):
        m.register_buffer("a.b", minigrad.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None expected"):
        m.register_buffer("x", np.zeros(2))
    m.register_buffer("empty", None)
    m.register_parameter("maybe", None)
    assert m.empty is None and m.maybe is None
    assert "empty" not in m.state_dict() and "maybe" not in m.state_dict()
    with pytest.raises(TypeError, match="nn.Parameter or None expected"):
        m.register_parameter("p", minigrad.ones(1))

    class Forgot(Module):
        def __init__(self):
            self.w = Parameter(minigrad.ones(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()


def test_forward_missing_raises():
    with pytest.raises(NotImplementedError, match="Module"):
        Module()(1)


# ---------------------------------------------------------------- modes, grads, apply, hooks, scope
def test_train_eval_propagate_to_every_descendant():
    net = Net()
    net.blocks[1].extra = Dropoutish()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    x = minigrad.ones(2)
    assert net.blocks[1].extra(x).tolist() == [1.0, 1.0]
    net.train()
    assert all(m.training for m in net.modules())
    assert net.blocks[1].extra(x).tolist() == [0.0, 0.0]
    net.blocks.train(False)
    assert net.training and not net.blocks[0].first.training and net.stem.training
    with pytest.raises(ValueError, match="bool"):
        net.train("no")


def test_eval_switches_batchnorm_to_running_statistics():
    if not hasattr(nn, "BatchNorm2d"):
        pytest.skip("nn.BatchNorm2d not written yet")
    model = nn.Sequential(nn.Sequential(nn.BatchNorm2d(3)))
    bn = model[0][0]
    minigrad.manual_seed(0)
    x = minigrad.randn(4, 3, 2, 2) * 3.0 + 1.0
    y_train = model(x).numpy()  # batch statistics: each channel has mean 0
    np.testing.assert_allclose(y_train.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    before = bn.running_mean.numpy().copy()
    model.eval()
    assert not bn.training
    y_eval = model(x).numpy()
    mean, var = bn.running_mean.numpy(), bn.running_var.numpy()
    np.testing.assert_array_equal(bn.running_mean.numpy(), before)  # eval doesn't update the stats
    ref = (x.numpy() - mean[:, None, None]) / np.sqrt(var[:, None, None] + bn.eps)
    ref = ref * bn.weight.numpy()[:, None, None] + bn.bias.numpy()[:, None, None]
    np.testing.assert_allclose(y_eval, ref, rtol=1e-5, atol=1e-5)


def test_zero_grad_and_requires_grad_():
    m = Affine(2)
    (m(minigrad.ones(2)) * 3.0).sum().backward()
    assert m.weight.grad.tolist() == [3.0, 3.0]
    old = m.weight.grad.data
    m.zero_grad(set_to_none=False)
    assert m.weight.grad.tolist() == [0.0, 0.0] and old.tolist() == [3.0, 3.0]  # old array untouched
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    assert m.requires_grad_(False) is m
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    assert all(p.requires_grad for p in m.parameters())


def test_apply_visits_children_first_then_self():
    net = Net()
    seen = []
    assert net.apply(lambda mod: seen.append(type(mod).__name__)) is net
    assert seen == ["Affine", "Affine", "Affine", "Block", "Affine", "Affine", "Block", "Sequential", "Net"]


def test_forward_hook_sees_input_output_can_replace_and_be_removed():
    m = Affine(2)
    calls = []

    def hook(module, inputs, output):
        calls.append((module, inputs, output.tolist()))
        return output * 10.0

    handle = m.register_forward_hook(hook)
    x = minigrad.tensor([1.0, 2.0])
    assert m(x).tolist() == [10.0, 20.0]
    assert calls[0][0] is m and calls[0][1] == (x,) and calls[0][2] == [1.0, 2.0]
    m.register_forward_hook(lambda mod, i, o: None)  # None keeps the output
    handle.remove()
    assert m(x).tolist() == [1.0, 2.0] and len(calls) == 1


def test_call_records_module_scope_and_restores_it_on_error():
    scopes = []

    class Outer(Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            scopes.append(autograd.current_scope())
            return self.inner(x)

    class Inner(Module):
        def forward(self, x):
            scopes.append(autograd.current_scope())
            if x is None:
                raise RuntimeError("boom")
            return x

    outer = Outer()
    outer(1)
    assert scopes == [(outer,), (outer, outer.inner)]
    assert autograd.current_scope() == ()
    with pytest.raises(RuntimeError, match="boom"):
        outer(None)
    assert autograd.current_scope() == ()


def test_to_keeps_parameter_objects_and_casts_floating_only():
    m = Affine(2)
    w = m.weight
    (m(minigrad.ones(2))).sum().backward()
    assert m.to("cpu") is m and m.weight is w
    m.to(minigrad.float64)
    assert m.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert m.running_mean.dtype == np.float64 and m.calls.dtype == np.int64
    m.float()
    assert w.dtype == np.float32
    with pytest.raises(ValueError, match="invalid device"):
        m.to("tpu")


# ---------------------------------------------------------------- load_state_dict
def test_load_state_dict_copies_in_place_from_tensors_and_arrays():
    a, b = Net(), Net()
    for i, p in enumerate(a.parameters()):
        p.data[...] = i
    a.blocks[0].step.data[...] = 7
    weight_array = b.stem.weight.data
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(np.array_equal(v, arrays(b)[k]) for k, v in arrays(a).items())
    assert b.stem.weight.data is weight_array  # copied into the existing array
    # NumPy float64 arrays are accepted and cast to the parameter's dtype
    sd = {k: v.numpy().astype(np.float64) + 1 for k, v in a.state_dict().items()}
    b.load_state_dict(sd)
    assert b.head.dtype == np.float32 and b.blocks[0].step.dtype == np.int64
    np.testing.assert_array_equal(b.head.numpy(), a.head.numpy() + 1)
    assert b.blocks[0].step.item() == 8


def test_strict_load_errors_list_every_problem_and_change_nothing():
    model = Net()
    before = arrays(model)
    good = {k: v * 0 + 5 for k, v in model.state_dict().items()}

    bad = dict(good)
    del bad["stem.bias"], bad["blocks.1.step"]
    bad["extra.weight"] = np.zeros(2)
    bad["head"] = np.zeros((3, 2))
    with pytest.raises(KeyError) as err:
        model.load_state_dict(bad)
    msg = str(err.value)
    for key in ("stem.bias", "blocks.1.step", "extra.weight", "head", "(3, 2)", "(2, 2)"):
        assert key in msg
    assert "\\n" not in msg  # printed readably

    shaped = dict(good)
    shaped["stem.weight"] = np.zeros(3)
    shaped["blocks.0.first.running_mean"] = np.zeros((2, 1))
    with pytest.raises(ValueError, match=r"stem\.weight.*\n?.*blocks\.0\.first\.running_mean"):
        model.load_state_dict(shaped)
    with pytest.raises(ValueError, match="head"):
        model.load_state_dict({**good, "head": np.array([["a", "b"], ["c", "d"]])})
    for k, v in arrays(model).items():
        np.testing.assert_array_equal(v, before[k])  # nothing changed by any failed load


def test_non_strict_load_reports_and_loads_the_rest():
    model = Affine(2)
    result = model.load_state_dict({"weight": np.full(2, 3.0), "other": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias", "running_mean"] and result.unexpected_keys == ["other"]
    assert model.weight.tolist() == [3.0, 3.0]
    with pytest.raises(ValueError, match="weight"):  # shapes are checked even when not strict
        model.load_state_dict({"weight": np.zeros(5)}, strict=False)


def test_state_dict_round_trip_through_save_and_load(tmp_path):
    minigrad.manual_seed(3)
    a = Net()
    for p in a.parameters():
        nn.init.normal_(p)
    a.stem.running_mean.data[...] = [0.5, -0.5]
    path = tmp_path / "net.npz"
    nn.save(a.state_dict(), path)
    loaded = nn.load(path)
    assert list(loaded) == list(a.state_dict())
    b = Net()
    b.load_state_dict(loaded)
    for k, v in arrays(a).items():
        np.testing.assert_array_equal(arrays(b)[k], v)
        assert arrays(b)[k].dtype == v.dtype
    x = minigrad.tensor([[0.3, -1.2]])
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())


# ---------------------------------------------------------------- repr
def test_repr_nests_like_pytorch():
    net = Net()
    net.blocks[0].second = None
    assert repr(net) == (
        "Net(\n"
        "  (stem): Affine(n=2)\n"
        "  (blocks): Sequential(\n"
        "    (0): Block(\n"
        "      (first): Affine(n=2)\n"
        "      (second): None\n"
        "    )\n"
        "    (1): Block(\n"
        "      (first): Affine(n=2)\n"
        "      (second): Affine(n=2)\n"
        "    )\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Identity()) == "Identity()"


# ---------------------------------------------------------------- containers and basic layers
def test_sequential_indexing_iteration_and_forward():
    a, b, c = Affine(2), nn.Identity(), Affine(2)
    a.weight.data[...] = 2.0
    c.bias.data[...] = 1.0
    seq = nn.Sequential(a, b, c)
    assert len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c
    with pytest.raises(IndexError, match="Sequential"):
        seq[3]  # noqa: B018
    assert isinstance(seq[1:], nn.Sequential) and list(seq[1:]) == [b, c]
    assert seq(minigrad.tensor([1.0, 2.0])).tolist() == [3.0, 5.0]
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    seq[1] = Affine(2)
    assert [k for k, _ in seq.named_parameters()][2:4] == ["1.weight", "1.bias"]
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[1] is c
    seq.append(nn.Identity())
    assert len(seq) == 3
    named = nn.Sequential(collections.OrderedDict([("conv", Affine(2)), ("act", nn.Identity())]))
    assert [k for k, _ in named.named_modules()] == ["", "conv", "act"]


def test_module_list_and_dict():
    layers = nn.ModuleList([Affine(1), Affine(1)])
    layers.append(Affine(1))
    layers.extend([Affine(1)])
    layers.insert(0, nn.Identity())
    assert len(layers) == 5 and isinstance(layers[0], nn.Identity) and isinstance(layers[-1], Affine)
    assert [k for k, _ in layers.named_parameters()][:2] == ["1.weight", "1.bias"]
    assert len(list(layers.parameters())) == 8
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"] and len(layers[1:3]) == 2
    with pytest.raises(NotImplementedError, match="ModuleList"):
        layers(1)

    heads = nn.ModuleDict({"cls": Affine(2), "box": Affine(4)})
    heads["mask"] = nn.Identity()
    assert list(heads) == ["cls", "box", "mask"] and "box" in heads and len(heads) == 3
    assert [k for k, _ in heads.named_parameters()] == ["cls.weight", "cls.bias", "box.weight", "box.bias"]
    assert heads.pop("cls") is not None and list(heads.keys()) == ["box", "mask"]
    with pytest.raises(TypeError, match="not a Module"):
        heads["x"] = 3


def test_identity_and_flatten():
    x = minigrad.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused="argument")(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    np.testing.assert_array_equal(nn.Flatten()(x).numpy(), x.numpy().reshape(2, 60))
