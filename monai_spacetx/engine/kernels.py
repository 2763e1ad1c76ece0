"""Torch execution kernels for the three non-trivial paths of :mod:`.plan`.

Every kernel takes a source tensor laid out ``(N, *source_spatial)`` (leading dims
flattened), the target index box to compute (:func:`target_box`, one ``slice`` per spatial
axis) and ``dest``, a ``(N, *box_shape)`` view of the output that it writes into. Target
voxels outside the box are fill: :func:`monai_spacetx.warp_image` allocates and fills the
output, and never materialises more than the box.

Boundary conventions (``x`` is the continuous source index of a target voxel's centre):

- constant padding: a target voxel is inside when ``-0.5 <= x <= n - 0.5`` on every axis
  (the source field of view, edges included, after snapping); inside, interpolation taps
  that fall off the grid are clamped to the edge voxel (so edge voxels are not darkened,
  as ITK); outside, the voxel is fill.
- ``"border"``: the coordinate is clamped to ``[0, n - 1]``.
- ``"reflection"``: the coordinate is reflected about the voxel edges ``-0.5`` and
  ``n - 0.5`` (``grid_sample(..., align_corners=False)``), then clamped; cubic reflects
  each tap, nearest reflects the chosen index.

Nearest takes source index ``floor(snap(x + 0.5))``: a voxel's box is ``[i - 0.5, i + 0.5)``
and exact ties go up. Cubic is Keys' cubic convolution with ``A = -0.75`` (torch's bicubic).
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..geometry.tolerances import SNAP_TOL, WEIGHT_TOL
from .options import WarpOptions
from .plan import WarpPlan

__all__ = ["target_box", "run_index", "run_separable", "run_general", "Box"]

Box = Tuple[slice, ...]

#: Target voxels per chunk in the general path: bounds the float64 grid (24 MiB in 3-D).
_CHUNK_VOXELS = 1 << 20
_CUBIC_A = -0.75
#: Elements per block of the innermost-axis gather (4 MiB of float32).
_BLOCK_ELEMENTS = 1 << 20
#: Largest intermediate of the separable path (below glibc's 32 MiB mmap threshold).
_BLOCK_BYTES = 30 << 20


# ---------------------------------------------------------------------------- coordinates
def _snap(x: torch.Tensor) -> torch.Tensor:
    """Per-voxel coordinates of the general path snapped to integers and half-integers within
    ``SNAP_TOL``, as :meth:`WarpPlan.axis_coords` does for axis-aligned plans."""
    nearest = torch.round(2.0 * x) / 2.0
    return torch.where((x - nearest).abs() <= SNAP_TOL, nearest, x)


def _wrap_index(i: torch.Tensor, n: int, options: WarpOptions) -> torch.Tensor:
    """Integer tap indices → valid indices (reflection about voxel edges, else clamp)."""
    if options.padding_mode == "reflection":
        i = torch.remainder(i, 2 * n)
        i = torch.where(i >= n, 2 * n - 1 - i, i)
    return i.clamp(0, n - 1)


def _wrap_coord(x: torch.Tensor, n: int, options: WarpOptions) -> torch.Tensor:
    """Continuous coordinates → ``[0, n - 1]`` (reflection about ``-0.5``/``n - 0.5``, else clamp)."""
    if options.padding_mode == "reflection":
        y = torch.remainder(x + 0.5, 2.0 * n)
        x = torch.where(y > n, 2.0 * n - y, y) - 0.5
    return x.clamp(0.0, n - 1.0)


def _inside(x: torch.Tensor, n: int) -> torch.Tensor:
    return (x >= -0.5) & (x <= n - 0.5)


def _cubic_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """Keys weights for taps at ``floor(x) + (-1, 0, 1, 2)``, ``t = x - floor(x)``."""
    a = _CUBIC_A

    def near(d: torch.Tensor) -> torch.Tensor:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: torch.Tensor) -> torch.Tensor:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(x: torch.Tensor, n: int, mode: str, options: WarpOptions) -> "Taps":
    """Interpolation taps ``[(index, weight), ...]`` for snapped source coordinates ``x`` (float64).

    ``weight`` is ``None`` for a single unit tap (nearest, or ``x`` integral).
    """
    if mode == "nearest":
        return [(_wrap_index(torch.floor(x + 0.5).long(), n, options), None)]
    if mode == "linear":
        xw = _wrap_coord(x, n, options)
        i0 = torch.floor(xw)
        w = xw - i0
        i0l = i0.long()
        if not bool((w != 0).any()):
            return [(i0l, None)]
        return [(i0l, 1.0 - w), ((i0l + 1).clamp(max=n - 1), w)]
    base = torch.floor(x)
    weights = _cubic_weights(x - base)
    return [(_wrap_index(base.long() + k - 1, n, options), weights[k]) for k in range(4)]


# ---------------------------------------------------------------------------- target box
def target_box(plan: WarpPlan, options: WarpOptions) -> Optional[Box]:
    """The target index box that must be computed; ``None`` when every target voxel is fill.

    With ``"border"``/``"reflection"`` padding every voxel reads the source. With constant
    padding, axis-aligned plans give the exact box of voxels whose centres lie in the
    source field of view (the map is monotone per axis); the general path gets the
    bounding box of the mapped field of view (its voxels are then masked one by one).
    """
    if not options.constant:
        return tuple(slice(0, m) for m in plan.target_shape)
    ndim, box = plan.ndim, []
    if plan.axes is not None:
        for k, m in enumerate(plan.target_shape):
            inside = _inside(torch.from_numpy(plan.axis_coords(k)), plan.source_shape[plan.axes[k]])
            valid = torch.nonzero(inside).flatten()
            if valid.numel() == 0:
                return None
            box.append(slice(int(valid[0]), int(valid[-1]) + 1))
        return tuple(box)
    to_target = np.linalg.inv(plan.matrix)
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in plan.source_shape], indexing="ij")).reshape(ndim, -1)
    mapped = to_target[:ndim, :ndim] @ corners + to_target[:ndim, ndim : ndim + 1]
    for k, m in enumerate(plan.target_shape):
        lo = max(0, int(math.floor(mapped[k].min())) - 1)
        hi = min(m, int(math.ceil(mapped[k].max())) + 2)
        if hi <= lo:
            return None
        box.append(slice(lo, hi))
    return tuple(box)


# ---------------------------------------------------------------------------- index path
def run_index(img: torch.Tensor, plan: WarpPlan, box: Box, dest: torch.Tensor) -> None:
    """Crop / pad / flip / permute with constant fill: slicing and one copy, bitwise exact.

    ``box`` must be :func:`target_box`'s (every box voxel then reads a real source voxel).
    """
    assert plan.axes is not None and plan.scale is not None and plan.offset is not None
    src: list[slice] = [slice(None)] * plan.ndim
    flips: list[int] = []
    for k, (axis, s, b) in enumerate(zip(plan.axes, plan.scale, plan.offset)):
        lo, hi, b = box[k].start, box[k].stop, int(b)
        if s > 0:  # target j reads source j + b
            src[axis] = slice(b + lo, b + hi)
        else:  # target j reads source b - j
            src[axis] = slice(b - hi + 1, b - lo + 1)
            flips.append(1 + axis)
    view = img[(slice(None), *src)]
    if flips:
        view = torch.flip(view, flips)
    dest.copy_(view.permute(0, *(1 + a for a in plan.axes)))


# ---------------------------------------------------------------------------- separable path
#: ``[(index, weight), ...]``: int64 source indices and float64 weights (``None``: unit weight).
Taps = List[Tuple[torch.Tensor, Optional[torch.Tensor]]]


def _weight(tap: Tuple[torch.Tensor, Optional[torch.Tensor]]) -> torch.Tensor:
    """The weights of a tap that has them (every tap of a multi-tap step does)."""
    assert tap[1] is not None
    return tap[1]


def _pick(t: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``t.index_select(dim, index)``, or a view when ``index`` is one ascending run."""
    first, count = int(index[0]), index.numel()
    if int(index[-1]) - first == count - 1 and (count == 1 or bool((index.diff() == 1).all())):
        return t.narrow(dim, first, count)
    if dim == t.dim() - 1:  # advanced indexing gathers the innermost axis faster than index_select
        return t[..., index]
    return t.index_select(dim, index)


