"""Study: L1 vs L2 - as normalisations (unit balls) and as weight penalties (sparsity vs shrinkage).

    python examples/norms_and_regularization.py       # ~20 s; figures in runs/studies/norms_and_regularization/

The p-norm ||x||_p = (sum_i |x_i|^p)^(1/p) measures size; its unit ball {x : ||x||_p <= 1} is a
diamond for p = 1, a circle for p = 2 and a square for p = inf.

Part 1 (normalisation): ``F.normalize(x, p, dim)`` divides by the p-norm (PyTorch's semantics,
x / max(||x||_p, eps)), putting every vector on the unit sphere of that norm. L2 keeps the direction
and fixes the length (cosine similarity is the dot product of L2-normalised vectors); L1 makes the
absolute values sum to 1 (for non-negative vectors: a probability distribution).

Part 2 (regularisation): the same softmax classifier (Linear 64 -> 10) on digits with
loss = cross_entropy + lambda * penalty(W):

    L2: lambda * sum w^2,  gradient 2 lambda w:     the pull fades near 0 -> all weights shrink, none is 0
    L1: lambda * sum |w|,  gradient lambda sign(w): a constant pull       -> weights reach 0 (sparsity)

With plain (sub)gradient steps an L1 weight does not stop AT zero: it overshoots and hovers within
lr * lambda of it. The proximal step (soft-thresholding, the ISTA update) applies the L1 pull in
closed form after each gradient step of the data loss, w <- sign(w) max(|w| - lr lambda, 0), and
leaves exact zeros. The study trains: no penalty, L2, L1 by subgradient, L1 by the proximal step.
"""
import numpy as np

import minigrad
import minigrad.functional as F
import nn
from common import accuracy, fit, load_digits_flat, parse, pyplot, save_figure, study_parser

NEAR_ZERO = 1e-3


def parse_args(argv=None):
    p = study_parser(__doc__, "norms_and_regularization")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.1, help="plain SGD (the proximal step uses lr * lambda)")
    p.add_argument("--l1", type=float, default=0.01, help="lambda of the L1 penalty")
    p.add_argument("--l2", type=float, default=0.03, help="lambda of the L2 penalty")
    p.add_argument("--seed", type=int, default=0)
    return parse(p, argv, quick=dict(epochs=8))


# ---------------------------------------------------------------- part 1: unit balls


def normalise_points(rng, n=60):
    x = minigrad.tensor(rng.normal(size=(n, 2)).astype(np.float32) * rng.uniform(0.3, 2.5, size=(n, 1)))
    with minigrad.no_grad():
        return x.numpy(), F.normalize(x, p=1, dim=1).numpy(), F.normalize(x, p=2, dim=1).numpy()


def draw_balls(x, l1, l2, out):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    t = np.linspace(0, 2 * np.pi, 400)
    for ax, pts, title in ((axes[0], l1, "F.normalize(x, p=1): |x1| + |x2| = 1"),
                           (axes[1], l2, "F.normalize(x, p=2): x1^2 + x2^2 = 1")):
        ax.plot([1, 0, -1, 0, 1], [0, 1, 0, -1, 0], color="tab:red", lw=1.5, label="L1 unit ball (diamond)")
        ax.plot(np.cos(t), np.sin(t), color="tab:blue", lw=1.5, label="L2 unit ball (circle)")
        ax.plot([1, -1, -1, 1, 1], [1, 1, -1, -1, 1], color="0.5", lw=1, ls="--", label="L-inf unit ball (square)")
        ax.scatter(x[:, 0], x[:, 1], s=10, color="0.65", label="random vectors x")
        for a, b in zip(x[:12], pts[:12]):
            ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="->", color="0.5", lw=0.6))
        ax.scatter(pts[:, 0], pts[:, 1], s=14, color="k", zorder=3, label="normalised x")
        ax.set_aspect("equal")
        ax.set_xlim(-3.2, 3.2)
        ax.set_ylim(-3.2, 3.2)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle("normalising divides by the norm: every vector lands on that norm's unit sphere "
                 "(arrows: 12 of them)")
    return save_figure(fig, out, "unit_balls.png")


# ---------------------------------------------------------------- part 2: penalties


def soft_threshold_(weight, t):
    """The proximal step of t * ||w||_1: w <- sign(w) max(|w| - t, 0), in place on the parameter."""
    with minigrad.no_grad():
        w = weight.data
        w[...] = np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


class ProximalSGD(nn.optim.SGD):
    """SGD on the data loss, then the L1 proximal step on ``weight``: the ISTA update."""

    def __init__(self, params, weight, lr, l1):
        super().__init__(params, lr=lr)
        self.weight, self.threshold = weight, lr * l1

    def step(self):
        super().step()
        soft_threshold_(self.weight, self.threshold)


def train_penalised(kind, args, data):
    x_tr, y_tr, x_te, y_te = data
    minigrad.manual_seed(args.seed)
    model = nn.Linear(64, 10)
    penalty = None
    opt = nn.optim.SGD(model.parameters(), lr=args.lr)
    if kind == "L2":
        def penalty(m):
            return args.l2 * (m.weight ** 2).sum()
    elif kind == "L1 (subgradient)":
        def penalty(m):
            return args.l1 * m.weight.abs().sum()
    elif kind == "L1 (proximal)":
        opt = ProximalSGD(model.parameters(), model.weight, args.lr, args.l1)
    fit(model, opt, x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs, penalty=penalty,
        rng=np.random.default_rng(args.seed))
    w = model.weight.detach().numpy().copy()
    return dict(kind=kind, w=w, acc=accuracy(model, x_te, y_te), zeros=float(np.mean(w == 0)),
                near=float(np.mean(np.abs(w) < NEAR_ZERO)), l1=float(np.abs(w).sum()),
                l2=float(np.sqrt((w ** 2).sum())))


