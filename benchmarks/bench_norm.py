"""Normalization benchmarks: batch_norm (training) on the ResNet18 activations of a batch of 32
32x32 images (small_input stem, plus the tiny-spatial shapes of the standard stem), layer_norm on
(32, 128, 256) and group_norm with 32 groups on (32, 256, 8, 8); forward and forward+backward,
float32, against PyTorch on the same number of threads.

    python3 -m benchmarks.bench_norm          wall-clock medians (benchmarks.runner.Bench)
    python3 -m benchmarks.bench_norm --only layer_norm,group_norm   only the cases whose name
        contains one of these words (the flags combine)
    python3 -m benchmarks.bench_norm --cpu    CPU-time medians, for a machine shared with other jobs:
        minigrad's thread CPU time against PyTorch's process CPU time divided by its thread count
        (PyTorch as if it scaled perfectly over its threads), so preemption by other processes
        does not enter either number
"""
import statistics
import sys
import time

from benchmarks.runner import Bench, configure, describe_threads

torch = configure()

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402

BN_SHAPES = [(32, 64, 32, 32), (32, 128, 16, 16), (32, 256, 8, 8), (32, 512, 4, 4), (64, 64, 8, 8), (64, 512, 1, 1)]


def _pair(shape, param_shape, seed):
    """Input, upstream gradient and affine parameters, as minigrad tensors and torch tensors."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32) * 2 + 0.5
    g = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal(param_shape, dtype=np.float32)
    b = rng.standard_normal(param_shape, dtype=np.float32)
    ours = dict(x=minigrad.tensor(x, requires_grad=True), g=minigrad.tensor(g),
                w=minigrad.tensor(w, requires_grad=True), b=minigrad.tensor(b, requires_grad=True))
    theirs = None
    if torch is not None:
        theirs = dict(x=torch.tensor(x, requires_grad=True), g=torch.tensor(g),
                      w=torch.tensor(w, requires_grad=True), b=torch.tensor(b, requires_grad=True))
    return ours, theirs


THREADS = 2
ONLY = []  # --only a,b: run only the cases whose name contains a or b


class CpuBench:
    """Like ``Bench``, timed with CPU clocks (see the module docstring)."""

    def __init__(self, title, warmup=2, repeat=15):
        self.title, self.warmup, self.repeat = title, warmup, repeat
        self.ratios = []
        print(f"\n== {self.title} (CPU time) ==")
        print(f"{'case':44s} {'minigrad ms':>12s} {'torch ms':>10s} {'ratio':>7s}")

    @staticmethod
    def _median(fn, clock, repeat):
        times = []
        for _ in range(repeat):
            t0 = clock()
            fn()
            times.append(clock() - t0)
        return statistics.median(times) * 1e3

    def add(self, name, ours, theirs=None):
        for _ in range(self.warmup):
            ours()
            if theirs is not None:
                theirs()
        ours_ms = self._median(ours, time.thread_time, self.repeat)
        torch_ms = self._median(theirs, time.process_time, self.repeat) / THREADS if theirs is not None else None
        ratio = ours_ms / torch_ms if torch_ms else None
        if ratio is not None:
            self.ratios.append(ratio)
        print(f"{name:44s} {ours_ms:12.2f} " + (f"{torch_ms:10.2f} {ratio:7.2f}" if ratio else f"{'-':>10s}"), flush=True)

    def report(self):
        if self.ratios:
            print(f"worst ratio {max(self.ratios):.2f}, median ratio {statistics.median(self.ratios):.2f}")


def _cases(bench, name, ours_fn, theirs_fn, o, t):
    """Add a forward row and a forward+backward row (gradients reset to None every call)."""

    def ours_fb():
        for k in ("x", "w", "b"):
            o[k].grad = None
        ours_fn().backward(o["g"])

    def theirs_fb():
        for k in ("x", "w", "b"):
            t[k].grad = None
        theirs_fn().backward(t["g"])

    def ours_fwd():
        with minigrad.no_grad():
            ours_fn()

    def theirs_fwd():
        with torch.no_grad():
            theirs_fn()

    if ONLY and not any(word in name for word in ONLY):
        return
    has_torch = t is not None
    bench.add(f"{name} fwd", ours_fwd, theirs_fwd if has_torch else None)
    bench.add(f"{name} fwd+bwd", ours_fb, theirs_fb if has_torch else None)


def main():
    if "--only" in sys.argv:
        ONLY.extend(w for w in sys.argv[sys.argv.index("--only") + 1].split(",") if w)
    describe_threads(torch)
    if "--cpu" in sys.argv:
        bench = CpuBench("normalization (float32)")
    else:
        bench = Bench("normalization (float32)", repeat=15)
    for i, shape in enumerate(BN_SHAPES):
        c = shape[1]
        o, t = _pair(shape, (c,), i)
        rm, rv = minigrad.zeros(c), minigrad.ones(c)
        ours = lambda o=o, rm=rm, rv=rv: F.batch_norm(o["x"], rm, rv, o["w"], o["b"], training=True)  # noqa: E731
        theirs = None
        if torch is not None:
            trm, trv = torch.zeros(c), torch.ones(c)
            theirs = lambda t=t, trm=trm, trv=trv: torch.nn.functional.batch_norm(  # noqa: E731
                t["x"], trm, trv, t["w"], t["b"], training=True)
        _cases(bench, f"batch_norm train {shape}", ours, theirs, o, t)

    o, t = _pair((32, 128, 256), (256,), 10)
    _cases(bench, "layer_norm (32, 128, 256) over 256",
           lambda: F.layer_norm(o["x"], 256, o["w"], o["b"]),
           torch and (lambda: torch.nn.functional.layer_norm(t["x"], (256,), t["w"], t["b"])), o, t)

    o, t = _pair((32, 256, 8, 8), (256,), 11)
    _cases(bench, "group_norm 32 groups (32, 256, 8, 8)",
           lambda: F.group_norm(o["x"], 32, o["w"], o["b"]),
           torch and (lambda: torch.nn.functional.group_norm(t["x"], 32, t["w"], t["b"])), o, t)
    bench.report()


if __name__ == "__main__":
    main()
