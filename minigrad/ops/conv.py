"""Linear, and the convolution family: conv2d and its adjoint conv_transpose2d (conv1d is conv2d
on a height-1 image, in ``functional``).

A 2-D convolution (a cross-correlation, as in PyTorch) with stride s, zero padding, dilation d and
G groups (input channel c of group g is ``g*C/G + c``, output channel o of group g is ``g*Co/G + o``):

    y[n, o, p, q] = sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, p*sh + i*dh, q*sw + j*dw]      (correlate)

It is linear in x and in W, and its three products are all a network needs:

    correlate(x, W)               the forward
    correlate_input_grad(gy, W)   dx = the adjoint in x: each gy[n, o, p, q] spread back over the
                                  window it came from, weighted by W (then the padding cut off)
    correlate_weight_grad(x, gy)  dW[o, c, i, j] = sum_{n, p, q} gy[n, o, p, q] * x_pad[n, c, p*sh + i*dh, q*sw + j*dw]

``conv_transpose2d(x, W)`` *is* ``correlate_input_grad(x, W)`` (it maps the conv's output space back to
its input space; weight (C_in, C_out/G, kh, kw) is conv2d's weight read the other way round), so:
its backward to x is ``correlate(gy, W)`` and to W ``correlate_weight_grad(gy, x)``.

Each op has two Functions: ``Conv2dReference`` / ``ConvTranspose2dReference`` compute the three
products below tap by tap, exactly as written above (a learner can check them line by line);
``Conv2d`` / ``ConvTranspose2d`` run the same products through ``minigrad.kernels.im2col`` (GEMMs
over channels-last memory, blocked, cached buffers) or, for the 3x3 stride-1 kernels where it was
measured faster, Winograd's F(2x2, 3x3) (``minigrad.kernels.winograd``, see there). ``functional``
picks the fast ones unless ``minigrad.kernels.reference_kernels()`` is active; the tests check both
against the same naive loops.

Higher order (``backward_graph``). The three products close under differentiation, so the family
needs one more op: ``Conv2dWeightGrad(x, gy)`` = correlate_weight_grad as a Function of both
arguments (it is bilinear). Then every gradient is one of the three ops:

    conv2d(x, W)                dx = conv_transpose2d(gy, W)    dW = Conv2dWeightGrad(x, gy)
    conv_transpose2d(x, W)      dx = conv2d(gy, W)              dW = Conv2dWeightGrad(gy, x)
    Conv2dWeightGrad(x, g)      dx = conv_transpose2d(g, gW)    dg = conv2d(x, gW)

(same stride, padding, dilation and groups throughout), and derivatives of every order come from
the same code as the first-order ones. The reference Functions' backward_graphs use the reference
partners, the fast ones the fast partners. Linear's is two MatMuls and a Sum.
"""
from ..autograd import Function
from ..backend import get_array_module
from ..kernels import im2col, layout, winograd
from ..kernels.threads import matmul
from .linalg import MatMul, _swap_last
from .reduce import Sum
from .shape import Reshape

# ------------------------------------------------------------------ linear


class Linear(Function):
    """y = x @ W^T + b"""
    saved_names = ("x2d", "w", "x")

    def forward(self, x, w, b):
        x2 = x.reshape(-1, x.shape[-1])
        y = matmul(x2, w.T)  # the BLAS thread policy: small products single-threaded
        if b is not None:
            y += b
        self.save_for_backward(x2, w, x)  # x itself (x2d is a view or copy): for backward_graph
        self.has_bias = b is not None
        return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, gy):
        """dx = gy @ W;  dW = gy^T @ x;  db = sum(gy) over all but the last axis"""
        # (each product in the orientation that gives a C-ordered result: a weight's gradient
        # lands in .grad as it is, with no copy)
        x2, w, _ = self.saved_tensors
        g2 = gy.reshape(-1, gy.shape[-1])
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = matmul(g2, w)
            gx = gx if gy.ndim == 2 else gx.reshape(gy.shape[:-1] + (w.shape[1],))
        if self.needs_input_grad[1]:
            gw = matmul(g2.T, x2)
        if self.has_bias and self.needs_input_grad[2]:
            gb = g2.sum(axis=0)
        return gx, gw, gb

    def backward_graph(self, gy):
        """the same three lines with MatMul, Reshape and Sum (matmul's gradients are matmuls)"""
        _, w, x = self.unpack_saved()
        g2 = Reshape.apply(gy, shape=(-1, gy.shape[-1]))
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            gx = Reshape.apply(MatMul.apply(g2, w), shape=x.shape)
        if self.needs_input_grad[1]:
            gw = MatMul.apply(_swap_last(g2), Reshape.apply(x, shape=(-1, x.shape[-1])))
        if self.has_bias and self.needs_input_grad[2]:
            gb = Sum.apply(g2, axis=(0,), keepdims=False)
        return gx, gw, gb


