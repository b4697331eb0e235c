"""Benchmark: scaled dot-product attention and embedding, minigrad vs PyTorch (CPU).

    python3 -m benchmarks.bench_attention [--quick]

Cases: sdpa with B=8, H=8, L=S=128, E=64 (plain and causal), forward and forward+backward;
embedding with a 10000 x 256 table and 32 x 128 indices, forward and forward+backward.

Threads: attention runs one small product per head. minigrad's fast path runs them with one BLAS
thread each and spreads head blocks over its own pool (``minigrad.kernels.threads``), so that
OpenBLAS's spinning threads neither fight PyTorch's pool in this process nor other processes on a
loaded machine (before: 2-70x slower under load). The first line printed says which BLAS kernel
and how many threads each library uses.
"""
import sys

from benchmarks.runner import Bench, configure, describe_threads

torch = configure()

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402


def bench_sdpa(bench, B=8, H=8, L=128, E=64):
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((B, H, L, E), dtype=np.float32) for _ in range(4))
    mq, mk, mv = (minigrad.tensor(a, requires_grad=True) for a in (q, k, v))
    mg = minigrad.tensor(g)
    flops_fwd = 2 * 2 * B * H * L * L * E  # two matmuls
    tq = tk = tv = tg = None
    if torch is not None:
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        tg = torch.tensor(g)
    tsdpa = torch.nn.functional.scaled_dot_product_attention if torch is not None else None

    for causal in (False, True):
        tag = "causal " if causal else ""

        def ours_fwd():
            with minigrad.no_grad():
                F.scaled_dot_product_attention(mq, mk, mv, is_causal=causal)

        def ours_bwd():
            for t in (mq, mk, mv):
                t.grad = None
            F.scaled_dot_product_attention(mq, mk, mv, is_causal=causal).backward(mg)

        theirs_fwd = theirs_bwd = None
        if torch is not None:
            def theirs_fwd():
                with torch.no_grad():
                    tsdpa(tq, tk, tv, is_causal=causal)

            def theirs_bwd():
                for t in (tq, tk, tv):
                    t.grad = None
                tsdpa(tq, tk, tv, is_causal=causal).backward(tg)

        bench.add(f"sdpa {tag}B{B} H{H} L{L} E{E} fwd", ours_fwd, theirs_fwd, flops=flops_fwd)
        bench.add(f"sdpa {tag}B{B} H{H} L{L} E{E} fwd+bwd", ours_bwd, theirs_bwd, flops=3.5 * flops_fwd)


def bench_embedding(bench, V=10000, D=256, shape=(32, 128), name="embedding"):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((V, D), dtype=np.float32)
    idx = rng.integers(0, V, shape)
    g = rng.standard_normal(shape + (D,), dtype=np.float32)
    mw, mi, mg = minigrad.tensor(w, requires_grad=True), minigrad.tensor(idx), minigrad.tensor(g)

    def ours_fwd():
        with minigrad.no_grad():
            F.embedding(mi, mw)

    def ours_bwd():
        mw.grad = None
        F.embedding(mi, mw).backward(mg)

    theirs_fwd = theirs_bwd = None
    if torch is not None:
        tw, ti, tg = torch.tensor(w, requires_grad=True), torch.tensor(idx), torch.tensor(g)

        def theirs_fwd():
            with torch.no_grad():
                torch.nn.functional.embedding(ti, tw)

        def theirs_bwd():
            tw.grad = None
            torch.nn.functional.embedding(ti, tw).backward(tg)

    label = f"{name} {V}x{D} idx {'x'.join(map(str, shape))}"
    bench.add(f"{label} fwd", ours_fwd, theirs_fwd)
    bench.add(f"{label} fwd+bwd", ours_bwd, theirs_bwd)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    repeat = 3 if "--quick" in argv else 15
    describe_threads(torch)
    bench = Bench("scaled_dot_product_attention", repeat=repeat)
    bench_sdpa(bench)
    bench.report()
    bench = Bench("embedding", repeat=repeat)
    bench_embedding(bench)
    # a small vocabulary (character model): every index repeats ~60 times
    bench_embedding(bench, V=65, D=128, shape=(32, 128), name="embedding (chars)")
    bench.report()


if __name__ == "__main__":
    main()
