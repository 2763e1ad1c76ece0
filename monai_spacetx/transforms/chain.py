"""Exact nearest map-back through an eager chain that resampled more than once.

One nearest resample back undoes one nearest resample forward exactly (whenever the working
grid is finer than the one before it), but not two: after ``Spacingd(mode="nearest")`` then
``SpaceResampled(mode="nearest")`` a label went through two roundings, and a single rounding
back from the last grid to the native one disagrees with them near boundaries. What *is*
exact is undoing each rounding in turn, which is what MONAI's step-by-step ``Invertd`` does,
at the cost of one interpolation per step. Here the steps' nearest index maps are composed
instead, and the prediction is read with **one gather**: no interpolation, one output.

- :func:`recorded_grids` walks ``applied_operations`` back from the current grid and returns
  the grid before every recorded step, each record read by the one reader (:mod:`.records`:
  ours and every MONAI spatial transform that records an inverse). A run of MONAI operations
  that was executed lazily (one resample, by MONAI's ``apply_pending``, by our sink or fused
  into one of our steps) is one step. A record the reader does not know, or a walk that does
  not arrive at the native grid, raises :class:`~monai_spacetx.errors.MetadataError`: falling
  back to one resample would silently give a different answer.
- :func:`compose_nearest` composes the centre-consistent nearest maps native → … → current
  (tie rule and snapping as the engine's, see :mod:`monai_spacetx.engine.options`) in numpy: the
  reference that the engine's :func:`~monai_spacetx.engine.compose_nearest_gather` (one pass, no
  per-voxel index arrays, compiled on CPU) is tested against, and which the map-back uses for
  rotated or sheared steps; axis-aligned chains compose one axis at a time instead.
- :func:`map_back_nearest` is the whole job for :class:`~monai_spacetx.transforms.SpaceInvertd`.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import LazyAttr

from ..engine import compose_nearest_gather
from ..errors import MetadataError
from ..geometry.points import index_map, nearest_voxel
from ..geometry.space import Space
from ..geometry.tolerances import AFFINE_MATCH_ATOL
from .lazy import DATA_SOURCE_KEY, FUSED_KEY, copies
from .records import NON_SPATIAL, input_grid, is_ours, read_record, square

__all__ = ["recorded_grids", "interpolating_steps", "compose_nearest", "map_back_nearest"]


def recorded_grids(img: MetaTensor) -> list[Space]:
    """The grids a sample went through, native first, current last, one per executed step boundary.

    Args:
        img: a ``(C, *spatial)`` MetaTensor whose ``applied_operations`` hold the forward chain.

    Returns:
        ``[native, after step 1, ..., current]``; a lazily executed run of MONAI operations is
        one step, a random transform that did not fire and a non-spatial one none.

    Raises:
        MetadataError: a record of a transform the reader does not know (see :mod:`.records`).
    """
    grids = [Space.from_metatensor(img)]
    records = list(img.applied_operations)
    while records:
        newest = records.pop()
        step = read_record(newest)
        if step.kind == "spacetx":
            fused = int(step.extra.get("fused", 0))
            del records[len(records) - fused :]  # MONAI's operations fused into this step
            grids.append(Space.from_json(step.extra.get("data_source", step.extra["source"])))
        elif step.lazy_affine is not None:  # a lazily executed run: one resample, from the first one's input
            run = [step]
            while records and records[-1].get(LazyAttr.AFFINE) is not None and not is_ours(records[-1]):
                run.append(read_record(records.pop()))
            covered = int(newest.get(FUSED_KEY, 0))  # our sink's warp also covered an earlier Space step
            if covered:
                del records[len(records) - covered :]
                grids.append(Space.from_json(newest[DATA_SOURCE_KEY]))
                continue
            ndim = grids[-1].ndim
            to_input = np.eye(ndim + 1)
            for op in reversed(run):  # oldest first: output index -> the run's input index
                to_input = to_input @ square(op.lazy_affine, ndim)  # type: ignore[arg-type]
            affine = grids[-1].affine @ np.linalg.inv(to_input)
            grids.append(Space.from_affine(affine, list(run[-1].in_shape)[:ndim]))
        elif step.kind not in ("identity",) and step.kind not in NON_SPATIAL:
            grids.append(input_grid(step, grids[-1]))
    grids.reverse()
    return grids


def interpolating_steps(grids: Sequence[Space]) -> int:
    """How many steps between consecutive ``grids`` resample (are not a pure crop/pad/flip/permutation)."""
    return sum(not copies(a, b) for a, b in zip(grids[:-1], grids[1:]))


def compose_nearest(grids: Sequence[Space], chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """For every voxel of ``grids[0]``, the voxel of ``grids[-1]`` reached by nearest steps through each grid.

    Each step takes the voxel whose box holds the current voxel's centre
    (:func:`~monai_spacetx.geometry.points.nearest_voxel`, ``floor(snap(x + 0.5))``, the engine's
    ``nearest``).

    Returns:
        ``(index, valid)``: ``index`` ``(N, D)`` int64 voxel indices in ``grids[-1]`` for the
        ``N`` voxels of ``grids[0]`` in C order; ``valid`` ``(N,)`` bool, false where some step
        left its grid (those voxels take the fill).
    """
    first, ndim = grids[0], grids[0].ndim
    total = int(np.prod(first.shape))
    maps = [index_map(a, b) for a, b in zip(grids[:-1], grids[1:])]
    index = np.empty((total, ndim), dtype=np.int64)
    valid = np.empty(total, dtype=bool)
    for begin in range(0, total, chunk):
        flat = np.arange(begin, min(begin + chunk, total))
        points = np.stack(np.unravel_index(flat, first.shape), axis=1)
        ok = np.ones(len(flat), dtype=bool)
        for matrix, grid in zip(maps, grids[1:]):
            points = nearest_voxel(points @ matrix[:ndim, :ndim].T + matrix[:ndim, ndim]).astype(np.int64)
            ok &= np.all((points >= 0) & (points < np.array(grid.shape)), axis=1)
        index[flat], valid[flat] = points, ok
    return index, valid


def _separable_flat_index(grids: Sequence[Space]) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """:func:`compose_nearest` as flat indices into ``grids[-1]``, one axis at a time, when every
    step's index map is axis-aligned (a permutation with scales: reorientation, crop, respacing;
    what inference chains do); ``None`` otherwise. Same arithmetic per axis, so the same voxels,
    at the cost of a few 1-D arrays and one broadcast sum instead of ``(N, D)`` float64 points.
    """
    ndim = grids[0].ndim
    maps = [index_map(a, b) for a, b in zip(grids[:-1], grids[1:])]
    if not all(np.all(np.count_nonzero(m[:ndim, :ndim], axis=0) == 1) for m in maps):
        return None
    per_axis = []  # per axis of grids[0]: (the axis it ends on in grids[-1], its indices there, valid)
    for axis in range(ndim):
        index: np.ndarray = np.arange(grids[0].shape[axis], dtype=np.float64)
        ok, current = np.ones(grids[0].shape[axis], dtype=bool), axis
        for matrix, grid in zip(maps, grids[1:]):
            row = int(np.flatnonzero(matrix[:ndim, current])[0])
            index = nearest_voxel(index * matrix[row, current] + matrix[row, ndim])
            ok &= (index >= 0) & (index < grid.shape[row])
            current = row
        per_axis.append((current, index.astype(np.int64), ok))
    strides = np.cumprod((1, *grids[-1].shape[:0:-1]))[::-1]
    flat = np.zeros(grids[0].shape, dtype=np.int64)
    valid = np.ones(grids[0].shape, dtype=bool)
    for axis, (current, index, ok) in enumerate(per_axis):
        view = [1] * ndim
        view[axis] = -1
        flat += (np.where(ok, index, 0) * strides[current]).reshape(view)
        valid &= ok.reshape(view)
    return flat.reshape(-1), valid.reshape(-1)


def map_back_nearest(data: torch.Tensor, ref: MetaTensor, native: Space, fill: float = 0.0) -> Optional[torch.Tensor]:
    """``data`` ``(C, *current)`` mapped to ``native`` by the composed nearest maps of ``ref``'s recorded chain.

    Returns ``None`` (one resample back is then exact) when the chain resampled at most once.

    Returns:
        ``(C, *native.shape)`` tensor, ``data``'s dtype and device; ``fill`` where a step left its grid.

    Raises:
        MetadataError: a record is not understood, or the records do not lead back to ``native``.
    """
    grids = recorded_grids(ref)
    if interpolating_steps(grids) < 2:
        return None
    if not np.allclose(grids[0].affine, native.affine, atol=AFFINE_MATCH_ATOL) or grids[0].shape != native.shape:
        names = [str(op.get("class", "?")) for op in ref.applied_operations]
        raise MetadataError(
            f"the recorded chain {names} does not lead back to the native grid (it arrives at {grids[0]}, the native "
            f"grid is {native}): a spatial change was not recorded, so the nearest map-back cannot be composed exactly"
        )
    chain = [native, *grids[1:]]
    separable = _separable_flat_index(chain)
    if separable is None:  # rotated or sheared steps: compose per voxel, no (N, D) index arrays (compiled on CPU)
        maps = [index_map(a, b) for a, b in zip(chain[:-1], chain[1:])]
        return compose_nearest_gather(data, maps, [grid.shape for grid in chain[1:]], native.shape, fill)
    flat, valid = separable
    gather = torch.as_tensor(flat, device=data.device)
    out = data.reshape(data.shape[0], -1)[:, gather]
    out[:, torch.as_tensor(~valid, device=data.device)] = torch.as_tensor(fill, dtype=data.dtype, device=data.device)
    return out.reshape(data.shape[0], *native.shape)
