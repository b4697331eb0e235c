"""``python -m minigrad.viz MODEL --out FILE``: draw a model's graph without writing code.

    python -m minigrad.viz resnet18 --out resnet18.svg               # grouped by modules
    python -m minigrad.viz resnet18 --out blocks.svg --collapse 2    # one box per BasicBlock
    python -m minigrad.viz mlp --out mlp_backward.svg --backward --grads
    python -m minigrad.viz neuron --out neuron.png                   # micrograd-style values

The extension of ``--out`` picks the format: .dot/.gv (no Graphviz needed), .svg, .png, .pdf.
"""
import argparse
import sys

from . import dot as D
from .models import MODELS


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minigrad.viz", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(MODELS), help="what to draw")
    parser.add_argument("--out", help="output file: .dot, .gv, .svg, .png or .pdf (default MODEL.svg)")
    parser.add_argument("--backward", action="store_true", help="draw the gradient graph (backward ops, saved arrays)")
    parser.add_argument("--grads", action="store_true", help="run a backward first; annotate gradient norms")
    parser.add_argument("--collapse", type=int, metavar="DEPTH",
                        help="fold each module call at this depth into one node (1: layer1, 2: layer1.0)")
    parser.add_argument("--ops-only", action="store_true", help="hide the tensors between ops (shapes on edges)")
    parser.add_argument("--flat", action="store_true", help="no module clusters")
    parser.add_argument("--values", action="store_true", help="micrograd-style nodes with values")
    parser.add_argument("--batch", type=int, help="batch size of the example input")
    parser.add_argument("--image-size", type=int, help="height = width of the example images")
    parser.add_argument("--rankdir", choices=["TB", "LR", "BT", "RL"], help="layout direction")
    args = parser.parse_args(argv)

    sizes = {k: v for k, v in (("batch", args.batch), ("image_size", args.image_size)) if v is not None}
    drawing = MODELS[args.model](**sizes)
    options = dict(drawing.options)
    if args.grads and not options.get("show_values"):
        out = drawing.outputs[0]
        out.backward(out._xp.ones(out.shape, dtype=out.dtype) if out.data.size != 1 else None, retain_graph=True)
    if args.flat:
        options["group_modules"] = False
    if args.values:
        options["show_values"] = True
    options.update(backward=args.backward, show_intermediates=not args.ops_only, collapse_depth=args.collapse,
                   rankdir=args.rankdir)
    path = args.out or f"{args.model}.svg"
    try:
        D.render(*drawing.outputs, path=path, **options)
    except D.GraphvizNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
