"""The separable path: an axis-aligned resample (crop + respace / resize / zoom, any permutation
and flips) as successive 1-D steps, never a D-dimensional ``grid_sample``.

Every kernel writes into ``dest``, a ``(N, *box_shape)`` view of the output (see :mod:`.box`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..geometry.tolerances import WEIGHT_TOL
from .box import Box
from .options import WarpOptions
from .plan import WarpPlan
from .taps import Taps, anti_aliasing_sigmas, axis_taps, weight_of

__all__ = ["run_separable", "run_steps", "separable_taps", "step_order"]

#: Elements per block of the innermost-axis gather (4 MiB of float32).
_BLOCK_ELEMENTS = 1 << 20
#: Largest intermediate of the separable path (below glibc's 32 MiB mmap threshold).
_BLOCK_BYTES = 30 << 20
#: Largest intermediate when every step has at most two taps (nearest, linear): small enough that a
#: periodic step's ``q`` strided passes (:func:`_periodic`) find their block still in cache. With
#: ``_BLOCK_BYTES`` they read it from memory ``q`` times, and the steps took 12-30% more CPU time on
#: the rational scales of ``benchmarks/bench_resample.py`` (crop + respace, map back, resize to 96^3,
#: respace by 1.5). Steps of more than four taps keep ``_BLOCK_BYTES``: torch's sum of their terms
#: rounds the last elements of a block differently (the values depend on where blocks end).
_PERIODIC_BLOCK_BYTES = 8 << 20


def _pick(t: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``t.index_select(dim, index)``, or a view when ``index`` is one ascending run."""
    first, count = int(index[0]), index.numel()
    if int(index[-1]) - first == count - 1 and (count == 1 or bool((index.diff() == 1).all())):
        return t.narrow(dim, first, count)
    if dim == t.dim() - 1:
        # innermost axis: index_select on a 2-D view is several times faster than on more dims,
        # and than advanced indexing (which is used when no 2-D view exists)
        if t.is_contiguous():
            return t.view(-1, t.shape[-1]).index_select(1, index).view(*t.shape[:-1], count)
        return t[..., index]
    return t.index_select(dim, index)


def _step_functional(t: torch.Tensor, dim: int, taps: Taps) -> torch.Tensor:
    """One 1-D interpolation step by gathers; differentiable (weights broadcast along ``dim``)."""
    shape = [1] * t.dim()
    shape[dim] = -1
    if len(taps) == 1:
        return _pick(t, dim, taps[0][0])
    if len(taps) == 2:
        return torch.lerp(_pick(t, dim, taps[0][0]), _pick(t, dim, taps[1][0]), weight_of(taps[1]).to(t.dtype).view(shape))
    terms = [_pick(t, dim, index) * weight_of((index, weight)).to(t.dtype).view(shape) for index, weight in taps]
    return torch.stack(terms).sum(0) if len(terms) > 4 else sum(terms[1:], terms[0])


