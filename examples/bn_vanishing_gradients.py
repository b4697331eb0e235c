"""Study: BatchNorm against vanishing gradients in a deep sigmoid network.

    python examples/bn_vanishing_gradients.py        # figure in runs/studies/bn_vanishing_gradients/
    python examples/bn_vanishing_gradients.py --weight-scale 0.58   # ~PyTorch's default Linear init

The same 20-layer MLP (64 -> 64 x 20 -> 10, sigmoid after every hidden layer) twice, with and
without ``BatchNorm1d`` between each Linear and its sigmoid, on the same digits data and the same
initial weights (N(0, scale^2 / fan_in), scale 4 by default: large enough that some pre-activations
land in the sigmoid's flat tails).

Backpropagation multiplies, layer after layer, by ``sigmoid'(z) <= 1/4`` and by the weights:

    dL/dz_l = sigmoid'(z_l) * (W_{l+1}^T dL/dz_{l+1})

Two different things shrink the gradient, and the study separates them:

- the bound: ``sigmoid'(z) <= 1/4`` even at its best (z = 0), so each layer multiplies the gradient by
  at most 1/4 times the gain of ``W^T`` (about ``scale`` for weights N(0, scale^2 / fan_in)). With small
  weights (PyTorch's default Linear init, scale ~0.58) nothing saturates, yet the gradient shrinks by
  ~0.58 / 4 per layer;
- saturation: where ``|z|`` is large, ``sigmoid'(z) ~ 0`` and the signal dies. Large weights (scale 4)
  cancel the 1/4 (4 x 1/4 = 1) but push pre-activations into the flat tails.

The decomposition replays the backward pass of the plain network in NumPy three times with the same
weights: with ``sigmoid'`` replaced by 1 (the weights alone), by its maximum 1/4 (the bound, no
saturation), and with the real ``sigmoid'(z)``. The gap between the first two is the 1/4 bound, the
gap between the last two is what saturation (and any z away from 0) adds. BatchNorm
re-centres and re-scales every pre-activation to mean 0, variance 1 over the batch (then gamma,
beta), which keeps ``z`` in the sigmoid's steep middle, and its backward divides by the batch
standard deviation, undoing the shrinking scale of the layer below. The study measures:

1. the gradient norm of every hidden layer's weight at initialisation (first layer vs last);
2. the decomposition above, at the chosen weight scale and at PyTorch's default scale 0.58;
3. the pre-activation distributions at layers 1, 10 and 20, and the fraction of saturated units
   (``sigmoid'(z) < 0.01``, i.e. ``|z| > 4.6``);
4. what that does to training: the same SGD run for both networks;
5. the gradient flow drawn: ``minigrad.viz`` draws both networks at initialisation, one box per
   layer coloured by the norm of the gradient reaching its output, ``||dL/dh_l||``, on ONE shared log
   colour scale (``grad_range``), so the plain network's fade from yellow (near the loss) to dark (near
   the input) and BatchNorm's even colours compare at a glance (``grad_flow_plain.png``,
   ``grad_flow_batchnorm.png``, and both side by side in ``grad_flow_pair.png``; ``.svg`` too, whose
   tooltips give each layer's contents). Needs the ``graphviz`` package (``pip install 'minigrad[viz]'``)
   and Graphviz's ``dot`` program; without ``dot`` only the ``.dot`` sources are written.
"""
import shutil
from collections import OrderedDict

import numpy as np

import minigrad
import minigrad.functional as F
import nn
from common import fit, load_digits_flat, parse, pyplot, save_figure, study_parser

SATURATED = 0.01  # sigmoid'(z) below this counts as saturated (|z| > 4.6)


def parse_args(argv=None):
    p = study_parser(__doc__, "bn_vanishing_gradients")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--weight-scale", type=float, default=4.0,
                   help="hidden weights ~ N(0, scale^2 / fan_in); PyTorch's default Linear init has std "
                        "1/sqrt(3 fan_in), i.e. scale 0.58")
    p.add_argument("--steps", type=int, default=300, help="SGD steps for the training comparison")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-draw", dest="draw", action="store_false",
                   help="skip the gradient-flow drawings (they need the graphviz package)")
    return parse(p, argv, quick=dict(depth=8, width=16, steps=5))


