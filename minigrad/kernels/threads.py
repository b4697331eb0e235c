"""Threads: one small pool that splits big passes across the cores, and the BLAS thread policy.

Why a pool. NumPy runs each elementwise pass and each reduction on one core, but it releases the
GIL while it loops, so two Python threads working on the two halves of an array run at the same
time. ``parallel_for(fn, n, block)`` cuts ``range(n)`` into blocks, lets the calling thread and
the pool's threads take them one by one, and returns the blocks' results in order (an op adds up
partial sums from them). A single block runs inline: a hand-off to a worker costs ~20-50 us.

Why a BLAS policy. OpenBLAS keeps its own worker threads, which spin on their core for a while
after each multi-threaded product, waiting for the next one. On an idle machine that hides the
wake-up cost; on a loaded one (another process keeps every core busy) the spinning threads fight
that process and each other for cores they cannot get, and a chain of small products, each split
across threads, becomes tens of times slower. So:
- ``matmul(a, b)`` runs a product too small to gain from threads single-threaded
  (``blas_threads(1)``: two C calls, ~1 us, through the function pointers ``threadpoolctl``
  finds; its own ``threadpool_limits`` context costs ~15 us, too much per op), splits a medium
  one's rows over this pool with one BLAS thread each, and leaves big ones to OpenBLAS;
- ops made of many small products (attention's one per head) run them single-threaded and split
  the heads over this pool, whose idle threads sleep instead of spinning.

Only one thread changes the BLAS setting, the first one that applies the policy (in practice the
main thread): OpenBLAS's thread count is process-wide, so workers of this pool never touch it.
Without ``threadpoolctl`` (or with a BLAS it cannot control) the policy does nothing.
"""
import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

__all__ = [
    "num_workers", "machine_busy", "parallel_for", "each_block", "SPLIT_BYTES", "blas_threads", "blas_info", "matmul", "small_gemm",
    "SMALL_GEMM_FLOPS", "LARGE_GEMM_FLOPS",
]

# ------------------------------------------------------------------ the pool


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def num_workers():
    """How many threads ``parallel_for`` uses: ``MINIGRAD_NUM_THREADS``, else ``OMP_NUM_THREADS``,
    else ``OPENBLAS_NUM_THREADS`` (a user who limits the BLAS to one thread gets one thread here
    too), else the cores this process may run on."""
    for name in ("MINIGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env = os.environ.get(name, "").strip()
        if env.isdigit() and int(env) > 0:
            return int(env)
    return _cores()


_pool = None
_pool_lock = threading.Lock()
_local = threading.local()  # .in_worker: inside a pool task (a nested parallel_for runs inline)


def _get_pool(n):
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minigrad")
        return _pool


class _Job:
    """Blocks handed out one at a time to whichever thread asks first (the caller included)."""

    def __init__(self, fn, bounds):
        self.fn, self.bounds = fn, bounds
        self.results = [None] * len(bounds)
        self.claims = itertools.count()  # next() is atomic under the GIL
        self.left = len(bounds)
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.error = None

    def work(self):
        while True:
            i = next(self.claims)
            if i >= len(self.bounds):
                return
            try:
                self.results[i] = self.fn(*self.bounds[i])
            except BaseException as e:  # re-raised in the caller
                self.error = e
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.done.set()

    def work_in_worker(self):
        _local.in_worker = True
        try:
            self.work()
        finally:
            _local.in_worker = False


_BUSY_RECHECK_S = 0.05
_busy = [-1.0, False]  # [time of the last look, busy then]


def machine_busy():
    """True when at least as many OTHER threads are runnable right now as this process may use
    cores (``/proc/loadavg``'s running count, looked at no more than every 50 ms, ~10 us a look).
    Then splitting work only adds hand-offs: a second thread would get no core of its own."""
    now = time.monotonic()
    if now - _busy[0] < _BUSY_RECHECK_S:
        return _busy[1]
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])  # includes this thread
    except (OSError, ValueError, IndexError):  # not Linux: assume idle
        running = 1
    _busy[0], _busy[1] = now, running - 1 >= _cores()
    return _busy[1]


def parallel_for(fn, n, block):
    """``[fn(lo, hi) for each block]`` over ``range(n)`` cut into blocks of ``block`` items (the
    last one shorter); returns the blocks' results in order.

    The blocks run on the calling thread and ``num_workers() - 1`` pool threads, each taking the
    next unclaimed block when it is free, so a pool thread that gets no core simply claims
    nothing; on a machine already busy (``machine_busy()``) they all run on the calling thread.
    ``fn`` must write only to its own block's slice, and return what is to be combined
    afterwards (partial sums).
    """
    block = max(int(block), 1)
    bounds = [(lo, min(lo + block, n)) for lo in range(0, n, block)] or [(0, n)]
    helpers = min(num_workers(), len(bounds)) - 1
    if helpers <= 0 or getattr(_local, "in_worker", False) or machine_busy():
        return [fn(lo, hi) for lo, hi in bounds]
    job = _Job(fn, bounds)
    pool = _get_pool(helpers)
    for _ in range(helpers):
        pool.submit(job.work_in_worker)
    job.work()
    job.done.wait()
    if job.error is not None:
        raise job.error
    return job.results


