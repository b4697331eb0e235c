"""PyTorch habits around training: data utilities, DataLoader workers, gradient clipping, parameter
vectors, RMSprop / amsgrad against hand-written trajectories, the new schedulers, summary, and
the contract's edge cases for losses, softmax, linear/matmul and where."""
import math
import threading

import numpy as np
import pytest

import minigrad
import nn
from minigrad import functional as F
from nn.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, random_split
from nn.optim import SGD, Adam, RMSprop
from nn.optim import lr_scheduler as S

A = np.array([1.0, 3.0, 0.5, 2.0])
B = np.array([0.5, -1.0, 2.0, 0.0])
X0 = np.array([1.0, -2.0, 0.5, 3.0])


def trajectory(make, steps=6):
    p = nn.Parameter(minigrad.tensor(X0))
    opt = make([p])
    out = []
    for _ in range(steps):
        opt.zero_grad()
        (minigrad.tensor(A) * p * p * 0.5 - minigrad.tensor(B) * p).sum().backward()
        opt.step()
        out.append(p.numpy().copy())
    return np.array(out), opt


# ---------------------------------------------------------------- data

def test_subset_concat_random_split():
    ds = TensorDataset(minigrad.arange(10))
    assert [int(Subset(ds, [3, 1])[i][0]) for i in range(2)] == [3, 1]
    cat = ConcatDataset([ds, Subset(ds, [0, 9])])
    assert len(cat) == 12 and int(cat[10][0]) == 0 and int(cat[-1][0]) == 9
    with pytest.raises(IndexError):
        cat[12]
    g = minigrad.Generator().manual_seed(0)
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=g)
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(i for p in parts for i in p.indices) == list(range(10))
    again = random_split(ds, [5, 3, 2], generator=minigrad.Generator().manual_seed(0))
    assert [p.indices for p in again] == [p.indices for p in parts]
    assert [len(p) for p in random_split(ds, [0.34, 0.33, 0.33])] == [4, 3, 3]  # remainder dealt from the first
    with pytest.raises(ValueError, match="random_split"):
        random_split(ds, [4, 4])


class Slow(Dataset):
    def __init__(self, n, fail_at=None):
        self.n, self.fail_at, self.threads = n, fail_at, set()

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.threads.add(threading.current_thread().name)
        if i == self.fail_at:
            raise KeyError(f"item {i} is broken")
        return np.full(2, i, dtype=np.float32), i


def labels(loader):
    return [v for _, y in loader for v in y.tolist()]


def test_workers_keep_the_order_and_reraise_and_stop():
    ds = Slow(50)
    plain = DataLoader(ds, batch_size=4, shuffle=True, generator=minigrad.Generator().manual_seed(5))
    threaded = DataLoader(ds, batch_size=4, shuffle=True, num_workers=3, generator=minigrad.Generator().manual_seed(5))
    assert labels(plain) == labels(threaded)
    assert any(name.startswith("DataLoader worker") for name in ds.threads)
    with pytest.raises(KeyError, match="item 13 is broken") as info:
        list(DataLoader(Slow(30, fail_at=13), batch_size=4, num_workers=2))
    assert "DataLoader worker" in "".join(getattr(info.value, "__notes__", [])) and "__getitem__" in \
        "".join(info.value.__notes__)
    before = threading.active_count()
    for _ in DataLoader(Slow(100), batch_size=2, num_workers=2):
        break
    assert threading.active_count() <= before


def test_sampler_collate_fn_drop_last_and_arguments():
    ds = Slow(10)
    loader = DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 0, 1], collate_fn=lambda items: [i for _, i in items],
                        pin_memory=True, drop_last=True)
    assert list(loader) == [[9, 8, 7]] and len(loader) == 1
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=[0], shuffle=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)


# ---------------------------------------------------------------- nn.utils

def test_clip_grad_norm_and_value():
    a, b = nn.Parameter(minigrad.zeros(2)), nn.Parameter(minigrad.zeros(1))
    a.grad, b.grad = minigrad.tensor([3.0, 0.0]), minigrad.tensor([4.0])
    total = nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    assert math.isclose(total.item(), 5.0, rel_tol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), [3 / (5 + 1e-6), 0], rtol=1e-6)
    a.grad, b.grad = minigrad.tensor([3.0, -7.0]), minigrad.tensor([4.0])
    assert nn.utils.clip_grad_norm_([a, b], 100.0, norm_type=float("inf")).item() == 7.0
    assert a.grad.tolist() == [3.0, -7.0]  # under the limit: unchanged
    nn.utils.clip_grad_value_([a, b], 3.5)
    assert a.grad.tolist() == [3.0, -3.5] and b.grad.tolist() == [3.5]


