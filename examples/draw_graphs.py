"""Draw the graphs minigrad records: what a forward pass builds, and how its backward runs.

    python3 examples/draw_graphs.py                      # into runs/graphs/, as .svg and .png
    python3 examples/draw_graphs.py --out graphs --format svg

Writes:
- neuron:         micrograd's neuron tanh(x1*w1 + x2*w2 + b), each node with its value and gradient;
- mlp_forward:    a two-layer MLP with its loss: ops, parameters, tensor shapes, module boxes;
- mlp_backward:   the same graph seen by backward: each op's backward, the arrays it saved in the
                  forward and reads now (yellow), the gradients flowing to the parameters (red);
- basicblock:     one ResNet BasicBlock with BatchNorm (its running statistics are grey buffers);
- resnet18_224:   the seed's diagram: torchvision's ResNet18 on a 1x3x224x224 image, stage by stage
                  (64x112x112 -> 64x56x56 -> 128x28x28 -> 256x14x14 -> 512x7x7 -> 1000), each
                  stage with its parameter count (also ``python -m minigrad.viz resnet18``);
- resnet18_224.html: the same as an interactive page: click a stage to open its blocks;
- resnet18:       ResNet18 (small_input) grouped by modules, named as in torchvision (layer1.0.bn1, ...);
- resnet18_blocks: the same with each BasicBlock folded into one box naming its convs and shortcut.

Open the .svg files in a browser: hovering over an op shows its forward and backward formulas.
Needs Graphviz's ``dot`` for .svg/.png (``apt-get install graphviz``); ``--format dot`` works without it.
"""
import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad  # noqa: E402
import minigrad.functional as F  # noqa: E402
import nn  # noqa: E402
from minigrad import viz  # noqa: E402
import minigrad.viz.models  # noqa: E402,F401


def save(drawing, name, args):
    for fmt in args.format.split(","):
        path = viz.render(drawing, path=os.path.join(args.out, f"{name}.{fmt}"))
        print("wrote", path)


def draw_neuron(args):
    # built in minigrad/viz/models.py: scalars named x1, w1, ..., the tensors between ops kept
    # alive and retain_grad()-ed (a drawing shows values only of tensors still held), one backward
    drawing = viz.models.neuron()
    save(viz.to_dot(*drawing.outputs, title="o = tanh(x1*w1 + x2*w2 + b)", **drawing.options), "neuron", args)


def draw_mlp(args):
    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = minigrad.randn(5, 4)
    x.name = "x"
    target = minigrad.tensor(np.array([0, 2, 1, 1, 0]))
    target.name = "target"
    loss = F.cross_entropy(model(x), target)
    loss.name = "loss"
    save(viz.to_dot(loss, group_modules=True, title="two-layer MLP: forward"), "mlp_forward", args)
    loss.backward(retain_graph=True)  # retain: the saved arrays stay to be drawn; grads get annotated
    save(viz.to_dot(loss, backward=True, group_modules=True, title="two-layer MLP: backward"), "mlp_backward", args)


def draw_basicblock(args):
    minigrad.manual_seed(0)
    block = nn.models.BasicBlock(16, 16)
    x = minigrad.randn(2, 16, 8, 8)
    x.name = "x"
    save(viz.to_dot(block(x), group_modules=True, title="BasicBlock(16, 16)"), "basicblock", args)


def draw_resnet18_224(args):
    drawing = viz.models.resnet18()  # torchvision's stem, 1x3x224x224, stages folded (collapse_depth=1)
    save(viz.to_dot(*drawing.outputs, title=drawing.title, **drawing.options), "resnet18_224", args)
    if viz.find_dot() is not None:  # the page's drawings are laid out by Graphviz's dot
        path = viz.render(*drawing.outputs, path=os.path.join(args.out, "resnet18_224.html"), title=drawing.title,
                          **drawing.options)
        print("wrote", path)


def draw_resnet18(args):
    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=10, small_input=True)
    image = minigrad.randn(2, 3, 8, 8)  # a batch of 2: training-mode BatchNorm needs 2 values at 1x1
    image.name = "image"
    logits = model(image)
    logits.name = "logits"
    title = "ResNet18 (small_input=True) on 2 images of 3x8x8"
    save(viz.to_dot(logits, group_modules=True, title=title), "resnet18", args)
    save(viz.to_dot(logits, group_modules=True, collapse_depth=2, title=title), "resnet18_blocks", args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join("runs", "graphs"), help="output folder")
    parser.add_argument("--format", default="svg,png", help="comma-separated: dot, svg, png, pdf")
    args = parser.parse_args()
    for draw in (draw_neuron, draw_mlp, draw_basicblock, draw_resnet18_224, draw_resnet18):
        draw(args)


if __name__ == "__main__":
    main()