# ------------------------------------------------------------------ the three products, tap by tap


def _pad(x, padding):
    """x (N, C, H, W) zero-padded by (top, bottom, left, right)."""
    xp = get_array_module(x)
    top, bottom, left, right = padding
    N, C, H, W = x.shape
    out = xp.zeros((N, C, top + H + bottom, left + W + right), x.dtype)
    out[:, :, top:top + H, left:left + W] = x
    return out


def _tap(i, j, out, stride, dilation):
    """The slices of a padded input that kernel tap (i, j) reads for every output: rows
    p*sh + i*dh and columns q*sw + j*dw, p < oh, q < ow."""
    (oh, ow), (sh, sw), (dh, dw) = out, stride, dilation
    return (slice(None), slice(None), slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
            slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))


def _groups(C, Co, G):
    """(input channels, output channels) of each group, as slices."""
    cg, cog = C // G, Co // G
    return [(slice(g * cg, (g + 1) * cg), slice(g * cog, (g + 1) * cog)) for g in range(G)]


def correlate(x, w, out, stride, padding, dilation, groups):
    """y[n, o, p, q] = sum_{c, i, j} W[o, c, i, j] * x_pad[n, c, p*sh + i*dh, q*sw + j*dw]  (per group)"""
    xp = get_array_module(x)
    x_pad = _pad(x, padding)
    N, C = x.shape[:2]
    Co, _, kh, kw = w.shape
    y = xp.zeros((N, Co) + tuple(out), x.dtype)
    for cs, os in _groups(C, Co, groups):
        for i in range(kh):
            for j in range(kw):
                tap = x_pad[_tap(i, j, out, stride, dilation)][:, cs]  # (N, cg, oh, ow)
                y[:, os] += xp.einsum("oc,ncpq->nopq", w[os, :, i, j], tap)
    return y


def correlate_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """dx_pad[n, c, p*sh + i*dh, q*sw + j*dw] += sum_o W[o, c, i, j] * gy[n, o, p, q];  dx = dx_pad without the padding"""
    xp = get_array_module(gy)
    N, C, H, W = x_shape
    top, bottom, left, right = padding
    Co, _, kh, kw = w.shape
    dx_pad = xp.zeros((N, C, top + H + bottom, left + W + right), gy.dtype)
    out = gy.shape[2:]
    for cs, os in _groups(C, Co, groups):
        for i in range(kh):
            for j in range(kw):
                rows_cols = _tap(i, j, out, stride, dilation)
                dx_pad[rows_cols][:, cs] += xp.einsum("oc,nopq->ncpq", w[os, :, i, j], gy[:, os])
    return dx_pad[:, :, top:top + H, left:left + W]


def correlate_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """dW[o, c, i, j] = sum_{n, p, q} gy[n, o, p, q] * x_pad[n, c, p*sh + i*dh, q*sw + j*dw]  (per group)"""
    xp = get_array_module(x)
    x_pad = _pad(x, padding)
    Co, _, kh, kw = w_shape
    dw = xp.zeros(w_shape, gy.dtype)
    out = gy.shape[2:]
    for cs, os in _groups(x.shape[1], Co, groups):
        for i in range(kh):
            for j in range(kw):
                tap = x_pad[_tap(i, j, out, stride, dilation)][:, cs]
                dw[os, :, i, j] = xp.einsum("nopq,ncpq->oc", gy[:, os], tap)
    return dw


