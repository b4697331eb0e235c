"""Study: BatchNorm, LayerNorm, InstanceNorm and GroupNorm side by side.

    python examples/normalization_study.py            # ~2 minutes on 2 cores; figures in runs/studies/normalization_study/

All four compute y = gamma * (x - mean) / sqrt(var + eps) + beta with the biased variance; they differ
only in WHICH values share one mean and variance. For an (N, C, H, W) batch:

    BatchNorm2d      over (N, H, W), one mean per channel    -> depends on the other samples
    LayerNorm        over (C, H, W), one mean per sample
    InstanceNorm2d   over (H, W),    one mean per sample and channel
    GroupNorm(G)     over (C/G, H, W), one mean per sample and group of C/G channels
                     (G = 1 is LayerNorm over (C, H, W), G = C is InstanceNorm)

Parts:
1. the four on one random (4, 6, 3, 3) batch: the normalised axes drawn as cubes, and the output
   checked to have mean 0, variance 1 over exactly those axes;
2. the seed notes' worked example (one feature, a batch of 4) with the right numbers;
3. running statistics: PyTorch's ``momentum=0.1`` on the new batch and the notes' "0.9 on the old
   value" are the same update; putting 0.9 into PyTorch's ``momentum`` is not;
4. gamma and beta learning to undo the normalisation (BatchNorm can represent the identity);
5. BatchNorm vs GroupNorm in a small CNN on digits at batch sizes 32, 8, 2, 1: BatchNorm's
   batch statistics get noisy as the batch shrinks and its running statistics stop matching what
   training saw; GroupNorm's statistics come from one sample and do not care;
6. (N, C) inputs (after a Linear layer): InstanceNorm and GroupNorm have nothing to average over.
"""
import numpy as np

import minigrad
import minigrad.functional as F
import nn
from common import accuracy, fit, load_digits, parse, pyplot, save_figure, study_parser

WORKED = [1.2, 0.8, -1.0, 0.5]  # the seed notes' batch of one feature
SEED_VAR, SEED_XHAT = 0.747, 0.954  # what the notes print for it


def parse_args(argv=None):
    p = study_parser(__doc__, "normalization_study")
    p.add_argument("--batch-sizes", default="32,8,2,1")
    p.add_argument("--epochs", type=int, default=3, help="epochs per batch size (same images seen for each)")
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N training images (0: all)")
    p.add_argument("--width", type=int, default=16, help="channels of the first conv (the second has 2x)")
    p.add_argument("--groups", type=int, default=4, help="GroupNorm groups")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    return parse(p, argv, quick=dict(batch_sizes="16,2", epochs=1, train_limit=400, width=8))


# ---------------------------------------------------------------- part 1: which axes

AXES = {  # name -> (axes of one statistic in (N, C, H, W), the group drawn: (samples, channels))
    "BatchNorm2d": ((0, 2, 3), (slice(None), slice(1, 2))),
    "LayerNorm": ((1, 2, 3), (slice(0, 1), slice(None))),
    "InstanceNorm2d": ((2, 3), (slice(0, 1), slice(1, 2))),
    "GroupNorm (G=3)": ((2, 3), (slice(0, 1), slice(2, 4))),  # + channel groups, see stats()
}


def normalise_all(x):
    """The four ops (no affine) on one batch, through minigrad."""
    t = minigrad.tensor(x)
    c = x.shape[1]
    with minigrad.no_grad():
        return {
            "BatchNorm2d": F.batch_norm(t, None, None, training=True).numpy(),
            "LayerNorm": F.layer_norm(t, x.shape[1:]).numpy(),
            "InstanceNorm2d": F.instance_norm(t).numpy(),
            "GroupNorm (G=3)": F.group_norm(t, 3).numpy(),
        }, c


