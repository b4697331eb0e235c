"""Embedding lookup: a gather of weight rows, whose gradient is a scatter-add of rows.

    y[i...] = W[idx[i...]]                       forward: gather
    dW[r]   = sum over {i : idx[i] = r} of gy[i]  backward: repeated indices accumulate

The backward is the interesting part. ``Embedding``, the reference, states it exactly with
``np.add.at(dW, idx, gy)`` (a scatter-add: repeated indices accumulate), which loops per index in
C with a large constant (~10 ms for 4096 rows of 256). ``EmbeddingFast`` (what ``F`` runs unless
``minigrad.kernels.reference_kernels()`` is active) computes the same sums as a sorted segment-sum
(``sum_rows_by_index``): the rows are grouped by index once (a stable sort), and rows that hit
DISTINCT indices are added with one fancy-indexed add:
the k-th occurrence of every index forms such a set ("rank k"). A few ranks cover typical text;
the remaining rows of the few very frequent indices (or all rows, when there are few distinct
indices, e.g. characters) are gathered once in sorted order and each index's run of rows is
summed by a product ones @ run (``add.reduceat`` would say it in one call, but NumPy runs it
several times slower; a one-hot product (num, N) @ (N, D) costs num * N * D multiply-adds).

The differentiable backward (``Embedding.backward_graph``, inherited by ``EmbeddingFast``) is the
same scatter-add as ``shape.IndexAdd``, the adjoint of the gather ``GetItem``: differentiating it
again gathers rows, and so on, every order from that one adjoint pair.
"""
from .. import backend
from ..autograd import Function
from ..backend import get_array_module, scatter_add
from ..kernels import memory
from ..kernels.threads import blas_threads
from .shape import IndexAdd, Reshape

_RANK_PASSES = 8  # occurrences per index added by fancy indexing; the rest are summed per index


def sum_rows_by_index(idx, rows, num):
    """``out`` (num, D) with ``out[r] = sum of rows[i] over every i with idx[i] = r`` (0 elsewhere).

    ``idx`` (N,) ints in [0, num), ``rows`` (N, D)."""
    xp = get_array_module(rows)
    n, d = rows.shape
    out = memory.zeros((num, d), rows.dtype, xp)  # (a reused buffer: no page faults)
    if n == 0:
        return out
    if backend.device_of(rows) != "cpu":  # atomic adds on the GPU are fast: use them as they are
        scatter_add(out, idx, rows)
        return out
    order = xp.argsort(idx, kind="stable")
    sorted_idx = idx[order]
    first = xp.empty(n, dtype=bool)  # True where a new index's group starts
    first[0] = True
    xp.not_equal(sorted_idx[1:], sorted_idx[:-1], out=first[1:])
    starts = xp.flatnonzero(first)
    counts = xp.diff(xp.append(starts, n))
    passes = 0 if starts.size * _RANK_PASSES <= n else min(int(counts.max()), _RANK_PASSES)
    if passes:
        rank = xp.arange(n) - xp.repeat(starts, counts)  # 0 for an index's 1st occurrence, 1 for its 2nd...
        for k in range(passes):
            sel = rank == k  # these sorted rows all have different indices: no collision
            if k == 0:
                out[sorted_idx[sel]] = rows[order[sel]]  # (out is still zero there)
            else:
                out[sorted_idx[sel]] += rows[order[sel]]
    heavy = xp.flatnonzero(counts > passes)  # indices with rows left: few (<= n / (passes + 1))
    if heavy.size:  # gather their remaining rows once, in sorted order, and sum each one's run
        left = order if not passes else order[rank >= passes]
        buf = memory.scratch((left.shape[0], d), rows.dtype, xp, "embedding")
        gathered = xp.take(rows, left, axis=0, out=buf, mode="clip")  # (in range: "clip" skips a buffered check)
        ends = xp.cumsum(counts[heavy] - passes).tolist()
        sums = xp.empty((heavy.size, d), dtype=rows.dtype)
        ones = xp.ones(n, dtype=rows.dtype)
        with blas_threads(1):  # one short product per index: waking BLAS threads costs more
            for j, (a, b) in enumerate(zip([0] + ends[:-1], ends)):
                xp.matmul(ones[:b - a], gathered[a:b], out=sums[j])  # the sum of the run's rows
        if passes:
            out[sorted_idx[starts[heavy]]] += sums
        else:
            out[sorted_idx[starts[heavy]]] = sums
    return out


class Embedding(Function):
    """y = W[idx]"""

    # params: padding_idx (int or None, non-negative)
    saved_names = ("idx",)

    def forward(self, idx, weight):
        xp = get_array_module(weight)
        self.weight_shape = weight.shape
        self.save_for_backward(idx)
        return xp.take(weight, idx, axis=0)

    def backward(self, gy):
        """dW[r] = sum of gy[i] over every i with idx[i] = r;  dW[padding_idx] = 0"""
        (idx,) = self.saved_tensors
        xp = get_array_module(gy)
        num, d = self.weight_shape
        gw = xp.zeros((num, d), dtype=gy.dtype)
        scatter_add(gw, idx.reshape(-1), gy.reshape(-1, d))  # gw[idx[i]] += gy[i], repeats accumulate
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return None, gw

    def backward_graph(self, gy):
        """dW = IndexAdd(gy rows at idx)  (rows whose index is padding_idx dropped first)"""
        if not self.needs_input_grad[1]:
            return None, None
        (idx,) = self.saved_tensors
        num, d = self.weight_shape
        idx = idx.reshape(-1)
        rows = Reshape.apply(gy, shape=(idx.shape[0], d))
        if self.padding_idx is not None:
            (kept,) = (idx != self.padding_idx).nonzero()
            rows, idx = rows[kept], idx[kept]  # a GetItem: the gather that drops those rows
        return None, IndexAdd.apply(rows, index=idx, shape=(num, d))


class EmbeddingFast(Embedding):
    """y = W[idx]"""

    saved_names = ("idx",)

    def forward(self, idx, weight):
        xp = get_array_module(weight)
        self.weight_shape = weight.shape
        self.save_for_backward(idx)
        if backend.device_of(weight) != "cpu":
            return xp.take(weight, idx, axis=0)
        y = memory.empty(idx.shape + weight.shape[1:], weight.dtype, xp)  # (a reused buffer: no page faults)
        return xp.take(weight, idx, axis=0, out=y, mode="clip")  # (F checked the range: "clip" skips a check)

    def backward(self, gy):
        """dW[r] = sum of gy[i] over every i with idx[i] = r;  dW[padding_idx] = 0"""
        (idx,) = self.saved_tensors
        if not self.needs_input_grad[1]:
            return None, None
        num, d = self.weight_shape
        gw = sum_rows_by_index(idx.reshape(-1), gy.reshape(-1, d), num)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return None, gw