# ------------------------------------------------------------------ reference Functions


class Conv2dReference(Function):
    """y = correlate(x, W) + b

    Params: stride (sh, sw), padding (top, bottom, left, right), dilation (dh, dw), groups;
    out (oh, ow) the output size.
    """

    saved_names = ("x", "w")

    def forward(self, x, w, b):
        geometry = (self.stride, self.padding, self.dilation, self.groups)
        y = correlate(x, w, self.out, *geometry)
        if b is not None:
            y += b.reshape(-1, 1, 1)
        self.save_for_backward(x, w)
        self.has_bias = b is not None
        return y

    def backward(self, gy):
        """dx = correlate_input_grad(gy, W);  dW = correlate_weight_grad(x, gy);  db = sum_{n,p,q} gy"""
        x, w = self.saved_tensors
        geometry = (self.stride, self.padding, self.dilation, self.groups)
        gx = correlate_input_grad(gy, w, x.shape, *geometry) if self.needs_input_grad[0] else None
        gw = correlate_weight_grad(x, gy, w.shape, *geometry) if self.needs_input_grad[1] else None
        gb = gy.sum(axis=(0, 2, 3)) if self.has_bias and self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_graph(self, gy):
        """dx = conv_transpose2d(gy, W);  dW = Conv2dWeightGrad(x, gy);  db = sum(gy)  (ops)"""
        x, w = self.unpack_saved()
        return _conv_graph_backward(self, gy, x, w, _reference_family(), transposed=False)


class ConvTranspose2dReference(Function):
    """y = correlate_input_grad(x, W) + b   (the adjoint of conv2d)

    Params as conv2d's (``padding`` is cut from the output), out (Ho, Wo) the output size
    (it includes ``output_padding``).
    """

    saved_names = ("x", "w")

    def forward(self, x, w, b):
        geometry = (self.stride, self.padding, self.dilation, self.groups)
        N, Co = x.shape[0], w.shape[1] * self.groups
        y = correlate_input_grad(x, w, (N, Co) + tuple(self.out), *geometry)
        if b is not None:
            y = y + b.reshape(-1, 1, 1)
        self.save_for_backward(x, w)
        self.has_bias = b is not None
        return y

    def backward(self, gy):
        """dx = correlate(gy, W);  dW = correlate_weight_grad(gy, x);  db = sum_{n,p,q} gy"""
        x, w = self.saved_tensors
        geometry = (self.stride, self.padding, self.dilation, self.groups)
        gx = correlate(gy, w, x.shape[2:], *geometry) if self.needs_input_grad[0] else None
        gw = correlate_weight_grad(gy, x, w.shape, *geometry) if self.needs_input_grad[1] else None
        gb = gy.sum(axis=(0, 2, 3)) if self.has_bias and self.needs_input_grad[2] else None
        return gx, gw, gb

    def backward_graph(self, gy):
        """dx = conv2d(gy, W);  dW = Conv2dWeightGrad(gy, x);  db = sum(gy)  (ops)"""
        x, w = self.unpack_saved()
        return _conv_graph_backward(self, gy, x, w, _reference_family(), transposed=True)


class Conv2dWeightGradReference(Function):
    """y = correlate_weight_grad(x, g)   (conv2d's weight gradient as an op of x and gy: bilinear)

    Params as conv2d's, and w_shape (the weight's shape); g has the conv's output size.
    """

    saved_names = ("x", "g")

    def forward(self, x, g):
        self.save_for_backward(x, g)
        return correlate_weight_grad(x, g, self.w_shape, self.stride, self.padding, self.dilation, self.groups)

    def backward(self, gw):
        """dx = correlate_input_grad(g, gW);  dg = correlate(x, gW)"""
        x, g = self.saved_tensors
        geometry = (self.stride, self.padding, self.dilation, self.groups)
        gx = correlate_input_grad(g, gw, x.shape, *geometry) if self.needs_input_grad[0] else None
        gg = correlate(x, gw, g.shape[2:], *geometry) if self.needs_input_grad[1] else None
        return gx, gg

    def backward_graph(self, gw):
        """dx = conv_transpose2d(g, gW);  dg = conv2d(x, gW)  (ops)"""
        x, g = self.unpack_saved()
        return _weight_grad_graph_backward(self, gw, x, g, _reference_family())


