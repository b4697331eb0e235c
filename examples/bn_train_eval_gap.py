"""Study: BatchNorm's train/eval gap, and why LayerNorm/GroupNorm have none.

    python examples/bn_train_eval_gap.py             # figure in runs/studies/bn_train_eval_gap/

In training, BatchNorm normalises with the statistics of the current batch (mu_B, sigma_B); in eval
mode with running averages of them collected during training (mu_run, sigma_run):

    train:  y = gamma * (x - mu_B) / sqrt(sigma_B^2 + eps) + beta
    eval:   y = gamma * (x - mu_run) / sqrt(sigma_run^2 + eps) + beta,
            mu_run <- (1 - momentum) * mu_run + momentum * mu_B   (PyTorch's convention, momentum 0.1;
            some texts write the same update with 0.9 on the old value)

So in training a sample's output depends on the other samples of its batch, and the network learns
to rely on mu_B. Eval mode swaps in one global estimate. When batches are i.i.d. samples of the data
the two agree; when they are not, the gap opens. LayerNorm and GroupNorm compute their statistics
inside each sample, so they do exactly the same thing in both modes.

Part 1 (batch vs running statistics): an MLP with BatchNorm1d trained on i.i.d. batches of digits.
One test image gets different train-mode logits in two different batches, identical eval-mode logits;
the batch mean of a random batch is close to the running mean, that of a one-class batch is not.

Part 2 (small non-i.i.d. batches): every batch comes from one "session" with its own gain and offset
(x * g + o, like images from one camera or one sensor calibration), batch size 16. The same MLP with
BatchNorm1d, LayerNorm or GroupNorm(8 groups) is trained on such batches and tested on test sessions.
"""
import numpy as np

import minigrad
import nn
from common import fit, load_digits_flat, parse, pyplot, save_figure, study_parser


def parse_args(argv=None):
    p = study_parser(__doc__, "bn_train_eval_gap")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--max-log-gain", type=float, default=1.0, help="session gain g = exp(U(-a, a))")
    p.add_argument("--max-offset", type=float, default=2.0, help="session offset o = U(-b, b)")
    p.add_argument("--seed", type=int, default=0)
    return parse(p, argv, quick=dict(epochs=1, hidden=16))


def build(norm, hidden, seed, in_features=64, classes=10):
    """Linear -> norm -> ReLU -> Linear -> norm -> ReLU -> Linear."""
    minigrad.manual_seed(seed)

    def make_norm():
        return {"BatchNorm1d": lambda: nn.BatchNorm1d(hidden), "LayerNorm": lambda: nn.LayerNorm(hidden),
                "GroupNorm": lambda: nn.GroupNorm(8, hidden)}[norm]()

    return nn.Sequential(nn.Linear(in_features, hidden), make_norm(), nn.ReLU(),
                         nn.Linear(hidden, hidden), make_norm(), nn.ReLU(), nn.Linear(hidden, classes))


class Sessions:
    """Draw a gain and an offset per batch: ``x * g + o`` (the non-i.i.d. part)."""

    def __init__(self, rng, max_log_gain, max_offset, enabled=True):
        self.rng, self.a, self.b, self.enabled = rng, max_log_gain, max_offset, enabled

    def __call__(self, x):
        if not self.enabled:
            return x
        g = np.float32(np.exp(self.rng.uniform(-self.a, self.a)))
        o = np.float32(self.rng.uniform(-self.b, self.b))
        return x * g + o


@minigrad.no_grad()
def test(model, x, y, sessions, batch_size):
    """Accuracy on test batches (one session each) in eval mode and in train mode, and the largest
    |train-mode logit - eval-mode logit|. Train mode would update BatchNorm's running statistics, so
    they are saved first and restored after."""
    saved = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    acc = {"eval": 0, "train": 0}
    gap = 0.0
    for i in range(0, len(x), batch_size):
        xb = minigrad.tensor(sessions(x[i:i + batch_size]))
        out = {}
        for mode in ("eval", "train"):
            model.train(mode == "train")
            out[mode] = model(xb).numpy()
            acc[mode] += int((out[mode].argmax(1) == y[i:i + batch_size]).sum())
        gap = max(gap, float(np.abs(out["train"] - out["eval"]).max()))
    model.load_state_dict(saved)
    model.eval()
    return acc["eval"] / len(x), acc["train"] / len(x), gap


@minigrad.no_grad()
def part1(model, x_te, y_te, rng):
    """One image in two batches; batch vs running mean of the first BatchNorm's input."""
    bn, first_linear = model[1], model[0]
    saved = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    others = rng.permutation(np.arange(1, len(x_te)))
    batch_a = np.concatenate([x_te[:1], x_te[others[:7]]])
    batch_b = np.concatenate([x_te[:1], x_te[others[7:14]]])
    model.train()
    la, lb = model(minigrad.tensor(batch_a)).numpy()[0], model(minigrad.tensor(batch_b)).numpy()[0]
    model.load_state_dict(saved)
    model.eval()
    ea, eb = model(minigrad.tensor(batch_a)).numpy()[0], model(minigrad.tensor(batch_b)).numpy()[0]
    running = bn.running_mean.numpy()
    iid = rng.choice(len(x_te), size=64, replace=False)
    one_class = np.where(y_te == 3)[0][:8]
    mean_iid = first_linear(minigrad.tensor(x_te[iid])).numpy().mean(0)
    mean_one = first_linear(minigrad.tensor(x_te[one_class])).numpy().mean(0)
    return dict(train_diff=float(np.abs(la - lb).max()), eval_diff=float(np.abs(ea - eb).max()),
                running=running, mean_iid=mean_iid, mean_one=mean_one,
                err_iid=float(np.abs(mean_iid - running).mean()), err_one=float(np.abs(mean_one - running).mean()))


