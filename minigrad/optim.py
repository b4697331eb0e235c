"""``minigrad.optim`` is ``nn.optim`` (as ``torch.optim``); ``minigrad.optim.lr_scheduler`` is
``nn.optim.lr_scheduler``. Same module objects, registered under both names (see ``minigrad/nn.py``)."""
import nn.optim as _optim

from ._alias import alias_package

alias_package(__name__, _optim)