def draw_penalties(rows, args, out):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw=dict(width_ratios=[1, 1, 1.4]))
    w = np.linspace(-1, 1, 401)
    ax = axes[0]
    ax.plot(w, np.abs(w), color="tab:red", label="L1: |w|")
    ax.plot(w, w ** 2, color="tab:blue", label="L2: w^2")
    ax.set_title("penalty of one weight")
    ax.set_xlabel("w")
    ax.set_ylabel("penalty")
    ax.legend(fontsize=8, loc="upper center")
    ax = axes[1]
    ax.plot(w, np.sign(w), color="tab:red", label="L1: sign(w), constant")
    ax.plot(w, 2 * w, color="tab:blue", label="L2: 2w, fades near 0")
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_title("its gradient: the pull towards 0")
    ax.set_xlabel("w")
    ax.set_ylabel("d penalty / dw")
    ax.legend(fontsize=8, loc="upper left")
    ax = axes[2]
    bins = np.linspace(-0.6, 0.6, 61)
    for r, color in zip(rows, ("0.4", "tab:blue", "tab:orange", "tab:red")):
        ax.hist(np.clip(r["w"].ravel(), -0.6, 0.6), bins=bins, histtype="step", lw=1.6, color=color,
                label=f"{r['kind']}: {100 * r['zeros']:.0f}% exactly 0, {100 * r['acc']:.1f}% test")
    ax.set_yscale("log")
    ax.set_xlabel("weight value (clipped to +-0.6)")
    ax.set_ylabel("number of weights (log)")
    ax.set_title("the 640 weights of Linear(64, 10) after training")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"softmax regression on digits, SGD lr {args.lr:g}, {args.epochs} epochs, "
                 f"lambda_L1 = {args.l1:g}, lambda_L2 = {args.l2:g}")
    fig.tight_layout()
    paths = [save_figure(fig, out, "weight_penalties.png")]

    vmax = max(np.abs(r["w"]).max() for r in rows)
    fig, axes = plt.subplots(len(rows), 10, figsize=(13, 1.5 * len(rows) + 1), squeeze=False)
    for i, r in enumerate(rows):
        for d in range(10):
            ax = axes[i, d]
            im = ax.imshow(r["w"][d].reshape(8, 8), cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"digit {d}", fontsize=9)
            if d == 0:
                ax.set_ylabel(f"{r['kind']}\n{100 * r['zeros']:.0f}% zeros", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label="weight (white = 0)")
    fig.suptitle("each class's 64 input weights as an 8x8 image: L1 keeps a few pixels, L2 dims them all")
    paths.append(save_figure(fig, out, "weight_maps.png"))
    return paths


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x, l1, l2 = normalise_points(rng)
    n1, n2 = np.abs(l1).sum(1), np.sqrt((l2 ** 2).sum(1))
    cos_before = x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1])
    print(f"F.normalize p=1: ||.||_1 in [{n1.min():.6f}, {n1.max():.6f}]; p=2: ||.||_2 in "
          f"[{n2.min():.6f}, {n2.max():.6f}]; cosine(x0, x1) {cos_before:.4f} = dot of the L2-normalised "
          f"{l2[0] @ l2[1]:.4f}")
    figures = [draw_balls(x, l1, l2, args.out)]
    print(f"finding: F.normalize puts vectors on the unit sphere of its norm (L1 sums to 1 within "
          f"{np.abs(n1 - 1).max():.0e}, L2 length 1 within {np.abs(n2 - 1).max():.0e}); both keep the "
          "direction, only the length differs.")

    data = load_digits_flat(args.seed)
    rows = [train_penalised(kind, args, data) for kind in ("none", "L2", "L1 (subgradient)", "L1 (proximal)")]
    for r in rows:
        print(f"{r['kind']:17s}: test {100 * r['acc']:5.1f}% | exactly 0: {100 * r['zeros']:5.1f}% | "
              f"|w| < {NEAR_ZERO:g}: {100 * r['near']:5.1f}% | ||W||_1 {r['l1']:7.2f} | ||W||_2 {r['l2']:5.2f}")
    figures += draw_penalties(rows, args, args.out)
    by = {r["kind"]: r for r in rows}
    none, l2r, sub, prox = by["none"], by["L2"], by["L1 (subgradient)"], by["L1 (proximal)"]
    print(f"finding: L2 shrinks every weight (||W||_2 {none['l2']:.2f} -> {l2r['l2']:.2f}) but leaves "
          f"{100 * l2r['zeros']:.0f}% exactly zero; L1 with the proximal step zeroes {100 * prox['zeros']:.0f}% of "
          f"the weights (test accuracy {100 * prox['acc']:.1f}% vs {100 * none['acc']:.1f}% without a penalty).")
    print(f"finding: L1 by plain subgradient steps leaves {100 * sub['zeros']:.0f}% exactly zero but "
          f"{100 * sub['near']:.0f}% below {NEAR_ZERO:g} (vs {100 * l2r['near']:.0f}% with L2): the weights "
          "hover around 0; the proximal step is what makes them exactly 0.")
    return dict(rows=[{k: v for k, v in r.items() if k != "w"} for r in rows], figures=figures)


if __name__ == "__main__":
    main()
