"""Tensors -> kernel arguments: a tensor as the flat storage it spans plus its element strides (any
layout is read and written in place, without a contiguous copy and without one compiled variant per
layout), 2-D shapes padded to 3-D (a leading axis of one voxel, whose coordinate is exactly 0 and whose
taps all read voxel 0), the index map as the box's origin and linear part, each row's inside run, and
the fill value in the kernel's dtype."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..._recent import RecentValues
from ...geometry.tolerances import SNAP_TOL
from ..box import Box, inside_runs
from ..options import WarpOptions
from ..plan import WarpPlan

#: Same-size unsigned integers that carry any dtype's bits (a copy moves bits, never values).
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _layout(shape: Sequence[int], stride: Sequence[int]) -> tuple[np.ndarray, int]:
    """The element strides ``(4,)`` a kernel reads a ``(N, *spatial)`` tensor of this shape and stride
    with (a 2-D image given a leading axis of one; an axis of one voxel a stride of 0: its only index is 0,
    so a kernel may read its taps without a clamp, :func:`._rows._axis_interior`), and how many elements
    of its storage it spans."""
    strides = [0 if n == 1 else s for n, s in zip(shape, stride)]
    if len(shape) == 3:
        strides.insert(1, 0)
    return np.asarray(strides, dtype=np.int64), 1 + sum((n - 1) * s for n, s in zip(shape, stride))


def _flat(t: torch.Tensor, span: int, dtype: Optional[torch.dtype] = None) -> np.ndarray:
    """The ``span`` elements of ``t``'s storage from its first one, as a 1-D numpy view (optionally
    reinterpreted as ``dtype`` of the same size)."""
    if t.requires_grad:
        t = t.detach()
    if dtype is not None and dtype != t.dtype:
        t = t.view(dtype)
    if t.is_contiguous():  # its own elements, in order: the span (a third cheaper than as_strided)
        return t.numpy().reshape(-1)
    return t.as_strided((span,), (1,)).numpy()


def _storage(t: torch.Tensor, dtype: Optional[torch.dtype] = None) -> tuple[np.ndarray, np.ndarray]:
    """``t`` ``(N, *spatial)`` as a 1-D numpy view of the storage it spans (optionally reinterpreted as
    ``dtype`` of the same size) and its element strides ``(4,)`` (:func:`_layout`)."""
    strides, span = _layout(t.shape, t.stride())
    return _flat(t, span, dtype), strides


def _padded(ndim: int, sizes: Sequence[int]) -> np.ndarray:
    """A 2-D or 3-D spatial shape as 3-D (a leading axis of one voxel)."""
    return np.asarray([1] * (3 - ndim) + list(sizes), dtype=np.int64)


def _padded_out(ndim: int, shape: Sequence[int]) -> np.ndarray:
    """A ``(N, *spatial)`` shape as ``(N, 3-D spatial)``."""
    return np.asarray([shape[0], *_padded(ndim, shape[1:])], dtype=np.int64)


#: Recent ``_geometry``, ``_fill_value`` and ``_general_args`` results (the kernels only read them): each
#: costs about 10 microseconds, a percent of a 64^3 output's nearest kernel, and a loop asks for the same again.
_SMALL: "RecentValues[Any]" = RecentValues(64)


def _geometry(matrix: np.ndarray, starts: Sequence[int], ndim: int, nearest: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(origin (3,), lin (3, 3))`` of the box's coordinates from a ``(D+1, D+1)`` index map, padded to 3-D
    (the same arrays again for the same arguments while they are recent: read only)."""
    key = ("geometry", matrix.tobytes(), matrix.shape, tuple(int(s) for s in starts), ndim, nearest)
    return _SMALL.get(key, lambda: _make_geometry(matrix, starts, ndim, nearest))  # type: ignore[no-any-return]