def group_stats(name, y):
    """Mean and variance of the output over each of the op's groups: (max |mean|, min var, max var)."""
    n, c, h, w = y.shape
    if name.startswith("GroupNorm"):
        g = y.reshape(n, 3, c // 3 * h * w)
    elif name == "BatchNorm2d":
        g = y.transpose(1, 0, 2, 3).reshape(c, -1)
    elif name == "LayerNorm":
        g = y.reshape(n, -1)
    else:
        g = y.reshape(n, c, -1)
    return float(np.abs(g.mean(-1)).max()), float(g.var(-1).min()), float(g.var(-1).max())


def draw_axes(stats, out):
    plt = pyplot()
    n, c, hw = 4, 6, 5
    fig = plt.figure(figsize=(16, 5))
    for k, (name, (axes, (ns, cs))) in enumerate(AXES.items()):
        ax = fig.add_subplot(1, 4, k + 1, projection="3d")
        filled = np.ones((c, n, hw), bool)  # voxel axes: x = C, y = N, z = H*W
        colors = np.empty(filled.shape, object)
        colors[...] = "#d9d9d960"
        sel = np.zeros((n, c), bool)
        sel[ns, cs] = True
        colors[sel.T] = "#1f77b4dd"
        ax.voxels(filled, facecolors=colors, edgecolor="#555555", linewidth=0.3)
        ax.set_xlabel("C (channel)", labelpad=-6)
        ax.set_ylabel("N (sample)", labelpad=-6)
        ax.set_zlabel("H, W (space)", labelpad=-8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.view_init(elev=22, azim=-58)
        over = {"BatchNorm2d": "(N, H, W)", "LayerNorm": "(C, H, W)", "InstanceNorm2d": "(H, W)",
                "GroupNorm (G=3)": "(C/G, H, W)"}[name]
        m, vlo, vhi = stats[name]
        ax.set_title(f"{name}\none mean and variance over {over}\noutput per group: |mean| <= {m:.0e}, "
                     f"var {vhi:.3f}", fontsize=9)
    fig.suptitle("Which values share one mean and variance (blue: one group) in an (N, C, H, W) batch "
                 "of 4 x 6 x 3 x 3 (checked on minigrad's output)", fontsize=11)
    return save_figure(fig, out, "norm_axes.png")


# ---------------------------------------------------------------- part 2: the worked example


def worked_example():
    x = np.array(WORKED)
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    unbiased = ((x - mean) ** 2).sum() / (len(x) - 1)
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    bn = nn.BatchNorm1d(1)
    out = bn(minigrad.tensor(np.array(WORKED, np.float32)[:, None])).detach().numpy()[:, 0]
    print(f"worked example, one feature over a batch of 4: x = {WORKED}")
    print(f"  mean = {mean:.4f}; deviations {np.round(x - mean, 4).tolist()}; squares "
          f"{np.round((x - mean) ** 2, 6).tolist()}")
    print(f"  biased variance (used to normalise) = {((x - mean) ** 2).sum():.4f} / 4 = {var:.4f}  "
          f"(the notes say {SEED_VAR}: wrong)")
    print(f"  x_hat = (x - mean) / sqrt(var + 1e-5) = {np.round(xhat, 4).tolist()}  (the notes give "
          f"{SEED_XHAT} for the first)")
    print(f"  minigrad's BatchNorm1d(1) in train mode gives {np.round(out, 4).tolist()}")
    print(f"  unbiased variance {unbiased:.4f} is what goes into running_var: "
          f"0.9 * 1 + 0.1 * {unbiased:.4f} = {bn.running_var.numpy()[0]:.4f}")
    return dict(var=float(var), xhat0=float(xhat[0]), minigrad=out, unbiased=float(unbiased))


# ---------------------------------------------------------------- part 3: running statistics


def running_stats(steps, rng):
    """Batches of 16 from N(3, 2^2): the running mean under three updates."""
    torch_01 = nn.BatchNorm1d(1, momentum=0.1)
    misread = nn.BatchNorm1d(1, momentum=0.9)  # 0.9 written into PyTorch's momentum
    seed = 0.0  # the notes' form: running = 0.9 * running + (1 - 0.9) * batch
    rows = []
    for _ in range(steps):
        xb = rng.normal(3.0, 2.0, size=(16, 1)).astype(np.float32)
        torch_01(minigrad.tensor(xb))
        misread(minigrad.tensor(xb))
        seed = 0.9 * seed + (1 - 0.9) * float(xb.mean())
        rows.append((float(torch_01.running_mean.numpy()[0]), seed, float(misread.running_mean.numpy()[0]),
                     float(xb.mean())))
    return np.array(rows)


def draw_running(rows, out):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    s = np.arange(1, len(rows) + 1)
    ax.plot(s, rows[:, 3], ".", color="0.6", label="batch mean (batches of 16)")
    ax.axhline(3.0, color="k", ls=":", lw=1, label="true mean 3")
    ax.plot(s, rows[:, 0], "-", lw=3, alpha=0.5, color="tab:blue",
            label="PyTorch momentum=0.1: r <- 0.9 r + 0.1 batch")
    ax.plot(s, rows[:, 1], "x", ms=5, color="tab:blue",
            label="notes' convention 0.9: r <- 0.9 r + (1 - 0.9) batch (the same)")
    ax.plot(s, rows[:, 2], "-", lw=1, color="tab:red",
            label="PyTorch momentum=0.9 (misread): r <- 0.1 r + 0.9 batch")
    ax.set_xlabel("training step")
    ax.set_ylabel("running_mean")
    ax.set_title("BatchNorm's running mean: two ways to write the same update")
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, out, "running_stats.png")


# ---------------------------------------------------------------- part 4: gamma and beta


def undo(steps, rng):
    """BatchNorm1d(3) trained to output its own input: gamma -> std, beta -> mean."""
    mu, sd = np.array([5.0, -2.0, 0.5]), np.array([3.0, 0.5, 1.5])
    x = (rng.normal(size=(512, 3)) * sd + mu).astype(np.float32)
    bn = nn.BatchNorm1d(3)
    opt = nn.optim.Adam(bn.parameters(), lr=0.1)
    hist = []
    xt = minigrad.tensor(x)
    for _ in range(steps):
        loss = F.mse_loss(bn(xt), xt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append(np.concatenate([bn.weight.detach().numpy(), bn.bias.detach().numpy(), [loss.item()]]))
    return np.array(hist), x.std(0), x.mean(0)


def draw_undo(hist, std, mean, out):
    plt = pyplot()
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 4))
    s = np.arange(1, len(hist) + 1)
    for j, color in enumerate(("tab:blue", "tab:orange", "tab:green")):
        a0.plot(s, hist[:, j], color=color, label=f"gamma[{j}] (feature std {std[j]:.2f})")
        a0.axhline(std[j], color=color, ls=":", lw=1)
        a1.plot(s, hist[:, 3 + j], color=color, label=f"beta[{j}] (feature mean {mean[j]:.2f})")
        a1.axhline(mean[j], color=color, ls=":", lw=1)
    a0.set_title("gamma learns the feature's std (dotted)")
    a1.set_title("beta learns the feature's mean (dotted)")
    for a in (a0, a1):
        a.set_xlabel("Adam step (loss: mse(BN(x), x))")
        a.legend(fontsize=8, loc="center right")
    a0.set_ylabel("gamma")
    a1.set_ylabel("beta")
    fig.suptitle("BatchNorm1d can undo its own normalisation: y = gamma * x_hat + beta = x "
                 "when gamma = std, beta = mean")
    return save_figure(fig, out, "gamma_beta_undo.png")