def plot(p1, rows, args):
    plt = pyplot()

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw=dict(width_ratios=[1, 1.6]))
    lim = [min(p1["running"].min(), p1["mean_one"].min()), max(p1["running"].max(), p1["mean_one"].max())]
    ax0.plot(lim, lim, color="grey", lw=0.8)
    ax0.scatter(p1["running"], p1["mean_iid"], s=12, label=f"random batch of 64 (mean |diff| {p1['err_iid']:.2f})")
    ax0.scatter(p1["running"], p1["mean_one"], s=12, marker="x",
                label=f"8 images of one digit (mean |diff| {p1['err_one']:.2f})")
    ax0.set_xlabel("running_mean (used in eval mode)")
    ax0.set_ylabel("batch mean (used in train mode)")
    ax0.set_title("first BatchNorm1d: batch vs running statistics, per feature")
    ax0.legend(fontsize=8)
    names = [r["name"] for r in rows]
    xs = np.arange(len(rows))
    w = 0.27
    for k, (key, label) in enumerate((("train_acc", "training batches, train mode"),
                                      ("test_train", "test batches, train mode (batch stats)"),
                                      ("test_eval", "test, eval mode (running stats)"))):
        vals = [100 * r[key] for r in rows]
        bars = ax1.bar(xs + (k - 1) * w, vals, w, label=label)
        for b, v in zip(bars, vals):
            ax1.text(b.get_x() + b.get_width() / 2, v + 0.5, f"{v:.0f}", ha="center", fontsize=8)
    ax1.set_xticks(xs, names, fontsize=9)
    ax1.set_ylabel("accuracy (%)")
    ax1.set_ylim(0, 110)
    ax1.set_title(f"batches of {args.batch_size}; 'sessions': each batch has its own gain and offset")
    ax1.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, args.out, "bn_train_eval_gap.png")


def main(argv=None):
    args = parse_args(argv)
    x_tr, y_tr, x_te, y_te = load_digits_flat(args.seed)
    rows = []
    cases = [("BatchNorm1d", False), ("BatchNorm1d", True), ("LayerNorm", True), ("GroupNorm", True)]
    p1 = None
    for norm, non_iid in cases:
        rng = np.random.default_rng(args.seed)
        sessions = Sessions(rng, args.max_log_gain, args.max_offset, enabled=non_iid)
        model = build(norm, args.hidden, args.seed)
        opt = nn.optim.Adam(model.parameters(), lr=args.lr)
        train_acc = fit(model, opt, x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs, rng=rng,
                        transform=sessions)["train_acc"]
        test_eval, test_train, gap = test(model, x_te, y_te, sessions, args.batch_size)
        name = f"{norm}\n{'sessions (non-i.i.d.)' if non_iid else 'i.i.d. batches'}"
        rows.append(dict(name=name, train_acc=train_acc, test_eval=test_eval, test_train=test_train, gap=gap))
        print(f"{norm:11s} {'session batches' if non_iid else 'i.i.d. batches ':15s}: training batches "
              f"{100 * train_acc:5.1f}% | test, train mode {100 * test_train:5.1f}% | test, eval mode "
              f"{100 * test_eval:5.1f}% | max |train-mode - eval-mode logits| {gap:.2e}")
        if norm == "BatchNorm1d" and not non_iid:
            p1 = part1(model, x_te, y_te, np.random.default_rng(args.seed))
            print(f"  part 1: one test image in two batches: train-mode logits differ by up to "
                  f"{p1['train_diff']:.3f}, eval-mode by {p1['eval_diff']:.1e}; |batch mean - running mean| "
                  f"of the first BatchNorm's input: {p1['err_iid']:.3f} for a random batch of 64, "
                  f"{p1['err_one']:.3f} for 8 images of one digit")
    bn = rows[1]
    ln, gn = rows[2], rows[3]
    print(f"finding: with session batches BatchNorm fits its training batches ({100 * bn['train_acc']:.1f}%) "
          f"but in eval mode reaches {100 * bn['test_eval']:.1f}% on test sessions (train mode "
          f"{100 * bn['test_train']:.1f}%): a train/eval gap. LayerNorm and GroupNorm give "
          f"{100 * ln['test_eval']:.1f}% and {100 * gn['test_eval']:.1f}%, and identical logits in train and "
          f"eval mode (max difference {max(ln['gap'], gn['gap']):.1e}).")
    path = plot(p1, rows, args)
    return dict(rows=rows, part1={k: v for k, v in p1.items() if np.isscalar(v)}, figure=path)


if __name__ == "__main__":
    main()
