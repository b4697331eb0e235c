"""Winograd F(2x2, 3x3) against im2col on the 3x3 stride-1 convolutions of ResNet18: time of
forward+backward (both minigrad, interleaved in one process) and float32 accuracy.

    python3 -m benchmarks.bench_winograd [--quick]

Every case runs Winograd (its size and thread conditions lifted), to show where it gains; the
conditions ``winograd.applies`` keeps come from these numbers.

Accuracy: the max error of each float32 result (y, dx, dW) relative to the largest magnitude of the
same result computed in float64 by the reference Function, for Winograd and for im2col. Timing
switches ``minigrad.kernels.winograd.ENABLED``; the ratio < 1 means Winograd is faster.
"""
import sys

from benchmarks.runner import Bench, blas_info, configure, load

configure()

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
from minigrad.kernels import winograd  # noqa: E402

CASES = [  # label, N, C, H, Co
    ("l1 32x32", 32, 64, 32, 64), ("l2 16x16", 32, 128, 16, 128), ("l3 8x8", 32, 256, 8, 256),
    ("l4 4x4", 32, 512, 4, 512), ("d.l1 8x8", 64, 64, 8, 64), ("d.l2 4x4", 64, 128, 4, 128),
    ("d.l3 2x2", 64, 256, 2, 256),
]


def run(x, w, gy, dtype):
    X = minigrad.tensor(x.astype(dtype), requires_grad=True)
    W = minigrad.tensor(w.astype(dtype), requires_grad=True)
    y = F.conv2d(X, W, padding=1)
    y.backward(minigrad.tensor(gy.astype(dtype)))
    return y.numpy(), X.grad.numpy(), W.grad.numpy()


def main():
    quick = "--quick" in sys.argv
    winograd.SINGLE_THREAD_ONLY, winograd.MIN_CHANNELS, winograd.MIN_OUT = False, 1, 2
    rng = np.random.default_rng(0)
    bench = Bench("3x3 stride-1 conv2d fwd+bwd: Winograd / im2col (minigrad, float32)", warmup=1,
                  repeat=3 if quick else 7)
    print(f"{blas_info()} | load {load():.2f}")
    errors = []
    for label, N, C, H, Co in CASES:
        x = rng.standard_normal((N, C, H, H))
        w = rng.standard_normal((Co, C, 3, 3)) * np.sqrt(2 / (9 * C))
        gy = rng.standard_normal((N, Co, H, H))
        with minigrad.kernels.reference_kernels():
            exact = run(x, w, gy, np.float64)
        err = {}
        for on in (True, False):
            winograd.ENABLED = on
            got = run(x, w, gy, np.float32)
            err[on] = [float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(got, exact)]
        errors.append((label, err))
        x32, w32, gy32 = (minigrad.tensor(a.astype(np.float32)) for a in (x, w, gy))
        X = minigrad.tensor(x32.numpy(), requires_grad=True)
        W = minigrad.tensor(w32.numpy(), requires_grad=True)

        def step(on):
            def fn():
                winograd.ENABLED = on
                X.grad = W.grad = None
                F.conv2d(X, W, padding=1).backward(gy32)
            return fn

        bench.add(f"{label} {N}x{C}->{Co}", ours=step(True), theirs=step(False),
                  flops=3 * 2 * N * H * H * Co * C * 9)
    winograd.ENABLED = True
    bench.report()
    print("(the 'torch ms' column above is im2col here; GFLOP/s counts the direct method's flops)")
    print("\nfloat32 max error relative to the largest float64 value (y, dx, dW):")
    for label, err in errors:
        fmt = lambda e: " ".join(f"{v:.1e}" for v in e)  # noqa: E731
        print(f"{label:10s} winograd {fmt(err[True])}   im2col {fmt(err[False])}")
    print(f"load {load():.2f}")


if __name__ == "__main__":
    main()
