"""What the examples share: the digits data, a small training loop, a command line whose ``--help``
shows the defaults (and a ``--quick`` mode for tests), progress bars that stay quiet in logs, and
saving figures into ``runs/studies/NAME/``.

The examples import it as a sibling module (``from common import ...``): a script's own folder is on
``sys.path`` when it runs as ``python examples/NAME.py``, and ``minigrad``/``nn`` come from the
installed package (``pip install -e .``), so no example edits ``sys.path``.
"""
import argparse
import os
import sys

import numpy as np

import minigrad
import minigrad.functional as F

# ---------------------------------------------------------------- command line


def study_parser(doc, name):
    """An ``ArgumentParser`` that shows defaults in ``--help``, with ``--out`` (default
    ``runs/studies/NAME``) and ``--quick``. ``doc``'s first paragraph is the description."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog="See the module docstring for details.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default=os.path.join("runs", "studies", name), help="folder for figures")
    p.add_argument("--quick", action="store_true", help="a few-seconds version (for tests); explicit flags win")
    return p


def parse(parser, argv=None, quick=None):
    """Parse ``argv``; with ``--quick`` the ``quick`` dict replaces the defaults first, so flags given
    explicitly still win. The quick settings are listed in ``--help``."""
    quick = quick or {}
    for action in parser._actions:
        if action.dest == "quick" and quick:
            action.help += ": " + ", ".join(f"{k.replace('_', '-')}={v}" for k, v in quick.items())
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--quick" in argv:
        parser.set_defaults(**quick)
    return parser.parse_args(argv)


def progress(iterable, enabled=True, **kw):
    """A tqdm bar that turns itself off when stderr is not a terminal (logs, pipes, CI)."""
    from tqdm import tqdm

    return tqdm(iterable, disable=None if enabled else True, **kw)


# ---------------------------------------------------------------- data


def load_digits(split_seed=0, test_size=0.2):
    """scikit-learn's 8x8 digits (bundled, no download) as float32 (N, 1, 8, 8), split 80/20 with a
    fixed stratified seed and standardised with the training set's mean and std.

    Returns ``x_tr, y_tr, x_te, y_te, background`` (``background``: a blank pixel's value after
    standardising, the fill value for shifts and crops).
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    digits = sk_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]  # pixel values 0..16 -> 0..1
    labels = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(images, labels, test_size=test_size,
                                              random_state=split_seed, stratify=labels)
    mean, std = x_tr.mean(), x_tr.std()
    x_tr = ((x_tr - mean) / std).astype(np.float32)
    x_te = ((x_te - mean) / std).astype(np.float32)
    background = np.float32((0.0 - mean) / std)
    return x_tr, y_tr, x_te, y_te, background


def load_digits_flat(split_seed=0):
    """The same split as (N, 64) rows: ``x_tr, y_tr, x_te, y_te``."""
    x_tr, y_tr, x_te, y_te, _ = load_digits(split_seed)
    return x_tr.reshape(len(x_tr), -1), y_tr, x_te.reshape(len(x_te), -1), y_te


# ---------------------------------------------------------------- training


def fit(model, optimizer, x, y, *, batch_size, rng, epochs=1, steps=None, transform=None, penalty=None,
        loss_fn=F.cross_entropy, show_progress=False):
    """Minibatch training in train mode: each epoch a new shuffle (``rng``), batches of ``batch_size``
    (a last batch smaller than that is dropped, so BatchNorm never sees a batch of 1 by accident).

    ``transform(x_batch) -> x_batch`` works on NumPy arrays (augmentation, per-batch shifts);
    ``penalty(model) -> scalar Tensor`` is added to the loss (weight penalties). Stops after
    ``steps`` optimizer steps if given (then ``epochs`` is ignored). Returns ``dict(losses=[per step],
    train_acc=accuracy on the training batches of the last epoch, in train mode)``.
    """
    model.train()
    losses = []
    per_epoch = max(len(x) // batch_size, 1)
    epochs = -(-steps // per_epoch) if steps is not None else epochs
    bar = progress(range(epochs), enabled=show_progress, desc="train", unit="epoch")
    correct = seen = 0
    for _ in bar:
        perm = rng.permutation(len(x))
        correct = seen = 0
        for i in range(0, per_epoch * batch_size, batch_size):
            if steps is not None and len(losses) == steps:
                break
            idx = perm[i:i + batch_size]
            xb = x[idx] if transform is None else transform(x[idx])
            logits = model(minigrad.tensor(xb))
            loss = loss_fn(logits, minigrad.tensor(y[idx]))
            if penalty is not None:
                loss = loss + penalty(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            correct += int((logits.argmax(1).numpy() == y[idx]).sum())
            seen += len(idx)
    return dict(losses=np.array(losses), train_acc=correct / max(seen, 1))


@minigrad.no_grad()
def accuracy(model, x, y, batch_size=512, train_mode=False):
    """Accuracy in eval mode (or, with ``train_mode=True``, with batch statistics over each batch of
    ``batch_size``; BatchNorm's running statistics are restored afterwards)."""
    saved = {k: v.numpy().copy() for k, v in model.state_dict().items()} if train_mode else None
    model.train(train_mode)
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(minigrad.tensor(x[i:i + batch_size])).argmax(1).numpy() == y[i:i + batch_size]).sum())
    if saved is not None:
        model.load_state_dict(saved)
    model.eval()
    return correct / len(x)


# ---------------------------------------------------------------- figures


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out, filename, dpi=110):
    """Save ``fig`` as ``out/filename`` (the folder is created), trimmed to its content so legends
    placed outside the axes are kept; closes the figure and returns the path."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, filename)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    print("wrote", path)
    return path
