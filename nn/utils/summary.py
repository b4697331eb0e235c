"""``summary(model, input_size)``: a torchinfo-style table of a model.

One row per module (by depth, in definition order): ``Class: depth-index``, output shape of its
first call, and parameter count. Totals: parameters, trainable parameters, multiply-adds, and the
memory of the input, of the activations (forward + backward) and of the parameters.

Multiply-adds are counted as torchinfo does: for a convolution, every weight (and bias) element is
used once per output position, ``numel(weight) * N * H_out * W_out``; for ``Linear`` once per
output row, ``numel(weight) * rows``; for any other layer with ``weight`` / ``bias`` (norms) once
per sample. Activations are the outputs of the leaf modules (all of them, ReLU and pooling
included, so the figure is larger than torchinfo's); the backward pass is counted as the same size
again (``x 2``)."""
import numpy as np

import minigrad
from minigrad import dtypes

__all__ = ["summary", "ModelSummary"]

_WIDTHS = (40, 26, 16)


class ModelSummary:
    """What ``summary`` measured; ``str()`` is the table. Fields: ``rows`` (list of dicts with
    ``name``, ``depth``, ``text``, ``output_shape``, ``params``, ``mult_adds``), ``total_params``,
    ``trainable_params``, ``total_mult_adds``, ``input_bytes``, ``activation_bytes``, ``param_bytes``."""

    def __init__(self, rows, total_params, trainable_params, total_mult_adds, input_bytes, activation_bytes,
                 param_bytes):
        self.rows = rows
        self.total_params = total_params
        self.trainable_params = trainable_params
        self.total_mult_adds = total_mult_adds
        self.input_bytes = input_bytes
        self.activation_bytes = activation_bytes
        self.param_bytes = param_bytes

    def __str__(self):
        w = _WIDTHS
        rule = "=" * sum(w)
        lines = [rule, f"{'Layer (type:depth-idx)':<{w[0]}}{'Output Shape':<{w[1]}}Param #", rule]
        for r in self.rows:
            shape = "--" if r["output_shape"] is None else str(list(r["output_shape"]))
            params = "--" if r["params"] is None else f"{r['params']:,}"
            lines.append(f"{r['text']:<{w[0]}}{shape:<{w[1]}}{params:<{w[2]}}".rstrip())
        mb = 1e6
        lines += [
            rule,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.total_params - self.trainable_params:,}",
            f"Total mult-adds ({_unit(self.total_mult_adds)[1]}): {_unit(self.total_mult_adds)[0]:.2f}",
            rule,
            f"Input size (MB): {self.input_bytes / mb:.2f}",
            f"Forward/backward pass size (MB): {self.activation_bytes / mb:.2f}",
            f"Params size (MB): {self.param_bytes / mb:.2f}",
            f"Estimated Total Size (MB): {(self.input_bytes + self.activation_bytes + self.param_bytes) / mb:.2f}",
            rule,
        ]
        return "\n".join(lines)

    __repr__ = __str__


def _unit(n):
    for scale, name in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if n >= scale:
            return n / scale, name
    return float(n), "Units"


def _first_shape(out):
    if isinstance(out, minigrad.Tensor):
        return out.shape
    if isinstance(out, (tuple, list)) and out:
        return _first_shape(out[0])
    return None


def _tensors(out):
    if isinstance(out, minigrad.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _tensors(o)]
    return []


def summary(model, input_size, depth=3, dtypes=None, device=None):  # noqa: A002
    """Run ``model`` once on zeros of ``input_size`` (a shape, or a list of shapes for several inputs;
    ``dtypes`` one dtype per input, float32 by default) and return a ``ModelSummary`` of its modules
    down to ``depth``. Nothing is recorded for backward (``no_grad``) and the model's mode is kept."""
    sizes = [tuple(input_size)] if not input_size or isinstance(input_size[0], int) else [tuple(s) for s in input_size]
    kinds = [_dtype(d) for d in dtypes] if dtypes else [np.dtype("float32")] * len(sizes)
    inputs = [minigrad.zeros(*s, dtype=k, device=device) for s, k in zip(sizes, kinds)]
    calls = {}
    handles = []
    for name, module in model.named_modules():
        def hook(mod, args, out, name=name):
            calls.setdefault(name, (_first_shape(out), _tensors(out)))
        handles.append(module.register_forward_hook(hook))
    try:
        with minigrad.no_grad():
            model(*inputs)
    finally:
        for h in handles:
            h.remove()

    rows, counters = [], {}
    total_mult_adds = activation_bytes = 0
    for name, module in model.named_modules():
        level = 0 if name == "" else name.count(".") + 1
        shape, outs = calls.get(name, (None, []))
        has_children = any(True for _ in module.children())
        own = sum(p.numel() for p in module.parameters(recurse=False))
        mult_adds = _mult_adds(module, shape) if own else 0
        total_mult_adds += mult_adds
        if not has_children:
            activation_bytes += sum(t.numel() * t.dtype.itemsize for t in outs)
        if level > depth:
            continue
        shown_children = has_children and level < depth
        params = None if shown_children and own == 0 else own if shown_children else \
            sum(p.numel() for p in module.parameters())
        if params == 0 and not has_children and own == 0:
            params = None
        parent = name.rsplit(".", 1)[0] if "." in name else ""
        if level:
            counters[parent] = counters.get(parent, 0) + 1
        prefix = "" if level == 0 else "│    " * (level - 1) + "├─"
        label = type(module).__name__ + ("" if level == 0 else f": {level}-{counters[parent]}")
        rows.append(dict(name=name, depth=level, text=prefix + label, output_shape=shape, params=params,
                         mult_adds=mult_adds))
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return ModelSummary(
        rows, total, trainable, total_mult_adds,
        input_bytes=sum(t.numel() * t.dtype.itemsize for t in inputs),
        activation_bytes=2 * activation_bytes,
        param_bytes=sum(p.numel() * p.dtype.itemsize for p in params),
    )


def _dtype(d):
    return dtypes.as_dtype(d)


def _mult_adds(module, out_shape):
    """torchinfo's count for one call of a module with its own ``weight`` / ``bias``."""
    if out_shape is None:
        return 0
    own = [p for n, p in module.named_parameters(recurse=False) if n in ("weight", "bias")]
    n = sum(p.numel() for p in own)
    if "Conv" in type(module).__name__:  # every weight once per output position (channels excluded)
        return n * int(np.prod((out_shape[0],) + tuple(out_shape[2:])))
    if type(module).__name__ == "Linear":  # once per output row
        return n * int(np.prod(out_shape[:-1]))
    return n * out_shape[0]
