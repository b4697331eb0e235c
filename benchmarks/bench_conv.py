"""conv2d / pooling speed against PyTorch CPU (same thread count), at the ResNet18 shapes.

    python3 -m benchmarks.bench_conv            # everything
    python3 -m benchmarks.bench_conv --quick    # fewer repeats
    python3 -m benchmarks.bench_conv --threads 1 --only d.   # one thread; only cases whose label starts "d."
    python3 -m benchmarks.bench_conv --channels-last --no-pool  # minigrad gets channels-last x and dy
    python3 -m benchmarks.bench_conv --only none --no-pool     # only conv_transpose2d and conv1d

Cases: ResNet18 with ``small_input=True`` on 32x32 images at batch 32 (the stem 3->64, the 3x3
stride-1 convs of each stage, the 3x3 stride-2 convs and the 1x1 stride-2 downsamples), the same
network on 8x8 images at batch 64, and the pooling layers. Inputs and output gradients are given in
plain NCHW-contiguous memory (the worst case for minigrad, whose conv outputs are channels-last
views); ``--channels-last`` gives minigrad what it sees inside a network of its own ops. Besides the ours/PyTorch ratios the table shows the conv's GFLOP/s as a fraction of
NumPy's own float32 GEMM throughput, measured in the same run.
"""
import sys

from benchmarks.runner import Bench, blas_info, configure, load


def _arg(flag, default):
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


torch = configure(threads=int(_arg("--threads", 2)))

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402

rng = np.random.default_rng(0)


def gemm_gflops(repeat):
    """NumPy's float32 GEMM throughput on an im2col-like product (16384x1152 @ 1152x128)."""
    a = rng.standard_normal((16384, 1152), dtype=np.float32)
    b = rng.standard_normal((1152, 128), dtype=np.float32)
    bench = Bench("numpy float32 GEMM", warmup=2, repeat=repeat)
    row = bench.add("16384x1152 @ 1152x128", ours=lambda: a @ b, flops=2 * a.shape[0] * a.shape[1] * b.shape[1])
    return row["gflops"]


def conv_case(bench, label, N, C, H, Co, k, stride, pad, input_grad=True):
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    w = (rng.standard_normal((Co, C, k, k), dtype=np.float32) * 0.1).astype(np.float32)
    oh = (H + 2 * pad - k) // stride + 1
    gy = rng.standard_normal((N, Co, oh, oh), dtype=np.float32)
    cl = (lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)) \
        if "--channels-last" in sys.argv else (lambda a: a)
    X = minigrad.Tensor(cl(x), requires_grad=input_grad)
    W = minigrad.Tensor(w, requires_grad=True)
    GY = minigrad.Tensor(cl(gy))
    flops = 2 * N * oh * oh * Co * C * k * k

    def ours_fwd():
        with minigrad.no_grad():
            F.conv2d(X, W, stride=stride, padding=pad)

    def ours_fb():
        X.grad = W.grad = None
        F.conv2d(X, W, stride=stride, padding=pad).backward(GY)

    theirs_fwd = theirs_fb = None
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(input_grad)
        tw = torch.from_numpy(w).requires_grad_(True)
        tgy = torch.from_numpy(gy)

        def theirs_fwd():
            with torch.no_grad():
                torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad)

        def theirs_fb():
            tx.grad = tw.grad = None
            torch.nn.functional.conv2d(tx, tw, stride=stride, padding=pad).backward(tgy)

    name = f"{label} {N}x{C}x{H}x{H}->{Co} k{k}s{stride}"
    fwd = bench.add(name + " fwd", ours_fwd, theirs_fwd, flops)
    fb = bench.add(name + " fwd+bwd", ours_fb, theirs_fb, flops * (3 if input_grad else 2))
    return name, fwd, fb


def transpose_cases(repeat):
    """conv_transpose2d (decoder shapes) and conv1d, forward+backward."""
    bench = Bench("conv_transpose2d / conv1d fwd+bwd (minigrad / PyTorch)", warmup=2, repeat=repeat)
    tF = torch.nn.functional if torch is not None else None
    cases = [  # label, x shape, w shape, kwargs, minigrad fn, torch fn
        ("conv_transpose2d 32x64x16x16 k4s2p1 ->32", (32, 64, 16, 16), (64, 32, 4, 4), dict(stride=2, padding=1),
         F.conv_transpose2d, tF and tF.conv_transpose2d),
        ("conv_transpose2d 32x128x8x8 k3s2p1op1 ->64", (32, 128, 8, 8), (128, 64, 3, 3),
         dict(stride=2, padding=1, output_padding=1), F.conv_transpose2d, tF and tF.conv_transpose2d),
        ("conv1d 32x64x512 k5p2 ->64", (32, 64, 512), (64, 64, 5), dict(padding=2), F.conv1d, tF and tF.conv1d),
    ]
    for label, xs, ws, kw, fn, tfn in cases:
        x = rng.standard_normal(xs, dtype=np.float32)
        w = (rng.standard_normal(ws, dtype=np.float32) * 0.1).astype(np.float32)
        X, W = minigrad.Tensor(x, requires_grad=True), minigrad.Tensor(w, requires_grad=True)

        def ours(X=X, W=W, fn=fn, kw=kw):
            X.grad = W.grad = None
            y = fn(X, W, **kw)
            y.backward(minigrad.Tensor(np.ones(y.shape, np.float32)))

        theirs = None
        if torch is not None:
            tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)

            def theirs(tx=tx, tw=tw, tfn=tfn, kw=kw):
                tx.grad = tw.grad = None
                y = tfn(tx, tw, **kw)
                y.backward(torch.ones_like(y))
        bench.add(label, ours, theirs)
    bench.report()


