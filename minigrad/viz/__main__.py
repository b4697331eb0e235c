"""``python -m minigrad.viz MODEL --out FILE``: draw a model's graph without writing code.

    python -m minigrad.viz resnet18 --out resnet18.svg             # torchvision's, 1x3x224x224, stage by stage
    python -m minigrad.viz resnet18 --out blocks.svg --depth 2     # one box per BasicBlock
    python -m minigrad.viz resnet18 --out resnet18.html            # interactive: click a stage to open it
    python -m minigrad.viz resnet18 --small-input --out r18_32.svg # 3x3 stem on 1x3x32x32
    python -m minigrad.viz resnet18 --grads --out flow.svg         # gradient norms from a real loss
    python -m minigrad.viz mlp --out mlp_backward.svg --backward   # saved arrays, gradients
    python -m minigrad.viz neuron --out neuron.png                 # micrograd-style values

The extension of ``--out`` picks the format: .dot/.gv (no Graphviz needed), .svg, .png, .pdf, .html.
"""
import argparse
import sys

from . import dot as D
from .models import MODELS


def _depth(text):
    if text == "ops":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0 or 'ops', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0 or 'ops', got {text!r}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minigrad.viz", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=sorted(MODELS), help="what to draw")
    parser.add_argument("--out", help="output file: .dot, .gv, .svg, .png, .pdf or .html (default: MODEL.svg)")
    parser.add_argument("--depth", "--collapse", type=_depth, metavar="N",
                        help="open module calls down to depth N, fold deeper ones into one box each (0: the "
                             "model, 1: stages such as layer1, 2: blocks such as layer1.0, 3: layers); 'ops': every "
                             "op (default: 1 for resnet18, ops for the others)")
    parser.add_argument("--small-input", action="store_true",
                        help="resnet18 only: the 3x3 stride-1 stem without max-pool, on a 1x3x32x32 image")
    parser.add_argument("--backward", action="store_true",
                        help="draw the gradient graph: backward ops, the arrays saved for them, their bytes")
    parser.add_argument("--grads", action="store_true",
                        help="gradient flow: backward from a real scalar loss (cross-entropy on random labels for "
                             "resnet18); every tensor shows ||d loss / d t||, colours on a log scale")
    parser.add_argument("--ops-only", action="store_true", help="hide the tensors between ops (shapes on edges)")
    parser.add_argument("--flat", action="store_true", help="no module clusters")
    parser.add_argument("--values", action="store_true", help="micrograd-style nodes with values")
    parser.add_argument("--no-legend", action="store_true", help="leave out the legend")
    parser.add_argument("--batch", type=int, help="batch size of the example input (default: the model's)")
    parser.add_argument("--image-size", type=int, help="height = width of the example images (default: the model's)")
    parser.add_argument("--rankdir", choices=["TB", "LR", "BT", "RL"], help="layout direction (default: TB)")
    args = parser.parse_args(argv)
    if args.small_input and args.model != "resnet18":
        parser.error("--small-input applies to resnet18 only")

    sizes = {k: v for k, v in (("batch", args.batch), ("image_size", args.image_size)) if v is not None}
    if args.small_input:
        sizes["small_input"] = True
    drawing = MODELS[args.model](**sizes)
    options = dict(drawing.options)
    outputs = list(drawing.outputs)
    keep = []
    if args.grads and not options.get("show_values"):
        if drawing.loss is not None:
            loss, labels = drawing.loss(outputs[0])
            keep.append(labels)
            outputs = [loss]
        options["grad_flow"] = True
        title = f"{drawing.title}; gradient flow from {outputs[0].name or 'the loss'}"
    else:
        title = drawing.title
    if args.depth is not None:
        options["collapse_depth"] = None if args.depth == "ops" else args.depth
    if args.flat:
        options["group_modules"] = False
    if args.values:
        options["show_values"] = True
    options.update(backward=args.backward, show_intermediates=not args.ops_only, rankdir=args.rankdir,
                   legend=not args.no_legend, title=title)
    path = args.out or f"{args.model}.svg"
    try:
        D.render(*outputs, path=path, **options)
    except (D.GraphvizNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
