"""Target Spaces in MONAI's terms: ``Spacing``'s, ``Resize``'s and ``Zoom``'s output grids, planned on a Space.

One place that reads MONAI's arguments (``pixdim`` with ``min_pixdim``/``max_pixdim``,
``diagonal``, ``scale_extent``; ``spatial_size`` with ``size_mode``; ``zoom`` with
``keep_size``) and returns the grid MONAI's transform would produce, so that every Space
transform (the general :class:`~.array.SpaceResample` and the MONAI counterparts in
:mod:`.counterparts`) plans the same way. Nothing here touches pixels.

The common cases are :class:`Space` planning ops (``respace(align="centers")`` is
``Spacing``'s grid, ``resize``/``zoom`` are ``Resize``'s and ``Zoom``'s); ``diagonal=True`` and
``scale_extent=True`` follow MONAI's ``compute_shape_offset`` rule, written out in
:func:`_monai_spacing_grid`.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any, Hashable, Optional, Sequence

import numpy as np
import torch
from monai.utils import convert_to_tensor

from ..errors import SpaceError, SpaceTypeError
from ..geometry.space import Align, Space

__all__ = [
    "MONAI_AFFINE_TOL",
    "pixdim_values",
    "monai_spacing",
    "spacing_target",
    "resize_shape",
    "zoom_target",
    "with_shape",
    "inner_box",
    "int_entries",
]

#: MONAI's ``AFFINE_TOL`` (``monai.data.utils``), world units: ``Spacing`` keeps an input spacing
#: within this of the requested one (and of ``[min_pixdim, max_pixdim]``) instead of resampling.
MONAI_AFFINE_TOL = 1e-3


def _where(key: Optional[Hashable]) -> str:
    return f" for key {key!r}" if key is not None else ""


def pixdim_values(pixdim: Any, key: Optional[Hashable] = None, name: str = "pixdim") -> np.ndarray:
    """``pixdim`` (or ``min_pixdim``/``max_pixdim``: ``name``) as a non-empty float64 vector, or our error naming it."""
    try:
        host = pixdim.detach().cpu().numpy() if isinstance(pixdim, torch.Tensor) else pixdim
        values = np.atleast_1d(np.asarray(host, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise SpaceTypeError(f"{name}{_where(key)} must be numbers, got {pixdim!r}") from err
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise SpaceError(f"{name}{_where(key)} must be finite numbers, got {pixdim!r}")
    return values


def _bounds(value: Any, key: Optional[Hashable], name: str) -> np.ndarray:
    """``min_pixdim``/``max_pixdim`` as MONAI reads them: a number or one per axis, ``None`` (the whole
    argument or an entry) is no bound on that axis (NaN here); empty when not given."""
    if value is None:
        return np.empty(0)
    entries = list(value) if isinstance(value, (list, tuple)) else value
    if isinstance(entries, list):
        entries = [np.nan if v is None else v for v in entries]
    try:
        host = entries.detach().cpu().numpy() if isinstance(entries, torch.Tensor) else entries
        values = np.atleast_1d(np.asarray(host, dtype=np.float64))
    except (TypeError, ValueError) as err:
        raise SpaceTypeError(f"{name}{_where(key)} must be numbers or None, got {value!r}") from err
    if values.ndim != 1 or values.size == 0 or np.any(np.isneginf(values)):
        raise SpaceError(f"{name}{_where(key)} must be numbers (None for no bound), got {value!r}")
    return values


def monai_spacing(
    pixdim: Any,
    source: Space,
    min_pixdim: Any = None,
    max_pixdim: Any = None,
    key: Optional[Hashable] = None,
) -> np.ndarray:
    """The spacing MONAI ``Spacing`` resamples ``source`` to, one value per axis.

    ``pixdim``: extra entries are ignored, missing ones repeat the last. Per axis, an input
    spacing within ``MONAI_AFFINE_TOL`` of ``[min(min_pixdim, p), max(max_pixdim, p)]`` is kept
    (``min_pixdim``/``max_pixdim`` default to ``p``, so an input within the tolerance of ``p``
    is not resampled); entries ``<= 0`` keep the input's spacing. As in MONAI, the two bounds
    apply axis by axis from the first (a single number bounds axis 0 only), and a ``None``
    entry leaves that axis unbounded on that side.
    """
    ndim = source.ndim
    values = pixdim_values(pixdim, key)[:ndim]
    out = np.concatenate([values, np.full(ndim - values.size, values[-1])])
    low = _bounds(min_pixdim, key, "min_pixdim")[:ndim]
    high = _bounds(max_pixdim, key, "max_pixdim")[:ndim]
    if np.any(low < 0) or any(h < lo for lo, h in zip(low, high)):  # NaN (None: no bound) compares False
        raise SpaceError(f"min_pixdim{_where(key)} must be >= 0 and <= max_pixdim, got {min_pixdim!r} and {max_pixdim!r}")
    for k, (current, lo, hi) in enumerate(zip_longest(source.spacing, low, high, fillvalue=np.nan)):
        target = out[k]
        lo = target if np.isnan(lo) else min(lo, target)
        hi = target if np.isnan(hi) else max(hi, target)
        if lo - MONAI_AFFINE_TOL <= current <= hi + MONAI_AFFINE_TOL:
            out[k] = current
    return np.where(out > 0, out, source.spacing)


def _in_volume(affine: np.ndarray, shape: Sequence[int], source: Space) -> Space:
    """A Space from an in-plane ``(D+1, D+1)`` affine, keeping ``source``'s slice position for 2-D."""
    if source.ndim == 2 and source.through_plane is not None:
        full = np.eye(4)
        full[np.ix_([0, 1, 3], [0, 1, 3])] = affine
        full[2, 2], full[2, 3] = source.through_plane
        return Space.from_affine(full, shape)
    return Space.from_affine(affine, shape)


