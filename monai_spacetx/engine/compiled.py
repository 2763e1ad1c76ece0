"""CPU kernels compiled with numba for the general path (any affine): nearest, linear, cubic, label,
the composed nearest map-back (:func:`compose_nearest_gather`), and the linear argmax export's
three passes (:func:`export_first_pass`, :func:`export_certify`, :func:`export_argmax`, for
:mod:`.export`).

Why: torch's own 3-D ``grid_sample`` CPU kernel is slower than SimpleITK, and a gather per tap
(cubic: 64 of them) walks memory 64 times. One compiled loop per target row reads each voxel's
taps once, keeps coordinates in registers (incremental along the row) and writes the output in
place: no per-voxel temporaries, so memory beyond input and output is a few small per-row
arrays (the inside runs of ``"zeros"`` padding).

Every kernel follows the torch path's conventions exactly (it is the reference the tests compare
with, and the path for CUDA tensors and when numba is missing):

- coordinates: float64, ``x_k = ((o_k + i L_k0) + j L_k1) + l L_k2`` for the box's voxel
  ``(i, j, l)``, with ``o = M[:, D] + L @ box_start`` (as :func:`~.general.chunk_coords`);
- nearest: ``floor(x + 0.5 + SNAP_TOL)`` (the tie rule, half and tolerance folded into ``o``),
  indices clamped or reflected by :func:`~.taps.wrap_index`'s rule; copied bit for bit (any
  dtype is moved as an unsigned integer of its size);
- linear: the coordinate reflected about ``-0.5``/``n - 0.5`` (reflection) then clamped to
  ``[0, n - 1]`` (:func:`~.taps.wrap_coord`), taps ``floor(x)`` and ``min(floor(x) + 1, n - 1)``;
- cubic: :func:`~.taps.snap_half`, then reflected into ``[-0.5, n - 0.5]`` or clamped to
  ``[-1, n]``, Keys weights (``A = -0.75``), each of the 4 taps per axis through the tap rule;
- label: the linear taps of the snapped coordinate, then the vote of :mod:`.label` (the class
  with the largest summed weight, scores quantised by ``WEIGHT_TOL``, ties to the smaller label),
  with the same summation order, so the result is bit for bit the torch path's; a voxel whose
  cell's 8 taps hold one label takes it without a vote (for targets at least as large as the
  source, from a one-byte map of the uniform source cells);
- ``"zeros"`` padding: the voxels outside the source field of view get ``fill``, per row from
  :func:`~.box.inside_runs` (the same float64 test).

2-D images run through the 3-D kernels with a leading source and target axis of one voxel (its
coordinate is exactly 0, its taps all read voxel 0 with weights 1 and 0), so each kernel is
compiled once per dtype. Tensors are passed as their flat storage plus element strides: any
layout (a window of the source, a box of the output) is read and written in place, without a
contiguous copy and without one compiled variant per layout.

Threads: a kernel runs its target rows in ``prange`` on the thread count decided for the call
(:func:`~.threads.call_threads`), set with ``numba.set_num_threads``, which numba keeps per
calling thread. One thread runs a serial build of the same kernel: no parallel runtime is
touched, which is also what a forked process must do after its parent used numba's OpenMP
layer (GNU OpenMP aborts a forked child that starts a parallel region). The GIL is released.

Compile cost: ``cache=True`` keeps the machine code on disk next to this module (numba's
``__pycache__``, or ``NUMBA_CACHE_DIR``); a read-only install compiles in memory once per
process instead (numba falls back when it cannot write).
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..geometry.points import nearest_voxel
from ..geometry.tolerances import SNAP_TOL, WEIGHT_TOL
from .box import Box, inside_runs
from .options import WarpOptions
from .plan import WarpPlan
from .taps import CUBIC_A
from .threads import call_threads

numba: Any
try:  # numba is a dependency, but the engine stays usable (torch path) where it cannot be imported
    numba = importlib.import_module("numba")
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None

__all__ = ["available", "disabled", "general_kernel", "label_kernel", "compose_nearest_gather", "export_first_pass", "export_certify", "export_argmax", "warm_up"]

#: ``MONAI_SPACETX_KERNELS=0`` turns the compiled kernels off (the torch path everywhere).
_ENV_OFF = os.environ.get("MONAI_SPACETX_KERNELS", "1").strip().lower() in ("0", "false", "no", "off")
_state = threading.local()
#: The process that first ran a parallel kernel: a forked child (another pid) runs serial builds only.
_parallel_pid: Optional[int] = None

#: Same-size unsigned integers that carry any dtype's bits (a copy moves bits, never values).
_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
#: Label dtypes the vote kernel compares directly (bool is moved as uint8: False < True holds).
_LABEL_DTYPES = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32, torch.float64}


def available() -> bool:
    """Whether the compiled kernels are used on CPU tensors (numba importable, not switched off)."""
    return numba is not None and not _ENV_OFF and not getattr(_state, "off", False)


class disabled:
    """Context manager: the torch path for CPU tensors too, in the calling thread (tests compare both)."""

    def __enter__(self) -> None:
        self._before = getattr(_state, "off", False)
        _state.off = True

    def __exit__(self, *exc: object) -> None:
        _state.off = self._before


# ----------------------------------------------------------------------------- kernels (numba source)
# Plain Python functions, compiled below; numba ignores the annotations. Arguments:
#   src, out: 1-D views of the storages; sst, ost: int64 (4,) element strides (channel, 3 axes)
#   nsrc: int64 (3,) source sizes; oshape: int64 (4,) output box shape (channels first)
#   origin: float64 (3,), lin: float64 (3, 3): x_k = ((origin_k + i lin_k0) + j lin_k1) + l lin_k2
#   lo, hi: int64 (rows,) the inside run of each output row (flat over its first two axes)


def _wrap(i: int, n: int, reflect: bool) -> int:
    """An integer tap index through the tap rule (:func:`~.taps.wrap_index`)."""
    if reflect:
        i = i % (2 * n)  # Python semantics in numba too: non-negative for n > 0
        if i >= n:
            i = 2 * n - 1 - i
    return min(max(i, 0), n - 1)


def _reflect_coord(x: float, n: int) -> float:
    """A coordinate reflected about ``-0.5`` and ``n - 0.5`` into ``[-0.5, n - 0.5]`` (torch.remainder's arithmetic)."""
    period = 2.0 * n
    y = np.fmod(x + 0.5, period)  # torch.remainder: fmod, then moved to the divisor's sign
    if y != 0.0 and y < 0.0:
        y += period
    return float((period - y if y > n else y) - 0.5)


def _snap_half(x: float) -> float:
    """:func:`~.taps.snap_half` of one value."""
    nearest = np.rint(2.0 * x) / 2.0
    return nearest if abs(x - nearest) <= SNAP_TOL else x


def _snapped_floor(x: float) -> int:
    """``floor(snap_half(x))`` for ``x >= 0``, snapping only where it can change the floor: snapping to a
    half-integer never does, to an integer only from within ``SNAP_TOL`` below it (the margin of twice
    that keeps round-off on the safe side)."""
    i = int(x)
    return i if x - i < 1.0 - 2.0 * SNAP_TOL else int(_snap_half(x))


def _linear_coord(x: float, n: int, reflect: bool) -> float:
    """:func:`~.taps.wrap_coord` (clamped) of one value (reflected even inside, as torch's arithmetic does)."""
    if reflect:
        x = _reflect_coord(x, n)
    return min(max(x, 0.0), n - 1.0)


def _keys_near(d: float) -> float:
    return ((CUBIC_A + 2.0) * d - (CUBIC_A + 3.0)) * d * d + 1.0


def _keys_far(d: float) -> float:
    return ((CUBIC_A * d - 5.0 * CUBIC_A) * d + 8.0 * CUBIC_A) * d - 4.0 * CUBIC_A


def _cubic_axis(x: float, n: int, stride: int, reflect: bool) -> tuple[tuple[int, int, int, int], tuple[float, float, float, float]]:
    """The 4 taps of one axis: storage offsets (index through the tap rule, times ``stride``) and Keys weights
    (two homogeneous tuples: numba indexes those with a loop variable)."""
    x = _snap_half(x)
    x = _reflect_coord(x, n) if reflect else min(max(x, -1.0), float(n))
    first = math.floor(x)
    t = x - first
    f = int(first)
    offsets = (_wrap(f - 1, n, reflect) * stride, _wrap(f, n, reflect) * stride,
               _wrap(f + 1, n, reflect) * stride, _wrap(f + 2, n, reflect) * stride)
    return offsets, (_keys_far(t + 1.0), _keys_near(t), _keys_near(1.0 - t), _keys_far(2.0 - t))


def _interior(x: float, step: float, low: float, high: float, l0: int, l1: int) -> tuple[int, int]:
    """The ``l`` in ``[l0, l1)`` with ``low <= x + l * step < high`` for sure: one voxel is given up at
    each end so that round-off cannot let a voxel in that the exact test would keep out."""
    if step == 0.0:
        return (l0, l1) if low + 1e-6 <= x < high - 1e-6 else (l0, l0)
    a, b = (low - x) / step, (high - x) / step
    if step < 0.0:
        a, b = b, a
    a = min(max(a, l0 - 2.0), l1 + 2.0)  # bounded before the int conversion (far rows give huge values)
    b = min(max(b, l0 - 2.0), l1 + 2.0)
    start = max(l0, int(math.floor(a)) + 1)
    stop = min(l1, int(math.ceil(b)) - 1)
    return start, max(start, stop)


def _row_interior(x0: float, x1: float, x2: float, lin: Any, nsrc: Any, low: float, high: float, l0: int, l1: int) -> tuple[int, int]:
    """The part of a row where every axis' coordinate is in ``[low, n + high)`` (see :func:`_interior`)."""
    s0, e0 = _interior(x0, lin[0, 2], low, nsrc[0] + high, l0, l1)
    s1, e1 = _interior(x1, lin[1, 2], low, nsrc[1] + high, l0, l1)
    s2, e2 = _interior(x2, lin[2, 2], low, nsrc[2] + high, l0, l1)
    start = max(s0, max(s1, s2))
    return start, max(start, min(e0, min(e1, e2)))


def _row_start(r: int, ost: Any, oshape: Any, origin: Any, lin: Any) -> tuple[int, float, float, float]:
    """Output row ``r`` (flat over the output's first two padded axes): its storage offset and the source
    coordinates of its first voxel."""
    a = r // oshape[2]
    b = r - a * oshape[2]
    return (ost[1] * a + ost[2] * b, (origin[0] + a * lin[0, 0]) + b * lin[0, 1],
            (origin[1] + a * lin[1, 0]) + b * lin[1, 1], (origin[2] + a * lin[2, 0]) + b * lin[2, 1])


def _fill_row(out: Any, at: int, ost: Any, channels: int, lo: int, hi: int, length: int, fill: Any) -> None:
    """``fill`` outside the row's inside run ``[lo, hi)``, every channel."""
    for c in range(channels):
        for l in range(0, lo):
            out[at + c * ost[0] + l * ost[3]] = fill
        for l in range(hi, length):
            out[at + c * ost[0] + l * ost[3]] = fill


def _nearest_interior(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float, d2: float,
                      l0: int, l1: int, sst: Any) -> None:
    """Nearest over the voxels ``[l0, l1)`` of a row inside ``[0, n)`` on every axis: ``floor`` is
    truncation there and no index needs the tap rule (a tight loop into the contiguous row ``orow``)."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    for l in range(l0, l1):
        orow[l] = src[s + int(x0 + l * d0) * t0 + int(x1 + l * d1) * t1 + int(x2 + l * d2) * t2]


def _nearest_edge(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                  l0: int, l1: int, sst: Any, reflect: bool) -> None:
    """Nearest over the voxels ``[l0, l1)`` of a row, some of whose indices need the tap rule."""
    for l in range(l0, l1):
        i0 = _wrap(int(math.floor(x0 + l * lin[0, 2])), nsrc[0], reflect)
        i1 = _wrap(int(math.floor(x1 + l * lin[1, 2])), nsrc[1], reflect)
        i2 = _wrap(int(math.floor(x2 + l * lin[2, 2])), nsrc[2], reflect)
        orow[l] = src[s + i0 * sst[1] + i1 * sst[2] + i2 * sst[3]]


def _nearest_row(r: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                 lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Nearest (``x`` already holds ``+ 0.5 + SNAP_TOL``); the output's last axis is contiguous."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, 0.0, lo[r], hi[r])
    inner = fast1 > fast0
    for c in range(oshape[0]):
        s = c * sst[0]
        orow = out[base + c * ost[0] : base + c * ost[0] + oshape[3]]
        _nearest_interior(src, orow, s, x0, x1, x2, lin[0, 2], lin[1, 2], lin[2, 2], fast0, fast1, sst)
        _nearest_edge(src, orow, s, x0, x1, x2, lin, nsrc, lo[r], fast0 if inner else hi[r], sst, reflect)
        if inner:
            _nearest_edge(src, orow, s, x0, x1, x2, lin, nsrc, fast1, hi[r], sst, reflect)


def _linear_interior(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float, d2: float,
                     l0: int, l1: int, sst: Any, weights: Any) -> None:
    """Linear over the voxels ``[l0, l1)`` of a row whose 8 taps are all on the grid: no padding rule, no
    branch (a tight loop); ``orow`` is the contiguous output row, ``s`` the channel's source offset."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    for l in range(l0, l1):
        y0, y1, y2 = x0 + l * d0, x1 + l * d1, x2 + l * d2
        i0, i1, i2 = int(y0), int(y1), int(y2)
        # the weights in the image's dtype (float32 arithmetic for float32 images, as grid_sample's)
        weights[0], weights[1], weights[2] = y0 - i0, y1 - i1, y2 - i2
        w0, w1, w2 = weights[0], weights[1], weights[2]
        p = s + i0 * t0 + i1 * t1 + i2 * t2
        v00 = src[p]
        v00 += (src[p + t2] - v00) * w2
        v01 = src[p + t1]
        v01 += (src[p + t1 + t2] - v01) * w2
        v10 = src[p + t0]
        v10 += (src[p + t0 + t2] - v10) * w2
        v11 = src[p + t0 + t1]
        v11 += (src[p + t0 + t1 + t2] - v11) * w2
        v00 += (v01 - v00) * w1
        v10 += (v11 - v10) * w1
        orow[l] = v00 + (v10 - v00) * w0


def _linear_edge(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                 l0: int, l1: int, sst: Any, weights: Any, reflect: bool) -> None:
    """Linear over the voxels ``[l0, l1)`` of a row, some of whose taps need the padding rule."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    for l in range(l0, l1):
        y0 = _linear_coord(x0 + l * lin[0, 2], n0, reflect)
        y1 = _linear_coord(x1 + l * lin[1, 2], n1, reflect)
        y2 = _linear_coord(x2 + l * lin[2, 2], n2, reflect)
        i0, i1, i2 = int(math.floor(y0)), int(math.floor(y1)), int(math.floor(y2))
        p0, q0 = i0 * sst[1], min(i0 + 1, n0 - 1) * sst[1]
        p1, q1 = i1 * sst[2], min(i1 + 1, n1 - 1) * sst[2]
        p2, q2 = i2 * sst[3], min(i2 + 1, n2 - 1) * sst[3]
        weights[0], weights[1], weights[2] = y0 - i0, y1 - i1, y2 - i2
        w0, w1, w2 = weights[0], weights[1], weights[2]
        v00 = src[s + p0 + p1 + p2]
        v00 += (src[s + p0 + p1 + q2] - v00) * w2
        v01 = src[s + p0 + q1 + p2]
        v01 += (src[s + p0 + q1 + q2] - v01) * w2
        v10 = src[s + q0 + p1 + p2]
        v10 += (src[s + q0 + p1 + q2] - v10) * w2
        v11 = src[s + q0 + q1 + p2]
        v11 += (src[s + q0 + q1 + q2] - v11) * w2
        v00 += (v01 - v00) * w1
        v10 += (v11 - v10) * w1
        orow[l] = v00 + (v10 - v00) * w0


def _linear_row(r: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Linear: 8 taps per voxel, 7 lerps in the image's dtype; the output's last axis is contiguous."""
    weights = np.empty(3, dtype=src.dtype)
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    # inside [0, n - 1) on every axis the coordinate needs no padding rule and both taps are on the grid
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, -1.0, lo[r], hi[r])
    inner = fast1 > fast0
    for c in range(oshape[0]):
        s = c * sst[0]
        orow = out[base + c * ost[0] : base + c * ost[0] + oshape[3]]
        _linear_interior(src, orow, s, x0, x1, x2, lin[0, 2], lin[1, 2], lin[2, 2], fast0, fast1, sst, weights)
        _linear_edge(src, orow, s, x0, x1, x2, lin, nsrc, lo[r], fast0 if inner else hi[r], sst, weights, reflect)
        if inner:
            _linear_edge(src, orow, s, x0, x1, x2, lin, nsrc, fast1, hi[r], sst, weights, reflect)


