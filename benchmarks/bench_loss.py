"""Loss and activation benchmarks: cross_entropy on (N=256, C=1000) logits (plain, and with class
weights + label smoothing), softmax / log_softmax on the same shape, and gelu / dropout on a
(32, 128, 512) activation; forward and forward+backward, float32, against PyTorch on the same
number of threads.

    python3 -m benchmarks.bench_loss
"""
from benchmarks.runner import Bench, configure

torch = configure()

import numpy as np  # noqa: E402

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402

N, C = 256, 1000


def _rows(bench, name, ours_fn, theirs_fn, x_ours, x_theirs, g_ours=None, g_theirs=None):
    """A forward row (no graph) and a forward+backward row for one op."""

    def ours_fwd():
        with minigrad.no_grad():
            ours_fn()

    def ours_fb():
        x_ours.grad = None
        out = ours_fn()
        out.backward(g_ours)

    theirs_fwd = theirs_fb = None
    if torch is not None:
        def theirs_fwd():
            with torch.no_grad():
                theirs_fn()

        def theirs_fb():
            x_theirs.grad = None
            out = theirs_fn()
            out.backward(g_theirs)

    bench.add(f"{name} fwd", ours_fwd, theirs_fwd)
    bench.add(f"{name} fwd+bwd", ours_fb, theirs_fb)


def main():
    rng = np.random.default_rng(0)
    bench = Bench("losses and activations (float32)", repeat=21)

    logits = rng.standard_normal((N, C), dtype=np.float32) * 3
    target = rng.integers(0, C, N)
    weight = rng.random(C, dtype=np.float32) + 0.5
    x = minigrad.tensor(logits, requires_grad=True)
    t, w = minigrad.tensor(target), minigrad.tensor(weight)
    xt = tt = wt = None
    if torch is not None:
        xt = torch.tensor(logits, requires_grad=True)
        tt, wt = torch.tensor(target), torch.tensor(weight)

    _rows(bench, f"cross_entropy ({N}, {C})", lambda: F.cross_entropy(x, t),
          lambda: torch.nn.functional.cross_entropy(xt, tt), x, xt)
    _rows(bench, f"cross_entropy w+smooth ({N}, {C})",
          lambda: F.cross_entropy(x, t, w, label_smoothing=0.1),
          lambda: torch.nn.functional.cross_entropy(xt, tt, wt, label_smoothing=0.1), x, xt)

    g = rng.standard_normal((N, C), dtype=np.float32)
    g_ours = minigrad.tensor(g)
    g_theirs = torch.tensor(g) if torch is not None else None
    _rows(bench, f"softmax ({N}, {C})", lambda: F.softmax(x, 1),
          lambda: torch.softmax(xt, 1), x, xt, g_ours, g_theirs)
    _rows(bench, f"log_softmax ({N}, {C})", lambda: F.log_softmax(x, 1),
          lambda: torch.log_softmax(xt, 1), x, xt, g_ours, g_theirs)

    shape = (32, 128, 512)
    a = rng.standard_normal(shape, dtype=np.float32)
    ga = rng.standard_normal(shape, dtype=np.float32)
    y = minigrad.tensor(a, requires_grad=True)
    yt = torch.tensor(a, requires_grad=True) if torch is not None else None
    gy, gyt = minigrad.tensor(ga), (torch.tensor(ga) if torch is not None else None)
    _rows(bench, "gelu (32, 128, 512)", lambda: F.gelu(y), lambda: torch.nn.functional.gelu(yt), y, yt, gy, gyt)
    _rows(bench, "gelu tanh (32, 128, 512)", lambda: F.gelu(y, approximate="tanh"),
          lambda: torch.nn.functional.gelu(yt, approximate="tanh"), y, yt, gy, gyt)
    _rows(bench, "dropout 0.1 (32, 128, 512)", lambda: F.dropout(y, 0.1),
          lambda: torch.nn.functional.dropout(yt, 0.1), y, yt, gy, gyt)
    bench.report()


if __name__ == "__main__":
    main()
