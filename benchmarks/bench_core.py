"""Core ops against PyTorch: matmul, broadcasting add/mul, sum, and a 20-layer MLP training step.

    python -m benchmarks.bench_core
"""
from benchmarks.runner import Bench, configure

torch = configure()

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    bench = Bench("core ops (float32)")
    a = rng.standard_normal((512, 512), dtype=np.float32)
    b = rng.standard_normal((512, 512), dtype=np.float32)
    v = rng.standard_normal((512,), dtype=np.float32)
    A, B, V = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True), mg.tensor(v, requires_grad=True)
    if torch:
        ta, tb, tv = (torch.tensor(x, requires_grad=True) for x in (a, b, v))

    def fwd_bwd(f):
        def run():
            f().sum().backward()
        return run

    cases = [
        ("matmul 512x512 fwd", lambda: A @ B, (lambda: ta @ tb) if torch else None, 2 * 512**3),
        ("matmul 512x512 fwd+bwd", fwd_bwd(lambda: A @ B), fwd_bwd(lambda: ta @ tb) if torch else None, 6 * 512**3),
        ("broadcast add (512,512)+(512,) fwd+bwd", fwd_bwd(lambda: A + V), fwd_bwd(lambda: ta + tv) if torch else None, None),
        ("broadcast mul (512,512)*(512,) fwd+bwd", fwd_bwd(lambda: A * V), fwd_bwd(lambda: ta * tv) if torch else None, None),
        ("sum over dim 0 fwd+bwd", fwd_bwd(lambda: A.sum(0)), fwd_bwd(lambda: ta.sum(0)) if torch else None, None),
    ]
    for name, ours, theirs, flops in cases:
        bench.add(name, ours, theirs, flops)

    # 20-layer MLP (width 256, batch 128) training step written with raw tensors on both sides
    width, depth, batch = 256, 20, 128
    ws = [rng.standard_normal((width, width), dtype=np.float32) * np.float32((2 / width) ** 0.5) for _ in range(depth)]
    x = rng.standard_normal((batch, width), dtype=np.float32)
    W = [mg.tensor(w, requires_grad=True) for w in ws]
    X = mg.tensor(x)

    def ours_step():
        h = X
        for w in W:
            h = (h @ w).relu()
        loss = (h * h).mean()
        for w in W:
            w.grad = None
        loss.backward()
        with mg.no_grad():
            for w in W:
                w.data -= 0.01 * w.grad.data

    theirs_step = None
    if torch:
        TW = [torch.tensor(w, requires_grad=True) for w in ws]
        TX = torch.tensor(x)

        def theirs_step():
            h = TX
            for w in TW:
                h = (h @ w).relu()
            loss = (h * h).mean()
            for w in TW:
                w.grad = None
            loss.backward()
            with torch.no_grad():
                for w in TW:
                    w -= 0.01 * w.grad

    bench.add("20-layer MLP train step (b128, w256)", ours_step, theirs_step, 6 * batch * width * width * depth)
    bench.report()


if __name__ == "__main__":
    main()
