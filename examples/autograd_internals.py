"""Autograd internals: version counters, gradient hooks, and what an in-place op does to the graph.

    python examples/autograd_internals.py [--quick] [--out runs/studies/autograd_internals]

Three short experiments, each ending in `finding:` lines:
(a) the version counter catches a real bug: an in-place ReLU on a tensor that a sigmoid saved for its
    backward would silently give a wrong gradient; minigrad (like PyTorch) raises instead;
(b) a gradient hook registered inside a model's forward inspects and clips the gradient of a hidden
    activation (the hook lives on the graph node, so it fires although the tensor object is gone);
(c) the graph before and after an in-place op, drawn with minigrad.viz: the tensor's grad_fn is
    rebased onto the in-place op's node, whose edge leads back to the old history.
"""
import argparse
import os

import numpy as np

import minigrad as mg
import nn


def version_counter_study():
    print("(a) the version counter")
    x = mg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    s = x.sigmoid()  # SigmoidBackward saves s: ds/dx = s * (1 - s)
    print(f"  s = sigmoid(x) = {s.numpy().round(4)}, s._version = {s._version}")
    s.relu_()  # in place: s's memory changes after it was saved
    print(f"  after s.relu_(): s._version = {s._version}")
    try:
        s.sum().backward()
        caught = None
    except RuntimeError as e:
        caught = str(e)
        print("  backward raised: " + caught.split(" Hint:")[0])
    # the fix: an out-of-place ReLU leaves the saved s untouched
    x2 = mg.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    s2 = x2.sigmoid()
    s2.relu().sum().backward()
    sig = 1 / (1 + np.exp(-np.array([-1.0, 0.5, 2.0])))
    ok = np.allclose(x2.grad.numpy(), sig * (1 - sig), atol=1e-6)
    print(f"finding: an in-place ReLU after a sigmoid is caught before it can corrupt the gradient "
          f"({'raised' if caught else 'NOT raised'}: version {s._version} != saved version 0); "
          f"the out-of-place ReLU gives sigmoid' exactly ({ok})")
    return caught is not None and ok


class ClippedMLP(nn.Module):
    """Linear -> tanh -> Linear; a hook on the hidden activation records and clips its gradient."""

    def __init__(self, clip):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)
        self.clip, self.seen = clip, []

    def forward(self, x):
        h = self.fc1(x).tanh()
        if h.requires_grad:
            h.register_hook(self._hook)  # h is a local: the hook lives on h's graph node
        return self.fc2(h)

    def _hook(self, g):
        norm = float(np.sqrt((g.numpy() ** 2).sum()))
        self.seen.append(norm)
        if self.clip is None or norm <= self.clip:
            return None  # None: keep the gradient as it is
        return g * (self.clip / norm)


def hook_study(quick):
    print("(b) a gradient hook inside forward")
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = mg.tensor((digits.data / 16.0).astype(np.float32)[:256])
    y = mg.tensor(digits.target.astype(np.int64)[:256])
    steps = 20 if quick else 100
    runs = {}
    for clip in (None, 0.01):
        mg.manual_seed(0)
        model = ClippedMLP(clip=clip)
        opt = nn.optim.SGD(model.parameters(), lr=0.5)
        fc1_norms = []
        for _ in range(steps):
            loss = mg.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            fc1_norms.append(float(np.sqrt((model.fc1.weight.grad.numpy() ** 2).sum())))
            opt.step()
        runs[clip] = (np.array(model.seen), max(fc1_norms))
        print(f"  clip={clip}: the hook saw {len(model.seen)} gradients (norms {min(model.seen):.3f}..{max(model.seen):.3f}); "
              f"largest fc1 weight gradient {max(fc1_norms):.3f}")
    fired = all(len(seen) == steps for seen, _ in runs.values())
    print(f"finding: the hook fired once per backward ({steps} of {steps} steps) although h is a local of forward; "
          f"clipping the hidden gradient to norm 0.01 cut the largest fc1 weight gradient from "
          f"{runs[None][1]:.3f} to {runs[0.01][1]:.3f}")
    return fired and runs[0.01][1] < runs[None][1]


def rebase_study(out_dir):
    print("(c) the graph before and after an in-place op")
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    x.name = "x"
    h = x * 2
    h.name = "h"
    before = h.grad_fn
    paths = [_draw(h, os.path.join(out_dir, "before_inplace"))]
    h.mul_(3)  # recorded: h's history is rebased onto the MulBackward of the in-place op
    after = h.grad_fn
    paths.append(_draw(h, os.path.join(out_dir, "after_inplace")))
    print(f"  before: h.grad_fn = {before.name} (id {id(before) % 10000}); after h.mul_(3): h.grad_fn = "
          f"{after.name} (id {id(after) % 10000}), whose input edge leads to the old node: {after.next[0][0] is before}")
    h.sum().backward()
    print(f"  drawings: {', '.join(paths)}")
    print(f"finding: an in-place op on a non-leaf adds a node and moves the tensor onto it (history rebase): "
          f"dh/dx = 2 * 3 = {x.grad.numpy()[0]:.0f} flows through both nodes")
    return after.next[0][0] is before


def _draw(t, stem):
    """SVG when Graphviz's dot is installed, else the .dot source."""
    import shutil

    from minigrad import viz

    path = stem + (".svg" if shutil.which("dot") else ".dot")
    viz.render(t, path=path, title=os.path.basename(stem).replace("_", " "))
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer training steps (seconds)")
    ap.add_argument("--out", default=os.path.join("runs", "studies", "autograd_internals"), help="output folder")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    results = [version_counter_study(), hook_study(args.quick), rebase_study(args.out)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