# An elementwise pass over at least this many bytes is split over the pool. Measured on 2 cores
# (ReLU + add, forward and backward, on ResNet18's activations): 8 MiB 1.1x and 4 MiB 1.2x faster
# split, 2 MiB 1.2x and 1 MiB 1.8x slower (hand-offs, ~30 us each, and the blocks' own overheads).
SPLIT_BYTES = 4 << 20


def each_block(fn, a, min_bytes=None):
    """``fn(index)`` over the blocks of ``a``'s first axis, one block per pool thread (``index`` a
    ``slice``), for a pass whose arrays all share that axis; returns the blocks' results (partial
    sums, for a reduction). One call with ``...`` (the whole array) when ``a`` is under
    ``min_bytes`` (default ``SPLIT_BYTES``), 0-d, not a NumPy array, or has one row."""
    import numpy as np

    n = a.shape[0] if a.ndim else 0
    workers = min(num_workers(), n)
    if type(a) is not np.ndarray or workers < 2 or a.nbytes < (SPLIT_BYTES if min_bytes is None else min_bytes):
        return [fn(...)]
    return parallel_for(lambda lo, hi: fn(slice(lo, hi)), n, -(-n // workers))


# ------------------------------------------------------------------ the BLAS thread policy

# The policy by size, in flops (2*m*n*k per matrix, times the batch):
# - up to _OPENBLAS_ONE_THREAD_MNK (m*n*k) OpenBLAS runs one thread by itself: nothing to do;
# - below SMALL_GEMM_FLOPS (~50 us on one core) one BLAS thread: waking a second one costs
#   ~5-20 us on an idle machine and far more on a loaded one;
# - below LARGE_GEMM_FLOPS (~4 ms on one core) one BLAS thread per pool worker, the rows of the
#   product split over the pool (idle pool threads sleep; idle OpenBLAS threads spin);
# - above, OpenBLAS's own threads: the product is long enough to keep them busy.
_OPENBLAS_ONE_THREAD_MNK = 65536 * 4  # OpenBLAS's SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD
SMALL_GEMM_FLOPS = 2 ** 24
LARGE_GEMM_FLOPS = 2 ** 30


def small_gemm(m, n, k, batch=1):
    """True when a (batch of) (m, k) @ (k, n) product should run single-threaded."""
    return 2 * m * n * k * batch < SMALL_GEMM_FLOPS


def matmul(a, b):
    """``a @ b`` (NumPy's matmul semantics) under the thread policy above; other array types
    (CuPy) go straight to ``@``."""
    import numpy as np

    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim == 0 or b.ndim == 0:
        return a @ b
    m = a.shape[-2] if a.ndim >= 2 else 1
    k = a.shape[-1]
    n = b.shape[-1] if b.ndim >= 2 else 1
    batch = 1
    for s in (a.shape[:-2] if a.ndim > b.ndim else b.shape[:-2]):
        batch *= s
    if m * n * k <= _OPENBLAS_ONE_THREAD_MNK:  # single-threaded in OpenBLAS already
        return a @ b
    flops = 2 * m * n * k * batch
    if flops >= LARGE_GEMM_FLOPS:
        return a @ b
    workers = num_workers()
    if (flops < SMALL_GEMM_FLOPS or workers == 1 or a.ndim != 2 or b.ndim != 2 or m < 2 * workers
            or machine_busy()):
        with blas_threads(1):
            return a @ b
    out = np.empty((m, n), dtype=np.result_type(a, b))

    def rows(lo, hi):
        np.matmul(a[lo:hi], b, out=out[lo:hi])

    with blas_threads(1):
        parallel_for(rows, m, -(-m // workers))
    return out


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


class blas_threads:
    """Context manager: run the block with the BLAS on at most ``n`` threads, then restore its
    setting (~1 us). A no-op in threads other than the controlling one, and where the BLAS cannot
    be controlled."""

    __slots__ = ("n", "prev")

    def __init__(self, n):
        self.n, self.prev = n, None

    def __enter__(self):
        lib = _blas if _blas.found else _blas_lib()
        if lib.set is None or threading.get_ident() != lib.owner:
            return self
        prev = lib.get()
        if prev > self.n:
            lib.set(self.n)
            self.prev = prev
        return self

    def __exit__(self, *exc):
        if self.prev is not None:
            _blas.set(self.prev)
            self.prev = None
        return False
