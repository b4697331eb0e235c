"""Study: universal approximation, and what depth buys over width.

    python examples/universal_approximation.py       # figure in runs/studies/universal_approximation/

Part 1 (width): one hidden layer, f(x) = sum_i a_i tanh(w_i x + b_i) + c, fitted to sin(2 pi x) on
[-1, 1] (two full periods: four monotone pieces). The universal approximation theorem says enough
hidden units approximate any continuous function on a closed interval; here the fit is trained
(Adam, full batch) with 1, 2, 3, 4 and 8 tanh units, so one sees how many it takes in practice.
Four units are enough for a close fit; Adam approaches it slowly because the loss valley is narrow
(a second-order optimiser gets further: PyTorch's L-BFGS reached MSE ~2e-5, max error ~0.02 with
4 units when this study was written).

Part 2 (depth vs width): the sawtooth with 2^k linear pieces on [0, 1], the tent map
t(x) = 2x for x < 1/2, 2 - 2x otherwise, composed k times (Telgarsky, 2016). ReLU networks are
piecewise linear, and the number of pieces tells width and depth apart:
- a one-hidden-layer ReLU net with W units has at most W + 1 pieces, so it needs W >= 2^k - 1;
- composing layers multiplies pieces: t(x) = 2 relu(x) - 4 relu(x - 1/2) is 2 ReLUs, so k hidden
  layers of 2 units compute the sawtooth exactly (the construction below sets those weights).
The study builds that deep net, counts the linear pieces of every net (changes of the ReLU on/off
pattern along a fine grid), and trains shallow nets of growing width and a deep narrow net from
random initialisation, to show the other side: the deep solution exists but gradient descent from
a random start rarely finds it.
"""
import numpy as np

import minigrad
import nn
from common import parse, pyplot, save_figure, study_parser


def parse_args(argv=None):
    p = study_parser(__doc__, "universal_approximation")
    p.add_argument("--tanh-widths", default="1,2,3,4,8")
    p.add_argument("--sin-steps", type=int, default=6000)
    p.add_argument("--restarts", type=int, default=2, help="random initialisations per fit; best kept")
    p.add_argument("--teeth", type=int, default=3, help="k: the sawtooth has 2^k linear pieces")
    p.add_argument("--relu-widths", default="4,8,16,64", help="one-hidden-layer ReLU nets to train")
    p.add_argument("--deep-width", type=int, default=4, help="width of the trained deep net (k layers)")
    p.add_argument("--saw-steps", type=int, default=5000)
    p.add_argument("--points", type=int, default=257)
    p.add_argument("--seed", type=int, default=0)
    return parse(p, argv, quick=dict(tanh_widths="1,4", sin_steps=30, restarts=1, relu_widths="4", saw_steps=30))


def mlp(depth, width, act, in_features=1):
    layers, fan_in = [], in_features
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), act()]
        fan_in = width
    return nn.Sequential(*layers, nn.Linear(fan_in, 1))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def fit(model, x, y, steps, lr):
    """Full-batch Adam on the mean squared error with a cosine schedule; returns the final MSE."""
    opt = nn.optim.Adam(model.parameters(), lr=lr)
    sched = nn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    xt, yt = minigrad.tensor(x), minigrad.tensor(y)
    for _ in range(steps):
        loss = ((model(xt) - yt) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return mse(model, x, y)


@minigrad.no_grad()
def predict(model, x):
    return model(minigrad.tensor(x)).numpy()


def mse(model, x, y):
    return float(((predict(model, x) - y) ** 2).mean())


def best_of(make, x, y, steps, lr, restarts, seed):
    """Train ``restarts`` fresh models, keep the one with the lowest error."""
    best = None
    for r in range(restarts):
        minigrad.manual_seed(seed + r)
        model = make()
        err = fit(model, x, y, steps, lr)
        if best is None or err < best[1]:
            best = (model, err)
    return best


@minigrad.no_grad()
def linear_pieces(model, x):
    """Number of linear pieces of a ReLU net on the sorted grid ``x``: 1 + the number of grid steps
    where the on/off pattern of the hidden units changes (read at the interval midpoints, so that
    a kink that falls exactly on a grid point is not counted twice)."""
    x = (x[1:] + x[:-1]) / 2
    patterns = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: patterns.append(out.numpy() > 0))
             for m in model if isinstance(m, nn.ReLU)]
    model(minigrad.tensor(x))
    for h in hooks:
        h.remove()
    pattern = np.concatenate(patterns, axis=1)
    return 1 + int(np.any(pattern[1:] != pattern[:-1], axis=1).sum())


def sawtooth(x, k):
    for _ in range(k):
        x = np.where(x < 0.5, 2 * x, 2 - 2 * x)
    return x


def deep_sawtooth_net(k):
    """k hidden layers of 2 ReLUs that compute the k-fold tent map exactly.

    Layer 1 gives (relu(x), relu(x - 1/2)); each later layer reads t = 2 h1 - 4 h2 (the tent of the
    previous value) and outputs (relu(t), relu(t - 1/2)); the output layer is 2 h1 - 4 h2.
    """
    model = mlp(k, 2, nn.ReLU)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    with minigrad.no_grad():
        for i, lin in enumerate(linears[:-1]):
            w = np.array([[1.0], [1.0]]) if i == 0 else np.array([[2.0, -4.0], [2.0, -4.0]])
            lin.weight.data[...] = w
            lin.bias.data[...] = np.array([0.0, -0.5])
        linears[-1].weight.data[...] = np.array([[2.0, -4.0]])
        linears[-1].bias.data[...] = 0.0
    return model


