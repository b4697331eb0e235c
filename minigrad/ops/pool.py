"""2-D pooling: max, average and adaptive average over NCHW inputs.

Max and average pooling loop over the kh*kw kernel offsets, never over pixels: for offset (i, j) the
strided slice ``x_pad[:, :, i*dh : : sh, j*dw : : sw]`` holds that tap of every window at once, so each
step is one whole-array NumPy operation. The input is read through a channels-last (padded) copy, as
in ``conv``, so that the strided taps read runs of C contiguous values; outputs are channels-last.

Higher order (``backward_graph``). Average pooling (plain and adaptive) is linear: its gradient is
its adjoint, written as a Function of its own (``AvgPool2dAdjoint``, ``AdaptiveAvgPool2dAdjoint``)
whose gradient is the pooling again, so the two call each other. Max pooling's gradient sends gy to
each window's winner: a scatter-add (``shape.IndexAdd``) at positions fixed by the forward, whose
gradient is the gather of those positions (``GetItem``).
"""
import numpy as np

from ..autograd import Function
from ..backend import get_array_module, scatter_add
from ..kernels import memory
from ..kernels.threads import each_block
from ..kernels.layout import empty_like_layout as _empty_like_layout
from ..kernels.layout import pad_nhwc as _pad_nhwc
from .shape import GetItem, IndexAdd, Reshape


def pool_out_size(n, k, s, p, d, ceil_mode):
    """PyTorch's output length: floor (or ceil) of the window count; in ceil mode the last window
    must start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return o


class _Pool2d(Function):
    """Shared geometry: params kernel (kh, kw), stride, padding (ph, pw), dilation, ceil_mode."""

    def _geometry(self, shape):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel, self.stride, self.padding, self.dilation
        H, W = shape[2:]
        oh = pool_out_size(H, kh, sh, ph, dh, self.ceil_mode)
        ow = pool_out_size(W, kw, sw, pw, dw, self.ceil_mode)
        # padded extent the windows reach: beyond H + 2*ph only in ceil mode
        bottom = (oh - 1) * sh + dh * (kh - 1) + 1 - H - ph
        right = (ow - 1) * sw + dw * (kw - 1) + 1 - W - pw
        self.geometry = (shape, (oh, ow), (ph, bottom, pw, right))
        return oh, ow, (ph, bottom, pw, right)

    def _taps(self, oh, ow):
        """(offset index, slice of the padded input holding that tap of every window)."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        hi, wi = (oh - 1) * sh + 1, (ow - 1) * sw + 1
        for i in range(kh):
            for j in range(kw):
                rows, cols = slice(i * dh, i * dh + hi, sh), slice(j * dw, j * dw + wi, sw)
                yield i * kw + j, (slice(None), slice(None), rows, cols)

    def _crop(self, gpad):
        """The input's part of a gradient laid out on the padded grid (a view)."""
        (N, C, H, W), _, (top, _, left, _) = self.geometry
        return gpad[:, :, top: top + H, left: left + W]


