"""minigrad.kernels: the reference/fast switch, the thread pool and the BLAS thread policy."""
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad.kernels import threads


@pytest.fixture(autouse=True)
def pool_even_when_busy(monkeypatch):
    """The pool's paths run even on a loaded CI machine (where parallel_for would run inline)."""
    monkeypatch.setattr(threads, "machine_busy", lambda: False)


def test_reference_kernels_switch_nests_and_is_per_thread():
    assert not mg.kernels.use_reference()
    with mg.kernels.reference_kernels():
        assert mg.kernels.use_reference()
        with mg.kernels.reference_kernels(False):
            assert not mg.kernels.use_reference()
        assert mg.kernels.use_reference()
        seen = []
        t = threading.Thread(target=lambda: seen.append(mg.kernels.use_reference()))
        t.start()
        t.join()
        assert seen == [False]  # another thread keeps the fast kernels
    assert not mg.kernels.use_reference()


def test_reference_and_fast_functions_are_the_ones_run():
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert type(mg.functional.layer_norm(x, 4).grad_fn).__name__ == "LayerNormFast"
    with mg.kernels.reference_kernels():
        assert type(mg.functional.layer_norm(x, 4).grad_fn).__name__ == "LayerNorm"


@pytest.mark.parametrize("n,block", [(0, 4), (1, 4), (10, 3), (10, 1), (7, 100)])
def test_parallel_for_covers_the_range_in_order(monkeypatch, n, block):
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "3")
    out = np.zeros(n)

    def fn(lo, hi):
        out[lo:hi] += 1
        return (lo, hi)

    bounds = threads.parallel_for(fn, n, block)
    assert (out == 1).all()
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


def test_parallel_for_raises_a_blocks_error_and_runs_nested_calls_inline(monkeypatch):
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")

    def bad(lo, hi):
        if lo >= 4:
            raise ValueError("block failed")
        return hi - lo

    with pytest.raises(ValueError, match="block failed"):
        threads.parallel_for(bad, 8, 2)
    inner = threads.parallel_for(lambda lo, hi: sum(threads.parallel_for(lambda a, b: b - a, 6, 2)), 4, 1)
    assert inner == [6, 6, 6, 6]


def test_num_workers_follows_the_environment(monkeypatch):
    for name in ("MINIGRAD_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.num_workers() == 1
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "3")
    assert threads.num_workers() == 3


def test_blas_threads_restores_the_setting():
    lib = threads._blas_lib()
    if lib.set is None:
        pytest.skip("no controllable OpenBLAS in this NumPy")
    before = lib.get()
    with threads.blas_threads(1):
        assert lib.get() == 1
    assert lib.get() == before
    assert "architecture" in threads.blas_info()


@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 3)), ((7,), (7, 3)), ((5, 7), (7,)), ((2, 5, 7), (7, 3)),
                                   ((2, 1, 5, 7), (3, 7, 4)), ((64, 96), (96, 80))])
def test_matmul_policy_gives_numpys_product(monkeypatch, sa, sb):
    # thresholds patched tiny, so that every branch (one thread, rows split over the pool) runs
    monkeypatch.setattr(threads, "_OPENBLAS_ONE_THREAD_MNK", 0)
    monkeypatch.setattr(threads, "SMALL_GEMM_FLOPS", 1000)
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    np.testing.assert_allclose(threads.matmul(a, b), a @ b, rtol=1e-12, atol=1e-12)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    r = threads.matmul(a32, b32)
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, a32 @ b32, rtol=1e-5, atol=1e-5)


def test_machine_busy_is_a_cached_bool(monkeypatch):
    monkeypatch.undo()
    assert threads.machine_busy() in (True, False)
    assert threads.machine_busy() is threads._busy[1]


@pytest.mark.parametrize("workers", ["1", "2", "3"])
@pytest.mark.parametrize("N,oh,ow,row_bytes,whole", [
    (0, 4, 4, 64, False), (1, 1, 1, 64, False), (5, 7, 3, 1 << 20, False), (3, 9, 9, 1 << 18, False),
    (5, 7, 3, 1 << 20, True), (32, 8, 8, 4096, False), (2, 3, 5, 8, True),
])
def test_thread_blocks_tile_the_output_rows_evenly(monkeypatch, workers, N, oh, ow, row_bytes, whole):
    """The blocks cover every output row (n, p) once, in order; each is whole images or rows of
    one image; whole_images never cuts an image; their sizes differ by at most one unit."""
    from minigrad.kernels import gemm

    monkeypatch.setenv("MINIGRAD_NUM_THREADS", workers)
    parts = gemm.thread_blocks(N, oh, ow, row_bytes, np, whole_images=whole)
    rows = []
    for n0, n1, p0, p1 in parts:
        assert n1 > n0 or N == 0
        if n1 - n0 > 1 or whole:
            assert (p0, p1) == (0, oh)
        rows += [(n, p) for n in range(n0, n1) for p in range(p0, p1)]
    assert rows == [(n, p) for n in range(N) for p in range(oh)]
    if N:
        sizes = [(n1 - n0) * (p1 - p0) for n0, n1, p0, p1 in parts]
        unit = oh if (whole or len(parts) <= N) else 1
        assert max(sizes) - min(sizes) <= unit
        if int(workers) > 1 and N * (1 if whole else oh) >= 2 * int(workers):
            assert len(parts) >= 2 * int(workers) or len(parts) == N * (1 if whole else oh)