def pool_case(bench, name, shape, fn, tfn):
    x = rng.standard_normal(shape, dtype=np.float32)
    X = minigrad.Tensor(x, requires_grad=True)

    def ours():
        X.grad = None
        y = fn(X)
        y.backward(minigrad.Tensor(np.ones(y.shape, np.float32)))

    theirs = None
    if torch is not None:
        tx = torch.from_numpy(x).requires_grad_(True)

        def theirs():
            tx.grad = None
            y = tfn(tx)
            y.backward(torch.ones_like(y))

    return bench.add(name + " fwd+bwd", ours, theirs)


def pool_cases(repeat):
    pool = Bench("pooling (minigrad / PyTorch)", warmup=2, repeat=repeat)
    tF = torch.nn.functional if torch is not None else None
    pool_case(pool, "max_pool2d 3x3 s2 p1 32x64x32x32", (32, 64, 32, 32),
              lambda x: F.max_pool2d(x, 3, 2, 1), tF and (lambda x: tF.max_pool2d(x, 3, 2, 1)))
    pool_case(pool, "max_pool2d 2x2 s2 32x64x32x32", (32, 64, 32, 32),
              lambda x: F.max_pool2d(x, 2), tF and (lambda x: tF.max_pool2d(x, 2)))
    pool_case(pool, "avg_pool2d 2x2 s2 32x64x32x32", (32, 64, 32, 32),
              lambda x: F.avg_pool2d(x, 2), tF and (lambda x: tF.avg_pool2d(x, 2)))
    pool_case(pool, "adaptive_avg_pool2d 1 32x512x4x4", (32, 512, 4, 4),
              lambda x: F.adaptive_avg_pool2d(x, 1), tF and (lambda x: tF.adaptive_avg_pool2d(x, 1)))
    pool.report()


def main():
    quick = "--quick" in sys.argv
    repeat = 5 if quick else 9
    peak = gemm_gflops(repeat)
    bench = Bench("conv2d (minigrad / PyTorch)", warmup=2, repeat=repeat)
    # (label, N, C, H, C_out, k, stride, pad, input_grad)
    cases = [
        ("stem32", 32, 3, 32, 64, 3, 1, 1, False),
        ("l1", 32, 64, 32, 64, 3, 1, 1, True),
        ("l2.s2", 32, 64, 32, 128, 3, 2, 1, True),
        ("l2.ds", 32, 64, 32, 128, 1, 2, 0, True),
        ("l2", 32, 128, 16, 128, 3, 1, 1, True),
        ("l3.s2", 32, 128, 16, 256, 3, 2, 1, True),
        ("l3.ds", 32, 128, 16, 256, 1, 2, 0, True),
        ("l3", 32, 256, 8, 256, 3, 1, 1, True),
        ("l4.s2", 32, 256, 8, 512, 3, 2, 1, True),
        ("l4.ds", 32, 256, 8, 512, 1, 2, 0, True),
        ("l4", 32, 512, 4, 512, 3, 1, 1, True),
        ("stem8", 64, 3, 8, 64, 3, 1, 1, False),
        ("d.l1", 64, 64, 8, 64, 3, 1, 1, True),
        ("d.l2.s2", 64, 64, 8, 128, 3, 2, 1, True),
        ("d.l2.ds", 64, 64, 8, 128, 1, 2, 0, True),
        ("d.l2", 64, 128, 4, 128, 3, 1, 1, True),
        ("d.l3.s2", 64, 128, 4, 256, 3, 2, 1, True),
        ("d.l3", 64, 256, 2, 256, 3, 1, 1, True),
        ("d.l4.s2", 64, 256, 2, 512, 3, 2, 1, True),
        ("d.l4", 64, 512, 1, 512, 3, 1, 1, True),
    ]
    only = _arg("--only", "")
    summary = [conv_case(bench, *c) for c in cases if c[0].startswith(only)]
    bench.report()

    if "--no-pool" not in sys.argv:
        pool_cases(repeat)
    if "--no-transpose" not in sys.argv:
        transpose_cases(repeat)

    print(f"\n{blas_info(torch)} | load {load():.2f}")
    print(f"NumPy float32 GEMM: {peak:.1f} GFLOP/s")
    print(f"{'case':34s} {'fwd ratio':>9s} {'f+b ratio':>9s} {'f+b GFLOP/s':>12s} {'% of GEMM':>9s}")
    for name, fwd, fb in summary:
        r1 = f"{fwd['ratio']:9.2f}" if fwd["ratio"] else f"{'-':>9s}"
        r2 = f"{fb['ratio']:9.2f}" if fb["ratio"] else f"{'-':>9s}"
        print(f"{name:34s} {r1} {r2} {fb['gflops']:12.1f} {100 * fb['gflops'] / peak:8.0f}%")


if __name__ == "__main__":
    main()
