"""Timing helpers for the benchmark scripts.

Each benchmark times minigrad and, when PyTorch is installed, the same op in PyTorch in the same
process, interleaving the two and reporting medians and the ratio (ours / PyTorch). Both thread
pools are told not to spin (see ``configure``), since they would otherwise steal each other's core.

    from benchmarks.runner import configure, Bench
    torch = configure()            # call before importing numpy elsewhere; returns torch or None
    bench = Bench("conv2d")
    bench.add("64ch fwd+bwd", ours=lambda: ..., theirs=lambda: ...)   # theirs may be None
    bench.report()
"""
import os
import statistics
import time


def configure(threads=2):
    """Set the thread environment (before NumPy/PyTorch load) and return ``torch`` or None."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def blas_info(torch=None):
    """One line naming the BLAS kernels and thread counts in use (threadpoolctl), and PyTorch's."""
    parts = []
    try:
        import numpy  # noqa: F401  (load NumPy's BLAS so threadpoolctl sees it)
        from threadpoolctl import threadpool_info
    except ImportError:
        parts.append("threadpoolctl not installed: BLAS kernel unknown")
    else:
        for lib in threadpool_info():
            name = lib.get("internal_api", "?")
            arch = lib.get("architecture")
            path = lib.get("filepath", "")
            owner = "numpy" if "/numpy" in path else "torch" if "/torch/" in path else path.rsplit("/", 1)[-1]
            parts.append(f"{owner}:{name}{'/' + arch if arch else ''} x{lib.get('num_threads')}")
    if torch is not None:
        parts.append(f"torch.get_num_threads()={torch.get_num_threads()}")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if env:
        parts.append(f"WARNING {env} set: OpenBLAS runs pinned kernels (unset them for benchmarks)")
    return "BLAS: " + ", ".join(parts)


def load():
    """The 1-minute load average (the machine is shared: quote it with every measurement)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def _time_once(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Bench:
    """A table of timings: one row per case, ours vs PyTorch's, interleaved, medians in ms."""

    def __init__(self, title, warmup=2, repeat=7):
        self.title, self.warmup, self.repeat = title, warmup, repeat
        self.rows = []

    def add(self, name, ours, theirs=None, flops=None):
        """Time ``ours()`` (and ``theirs()``, interleaved); ``flops`` per call gives GFLOP/s."""
        for _ in range(self.warmup):
            ours()
            if theirs is not None:
                theirs()
        a, b = [], []
        for _ in range(self.repeat):
            a.append(_time_once(ours))
            if theirs is not None:
                b.append(_time_once(theirs))
        ours_ms = statistics.median(a) * 1e3
        theirs_ms = statistics.median(b) * 1e3 if b else None
        row = dict(name=name, ours_ms=ours_ms, torch_ms=theirs_ms,
                   ratio=ours_ms / theirs_ms if theirs_ms else None,
                   gflops=flops / (ours_ms * 1e6) if flops else None)
        self.rows.append(row)
        self._print_row(row)
        return row

    def _print_row(self, row):
        if len(self.rows) == 1:
            print(f"\n== {self.title} ==")
            print(f"{'case':44s} {'minigrad ms':>12s} {'torch ms':>10s} {'ratio':>7s} {'GFLOP/s':>8s}")
        torch_ms = f"{row['torch_ms']:10.2f}" if row["torch_ms"] is not None else f"{'-':>10s}"
        ratio = f"{row['ratio']:7.2f}" if row["ratio"] is not None else f"{'-':>7s}"
        gf = f"{row['gflops']:8.1f}" if row["gflops"] is not None else f"{'':>8s}"
        print(f"{row['name']:44s} {row['ours_ms']:12.2f} {torch_ms} {ratio} {gf}", flush=True)

    def report(self):
        ratios = [r["ratio"] for r in self.rows if r["ratio"] is not None]
        if ratios:
            print(f"worst ratio {max(ratios):.2f}, median ratio {statistics.median(ratios):.2f} (minigrad / PyTorch)")
        return self.rows


def describe_threads(torch=None):
    """Print the BLAS minigrad's NumPy runs (library, kernel, threads), minigrad's pool size and
    PyTorch's thread count, so that a table says what it measured."""
    from minigrad.kernels.threads import blas_info

    info = blas_info()
    line = (f"NumPy BLAS: {info.get('internal_api', '?')} {info.get('version', '')} kernel "
            f"{info.get('architecture', '?')}, {info.get('num_threads', '?')} threads "
            f"({info.get('threading_layer', '?')}); minigrad pool: {info['minigrad_workers']} threads")
    if torch is not None:
        line += f"; PyTorch {torch.__version__}: {torch.get_num_threads()} threads"
    print(line, flush=True)
