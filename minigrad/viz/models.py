"""Small models to draw from the command line (``python -m minigrad.viz NAME``) and in the examples.

Each builder returns a ``Drawing``: the tensors to draw, the ``to_dot`` options that suit them,
tensors to keep alive (a drawing shows values only of tensors still held), a title, and ``loss``: a
function giving a real scalar loss of the outputs (for ``grad_flow``; None when the output already
is one). ``nn`` is imported inside the builders: ``nn`` is built on minigrad, not the other way round.
"""
from collections import namedtuple

import numpy as np

import minigrad

Drawing = namedtuple("Drawing", ["outputs", "options", "keep", "title", "loss"], defaults=(None, None))


def _random_label_loss(num_classes, batch):
    """Cross-entropy of the logits against random labels (seeded): a real loss to start backward from."""
    def loss(logits):
        labels = minigrad.tensor(np.random.default_rng(0).integers(0, num_classes, batch))
        labels.name = "labels"
        out = minigrad.functional.cross_entropy(logits, labels)
        out.name = "loss"
        return out, labels

    return loss


def _mean_square_loss(out):
    loss = (out * out).mean()
    loss.name = "loss = mean(y^2)"
    return loss, None


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
    return Drawing([o], dict(show_values=True), [x1w1, x2w2, s, n], "o = tanh(x1*w1 + x2*w2 + b)")


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
    title = f"two-layer MLP on a {batch}x{in_features} input, cross-entropy loss"
    return Drawing([loss], dict(group_modules=True), [model, x, target], title)


def basicblock(batch=2, image_size=8, channels=16):
    """One ResNet BasicBlock (conv-bn-relu-conv-bn, plus the identity, then relu)."""
    import nn

    minigrad.manual_seed(0)
    block = nn.models.BasicBlock(channels, channels)
    x = minigrad.randn(batch, channels, image_size, image_size)
    x.name = "x"
    title = f"BasicBlock({channels}, {channels}) on a {batch}x{channels}x{image_size}x{image_size} input"
    return Drawing([block(x)], dict(group_modules=True), [block, x], title, _mean_square_loss)


def resnet18(batch=1, image_size=None, num_classes=1000, small_input=False):
    """torchvision's ResNet18 on a 1x3x224x224 image (7x7/2 stem and max-pool), drawn stage by stage.

    ``small_input=True``: the 3x3 stride-1 stem without max-pool, on a 1x3x32x32 image (CIFAR-sized).
    In training mode BatchNorm needs more than one value per channel: at batch 1 that holds down to
    layer4's 7x7 (224) or 4x4 (32) maps."""
    import nn

    minigrad.manual_seed(0)
    size = image_size or (32 if small_input else 224)
    model = nn.models.resnet18(num_classes=num_classes, small_input=small_input)
    x = minigrad.randn(batch, 3, size, size)
    x.name = "image"
    logits = model(x)
    logits.name = "logits"
    n = sum(p.numel() for p in model.parameters())
    variant = "small_input=True: 3x3 stem, no max-pool" if small_input else "torchvision"
    title = f"ResNet18 ({variant}) on a {batch}x3x{size}x{size} input: {n:,} parameters"
    return Drawing([logits], dict(group_modules=True, collapse_depth=1), [model, x], title,
                   _random_label_loss(num_classes, batch))


MODELS = {"neuron": neuron, "mlp": mlp, "basicblock": basicblock, "resnet18": resnet18}
