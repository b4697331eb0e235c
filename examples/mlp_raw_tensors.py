"""A two-layer MLP written with raw Tensors (no nn): the engine alone, on scikit-learn's digits.

    python examples/mlp_raw_tensors.py [--epochs 30] [--hidden 64] [--seed 0]

The data come from the shared helper (``common.load_digits_flat``: the digits split of the other
examples); the model, the loss and the training loop are written out here on purpose.

Everything a framework hides is spelled out: parameters are leaf tensors with requires_grad=True,
the loss is built from Tensor ops, ``loss.backward()`` fills ``.grad``, and the SGD update runs
under ``no_grad`` on ``.data``. Prints the test accuracy (about 97% after 30 epochs).
"""
import argparse
import sys

import numpy as np

import minigrad as mg
from common import load_digits_flat


def cross_entropy(logits, target):
    """mean over the batch of -log softmax(logits)[target], from Tensor ops only."""
    logp = logits.log_softmax(1)
    return -logp[mg.arange(len(target)), target].mean()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    mg.manual_seed(args.seed)
    xtr, ytr, xte, yte = load_digits_flat(args.seed)
    w1 = (mg.randn(64, args.hidden) * (2 / 64) ** 0.5).requires_grad_()
    b1 = mg.zeros(args.hidden, requires_grad=True)
    w2 = (mg.randn(args.hidden, 10) * (1 / args.hidden) ** 0.5).requires_grad_()
    b2 = mg.zeros(10, requires_grad=True)
    params = [w1, b1, w2, b2]

    def model(x):
        return (x @ w1 + b1).relu() @ w2 + b2

    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        order = rng.permutation(len(xtr))
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            loss = cross_entropy(model(mg.tensor(xtr[idx])), mg.tensor(ytr[idx]))
            for p in params:
                p.grad = None
            loss.backward()
            with mg.no_grad():
                for p in params:
                    p.data -= args.lr * p.grad.data
            total += loss.item() * len(idx)
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1:3d}  train loss {total / len(xtr):.4f}")
    with mg.no_grad():
        pred = model(mg.tensor(xte)).argmax(dim=1).numpy()
    acc = float((pred == yte).mean())
    print(f"test accuracy {acc:.4f} on {len(yte)} held-out digits")
    return acc


if __name__ == "__main__":
    sys.exit(0 if main() > 0 else 1)