def _cubic_row(r: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Keys cubic: 64 taps per voxel, accumulated in float64 along the last axis first."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    for l in range(lo[r], hi[r]):
        o0, v0 = _cubic_axis(x0 + l * lin[0, 2], nsrc[0], sst[1], reflect)
        o1, v1 = _cubic_axis(x1 + l * lin[1, 2], nsrc[1], sst[2], reflect)
        o2, v2 = _cubic_axis(x2 + l * lin[2, 2], nsrc[2], sst[3], reflect)
        for c in range(oshape[0]):
            total = 0.0
            for e0 in range(4):
                w0 = v0[e0]
                if w0 == 0.0:  # the dummy axis of a 2-D image, and exact integer coordinates
                    continue
                plane = 0.0
                for e1 in range(4):
                    at = c * sst[0] + o0[e0] + o1[e1]
                    row = (src[at + o2[0]] * v2[0] + src[at + o2[1]] * v2[1]
                           + src[at + o2[2]] * v2[2] + src[at + o2[3]] * v2[3])
                    plane += row * v1[e1]
                total += plane * w0
            out[base + c * ost[0] + l * ost[3]] = total


def _label_vote(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, u0: float, u1: float, u2: float,
                labels: Any, weights: Any) -> Any:
    """The vote of :mod:`.label` among a voxel's 8 linear taps whose labels differ (storage offsets ``p``/``q``
    per axis, weights ``u`` of the upper taps). Taps in the torch path's order: ``(c0, c1, c2)``, ``c2``
    fastest; weights ``((1 * w_0) * w_1) * w_2`` as label._label_tile's ``weights_at``; scores summed in
    tap order. Two classes (most mixed cells) in registers; more in the scratch arrays."""
    a0, a1, a2, a3 = src[s + p0 + p1 + p2], src[s + p0 + p1 + q2], src[s + p0 + q1 + p2], src[s + p0 + q1 + q2]
    a4, a5, a6, a7 = src[s + q0 + p1 + p2], src[s + q0 + p1 + q2], src[s + q0 + q1 + p2], src[s + q0 + q1 + q2]
    v0, v1, v2 = 1.0 - u0, 1.0 - u1, 1.0 - u2
    w0, w1, w2, w3 = (v0 * v1) * v2, (v0 * v1) * u2, (v0 * u1) * v2, (v0 * u1) * u2
    w4, w5, w6, w7 = (u0 * v1) * v2, (u0 * v1) * u2, (u0 * u1) * v2, (u0 * u1) * u2
    low = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
    high = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
    if ((a0 == low or a0 == high) and (a1 == low or a1 == high) and (a2 == low or a2 == high) and (a3 == low or a3 == high)
            and (a4 == low or a4 == high) and (a5 == low or a5 == high) and (a6 == low or a6 == high)
            and (a7 == low or a7 == high)):  # label._of_two
        score = 0.0
        score += w0 if a0 == high else 0.0
        score += w1 if a1 == high else 0.0
        score += w2 if a2 == high else 0.0
        score += w3 if a3 == high else 0.0
        score += w4 if a4 == high else 0.0
        score += w5 if a5 == high else 0.0
        score += w6 if a6 == high else 0.0
        score += w7 if a7 == high else 0.0
        return high if np.rint(score / WEIGHT_TOL) > np.rint((1.0 - score) / WEIGHT_TOL) else low
    labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7] = a0, a1, a2, a3, a4, a5, a6, a7
    weights[0], weights[1], weights[2], weights[3], weights[4], weights[5], weights[6], weights[7] = w0, w1, w2, w3, w4, w5, w6, w7
    best = -1.0  # label._winner_of_many then label._best
    winner = high
    for t in range(8):
        score = 0.0
        for u in range(8):
            if labels[u] == labels[t]:
                score += weights[u]
        rounded = np.rint(score / WEIGHT_TOL)
        if rounded > best:
            best, winner = rounded, labels[t]
        elif rounded == best and labels[t] < winner:
            winner = labels[t]
    return winner


