"""Benchmark on a loaded machine: minigrad's workloads while another process keeps every core busy.

    python -m benchmarks load [--rounds 2] [--seconds 1.5]

The issue it guards against: OpenBLAS's idle threads spin on their cores waiting for the next
product; when another process (a second training run) keeps the cores busy they fight it for
cores they cannot get, and a chain of small products can run tens of times slower than with one
thread. minigrad's answer (``minigrad.kernels.threads``) is to run small products single-threaded
and to split its own work over a pool whose idle threads sleep.

What it does: starts a load, one process that keeps every core busy the way a second training run
does (float32 GEMMs with OpenBLAS on all cores, and elementwise passes), bounded in time and
killed at the end. Under that load it runs each workload below in a
fresh process with the default threads and in one with ``OPENBLAS_NUM_THREADS=1``, alternately
(``--rounds`` times), and reports the median time of each and their ratio. The target: no ratio
above 2 (default threads may not be more than twice as slow as one thread, under the same load).

Workloads: the step of ``examples/mlp_raw_tensors.py`` (batch 32, 64 -> 64 -> 10), a wider MLP
step (batch 256, 512 hidden), scaled_dot_product_attention fwd+bwd (B8 H8 L128 E64), layer_norm
and group_norm fwd+bwd (the shapes of bench_norm), embedding fwd+bwd, conv2d fwd+bwd at a
ResNet18 stage shape.
"""
import json
import os
import statistics
import subprocess
import sys
import time

_LOAD_CODE = """
import os, sys, time
import numpy as np
end = time.time() + float(sys.argv[1])
a = np.random.rand(384, 384).astype(np.float32)
b = np.random.rand(384, 384).astype(np.float32)
c = np.random.rand(1 << 21).astype(np.float32)
while time.time() < end and os.getppid() != 1:
    for _ in range(8):
        a @ b
    np.multiply(c, 1.0001, out=c)
"""


def _env(single):
    env = dict(os.environ)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MINIGRAD_NUM_THREADS"):
        env.pop(k, None)
    if single:
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def start_load(seconds):
    """The load: one process with OpenBLAS on every core, for at most ``seconds``."""
    return subprocess.Popen([sys.executable, "-c", _LOAD_CODE, str(seconds)], env=_env(False),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# ------------------------------------------------------------------ the workloads (child process)


def _workloads():
    import numpy as np

    import minigrad as mg
    import minigrad.functional as F

    rng = np.random.default_rng(0)

    def t(*shape, grad=True, scale=1.0):
        return mg.tensor(rng.standard_normal(shape, dtype=np.float32) * scale, requires_grad=grad)

    def mlp(batch, d_in, hidden, classes):
        """The step of examples/mlp_raw_tensors.py: forward, cross-entropy, backward, SGD."""
        x, y = t(batch, d_in, grad=False), mg.tensor(rng.integers(0, classes, batch))
        w1, b1 = t(d_in, hidden, scale=0.1), t(hidden, scale=0.0)
        w2, b2 = t(hidden, classes, scale=0.1), t(classes, scale=0.0)
        params = [w1, b1, w2, b2]

        def step():
            logp = ((x @ w1 + b1).relu() @ w2 + b2).log_softmax(1)
            loss = -logp[mg.arange(batch), y].mean()
            for p in params:
                p.grad = None
            loss.backward()
            with mg.no_grad():
                for p in params:
                    p.data -= 0.1 * p.grad.data
        return step

    def fwd_bwd(fn, *inputs):
        g = None

        def step():
            nonlocal g
            for a in inputs:
                a.grad = None
            out = fn(*inputs)
            if g is None:
                g = mg.tensor(rng.standard_normal(out.shape, dtype=np.float32))
            out.backward(g)
        return step

    q, k, v = t(8, 8, 128, 64), t(8, 8, 128, 64), t(8, 8, 128, 64)
    emb_w, emb_idx = t(10000, 256), mg.tensor(rng.integers(0, 10000, (32, 128)))
    return {
        "mlp example step (32x64-64-10)": mlp(32, 64, 64, 10),
        "mlp step (256x512-512-10)": mlp(256, 512, 512, 10),
        "sdpa fwd+bwd B8 H8 L128 E64": fwd_bwd(lambda q, k, v: F.scaled_dot_product_attention(q, k, v), q, k, v),
        "layer_norm fwd+bwd (32,128,256)": fwd_bwd(lambda x, w, b: F.layer_norm(x, 256, w, b),
                                                   t(32, 128, 256), t(256), t(256)),
        "group_norm fwd+bwd (32,256,8,8)": fwd_bwd(lambda x, w, b: F.group_norm(x, 32, w, b),
                                                   t(32, 256, 8, 8), t(256), t(256)),
        "embedding fwd+bwd 10000x256": fwd_bwd(lambda w: F.embedding(emb_idx, w), emb_w),
        "conv2d 3x3 fwd+bwd (32,128,16,16)": fwd_bwd(lambda x, w: F.conv2d(x, w, padding=1),
                                                     t(32, 128, 16, 16), t(128, 128, 3, 3, scale=0.05)),
    }


def _child(seconds):
    """Time each workload for about ``seconds`` (3 to 30 calls); print a JSON of median ms."""
    result = {}
    for name, step in _workloads().items():
        step()  # warm-up
        times, t_end = [], time.perf_counter() + seconds
        while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 30):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        result[name] = statistics.median(times) * 1e3
    print(json.dumps(result))


def _run_child(single, seconds):
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_load", "--child", str(seconds)],
                         env=_env(single), capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child(float(argv[1]))
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 2
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 1.5
    from benchmarks.runner import describe_threads

    describe_threads()
    print(f"load: one process with OpenBLAS on every core (GEMMs + elementwise passes); "
          f"{rounds} alternating rounds; uptime: {os.getloadavg()}", flush=True)
    load = start_load(rounds * 2 * (8 * seconds * 3 + 30))
    runs = {False: [], True: []}
    try:
        time.sleep(1.0)  # let the load reach full speed
        for _ in range(rounds):
            for single in (False, True):
                runs[single].append(_run_child(single, seconds))
    finally:
        load.kill()
        load.wait()
    print(f"\n== loaded machine: default threads vs OPENBLAS_NUM_THREADS=1 (load average after: "
          f"{os.getloadavg()[0]:.1f}) ==")
    print(f"{'workload':40s} {'default ms':>11s} {'1 thread ms':>12s} {'ratio':>7s}")
    worst = 0.0
    for name in runs[False][0]:
        a = statistics.median(r[name] for r in runs[False])
        b = statistics.median(r[name] for r in runs[True])
        ratio = a / b
        worst = max(worst, ratio)
        flag = "" if ratio <= 2.0 else "  > 2x"
        print(f"{name:40s} {a:11.2f} {b:12.2f} {ratio:7.2f}{flag}", flush=True)
    print(f"worst ratio {worst:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
