"""The general path: any affine target (rotated, oblique), one pass over the target box in chunks.

A chunk is a compact tile of the target box (:func:`general_tiles`). Coordinates are built from the plan's
matrix by broadcasting (one full-size pass per coordinate), never by meshgrid + matmul:

- ``linear``: a normalised ``grid_sample`` grid in the image's working dtype (float32, or
  float64 for float64 input), built relative to the chunk's first voxel so float32 keeps
  ~1e-5 voxel precision, then one ``grid_sample`` (``border``/``reflection`` padding, which
  equal our tap rules).
- ``nearest``: the flat source index in float64, ``floor(x + 0.5 + SNAP_TOL)`` (exactly
  ``floor(snap(x + 0.5))``, our tie rule), then one gather. ``grid_sample``'s ``nearest``
  rounds half to even, so it is not used.
- ``cubic``: Keys weights per axis; the chunk's taps are read through the tap rule into a small
  window of its own once, so a voxel's ``4^D`` taps sit at fixed flat offsets from its first
  one: one base index, then a gather per tap (2-D images use ``grid_sample``'s bicubic, the
  same Keys kernel with the same per-tap padding).

On CPU tensors the compiled kernels of :mod:`.compiled` (numba) do all of this in one loop over
the target rows, with the same conventions; the torch code below is the path for CUDA tensors,
autograd, dtypes the kernels do not take, and machines without numba.

With ``"zeros"`` padding the voxels outside the source field of view are then set to ``fill``
row by row (:func:`~monai_spacetx.engine.box.inside_runs`, float64). Memory beyond input and
output is bounded by the chunk: its coordinates and values (about 20 bytes per chunk voxel for
linear), and for cubic the chunk's tap window.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .._recent import RecentValues
from ..geometry.tolerances import SNAP_TOL
from . import compiled
from .box import Box, inside_runs
from .options import WarpOptions
from .plan import WarpPlan
from .taps import anti_aliasing_sigmas, cubic_weights, kernel_radius, smooth, snap_half, wrap_coord, wrap_index

__all__ = ["run_general", "fill_tiles", "general_tiles", "in_box", "source_window", "tap_window", "gather_columns", "chunk_coords", "mask_outside"]

#: Target voxels per chunk: bounds the per-chunk coordinates (a float32 grid of 3 MiB in 3-D) and keeps
#: them in cache between the few passes over them; large enough that per-op overhead stays small.
CHUNK_VOXELS = 1 << 18
#: Cubic keeps 4 weights per axis and a base index alive across its 4^D taps: smaller chunks stay in cache.
CUBIC_CHUNK_VOXELS = 1 << 16


def general_tiles(box: Box, chunk: int = CHUNK_VOXELS) -> Iterator[tuple[slice, ...]]:
    """Tiles of ``box`` (absolute target index ranges) of at most about ``chunk`` voxels each.

    The tile's longest axis (the outermost of equals) is halved until it is small enough: a
    compact tile reads a compact source region that its taps find in cache, where a slab of
    whole rows of an oblique target reads a thin tilted sheet spread over many pages (cubic's
    64 gathers ran 1.7x faster over tiles, 256^3 -> 200^3 rotated).
    """
    tile = [s.stop - s.start for s in box]
    while int(np.prod(tile)) > chunk and max(tile) > 1:
        k = int(np.argmax(tile))
        tile[k] = -(-tile[k] // 2)
    return itertools.product(*[[slice(s, min(b.stop, s + t)) for s in range(b.start, b.stop, t)] for b, t in zip(box, tile)])


def in_box(tile: tuple[slice, ...], box: Box) -> tuple[slice, ...]:
    """The index of ``tile`` (absolute) in a ``(N, *box_shape)`` tensor."""
    return (slice(None), *(slice(t.start - b.start, t.stop - b.start) for t, b in zip(tile, box)))


def chunk_coords(
    matrix: np.ndarray,
    starts: tuple[int, ...],
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: torch.device,
    out: list[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Per source axis ``k``, the coordinates ``x_k`` of the chunk's voxels, shaped ``shape``.

    ``matrix`` is a ``(D+1, D+1)`` index map; the constant is folded in float64 at the chunk's
    first voxel, so the ``dtype`` terms only span the chunk. Each coordinate costs one full-size
    pass (an outer-axes part plus a last-axis part, broadcast), written into ``out[k]`` if given.
    """
    ndim = len(shape)
    linear = matrix[:ndim, :ndim]
    origin = matrix[:ndim, ndim] + linear @ np.asarray(starts, dtype=np.float64)
    axes = [torch.arange(m, dtype=torch.float64, device=device) for m in shape]
    coords = []
    for k in range(ndim):
        outer = torch.full([*shape[:-1], 1], float(origin[k]), dtype=torch.float64, device=device)
        for a in range(ndim - 1):
            view = [1] * ndim
            view[a] = shape[a]
            outer += (axes[a] * linear[k, a]).view(view)
        last = (axes[-1] * linear[k, -1]).to(dtype)
        target = out[k] if out is not None else torch.empty(shape, dtype=dtype, device=device)
        coords.append(torch.add(outer.to(dtype), last, out=target))
    return coords


