"""``Embedding``: a learned lookup table of vectors, one row per token id."""
import minigrad
import minigrad.functional as F
from minigrad.tensor import Tensor

from .. import init
from ..module import Module, Parameter

__all__ = ["Embedding"]


def _padding_index(padding_idx, num_embeddings, where):
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{where}: padding_idx {padding_idx} must be within num_embeddings {num_embeddings}")
    return padding_idx % num_embeddings


class Embedding(Module):
    """y = weight[input]: maps integer ids of any shape to ``embedding_dim``-vectors.

    ``weight`` (num_embeddings, embedding_dim) starts as N(0, 1) with the ``padding_idx`` row zeroed;
    that row gets no gradient, so it stays as it is. ``max_norm``: looked-up rows are rescaled in
    place to at most that L2 norm (see ``F.embedding``).
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, _weight=None):
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = _padding_index(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm = max_norm
        if _weight is None:
            self.weight = Parameter(minigrad.empty(self.num_embeddings, self.embedding_dim))
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with minigrad.no_grad():
                self.weight.data[self.padding_idx] = 0

    def forward(self, input):  # noqa: A002 - PyTorch's name
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None):
        """An ``Embedding`` whose weight is ``embeddings`` (a 2-D Tensor or array, used as it is:
        the ``padding_idx`` row is not zeroed). ``freeze=True``: the weight does not require grad."""
        data = embeddings.data if isinstance(embeddings, Tensor) else embeddings
        if getattr(data, "ndim", None) != 2:
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), "
                f"got shape {tuple(getattr(data, 'shape', ()))}"
            )
        num, dim = data.shape
        module = cls(num, dim, padding_idx=padding_idx, max_norm=max_norm, _weight=data)
        module.weight.requires_grad = not freeze
        return module