def _make_geometry(matrix: np.ndarray, starts: Sequence[int], ndim: int, nearest: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_geometry`, computed."""
    m = matrix.copy()
    if nearest:  # the tie rule folded into the constant, as general.nearest_index does
        m[:ndim, ndim] += 0.5 + SNAP_TOL
    linear = m[:ndim, :ndim]
    origin = m[:ndim, ndim] + linear @ np.asarray(starts, dtype=np.float64)
    lin3 = np.zeros((3, 3), dtype=np.float64)
    lin3[3 - ndim :, 3 - ndim :] = linear
    origin3 = np.zeros(3, dtype=np.float64)
    origin3[3 - ndim :] = origin
    if nearest and ndim == 2:
        origin3[0] = 0.5 + SNAP_TOL
    return origin3, lin3


#: Inside runs of recent small boxes (at most ``_RUNS_ROWS`` rows each; the kernels only read them):
#: computing them costs about as much as a 64^3 output's nearest kernel (benchmarks/bench_overhead.py).
_RUNS: "RecentValues[tuple[np.ndarray, np.ndarray]]" = RecentValues(32)
_RUNS_ROWS = 1 << 16


def _runs(plan: WarpPlan, box: Box, options: WarpOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per output row (flat over the box's first two padded axes), the inside run ``[lo, hi)`` (the
    same arrays again for the same plan matrix, shapes and box while they are cached: read only)."""
    starts, shape = tuple(b.start for b in box), tuple(b.stop - b.start for b in box)
    rows = math.prod(shape[:-1])
    if not options.constant:
        return np.zeros(rows, dtype=np.int64), np.full(rows, shape[-1], dtype=np.int64)
    key = (plan.matrix.tobytes(), plan.source_shape, starts, shape) if rows <= _RUNS_ROWS else None

    def make() -> tuple[np.ndarray, np.ndarray]:
        lo, hi = inside_runs(plan, starts, shape)
        return np.ascontiguousarray(lo.numpy().reshape(-1)), np.ascontiguousarray(hi.numpy().reshape(-1))

    return _RUNS.get(key, make)


def _fill_value(fill: float, dtype: torch.dtype, bits: Optional[torch.dtype]) -> Any:
    """``fill`` cast to ``dtype`` (as torch casts it), then reinterpreted as ``bits`` if given; a numpy scalar
    (recent ones kept, keyed by the float's exact value: -0.0 is not 0.0)."""
    return _SMALL.get(("fill", float(fill).hex(), dtype, bits), lambda: _make_fill_value(fill, dtype, bits))


def _make_fill_value(fill: float, dtype: torch.dtype, bits: Optional[torch.dtype]) -> Any:
    """:func:`_fill_value`, computed."""
    value = torch.tensor(fill, dtype=torch.float64).to(dtype)
    if bits is not None:
        value = value.view(bits)
    return value.numpy()[()]


def _general_args(src: torch.Tensor, dest: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions,
                  bits: Optional[torch.dtype]) -> tuple[Any, ...]:
    """Everything a general-path kernel (:func:`.general_kernel`, and :func:`.label.label_kernel` before its own
    map arguments) is given but the two storages:
    ``(oshape, sst, source span, nsrc, ost, out span, tail)``, ``tail`` the arguments after the output's
    strides (``oshape, origin, lin, lo, hi, fill, reflect``). Recent ones are kept, keyed by everything
    they are made from (the same arrays again: the kernels only read them): made step by step they cost
    a third of a 64^3 nearest kernel at two threads (``benchmarks/bench_overhead.py``)."""
    nearest = options.mode == "nearest"
    key = ("general", matrix.tobytes(), plan.matrix.tobytes(), plan.source_shape, tuple((b.start, b.stop) for b in box),
           tuple(src.shape), src.stride(), tuple(dest.shape), dest.stride(), dest.dtype, bits, nearest,
           options.padding_mode, options.constant, float(options.fill).hex())

    def make() -> tuple[Any, ...]:
        ndim = plan.ndim
        (sst, source_span), (ost, out_span) = _layout(src.shape, src.stride()), _layout(dest.shape, dest.stride())
        oshape = _padded_out(ndim, dest.shape)
        origin, lin = _make_geometry(matrix, [b.start for b in box], ndim, nearest)
        lo, hi = _runs(plan, box, options)
        tail = (oshape, origin, lin, lo, hi, _make_fill_value(options.fill, dest.dtype, bits), options.padding_mode == "reflection")
        return oshape, sst, source_span, _padded(ndim, src.shape[1:]), ost, out_span, tail

    return _SMALL.get(key, make)  # type: ignore[no-any-return]