# ---------------------------------------------------------------- part 5: batch size


def cnn(norm, width, groups, seed):
    """conv3x3 -> norm -> ReLU stages 8x8 -> 8x8 -> 4x4 -> 2x2, then a 2x2 conv to 1x1 -> norm -> ReLU
    -> Linear (w, 2w, 4w, 8w channels).

    The last norm sees ONE position per channel, like ResNet18's layer4 on 8x8 digits (the demo):
    BatchNorm's statistics there come from the batch alone. With a batch of 2 every feature
    normalises to exactly +-1 (two values, mean between them); with a batch of 1 there is nothing to
    average and BatchNorm refuses to train (PyTorch and minigrad raise). GroupNorm's statistics come
    from the channels of one sample.
    """
    minigrad.manual_seed(seed)

    def make(c):
        return nn.BatchNorm2d(c) if norm == "BatchNorm" else nn.GroupNorm(groups, c)

    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), make(width), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), make(2 * width), nn.ReLU(),
                         nn.Conv2d(2 * width, 4 * width, 3, stride=2, padding=1), make(4 * width), nn.ReLU(),
                         nn.Conv2d(4 * width, 8 * width, 2), make(8 * width), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * width, 10))


def batch_size_sweep(args):
    x_tr, y_tr, x_te, y_te, _ = load_digits(args.seed)
    if args.train_limit:
        x_tr, y_tr = x_tr[:args.train_limit], y_tr[:args.train_limit]
    rows = []
    for bs in [int(b) for b in args.batch_sizes.split(",")]:
        for norm in ("BatchNorm", "GroupNorm"):
            model = cnn(norm, args.width, args.groups, args.seed)
            opt = nn.optim.Adam(model.parameters(), lr=args.lr)
            try:
                hist = fit(model, opt, x_tr, y_tr, batch_size=bs, epochs=args.epochs,
                           rng=np.random.default_rng(args.seed))
            except ValueError as e:  # BatchNorm on 1x1 maps with a batch of 1
                print(f"  batch {bs:3d} {norm:9s}: cannot train: {e}")
                rows.append(dict(norm=norm, batch=bs, train=np.nan, eval=np.nan, test_train_mode=np.nan))
                continue
            row = dict(norm=norm, batch=bs, train=hist["train_acc"], eval=accuracy(model, x_te, y_te),
                       test_train_mode=accuracy(model, x_te, y_te, batch_size=bs, train_mode=True))
            rows.append(row)
            print(f"  batch {bs:3d} {norm:9s}: training batches {100 * row['train']:5.1f}% | test, eval mode "
                  f"{100 * row['eval']:5.1f}% | test in batches of {bs}, train mode {100 * row['test_train_mode']:5.1f}%")
    return rows


