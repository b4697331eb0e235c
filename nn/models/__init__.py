"""Models: ResNet18 with torchvision's structure, parameter names and initialisation."""
from .resnet import *  # noqa: F401,F403  BasicBlock, ResNet, resnet18
from .resnet import __all__  # noqa: F401
