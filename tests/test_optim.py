"""nn.optim: SGD, Adam, AdamW against their update rules written out here; schedulers; checkpoints."""
import math

import numpy as np
import pytest

import minigrad
import nn
from nn.optim import SGD, Adam, AdamW
from nn.optim.lr_scheduler import CosineAnnealingLR, StepLR

# loss(x) = sum(0.5 * A * x**2 - B * x): a quadratic with gradient A * x - B
A = np.array([1.0, 3.0, 0.5, 2.0, 10.0])
B = np.array([0.5, -1.0, 2.0, 0.0, 1.0])
X0 = np.array([1.0, -2.0, 0.5, 3.0, -0.25])


def grad_ref(x):
    return A * x - B


def loss(p):
    a, b = minigrad.tensor(A.astype(p.dtype)), minigrad.tensor(B.astype(p.dtype))
    return (a * p * p * 0.5 - b * p).sum()


def run(make_opt, steps, dtype=np.float32):
    """Minimise the quadratic with minigrad (gradients by backward) and return the trajectory."""
    p = nn.Parameter(minigrad.tensor(X0.astype(dtype)))
    opt = make_opt([p])
    traj = []
    for _ in range(steps):
        opt.zero_grad()
        loss(p).backward()
        opt.step()
        traj.append(p.numpy().copy())
    return np.array(traj), p, opt


def sgd_ref(steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    x, buf, traj = X0.copy(), None, []
    for _ in range(steps):
        d = grad_ref(x) + weight_decay * x
        if momentum != 0:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        x = x - lr * d
        traj.append(x.copy())
    return np.array(traj)


def adam_ref(steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    x, m, v, traj = X0.copy(), np.zeros(5), np.zeros(5), []
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = grad_ref(x)
        if decoupled:
            x = x * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
        traj.append(x.copy())
    return np.array(traj)


SGD_CASES = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.05),
    dict(lr=0.05, momentum=0.8, nesterov=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.2),
]


@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_trajectory_matches_rule(kw):
    traj, p, opt = run(lambda ps: SGD(ps, **kw), 8)
    np.testing.assert_allclose(traj, sgd_ref(8, **kw), rtol=2e-5, atol=2e-6)
    assert p.dtype == np.float32
    if kw.get("momentum"):
        assert opt.state[p]["momentum_buffer"].dtype == np.float32


ADAM_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.05, weight_decay=0.3),
]


