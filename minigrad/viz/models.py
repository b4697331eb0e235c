"""Small models to draw from the command line (``python -m minigrad.viz NAME``) and in the examples.

Each builder returns a ``Drawing``: the tensors to draw, the ``to_dot`` options that suit them, and
tensors to keep alive (a drawing shows values only of tensors still held). ``nn`` is imported
inside the builders: ``nn`` is built on minigrad, not the other way round.
"""
from collections import namedtuple

import numpy as np

import minigrad

Drawing = namedtuple("Drawing", ["outputs", "options", "keep"])


def neuron(batch=1, image_size=None):
    """micrograd's neuron: ``o = tanh(x1*w1 + x2*w2 + b)``, on scalars, with values and gradients."""
    def scalar(v, name, grad=True):
        t = minigrad.tensor(v, requires_grad=grad)
        t.name = name
        return t

    x1, x2 = scalar(2.0, "x1", False), scalar(0.0, "x2", False)
    w1, w2, b = scalar(-3.0, "w1"), scalar(1.0, "w2"), scalar(6.8813735870195432, "b")
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    s = x1w1 + x2w2
    n = s + b
    o = n.tanh()
    for t, name in ((x1w1, "x1*w1"), (x2w2, "x2*w2"), (s, "x1*w1 + x2*w2"), (n, "n"), (o, "o")):
        t.name = name
        t.retain_grad()
    o.backward(retain_graph=True)
    return Drawing([o], dict(show_values=True), [x1w1, x2w2, s, n])


def mlp(batch=4, image_size=None, in_features=4, hidden=8, classes=3):
    """A two-layer MLP, ``Linear -> ReLU -> Linear``, with a cross-entropy loss."""
    import nn

    minigrad.manual_seed(0)
    model = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, classes))
    x = minigrad.randn(batch, in_features)
    x.name = "x"
    target = minigrad.tensor(np.arange(batch) % classes)
    target.name = "target"
    loss = minigrad.functional.cross_entropy(model(x), target)
    loss.name = "loss"
    return Drawing([loss], dict(group_modules=True), [model, x, target])


def basicblock(batch=2, image_size=8, channels=16):
    """One ResNet BasicBlock (conv-bn-relu-conv-bn, plus the identity, then relu)."""
    import nn

    minigrad.manual_seed(0)
    block = nn.models.BasicBlock(channels, channels)
    x = minigrad.randn(batch, channels, image_size, image_size)
    x.name = "x"
    return Drawing([block(x)], dict(group_modules=True), [block, x])


def resnet18(batch=2, image_size=8, num_classes=10):
    """ResNet18 for small images (``small_input=True``: 3x3 stem, no max-pool). Batch 2: in training
    mode BatchNorm needs two values per channel, and layer4 of an 8x8 image is 1x1."""
    import nn

    minigrad.manual_seed(0)
    model = nn.models.resnet18(num_classes=num_classes, small_input=True)
    x = minigrad.randn(batch, 3, image_size, image_size)
    x.name = "image"
    return Drawing([model(x)], dict(group_modules=True), [model, x])


MODELS = {"neuron": neuron, "mlp": mlp, "basicblock": basicblock, "resnet18": resnet18}