def mask_outside(plan: WarpPlan, starts: tuple[int, ...], values: torch.Tensor, fill: float) -> None:
    """Set ``values`` (``(N, *chunk)``) to ``fill`` where the voxel centre is outside the source field of view."""
    shape = tuple(values.shape[1:])
    lo, hi = inside_runs(plan, starts, shape)
    if bool((lo == 0).all()) and bool((hi == shape[-1]).all()):
        return
    j = torch.arange(shape[-1], device=values.device)
    inside = (j >= lo.to(values.device).unsqueeze(-1)) & (j < hi.to(values.device).unsqueeze(-1))
    values.masked_fill_(~inside.unsqueeze(0), fill)


#: Recent source windows (the window's index ranges and the matrix for it, read only), keyed by the plan's
#: matrix and source shape, the box, the padding and the margin: finding the window (the box's corners
#: mapped) cost about as much as a 2-D target's linear kernel.
_WINDOWS: "RecentValues[tuple[tuple[slice, ...], np.ndarray]]" = RecentValues(32)


def source_window(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, margin: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """The part of ``img`` ``(N, *source)`` the box's taps can read, ``margin`` voxels beyond its
    coordinates (all of it with reflection, which folds far coordinates in), and ``plan.matrix``
    re-expressed for it (coordinates relative to its first voxel; read only: it may be handed out again
    for the same arguments)."""
    key = (plan.matrix.tobytes(), plan.source_shape, tuple((b.start, b.stop) for b in box), options.padding_mode == "reflection", margin)
    window, matrix = _WINDOWS.get(key, lambda: _find_window(plan, box, options, margin))
    return img[(slice(None), *window)], matrix


def _find_window(plan: WarpPlan, box: Box, options: WarpOptions, margin: int) -> tuple[tuple[slice, ...], np.ndarray]:
    """:func:`source_window`'s index ranges and matrix (read only)."""
    ndim = plan.ndim
    window = [slice(0, n) for n in plan.source_shape]
    if options.padding_mode != "reflection":
        corners = np.array(np.meshgrid(*[(s.start, s.stop - 1) for s in box], indexing="ij")).reshape(ndim, -1)
        mapped = plan.matrix[:ndim, :ndim] @ corners + plan.matrix[:ndim, ndim : ndim + 1]
        for k, n in enumerate(plan.source_shape):
            lo = min(max(0, int(math.floor(mapped[k].min())) - margin), n - 1)
            hi = max(min(n, int(math.ceil(mapped[k].max())) + margin + 1), lo + 1)
            window[k] = slice(lo, hi)
    matrix = plan.matrix.copy()
    matrix[:ndim, ndim] -= [w.start for w in window]
    matrix.setflags(write=False)
    return tuple(window), matrix


def tap_window(src: torch.Tensor, firsts: list[torch.Tensor], before: int, after: int, options: WarpOptions) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """A chunk's taps read through the tap rule into a small contiguous window of its own.

    Args:
        src: ``(N, *sizes)`` the source (window).
        firsts: per axis, the chunk voxels' integer anchor (``floor(x)``), any shape; modified.
        before, after: the taps run from ``anchor - before`` to ``anchor + after`` on every axis.
        options: the tap rule (the edge voxel, or the mirror image for reflection).

    Returns:
        ``(N, L)`` the flattened window, the ``(M,)`` flat index of each voxel's first tap in it
        (tap ``(c_0, ..., c_{D-1})`` is at that index plus ``sum(c_k * strides[k])``), and the
        window's strides per axis: a voxel's taps are fixed offsets from one base index, and
        the window, bounded by the chunk, stays in cache.
    """
    window = src
    for k, first in enumerate(firsts):
        lo, hi = int(first.min()) - before, int(first.max()) + after + 1
        window = window.index_select(1 + k, wrap_index(torch.arange(lo, hi, device=src.device), src.shape[1 + k], options))
        first.sub_(lo + before)
    strides = [int(np.prod(window.shape[2 + k :])) for k in range(len(firsts))]
    base = firsts[0].mul_(strides[0])
    for k in range(1, len(firsts)):
        base.add_(firsts[k], alpha=strides[k])
    return window.reshape(window.shape[0], -1), base.view(-1), strides


def run_general(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor, *, chunk: int = CHUNK_VOXELS) -> None:
    """Arbitrary affine resample of ``img`` ``(N, *source)`` into ``dest`` ``(N, *box_shape)``, chunk by chunk.

    ``dest.dtype`` is the working dtype; integer input is converted only in the source window
    the box reads.
    """
    ndim = plan.ndim
    compiled_cpu = compiled.available() and dest.device.type == "cpu"  # the compiled kernels (same conventions, see the compiled package)
    if compiled_cpu and options.mode == "nearest" and compiled.general_kernel(img, plan.matrix, plan, box, options, dest):
        return  # nearest reads the whole source in place: no window, no smoothing (nearest is never anti-aliased)
    # source voxels per target voxel along each axis: only anti-aliasing reads them (3 norms: a tenth of
    # a 64^3 linear call's own work), so without it every axis is given as not shrinking
    shrink = [float(np.linalg.norm(row)) for row in plan.matrix[:ndim, :ndim]] if options.anti_aliasing else [1.0] * ndim
    sigmas = anti_aliasing_sigmas(options, shrink)
    radius = max(kernel_radius(s) for s in sigmas)
    src, local = source_window(img, plan, box, options, margin=2 + radius)
    if radius:  # smooth the window; its own edges are replicated, but only voxels within `radius` of them are wrong and unread
        src = src.to(dest.dtype)
        for k, sigma in enumerate(sigmas):
            if sigma > 0:
                src = smooth(src, 1 + k, sigma, options)
    if compiled_cpu and options.mode != "nearest" and compiled.general_kernel(src.to(dest.dtype), local, plan, box, options, dest):
        return
    if options.mode == "linear" or (options.mode == "cubic" and plan.ndim == 2):
        src = src.to(dest.dtype)
        compute: Callable[[tuple[int, ...], tuple[int, ...]], torch.Tensor] = lambda starts, shape: _grid_sample(src, local, starts, shape, options)
    elif options.mode == "cubic":
        compute = lambda starts, shape: _cubic(src, local, starts, shape, options, dest.dtype)  # noqa: E731
    else:
        flat = img.reshape(img.shape[0], -1)
        compute = lambda starts, shape: _nearest(flat, plan, starts, shape, options)  # noqa: E731
    fill_tiles(plan, box, options, dest, compute, min(chunk, CUBIC_CHUNK_VOXELS) if options.mode == "cubic" else chunk)


def fill_tiles(
    plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor,
    compute: Callable[[tuple[int, ...], tuple[int, ...]], torch.Tensor], chunk: int = CHUNK_VOXELS,
) -> None:
    """Fill ``dest`` ``(N, *box_shape)`` tile by tile (:func:`general_tiles`): ``compute(starts, shape)``
    gives a tile's ``(N, *shape)`` values, then with ``"zeros"`` padding the voxels outside the
    source field of view get the fill."""
    for tile in general_tiles(box, chunk):
        starts, shape = tuple(t.start for t in tile), tuple(t.stop - t.start for t in tile)
        values = compute(starts, shape)
        if options.constant:
            mask_outside(plan, starts, values, options.fill)
        dest[in_box(tile, box)] = values


def _grid_sample(
    src: torch.Tensor, matrix: np.ndarray, starts: tuple[int, ...], shape: tuple[int, ...], options: WarpOptions
) -> torch.Tensor:
    """Linear (or 2-D bicubic) samples of a chunk from ``src`` ``(N, *sizes)``: one normalised grid, one ``grid_sample``."""
    ndim, sizes = len(shape), src.shape[1:]
    # grid_sample's normalised coordinate (align_corners=False): u = (2 x + 1) / n - 1, axes reversed
    normalise = np.diag([*(2.0 / n for n in sizes), 1.0])
    normalise[:ndim, ndim] = [1.0 / n - 1.0 for n in sizes]
    grid = torch.empty((*shape, ndim), dtype=src.dtype, device=src.device)
    chunk_coords(normalise @ matrix, starts, shape, src.dtype, src.device, out=[grid[..., ndim - 1 - k] for k in range(ndim)])
    padding = "reflection" if options.padding_mode == "reflection" else "border"
    mode = "bilinear" if options.mode == "linear" else "bicubic"
    # grid_sample's CPU kernel runs the batch in parallel, not the points of one image: split the
    # chunk's points into one batch entry per thread, over the same (expanded, not copied) source
    parts = torch.get_num_threads() if src.device.type == "cpu" else 1
    points = grid.view(-1, ndim)
    count = points.shape[0]
    if parts < 2 or count < parts * 4096:
        return F.grid_sample(src.unsqueeze(0), grid.unsqueeze(0), mode=mode, padding_mode=padding, align_corners=False)[0]
    per_part = -(-count // parts)
    points = torch.cat([points, points[-1:].expand(per_part * parts - count, ndim)])
    batch = points.view(parts, per_part, *(1,) * (ndim - 1), ndim)
    out = F.grid_sample(src.unsqueeze(0).expand(parts, *src.shape), batch, mode=mode, padding_mode=padding, align_corners=False)
    return out.reshape(parts, src.shape[0], per_part).transpose(0, 1).reshape(src.shape[0], -1)[:, :count].reshape(src.shape[0], *shape)


def _nearest(flat: torch.Tensor, plan: WarpPlan, starts: tuple[int, ...], shape: tuple[int, ...], options: WarpOptions) -> torch.Tensor:
    """Nearest samples of a chunk: one flat gather from ``flat`` ``(N, prod(plan.source_shape))``."""
    index = nearest_index(plan, starts, shape, options, flat.device)
    return gather_columns(flat, index.view(-1)).view(flat.shape[0], *shape)


def gather_columns(flat: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``flat[:, index]`` for ``flat`` ``(N, L)``; one channel is gathered as 1-D (about 1.5x faster)."""
    return flat[0].index_select(0, index).unsqueeze(0) if flat.shape[0] == 1 else flat.index_select(1, index)


def _cubic(
    src: torch.Tensor, matrix: np.ndarray, starts: tuple[int, ...], shape: tuple[int, ...], options: WarpOptions, dtype: torch.dtype
) -> torch.Tensor:
    """Keys cubic samples (``dtype``) of a chunk from ``src`` ``(N, *sizes)``, a source window.

    The coordinate is brought into ``[-1, n]`` first (reflected into the field of view, or
    clamped: every tap beyond the edge reads the edge voxel either way); the taps are then read
    from the chunk's :func:`tap_window`, a gather per tap from a shifted view of it.
    """
    ndim = len(shape)
    firsts, weights = [], []
    for x, n in zip(chunk_coords(matrix, starts, shape, torch.float64, src.device), src.shape[1:]):
        x = snap_half(x)
        x = wrap_coord(x, n, options, clamp=False) if options.padding_mode == "reflection" else x.clamp_(-1.0, float(n))
        first = torch.floor(x)
        weights.append([w.to(dtype) for w in cubic_weights(x - first)])
        firsts.append(first.long())
    flat, base, strides = tap_window(src, firsts, 1, 2, options)  # taps floor(x) - 1 .. floor(x) + 2
    flat = flat.to(dtype)
    values = torch.zeros((flat.shape[0], *shape), dtype=dtype, device=flat.device)
    row = torch.empty_like(values)
    length = flat.shape[1]
    for combo in np.ndindex(*(4,) * (ndim - 1)):
        row_weight = weights[0][combo[0]]
        for k, c in enumerate(combo[1:], start=1):
            row_weight = row_weight * weights[k][c]
        row_offset = sum(c * stride for c, stride in zip(combo, strides))
        # the row's 4 taps along the last axis, then the row's weight once
        for c, last_weight in enumerate(weights[-1]):
            offset = row_offset + c
            term = gather_columns(flat.narrow(1, offset, length - offset), base).view(flat.shape[0], *shape)
            if c == 0 and term.requires_grad:  # autograd: a product with out= is not differentiable
                row = term * last_weight
            elif c == 0:
                torch.mul(term, last_weight, out=row)
            else:
                row.addcmul_(term, last_weight)
        values.addcmul_(row, row_weight)
    return values


def nearest_index(plan: WarpPlan, starts: tuple[int, ...], shape: tuple[int, ...], options: WarpOptions, device: torch.device) -> torch.Tensor:
    """Flat source index (int64, ``shape``) of each chunk voxel's nearest source voxel, our tie rule.

    ``floor(x + 0.5 + SNAP_TOL)`` equals ``floor(snap(x + 0.5))``: a centre within ``SNAP_TOL``
    below a voxel boundary goes up, as one exactly on it does. The half and the tolerance are
    folded into the float64 constant.
    """
    ndim = plan.ndim
    matrix = plan.matrix.copy()
    matrix[:ndim, ndim] += 0.5 + SNAP_TOL
    coords = chunk_coords(matrix, starts, shape, torch.float64, device)
    flat: torch.Tensor | None = None
    stride = 1
    for k in reversed(range(ndim)):
        n = plan.source_shape[k]
        if options.padding_mode == "reflection":
            index = wrap_index(torch.floor(coords[k]).long(), n, options)
        else:
            index = torch.floor(coords[k]).clamp_(0, n - 1).long()
        flat = index * stride if flat is None else flat.add_(index, alpha=stride)
        stride *= n
    assert flat is not None
    return flat
