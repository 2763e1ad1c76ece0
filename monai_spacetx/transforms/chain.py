"""Exact nearest map-back through an eager chain that resampled more than once.

One nearest resample back undoes one nearest resample forward exactly (whenever the working
grid is finer than the one before it), but not two: after ``Spacingd(mode="nearest")`` then
``SpaceResampled(mode="nearest")`` a label went through two roundings, and a single rounding
back from the last grid to the native one disagrees with them near boundaries. What *is*
exact is undoing each rounding in turn, which is what MONAI's step-by-step ``Invertd`` does,
at the cost of one interpolation per step. Here the steps' nearest index maps are composed
instead, and the prediction is read with **one gather**: no interpolation, one output.

- :func:`recorded_grids` walks ``applied_operations`` back from the current grid and returns
  the grid before every recorded step (ours, and MONAI's ``Orientation``, ``Spacing``
  (``SpatialResample``), ``SpatialCrop``/``CenterSpatialCrop``/``CropForeground``,
  ``SpatialPad``/``BorderPad``/``DivisiblePad``, ``Flip``, ``Resize``, ``Zoom`` without
  pad/crop). A run of MONAI operations that was executed lazily (one resample, by MONAI's
  ``apply_pending``, by our sink or fused into one of our steps) is one step. Any other
  record, or a walk that does not arrive at the native grid, gives ``None``: the caller then
  maps back with one resample, as before.
- :func:`compose_nearest` composes the centre-consistent nearest maps native → … → current
  (tie rule and snapping as the engine's, see :mod:`monai_spacetx.engine.options`).
- :func:`map_back_nearest` is the whole job for :class:`~monai_spacetx.transforms.SpaceInvertd`.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import LazyAttr, TraceKeys, convert_to_tensor

from ..errors import SpaceError
from ..geometry.points import index_map, snap
from ..geometry.space import Space
from ..geometry.tolerances import AFFINE_MATCH_ATOL
from .lazy import copies

__all__ = ["recorded_grids", "interpolating_steps", "compose_nearest", "map_back_nearest"]


def _matrix(value: Any) -> np.ndarray:
    return np.asarray(convert_to_tensor(value, dtype=torch.float64, track_meta=False).cpu().numpy(), dtype=np.float64)


def _grid(affine: Any, shape: Sequence[int], like: Space) -> Space:
    """A Space of ``like``'s dimensionality from a (possibly 4x4) affine and a (possibly longer) shape."""
    return Space.from_affine(_matrix(affine), [int(s) for s in list(shape)[: like.ndim]])


def _shifted(out: Space, start: np.ndarray, shape: Sequence[int]) -> Space:
    """The grid whose voxel ``start`` is ``out``'s voxel 0 (``start`` may be negative), with ``shape``."""
    shift = np.eye(out.ndim + 1)
    shift[: out.ndim, out.ndim] = -np.asarray(start, dtype=np.float64)
    return Space.from_affine(out.affine @ shift, [int(s) for s in list(shape)[: out.ndim]])


def _unpadded(out: Space, extra: Mapping[str, Any], shape: Sequence[int]) -> Space:
    padded = [tuple(p) for p in extra["padded"]]
    before = np.array([p[0] for p in padded[-out.ndim :]], dtype=np.float64)  # MONAI lists the channel axis first
    return _shifted(out, -before, shape)


def _uncropped(out: Space, extra: Mapping[str, Any], shape: Sequence[int]) -> Space:
    before = np.asarray(extra["cropped"], dtype=np.float64)[0::2][: out.ndim]
    return _shifted(out, before, shape)


def _input_grid(record: Mapping[str, Any], out: Space) -> Optional[Space]:
    """The grid before an eagerly executed MONAI step, from its record and the grid after it; ``None`` if unknown."""
    name = record.get(TraceKeys.CLASS_NAME)
    extra = record.get(TraceKeys.EXTRA_INFO) or {}
    shape = record.get(TraceKeys.ORIG_SIZE)
    if shape is None:
        return None
    if name == "Orientation":
        return _grid(extra["original_affine"], shape, out)
    if name == "SpatialResample":
        return _grid(extra["src_affine"], shape, out)
    if name in ("SpatialCrop", "CenterSpatialCrop", "RandSpatialCrop", "CropForeground"):
        inner = out
        if isinstance(extra.get("pad_info"), Mapping):  # CropForeground pads after cropping
            pad = extra["pad_info"]
            inner = _unpadded(out, pad[TraceKeys.EXTRA_INFO], pad[TraceKeys.ORIG_SIZE])
        return _uncropped(inner, extra, shape)
    if name in ("SpatialPad", "BorderPad", "DivisiblePad", "Pad"):
        return _unpadded(out, extra, shape)
    if name == "Flip":
        return out.flip(list(extra["axes"])) if extra.get("axes") is not None else out.flip(list(range(out.ndim)))
    if name in ("Resize", "Zoom") and not extra.get("do_padcrop", False):
        align: Literal["edges", "centers"] = "centers" if extra.get("align_corners") is True else "edges"
        return out.resize([int(s) for s in list(shape)[: out.ndim]], align=align)
    return None


