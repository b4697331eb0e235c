"""Regenerate the README's gallery, ``docs/gallery/*.png``: ``make gallery`` (or ``python docs/make_gallery.py``).

Every picture comes from a command a reader can run: the drawings from ``python -m minigrad.viz`` and
the studies from ``examples/`` at their default settings (about 2-3 minutes in all on 2 cores), written
into ``runs/gallery/``. The chosen images are then copied into ``docs/gallery/``, scaled down to at most
``width`` pixels across and reduced to a 256-colour palette, so that the committed gallery stays small
(about 0.5 MB; the script prints the total). ``PICTURES`` below is the list; the README's "Gallery"
section shows each with a caption.

Needs the ``[dev]`` extras (matplotlib brings Pillow; graphviz) and Graphviz's ``dot`` program.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")

# name -> the command that writes its images into runs/gallery/NAME (run from the repository root)
JOBS = {
    "resnet18": [sys.executable, "-m", "minigrad.viz", "resnet18", "--out", "{out}/resnet18_stages.png"],
    "backward": [sys.executable, "-m", "minigrad.viz", "mlp", "--backward", "--out", "{out}/mlp_backward.png"],
    "normalization_study": [sys.executable, "examples/normalization_study.py", "--out", "{out}"],
    "bn_vanishing_gradients": [sys.executable, "examples/bn_vanishing_gradients.py", "--out", "{out}"],
    "bn_train_eval_gap": [sys.executable, "examples/bn_train_eval_gap.py", "--out", "{out}"],
    "higher_order": None,  # drawn in-process by examples/higher_order.py's tanh_derivative_graphs
}

# (file, the job that writes it into runs/gallery/JOB, largest width in the gallery in px); the
# captions are in the README's "Gallery" section
PICTURES = [
    ("resnet18_stages.png", "resnet18", 560),
    ("mlp_backward.png", "backward", 700),
    ("norm_axes.png", "normalization_study", 900),
    ("bn_vs_gn_batch_size.png", "normalization_study", 900),
    ("bn_train_eval_gap.png", "bn_train_eval_gap", 900),
    ("bn_vanishing_gradients.png", "bn_vanishing_gradients", 900),
    ("grad_flow_pair.png", "bn_vanishing_gradients", 760),
    ("tanh_derivatives.png", "higher_order", 1000),
]


def run_jobs(names, runs):
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for name in names:
        out = os.path.join(runs, name)
        os.makedirs(out, exist_ok=True)
        start = time.time()
        if JOBS[name] is None:
            draw_tanh_derivatives(out)
        else:
            cmd = [part.format(out=out) for part in JOBS[name]]
            print("$ python", " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd[1:]),
                  flush=True)
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"  {name}: {time.time() - start:.0f} s", flush=True)


def draw_tanh_derivatives(out):
    """examples/higher_order.py's tanh graphs as PNGs, then the four side by side (top-aligned)."""
    from PIL import Image

    sys.path.insert(0, ROOT)  # this checkout's minigrad, as for the subprocesses
    spec = importlib.util.spec_from_file_location("higher_order", os.path.join(EXAMPLES, "higher_order.py"))
    higher_order = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(higher_order)
    paths = higher_order.tanh_derivative_graphs(argparse.Namespace(out=out), ext="png", legend=False,
                                                show_shapes=False)["graphs"]
    images = [Image.open(p).convert("RGB") for p in paths]
    gap = 30
    sheet = Image.new("RGB", (sum(im.width for im in images) + gap * (len(images) - 1),
                              max(im.height for im in images)), "white")
    x = 0
    for im in images:
        sheet.paste(im, (x, 0))
        x += im.width + gap
    sheet.save(os.path.join(out, "tanh_derivatives.png"))


def shrink(src, dst, width):
    """Copy ``src`` to ``dst`` at most ``width`` px wide, as a 256-colour PNG."""
    from PIL import Image

    im = Image.open(src).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(dst, optimize=True)
    return im.size


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", default=os.path.join(ROOT, "runs", "gallery"), help="where the commands write")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "gallery"), help="the gallery folder")
    p.add_argument("--only", nargs="*", choices=sorted(JOBS), help="rerun only these jobs (the others' images "
                   "must be in --runs already)")
    args = p.parse_args(argv)
    if shutil.which("dot") is None:
        sys.exit("make_gallery: Graphviz's `dot` is not installed (e.g. apt-get install graphviz)")
    run_jobs(args.only if args.only is not None else list(JOBS), args.runs)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, job, width in PICTURES:
        dst = os.path.join(args.out, name)
        w, h = shrink(os.path.join(args.runs, job, name), dst, width)
        size = os.path.getsize(dst)
        total += size
        print(f"{os.path.relpath(dst, ROOT)}: {w}x{h}, {size / 1024:.0f} KiB")
    print(f"gallery: {len(PICTURES)} images, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