def _uniform(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, first: Any) -> bool:
    """Whether the 8 taps all hold ``first`` (the tap at ``p0 + p1 + p2``), with early exits."""
    return bool(src[s + p0 + p1 + q2] == first and src[s + p0 + q1 + p2] == first and src[s + p0 + q1 + q2] == first
                and src[s + q0 + p1 + p2] == first and src[s + q0 + p1 + q2] == first
                and src[s + q0 + q1 + p2] == first and src[s + q0 + q1 + q2] == first)


def _label_interior(src: Any, out: Any, at: int, step: int, s: int, x0: float, x1: float, x2: float, d0: float, d1: float,
                    d2: float, l0: int, l1: int, sst: Any, labels: Any, weights: Any, cells: Any,
                    mapped: bool) -> None:
    """Label over the voxels ``[l0, l1)`` of a row whose snapped coordinates lie in ``[0, n - 1)`` on every
    axis: no padding rule, both taps on the grid. With a map of uniform cells (``mapped``: one byte a
    source voxel, 1 where the cell's 8 corners agree) a voxel reads one byte; without it, a cell found
    uniform answers the next voxels of the row that fall in it (the usual upsampling back to the scan)."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    last = -1
    last_label = src[s]
    for l in range(l0, l1):
        y0, y1, y2 = x0 + l * d0, x1 + l * d1, x2 + l * d2
        i0, i1, i2 = _snapped_floor(y0), _snapped_floor(y1), _snapped_floor(y2)
        p0, p1, p2 = i0 * t0, i1 * t1, i2 * t2
        cell = p0 + p1 + p2
        if mapped:
            if cells[s + cell]:
                out[at + l * step] = src[s + cell]
                continue
        elif cell == last:
            out[at + l * step] = last_label
            continue
        else:
            first = src[s + cell]
            if _uniform(src, s, p0, p0 + t0, p1, p1 + t1, p2, p2 + t2, first):
                last, last_label = cell, first
                out[at + l * step] = first
                continue
        y0, y1, y2 = _snap_half(y0), _snap_half(y1), _snap_half(y2)
        out[at + l * step] = _label_vote(src, s, p0, p0 + t0, p1, p1 + t1, p2, p2 + t2, y0 - i0, y1 - i1, y2 - i2,
                                         labels, weights)


def _label_edge(src: Any, out: Any, at: int, step: int, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                l0: int, l1: int, sst: Any, labels: Any, weights: Any, reflect: bool) -> None:
    """Label over the voxels ``[l0, l1)`` of a row, some of whose taps need the padding rule."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    for l in range(l0, l1):
        y0 = _linear_coord(_snap_half(x0 + l * lin[0, 2]), n0, reflect)
        y1 = _linear_coord(_snap_half(x1 + l * lin[1, 2]), n1, reflect)
        y2 = _linear_coord(_snap_half(x2 + l * lin[2, 2]), n2, reflect)
        f0, f1, f2 = math.floor(y0), math.floor(y1), math.floor(y2)
        i0, i1, i2 = int(f0), int(f1), int(f2)
        p0, q0 = i0 * sst[1], min(i0 + 1, n0 - 1) * sst[1]
        p1, q1 = i1 * sst[2], min(i1 + 1, n1 - 1) * sst[2]
        p2, q2 = i2 * sst[3], min(i2 + 1, n2 - 1) * sst[3]
        first = src[s + p0 + p1 + p2]
        if _uniform(src, s, p0, q0, p1, q1, p2, q2, first):
            out[at + l * step] = first
        else:
            out[at + l * step] = _label_vote(src, s, p0, q0, p1, q1, p2, q2, y0 - f0, y1 - f1, y2 - f2, labels, weights)