def _is_lazy_monai(record: Mapping[str, Any]) -> bool:
    extra = record.get(TraceKeys.EXTRA_INFO)
    ours = isinstance(extra, Mapping) and "source" in extra and "target" in extra
    return bool(record.get(TraceKeys.LAZY)) and LazyAttr.AFFINE in record and not ours


def recorded_grids(img: MetaTensor) -> Optional[list[Space]]:
    """The grids a sample went through, native first, current last, one per executed step boundary.

    Args:
        img: a ``(C, *spatial)`` MetaTensor whose ``applied_operations`` hold the forward chain.

    Returns:
        ``[native, after step 1, ..., current]`` (a lazily executed run of operations is one
        step), or ``None`` when a record is not understood.
    """
    current = Space.from_metatensor(img)
    grids = [current]
    records = list(img.applied_operations)
    try:
        while records:
            record = records.pop()
            extra = record.get(TraceKeys.EXTRA_INFO) or {}
            if isinstance(extra, Mapping) and "source" in extra and "target" in extra:  # ours
                fused = int(extra.get("fused", 0))
                del records[len(records) - fused :]  # MONAI's operations fused into this step
                source = extra.get("data_source", extra["source"])
                grids.append(Space.from_json(source))
            elif _is_lazy_monai(record):  # a lazily executed run: one resample, from the first one's input
                run = [record]
                while records and _is_lazy_monai(records[-1]):
                    run.append(records.pop())
                affine = grids[-1].to_monai_affine()
                for op in run:  # newest first: undo each index map
                    affine = affine @ np.linalg.inv(_as_4x4(_matrix(op[LazyAttr.AFFINE]), grids[-1].ndim))
                grids.append(_grid(_from_4x4(affine, grids[-1].ndim), run[-1][TraceKeys.ORIG_SIZE], grids[-1]))
            else:
                before = _input_grid(record, grids[-1])
                if before is None:
                    return None
                grids.append(before)
    except (KeyError, TypeError, ValueError, SpaceError):
        return None
    grids.reverse()
    return grids


def _as_4x4(matrix: np.ndarray, ndim: int) -> np.ndarray:
    if matrix.shape == (4, 4):
        return matrix
    out = np.eye(4)
    rows = [0, 1, 3] if ndim == 2 else list(range(4))
    out[np.ix_(rows, rows)] = matrix
    return out


def _from_4x4(matrix: np.ndarray, ndim: int) -> np.ndarray:
    return matrix if ndim == 3 else matrix[np.ix_([0, 1, 3], [0, 1, 3])]


def interpolating_steps(grids: Sequence[Space]) -> int:
    """How many steps between consecutive ``grids`` resample (are not a pure crop/pad/flip/permutation)."""
    return sum(not copies(a, b) for a, b in zip(grids[:-1], grids[1:]))


def _nearest_voxel(continuous: np.ndarray) -> np.ndarray:
    """The voxel whose box holds each continuous index, as the engine's ``nearest``: ``floor(x + 0.5)``
    of the snapped index (float)."""
    return np.floor(snap(continuous) + 0.5)


def compose_nearest(grids: Sequence[Space], chunk: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """For every voxel of ``grids[0]``, the voxel of ``grids[-1]`` reached by nearest steps through each grid.

    Each step takes the voxel whose box holds the current voxel's centre (``floor(x + 0.5)``
    of the snapped continuous index, as the engine's ``nearest``).

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
            points = _nearest_voxel(points @ matrix[:ndim, :ndim].T + matrix[:ndim, ndim]).astype(np.int64)
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
            index = _nearest_voxel(index * matrix[row, current] + matrix[row, ndim])
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

    Returns ``None`` (map back with one resample instead) when the chain resampled at most once,
    or when its records are not understood (see :func:`recorded_grids`).

    Returns:
        ``(C, *native.shape)`` tensor, ``data``'s dtype and device; ``fill`` where a step left its grid.
    """
    grids = recorded_grids(ref)
    if grids is None or interpolating_steps(grids) < 2:
        return None
    if not np.allclose(grids[0].affine, native.affine, atol=AFFINE_MATCH_ATOL) or grids[0].shape != native.shape:
        return None  # the records do not lead back to the native grid: trust the one-resample path
    chain = [native, *grids[1:]]
    separable = _separable_flat_index(chain)
    if separable is not None:
        flat, valid = separable
    else:
        index, valid = compose_nearest(chain)
        flat = np.ravel_multi_index(tuple(np.where(valid[:, None], index, 0).T), grids[-1].shape)
    gather = torch.as_tensor(flat, device=data.device)
    out = data.reshape(data.shape[0], -1)[:, gather]
    out[:, torch.as_tensor(~valid, device=data.device)] = torch.as_tensor(fill, dtype=data.dtype, device=data.device)
    return out.reshape(data.shape[0], *native.shape)
