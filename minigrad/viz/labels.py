"""Text shown in the drawings: shapes, op arguments, values, and the formulas of each op.

The formulas are read from the op's own code, so a drawing cannot disagree with it: the FIRST line of
a ``Function`` subclass's docstring is its forward formula (``y = a * b``), and its ``backward``
docstring is the gradient formula (``da = gy * b;  db = gy * a``).
"""
import inspect
import math

import numpy as np

# --------------------------------------------------------------------------- formulas


def op_type(fn):
    """The forward op's name: ``Mul`` for a ``MulBackward`` node."""
    op_name = getattr(type(fn), "op_name", None)
    return op_name() if op_name is not None else type(fn).__name__


def forward_formula(fn):
    """First line of the op class's own docstring (``y = a * b``), or '' if it has none."""
    klass = fn if isinstance(fn, type) else type(fn)
    doc = klass.__dict__.get("__doc__") or ""
    lines = [line.strip() for line in doc.strip().splitlines()]
    return lines[0] if lines else ""


def backward_formula(fn):
    """The op's ``backward`` docstring, on one line (``da = gy * b;  db = gy * a``), or ''."""
    klass = fn if isinstance(fn, type) else type(fn)
    for k in klass.__mro__:
        method = k.__dict__.get("backward")
        if method is not None:
            doc = inspect.cleandoc(method.__doc__ or "")
            return " ".join(line.strip() for line in doc.splitlines() if line.strip())
    return ""


_FORMULAS = {}


def formulas(fn):
    """``(forward, backward)`` formulas of fn's op class (cached per class)."""
    klass = type(fn)
    f = _FORMULAS.get(klass)
    if f is None:
        f = _FORMULAS[klass] = (forward_formula(klass), backward_formula(klass))
    return f


_ARG_NAMES = {}


def input_names(fn):
    """Names of the forward's inputs, from its signature: ``['a', 'b']``; ``*xs`` gives ``xs[0]``, ..."""
    klass = type(fn)
    names = _ARG_NAMES.get(klass)
    if names is None:
        names, star = [], None
        try:
            sig = inspect.signature(klass.forward)
            for p in list(sig.parameters.values())[1:]:  # skip self
                if p.kind is p.VAR_POSITIONAL:
                    star = p.name
                elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                    names.append(p.name)
        except (TypeError, ValueError):
            pass
        names = (tuple(names), star)
        _ARG_NAMES[klass] = names
    fixed, star = names
    n = len(fn.input_meta)
    out = list(fixed[:n])
    for i in range(len(out), n):
        out.append(f"{star}[{i - len(fixed)}]" if star else f"input{i}")
    return out


# --------------------------------------------------------------------------- plain text


def fmt_shape(shape):
    """``(2, 64, 8, 8)`` -> ``2x64x8x8``; a 0-d shape is ``scalar``."""
    return "x".join(str(int(d)) for d in shape) if len(shape) else "scalar"


_DTYPES = {}


def fmt_dtype(dtype):
    """``float32``; '' for None."""
    if dtype is None:
        return ""
    text = _DTYPES.get(dtype)
    if text is None:
        text = _DTYPES[dtype] = str(np.dtype(dtype))
    return text


def fmt_number(v):
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.4g}"


def fmt_param(value):
    """A short rendering of an op argument (ints, floats, tuples, slices, dtypes, small arrays)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return fmt_number(value)
    if isinstance(value, str):
        return value
    if isinstance(value, slice):
        parts = ["" if p is None else fmt_param(p) for p in (value.start, value.stop, value.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    if value is Ellipsis:
        return "..."
    if isinstance(value, (tuple, list)):
        inner = ", ".join(fmt_param(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, np.dtype) or isinstance(value, type):
        return getattr(value, "__name__", str(value))
    shape = getattr(value, "shape", None)
    if shape is not None:  # an array (e.g. fancy indices)
        if int(np.prod(shape)) <= 4:
            return "[" + ", ".join(fmt_param(v) for v in np.asarray(value).ravel().tolist()) + "]"
        return f"array {fmt_shape(shape)}"
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def fmt_params(params):
    """``key=value`` strings for an op's keyword arguments, skipping those that are None."""
    return [f"{k}={fmt_param(v)}" for k, v in params.items() if v is not None]


def wrap(items, width=30, sep=", "):
    """Join ``items`` into lines of at most about ``width`` characters."""
    lines, line = [], ""
    for item in items:
        if line and len(line) + len(sep) + len(item) > width:
            lines.append(line + sep.rstrip())
            line = item
        else:
            line = line + sep + item if line else item
    if line:
        lines.append(line)
    return lines


def fmt_values(array, max_items=6):
    """Values of a tiny array (``2.5`` or ``[1, -0.5, 3]``), or ``None`` when it is too big."""
    a = np.asarray(array.get() if hasattr(array, "get") else array)  # CuPy -> NumPy
    if a.size > max_items:
        return None
    if a.ndim == 0:
        return fmt_number(a) if a.dtype.kind in "fiub" else str(a)
    return "[" + ", ".join(fmt_number(v) for v in a.ravel().tolist()) + "]"


def grad_norm(array):
    """The L2 norm of a gradient array, as a float (computed in float64)."""
    xp_sum = (array.astype("float64") ** 2).sum()
    return math.sqrt(float(xp_sum))


