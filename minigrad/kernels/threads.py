"""Threads: one small pool that splits big passes across the cores, and the BLAS thread policy.

Why a pool. NumPy runs each elementwise pass and each reduction on one core, but it releases the
GIL while it loops, so two Python threads working on the two halves of an array run at the same
time. ``parallel_for(fn, n)`` cuts ``range(n)`` into one chunk per core, runs the first chunk in
the calling thread and the others in the pool, and returns the chunks' results in order (an op
adds up partial sums from them). Small jobs run inline: a hand-off to a worker costs ~20-50 us.

Why a BLAS policy. OpenBLAS keeps its own worker threads, which spin on their core for a while
after each multi-threaded product, waiting for the next one. On an idle machine that hides the
wake-up cost; on a loaded one (another process keeps every core busy) the spinning threads fight
that process and each other for cores they cannot get, and a chain of small products, each split
across threads, becomes tens of times slower. So:
- a product too small to gain from threads runs single-threaded (``blas_threads(1)``): the
  switch is one C call (~0.2 us, through the function pointers ``threadpoolctl`` finds; its own
  ``threadpool_limits`` context costs ~15 us, too much per op);
- ops made of many small products (attention's one per head) run them single-threaded and split
  the heads over this pool instead, whose idle threads sleep instead of spinning.

Only the thread that imported minigrad first (in practice the main thread) changes the BLAS
setting: OpenBLAS's thread count is process-wide, so workers of this pool never touch it.
Without ``threadpoolctl`` (or with a BLAS it cannot control) the policy does nothing.
"""
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "num_workers", "parallel_for", "blas_threads", "blas_info", "small_gemm", "SMALL_GEMM_FLOPS",
]

# ------------------------------------------------------------------ the pool


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def num_workers():
    """How many threads ``parallel_for`` uses: ``MINIGRAD_NUM_THREADS`` if set, else the cores
    this process may run on."""
    env = os.environ.get("MINIGRAD_NUM_THREADS")
    if env:
        return max(1, int(env))
    return _cores()


_pool = None
_pool_lock = threading.Lock()
_local = threading.local()  # .in_worker: inside a pool task (nested parallel_for runs inline)


def _get_pool(n):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minigrad")
        return _pool


def _run_in_worker(fn, lo, hi):
    _local.in_worker = True
    try:
        return fn(lo, hi)
    finally:
        _local.in_worker = False


def chunks(n, parts):
    """``parts`` (lo, hi) bounds of nearly equal length covering ``range(n)``."""
    step, extra = divmod(n, parts)
    bounds, lo = [], 0
    for i in range(parts):
        hi = lo + step + (1 if i < extra else 0)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def parallel_for(fn, n, grain=1):
    """``[fn(lo, hi) for each chunk]`` over ``range(n)``, one chunk per worker, at least ``grain``
    items per chunk; the chunks run in parallel when there are two or more of them.

    ``fn`` must only write to disjoint slices (each chunk its own rows) and return anything
    to be combined afterwards (partial sums), in chunk order.
    """
    parts = min(num_workers(), n // max(grain, 1))
    if parts <= 1 or getattr(_local, "in_worker", False):
        return [fn(0, n)]
    bounds = chunks(n, parts)
    pool = _get_pool(parts - 1)
    futures = [pool.submit(_run_in_worker, fn, lo, hi) for lo, hi in bounds[1:]]
    first = fn(*bounds[0])
    return [first] + [f.result() for f in futures]


# ------------------------------------------------------------------ the BLAS thread policy

# Products below this many flops (2*m*n*k) run single-threaded: waking a second BLAS thread costs
# ~5-20 us on an idle machine and much more on a loaded one; 2**24 flops take ~50 us on one core.
SMALL_GEMM_FLOPS = 2 ** 24


def small_gemm(m, n, k, batch=1):
    """True when a (batch of) (m, k) @ (k, n) product should run single-threaded."""
    return 2 * m * n * k * batch < SMALL_GEMM_FLOPS


class _Blas:
    """The BLAS library's set/get-threads C functions, found once (through threadpoolctl)."""

    def __init__(self):
        self.found = False
        self.set = self.get = None
        self.info = {}
        self.owner = None

    def find(self):
        self.found = True
        try:
            import numpy  # noqa: F401  (its BLAS must be loaded to be found)
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return
        try:
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # an unusual BLAS threadpoolctl cannot read: no policy
            return
        for lib in libs:
            if lib.internal_api != "openblas" or lib.threading_layer != "pthreads":
                continue  # OpenMP-threaded BLAS: limits are per thread and threadpoolctl's job
            set_fn = lib._get_symbol("openblas_set_num_threads")
            get_fn = lib._get_symbol("openblas_get_num_threads")
            if set_fn is None or get_fn is None:
                continue
            self.set, self.get = set_fn, get_fn
            self.info = {k: getattr(lib, k, None) for k in ("internal_api", "version", "architecture",
                                                             "threading_layer", "num_threads", "filepath")}
            self.owner = threading.get_ident()
            return


_blas = _Blas()


def _blas_lib():
    if not _blas.found:
        _blas.find()
    return _blas


def blas_info():
    """What the benchmarks print: the BLAS library, its kernel (``architecture``) and threads."""
    lib = _blas_lib()
    info = dict(lib.info)
    if lib.get is not None:
        info["num_threads"] = int(lib.get())
    info["minigrad_workers"] = num_workers()
    return info


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with the BLAS on at most ``n`` threads, then restore its setting. A no-op in
    threads other than the controlling one, and where the BLAS cannot be controlled."""
    lib = _blas_lib()
    if lib.set is None or threading.get_ident() != lib.owner:
        yield
        return
    prev = lib.get()
    if prev <= n:
        yield
        return
    lib.set(n)
    try:
        yield
    finally:
        lib.set(prev)