def _geometry(fn):
    return dict(stride=fn.stride, padding=fn.padding, dilation=fn.dilation, groups=fn.groups)


def _conv_graph_backward(fn, gy, x, w, family, transposed):
    """conv2d's (or, ``transposed``, conv_transpose2d's) gradients as ops of ``family`` =
    (conv2d, conv_transpose2d, weight-grad Functions); x, w and gy are Tensors."""
    conv, conv_t, weight_grad = family
    need = fn.needs_input_grad
    gx = gw = gb = None
    if need[0]:
        gx = (conv if transposed else conv_t).apply(gy, w, None, out=tuple(x.shape[2:]), **_geometry(fn))
    if need[1]:
        gw = weight_grad.apply(*((gy, x) if transposed else (x, gy)), w_shape=tuple(w.shape), **_geometry(fn))
    if fn.has_bias and need[2]:
        gb = Sum.apply(gy, axis=(0, 2, 3), keepdims=False)
    return gx, gw, gb


def _weight_grad_graph_backward(fn, gw, x, g, family):
    """Conv2dWeightGrad's gradients as ops: dx = conv_transpose2d(g, gW), dg = conv2d(x, gW)."""
    conv, conv_t, _ = family
    gx = conv_t.apply(g, gw, None, out=tuple(x.shape[2:]), **_geometry(fn)) if fn.needs_input_grad[0] else None
    gg = conv.apply(x, gw, None, out=tuple(g.shape[2:]), **_geometry(fn)) if fn.needs_input_grad[1] else None
    return gx, gg


def _reference_family():
    return Conv2dReference, ConvTranspose2dReference, Conv2dWeightGradReference


def _fast_family():
    return Conv2d, ConvTranspose2d, Conv2dWeightGrad


# ------------------------------------------------------------------ fast Functions


class Conv2d(Function):
    """y[n,co,p,q] = b[co] + sum_{c,i,j} W[co,c,i,j] * x_pad[n, g*C/G + c, p*sh + i*dh, q*sw + j*dw]

    The fast path (see the module docstring): the output is NCHW-shaped with channels-last memory.
    Params as ``Conv2dReference``.
    """
    saved_names = ("col", "w_rows", "x", "w")  # per call: col when small, else x; w (Winograd) or its im2col rows

    def forward(self, x, w, b):
        p = im2col.plan(x.shape, w.shape, self.stride, self.padding, self.dilation, self.groups, out=self.out)
        need_w = self.needs_input_grad[1]
        self.winograd = winograd.applies(p)
        if self.winograd:  # 3x3 stride 1: Winograd's F(2x2, 3x3); backward recomputes its transforms from x
            y, keep, wm = winograd.conv(x, w, p.pads, p.out), False, w
        else:
            wm = im2col.weight_rows(w, p)
            keep = need_w and im2col.keeps_col(p, x.itemsize)
            y, col = im2col.forward(x, wm, p, keep_col=keep)
        if b is not None:
            y += b
        # dW needs col: keep it when small, else keep x itself (backward rebuilds col from it)
        # x and w themselves too (no copies): backward_graph differentiates through them
        self.save_for_backward(col if keep else x if need_w else None, wm, x, w)
        self.saved_names = ("col" if keep else "x", "w" if self.winograd else "w_rows", "x", "w")
        self.col_kept = keep
        self.plan, self.has_bias = p, b is not None
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        """dW = col^T @ gy;  db = sum(gy);  dx = col2im(gy @ W) (stride 1: gy correlated with the flipped W)"""
        saved, wm = self.saved_tensors[:2]
        p = self.plan
        g = layout.nhwc(gy)  # (N, oh, ow, Co), no copy when gy is channels-last
        gx = gw = gb = None
        if self.has_bias and self.needs_input_grad[2]:
            gb = g.reshape(-1, g.shape[3]).sum(axis=0)
        if self.needs_input_grad[1]:
            if self.winograd:
                gw = winograd.weight_grad(saved, g, p)
            else:
                gw = im2col.weight_grad(saved, g, p, col=saved if self.col_kept else None)
        if self.needs_input_grad[0]:
            gx = winograd.input_grad(g, wm, p) if self.winograd else im2col.input_grad(g, wm, p)
            gx = gx.transpose(0, 3, 1, 2)
        return gx, gw, gb

    def backward_graph(self, gy):
        """dx = conv_transpose2d(gy, W);  dW = Conv2dWeightGrad(x, gy);  db = sum(gy)  (ops)"""
        x, w = self.unpack_saved()[2:]
        return _conv_graph_backward(self, gy, x, w, _fast_family(), transposed=False)


