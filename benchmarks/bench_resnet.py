"""ResNet18: minigrad against PyTorch/torchvision on the CPU (2 threads), time and peak memory.

    python3 -m benchmarks.bench_resnet                 # timings and memory
    python3 -m benchmarks.bench_resnet --profile       # + cProfile of minigrad's 32x32 training step
    python3 -m benchmarks.bench_resnet --solo          # each library in its own process, alternately
    python3 -m benchmarks resnet --solo --rounds 7     # the same through the benchmarks runner

Cases (the same architecture on both sides: torchvision's resnet18, with the stem swapped to a 3x3
stride-1 conv and no max-pool where minigrad uses ``small_input=True``):
- training step at 32x32, batch 32 (small_input, 10 classes): forward, cross-entropy, backward,
  SGD step (momentum 0.9, weight decay 5e-4);
- training step at 8x8, batch 64, 1 input channel (the digits example's step);
- eval forward at 224x224, batch 8 (the ImageNet stem, 1000 classes, no_grad).

In-process mode times both libraries interleaved in one process (their thread pools disturb each
other). ``--solo`` runs each workload in a fresh process per library and round, alternating which
goes first, each process timing a few calls after a warm-up; the ratio reported is the median over
rounds of (minigrad median / PyTorch median). Every process prints its BLAS kernel and threads.

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
SOLO_CASES = {  # name: label
    "train32": "train step small_input 32x32x3 batch 32",
    "eval32": "eval forward small_input 32x32x3 batch 32",
    "train8": "train step small_input 8x8x1 batch 64",
    "eval224": "eval forward 224x224 batch 8",
}


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


def ours_eval(batch=8, size=224, small_input=False):
    import numpy as np

    import minigrad
    import nn

    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=10 if small_input else 1000, small_input=small_input)
    model.eval()
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(batch, 3, size, size)).astype(np.float32))

    def forward():
        with minigrad.no_grad():
            model(x)

    return forward


def theirs_eval(torch, batch=8, size=224, small_input=False):
    import torchvision

    model = torchvision.models.resnet18(num_classes=10 if small_input else 1000)
    if small_input:
        model.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = torch.nn.Identity()
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


def _workload(framework, case):
    torch = None
    if framework == "torch":
        import torch

        torch.set_num_threads(2)
    if case.startswith("train"):
        size, batch, channels = STEP_CASES[case]
        if torch is None:
            return ours_train_step(size, batch, channels), None
        return theirs_train_step(torch, size, batch, channels), torch
    kw = dict(batch=32, size=32, small_input=True) if case == "eval32" else {}
    return (ours_eval(**kw), None) if torch is None else (theirs_eval(torch, **kw), torch)


def solo_child(framework, case, repeat, warmup=2):
    """In a fresh process: time ``repeat`` calls of one workload after ``warmup``; peak RSS growth."""
    import statistics
    import time

    from benchmarks.runner import blas_info

    _threads_env()  # (not runner.configure: that imports torch, which the minigrad process must not load)
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    fn, torch = _workload(framework, case)
    base = _proc_status("VmRSS")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return dict(framework=framework, case=case, ms=statistics.median(times) * 1e3,
                step_peak=_proc_status("VmHWM") - base, blas=blas_info(torch))


def _run_child(framework, case, repeat):
    cmd = [sys.executable, "-m", "benchmarks.bench_resnet", "--solo-child", framework, "--case", case,
           "--repeat", str(repeat)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    if out.returncode:
        raise RuntimeError(f"{framework} {case} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def solo(cases, rounds, repeat):
    """Each (case, library) in its own process, libraries alternating; medians of per-round ratios."""
    import statistics

    from benchmarks.runner import load

    print(f"\n== ResNet18, separate processes, {rounds} rounds x {repeat} timed calls, 2 threads, "
          f"load {load():.2f} at start ==", flush=True)
    shown = set()
    results = {}
    for case in cases:
        ratios, ours, theirs = [], [], []
        for r in range(rounds):
            order = ("minigrad", "torch") if r % 2 == 0 else ("torch", "minigrad")
            got = {fw: _run_child(fw, case, repeat) for fw in order}
            for fw, g in got.items():
                if fw not in shown:
                    print(f"  {fw:8s} {g['blas']}")
                    shown.add(fw)
            ours.append(got["minigrad"]["ms"])
            theirs.append(got["torch"]["ms"])
            ratios.append(got["minigrad"]["ms"] / got["torch"]["ms"])
            mem = (got["minigrad"]["step_peak"], got["torch"]["step_peak"])
        row = dict(ours_ms=statistics.median(ours), torch_ms=statistics.median(theirs),
                   ratio=statistics.median(ratios), ratios=ratios, mem=mem)
        results[case] = row
        print(f"{SOLO_CASES[case]:44s} minigrad {row['ours_ms']:8.1f} ms  torch {row['torch_ms']:8.1f} ms  "
              f"ratio {row['ratio']:.2f} (rounds: {' '.join(f'{x:.2f}' for x in ratios)})", flush=True)
        if case.startswith("train"):
            print(f"{'':44s} peak RSS growth: minigrad {mem[0] / 2**20:.0f} MiB, torch {mem[1] / 2**20:.0f} MiB, "
                  f"ratio {mem[0] / max(mem[1], 1):.2f}")
    print(f"load {load():.2f} at end")
    return results


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
    p.add_argument("--solo", action="store_true", help="each library in its own process, run alternately")
    p.add_argument("--rounds", type=int, default=5, help="--solo: processes per library and case")
    p.add_argument("--cases", default="train32,eval32,train8,eval224", help="--solo: which cases")
    p.add_argument("--memory-child", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--solo-child", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--case", default="train32", help=argparse.SUPPRESS)
    args, _ = p.parse_known_args(argv)  # the benchmarks runner passes every flag to every script
    if args.memory_child:
        print(json.dumps(measure_memory(args.memory_child, args.case)))
        return None
    if args.solo_child:
        print(json.dumps(solo_child(args.solo_child, args.case, args.repeat)))
        return None
    if args.solo:
        import importlib.util

        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
            print("resnet --solo: PyTorch and torchvision are not installed for this Python; nothing to compare")
            return None
        return solo(args.cases.split(","), args.rounds, args.repeat)

    from benchmarks.runner import Bench, blas_info, configure, load

    torch = configure()
    bench = Bench("ResNet18 (torchvision structure), CPU, 2 threads", warmup=1, repeat=args.repeat)
    for name, (size, batch, channels) in (("train32", STEP_CASES["train32"]), ("train8", STEP_CASES["train8"])):
        label = f"train step small_input {size}x{size}x{channels} batch {batch}"
        bench.add(label, ours=ours_train_step(size, batch, channels),
                  theirs=theirs_train_step(torch, size, batch, channels) if torch else None)
    small = dict(batch=32, size=32, small_input=True)
    bench.add("eval forward small_input 32x32x3 batch 32", ours=ours_eval(**small),
              theirs=theirs_eval(torch, **small) if torch else None)
    bench.add("eval forward 224x224 batch 8", ours=ours_eval(), theirs=theirs_eval(torch) if torch else None)
    rows = bench.report()
    print(blas_info(torch), f"| load {load():.2f}")

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