def _label_row(r: int, labels: Any, weights: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any,
               oshape: Any, origin: Any, lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, cells: Any, mapped: bool) -> None:
    """Label: the 8 linear taps' labels; where they differ, the vote of :mod:`.label` (``labels``,
    ``weights``: the vote's scratch, 8 each, one set per tile)."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    # kept 1e-6 below n - 1, so that snapping (by at most SNAP_TOL) cannot reach the last index; none
    # with reflection, whose arithmetic moves even an inside coordinate by round-off (and so the vote)
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, -1.0 - 1e-6, lo[r], hi[r])
    fast1 = fast0 if reflect else fast1
    inner = fast1 > fast0
    for c in range(oshape[0]):
        s, at = c * sst[0], base + c * ost[0]
        _label_interior(src, out, at, ost[3], s, x0, x1, x2, lin[0, 2], lin[1, 2], lin[2, 2], fast0, fast1, sst,
                        labels, weights, cells, mapped)
        _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, lo[r], fast0 if inner else hi[r], sst,
                    labels, weights, reflect)
        if inner:
            _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, fast1, hi[r], sst, labels, weights, reflect)


def _compose_row(r: int, src: Any, sst: Any, out: Any, oshape: Any, maps: Any, shapes: Any, fill: Any) -> None:
    """Composed nearest map-back: each voxel through every map, ``floor(snap(x + 0.5))``, inside every grid."""
    steps = maps.shape[0]
    a = r // oshape[2]
    b = r - a * oshape[2]
    base = (a * oshape[2] + b) * oshape[3]
    for l in range(oshape[3]):
        p0, p1, p2 = float(a), float(b), float(l)
        ok = True
        for s in range(steps):
            m = maps[s]
            y0 = p0 * m[0, 0] + p1 * m[0, 1] + p2 * m[0, 2] + m[0, 3]
            y1 = p0 * m[1, 0] + p1 * m[1, 1] + p2 * m[1, 2] + m[1, 3]
            y2 = p0 * m[2, 0] + p1 * m[2, 1] + p2 * m[2, 2] + m[2, 3]
            # the tie rule of geometry.points.nearest_voxel: the half added, then snapped
            y0, y1, y2 = y0 + 0.5, y1 + 0.5, y2 + 0.5
            r0, r1, r2 = np.rint(y0), np.rint(y1), np.rint(y2)
            y0 = r0 if abs(y0 - r0) <= SNAP_TOL else y0
            y1 = r1 if abs(y1 - r1) <= SNAP_TOL else y1
            y2 = r2 if abs(y2 - r2) <= SNAP_TOL else y2
            p0, p1, p2 = math.floor(y0), math.floor(y1), math.floor(y2)
            if not (0.0 <= p0 < shapes[s, 0] and 0.0 <= p1 < shapes[s, 1] and 0.0 <= p2 < shapes[s, 2]):
                ok = False
                break
        if ok:
            at = int(p0) * sst[1] + int(p1) * sst[2] + int(p2) * sst[3]
            for c in range(oshape[0]):
                out[c * oshape[1] * oshape[2] * oshape[3] + base + l] = src[at + c * sst[0]]
        else:
            for c in range(oshape[0]):
                out[c * oshape[1] * oshape[2] * oshape[3] + base + l] = fill


def _top3_row(r0: int, r1: int, x: Any, count: int, classes: int, length: int, first: Any, second: Any,
              second_class: Any, third: Any, nan_seen: Any) -> None:
    """Export's first pass over the source voxels of rows ``[r0, r1)`` (``length`` voxels a row, ``x``
    channel-major ``(K, count)``): the first-maximum class, the runner-up value and class, the third
    value. Class after class along a row (contiguous reads; voxel after voxel reads ``K`` pages)."""
    b1, b2, b3 = np.empty(length, dtype=np.float64), np.empty(length, dtype=np.float64), np.empty(length, dtype=np.float64)
    i1, i2 = np.empty(length, dtype=np.int64), np.empty(length, dtype=np.int64)
    for r in range(r0, r1):
        base = r * length
        for v in range(length):
            b1[v], i1[v], b2[v], i2[v], b3[v] = x[base + v], 0, -np.inf, -1, -np.inf
            if x[base + v] != x[base + v]:
                nan_seen[0] = 1
        for k in range(1, classes):
            at = k * count + base
            for v in range(length):
                value = x[at + v]
                if value > b1[v]:  # strictly: the first maximum keeps the smallest class
                    b3[v], b2[v], i2[v], b1[v], i1[v] = b2[v], b1[v], i1[v], value, k
                elif value > b2[v]:
                    b3[v], b2[v], i2[v] = b2[v], value, k
                elif value > b3[v]:
                    b3[v] = value
                elif value != value:
                    nan_seen[0] = 1
        for v in range(length):
            first[base + v], second[base + v], second_class[base + v], third[base + v] = i1[v], b2[v], i2[v], b3[v]


def _certify_row(r: int, code: Any, first: Any, x: Any, count: int, classes: int, n0: int, n1: int, n2: int,
                 second: Any, second_class: Any, third: Any, cell_low: Any, cell_high: Any) -> None:
    """Export's cell codes for the cells whose lowest corner is in row ``r`` (the cell's upper corners
    clamped onto the grid; a 2-D grid has ``n0 = 1``), as export._Pruned's torch path builds them:
    the corners' common first-maximum class (a pure cell); ``K`` for two corner classes ``lo < hi``
    with every other class below ``max(min x_lo, min x_hi)`` over the corners (the pair in
    ``cell_low``/``cell_high``); else ``K + 1``."""
    a, b = r // n1, r % n1
    a0, a1 = a * n1 * n2, min(a + 1, n0 - 1) * n1 * n2
    b0, b1 = b * n2, min(b + 1, n1 - 1) * n2
    for c in range(n2):
        v = a0 + b0 + c
        c1 = min(c + 1, n2 - 1)
        low, high = first[v], first[v]
        for t in range(8):
            tap = _corner(t, a0, a1, b0, b1, c, c1)
            low, high = min(low, first[tap]), max(high, first[tap])
        if low == high:
            code[v] = low
            continue
        code[v] = classes + 1
        two = True
        least_low, least_high, bound = np.inf, np.inf, -np.inf
        for t in range(8):
            tap = _corner(t, a0, a1, b0, b1, c, c1)
            if first[tap] != low and first[tap] != high:
                two = False
            least_low = min(least_low, x[low * count + tap])
            least_high = min(least_high, x[high * count + tap])
            taken = second_class[tap] == low or second_class[tap] == high
            bound = max(bound, float(third[tap]) if taken else float(second[tap]))
        if two and bound < max(float(least_low), float(least_high)):
            code[v], cell_low[v], cell_high[v] = classes, low, high


def _corner(t: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int) -> int:
    """Storage offset of a cell's corner ``t`` (0..7, last axis fastest): lower (``p``) or upper (``q``) per axis."""
    return (q0 if t >= 4 else p0) + (q1 if (t // 2) % 2 == 1 else p1) + (q2 if t % 2 == 1 else p2)


def _argmax_score(x: Any, count: int, k: int, taps: Any, weights: Any) -> float:
    """Class ``k``'s linear sample: its 8 taps weighted, summed in tap order, float64."""
    score = 0.0
    for t in range(8):
        score += weights[t] * x[k * count + taps[t]]
    return score


def _argmax_row(r: int, taps: Any, weights: Any, candidates: Any, x: Any, count: int, classes: int, nsrc: Any,
                code: Any, first: Any, second: Any, second_class: Any, third: Any, cell_low: Any, cell_high: Any,
                out: Any, ost: Any, prob: Any, keep_prob: bool, oshape: Any, origin: Any, lin: Any, lo: Any, hi: Any,
                fill: Any, reflect: bool) -> None:
    """Export (linear argmax) of one target row: each voxel's cell code (its lowest corner's, as
    export._Pruned builds it) gives its class (pure cell), the better of its certified pair, or the
    best of its corners' classes when every other class stays below it (each corner's runner-up, or
    third value when the runner-up is a corner class), else the best of all ``K``. Scores in float64;
    the first maximum (smallest class) wins ties. ``taps``/``weights``/``candidates``: scratch of 8."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    s1, s2 = n1 * n2, n2
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    for l in range(oshape[3]):
        at = base + l * ost[3]
        if l < lo[r] or l >= hi[r]:
            out[at] = fill
            if keep_prob:
                prob[at] = 0.0
            continue
        y0 = _linear_coord(_snap_half(x0 + l * lin[0, 2]), n0, reflect)
        y1 = _linear_coord(_snap_half(x1 + l * lin[1, 2]), n1, reflect)
        y2 = _linear_coord(_snap_half(x2 + l * lin[2, 2]), n2, reflect)
        f0, f1, f2 = math.floor(y0), math.floor(y1), math.floor(y2)
        u0, u1, u2 = y0 - f0, y1 - f1, y2 - f2
        i0, i1, i2 = int(f0), int(f1), int(f2)
        p0, q0 = i0 * s1, min(i0 + 1, n0 - 1) * s1
        p1, q1 = i1 * s2, min(i1 + 1, n1 - 1) * s2
        p2, q2 = i2, min(i2 + 1, n2 - 1)
        cell = code[p0 + p1 + p2]
        if cell < classes and not keep_prob:
            out[at] = cell
            continue
        for t in range(8):
            taps[t] = _corner(t, p0, q0, p1, q1, p2, q2)
            wa = u0 if t >= 4 else 1.0 - u0
            wb = u1 if (t // 2) % 2 == 1 else 1.0 - u1
            wc = u2 if t % 2 == 1 else 1.0 - u2
            weights[t] = (wa * wb) * wc
        if cell < classes:
            winner, best = cell, _argmax_score(x, count, cell, taps, weights)
        elif cell == classes:  # a certified pair: low < high, ties to low
            low, high = cell_low[p0 + p1 + p2], cell_high[p0 + p1 + p2]
            best, other = _argmax_score(x, count, low, taps, weights), _argmax_score(x, count, high, taps, weights)
            winner = low
            if other > best:
                winner, best = high, other
        else:
            found = 0
            for t in range(8):
                c = first[taps[t]]
                new = True
                for m in range(found):
                    if candidates[m] == c:
                        new = False
                if new:
                    candidates[found] = c
                    found += 1
            winner, best = -1, -np.inf
            for m in range(found):
                score = _argmax_score(x, count, candidates[m], taps, weights)
                if score > best or (score == best and candidates[m] < winner):
                    winner, best = candidates[m], score
            bound = -np.inf
            for t in range(8):
                taken = False
                for m in range(found):
                    if second_class[taps[t]] == candidates[m]:
                        taken = True
                bound = max(bound, float(third[taps[t]]) if taken else float(second[taps[t]]))
            if not bound < best:  # another class may reach the best: score them all
                winner, best = 0, _argmax_score(x, count, 0, taps, weights)
                for k in range(1, classes):
                    score = _argmax_score(x, count, k, taps, weights)
                    if score > best:
                        winner, best = k, score
        out[at] = winner
        if keep_prob:
            prob[at] = best


# ----------------------------------------------------------------------------- drivers
# A kernel is a row function run over all rows by a serial or a parallel driver: numba's parallel
# pass analyses only the driver's loop (its array analysis fails on some row bodies), the row code is
# compiled once for both, and the two builds have names of their own (numba's disk cache keys
# its files by function name and line, not by the ``parallel`` flag). The drivers visit the rows in
# tiles of TILE x TILE rows: neighbouring rows of an oblique target read neighbouring source lines,
# which a tile finds in cache (256^3 -> 200^3 rotated, nearest: 20-25% faster than row after row).

#: Rows per tile side (the tile is the parallel work unit too: 13 x 13 tiles for a 200^3 target).
TILE = 16


def _tile_rows(t: int, rows_a: int, rows_b: int) -> tuple[int, int, int, int]:
    """Tile ``t``'s rows: ``a`` in ``[a0, a1)``, ``b`` in ``[b0, b1)``."""
    tiles_b = (rows_b + TILE - 1) // TILE
    ta = t // tiles_b
    tb = t - ta * tiles_b
    return ta * TILE, min(ta * TILE + TILE, rows_a), tb * TILE, min(tb * TILE + TILE, rows_b)


def _nearest_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _nearest_row(a * rows_b + b, *args)


def _nearest_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _nearest_row(a * rows_b + b, *args)


def _linear_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _linear_row(a * rows_b + b, *args)


def _linear_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _linear_row(a * rows_b + b, *args)


def _cubic_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _cubic_row(a * rows_b + b, *args)


def _cubic_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _cubic_row(a * rows_b + b, *args)


def _label_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        # allocated per tile: per row, the threads would contend in the allocator
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_row(a * rows_b + b, labels, weights, *args)


def _label_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        # allocated per tile: per row, the threads would contend in the allocator
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_row(a * rows_b + b, labels, weights, *args)


def _compose_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _compose_row(a * rows_b + b, *args)


def _compose_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _compose_row(a * rows_b + b, *args)


def _top3_serial(rows_a: int, rows_b: int, args: Any) -> None:
    _top3_row(0, rows_a * rows_b, *args)


def _top3_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    rows = rows_a * rows_b
    for t in numba.prange((rows + TILE * TILE - 1) // (TILE * TILE)):  # the row's scratch once per TILE^2 rows
        _top3_row(t * TILE * TILE, min(rows, (t + 1) * TILE * TILE), *args)


def _certify_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for r in range(rows_a * rows_b):
        _certify_row(r, *args)


def _certify_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for r in numba.prange(rows_a * rows_b):
        _certify_row(r, *args)


def _argmax_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        taps, weights, candidates = np.empty(8, dtype=np.int64), np.empty(8, dtype=np.float64), np.empty(8, dtype=np.int64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _argmax_row(a * rows_b + b, taps, weights, candidates, *args)


def _argmax_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        taps, weights, candidates = np.empty(8, dtype=np.int64), np.empty(8, dtype=np.float64), np.empty(8, dtype=np.int64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _argmax_row(a * rows_b + b, taps, weights, candidates, *args)


# ----------------------------------------------------------------------------- compilation
def _jit(fn: Callable[..., Any], **flags: Any) -> Any:
    """``numba.njit(cache=True, **flags)(fn)``; without a writable cache location anywhere (a read-only
    install and no writable ``NUMBA_CACHE_DIR`` or home) numba refuses ``cache=True``: compile in memory."""
    try:
        return numba.njit(cache=True, **flags)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False, **flags)(fn)


_HELPERS = ("_tile_rows", "_row_start", "_wrap", "_reflect_coord", "_snap_half", "_snapped_floor", "_linear_coord", "_keys_near", "_keys_far", "_cubic_axis", "_interior", "_row_interior", "_fill_row", "_linear_interior", "_linear_edge", "_nearest_interior", "_nearest_edge", "_label_vote", "_uniform", "_label_interior", "_label_edge", "_corner", "_argmax_score")
_MODES = ("nearest", "linear", "cubic", "label", "compose", "top3", "certify", "argmax")
_BUILT: dict[str, tuple[Any, Any]] = {}

if numba is not None:
    # plain functions replaced in this module's namespace by their compiled versions, which the functions
    # compiled after them look up by global name; helpers are inlined into the rows
    for _name in _HELPERS:
        globals()[_name] = _jit(globals()[_name], inline="always")
    for _mode in _MODES:
        globals()[f"_{_mode}_row"] = _jit(globals()[f"_{_mode}_row"], nogil=True)
        _BUILT[_mode] = (_jit(globals()[f"_{_mode}_serial"], nogil=True), _jit(globals()[f"_{_mode}_parallel"], nogil=True, parallel=True))


def _kernel(name: str, threads: int) -> Any:
    """The serial or parallel build of kernel ``name`` for ``threads`` threads (see the module docstring)."""
    global _parallel_pid
    serial, parallel = _BUILT[name]
    if threads <= 1 or (_parallel_pid is not None and _parallel_pid != os.getpid()):
        return serial
    _parallel_pid = os.getpid() if _parallel_pid is None else _parallel_pid
    return parallel


def _run(name: str, out_shape: np.ndarray, *args: Any) -> None:
    """Run kernel ``name`` over the rows of a ``(N, A, B, L)`` output on the call's thread count
    (numba's count is per calling thread: set, then restored)."""
    rows_a, rows_b = int(out_shape[1]), int(out_shape[2])
    tiles = -(-rows_a // TILE) * -(-rows_b // TILE)
    threads = min(call_threads(), numba.config.NUMBA_NUM_THREADS, max(1, tiles))
    kernel = _kernel(name, threads)
    if threads <= 1:
        kernel(rows_a, rows_b, args)
        return
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        kernel(rows_a, rows_b, args)
    finally:
        numba.set_num_threads(before)


# ----------------------------------------------------------------------------- tensors -> kernel arguments
def _storage(t: torch.Tensor, dtype: Optional[torch.dtype] = None) -> tuple[np.ndarray, np.ndarray]:
    """``t`` ``(N, *spatial)`` as a 1-D numpy view of the storage it spans (optionally reinterpreted as
    ``dtype`` of the same size) and its element strides ``(4,)``, a 2-D image given a leading axis of one."""
    strides = list(t.stride())
    if t.dim() == 3:
        strides.insert(1, 0)
    span = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    flat = t.detach().as_strided((span,), (1,))
    if dtype is not None and dtype != flat.dtype:
        flat = flat.view(dtype)
    return flat.numpy(), np.asarray(strides, dtype=np.int64)


def _padded(ndim: int, sizes: Sequence[int]) -> np.ndarray:
    """A 2-D or 3-D spatial shape as 3-D (a leading axis of one voxel)."""
    return np.asarray([1] * (3 - ndim) + list(sizes), dtype=np.int64)


def _padded_out(ndim: int, shape: Sequence[int]) -> np.ndarray:
    """A ``(N, *spatial)`` shape as ``(N, 3-D spatial)``."""
    return np.asarray([shape[0], *_padded(ndim, shape[1:])], dtype=np.int64)


def _geometry(matrix: np.ndarray, starts: Sequence[int], ndim: int, nearest: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(origin (3,), lin (3, 3))`` of the box's coordinates from a ``(D+1, D+1)`` index map, padded to 3-D."""
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


def _runs(plan: WarpPlan, box: Box, options: WarpOptions) -> tuple[np.ndarray, np.ndarray]:
    """Per output row (flat over the box's first two padded axes), the inside run ``[lo, hi)``."""
    starts, shape = tuple(b.start for b in box), tuple(b.stop - b.start for b in box)
    rows = int(np.prod(shape[:-1]))
    if not options.constant:
        return np.zeros(rows, dtype=np.int64), np.full(rows, shape[-1], dtype=np.int64)
    lo, hi = inside_runs(plan, starts, shape)
    return np.ascontiguousarray(lo.numpy().reshape(-1)), np.ascontiguousarray(hi.numpy().reshape(-1))


def _fill_value(fill: float, dtype: torch.dtype, bits: Optional[torch.dtype]) -> Any:
    """``fill`` cast to ``dtype`` (as torch casts it), then reinterpreted as ``bits`` if given; a numpy scalar."""
    value = torch.tensor(fill, dtype=torch.float64).to(dtype)
    if bits is not None:
        value = value.view(bits)
    return value.numpy()[()]


def general_kernel(src: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """Run the general path's ``options.mode`` (nearest, linear or cubic) with a compiled kernel.

    Args:
        src: ``(N, *sizes)`` the source (or a window of it) that ``matrix`` maps the target into;
            for linear and cubic already in ``dest``'s dtype.
        matrix: ``(D+1, D+1)`` float64 target index → ``src`` index.
        plan, box, options: the resample (``plan`` for the inside runs, in target coordinates).
        dest: ``(N, *box_shape)`` written in place.

    Returns:
        ``False`` (nothing written) where the kernels do not apply: not CPU, numba missing or
        switched off, autograd recording, or a dtype they do not handle (float16, bfloat16, 16-byte
        complex).
    """
    if not available() or src.device.type != "cpu" or dest.device.type != "cpu":
        return False
    mode, ndim = options.mode, plan.ndim
    if mode == "nearest":
        bits = _BITS.get(dest.element_size())
        if bits is None or src.dtype != dest.dtype:
            return False
    elif mode in ("linear", "cubic"):
        if dest.dtype not in (torch.float32, torch.float64) or src.dtype != dest.dtype:
            return False
        if torch.is_grad_enabled() and src.requires_grad:
            return False
        bits = None
    else:
        return False
    if dest.stride(-1) != 1:  # the kernels write rows as contiguous runs (an engine output always is)
        return False
    source, sst = _storage(src, bits)
    out, ost = _storage(dest, bits)
    origin, lin = _geometry(matrix, [b.start for b in box], ndim, mode == "nearest")
    lo, hi = _runs(plan, box, options)
    oshape = _padded_out(ndim, dest.shape)
    _run(mode, oshape, source, sst, _padded(ndim, src.shape[1:]), out, ost, oshape,
         origin, lin, lo, hi, _fill_value(options.fill, dest.dtype, bits), options.padding_mode == "reflection")
    return True


def label_kernel(src: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """The general path's label mode with a compiled kernel (same arguments and refusals as :func:`general_kernel`)."""
    if not available() or src.device.type != "cpu" or dest.device.type != "cpu" or src.dtype != dest.dtype:
        return False
    view = torch.uint8 if src.dtype == torch.bool else None
    if (view or src.dtype) not in _LABEL_DTYPES:
        return False
    source, sst = _storage(src, view)
    out, ost = _storage(dest, view)
    origin, lin = _geometry(matrix, [b.start for b in box], plan.ndim, False)
    lo, hi = _runs(plan, box, options)
    oshape = _padded_out(plan.ndim, dest.shape)
    reflect = options.padding_mode == "reflection"
    # the map costs 8 reads and one byte per source voxel: worth it where the output has as many voxels
    mapped = plan.ndim == 3 and not reflect and src.is_contiguous() and dest[0].numel() >= src[0].numel()
    cells = _uniform_cells(src) if mapped else np.zeros(1, dtype=np.uint8)
    _run("label", oshape, source, sst, _padded(plan.ndim, src.shape[1:]), out, ost, oshape,
         origin, lin, lo, hi, _fill_value(options.fill, dest.dtype, view), reflect, cells, mapped)
    return True


def _uniform_cells(src: torch.Tensor) -> np.ndarray:
    """Contiguous ``(C, D, H, W)`` labels -> a uint8 map of their cells in the same layout (a cell's
    storage offset is its lowest corner's): 1 where the 8 corners hold one label, 0 on each axis' last voxel."""
    corner = src[:, :-1, :-1, :-1]
    same = torch.ones_like(corner, dtype=torch.bool)
    for shift in range(1, 8):
        a, b, c = shift >> 2, (shift >> 1) & 1, shift & 1
        same &= src[:, a : a + corner.shape[1], b : b + corner.shape[2], c : c + corner.shape[3]] == corner
    cells = torch.zeros(src.shape, dtype=torch.uint8)
    cells[:, :-1, :-1, :-1] = same
    return cells.view(-1).numpy()


# ----------------------------------------------------------------------------- argmax export (engine/export.py)
def _grid3(shape: Sequence[int]) -> tuple[int, int, int]:
    """A 2-D or 3-D source shape as 3 axes (a leading axis of one for 2-D)."""
    return (1, int(shape[0]), int(shape[1])) if len(shape) == 2 else (int(shape[0]), int(shape[1]), int(shape[2]))


def _export_applies(x: torch.Tensor) -> bool:
    """Whether the export kernels take ``x`` ``(K, *source)``: contiguous float32/float64 on CPU, 2-D or 3-D."""
    return available() and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.is_contiguous() and x.dim() in (3, 4)


def export_first_pass(x: torch.Tensor, first: torch.Tensor, second: torch.Tensor, second_class: torch.Tensor,
                      third: torch.Tensor) -> bool:
    """Fill, for every source voxel of ``x`` ``(K, *source)`` (contiguous, float32/float64, 2-D or 3-D),
    its first-maximum class (``first``), its runner-up value and class and its third value
    (``second``, ``second_class``, ``third``; ``-inf`` and ``-1`` where ``K`` is smaller), all flat
    over the source. Ties: the first maximum is the smallest class; among equal runners-up any
    (the certificate only needs a bound). False, with nothing promised, where the kernel does not
    apply (CUDA, another dtype, numba off) or ``x`` holds NaN (torch's NaN rule is the reference)."""
    if not _export_applies(x):
        return False
    n0, n1, n2 = _grid3(x.shape[1:])
    nan_seen = np.zeros(1, dtype=np.uint8)
    _run("top3", np.asarray([1, n0, n1, n2]), x.view(-1).numpy(), int(n0 * n1 * n2), int(x.shape[0]), n2,
         first.numpy(), second.numpy(), second_class.numpy(), third.numpy(), nan_seen)
    return not nan_seen[0]


def export_certify(x: torch.Tensor, code: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                   second_class: torch.Tensor, third: torch.Tensor, cell_low: torch.Tensor, cell_high: torch.Tensor) -> bool:
    """Export's code of every cell (flat over the source, at its lowest corner): its class when its
    corners share their first-maximum class, ``K`` for a certified pair (written to ``cell_low``/
    ``cell_high``), else ``K + 1``. From the arrays :func:`export_first_pass` filled; False where
    the kernel does not apply."""
    if not _export_applies(x):
        return False
    n0, n1, n2 = _grid3(x.shape[1:])
    _run("certify", np.asarray([1, n0, n1, n2]), code.view(-1).numpy(), first.numpy(), x.view(-1).numpy(),
         int(n0 * n1 * n2), int(x.shape[0]), n0, n1, n2, second.numpy(), second_class.numpy(), third.numpy(),
         cell_low.numpy(), cell_high.numpy())
    return True


def export_argmax(x: torch.Tensor, code: torch.Tensor, first: torch.Tensor, second: torch.Tensor, second_class: torch.Tensor,
                  third: torch.Tensor, cell_low: torch.Tensor, cell_high: torch.Tensor, plan: WarpPlan, box: Box,
                  options: WarpOptions, labels: torch.Tensor, prob: Optional[torch.Tensor]) -> bool:
    """The linear argmax export of the target ``box`` into ``labels`` (and ``prob``) ``(*box_shape)``
    views, from the per-source-voxel arrays of :func:`export_first_pass` and :func:`export_certify`
    (and the cell codes ``code``: class, ``K`` certified pair, ``K + 1`` mixed). False where the
    kernel does not apply (as :func:`export_first_pass`)."""
    if not _export_applies(x):
        return False
    ndim = plan.ndim
    n = _grid3(x.shape[1:])
    origin, lin = _geometry(plan.matrix, [b.start for b in box], ndim, False)
    lo, hi = _runs(plan, box, options)
    if prob is not None and prob.stride() != labels.stride():  # the kernel writes both at the labels' offsets
        return False
    out, ost = _storage(labels[None])
    oshape = _padded_out(ndim, (1, *labels.shape))
    probe = _storage(prob[None])[0] if prob is not None else np.zeros(1, dtype=np.float32)
    _run("argmax", oshape, x.view(-1).numpy(), int(n[0] * n[1] * n[2]), int(x.shape[0]), np.asarray(n, dtype=np.int64),
         code.view(-1).numpy(), first.numpy(), second.numpy(), second_class.numpy(), third.numpy(), cell_low.numpy(),
         cell_high.numpy(), out, ost, probe, prob is not None, oshape, origin, lin, lo, hi,
         _fill_value(options.fill, labels.dtype, None), options.padding_mode == "reflection")
    return True


# ----------------------------------------------------------------------------- composed nearest map-back
#: Output voxels per chunk of the torch fallback (bounds its float64 points: 24 bytes per voxel of a chunk).
_COMPOSE_CHUNK = 1 << 18


def compose_nearest_gather(
    data: torch.Tensor,
    maps: Sequence[np.ndarray],
    shapes: Sequence[Sequence[int]],
    out_shape: Sequence[int],
    fill: float,
) -> torch.Tensor:
    """``data`` read at the end of a chain of nearest steps, for every voxel of grid 0.

    Args:
        data: ``(C, *shapes[-1])`` values on the last grid, any dtype, any device.
        maps: ``(D+1, D+1)`` float64 index maps, grid 0 → grid 1, grid 1 → grid 2, ...: each takes
            a voxel index of the earlier grid to a continuous index of the next.
        shapes: the shapes of grids 1 .. N (one per map).
        out_shape: the shape of grid 0.
        fill: the value of voxels for which some step leaves its grid.

    Returns:
        ``(C, *out_shape)``, ``data``'s dtype and device. Each step takes the voxel whose box holds
        the mapped centre, ``floor(snap(x + 0.5))`` (``snap``: within ``SNAP_TOL`` of an integer
        is that integer; :func:`~monai_spacetx.geometry.points.nearest_voxel`), exactly as :func:`monai_spacetx.transforms.chain.compose_nearest`; a
        voxel is ``fill`` when any step's voxel lies outside that step's grid. Values are copied
        bit for bit.

    Memory beyond the output: none with the compiled kernel; the torch fallback (CUDA, or numba
    missing) works in chunks of ``2^18`` output voxels.
    """
    ndim = len(out_shape)
    if len(maps) != len(shapes) or not maps:
        raise ValueError(f"compose_nearest_gather needs one shape per map and at least one map, got {len(maps)} maps and {len(shapes)} shapes")
    if tuple(data.shape[1:]) != tuple(shapes[-1]) or ndim not in (2, 3):
        raise ValueError(f"data {tuple(data.shape)} must be (C, *shapes[-1]) = (C, {tuple(shapes[-1])}), 2-D or 3-D")
    out = torch.empty((data.shape[0], *out_shape), dtype=data.dtype, device=data.device)
    bits = _BITS.get(data.element_size())
    if available() and data.device.type == "cpu" and bits is not None:
        stacked = np.zeros((len(maps), 3, 4), dtype=np.float64)
        for s, matrix in enumerate(maps):  # 2-D: a leading axis of one voxel whose coordinate stays 0
            m = np.asarray(matrix, dtype=np.float64)
            stacked[s, 3 - ndim :, 3 - ndim : 3] = m[:ndim, :ndim]
            stacked[s, 3 - ndim :, 3] = m[:ndim, ndim]
        sizes = np.asarray([_padded(ndim, shape) for shape in shapes], dtype=np.int64)
        source, sst = _storage(data, bits)
        oshape = _padded_out(ndim, out.shape)
        _run("compose", oshape, source, sst, out.view(bits).view(-1).numpy(), oshape,
             stacked, sizes, _fill_value(fill, data.dtype, bits))
        return out
    _compose_torch(data, maps, shapes, out, fill)
    return out


def _compose_torch(data: torch.Tensor, maps: Sequence[np.ndarray], shapes: Sequence[Sequence[int]], out: torch.Tensor, fill: float) -> None:
    """:func:`compose_nearest_gather` chunk by chunk: numpy indices (chain.compose_nearest's arithmetic), a torch gather."""
    ndim = out.dim() - 1
    total = int(np.prod(out.shape[1:]))
    flat_data, flat_out = data.reshape(data.shape[0], -1), out.view(out.shape[0], -1)
    strides = np.cumprod((1, *tuple(shapes[-1])[:0:-1]))[::-1].astype(np.int64)
    fill_value = torch.as_tensor(fill, dtype=data.dtype, device=data.device)
    for begin in range(0, total, _COMPOSE_CHUNK):
        voxels = np.arange(begin, min(begin + _COMPOSE_CHUNK, total))
        points = np.stack(np.unravel_index(voxels, tuple(out.shape[1:])), axis=1)
        ok = np.ones(len(voxels), dtype=bool)
        for matrix, shape in zip(maps, shapes):
            points = nearest_voxel(points @ matrix[:ndim, :ndim].T + matrix[:ndim, ndim]).astype(np.int64)
            ok &= np.all((points >= 0) & (points < np.asarray(shape)), axis=1)
        flat = (np.where(ok[:, None], points, 0) * strides).sum(axis=1)
        chunk = flat_data.index_select(1, torch.as_tensor(flat, device=data.device))
        chunk[:, torch.as_tensor(~ok, device=data.device)] = fill_value
        flat_out[:, begin : begin + len(voxels)] = chunk


def warm_up() -> float:
    """Compile (or load from the disk cache) the serial and the parallel build of every kernel for
    float32 images and uint8 labels (what a benchmark or a training run uses first), and the argmax
    export's for float32 channels; seconds taken."""
    import time

    if not available():
        return 0.0
    started = time.perf_counter()
    n = np.asarray([4, 4, 4], dtype=np.int64)
    strides = np.asarray([64, 16, 4, 1], dtype=np.int64)
    shape = np.asarray([1, 4, 4, 4], dtype=np.int64)
    origin, lin = np.full(3, 0.3), np.eye(3) * 0.9
    lo, hi = np.zeros(16, dtype=np.int64), np.full(16, 4, dtype=np.int64)
    floats, labels, bits = np.zeros(64, np.float32), np.zeros(64, np.uint8), np.zeros(64, np.int32)
    maps, sizes = np.zeros((1, 3, 4)), np.full((1, 3), 4, dtype=np.int64)
    for build in (0, 1):
        _BUILT["nearest"][build](4, 4, (bits, strides, n, bits.copy(), strides, shape, origin, lin, lo, hi, np.int32(0), False))
        for mode in ("linear", "cubic"):
            _BUILT[mode][build](4, 4, (floats, strides, n, floats.copy(), strides, shape, origin, lin, lo, hi, np.float32(0), False))
        _BUILT["label"][build](4, 4, (labels, strides, n, labels.copy(), strides, shape, origin, lin, lo, hi, np.uint8(0), False, labels.copy(), True))
        _BUILT["compose"][build](4, 4, (bits, strides, bits.copy(), shape, maps, sizes, np.int32(0)))
        # the linear argmax export of float32 channels (K <= 254: uint8 codes and labels)
        first, second, rank = np.zeros(64, np.int16), np.zeros(64, np.float32), np.zeros(64, np.int16)
        third, code, pair = np.zeros(64, np.float32), np.zeros(64, np.uint8), np.zeros(64, np.uint8)
        _BUILT["top3"][build](4, 4, (floats, 64, 1, 4, first, second, rank, third, np.zeros(1, np.uint8)))
        _BUILT["certify"][build](4, 4, (code, first, floats, 64, 1, 4, 4, 4, second, rank, third, pair, pair.copy()))
        _BUILT["argmax"][build](4, 4, (floats, 64, 1, n, code, first, second, rank, third, pair, pair.copy(), labels.copy(),
                                       strides, np.zeros(64, np.float32), True, shape, origin, lin, lo, hi, np.uint8(0), False))
    return time.perf_counter() - started
