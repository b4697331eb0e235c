"""All parameters as one flat vector and back, as ``torch.nn.utils.parameters_to_vector``."""
import minigrad
from minigrad.tensor import Tensor


def parameters_to_vector(parameters):
    """One 1-D Tensor: every parameter flattened, concatenated in order (differentiable)."""
    from minigrad import cat

    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place, no gradient)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got {getattr(vec, 'shape', type(vec).__name__)}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = sum(p.numel() for p in params)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: vector has {vec.numel()} elements, the parameters {total}")
    start = 0
    for p in params:
        n = p.numel()
        with minigrad.no_grad():
            p.copy_(vec[start:start + n].reshape(p.shape))
        start += n