class LinearSigmoid(nn.Sequential):
    """One hidden layer of the plain network: Linear -> Sigmoid (a named type, so drawings say it)."""


class LinearBNSigmoid(nn.Sequential):
    """One hidden layer of the BatchNorm network: Linear -> BatchNorm1d -> Sigmoid."""


def build(depth, width, batch_norm, weight_scale, seed, in_features=64, classes=10):
    """``layer1 .. layerN`` (each Linear -> (BatchNorm1d) -> Sigmoid), then ``head`` (Linear); the same
    weights for a given seed. One named block per hidden layer, so a drawing folded at depth 1 has one
    box per layer."""
    minigrad.manual_seed(seed)
    blocks, fan_in = [], in_features
    for i in range(depth):
        linear = nn.Linear(fan_in, width)
        nn.init.normal_(linear.weight, std=weight_scale / np.sqrt(fan_in))
        nn.init.zeros_(linear.bias)
        steps = [("linear", linear)] + ([("bn", nn.BatchNorm1d(width))] if batch_norm else []) + [("sigmoid", nn.Sigmoid())]
        block = LinearBNSigmoid if batch_norm else LinearSigmoid
        blocks.append((f"layer{i + 1}", block(OrderedDict(steps))))
        fan_in = width
    blocks.append(("head", nn.Linear(fan_in, classes)))
    return nn.Sequential(OrderedDict(blocks))


def hidden_linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]


def probe(model, x, y):
    """One forward/backward in train mode: per-layer weight-gradient norms and pre-activations."""
    pre = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: pre.append(inp[0].numpy()))
             for m in model.modules() if isinstance(m, nn.Sigmoid)]
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
    """SGD with momentum; returns the loss per step and the test accuracy."""
    opt = nn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    hist = fit(model, opt, x, y, batch_size=batch_size, steps=steps, rng=np.random.default_rng(seed))
    model.eval()
    with minigrad.no_grad():
        acc = float((model(minigrad.tensor(x_te)).argmax(1).numpy() == y_te).mean())
    return hist["losses"], acc


def decompose(depth, width, scale, seed, x, y):
    """||dL/dz_l|| per hidden layer of the plain net at init, from one NumPy replay of its backward with
    sigmoid'(z) replaced by 1, by 1/4, or kept: {"weights only", "sigmoid' = 1/4", "real sigmoid'(z)"}."""
    model = build(depth, width, False, scale, seed)
    _, pre, _ = probe(model, x, y)
    weights = [m.weight.detach().numpy().astype(np.float64) for m in model.modules() if isinstance(m, nn.Linear)]
    with minigrad.no_grad():
        logits = model(minigrad.tensor(x)).numpy().astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    out = {}
    for name in ("weights only", "sigmoid' = 1/4", "real sigmoid'(z)"):
        g = (p / len(y)) @ weights[-1]  # dL/dh of the last hidden layer
        norms = []
        for layer in range(depth - 1, -1, -1):
            s = 1 / (1 + np.exp(-np.clip(pre[layer].astype(np.float64), -60, 60)))
            deriv = {"weights only": 1.0, "sigmoid' = 1/4": 0.25, "real sigmoid'(z)": s * (1 - s)}[name]
            g = g * deriv  # dL/dz_layer
            norms.append(np.linalg.norm(g))
            g = g @ weights[layer]  # dL/dh of the layer below
        out[name] = np.array(norms[::-1])
    return out


def layer_output_grads(model, x, y):
    """One forward at init (train mode), graph kept: ``dict(loss, norms, inputs)`` with ``norms`` the
    ``||dL/dh_l||`` of every hidden layer's output h_l (what the gradient-flow drawing colours) and
    ``inputs`` the named input tensors (held so that the drawing can still name them)."""
    outputs = []
    hooks = [block.register_forward_hook(lambda mod, inp, out: outputs.append(out))
             for name, block in model.named_children() if name.startswith("layer")]
    model.train()
    xt, yt = minigrad.tensor(x), minigrad.tensor(y)
    xt.name, yt.name = f"x: {len(x)} digits", "labels"
    loss = F.cross_entropy(model(xt), yt)
    for h in hooks:
        h.remove()
    grads = minigrad.autograd.grad(loss, outputs, retain_graph=True)
    return dict(loss=loss, norms=np.array([np.linalg.norm(g.numpy()) for g in grads]), inputs=(xt, yt))


