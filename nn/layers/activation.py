"""Activation layers, softmax, dropout and cosine similarity: thin modules over ``minigrad.functional``."""
import warnings

from minigrad import functional as F

from ..module import Module

__all__ = ["ReLU", "LeakyReLU", "GELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout", "CosineSimilarity",
           "Dropout2d", "SiLU", "Softplus", "ELU"]


class ReLU(Module):
    """y = max(x, 0). ``inplace`` is kept for PyTorch compatibility (shown in the repr); the result
    is always a new tensor."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.relu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """y = x * Phi(x) (``approximate='tanh'``: the tanh formula)."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input):  # noqa: A002
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x))."""

    def forward(self, input):  # noqa: A002
        return F.sigmoid(input)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, input):  # noqa: A002
        return F.tanh(input)


def _implicit_dim(ndim, name):
    warnings.warn(
        f"{name}: implicit dimension choice has been deprecated; pass dim explicitly (e.g. {name}(dim=-1))",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1  # PyTorch's rule


class Softmax(Module):
    """y = softmax(x) along ``dim``. With ``dim=None`` PyTorch's deprecated rule picks it: dim 0 for
    0-, 1- and 3-d inputs, else dim 1 (with a warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        dim = _implicit_dim(input.ndim, "Softmax") if self.dim is None else self.dim
        return F.softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """y = log_softmax(x) along ``dim`` (``dim=None`` as in ``Softmax``)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, input):  # noqa: A002
        dim = _implicit_dim(input.ndim, "LogSoftmax") if self.dim is None else self.dim
        return F.log_softmax(input, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Dropout(Module):
    """Inverted dropout with probability ``p`` while training (``model.train()``); identity in eval mode."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.dropout(input, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class CosineSimilarity(Module):
    """y = cosine similarity of x1 and x2 along ``dim`` (norms clamped to ``eps``)."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class Dropout2d(Dropout):
    """Channel dropout: while training, zero whole channels of (N, C, H, W) input with probability ``p``
    (``F.dropout2d``); identity in eval mode."""

    def forward(self, input):  # noqa: A002
        return F.dropout2d(input, self.p, self.training)


class SiLU(Module):
    """y = x * sigmoid(x)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.silu(input)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """y = log(1 + exp(beta * x)) / beta (= x where beta * x > threshold)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):  # noqa: A002
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class ELU(Module):
    """y = x if x > 0 else alpha * (exp(x) - 1)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):  # noqa: A002
        return F.elu(input, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")