def test_parameters_to_vector_and_back():
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.numpy()[:6], lin.weight.numpy().ravel())
    nn.utils.vector_to_parameters(minigrad.arange(8, dtype=minigrad.float32), lin.parameters())
    assert lin.bias.tolist() == [6.0, 7.0]
    with pytest.raises(ValueError, match="8"):
        nn.utils.vector_to_parameters(minigrad.zeros(7), lin.parameters())


def test_summary_of_resnet18_counts_as_torchinfo():
    s = nn.utils.summary(nn.models.resnet18(), (1, 3, 224, 224), depth=1)
    assert s.total_params == s.trainable_params == 11_689_512
    assert 1.80e9 < s.total_mult_adds < 1.83e9
    text = str(s)
    assert "Total params: 11,689,512" in text and "Total mult-adds (G): 1.81" in text
    stages = [r for r in s.rows if r["name"].startswith("layer")]
    assert [(r["output_shape"], r["params"]) for r in stages] == [
        ((1, 64, 56, 56), 147_968), ((1, 128, 28, 28), 525_568), ((1, 256, 14, 14), 2_099_712),
        ((1, 512, 7, 7), 8_393_728)]
    assert "├─Sequential: 1-5" in text and "[1, 1000]" in text


# ---------------------------------------------------------------- optimizers

def test_rmsprop_matches_pytorch_algorithm():
    for kw in (dict(), dict(momentum=0.9, weight_decay=0.1), dict(centered=True, momentum=0.5)):
        traj, _ = trajectory(lambda ps: RMSprop(ps, lr=0.01, alpha=0.9, **kw))
        x, v, gavg, buf, ref = X0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
        for _ in range(6):
            g = A * x - B + kw.get("weight_decay", 0) * x
            v = 0.9 * v + 0.1 * g * g
            vt = v
            if kw.get("centered"):
                gavg = 0.9 * gavg + 0.1 * g
                vt = v - gavg * gavg
            if kw.get("momentum"):
                buf = kw["momentum"] * buf + g / (np.sqrt(vt) + 1e-8)
                x = x - 0.01 * buf
            else:
                x = x - 0.01 * g / (np.sqrt(vt) + 1e-8)
            ref.append(x.copy())
        np.testing.assert_allclose(traj, ref, rtol=1e-12)


def test_amsgrad_uses_the_running_max_of_the_second_moment():
    traj, opt = trajectory(lambda ps: Adam(ps, lr=0.1, betas=(0.5, 0.6), amsgrad=True), steps=8)
    x, m, v, vmax, ref = X0.copy(), np.zeros(4), np.zeros(4), np.zeros(4), []
    for t in range(1, 9):
        g = A * x - B
        m = 0.5 * m + 0.5 * g
        v = 0.6 * v + 0.4 * g * g
        vmax = np.maximum(vmax, v)
        x = x - 0.1 / (1 - 0.5**t) * m / (np.sqrt(vmax) / np.sqrt(1 - 0.6**t) + 1e-8)
        ref.append(x.copy())
    np.testing.assert_allclose(traj, ref, rtol=1e-10)
    assert "max_exp_avg_sq" in next(iter(opt.state.values()))


def test_optimizer_load_state_dict_checks_shapes_and_changes_nothing():
    _, opt = trajectory(lambda ps: Adam(ps, lr=0.1))
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 99.0
    sd["state"][0]["exp_avg"] = minigrad.zeros(3)
    before = {k: v.copy() if hasattr(v, "copy") else v for k, v in next(iter(opt.state.values())).items()}
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 has shape \\(3,\\).*\\(4,\\)"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1
    after = next(iter(opt.state.values()))
    host = minigrad.backend.to_numpy
    np.testing.assert_array_equal(host(after["exp_avg"]), host(before["exp_avg"]))


# ---------------------------------------------------------------- schedulers

def lrs(make, steps, metric=None):
    opt = SGD([nn.Parameter(minigrad.zeros(1))], lr=1.0, momentum=0.9)
    sch = make(opt)
    out = [opt.param_groups[0]["lr"]]
    for i in range(steps):
        opt.step()
        sch.step(metric(i)) if metric else sch.step()
        out.append(opt.param_groups[0]["lr"])
    return out, opt, sch


def test_multistep_exponential_lambda_linear():
    assert np.allclose(lrs(lambda o: S.MultiStepLR(o, [2, 4, 4], gamma=0.5), 5)[0], [1, 1, .5, .5, .125, .125])
    assert np.allclose(lrs(lambda o: S.ExponentialLR(o, 0.9), 3)[0], [1, .9, .81, .729])
    assert np.allclose(lrs(lambda o: S.LambdaLR(o, lambda e: 1 / (e + 1)), 3)[0], [1, 1 / 2, 1 / 3, 1 / 4])
    assert np.allclose(lrs(lambda o: S.LinearLR(o, 0.25, 1.0, total_iters=3), 4)[0], [.25, .5, .75, 1, 1])