@pytest.mark.parametrize("accumulate", [False, True])
def test_pipeline_runs_every_part_on_the_pool_with_one_blas_thread(monkeypatch, accumulate):
    from minigrad.kernels import gemm

    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    parts = [(i,) for i in range(7)]
    seen, names = [], set()

    def run(i):
        seen.append(i)
        names.add(threading.current_thread().name)
        if len(seen) <= len(parts) and threading.current_thread() is threading.main_thread():
            lib = threads._blas_lib()
            if lib.get is not None:
                assert lib.get() == 1  # the policy holds for the whole pipeline
        return np.full(3, float(i))

    total = gemm.pipeline(parts, run, accumulate=accumulate)
    assert sorted(seen) == list(range(7))
    assert all(n == "MainThread" or n.startswith("minigrad") for n in names)
    if accumulate:
        np.testing.assert_array_equal(total, np.full(3, 21.0))
    else:
        assert total is None
    assert gemm.pipeline([(5,)], run, accumulate=accumulate)[0] == 5.0  # one part: run as it is


@pytest.mark.parametrize("shape", [(), (1, 5), (7, 3, 2), (0, 4)])
def test_each_block_covers_the_first_axis_once(monkeypatch, shape):
    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "3")
    monkeypatch.setattr(threads, "SPLIT_BYTES", 1)
    a = np.zeros(shape)
    calls = []

    def fn(i):
        calls.append(i)
        a[i] += 1

    threads.each_block(fn, a)
    assert (a == 1).all()
    if len(shape) and shape[0] >= 2:
        assert len(calls) == 3 and all(isinstance(i, slice) for i in calls)
    else:
        assert calls == [...]


def test_split_elementwise_passes_match_numpy(monkeypatch):
    """ReLU (forward, backward with inf/nan arriving at dead units), Add and max-pool split over the
    pool give NumPy's results (the split threshold patched small)."""
    import minigrad.functional as F

    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    monkeypatch.setattr(threads, "SPLIT_BYTES", 1)
    x = np.random.default_rng(0).standard_normal((5, 3, 6, 6))
    gy = np.random.default_rng(1).standard_normal(x.shape)
    gy[x < -1] = np.inf
    gy[0, 0, 0, :] = np.nan
    X = mg.tensor(x, requires_grad=True)
    y = F.relu(X)
    y.backward(mg.tensor(gy))
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))
    with np.errstate(invalid="ignore"):
        expect = np.where(x > 0, gy, 0.0)
    np.testing.assert_array_equal(X.grad.numpy(), expect)
    np.testing.assert_array_equal((X + X).numpy(), x + x)
    p = F.max_pool2d(mg.tensor(x), 2)
    np.testing.assert_array_equal(p.numpy(), x.reshape(5, 3, 3, 2, 3, 2).max(axis=(3, 5)))


@pytest.mark.parametrize("offset", [0.3, 40.0])  # 40: the two-pass (x - mean) path
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_split_over_the_pool_matches_the_reference(monkeypatch, offset, training):
    """BatchNorm's fast passes split over the samples (partial channel sums per block) agree with
    the reference Function, forward and all three gradients, and pass gradcheck."""
    import minigrad.functional as F
    from minigrad import gradcheck
    from minigrad.ops import norm

    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    monkeypatch.setattr(threads, "SPLIT_BYTES", 1)
    monkeypatch.setattr(norm, "_BN_SPLIT_BYTES", 1)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 3, 4, 2)) * 2 + offset
    w, b, gy = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal(x.shape)
    rm, rv = np.zeros(3) + offset, np.ones(3) * 3

    def run(reference):
        with mg.kernels.reference_kernels(reference):
            X, W, B = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
            y = F.batch_norm(X, mg.tensor(rm.copy()), mg.tensor(rv.copy()), W, B, training=training)
            y.backward(mg.tensor(gy))
            return y.numpy(), X.grad.numpy(), W.grad.numpy(), B.grad.numpy()

    for fast, ref in zip(run(False), run(True)):
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-9)
    args = tuple(mg.tensor(a, requires_grad=True) for a in (x, w, b))
    assert gradcheck(lambda X, W, B: F.batch_norm(X, None, None, W, B, training=True), args)


@pytest.mark.parametrize("shape,dtype", [((3, 8, 32, 32), np.float32), ((3, 16, 16, 16), np.float64),
                                         ((2, 3, 5, 7), np.float32), ((0, 8, 32, 32), np.float32)])
@pytest.mark.parametrize("split", [False, True])
def test_copy_to_channels_last_is_the_transposed_copy(monkeypatch, shape, dtype, split):
    """Into a padded buffer's inside and into a plain array; 32x32 float32 planes (a 4 KiB channel
    stride) take the scratch route; a strided source too."""
    from minigrad.kernels import layout

    monkeypatch.setenv("MINIGRAD_NUM_THREADS", "2")
    if split:
        monkeypatch.setattr(threads, "SPLIT_BYTES", 1)
    src = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    N, C, H, W = shape
    dst = np.full((N, H + 2, W + 3, C), -1.0, dtype)
    layout.copy_to_channels_last(dst[:, 1:1 + H, 2:2 + W], src)
    np.testing.assert_array_equal(dst[:, 1:1 + H, 2:2 + W], src.transpose(0, 2, 3, 1))
    assert (dst[:, 0] == -1).all() and (dst[:, :, :2] == -1).all()
    np.testing.assert_array_equal(layout.nhwc(src), src.transpose(0, 2, 3, 1))
    wide = np.zeros((N, C, H, 2 * W), dtype)
    wide[..., ::2] = src
    np.testing.assert_array_equal(layout.nhwc(wide[..., ::2]), src.transpose(0, 2, 3, 1))