def _monai_spacing_grid(source: Space, spacing: np.ndarray, diagonal: bool, scale_extent: bool) -> Space:
    """MONAI ``Spacing``'s output grid by its own rule (``zoom_affine`` + ``compute_shape_offset``).

    The new axes: the world axes (``diagonal``) or the source's (its direction, spacing
    replaced). The shape: the source's corner voxel centres (``scale_extent``: its corner edges)
    seen from the new axes, their spread rounded (plus one for centres). The origin: the source
    corner that is lowest along every new axis if there is one, else the centres aligned; with
    ``scale_extent`` MONAI then takes the magnitudes of the edge-aligned first centre with that
    origin's signs.
    """
    ndim = source.ndim
    affine = source.affine
    frame = np.eye(ndim) if diagonal else source.direction
    linear = frame * spacing
    shape = np.array(source.shape, dtype=np.float64)
    ends = [(-0.5, n - 0.5) if scale_extent else (0.0, n - 1.0) for n in shape]
    corners = np.array(np.meshgrid(*ends, indexing="ij")).reshape(ndim, -1)
    world = affine[:ndim, :ndim] @ corners + affine[:ndim, ndim : ndim + 1]
    seen = np.linalg.solve(linear, world)
    spread = np.ptp(seen, axis=1)
    new_shape = np.round(spread if scale_extent else spread + 1.0).astype(np.int64)
    lowest = [i for i in range(seen.shape[1]) if np.allclose((seen - seen[:, i : i + 1]).min(axis=1), 0.0)]
    if lowest:
        origin = world[:, lowest[0]]
    else:
        origin = affine[:ndim, :ndim] @ (shape / 2.0) + affine[:ndim, ndim] - linear @ (new_shape / 2.0)
    if scale_extent:
        first = 0.5 * (shape / new_shape - 1.0)
        origin = np.abs(affine[:ndim, :ndim] @ first + affine[:ndim, ndim]) * np.sign(origin)
    if np.any(new_shape < 1):
        raise SpaceError(f"pixdim {spacing.tolist()} leaves no voxel along some axis of shape {source.shape}")
    out = np.eye(ndim + 1)
    out[:ndim, :ndim], out[:ndim, ndim] = linear, origin
    return _in_volume(out, new_shape.tolist(), source)