def _step_functional(t: torch.Tensor, dim: int, taps: Taps) -> torch.Tensor:
    """One 1-D interpolation step by gathers; differentiable (weights broadcast along ``dim``)."""
    shape = [1] * t.dim()
    shape[dim] = -1
    if len(taps) == 1:
        return _pick(t, dim, taps[0][0])
    if len(taps) == 2:
        return torch.lerp(_pick(t, dim, taps[0][0]), _pick(t, dim, taps[1][0]), _weight(taps[1]).to(t.dtype).view(shape))
    terms = [_pick(t, dim, index) * _weight((index, weight)).to(t.dtype).view(shape) for index, weight in taps]
    return torch.stack(terms).sum(0) if len(terms) > 4 else sum(terms[1:], terms[0])


def _lerp_periodic(t: torch.Tensor, dim: int, taps: Taps, dest: torch.Tensor, max_period: int = 16) -> bool:
    """A linear step along ``dim`` as a few strided lerps when the scale is rational.

    With ``a = p / q`` the taps of output ``j + q`` are those of ``j`` moved by ``p``
    inputs, with the same weight: each residue ``r`` of ``j mod q`` is then one strided
    lerp with a scalar weight (outputs ``r::q`` from inputs ``i0[r]::p``), bit-identical to
    the gather. ``q`` large ops instead of one op per output slice: no gathers, no
    temporaries, and few thread-pool barriers (which matter on a busy machine). Edge
    outputs whose taps were clamped break the period; they are gathered.
    Returns False when no period ``q <= max_period`` fits.
    """
    (i0, _), (i1, w1) = taps
    assert w1 is not None
    m = i0.numel()
    lead = (slice(None),) * dim
    for q in range(1, max_period + 1):
        if m < 4 * q:
            return False
        half = (m - q) // 2
        d0, d1, dw = i0[q:] - i0[:-q], i1[q:] - i1[:-q], (w1[q:] - w1[:-q]).abs()
        p = int(d0[half])
        good = (d0 == p) & (d1 == p) & (dw <= WEIGHT_TOL)
        if p <= 0 or not bool(good[half]):
            continue
        bad = torch.nonzero(~good).flatten().tolist()
        start = max([b + 1 for b in bad if b < half], default=0)
        stop = min([b for b in bad if b > half], default=m - q) + q
        if stop - start < 2 * q:
            continue
        weights = w1.tolist()
        for r in range(start, start + q):
            last = p * (len(range(r, stop, q)) - 1) + 1
            a0, a1 = int(i0[r]), int(i1[r])
            torch.lerp(
                t[(*lead, slice(a0, a0 + last, p))],
                t[(*lead, slice(a1, a1 + last, p))],
                weights[r],
                out=dest[(*lead, slice(r, stop, q))],
            )
        for lo, hi in ((0, start), (stop, m)):  # clamped edge outputs: plain gather
            if hi > lo:
                part = [(i[lo:hi], None if w is None else w[lo:hi]) for i, w in taps]
                dest[(*lead, slice(lo, hi))] = _step_functional(t, dim, part)
        return True
    return False