@pytest.mark.parametrize("kw", ADAM_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_adam_trajectory_matches_rule(kw):
    traj, p, opt = run(lambda ps: Adam(ps, **kw), 8)
    np.testing.assert_allclose(traj, adam_ref(8, **kw), rtol=2e-5, atol=2e-6)
    st = opt.state[p]
    assert st["step"] == 8 and st["exp_avg"].dtype == np.float32 and st["exp_avg_sq"].dtype == np.float32


@pytest.mark.parametrize("kw", [dict(), dict(lr=0.05, weight_decay=0.5), dict(lr=0.1, betas=(0.5, 0.9))],
                         ids=["defaults", "wd", "betas"])
def test_adamw_trajectory_matches_rule(kw):
    traj, p, _ = run(lambda ps: AdamW(ps, **kw), 8)
    full = {"lr": 1e-3, "weight_decay": 1e-2, **kw}
    np.testing.assert_allclose(traj, adam_ref(8, decoupled=True, **full), rtol=2e-5, atol=2e-6)


def test_defaults_match_the_contract():
    p = [nn.Parameter(minigrad.zeros(1))]
    assert {k: v for k, v in SGD(p, lr=0.1).param_groups[0].items() if k != "params"} == dict(
        lr=0.1, momentum=0, dampening=0, weight_decay=0, nesterov=False)
    assert {k: v for k, v in Adam(p).param_groups[0].items() if k != "params"} == dict(
        lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False)
    assert AdamW(p).param_groups[0]["weight_decay"] == 1e-2


def test_float64_parameters_stay_float64():
    traj, p, opt = run(lambda ps: Adam(ps, lr=0.1, weight_decay=0.1), 5, dtype=np.float64)
    assert p.dtype == np.float64 and opt.state[p]["exp_avg"].dtype == np.float64
    np.testing.assert_allclose(traj, adam_ref(5, lr=0.1, weight_decay=0.1), rtol=1e-12)


def test_param_groups_use_their_own_hyperparameters():
    p1 = nn.Parameter(minigrad.tensor(X0.astype(np.float32)))
    p2 = nn.Parameter(minigrad.tensor(X0.astype(np.float32)))
    frozen = nn.Parameter(minigrad.ones(2))  # never gets a gradient
    opt = SGD([{"params": [p1]}, {"params": [p2, frozen], "lr": 0.01, "nesterov": True}], lr=0.05, momentum=0.5)
    assert opt.param_groups[1]["momentum"] == 0.5 and opt.param_groups[0]["lr"] == 0.05
    for _ in range(4):
        opt.zero_grad()
        (loss(p1) + loss(p2)).backward()
        opt.step()
    np.testing.assert_allclose(p1.numpy(), sgd_ref(4, lr=0.05, momentum=0.5)[-1], rtol=2e-5)
    np.testing.assert_allclose(p2.numpy(), sgd_ref(4, lr=0.01, momentum=0.5, nesterov=True)[-1], rtol=2e-5)
    assert frozen.tolist() == [1.0, 1.0] and frozen not in opt.state


def test_step_never_writes_into_gradients_and_zero_grad():
    p = nn.Parameter(minigrad.tensor(X0.astype(np.float32)))
    for opt in (SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True), Adam([p], weight_decay=0.1),
                AdamW([p]), SGD([p], lr=0.1, momentum=0.9, dampening=0.5)):
        p.grad = minigrad.tensor(np.arange(5, dtype=np.float32))
        grad = p.grad.data
        for _ in range(3):
            opt.step()
        np.testing.assert_array_equal(p.grad.numpy(), np.arange(5, dtype=np.float32))
        opt.zero_grad(set_to_none=False)
        assert p.grad.tolist() == [0.0] * 5 and float(grad[1]) == 1.0
        opt.zero_grad()
        assert p.grad is None


def test_argument_errors():
    p = [nn.Parameter(minigrad.zeros(1))]
    with pytest.raises(ValueError, match="SGD: invalid learning rate"):
        SGD(p, lr=-1.0)
    with pytest.raises(ValueError, match="SGD: nesterov"):
        SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Adam: invalid betas"):
        Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="AdamW: invalid epsilon"):
        AdamW(p, eps=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": p}, {"params": p}], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD(set(p), lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([p[0] * 2], lr=0.1)


# ---------------------------------------------------------------- checkpoints
class Quadratic(nn.Module):
    def __init__(self):
        super().__init__()
        self.x = nn.Parameter(minigrad.tensor(X0.astype(np.float32)))
        self.y = nn.Parameter(minigrad.tensor(X0[::-1].astype(np.float32)))

    def forward(self):
        return loss(self.x) + loss(self.y) * 2.0


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: Adam([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, betas=(0.8, 0.95)),
    lambda ps: AdamW(ps, lr=0.05),
], ids=["sgd", "adam-groups", "adamw"])
def test_optimizer_state_round_trip_through_save_and_load(tmp_path, make):
    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            model().backward()
            opt.step()

    a = Quadratic()
    opt_a = make(list(a.parameters()))
    train(a, opt_a, 3)
    nn.save(a.state_dict(), tmp_path / "model.npz")
    nn.save(opt_a.state_dict(), tmp_path / "opt.npz")
    flat = nn.load(tmp_path / "opt.npz")  # the nested form comes back as saved
    assert 0 in flat["state"] and "lr" in flat["param_groups"][0]

    b = Quadratic()
    opt_b = make(list(b.parameters()))
    for g in opt_b.param_groups:
        g["lr"] = 123.0  # overwritten by the load
    b.load_state_dict(nn.load(tmp_path / "model.npz"))
    opt_b.load_state_dict(flat)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt_b.param_groups] == \
           [{k: v for k, v in g.items() if k != "params"} for g in opt_a.param_groups]
    train(a, opt_a, 3)
    train(b, opt_b, 3)
    np.testing.assert_array_equal(a.x.numpy(), b.x.numpy())
    np.testing.assert_array_equal(a.y.numpy(), b.y.numpy())
    # the loaded state is the optimizer's own memory, not the checkpoint's
    assert all(not isinstance(v, minigrad.Tensor) for st in opt_b.state.values() for v in st.values())


