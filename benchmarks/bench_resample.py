"""Benchmark: bilinear interpolate 2x on (8, 64, 32, 32) and roi_align of 128 boxes on a
(2, 256, 50, 50) map to 7x7 (a Faster R-CNN head at stride 16: boxes of 32-400 px in 800x800 image
coordinates, spatial_scale 1/16), forward and forward+backward, against PyTorch / torchvision.

    python3 -m benchmarks.bench_resample
"""
from benchmarks.runner import Bench, configure

torch = configure()

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import functional as F  # noqa: E402

try:
    import torchvision  # noqa: E402
except ImportError:
    torchvision = None


def _boxes(K=128, N=2, image=800, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, image - 100, (K, 2))
    wh = rng.uniform(32, 400, (K, 2))
    return np.concatenate([rng.integers(0, N, (K, 1)), xy, np.minimum(xy + wh, image - 1)], 1).astype(np.float32)


def _pair(ours_fwd, theirs_fwd):
    """fwd and fwd+bwd closures for an op ``f(x)`` on a leaf that requires grad."""
    def ours_fb():
        ours_fwd().sum().backward()

    def theirs_fb():
        theirs_fwd().sum().backward()

    return ours_fb, theirs_fb


def main():
    rng = np.random.default_rng(0)
    bench = Bench("resample: interpolate / roi_align (CPU)")

    x = rng.standard_normal((8, 64, 32, 32)).astype(np.float32)
    xm = mg.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_() if torch else None

    def ours():
        return F.interpolate(xm, scale_factor=2, mode="bilinear")

    def theirs():
        return torch.nn.functional.interpolate(xt, scale_factor=2, mode="bilinear")

    with mg.no_grad():
        bench.add("interpolate bilinear 2x (8,64,32,32) fwd", ours, _no_grad(theirs) if torch else None)
    fb, tfb = _pair(ours, theirs)
    bench.add("interpolate bilinear 2x (8,64,32,32) fwd+bwd", fb, tfb if torch else None)

    def ours_n():
        return F.interpolate(xm, scale_factor=2, mode="nearest")

    def theirs_n():
        return torch.nn.functional.interpolate(xt, scale_factor=2, mode="nearest")

    fb, tfb = _pair(ours_n, theirs_n)
    bench.add("interpolate nearest 2x (8,64,32,32) fwd+bwd", fb, tfb if torch else None)

    feat = rng.standard_normal((2, 256, 50, 50)).astype(np.float32)
    boxes = _boxes()
    fm = mg.tensor(feat, requires_grad=True)
    bm = mg.tensor(boxes)
    tv = torchvision is not None and torch is not None
    ft = torch.from_numpy(feat).requires_grad_() if tv else None
    bt = torch.from_numpy(boxes) if tv else None
    for sr in (2, -1):
        def ours_r(sr=sr):
            return F.roi_align(fm, bm, 7, spatial_scale=1 / 16, sampling_ratio=sr)

        def theirs_r(sr=sr):
            return torchvision.ops.roi_align(ft, bt, 7, spatial_scale=1 / 16, sampling_ratio=sr)

        with mg.no_grad():
            bench.add(f"roi_align 128 boxes 7x7 sr={sr} fwd", ours_r, _no_grad(theirs_r) if tv else None)
        fb, tfb = _pair(ours_r, theirs_r)
        bench.add(f"roi_align 128 boxes 7x7 sr={sr} fwd+bwd", fb, tfb if tv else None)

    def ours_p():
        return F.roi_pool(fm, bm, 7, spatial_scale=1 / 16)

    def theirs_p():
        return torchvision.ops.roi_pool(ft, bt, 7, spatial_scale=1 / 16)

    fb, tfb = _pair(ours_p, theirs_p)
    bench.add("roi_pool 128 boxes 7x7 fwd+bwd", fb, tfb if tv else None)
    bench.report()


def _no_grad(fn):
    def run():
        with torch.no_grad():
            return fn()

    return run


if __name__ == "__main__":
    main()