class MaxPool2d(_Pool2d):
    """y[n,c,p,q] = max_{i,j} x_pad[n, c, p*sh + i*dh, q*sw + j*dw]   (padding is -inf)"""
    saved_names = ("argmax",)

    def forward(self, x):
        xp = get_array_module(x)
        oh, ow, pads = self._geometry(x.shape)
        xpad = _pad_nhwc(x, *pads, value=-xp.inf).transpose(0, 3, 1, 2)
        taps = list(self._taps(oh, ow))
        y = xp.empty_like(xpad[taps[0][1]], order="K")

        def window_max(i):  # (a block of samples per thread)
            y[i] = xpad[i][taps[0][1]]
            for _, sl in taps[1:]:
                xp.maximum(y[i], xpad[i][sl], out=y[i])

        each_block(window_max, y)
        if not self.recording:  # no backward will ask for the winners
            return y
        # the winner of each window, as its offset in the padded plane (i*dh*Wp + j*dw): the first tap
        # equal to the max (PyTorch's scan keeps the first maximum), found writing from the last tap back
        offsets = self._offsets()
        arg = xp.zeros(y.shape, xp.int32)
        for t, sl in reversed(taps):
            xp.copyto(arg, offsets[t], where=(xpad[sl] == y))
        if bool(xp.isnan(y).any()):  # PyTorch's scan: a NaN always wins, so the last NaN of the window
            for t, sl in taps:
                xp.copyto(arg, offsets[t], where=xp.isnan(xpad[sl]))
        elif bool((y == -xp.inf).any()):  # all -inf: PyTorch points at the first tap inside the input
            first = xp.asarray(np.asarray(offsets)[self._first_inside(oh, ow)], dtype=xp.int32)
            xp.copyto(arg, first, where=(y == -xp.inf))
        self.save_for_backward(arg)
        return y

    def _padded_plane(self):
        (N, C, H, W), _, (top, bottom, left, right) = self.geometry
        return H + top + max(bottom, 0), W + left + max(right, 0)

    def _offsets(self):
        """Offset of tap t = (i, j) from its window's corner in a padded (Hp, Wp) plane."""
        (kh, kw), (dh, dw) = self.kernel, self.dilation
        Wp = self._padded_plane()[1]
        return [i * dh * Wp + j * dw for i in range(kh) for j in range(kw)]

    def _first_inside(self, oh, ow):
        """(oh, ow) index of each window's first tap that lies inside the input."""
        (N, C, H, W), _, _ = self.geometry
        first = []
        for n, o, k, s, p, d in ((H, oh, self.kernel[0], self.stride[0], self.padding[0], self.dilation[0]),
                                 (W, ow, self.kernel[1], self.stride[1], self.padding[1], self.dilation[1])):
            pos = np.arange(o)[:, None] * s + np.arange(k)[None, :] * d - p  # (outputs, taps)
            inside = (pos >= 0) & (pos < n)
            first.append(np.where(inside.any(axis=1), inside.argmax(axis=1), 0))
        return first[0][:, None] * self.kernel[1] + first[1][None, :]

    def backward(self, gy):
        """dx[window's argmax] += gy  (the first maximum of each window, as PyTorch)"""
        xp = get_array_module(gy)
        N, C = self.geometry[0][:2]
        Hp, Wp = self._padded_plane()
        pos = self._winner_positions(xp, fresh=False)
        gpad = memory.zeros((N, C, Hp, Wp), gy.dtype, xp)
        scatter_add(gpad.reshape(-1), pos.reshape(-1), gy.reshape(-1))  # windows may overlap: accumulate
        return self._crop(gpad)

    def _winner_positions(self, xp, fresh):
        """Each window's winner as a flat position in the padded (N, C, Hp, Wp) gradient: plane
        start + window corner + the winner's offset (``fresh``: its own array, not a reused buffer)."""
        (arg,) = self.saved_tensors
        (N, C, H, W), (oh, ow), _ = self.geometry
        (sh, sw) = self.stride
        Hp, Wp = self._padded_plane()
        itype = xp.int32 if N * C * Hp * Wp < 2 ** 31 else xp.int64
        pos = xp.empty(arg.shape, itype) if fresh else memory.empty(arg.shape, itype, xp)
        xp.add(arg, (xp.arange(N * C, dtype=itype) * (Hp * Wp)).reshape(N, C, 1, 1), out=pos)
        pos += xp.arange(oh, dtype=itype)[:, None] * (sh * Wp) + xp.arange(ow, dtype=itype) * sw
        return pos

    def backward_graph(self, gy):
        """dx = IndexAdd(gy at the winners' positions) cropped to the input (ops: a scatter-add
        whose gradient gathers the winners' gradients)"""
        N, C, H, W = self.geometry[0]
        Hp, Wp = self._padded_plane()
        pos = self._winner_positions(gy._xp, fresh=True).reshape(-1)
        gpad = IndexAdd.apply(Reshape.apply(gy, shape=(pos.shape[0],)), index=pos, shape=(N * C * Hp * Wp,))
        top, left = self.geometry[2][0], self.geometry[2][2]
        crop = (slice(None), slice(None), slice(top, top + H), slice(left, left + W))
        return GetItem.apply(Reshape.apply(gpad, shape=(N, C, Hp, Wp)), index=crop)


class AvgPool2d(_Pool2d):
    """y[n,c,p,q] = sum_{i,j} x_pad[n, c, p*sh + i, q*sw + j] / divisor[p, q]   (padding is 0)"""
    saved_names = ()

    def _divisor(self, xp, dtype):
        """PyTorch's divisor per output: the window clipped to the padded input (count_include_pad)
        or to the input itself; a plain number when every window has the same one."""
        (N, C, H, W), (oh, ow), _ = self.geometry
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        sizes = []
        for n, o, k, s, p in ((H, oh, kh, sh, ph), (W, ow, kw, sw, pw)):
            start = np.arange(o) * s - p
            end = np.minimum(start + k, n + p)
            if not self.count_include_pad:
                start, end = np.maximum(start, 0), np.minimum(end, n)
            sizes.append(end - start)
        div = sizes[0][:, None] * sizes[1][None, :]
        if (div == kh * kw).all():
            return kh * kw
        return xp.asarray(div, dtype=dtype)

    def forward(self, x):
        self._geometry(x.shape)
        return self._average(x)

    def backward(self, gy):
        """dx[every tap of the window] += gy / divisor"""
        return self._spread(gy)

    def backward_graph(self, gy):
        return AvgPool2dAdjoint.apply(gy, in_shape=self.geometry[0], **self.params)

    def _average(self, x):
        """y = the window sums of x / divisor (geometry set)."""
        xp = get_array_module(x)
        _, (oh, ow), pads = self.geometry
        xpad = _pad_nhwc(x, *pads).transpose(0, 3, 1, 2)
        y = None
        for _, sl in self._taps(oh, ow):
            if y is None:
                y = xp.empty_like(xpad[sl], order="K")
                y[...] = xpad[sl]
            else:
                y += xpad[sl]
        div = self._divisor(xp, x.dtype)
        if isinstance(div, int):
            y *= x.dtype.type(1.0 / div)
        else:
            y /= div
        return y

    def _spread(self, gy):
        """dx: every window's gy / divisor added to each of its taps (geometry set)."""
        xp = get_array_module(gy)
        (N, C, H, W), (oh, ow), (top, bottom, left, right) = self.geometry
        div = self._divisor(xp, gy.dtype)
        g = gy * gy.dtype.type(1.0 / div) if isinstance(div, int) else gy / div
        gpad = _empty_like_layout(gy, (N, C, H + max(top, 0) + max(bottom, 0), W + max(left, 0) + max(right, 0)))
        gpad[...] = 0
        for _, sl in self._taps(oh, ow):
            gpad[sl] += g
        return self._crop(gpad)


