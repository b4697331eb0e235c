"""``minigrad.nn`` is the ``nn`` package (``from minigrad import nn`` works like ``from torch import nn``).

This module replaces itself in ``sys.modules`` with ``nn``, and registers ``nn``'s submodules under
``minigrad.nn.*`` too, so ``import minigrad.nn.functional as F`` or ``from minigrad.nn.data import
DataLoader`` give the very same module objects (one ``Linear`` class, not two)."""
import nn as _nn

from ._alias import alias_package

alias_package(__name__, _nn)