def test_optimizer_state_dict_form_and_mismatch_errors():
    ps = [nn.Parameter(minigrad.ones(2)), nn.Parameter(minigrad.ones(3))]
    opt = SGD(ps, lr=0.1, momentum=0.9)
    ps[1].grad = minigrad.ones(3)
    opt.step()
    sd = opt.state_dict()
    assert list(sd["state"]) == [1] and sd["param_groups"][0]["params"] == [0, 1]
    assert isinstance(sd["state"][1]["momentum_buffer"], minigrad.Tensor)
    opt2 = SGD([nn.Parameter(minigrad.ones(2))], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt2.load_state_dict(sd)
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt2.load_state_dict({"state": {}, "param_groups": []})
    opt3 = SGD([nn.Parameter(minigrad.ones(2)), nn.Parameter(minigrad.ones(3))], lr=1.0)
    opt3.load_state_dict(sd)  # the nested (PyTorch) form loads too
    assert opt3.param_groups[0]["momentum"] == 0.9
    buf = opt3.state[opt3.param_groups[0]["params"][1]]["momentum_buffer"]
    assert buf.tolist() == [1.0] * 3 and buf is not opt.state[ps[1]]["momentum_buffer"]


# ---------------------------------------------------------------- schedulers
def make_groups(lrs):
    return SGD([{"params": [nn.Parameter(minigrad.zeros(1))], "lr": lr} for lr in lrs], lr=lrs[0])


def test_step_lr_sequence():
    opt = make_groups([1.0, 0.3])
    sched = StepLR(opt, step_size=3, gamma=0.5)
    seen = [sched.get_last_lr()]
    for _ in range(10):
        opt.step()
        sched.step()
        seen.append(sched.get_last_lr())
    expected = [[base * 0.5 ** (epoch // 3) for base in (1.0, 0.3)] for epoch in range(11)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    assert sched.last_epoch == 10 and opt.param_groups[1]["lr"] == pytest.approx(0.3 * 0.5**3)
    with pytest.raises(ValueError, match="StepLR: step_size"):
        StepLR(opt, step_size=0)


def test_cosine_annealing_sequence_follows_the_closed_form_past_t_max():
    opt = make_groups([1.0, 0.2])
    T, eta_min = 4, 0.1
    sched = CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    seen = [sched.get_last_lr()]
    for _ in range(3 * T + 2):
        sched.step()
        seen.append(sched.get_last_lr())
    expected = [[eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2 for base in (1.0, 0.2)]
                for t in range(3 * T + 3)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-14)
    assert seen[T] == pytest.approx([eta_min, eta_min])


def test_scheduler_state_round_trip(tmp_path):
    opt = make_groups([1.0])
    sched = CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        sched.step()
    nn.save(sched.state_dict(), tmp_path / "sched.npz")
    opt2 = make_groups([1.0])
    sched2 = CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(nn.load(tmp_path / "sched.npz"))
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]  # as optimizer.load_state_dict would
    assert sched2.last_epoch == 3 and sched2.T_max == 10
    for _ in range(4):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == pytest.approx(sched.get_last_lr(), rel=1e-12)