def _step_into(t: torch.Tensor, dim: int, taps: Taps, dest: torch.Tensor) -> None:
    """One 1-D interpolation step written into ``dest`` (no autograd, no large temporaries).

    A linear step with a rational scale is a few strided lerps (:func:`_lerp_periodic`).
    Otherwise, along an outer axis each output slab is a lerp of whole source slabs: that
    streams memory once and allocates nothing, several times faster on CPU than gathering
    full-size tap tensors. The innermost axis has no slabs, so it is gathered.
    """
    if len(taps) == 2 and _lerp_periodic(t, dim, taps, dest):
        return
    if dim == t.dim() - 1:
        # gather in blocks of the second dim so the tap temporaries stay under glibc's mmap
        # threshold (32 MiB): they are then recycled from the heap instead of page-faulted
        block = max(1, _BLOCK_ELEMENTS // max(1, t[:, :1].numel() // t.shape[-1] * dest.shape[-1]))
        taps = [(i, None if w is None else w.to(t.dtype)) for i, w in taps]
        for b0 in range(0, t.shape[1], block):
            tb, db = t[:, b0 : b0 + block], dest[:, b0 : b0 + block]
            if len(taps) == 2:
                torch.lerp(_pick(tb, dim, taps[0][0]), _pick(tb, dim, taps[1][0]), _weight(taps[1]), out=db)
            else:
                db.copy_(_step_functional(tb, dim, taps))
        return
    index = [i.tolist() for i, _ in taps]
    weight: list[list[float]] = [[] if w is None else w.tolist() for _, w in taps]
    for j in range(dest.shape[dim]):
        out = dest.select(dim, j)
        slabs = [t.select(dim, idx[j]) for idx in index]
        if len(taps) == 1 or (len(taps) == 2 and weight[1][j] == 0.0):  # one tap has no weight list
            out.copy_(slabs[0])
        elif len(taps) == 2:
            torch.lerp(slabs[0], slabs[1], weight[1][j], out=out)
        else:
            torch.mul(slabs[0], weight[0][j], out=out)
            for slab, w in zip(slabs[1:], weight[1:]):
                out.add_(slab, alpha=w[j])


def run_separable(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> None:
    """Axis-aligned resample as successive 1-D steps (never a D-dimensional grid_sample).

    Axes whose map is ``±j + integer`` are pure index steps; the rest interpolate with
    ``mode``. Shrinking axes go first so intermediates stay small; the last step writes
    straight into ``dest``. When autograd is recording, functional gathers are used.
    """
    assert plan.axes is not None and plan.scale is not None
    t = img.permute(0, *(1 + a for a in plan.axes))  # spatial dim k now feeds target axis k
    device = t.device
    taps: list[Taps] = []
    for k in range(plan.ndim):
        exact = abs(plan.scale[k]) == 1.0 and float(plan.offset[k]).is_integer()  # type: ignore[index]
        x = torch.from_numpy(plan.axis_coords(k, box[k].start, box[k].stop))
        axis_taps = _taps(x, t.shape[1 + k], "nearest" if exact else options.mode, options)
        taps.append([(i.to(device), None if w is None else w.to(device)) for i, w in axis_taps])
    # read only the source range the taps touch (views): outer-axis slabs shrink to it
    for k in range(plan.ndim):
        lo = min(int(i.min()) for i, _ in taps[k])
        hi = max(int(i.max()) for i, _ in taps[k]) + 1
        if lo > 0 or hi < t.shape[1 + k]:
            t = t.narrow(1 + k, lo, hi - lo)
            taps[k] = [(i - lo, w) for i, w in taps[k]]
    order = sorted(range(plan.ndim), key=lambda k: (box[k].stop - box[k].start) / t.shape[1 + k])
    if torch.is_grad_enabled() and t.requires_grad:
        for k in order:
            t = _step_functional(t, 1 + k, taps[k])
        dest.copy_(t)
        return
    # Block along target axis 0 so every intermediate stays below _BLOCK_BYTES: the
    # temporaries are then recycled from the heap rather than freshly page-faulted, and
    # stay in cache. Each block reads only the source rows its taps touch.
    shape, largest = list(t.shape), 0
    for k in order[:-1]:
        shape[1 + k] = box[k].stop - box[k].start
        largest = max(largest, int(np.prod(shape)))
    rows = dest.shape[1]
    blocks = min(rows, max(1, math.ceil(largest * t.element_size() / _BLOCK_BYTES)))
    step = math.ceil(rows / blocks)
    for j0 in range(0, rows, step):
        block_taps = [(i[j0 : j0 + step], None if w is None else w[j0 : j0 + step]) for i, w in taps[0]]
        lo = min(int(i.min()) for i, _ in block_taps)
        hi = max(int(i.max()) for i, _ in block_taps) + 1
        block_taps = [(i - lo, w) for i, w in block_taps]
        _run_steps(t.narrow(1, lo, hi - lo), [block_taps, *taps[1:]], order, dest.narrow(1, j0, min(step, rows - j0)))


def _run_steps(t: torch.Tensor, taps: list[Taps], order: list[int], dest: torch.Tensor) -> None:
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


# ---------------------------------------------------------------------------- general path
def run_general(
    img: torch.Tensor,
    plan: WarpPlan,
    box: Box,
    options: WarpOptions,
    dest: torch.Tensor,
    *,
    chunk: int = _CHUNK_VOXELS,
) -> None:
    """Arbitrary affine resample in one pass, chunked along the first target axis.

    The sampling grid is built in float64 from ``plan.matrix`` (already relative to both
    origins) and cast to the image dtype only for ``grid_sample`` (linear). Nearest and
    cubic gather their taps themselves (our tie rule; no 3-D bicubic in grid_sample).
    """
    ndim, mode = plan.ndim, options.mode
    device, dtype = img.device, img.dtype
    n_src = plan.source_shape
    linear = torch.as_tensor(plan.matrix[:ndim, :ndim], dtype=torch.float64, device=device)
    shift = torch.as_tensor(plan.matrix[:ndim, ndim], dtype=torch.float64, device=device)
    rows_per_chunk = max(1, chunk // max(1, int(np.prod([s.stop - s.start for s in box[1:]]))))
    strides = [int(np.prod(n_src[k + 1 :])) for k in range(ndim)]
    flat = img.reshape(img.shape[0], -1)
    size = torch.tensor(n_src, dtype=torch.float64, device=device)
    for r0 in range(box[0].start, box[0].stop, rows_per_chunk):
        r1 = min(box[0].stop, r0 + rows_per_chunk)
        axes = [torch.arange(r0, r1, dtype=torch.float64, device=device)]
        axes += [torch.arange(s.start, s.stop, dtype=torch.float64, device=device) for s in box[1:]]
        x = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1) @ linear.T + shift  # (*chunk, D)
        if mode == "linear":
            xw = torch.stack([_wrap_coord(_snap(x[..., k]), n_src[k], options) for k in range(ndim)], dim=-1)
            grid = ((2.0 * xw + 1.0) / size - 1.0).flip(-1)  # grid_sample wants (x, y[, z]) = reversed axes
            vals = F.grid_sample(
                img.unsqueeze(0), grid.unsqueeze(0).to(dtype), mode="bilinear", padding_mode="border", align_corners=False
            )[0]
        else:
            per_axis = [_taps(_snap(x[..., k]), n_src[k], mode, options) for k in range(ndim)]
            vals = None
            for combo in np.ndindex(*(len(t) for t in per_axis)):
                index = sum(per_axis[k][c][0] * strides[k] for k, c in enumerate(combo))
                term = flat.index_select(1, index.reshape(-1)).reshape(img.shape[0], *x.shape[:-1])
                weights = [per_axis[k][c][1] for k, c in enumerate(combo) if per_axis[k][c][1] is not None]
                if weights:
                    weight = weights[0]
                    for w in weights[1:]:
                        weight = weight * w
                    term = term * weight.to(dtype)
                vals = term if vals is None else vals + term
        assert vals is not None
        if options.constant:
            xs = _snap(x)
            inside = torch.stack([_inside(xs[..., k], n_src[k]) for k in range(ndim)], dim=-1).all(-1)
            vals = torch.where(inside, vals, torch.tensor(options.fill, dtype=vals.dtype, device=device))
        dest[:, r0 - box[0].start : r1 - box[0].start] = vals