def test_one_cycle_lr_and_momentum():
    out, opt, sch = lrs(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.3), 9)
    # phase 1: steps 0..2 from 1/25 up to 1 (cos); phase 2: steps 2..9 down to 1/25/1e4
    ref = []
    for step in range(10):
        if step <= 2:
            pct, lo, hi = step / 2, 1 / 25, 1.0
        else:
            pct, lo, hi = (step - 2) / 7, 1.0, 1 / 25 / 1e4
        ref.append(hi + (lo - hi) / 2 * (1 + math.cos(math.pi * pct)))
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    assert math.isclose(opt.param_groups[0]["momentum"], 0.95)  # back to max momentum at the end
    with pytest.raises(ValueError, match="tried to step 11 times"):
        sch.step(), sch.step()


def test_sequential_lr_and_state_dict_round_trip(tmp_path):
    def make(o):
        return S.SequentialLR(o, [S.LinearLR(o, 0.5, 1.0, total_iters=2), S.ExponentialLR(o, 0.5)], milestones=[3])

    out, opt, sch = lrs(make, 6)
    assert np.allclose(out, [.5, .75, 1, 1, .5, .25, .125])
    minigrad.save(sch.state_dict(), tmp_path / "s.npz")
    out2, opt2, sch2 = lrs(make, 0)
    sch2.load_state_dict(minigrad.load(tmp_path / "s.npz"))
    opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
    sch.step(), sch2.step()
    assert sch.get_last_lr() == sch2.get_last_lr()


def test_reduce_lr_on_plateau():
    metrics = [5, 4, 4, 4, 4, 4, 3, 3, 3, 3]
    out, _, sch = lrs(lambda o: S.ReduceLROnPlateau(o, factor=0.5, patience=2), 10, metric=lambda i: metrics[i])
    assert out == [1, 1, 1, 1, 1, .5, .5, .5, .5, .5, .25]
    state = sch.state_dict()
    assert state["best"] == 3 and "optimizer" not in state


# ---------------------------------------------------------------- edge cases

def test_softmax_over_zero_length_dim_and_empty_batch():
    x = minigrad.zeros(3, 0, requires_grad=True)
    for f in (F.softmax, F.log_softmax):
        y = f(x, 1)
        assert y.shape == (3, 0)
        y.sum().backward()
        assert x.grad.shape == (3, 0)


def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradients():
    logits = minigrad.randn(4, 3, requires_grad=True)
    for fn in (lambda: F.cross_entropy(logits, minigrad.tensor([-100] * 4)),
               lambda: F.nll_loss(F.log_softmax(logits, 1), minigrad.tensor([1] * 4), ignore_index=1)):
        logits.grad = None
        loss = fn()
        assert math.isnan(loss.item())
        loss.backward()
        assert logits.grad.tolist() == [[0.0] * 3] * 4


def test_mixed_dtypes_in_linear_and_matmul_raise_and_where_wants_bool():
    with pytest.raises(TypeError, match="linear: .*float64 and float32"):
        F.linear(minigrad.ones(2, 3, dtype=minigrad.float64), minigrad.ones(4, 3))
    with pytest.raises(TypeError, match="linear: .*bias.*float32 and float64"):
        F.linear(minigrad.ones(2, 3), minigrad.ones(4, 3), minigrad.ones(4, dtype=minigrad.float64))
    with pytest.raises(TypeError, match="matmul: .*int64 and float32"):
        minigrad.tensor([[1, 2]]) @ minigrad.ones(2, 2)
    with pytest.raises(TypeError, match="where: expected condition to be a bool"):
        minigrad.where(minigrad.tensor([1, 0]), minigrad.ones(2), minigrad.zeros(2))


def test_one_cycle_three_phase_follows_pytorchs_phases():
    # linear annealing, 10 steps, pct_start 0.3: up to step 2, back down to initial_lr by step 4,
    # then to min_lr = initial_lr / final_div_factor at step 9 (computed by hand)
    p = nn.Parameter(minigrad.zeros(1))
    opt = nn.optim.SGD([p], lr=0.0, momentum=0.9)
    sched = nn.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3, div_factor=10.0,
                                             final_div_factor=1e4, anneal_strategy="linear", three_phase=True)
    lrs = [opt.param_groups[0]["lr"]]
    momenta = [opt.param_groups[0]["momentum"]]
    for _ in range(9):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    lo, end = 0.1, 0.1 / 1e4
    expected = [0.1, 0.55, 1.0, 0.55, 0.1] + [lo + (end - lo) * k / 5 for k in range(1, 6)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    np.testing.assert_allclose(momenta[:5], [0.95, 0.9, 0.85, 0.9, 0.95], rtol=1e-12)
    np.testing.assert_allclose(momenta[5:], 0.95, rtol=1e-12)
