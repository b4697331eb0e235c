"""Optimizer steps on a ResNet18-sized parameter list (62 tensors, 11.7M floats) against torch.optim.

    python -m benchmarks.bench_optim

PyTorch runs its default CPU implementation (one tensor at a time; ``foreach`` is off on CPU) and,
for reference, ``foreach=True``.
"""
from benchmarks.runner import Bench, configure

torch = configure()

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import nn  # noqa: E402


def resnet18_shapes(num_classes=1000):
    """Parameter shapes of torchvision's resnet18, in its order."""
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        for block in range(2):
            s = stride if block == 0 else 1
            shapes += [(cout, cin, 3, 3), (cout,), (cout,), (cout, cout, 3, 3), (cout,), (cout,)]
            if block == 0 and (s != 1 or cin != cout):
                shapes += [(cout, cin, 1, 1), (cout,), (cout,)]
            cin = cout
    return shapes + [(num_classes, 512), (num_classes,)]


def main():
    shapes = resnet18_shapes()
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in shapes]
    n = sum(v.size for v in values)
    bench = Bench(f"optimizer step, ResNet18 parameters ({len(shapes)} tensors, {n / 1e6:.1f}M floats)", repeat=9)

    cases = [
        ("SGD momentum=0.9 wd=5e-4", nn.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=5e-4)),
        ("SGD nesterov wd=5e-4", nn.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)),
        ("SGD plain", nn.optim.SGD, dict(lr=0.1)),
        ("Adam", nn.optim.Adam, dict(lr=1e-3)),
        ("Adam wd=1e-4", nn.optim.Adam, dict(lr=1e-3, weight_decay=1e-4)),
        ("AdamW", nn.optim.AdamW, dict(lr=1e-3)),
    ]
    for name, cls, kw in cases:
        params = [nn.Parameter(mg.tensor(v)) for v in values]
        for p, g in zip(params, grads):
            p.grad = mg.Tensor(g)
        opt = cls(params, **kw)
        theirs = theirs_foreach = None
        if torch:
            tparams = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
            for p, g in zip(tparams, grads):
                p.grad = torch.from_numpy(g)
            topt = getattr(torch.optim, cls.__name__)(tparams, **kw)
            theirs = topt.step
            tparams2 = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
            for p, g in zip(tparams2, grads):
                p.grad = torch.from_numpy(g)
            topt2 = getattr(torch.optim, cls.__name__)(tparams2, foreach=True, **kw)
            theirs_foreach = topt2.step
        bench.add(name, opt.step, theirs)
        if torch:
            bench.add(name + " (torch foreach)", opt.step, theirs_foreach)
        assert all(p.dtype == np.float32 for p in params)
    bench.report()


if __name__ == "__main__":
    main()
