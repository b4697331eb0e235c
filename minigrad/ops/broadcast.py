"""Reverse broadcasting: the gradient of a broadcast is a sum over the broadcast axes."""


def sum_to(grad, shape):
    """Sum ``grad`` down to ``shape`` (the inverse of NumPy broadcasting ``shape`` -> ``grad.shape``).

    Leading axes that broadcasting added are summed away; axes that were size 1 are summed with
    ``keepdims``. Returns ``grad`` itself when the shapes already agree.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    if lead:
        out = out.reshape(shape)
    return out