def draw_batch_sizes(rows, args, out):
    plt = pyplot()
    sizes = sorted({r["batch"] for r in rows}, reverse=True)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    pos = np.arange(len(sizes))
    styles = {("BatchNorm", "train"): ("tab:red", "o--"), ("BatchNorm", "eval"): ("tab:red", "o-"),
              ("GroupNorm", "train"): ("tab:blue", "s--"), ("GroupNorm", "eval"): ("tab:blue", "s-")}
    for (norm, key), (color, fmt) in styles.items():
        vals = [100 * next(r[key] for r in rows if r["norm"] == norm and r["batch"] == b) for b in sizes]
        what = "training batches (train mode)" if key == "train" else "test set (eval mode)"
        ax.plot(pos, vals, fmt, color=color, label=f"{norm}: {what}")
    if any(np.isnan(r["eval"]) for r in rows):
        ax.text(pos[-1], 50, "BatchNorm cannot\ntrain at batch 1\n(1 value per channel\non the 1x1 map)",
                ha="center", va="center", fontsize=8, color="tab:red")
    ax.set_ylim(0, 102)
    ax.set_xticks(pos, [str(b) for b in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"small CNN on digits, {args.epochs} epochs at every batch size, Adam lr {args.lr:g}\n"
                 f"BatchNorm2d vs GroupNorm({args.groups})")
    ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, out, "bn_vs_gn_batch_size.png")


# ---------------------------------------------------------------- part 6: (N, C) inputs