def draw_gradient_flow(flows, out, depth):
    """Draw each network's loss with ``grad_flow=True`` on one shared colour scale (whole decades around
    every drawn norm: the layers' outputs and the loss's 1), one box per layer; then both side by side.
    Returns the paths written."""
    import minigrad.viz as viz

    norms = np.concatenate([f["norms"] for f in flows.values()])
    lo = 10.0 ** np.floor(np.log10(norms[norms > 0].min()))
    grad_range = (float(lo), 1.0)
    ext = "png" if shutil.which("dot") else "dot"
    paths = {}
    for name, flow in flows.items():
        title = (f"{depth}-layer sigmoid MLP {'with' if name == 'batchnorm' else 'without'} BatchNorm, at init: "
                 "||dL/dh|| per layer")
        for e in (ext, "svg") if ext == "png" else (ext,):
            path = viz.render(flow["loss"], path=f"{out}/grad_flow_{name}.{e}", grad_flow=True, grad_range=grad_range,
                              group_modules=True, collapse_depth=1, show_intermediates=False, title=title)
            print("wrote", path)
            paths.setdefault(name, path)
    if ext == "png":
        paths["pair"] = side_by_side([paths["plain"], paths["batchnorm"]], out, grad_range)
    else:
        print("note: Graphviz's `dot` is not installed (apt-get install graphviz): wrote the .dot sources only")
    return paths


def side_by_side(pngs, out, grad_range, gap=40, header=70):
    """The two drawings next to each other at their own pixel size (``figimage``: no rescaling), under a
    heading for each, in ``grad_flow_pair.png``."""
    plt = pyplot()
    images = [plt.imread(p) for p in pngs]
    width = sum(im.shape[1] for im in images) + gap
    height = max(im.shape[0] for im in images) + header
    dpi = 100
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    x = 0
    for im, name in zip(images, ("without BatchNorm", "with BatchNorm")):
        fig.figimage(im, xo=x, yo=height - header - im.shape[0])
        fig.text((x + im.shape[1] / 2) / width, 1 - 28 / height, name, ha="center", va="center", fontsize=16,
                 weight="bold")
        x += im.shape[1] + gap
    fig.text(0.5, 1 - 58 / height, f"the same colour scale, ||dL/dh|| from {grad_range[0]:.0e} (dark) to "
             f"{grad_range[1]:g} (yellow)", ha="center", va="center", fontsize=11)
    path = f"{out}/grad_flow_pair.png"
    fig.savefig(path, dpi=dpi)  # no bbox_inches="tight": it would crop the figure images
    plt.close(fig)
    print("wrote", path)
    return path