def plot(sin_fits, x_sin, y_sin, saw, x_saw, y_saw, args):
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(13, 10))
    below = dict(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=2)
    ax = axes[0, 0]
    ax.plot(x_sin, y_sin, color="black", lw=4, alpha=0.25, label="target sin(2 pi x)")
    for w, (model, err) in sin_fits.items():
        ax.plot(x_sin, predict(model, x_sin[:, None]), label=f"{w} tanh units (MSE {err:.1e})",
                lw=2.2 if w == 4 else 1.2)
    ax.set_title("one hidden layer of tanh units fitted to sin(2 pi x)")
    ax.set_xlabel("x")
    ax.set_ylabel("f(x)")
    ax.legend(**below)
    ax = axes[0, 1]
    ax.semilogy(list(sin_fits), [e for _, e in sin_fits.values()], "o-")
    ax.set_xticks(list(sin_fits))
    ax.set_xlabel("hidden tanh units")
    ax.set_ylabel("MSE (best of restarts)")
    ax.set_title("width vs error on sin(2 pi x)")
    deep = [r for r in saw if r["name"].startswith("deep")]
    shallow = [r for r in saw if r["name"].startswith("shallow")]
    for ax, rows, title in ((axes[1, 0], deep, "deep ReLU nets: hand-set weights vs trained"),
                            (axes[1, 1], shallow, "one hidden layer of ReLUs, trained")):
        ax.plot(x_saw, y_saw, color="black", lw=5, alpha=0.2, label=f"target: sawtooth, {2 ** args.teeth} pieces")
        for row in rows:
            hand = "hand-set" in row["name"]
            ax.plot(x_saw, predict(row["model"], x_saw[:, None]), lw=1.6, ls="--" if hand else "-",
                    color="tab:red" if hand else None, zorder=3 if hand else 2,
                    label=f"{row['name']}: {row['params']} params, {row['pieces']} pieces, MSE {row['mse']:.1e}")
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.set_ylim(-0.15, 1.3)
        ax.legend(**dict(below, ncol=1))
    fig.suptitle("universal approximation: width fits a smooth function; depth builds many linear pieces cheaply")
    fig.tight_layout()
    return save_figure(fig, args.out, "universal_approximation.png")


def main(argv=None):
    args = parse_args(argv)
    # part 1: sin(2 pi x) with few tanh units
    x_sin = np.linspace(-1, 1, args.points, dtype=np.float32)
    y_sin = np.sin(2 * np.pi * x_sin).astype(np.float32)
    sin_fits = {}
    for w in [int(v) for v in args.tanh_widths.split(",")]:
        sin_fits[w] = best_of(lambda w=w: mlp(1, w, nn.Tanh), x_sin[:, None], y_sin[:, None],
                              args.sin_steps, 0.05, args.restarts, args.seed)
        model, err = sin_fits[w]
        max_err = float(np.abs(predict(model, x_sin[:, None])[:, 0] - y_sin).max())
        print(f"sin(2 pi x), {w} tanh units ({n_params(model)} params): MSE {err:.2e}, max |error| {max_err:.3f}")

    # part 2: the sawtooth, deep vs wide
    k = args.teeth
    x_saw = np.linspace(0, 1, 4 * 2 ** k * 16 + 1, dtype=np.float32)
    y_saw = sawtooth(x_saw, k).astype(np.float32)
    xs, ys = x_saw[:, None], y_saw[:, None]
    saw = []
    exact = deep_sawtooth_net(k)
    saw.append(dict(name=f"deep {k}x2, hand-set", model=exact))
    for w in [int(v) for v in args.relu_widths.split(",")]:
        model, _ = best_of(lambda w=w: mlp(1, w, nn.ReLU), xs, ys, args.saw_steps, 0.01, args.restarts, args.seed)
        saw.append(dict(name=f"shallow 1x{w}, trained", model=model))
    model, _ = best_of(lambda: mlp(k, args.deep_width, nn.ReLU), xs, ys, args.saw_steps, 0.01,
                       args.restarts, args.seed)
    saw.append(dict(name=f"deep {k}x{args.deep_width}, trained", model=model))
    for row in saw:
        row.update(params=n_params(row["model"]), pieces=linear_pieces(row["model"], xs),
                   mse=mse(row["model"], xs, ys))
        print(f"sawtooth (2^{k} = {2 ** k} pieces), {row['name']:22s}: {row['params']:4d} params, "
              f"{row['pieces']:3d} linear pieces, MSE {row['mse']:.2e}")
    fits = [r for r in saw if r["name"].startswith("shallow") and r["mse"] < 1e-3]
    widths = sorted(sin_fits)
    print(f"finding: one hidden layer of tanh units fits sin(2 pi x) better with every unit (MSE "
          + ", ".join(f"{sin_fits[w][1]:.1e} with {w}" for w in widths) + "). "
          f"The {2 ** k}-piece sawtooth is exact with {k} hidden layers of 2 ReLUs ({saw[0]['params']} params); "
          f"one hidden layer needs >= {2 ** k - 1} ReLUs for that many pieces, and by training "
          + (f"the narrowest shallow net that fits it (MSE < 1e-3) has {fits[0]['params']} params"
             if fits else "none of the shallow nets tried fits it (MSE < 1e-3)")
          + f"; a deep {k}x{args.deep_width} net trained from random weights ends at MSE {saw[-1]['mse']:.1e} "
          f"with {saw[-1]['pieces']} pieces: depth can represent the sawtooth cheaply, gradient descent "
          "from a random start does not find that solution.")
    path = plot(sin_fits, x_sin, y_sin, saw, x_saw, y_saw, args)
    return dict(sin_mse={w: e for w, (_, e) in sin_fits.items()},
                sawtooth=[{k2: v for k2, v in r.items() if k2 != "model"} for r in saw], figure=path)


if __name__ == "__main__":
    main()
