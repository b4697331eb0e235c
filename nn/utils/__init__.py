"""``nn.utils``, as ``torch.nn.utils``: gradient clipping, parameters <-> one vector, and ``summary``
(a torchinfo-style table of a model)."""
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters
from .summary import ModelSummary, summary

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters", "summary",
           "ModelSummary"]
