"""ResNet18: minigrad against PyTorch/torchvision on the CPU (2 threads), time and peak memory.

    python3 -m benchmarks.bench_resnet                 # timings and memory
    python3 -m benchmarks.bench_resnet --profile       # + cProfile of minigrad's 32x32 training step

Cases (the same architecture on both sides: torchvision's resnet18, with the stem swapped to a 3x3
stride-1 conv and no max-pool where minigrad uses ``small_input=True``):
- training step at 32x32, batch 32 (small_input, 10 classes): forward, cross-entropy, backward,
  SGD step (momentum 0.9, weight decay 5e-4);
- training step at 8x8, batch 64, 1 input channel (the digits example's step);
- eval forward at 224x224, batch 8 (the ImageNet stem, 1000 classes, no_grad).

Peak memory of the 32x32 training step is measured in a fresh subprocess per framework (so neither
sees the other's allocations): the process's peak resident set size (``VmHWM``) minus its
resident size just before the first step (model, optimizer and data already built), i.e. what the
step itself adds at its high point: activations kept for backward, gradients, optimizer state and
temporaries. For minigrad, tracemalloc's peak of NumPy allocations during the steps is printed too.
"""
import argparse
import json
import os
import subprocess
import sys

STEP_CASES = {"train32": (32, 32, 3), "train8": (8, 64, 1)}  # name: (image size, batch, channels)


def _threads_env(threads=2):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))


def ours_train_step(size, batch, channels, seed=0):
    import numpy as np

    import minigrad
    import minigrad.functional as F
    import nn

    minigrad.manual_seed(seed)
    model = nn.models.resnet18(num_classes=10, in_channels=channels, small_input=True)
    model.train()
    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rng = np.random.default_rng(seed)
    x = minigrad.tensor(rng.normal(size=(batch, channels, size, size)).astype(np.float32))
    y = minigrad.tensor(rng.integers(0, 10, size=batch))

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def theirs_train_step(torch, size, batch, channels, seed=0):
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = torch.nn.Identity()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, channels, size, size)
    y = torch.randint(0, 10, (batch,))

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def ours_eval(batch=8, size=224):
    import numpy as np

    import minigrad
    import nn

    minigrad.manual_seed(0)
    model = nn.models.resnet18()
    model.eval()
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32))

    def forward():
        with minigrad.no_grad():
            model(x)

    return forward


def theirs_eval(torch, batch=8, size=224):
    import torchvision

    model = torchvision.models.resnet18()
    model.eval()
    x = torch.randn(batch, 3, size, size)

    def forward():
        with torch.no_grad():
            model(x)

    return forward


def _proc_status(field):
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, in bytes. Not
    ``ru_maxrss``: Linux carries that over from the parent across fork+exec."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(framework, case="train32", steps=2):
    """Run in a fresh process: peak RSS added by ``steps`` training steps (bytes), as JSON."""
    _threads_env()
    size, batch, channels = STEP_CASES[case]
    if framework == "minigrad":
        import tracemalloc

        step = ours_train_step(size, batch, channels)
        base = _proc_status("VmRSS")
        tracemalloc.start()
        for _ in range(steps):
            step()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    else:
        import torch

        torch.set_num_threads(2)
        step = theirs_train_step(torch, size, batch, channels)
        base = _proc_status("VmRSS")
        for _ in range(steps):
            step()
        traced = None
    peak = _proc_status("VmHWM")
    return dict(framework=framework, case=case, base=base, peak=peak, step_peak=peak - base, traced=traced)


def memory_in_subprocess(framework, case):
    cmd = [sys.executable, "-m", "benchmarks.bench_resnet", "--memory-child", framework, "--case", case]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile_step(top=20):
    import cProfile
    import pstats

    step = ours_train_step(*STEP_CASES["train32"])
    step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(3):
        step()
    prof.disable()
    print("\n== cProfile: minigrad ResNet18 training step, 32x32 batch 32 (3 steps), by own time ==")
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--memory-child", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--case", default="train32", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child:
        print(json.dumps(measure_memory(args.memory_child, args.case)))
        return None

    from benchmarks.runner import Bench, configure

    torch = configure()
    bench = Bench("ResNet18 (torchvision structure), CPU, 2 threads", warmup=1, repeat=args.repeat)
    for name, (size, batch, channels) in (("train32", STEP_CASES["train32"]), ("train8", STEP_CASES["train8"])):
        label = f"train step small_input {size}x{size}x{channels} batch {batch}"
        bench.add(label, ours=ours_train_step(size, batch, channels),
                  theirs=theirs_train_step(torch, size, batch, channels) if torch else None)
    bench.add("eval forward 224x224 batch 8", ours=ours_eval(), theirs=theirs_eval(torch) if torch else None)
    rows = bench.report()

    if not args.no_memory:
        print("\n== peak memory added by the training step (32x32 batch 32), separate processes ==")
        mem = {fw: memory_in_subprocess(fw, "train32") for fw in (["minigrad", "torch"] if torch else ["minigrad"])}
        for fw, m in mem.items():
            extra = f", tracemalloc peak {m['traced'] / 2**20:.0f} MiB" if m["traced"] is not None else ""
            print(f"{fw:9s} step peak {m['step_peak'] / 2**20:7.0f} MiB (RSS before {m['base'] / 2**20:.0f} MiB, "
                  f"peak RSS {m['peak'] / 2**20:.0f} MiB{extra})")
        if "torch" in mem:
            print(f"memory ratio (minigrad / PyTorch): {mem['minigrad']['step_peak'] / mem['torch']['step_peak']:.2f}")
    if args.profile:
        profile_step()
    return rows


if __name__ == "__main__":
    main()