def flat_inputs():
    """What IN and GN do with (N, C) features."""
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    try:
        F.instance_norm(x)
        in_msg = "ran (unexpected)"
    except ValueError as e:
        in_msg = f"ValueError: {e}"
    with minigrad.no_grad():
        gn_c = F.group_norm(x, 6).numpy()
        gn_1 = F.group_norm(x, 1).numpy()
        ln = F.layer_norm(x, (6,)).numpy()
    print("(N, C) = (4, 6) features (the output of a Linear layer), one value per channel:")
    print(f"  instance_norm: {in_msg}")
    print(f"  group_norm with G = C = 6 (one value per group): every output is {np.abs(gn_c).max():.1f} "
          "(x - mean = 0): the features are erased")
    print(f"  group_norm with G = 1 equals layer_norm (max difference {np.abs(gn_1 - ln).max():.1e})")
    return float(np.abs(gn_c).max())


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)

    x = rng.normal(2.0, 3.0, size=(4, 6, 3, 3)).astype(np.float32)
    outs, _ = normalise_all(x)
    stats = {name: group_stats(name, y) for name, y in outs.items()}
    for name, (m, vlo, vhi) in stats.items():
        print(f"{name:15s}: output mean over its axes <= {m:.1e}, variance {vlo:.4f}..{vhi:.4f}")
    figures = [draw_axes(stats, args.out)]
    print("finding: BN, LN, IN and GN are the same formula over different axes; each output has mean 0 and "
          f"variance ~1 over exactly its own axes (largest |mean| {max(s[0] for s in stats.values()):.0e}).")

    w = worked_example()
    print(f"finding: in the notes' worked example the biased variance of {WORKED} is {w['var']:.3f}, not "
          f"{SEED_VAR}, so x_hat[0] = {w['xhat0']:.3f}, not {SEED_XHAT} (minigrad: {w['minigrad'][0]:.3f}).")

    rows = running_stats(40 if args.quick else 100, rng)
    same = float(np.abs(rows[:, 0] - rows[:, 1]).max())
    late = slice(len(rows) // 2, None)
    jitter = (float(rows[late, 0].std()), float(rows[late, 2].std()))
    figures.append(draw_running(rows, args.out))
    print(f"finding: PyTorch's momentum=0.1 and the notes' 'momentum 0.9' give the same running mean (max "
          f"difference {same:.1e}); momentum=0.9 in PyTorch's formula follows the last batch (std over the "
          f"second half {jitter[1]:.2f} vs {jitter[0]:.2f}).")

    hist, std, mean = undo(300, rng)
    g_err = float(np.abs(hist[-1, :3] - std).max())
    b_err = float(np.abs(hist[-1, 3:6] - mean).max())
    figures.append(draw_undo(hist, std, mean, args.out))
    print(f"finding: trained to output its input, BatchNorm1d's gamma reaches the features' std and beta their "
          f"mean (largest errors {g_err:.3f} and {b_err:.3f}; loss {hist[0, 6]:.2f} -> {hist[-1, 6]:.4f}): "
          "normalisation costs no expressiveness.")

    gn_erased = flat_inputs()
    print(f"finding: on (N, C) inputs instance_norm refuses and group_norm with one channel per group erases "
          f"the features (max |output| {gn_erased:.1f}): IN and GN need spatial positions to average over.")

    print("BatchNorm vs GroupNorm at several batch sizes (small CNN on digits):")
    sweep = batch_size_sweep(args)
    figures.append(draw_batch_sizes(sweep, args, args.out))
    for bs in sorted({r["batch"] for r in sweep}, reverse=True):
        bn = next(r for r in sweep if r["norm"] == "BatchNorm" and r["batch"] == bs)
        gn = next(r for r in sweep if r["norm"] == "GroupNorm" and r["batch"] == bs)
        if np.isnan(bn["eval"]):
            print(f"finding: batch {bs}: BatchNorm cannot train (one value per channel on the 1x1 map); GroupNorm "
                  f"reaches {100 * gn['eval']:.1f}% test accuracy.")
            continue
        print(f"finding: batch {bs}: test accuracy in eval mode BatchNorm {100 * bn['eval']:.1f}% vs GroupNorm "
              f"{100 * gn['eval']:.1f}% (training batches {100 * bn['train']:.1f}% vs {100 * gn['train']:.1f}%)"
              + ("; with 2 samples BatchNorm's 1x1 features are all +-1 in training, and eval mode's running "
                 "statistics give values it never saw" if bs == 2 else ""))
    return dict(stats=stats, worked=w, momentum_same=same, jitter=jitter, gamma_err=g_err, beta_err=b_err,
                gn_erased=gn_erased, sweep=sweep, figures=figures)


if __name__ == "__main__":
    main()
