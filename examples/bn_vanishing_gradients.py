"""Study: BatchNorm against vanishing gradients in a deep sigmoid network.

    python3 examples/bn_vanishing_gradients.py               # figure in runs/studies/
    python3 examples/bn_vanishing_gradients.py --weight-scale 0.58   # ~PyTorch's default Linear init

The same 20-layer MLP (64 -> 64 x 20 -> 10, sigmoid after every hidden layer) twice, with and
without ``BatchNorm1d`` between each Linear and its sigmoid, on the same digits data and the same
initial weights (N(0, scale^2 / fan_in), scale 4 by default: large enough that some pre-activations
land in the sigmoid's flat tails).

Backpropagation multiplies, layer after layer, by ``sigmoid'(z) <= 1/4`` and by the weights:

    dL/dz_l = sigmoid'(z_l) * (W_{l+1}^T dL/dz_{l+1})

so the gradient that reaches the first layers shrinks geometrically with depth. Where ``|z|`` is
large the sigmoid is saturated (``sigmoid'(z) ~ 0``) and the signal dies even faster. BatchNorm
re-centres and re-scales every pre-activation to mean 0, variance 1 over the batch (then gamma,
beta), which keeps ``z`` in the sigmoid's steep middle, and its backward divides by the batch
standard deviation, undoing the shrinking scale of the layer below. The study measures:

1. the gradient norm of every hidden layer's weight at initialisation (first layer vs last);
2. the pre-activation distributions at layers 1, 10 and 20, and the fraction of saturated units
   (``sigmoid'(z) < 0.01``, i.e. ``|z| > 4.6``);
3. what that does to training: the same SGD run for both networks.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import nn  # noqa: E402
from examples.train_resnet18 import load_data  # noqa: E402

SATURATED = 0.01  # sigmoid'(z) below this counts as saturated (|z| > 4.6)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--weight-scale", type=float, default=4.0,
                   help="hidden weights ~ N(0, scale^2 / fan_in); PyTorch's default Linear init has std "
                        "1/sqrt(3 fan_in), i.e. scale 0.58")
    p.add_argument("--steps", type=int, default=300, help="SGD steps for the training comparison")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("runs", "studies"))
    return p.parse_args(argv)


def load_digits_flat(seed=0):
    """The digits split of train_resnet18.py (stratified 80/20, standardised), as (N, 64) rows."""
    x_tr, y_tr, x_te, y_te, _ = load_data(split_seed=seed)
    return x_tr.reshape(len(x_tr), -1), y_tr, x_te.reshape(len(x_te), -1), y_te


def build(depth, width, batch_norm, weight_scale, seed, in_features=64, classes=10):
    """[Linear -> (BatchNorm1d) -> Sigmoid] x depth -> Linear; the same weights for a given seed."""
    minigrad.manual_seed(seed)
    layers, fan_in = [], in_features
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.normal_(linear.weight, std=weight_scale / np.sqrt(fan_in))
        nn.init.zeros_(linear.bias)
        layers += [linear] + ([nn.BatchNorm1d(width)] if batch_norm else []) + [nn.Sigmoid()]
        fan_in = width
    layers.append(nn.Linear(fan_in, classes))
    return nn.Sequential(*layers)


def hidden_linears(model):
    return [m for m in model if isinstance(m, nn.Linear)][:-1]


def probe(model, x, y):
    """One forward/backward in train mode: per-layer weight-gradient norms and pre-activations."""
    pre = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: pre.append(inp[0].numpy()))
             for m in model if isinstance(m, nn.Sigmoid)]
    model.train()
    model.zero_grad()
    F.cross_entropy(model(minigrad.tensor(x)), minigrad.tensor(y)).backward()
    for h in hooks:
        h.remove()
    grad_norms = np.array([np.linalg.norm(m.weight.grad.numpy()) for m in hidden_linears(model)])
    model.zero_grad()
    sig = [1 / (1 + np.exp(-np.clip(z, -60, 60))) for z in pre]
    saturated = np.array([np.mean(s * (1 - s) < SATURATED) for s in sig])
    return grad_norms, pre, saturated


def train(model, x, y, x_te, y_te, steps, batch_size, lr, seed):
    """Plain minibatch SGD with momentum; returns the loss per step and the test accuracy."""
    rng = np.random.default_rng(seed)
    opt = nn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(x), size=batch_size)
        loss = F.cross_entropy(model(minigrad.tensor(x[idx])), minigrad.tensor(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with minigrad.no_grad():
        acc = float((model(minigrad.tensor(x_te)).argmax(1).numpy() == y_te).mean())
    return np.array(losses), acc


def plot(results, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    layers = np.arange(1, args.depth + 1)
    styles = {"plain": dict(color="tab:red"), "batchnorm": dict(color="tab:blue")}
    ax = axes[0, 0]
    for name, r in results.items():
        ax.semilogy(layers, r["grad_init"], "o-", label=f"{name}, at init", **styles[name])
        ax.semilogy(layers, r["grad_trained"], "x--", label=f"{name}, after training", **styles[name])
    ax.set_xlabel("hidden layer (1 = nearest the input)")
    ax.set_ylabel("||dL/dW||")
    ax.set_title("weight-gradient norm per layer")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for name, r in results.items():
        ax.plot(layers, 100 * r["saturated"], "o-", label=name, **styles[name])
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("% units with sigmoid'(z) < 0.01")
    ax.set_title("saturated pre-activations at init")
    ax.legend()
    ax = axes[0, 2]
    for name, r in results.items():
        ax.semilogy(r["losses"], label=f"{name} (test acc {100 * r['acc']:.1f}%)", **styles[name])
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    ax.set_title("training")
    ax.legend()
    for ax, layer in zip(axes[1], (1, (args.depth + 1) // 2, args.depth)):
        for name, r in results.items():
            z = r["pre"][layer - 1].ravel()
            ax.hist(np.clip(z, -15, 15), bins=80, range=(-15, 15), alpha=0.55, density=True,
                    label=name, **styles[name])
        ax.axvspan(-15, -4.6, color="grey", alpha=0.15)
        ax.axvspan(4.6, 15, color="grey", alpha=0.15, label="saturated")
        ax.set_title(f"pre-activations z, layer {layer} (at init)")
        ax.set_xlabel("z (input of the sigmoid)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{args.depth}-layer sigmoid MLP on digits, weights N(0, {args.weight_scale:g}^2/fan_in): "
                 "with and without BatchNorm1d")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    x_tr, y_tr, x_te, y_te = load_digits_flat(args.seed)
    probe_idx = np.random.default_rng(args.seed).choice(len(x_tr), size=min(256, len(x_tr)), replace=False)
    results = {}
    for name, bn in (("plain", False), ("batchnorm", True)):
        model = build(args.depth, args.width, bn, args.weight_scale, args.seed)
        grad_init, pre, saturated = probe(model, x_tr[probe_idx], y_tr[probe_idx])
        losses, acc = train(model, x_tr, y_tr, x_te, y_te, args.steps, args.batch_size, args.lr, args.seed)
        grad_trained, _, _ = probe(model, x_tr[probe_idx], y_tr[probe_idx])
        results[name] = dict(grad_init=grad_init, grad_trained=grad_trained, pre=pre,
                             saturated=saturated, losses=losses, acc=acc)
        mid = (args.depth - 1) // 2
        print(f"{name:9s} at init: ||dL/dW|| layer 1 {grad_init[0]:.2e}, layer {mid + 1} {grad_init[mid]:.2e}, "
              f"layer {args.depth} {grad_init[-1]:.2e} (first/last {grad_init[0] / grad_init[-1]:.1e}); "
              f"saturated units: layer 1 {100 * saturated[0]:.0f}%, mean {100 * saturated.mean():.0f}%, "
              f"pre-activation std layer 1 {pre[0].std():.2f}, layer {args.depth} {pre[-1].std():.2f}")
        print(f"{'':9s} after {args.steps} SGD steps: loss {losses[-10:].mean():.3f}, test accuracy {100 * acc:.1f}%")
    plain, bn = results["plain"], results["batchnorm"]
    ratio_plain = plain["grad_init"][0] / plain["grad_init"][-1]
    ratio_bn = bn["grad_init"][0] / bn["grad_init"][-1]
    print(f"finding: without BatchNorm the first layer's gradient is {ratio_plain:.1e} x the last layer's "
          f"(vanishing), with BatchNorm {ratio_bn:.2f} x; saturated units {100 * plain['saturated'].mean():.0f}% "
          f"vs {100 * bn['saturated'].mean():.0f}%; test accuracy after {args.steps} steps "
          f"{100 * plain['acc']:.1f}% vs {100 * bn['acc']:.1f}%.")
    path = os.path.join(args.out, "bn_vanishing_gradients.png")
    plot(results, args, path)
    print("wrote", path)
    return dict(ratio_plain=ratio_plain, ratio_bn=ratio_bn, acc_plain=plain["acc"], acc_bn=bn["acc"],
                saturated_plain=float(plain["saturated"].mean()), saturated_bn=float(bn["saturated"].mean()),
                figure=path)


if __name__ == "__main__":
    main()