def _periodic(t: torch.Tensor, dim: int, taps: Taps, dest: torch.Tensor, max_period: int = 16) -> bool:
    """A nearest (one tap) or linear (two taps) step along ``dim`` as a few strided copies or
    lerps when the scale is rational.

    With ``a = p / q`` the taps of output ``j + q`` are those of ``j`` moved by ``p``
    inputs, with the same weight: each residue ``r`` of ``j mod q`` is then one strided
    copy, or lerp with a scalar weight (outputs ``r::q`` from inputs ``i0[r]::p``),
    bit-identical to the gather. ``q`` large ops instead of one op per output slice: no
    gathers, no temporaries, and few thread-pool barriers (which matter on a busy machine).
    Edge outputs whose taps were clamped break the period; they are gathered.
    Returns False when no period ``q <= max_period`` fits.
    """
    i0, (i1, w1) = taps[0][0], taps[-1]
    m = i0.numel()
    lead = (slice(None),) * dim
    for q in range(1, max_period + 1):
        if m < 4 * q:
            return False
        half = (m - q) // 2
        d0 = i0[q:] - i0[:-q]
        p = int(d0[half])
        good = d0 == p
        if w1 is not None:
            good &= (i1[q:] - i1[:-q] == p) & ((w1[q:] - w1[:-q]).abs() <= WEIGHT_TOL)
        if p <= 0 or not bool(good[half]):
            continue
        bad = torch.nonzero(~good).flatten().tolist()
        start = max([b + 1 for b in bad if b < half], default=0)
        stop = min([b for b in bad if b > half], default=m - q) + q
        if stop - start < max(2 * q, m // 2):  # a period that holds only locally: try the next q
            continue
        weights = [] if w1 is None else w1.tolist()
        for r in range(start, start + q):
            last = p * (len(range(r, stop, q)) - 1) + 1
            a0, a1 = int(i0[r]), int(i1[r])
            out = dest[(*lead, slice(r, stop, q))]
            if w1 is None:
                out.copy_(t[(*lead, slice(a0, a0 + last, p))])
            else:
                torch.lerp(t[(*lead, slice(a0, a0 + last, p))], t[(*lead, slice(a1, a1 + last, p))], weights[r], out=out)
        for lo, hi in ((0, start), (stop, m)):  # clamped edge outputs: plain gather
            if hi > lo:
                part = [(i[lo:hi], None if w is None else w[lo:hi]) for i, w in taps]
                dest[(*lead, slice(lo, hi))] = _step_functional(t, dim, part)
        return True
    return False


def _step_into(t: torch.Tensor, dim: int, taps: Taps, dest: torch.Tensor) -> None:
    """One 1-D interpolation step written into ``dest`` (no autograd, no large temporaries).

    A nearest or linear step with a rational scale is a few strided copies or lerps
    (:func:`_periodic`).
    Otherwise, along an outer axis each output slab is a lerp of whole source slabs: that
    streams memory once and allocates nothing, several times faster on CPU than gathering
    full-size tap tensors. The innermost axis has no slabs, so it is gathered.
    """
    if len(taps) <= 2 and _periodic(t, dim, taps, dest):
        return
    if len(taps) == 1 and dim < t.dim() - 1:  # a pure gather of whole slabs
        if dest.is_contiguous():
            torch.index_select(t, dim, taps[0][0], out=dest)
        else:
            dest.copy_(_pick(t, dim, taps[0][0]))
        return
    if dim == t.dim() - 1:
        # gather in blocks of the second dim so the tap temporaries stay under glibc's mmap
        # threshold (32 MiB): they are then recycled from the heap instead of page-faulted
        block = max(1, _BLOCK_ELEMENTS // max(1, t[:, :1].numel() // t.shape[-1] * dest.shape[-1]))
        taps = [(i, None if w is None else w.to(t.dtype)) for i, w in taps]
        for b0 in range(0, t.shape[1], block):
            tb, db = t[:, b0 : b0 + block], dest[:, b0 : b0 + block]
            if len(taps) == 2:
                torch.lerp(_pick(tb, dim, taps[0][0]), _pick(tb, dim, taps[1][0]), weight_of(taps[1]), out=db)
            else:
                db.copy_(_step_functional(tb, dim, taps))
        return
    index = [i.tolist() for i, _ in taps]
    weight: list[list[float]] = [[] if w is None else w.tolist() for _, w in taps]
    for j in range(dest.shape[dim]):
        out = dest.select(dim, j)
        slabs = [t.select(dim, idx[j]) for idx in index]
        if len(taps) == 2 and weight[1][j] == 0.0:
            out.copy_(slabs[0])
        elif len(taps) == 2:
            torch.lerp(slabs[0], slabs[1], weight[1][j], out=out)
        else:
            torch.mul(slabs[0], weight[0][j], out=out)
            for slab, w in zip(slabs[1:], weight[1:]):
                out.add_(slab, alpha=w[j])


def separable_taps(
    img: torch.Tensor, plan: WarpPlan, box: Box, mode: str, options: WarpOptions
) -> tuple[torch.Tensor, list[Taps]]:
    """The source as a view permuted so that spatial dim ``k`` feeds target axis ``k`` and narrowed
    to the range the taps touch, and per target axis the taps of the box's voxels (indices
    relative to that view, on the source's device).

    Axes whose map is ``±j + integer`` get a single unit tap whatever ``mode``; the thick axis of
    an anisotropic resample gets ``options.thick_axis_mode``'s taps when that is set.
    """
    assert plan.axes is not None and plan.scale is not None and plan.offset is not None
    t = img.permute(0, *(1 + a for a in plan.axes))
    taps: list[Taps] = []
    shrink = [0.0] * plan.ndim  # per source axis
    for k, axis in enumerate(plan.axes):
        shrink[axis] = abs(plan.scale[k])
    per_source = anti_aliasing_sigmas(options, shrink)  # all 0 for nearest and label
    sigmas = [per_source[axis] for axis in plan.axes]  # per target axis
    thick = plan.thick_source_axis(options.anisotropy_threshold) if options.thick_axis_mode and mode != "nearest" else None
    for k in range(plan.ndim):
        exact = abs(plan.scale[k]) == 1.0 and float(plan.offset[k]).is_integer() and sigmas[k] == 0.0
        axis_mode = "nearest" if exact else (options.thick_axis_mode or mode) if plan.axes[k] == thick else mode
        x = torch.from_numpy(plan.axis_coords(k, box[k].start, box[k].stop))
        found = axis_taps(x, t.shape[1 + k], axis_mode, options, sigmas[k], abs(plan.scale[k]))
        lo = min(int(i.min()) for i, _ in found)
        hi = max(int(i.max()) for i, _ in found) + 1
        t = t.narrow(1 + k, lo, hi - lo)
        taps.append([((i - lo).to(t.device), None if w is None else w.to(t.device)) for i, w in found])
    return t, taps


def step_order(growth: list[float]) -> list[int]:
    """The order of the 1-D steps, given each axis' output/input size ratio.

    Shrinking axes first (smallest ratio first), so intermediates stay small; then the innermost
    axis if it grows, before the other growing axes: its step gathers element by element (an
    outer axis copies whole contiguous slabs), so it is the one to run on the smallest tensor.
    """
    order = sorted(range(len(growth)), key=lambda k: growth[k])
    last = len(growth) - 1
    if growth[last] > 1.0:
        order.remove(last)
        order.insert(sum(g <= 1.0 for g in growth), last)
    return order


def run_separable(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> None:
    """Axis-aligned resample as successive 1-D steps (never a D-dimensional grid_sample).

    Axes whose map is ``±j + integer`` are pure index steps; the rest interpolate with
    ``options.mode`` (nearest: index gathers only, no weights). Shrinking axes go first so
    intermediates stay small; the last step writes straight into ``dest``. Input of another
    dtype than ``dest`` (integers) is converted block by block, only where it is read. When
    autograd is recording, functional gathers are used.
    """
    t, taps = separable_taps(img, plan, box, options.mode, options)
    order = step_order([(box[k].stop - box[k].start) / t.shape[1 + k] for k in range(plan.ndim)])
    if torch.is_grad_enabled() and t.requires_grad:
        t = t.to(dest.dtype)
        for k in order:
            t = _step_functional(t, 1 + k, taps[k])
        dest.copy_(t)
        return
    # Block along target axis 0 so every intermediate stays below _BLOCK_BYTES: the
    # temporaries are then recycled from the heap rather than freshly page-faulted, and
    # stay in cache across a periodic step's strided passes. Each block reads only the source rows its taps touch.
    shape, largest = list(t.shape), 0
    for k in order[:-1]:
        shape[1 + k] = box[k].stop - box[k].start
        largest = max(largest, int(np.prod(shape)))
    rows = dest.shape[1]
    limit = _PERIODIC_BLOCK_BYTES if all(len(axis_taps) <= 2 for axis_taps in taps) else _BLOCK_BYTES
    blocks = min(rows, max(1, math.ceil(largest * dest.element_size() / limit)))
    step = math.ceil(rows / blocks)
    for j0 in range(0, rows, step):
        block_taps = [(i[j0 : j0 + step], None if w is None else w[j0 : j0 + step]) for i, w in taps[0]]
        lo = min(int(i.min()) for i, _ in block_taps)
        hi = max(int(i.max()) for i, _ in block_taps) + 1
        block_taps = [(i - lo, w) for i, w in block_taps]
        block = t.narrow(1, lo, hi - lo).to(dest.dtype)
        run_steps(block, [block_taps, *taps[1:]], order, dest.narrow(1, j0, min(step, rows - j0)))


def run_steps(t: torch.Tensor, taps: list[Taps], order: list[int], dest: torch.Tensor) -> None:
    """Apply the 1-D steps in ``order``; intermediates are fresh tensors, the last step fills ``dest``."""
    for n, k in enumerate(order):
        if n == len(order) - 1:
            out = dest
        else:
            shape = list(t.shape)
            shape[1 + k] = taps[k][0][0].numel()
            out = torch.empty(shape, dtype=t.dtype, device=t.device)
        _step_into(t, 1 + k, taps[k], out)
        t = out