def plot(results, decomp, args):
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    layers = np.arange(1, args.depth + 1)
    styles = {"plain": dict(color="tab:red"), "batchnorm": dict(color="tab:blue")}
    ax = axes[0, 0]
    for name, r in results.items():
        ax.semilogy(layers, r["grad_init"], "o-", label=f"{name}, at init", **styles[name])
        ax.semilogy(layers, r["grad_trained"], "x--", label=f"{name}, after training", **styles[name])
    ax.set_xlabel("hidden layer (1 = nearest the input)")
    ax.set_ylabel("||dL/dW||")
    ax.set_title(f"weight-gradient norm per layer (scale {args.weight_scale:g})")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    dashes = {"weights only": ":", "sigmoid' = 1/4": "--", "real sigmoid'(z)": "-"}
    for (scale, d), color in zip(decomp.items(), ("tab:red", "tab:green")):
        for name, norms in d.items():
            ax.semilogy(layers, norms / norms[-1], dashes[name], color=color, label=f"scale {scale:g}: {name}")
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("||dL/dz_l|| / ||dL/dz_last||")
    ax.set_title("plain net at init: the 1/4 bound vs saturation\n(dotted -> dashed: the 1/4 bound; "
                 "dashed -> solid: saturation)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[0, 2]
    for name, r in results.items():
        ax.semilogy(r["losses"], label=f"{name} (test acc {100 * r['acc']:.1f}%)", **styles[name])
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    ax.set_title("training")
    ax.legend()
    ax = axes[1, 0]
    for name, r in results.items():
        ax.plot(layers, 100 * r["saturated"], "o-", label=name, **styles[name])
    ax.set_xlabel("hidden layer")
    ax.set_ylabel("% units with sigmoid'(z) < 0.01")
    ax.set_title("saturated pre-activations at init")
    ax.legend()
    for ax, layer in zip(axes[1, 1:], (1, args.depth)):
        for name, r in results.items():
            z = r["pre"][layer - 1].ravel()
            ax.hist(np.clip(z, -15, 15), bins=80, range=(-15, 15), alpha=0.55, density=True,
                    label=name, **styles[name])
        ax.axvspan(-15, -4.6, color="grey", alpha=0.15)
        ax.axvspan(4.6, 15, color="grey", alpha=0.15, label="saturated (|z| > 4.6)")
        ax.set_title(f"pre-activations z, layer {layer} (at init)")
        ax.set_xlabel("z (input of the sigmoid)")
        ax.set_ylabel("density")
        ax.legend(fontsize=8)
    fig.suptitle(f"{args.depth}-layer sigmoid MLP on digits, weights N(0, {args.weight_scale:g}^2/fan_in): "
                 "with and without BatchNorm1d")
    fig.tight_layout()
    return save_figure(fig, args.out, "bn_vanishing_gradients.png")


def main(argv=None):
    args = parse_args(argv)
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
          f"vs {100 * bn['saturated'].mean():.0f}% (mean over layers); test accuracy after {args.steps} steps "
          f"{100 * plain['acc']:.1f}% vs {100 * bn['acc']:.1f}%.")
    flows = {name: layer_output_grads(build(args.depth, args.width, use_bn, args.weight_scale, args.seed),
                                      x_tr[probe_idx], y_tr[probe_idx])
             for name, use_bn in (("plain", False), ("batchnorm", True))}
    drawings = {}
    if args.draw:
        try:
            drawings = draw_gradient_flow(flows, args.out, args.depth)
        except ImportError as e:  # the graphviz package is an optional extra
            print(f"note: no gradient-flow drawings: {e}")
    (p0, *_, p1), (b0, *_, b1) = flows["plain"]["norms"], flows["batchnorm"]["norms"]
    flow_plain, flow_bn = p0 / p1, b0 / b1
    print(f"finding: gradient flow at init (the drawings' colours): ||dL/dh|| at layer 1's output is {flow_plain:.1e} x "
          f"layer {args.depth}'s without BatchNorm ({p0:.1e} vs {p1:.1e}), {flow_bn:.2f} x with it ({b0:.1e} vs {b1:.1e}).")
    decomp, shares = {}, {}
    for scale in sorted({args.weight_scale, 0.58}):
        d = decompose(args.depth, args.width, scale, args.seed, x_tr[probe_idx], y_tr[probe_idx])
        decomp[scale] = d
        # first-layer / last-layer ratios; the log-gaps between the three curves split the total
        r = {k: v[0] / v[-1] for k, v in d.items()}
        bound = r["sigmoid' = 1/4"] / r["weights only"]
        sat = r["real sigmoid'(z)"] / r["sigmoid' = 1/4"]
        shares[scale] = dict(weights=r["weights only"], bound=bound, saturation=sat, total=r["real sigmoid'(z)"])
        print(f"finding: scale {scale:g}: ||dL/dz|| first/last layer {shares[scale]['total']:.1e}"
              f" = weights {r['weights only']:.1e} x the 1/4 bound {bound:.1e} x saturation {sat:.1e}")
    path = plot(results, decomp, args)
    return dict(ratio_plain=ratio_plain, ratio_bn=ratio_bn, acc_plain=plain["acc"], acc_bn=bn["acc"],
                saturated_plain=float(plain["saturated"].mean()), saturated_bn=float(bn["saturated"].mean()),
                decomposition=shares, flow_ratio_plain=flow_plain, flow_ratio_bn=flow_bn, figure=path,
                drawings=drawings)


if __name__ == "__main__":
    main()