# --------------------------------------------------------------------------- HTML-like labels


def escape(text):
    """Escape text for Graphviz HTML-like labels."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def html_lines(title=None, lines=(), small=9, title_size=None):
    """A Graphviz HTML-like label: a bold title, then smaller lines."""
    parts = []
    if title is not None:
        t = f"<b>{escape(title)}</b>"
        parts.append(f'<font point-size="{title_size}">{t}</font>' if title_size else t)
    for line in lines:
        parts.append(f'<font point-size="{small}">{escape(line)}</font>')
    return "<" + "<br/>".join(parts) + ">"


def tooltip(lines):
    """A tooltip string (escString): lines joined by Graphviz's ``\\n``."""
    return "\\n".join(str(line).replace("\\", "\\\\") for line in lines if line is not None)


def fmt_bytes(n):
    """``512 B``, ``3.1 KiB``, ``12.5 MiB``, ``1.2 GiB`` (binary units, as memory is counted)."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            if unit == "B":
                return f"{int(n)} B"
            return f"{n:.1f} {unit}" if n < 100 else f"{n:.0f} {unit}"
        n /= 1024


# --------------------------------------------------------------------------- module contents


def layer_text(m):
    """A layer in a few characters: ``conv3x3``, ``conv1x1/2`` (stride 2), ``linear 512->10``, ``BN``."""
    cls = type(m).__name__
    k = getattr(m, "kernel_size", None)
    if cls.startswith("Conv") and k is not None:
        k = k if isinstance(k, tuple) else (k,)
        s = getattr(m, "stride", 1)
        s = s if isinstance(s, tuple) else (s,)
        text = "conv" + "x".join(str(v) for v in k)
        if any(v != 1 for v in s):
            text += "/" + ("x".join(str(v) for v in s) if len(set(s)) > 1 else str(s[0]))
        return text
    if cls == "Linear":
        return f"linear {m.in_features}->{m.out_features}"
    if cls.startswith("BatchNorm"):
        return "BN"
    return cls


def _is_weighted_layer(m):
    return type(m).__name__ in ("Linear", "Conv1d", "Conv2d", "ConvTranspose2d")


def module_contents(m):
    """Lines naming what a block holds, for its folded box: ``conv3x3/2 -> conv3x3`` (its convs and
    linears in order) and ``downsample conv1x1/2 + BN`` (a sub-module branch); a stage of repeated
    blocks reads ``2 x BasicBlock`` first. [] for a layer (it has no sub-modules)."""
    children = list(m.named_children()) if hasattr(m, "named_children") else []
    if not children:
        return []
    types = {type(c).__name__ for _, c in children}
    if len(types) == 1 and len(children) > 1 and any(list(c.children()) for _, c in children):
        first = module_contents(children[0][1])
        return [f"{len(children)} x {types.pop()}"] + [("first: " if i == 0 and len(first) > 1 else "") + t
                                                      for i, t in enumerate(first)]
    if any(list(cc.children()) for _, c in children for cc in c.children()):
        return []  # a whole network: too deep to say in a line or two
    lines, main = [], []
    for name, c in children:
        if _is_weighted_layer(c):
            main.append(layer_text(c))
        elif list(c.children()):
            inner = [layer_text(cc) for cc in c.children()]
            lines.append(f"{name} " + " + ".join(inner))
    if main:
        lines.insert(0, " -> ".join(main))
    return lines


def _pair_text(v):
    v = v if isinstance(v, tuple) else (v,)
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(x) for x in v)


def layer_lines(m):
    """A layer's settings in one short line (``3 -> 64 channels, 7x7/2, pad 3``), or None for a layer
    this does not know (its ``extra_repr`` is shown then)."""
    cls = type(m).__name__
    if cls.startswith("Conv") and hasattr(m, "kernel_size"):
        k = "x".join(str(v) for v in m.kernel_size)
        s = _pair_text(m.stride)
        pad = getattr(m, "padding", 0)
        pad = "" if pad in (0, (0, 0), "valid") else f", pad {_pair_text(pad) if not isinstance(pad, str) else pad}"
        groups = f", groups {m.groups}" if getattr(m, "groups", 1) != 1 else ""
        return [f"{m.in_channels} -> {m.out_channels} ch, {k}" + (f"/{s}" if s != "1" else "") + pad + groups]
    if cls.startswith("BatchNorm") or cls in ("GroupNorm", "InstanceNorm2d"):
        n = getattr(m, "num_features", getattr(m, "num_channels", None))
        return [f"{n} channels"] if n is not None else None
    if cls in ("MaxPool2d", "AvgPool2d") and hasattr(m, "kernel_size"):
        k, s = _pair_text(m.kernel_size), _pair_text(m.stride)
        pad = _pair_text(m.padding)
        return [f"{k}x{k}/{s}" + (f", pad {pad}" if pad != "0" else "") if "x" not in k else f"{k}/{s}"]
    if cls == "AdaptiveAvgPool2d":
        return ["to " + "x".join(str(v) for v in (m.output_size if isinstance(m.output_size, tuple)
                                                 else (m.output_size,) * 2))]
    if cls == "Linear":
        return [f"{m.in_features} -> {m.out_features}" + ("" if getattr(m, "bias", None) is not None else ", no bias")]
    return None