class AvgPool2dAdjoint(AvgPool2d):
    """y[n,c,a,b] = sum over the windows (p,q) that contain (a,b) of x[n,c,p,q] / divisor[p,q]

    The transpose of AvgPool2d (x has the pooled size, y the input size ``in_shape``): its
    gradient as an op, so it can be differentiated; its own gradient is AvgPool2d again."""
    saved_names = ()

    def forward(self, g):
        self._geometry(self.in_shape)
        return self._spread(g)

    def backward(self, gy):
        """dx = AvgPool2d(gy)"""
        return self._average(gy)

    def backward_graph(self, gy):
        params = {k: v for k, v in self.params.items() if k != "in_shape"}
        return AvgPool2d.apply(gy, **params)


def adaptive_bins(n, o):
    """PyTorch's adaptive pooling bins: start = floor(i*n/o), end = ceil((i+1)*n/o)."""
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)


def _bin_matrix(n, o, xp, dtype):
    """A (o, n) matrix whose row i averages bin i."""
    start, end = adaptive_bins(n, o)
    pos = np.arange(n)
    inside = (pos[None, :] >= start[:, None]) & (pos[None, :] < end[:, None])
    return xp.asarray(inside / (end - start)[:, None], dtype=dtype)


class AdaptiveAvgPool2d(Function):
    """y[n,c,p,q] = mean of x[n, c, bin_h(p), bin_w(q)] = (A_h @ x @ A_w^T)[n, c, p, q]"""
    saved_names = ()

    def forward(self, x):
        self._setup(x.shape, get_array_module(x), x.dtype)
        return self._average(x)

    def backward(self, gy):
        """dx = A_h^T @ gy @ A_w  (each bin's gradient spread evenly over its bin)"""
        return self._spread(gy)

    def backward_graph(self, gy):
        return AdaptiveAvgPool2dAdjoint.apply(gy, in_shape=self.in_shape, output_size=self.output_size)

    def _setup(self, in_shape, xp, dtype):
        N, C, H, W = self.in_shape = tuple(in_shape)
        oh, ow = self.output_size
        if not (H % oh == 0 and W % ow == 0):
            self.a_h = _bin_matrix(H, oh, xp, dtype)
            self.a_w = _bin_matrix(W, ow, xp, dtype)

    def _average(self, x):
        xp = get_array_module(x)
        N, C, H, W = self.in_shape
        oh, ow = self.output_size
        if H % oh == 0 and W % ow == 0:  # equal bins (global pooling included): a reshape and a mean
            kh, kw = H // oh, W // ow
            return x.reshape(N, C, oh, kh, ow, kw).mean(axis=(3, 5), dtype=x.dtype)
        t = xp.tensordot(x, self.a_w, axes=([3], [1]))  # (N, C, H, ow)
        return xp.tensordot(t, self.a_h, axes=([2], [1])).transpose(0, 1, 3, 2)

    def _spread(self, gy):
        xp = get_array_module(gy)
        N, C, H, W = self.in_shape
        oh, ow = self.output_size
        if H % oh == 0 and W % ow == 0:
            kh, kw = H // oh, W // ow
            g = (gy * gy.dtype.type(1.0 / (kh * kw)))[:, :, :, None, :, None]
            if oh == ow == 1:
                return xp.broadcast_to(g.reshape(N, C, 1, 1), self.in_shape)
            return xp.broadcast_to(g, (N, C, oh, kh, ow, kw)).reshape(self.in_shape)
        t = xp.tensordot(gy, self.a_h, axes=([2], [0]))  # (N, C, ow, H)
        return xp.tensordot(t, self.a_w, axes=([2], [0]))


class AdaptiveAvgPool2dAdjoint(AdaptiveAvgPool2d):
    """y = A_h^T @ x @ A_w   (the transpose of AdaptiveAvgPool2d: x pooled-size, y of ``in_shape``)

    Its gradient is AdaptiveAvgPool2d again (the pair's backward_graphs call each other)."""
    saved_names = ()

    def forward(self, g):
        self._setup(self.in_shape, get_array_module(g), g.dtype)
        return self._spread(g)

    def backward(self, gy):
        """dx = A_h @ gy @ A_w^T  (AdaptiveAvgPool2d(gy))"""
        return self._average(gy)

    def backward_graph(self, gy):
        return AdaptiveAvgPool2d.apply(gy, output_size=self.output_size)
