"""``minigrad.functional`` (import as ``F``): differentiable ops beyond elementwise math.

Each public function validates its arguments (errors name the op, the argument and the shapes)
and dispatches to the ``Function`` classes in ``minigrad.ops``, which hold the math.
One file per family; each lists its public names in ``__all__``.
"""
from .activation import *  # noqa: F401,F403  softmax, log_softmax, relu, leaky_relu, gelu, sigmoid, tanh, dropout
from .attention import *  # noqa: F401,F403  scaled_dot_product_attention
from .conv import *  # noqa: F401,F403  linear, conv2d
from .embedding import *  # noqa: F401,F403  embedding
from .loss import *  # noqa: F401,F403  cross_entropy, nll_loss, mse_loss, l1_loss, binary_cross_entropy_with_logits
from .norm import *  # noqa: F401,F403  batch_norm, layer_norm, group_norm, instance_norm
from .pool import *  # noqa: F401,F403  max_pool2d, avg_pool2d, adaptive_avg_pool2d
from .resample import *  # noqa: F401,F403  interpolate, roi_align, roi_pool
from .vector import *  # noqa: F401,F403  cosine_similarity, normalize, pad