class ConvTranspose2d(Function):
    """y[n,c,h,w] = b[c] + sum_{o,i,j: h = p*sh + i*dh - top, w = q*sw + j*dw - left} W[o,c,i,j] * x[n,o,p,q]

    The fast path: conv2d's input gradient (``im2col.input_grad``) with x in the place of gy.
    The output is NCHW-shaped with channels-last memory. Params as ``ConvTranspose2dReference``.
    """

    saved_names = ("x", "w")

    def forward(self, x, w, b):
        N, Co = x.shape[0], w.shape[1] * self.groups
        p = im2col.plan((N, Co) + tuple(self.out), w.shape, self.stride, self.padding, self.dilation, self.groups,
                        out=x.shape[2:])
        wm = im2col.weight_rows(w, p)
        y = im2col.input_grad(layout.nhwc(x), wm, p)
        if b is not None:
            y = y + b
        self.save_for_backward(x, w)
        self.plan, self.has_bias = p, b is not None
        return y.transpose(0, 3, 1, 2)

    def backward(self, gy):
        """dx = conv2d(gy, W);  dW = correlate_weight_grad(gy, x) (conv2d's, gy as input);  db = sum(gy)"""
        x, w = self.saved_tensors
        p = self.plan
        gx = gw = gb = None
        if self.has_bias and self.needs_input_grad[2]:
            gb = layout.nhwc(gy).reshape(-1, gy.shape[1]).sum(axis=0)
        if self.needs_input_grad[1]:
            gw = im2col.weight_grad(gy, layout.nhwc(x), p)
        if self.needs_input_grad[0]:
            gx, _ = im2col.forward(gy, im2col.weight_rows(w, p), p)
            gx = gx.transpose(0, 3, 1, 2)
        return gx, gw, gb

    def backward_graph(self, gy):
        """dx = conv2d(gy, W);  dW = Conv2dWeightGrad(gy, x);  db = sum(gy)  (ops)"""
        x, w = self.unpack_saved()
        return _conv_graph_backward(self, gy, x, w, _fast_family(), transposed=True)


class Conv2dWeightGrad(Function):
    """y = col(x)^T @ g   (conv2d's weight gradient as an op of x and gy; the fast path)

    Params as ``Conv2dWeightGradReference``.
    """

    saved_names = ("x", "g")

    def forward(self, x, g):
        self.plan = im2col.plan(x.shape, self.w_shape, self.stride, self.padding, self.dilation, self.groups,
                                out=g.shape[2:])
        self.save_for_backward(x, g)
        return im2col.weight_grad(x, layout.nhwc(g), self.plan)

    def backward(self, gw):
        """dx = col2im(g @ gW) (conv_transpose2d(g, gW));  dg = col(x) @ gW^T (conv2d(x, gW))"""
        x, g = self.saved_tensors
        p = self.plan
        wm = im2col.weight_rows(gw, p)
        gx = gg = None
        if self.needs_input_grad[0]:
            gx = im2col.input_grad(layout.nhwc(g), wm, p).transpose(0, 3, 1, 2)
        if self.needs_input_grad[1]:
            gg = im2col.forward(x, wm, p)[0].transpose(0, 3, 1, 2)
        return gx, gg

    def backward_graph(self, gw):
        """dx = conv_transpose2d(g, gW);  dg = conv2d(x, gW)  (ops)"""
        x, g = self.unpack_saved()
        return _weight_grad_graph_backward(self, gw, x, g, _fast_family())
