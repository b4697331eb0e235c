"""``nn.functional`` is ``minigrad.functional`` (as ``torch.nn.functional``): the same module object,
so ``import minigrad.nn.functional as F`` and ``from minigrad import functional as F`` agree."""
import sys

from minigrad import functional

sys.modules[__name__] = functional
