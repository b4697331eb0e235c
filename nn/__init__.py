"""nn: modules, layers, initialisation, optimizers, data loading and checkpoints on top of minigrad.

Every name mirrors PyTorch's ``torch.nn`` (see ``../shared/API.md``).
"""
from .module import *  # noqa: F401,F403  Module, Parameter
from .containers import *  # noqa: F401,F403  Sequential, ModuleList, ModuleDict
from .layers import *  # noqa: F401,F403
from .serialization import *  # noqa: F401,F403  save, load
from . import data, functional, init, models, optim, utils  # noqa: F401,E402
