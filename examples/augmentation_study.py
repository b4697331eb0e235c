"""Study: data augmentation on digits - shifts, small rotations, crops help or cost little; flips hurt.

    python examples/augmentation_study.py             # ~3-5 minutes on 2 cores; figures in runs/studies/augmentation_study/

The same small CNN (conv3x3 16 -> ReLU -> conv3x3/2 32 -> ReLU -> Linear) is trained on the digits
with each augmentation from ``transforms.py`` (plain NumPy, applied to every training batch, a new
random draw per image and step), for several seeds, and tested on the untouched test images:

    none          the images as they are
    shift         up to +-1 pixel in x and y (the demo's augmentation)
    rotation      up to +-15 degrees
    crop          a random square of 6..8 pixels stretched back to 8x8 (a zoom of up to 1.33x)
    hflip         mirror left-right with probability 1/2

An augmentation says "this change does not alter the label". That is true of small shifts, turns and
zooms of a handwritten digit, and false of a mirror image: a mirrored 2 is not a 2 (it is closer to
an S or a 5), a mirrored 3 is an epsilon, 7 and 9 point the wrong way. Training on flips asks the
network to give a digit and its mirror image the same label, spending capacity on shapes the test
set never shows and blurring classes that mirroring confuses. The study also measures how a model
trained without augmentation reads mirrored test digits: not as the same digits.
"""
import numpy as np

import minigrad
import nn
import transforms as T
from common import accuracy, fit, load_digits, parse, pyplot, save_figure, study_parser

AUGMENTATIONS = {
    "none": lambda x, rng, fill: x,
    "shift +-1 px": lambda x, rng, fill: T.random_shift(x, 1, rng, fill),
    "rotation +-15 deg": lambda x, rng, fill: T.random_rotation(x, 15, rng, fill),
    "crop 6-8 px, resize": lambda x, rng, fill: T.random_resized_crop(x, 6, rng, fill),
    "hflip p=0.5": lambda x, rng, fill: T.random_hflip(x, 0.5, rng, fill),
}


def parse_args(argv=None):
    p = study_parser(__doc__, "augmentation_study")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, default=3, help="training runs per augmentation (error bars)")
    p.add_argument("--train-limit", type=int, default=0, help="use only the first N training images (0: all)")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    return parse(p, argv, quick=dict(epochs=3, seeds=1, width=8, train_limit=600))


def cnn(width, seed):
    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(2 * width * 4 * 4, 10))


def draw(results, examples, args, out):
    plt = pyplot()
    names = list(results)
    fig = plt.figure(figsize=(13, 6.5))
    grid = fig.add_gridspec(2, len(names), height_ratios=[2.2, 1], hspace=0.45)
    ax = fig.add_subplot(grid[0, :])
    accs = [100 * np.array(results[n]) for n in names]
    means = [a.mean() for a in accs]
    colors = ["0.5", "tab:blue", "tab:green", "tab:purple", "tab:red"]
    ax.bar(range(len(names)), means, yerr=[a.std() for a in accs], capsize=6, color=colors, alpha=0.6,
           label="mean, error bar +-1 std over seeds")
    for i, a in enumerate(accs):
        ax.plot(np.full(len(a), i) + np.linspace(-0.12, 0.12, len(a)), a, "k.", ms=6,
                label="one seed" if i == 0 else None)
        ax.text(i, a.max() + 0.4, f"{a.mean():.1f}%", ha="center", fontsize=9)
    lo = min(a.min() for a in accs)
    ax.set_ylim(max(lo - 4, 0), 101)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"same CNN, {args.epochs} epochs, {args.seeds} seeds per augmentation; "
                 "test images never augmented")
    ax.legend(fontsize=8, loc="lower left")
    for i, n in enumerate(names):
        a = fig.add_subplot(grid[1, i])
        a.imshow(np.concatenate(examples[n], axis=1), cmap="gray_r")
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(f"{n}: a 2 and a 3", fontsize=8)
    fig.suptitle("data augmentation on 8x8 digits (bottom: one random draw of each transform)")
    return save_figure(fig, out, "augmentation_accuracy.png")


def main(argv=None):
    args = parse_args(argv)
    x_tr, y_tr, x_te, y_te, fill = load_digits(0)
    if args.train_limit:
        x_tr, y_tr = x_tr[:args.train_limit], y_tr[:args.train_limit]
    results, mirrored = {}, []
    for name, aug in AUGMENTATIONS.items():
        results[name] = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            model = cnn(args.width, seed)
            opt = nn.optim.Adam(model.parameters(), lr=args.lr)
            fit(model, opt, x_tr, y_tr, batch_size=args.batch_size, epochs=args.epochs, rng=rng,
                transform=lambda xb, aug=aug, rng=rng: aug(xb, rng, fill))
            results[name].append(accuracy(model, x_te, y_te))
            if name == "none":
                mirrored.append(accuracy(model, x_te[..., ::-1].copy(), y_te))
        a = 100 * np.array(results[name])
        print(f"{name:20s}: test accuracy {a.mean():5.1f}% +- {a.std():.1f} (seeds: "
              + ", ".join(f"{v:.1f}" for v in a) + ")")
    rng = np.random.default_rng(1)
    two, three = x_te[np.where(y_te == 2)[0][0]][None], x_te[np.where(y_te == 3)[0][0]][None]
    examples = {n: [np.concatenate([aug(two, rng, fill) if n != "hflip p=0.5" else two[..., ::-1],
                                    aug(three, rng, fill) if n != "hflip p=0.5" else three[..., ::-1]],
                                   axis=3)[0, 0]] for n, aug in AUGMENTATIONS.items()}
    figure = draw(results, examples, args, args.out)
    mean = {n: float(np.mean(v)) for n, v in results.items()}
    best = max((n for n in mean if n not in ("none", "hflip p=0.5")), key=mean.get)
    print(f"finding: horizontal flips lower test accuracy: {100 * mean['hflip p=0.5']:.1f}% vs "
          f"{100 * mean['none']:.1f}% without augmentation (a mirrored digit is not the same digit).")
    print(f"finding: a model trained without augmentation reads mirrored test digits at "
          f"{100 * np.mean(mirrored):.1f}% vs {100 * mean['none']:.1f}% upright: digits are not mirror-symmetric.")
    print(f"finding: the best label-preserving augmentation here is '{best}' at {100 * mean[best]:.1f}% "
          f"(none: {100 * mean['none']:.1f}%).")
    return dict(mean=mean, acc=results, mirrored=float(np.mean(mirrored)), figure=figure)


if __name__ == "__main__":
    main()