def spacing_target(
    source: Space,
    pixdim: Any,
    diagonal: bool = False,
    scale_extent: bool = False,
    min_pixdim: Any = None,
    max_pixdim: Any = None,
    key: Optional[Hashable] = None,
) -> Space:
    """MONAI ``Spacing``'s output grid for ``source`` (corner voxel centres kept by default).

    ``diagonal=False, scale_extent=False`` is :meth:`Space.respace` with ``align="centers"``;
    the other two follow MONAI's rule (:func:`_monai_spacing_grid`).
    """
    spacing = monai_spacing(pixdim, source, min_pixdim, max_pixdim, key)
    if not diagonal and not scale_extent:
        return source.respace(spacing, align="centers")
    return _monai_spacing_grid(source, spacing, bool(diagonal), bool(scale_extent))


def int_entries(value: Any, ndim: int, name: str, key: Optional[Hashable]) -> np.ndarray:
    """``value`` as ``ndim`` integers (a scalar is broadcast), or our error naming the argument, key and value."""
    try:
        host = convert_to_tensor(value, track_meta=False).cpu().numpy() if isinstance(value, torch.Tensor) else value
        arr = np.asarray(host)
    except Exception as err:  # ragged lists and the like
        raise SpaceTypeError(f"{name}{_where(key)} must be {ndim} integers, got {value!r}") from err
    if arr.ndim == 0:
        arr = np.full(ndim, arr.item())
    if arr.shape != (ndim,) or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        hint = " (is the channel axis missing? images are channel-first (C, *spatial))" if arr.shape == (ndim + 1,) else ""
        raise SpaceError(f"{name}{_where(key)} must have {ndim} entries (one per spatial axis of a {ndim}-D image), got {value!r}{hint}")
    if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
        raise SpaceError(f"{name}{_where(key)} must be integers, got {value!r}")
    return arr.astype(np.int64)


def resize_shape(source: Space, spatial_size: Any, size_mode: str = "all", key: Optional[Hashable] = None) -> list[int]:
    """MONAI ``Resize``'s output shape: ``spatial_size`` per axis, entries ``<= 0`` keep the axis
    (MONAI's ``fall_back_tuple``); ``size_mode="longest"``: one int for the longest axis, the
    others ``round(n * scale)``."""
    if size_mode == "longest":
        if not isinstance(spatial_size, (int, np.integer)) or isinstance(spatial_size, bool) or int(spatial_size) < 1:
            raise SpaceError(f"spatial_size{_where(key)} must be one positive int with size_mode='longest', got {spatial_size!r}")
        scale = int(spatial_size) / max(source.shape)
        return [max(1, int(round(n * scale))) for n in source.shape]
    size = int_entries(spatial_size, source.ndim, "spatial_size", key)
    return [n if int(s) <= 0 else int(s) for s, n in zip(size, source.shape)]


def with_shape(target: Space, shape: Sequence[int]) -> Space:
    """``target``'s affine with another ``shape`` (MONAI ``Spacingd(ensure_same_shape=True)``'s shared shape)."""
    return target.crop(np.zeros(target.ndim, dtype=np.int64), np.asarray(shape, dtype=np.int64))


def zoom_target(source: Space, zoom: Any, keep_size: bool, align: Align) -> tuple[Space, np.ndarray]:
    """MONAI ``Zoom``'s output grid and where it sits in the zoomed grid.

    Returns ``(target, start)``: the zoomed grid (``floor(n * zoom)`` voxels), or with
    ``keep_size`` the window of the input's shape MONAI's ``ResizeWithPadOrCrop`` takes from
    it (centre crop: ``start = z // 2 - n // 2``; symmetric pad: ``start = -((n - z) // 2)``),
    and ``start``, the window's first voxel in zoomed-grid indices (zeros without ``keep_size``).
    """
    zoomed = source.zoom(zoom, align=align)
    z, n = np.array(zoomed.shape), np.array(source.shape)
    if not keep_size:
        return zoomed, np.zeros(source.ndim, dtype=np.int64)
    start = np.where(z >= n, z // 2 - n // 2, -((n - z) // 2)).astype(np.int64)
    return zoomed.crop(start, start + n), start


def inner_box(start: Any, size: Sequence[int], extent: Sequence[int]) -> tuple[slice, ...]:
    """The part of a box (``start``, ``size`` in the indices of a grid of shape ``extent``) that lies
    in that grid, in the box's own indices: what a crop copies, the rest is padding."""
    return tuple(
        slice(int(np.clip(-s, 0, m)), int(np.clip(e - s, 0, m))) for s, m, e in zip(np.asarray(start, dtype=np.int64), size, extent)
    )
