"""Dictionary Space transforms in MONAI's dialect: ``SpaceCropd``, ``SpaceCropForegroundd``,
``SpaceResampled``, ``SpaceInvertd``.

Each takes the arguments of the MONAI transform it stands in for (``SpatialCropd``,
``CropForegroundd``, ``Invertd``), in MONAI's order, with per-key ``mode``/``padding_mode`` as
MONAI; our additions are keyword-only. ``SpaceResampled`` is the general form (every argument by
name); ``Spacingd``/``Resized``/``Zoomd``'s counterparts are in :mod:`.counterparts`. Options are
parsed once per key at construction and zipped with the keys through ``key_iterator``;
the child array transform is built once and never modified (it plans, and owns the records
its ``inverse`` pops).

Landmarks travel with the images through ``point_keys``: arrays of ``(N, D)`` or
``(C, N, D)`` coordinates, in voxel indices of the first image key
(``point_coords="index"``) or in world units (``"world"``, unchanged by any transform).
Each transform writes ``data[f"{point_key}_in_grid"]``, a boolean array telling which
points lie inside the new grid; points outside are kept, never dropped.

Boxes travel the same way through ``box_keys`` (keyword-only, with ``box_mode``, ``box_coords``,
``box_format``): ``(N, 2D)`` boxes in MONAI's ``box_mode`` (default its standard mode,
``xyzxyz``/``xyxy``) whose voxel ``i`` spans ``[i, i + 1)``, on the landmarks' grid, mapped as
regions (every corner, the half voxel right; :mod:`monai_spacetx.geometry.boxes`), or
``(N, 2^D, D)`` corners. ``box_format="corners"`` writes the oriented corners instead of the
axis-aligned bounding box; ``box_coords="world"``: world boxes (RAS, mm), unchanged by any
transform. ``data[f"{box_key}_in_grid"]`` flags the boxes wholly inside the new grid; boxes
outside are kept, never dropped or clipped (``docs/boxes.md``).
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.meta_tensor import MetaTensor
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.transform import LazyTransform, MapTransform
from monai.transforms.utils import is_positive
from monai.utils import ensure_tuple

from ..engine.options import WarpOptions
from ..errors import EmptyBoxError, MetadataError, ModeError, PointsError, ShapeMismatchError, SpaceError, SpaceTypeError
from ..geometry.points import apply_affine, map_points
from ..geometry.space import Space
from . import functional as F
from .array import (
    MONAI_ALLOW_SMALLER,
    SpaceCrop,
    SpaceCropForeground,
    SpaceResample,
    as_torch_dtype,
    check_argmax,
    check_inverted_options,
    default_mode,
    finish_inverted,
    refuse_positional,
    empty_crop,
    flat_box,
    lift_1d,
    lower_1d,
    map_back_empty,
    roi_box,
)
from .boxes import BoxOptions, move_boxes
from .functional import execute_pending
from .lazy import landmark_grid, pending_space, runs_lazily
from .meta import native_space
from .padding import PadMode, crop_padding, parse_pad_mode, resample_padded

__all__ = ["SpaceCropd", "SpaceCropForegroundd", "SpaceResampled", "SpaceInvertd", "IN_GRID_SUFFIX"]

#: ``data[point_key + IN_GRID_SUFFIX]`` flags the landmarks that lie inside the current grid.
IN_GRID_SUFFIX = "_in_grid"
#: ``SpaceInvertd(..., argmax=True, keep_prob=True)`` writes the winning probability to ``data[key + PROB_SUFFIX]``.
PROB_SUFFIX = "_prob"



def _require(data: Mapping[Hashable, Any], key: Hashable, what: str) -> Any:
    if key not in data:
        raise MetadataError(f"{what} {key!r} is not in the data (keys: {list(data)})")
    return data[key]


class _NamedKeys(MapTransform):
    """``MapTransform`` whose missing key is MONAI's ``KeyError`` (the key, the transform) plus the keys present."""

    def key_iterator(self, data: Mapping[Hashable, Any], *extra_iterables: Any) -> Any:
        if not self.allow_missing_keys:
            missing = [key for key in self.keys if key not in data]
            if missing:
                raise KeyError(
                    f"Key `{missing[0]}` of transform `{type(self).__name__}` was missing in the data and "
                    f"allow_missing_keys==False (keys present: {sorted(map(str, data))})"
                )
        return super().key_iterator(data, *extra_iterables)


class _PointsMixin:
    """Per-key arguments, and moving landmark keys from one Space to another (flagging those that leave the grid)."""

    keys: tuple[Hashable, ...]
    point_keys: tuple[Hashable, ...]
    point_coords: str
    box_keys: tuple[Hashable, ...]
    box_options: BoxOptions
    allow_missing_keys: bool

    def _as_dict(self, data: Any) -> dict[Hashable, Any]:
        """The transform's input as a new dict (MONAI's data dictionary), or our error naming what came instead."""
        if not isinstance(data, Mapping):
            raise SpaceTypeError(
                f"{type(self).__name__} takes a dict of images (MONAI's data dictionary), got {type(data).__name__} {data!r:.60}"
            )
        return dict(data)

    def _per_key(self, value: Any, name: str) -> tuple[Any, ...]:
        """One entry per key: a list/tuple has one per key (or one for all, as MONAI's ``ensure_tuple_rep``);
        anything else applies to every key."""
        if isinstance(value, (list, tuple)):
            if len(value) == 1:
                return tuple(value) * len(self.keys)
            if len(value) != len(self.keys):
                raise ModeError(f"{name} has {len(value)} entries for {len(self.keys)} keys {list(self.keys)}: {value!r}")
            return tuple(value)
        return (value,) * len(self.keys)

    def _per_key_options(self, mode: Any, padding_mode: Any, fill: Any, **shared: Any) -> tuple[WarpOptions, ...]:
        """One parsed :class:`WarpOptions` per key (errors name the key); ``shared`` options apply to every key."""
        triples = zip(self._per_key(mode, "mode"), self._per_key(padding_mode, "padding_mode"), self._per_key(fill, "fill"))
        return tuple(WarpOptions.parse(m, p, f, key=k, **shared) for (m, p, f), k in zip(triples, self.keys))

    def _init_points(
        self,
        point_keys: KeysCollection | None,
        point_coords: str,
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
        box_coords_in: Optional[str] = None,
    ) -> None:
        """Landmark and box keys (``box_coords_in``: the boxes' input coordinates when they differ
        from ``box_coords``, the output's: ``SpaceInvertd`` takes index boxes and may write world ones)."""
        if point_coords not in ("index", "world"):
            raise ModeError(f"point_coords must be 'index' or 'world', got {point_coords!r}")
        self.point_keys = ensure_tuple(point_keys) if point_keys is not None else ()
        self.point_coords = point_coords
        self.box_keys = ensure_tuple(box_keys) if box_keys is not None else ()
        self.box_options = BoxOptions.parse(box_mode, box_coords, box_format, box_coords_in)

    def _no_grid(self, data: Mapping[Hashable, Any]) -> None:
        """No image key gave a grid to move the boxes with: refuse boxes that would stay where they were."""
        present = [k for k in self.box_keys if k in data]
        if present:
            raise MetadataError(
                f"box key {present[0]!r} ({data[present[0]]!r:.80}) needs an image key to move with, and none of "
                f"{list(self.keys)} is in the data (keys: {list(data)})"
            )

    def _move_points(self, data: dict[Hashable, Any], source: Space, target: Space) -> None:
        for key in self.point_keys:
            if key not in data:
                if self.allow_missing_keys:
                    continue
                raise MetadataError(f"point key {key!r} is not in the data (keys: {list(data)})")
            points = data[key]
            points = points.as_tensor() if isinstance(points, MetaTensor) else points
            try:
                moved = map_points(points, source, target) if self.point_coords == "index" else _copy(points, source)
                data[f"{key}{IN_GRID_SUFFIX}"] = target.contains(moved, coords="index" if self.point_coords == "index" else "world")
            except PointsError as err:
                raise PointsError(f"point key {key!r}: {err}") from err
            data[key] = moved
        for key in self.box_keys:
            if key not in data:
                if self.allow_missing_keys:
                    continue
                raise MetadataError(f"box key {key!r} is not in the data (keys: {list(data)})")
            data[key], data[f"{key}{IN_GRID_SUFFIX}"] = move_boxes(data[key], source, target, self.box_options, key)


def _copy(points: Any, space: Space) -> Any:
    """A validated float64 copy of ``points`` (same container), as :func:`map_points` returns them."""
    return apply_affine(np.eye(space.ndim + 1), points)


def _space_of(data: Mapping[Hashable, Any], key: Hashable, what: str) -> Space:
    return pending_space(lift_1d(_require(data, key, what), key)[0])


def _is_1d(value: Any) -> bool:
    """A 1-D image ``(C, W)``: planned on its :func:`~.array.lift_1d` grid."""
    return isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 2


class _Cropd(_NamedKeys, InvertibleTransform, LazyTransform, _PointsMixin):
    """Shared by the crops: one index box found on a reference key, applied to every key.

    ``lazy=True`` (MONAI's flag, or ``Compose(lazy=True)``): MONAI's operations pending on a
    key reach the crop, which executes them with the crop in one resample (:mod:`.lazy`); the
    box is in voxels of the pending grid, landmarks move from where they are
    (:func:`~.lazy.landmark_grid`) to the cropped grid by the same composed map.
    """

    cropper: SpaceCrop
    options: tuple[WarpOptions, ...]
    pads: tuple[PadMode, ...]

    def _init_pads(self, modes: Any, name: str, pad_kwargs: Optional[Mapping[str, Any]] = None) -> None:
        """Per key, the padding where the box leaves the image (``name``: the argument, for errors):
        our engine paddings, or any numpy/torch pad mode MONAI takes (:mod:`.padding`)."""
        self.pads = tuple(parse_pad_mode(m, pad_kwargs, name=name, key=k) for m, k in zip(self._per_key(modes, name), self.keys))
        self.options = tuple(p.options() for p in self.pads)

    def _crop_all(
        self, d: dict[Hashable, Any], ref_space: Space, start: np.ndarray, end: np.ndarray, lazy: bool, points_from: Optional[Space] = None
    ) -> None:
        """Crop every key to ``[start, end)`` of its pending grid; landmarks move from ``points_from``
        (default: where the first key's landmarks lie, :func:`~.lazy.landmark_grid`) to the cropped grid."""
        info = self.cropper.get_transform_info()
        empty = bool(np.any(end <= start))  # MONAI's empty crop: an empty image (no Space has an empty axis)
        if empty and (self.point_keys or getattr(self, "box_keys", ())):
            raise EmptyBoxError(f"the crop box is empty (start={start.tolist()}, end={end.tolist()}): no grid to move landmarks or boxes to")
        for key, options, pad in self.key_iterator(d, self.options, self.pads):
            image, lifted = lift_1d(d[key], key)
            points_from = landmark_grid(image) if points_from is None else points_from
            source = pending_space(image)
            if empty:
                d[key] = lower_1d(empty_crop(image, source, start, end, info, lazy, key), lifted)
                continue
            target = self.cropper.plan(source, (start, end), key)
            d[key] = lower_1d(resample_padded(image, target, options, pad, start, source.shape, info, key=key, lazy=lazy), lifted)
        if not empty:
            self._move_points(d, ref_space if points_from is None else points_from, ref_space.crop(start, end))

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        for key in self.key_iterator(d):
            d[key] = self.cropper.inverse(d[key])
        return d


class SpaceCropd(_Cropd):
    """Crop every key to one index box, padding where it leaves the image. Never interpolates.

    MONAI ``SpatialCropd``'s arguments, in its order; ours keyword-only. The box comes from
    ``roi_slices``, ``roi_center`` + ``roi_size`` or ``roi_start`` + ``roi_end`` (see
    :func:`~.array.roi_box`: read as MONAI reads them; unlike MONAI a centre or start/end box is
    not clipped to the image: outside, it pads; ``roi_slices`` clip, an empty box gives an empty image),
    or from ``center_key`` + ``world_size``: a box of ``world_size`` world units (mm) around
    the landmark ``center_key[center_point]`` (``point_coords`` units), snapped to the grid.
    The box is computed on the first key and applied, in voxels, to every key. Landmarks in
    ``point_keys`` move to the cropped grid.

    Args:
        keys: image keys, each ``(C, *spatial)``.
        padding_mode, fill: per key, for voxels outside the image (``"zeros"`` with ``fill``,
            ``"border"`` or ``"reflection"``).
    """

    def __init__(
        self,
        keys: KeysCollection,
        roi_center: Any = None,
        roi_size: Any = None,
        roi_start: Any = None,
        roi_end: Any = None,
        roi_slices: Optional[Sequence[slice]] = None,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
        center_key: Optional[str] = None,
        center_point: int = 0,
        world_size: Sequence[float] | float | None = None,
        padding_mode: Any = "zeros",
        fill: Any = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy=lazy)
        self._init_points(point_keys, point_coords, box_keys, box_mode, box_coords, box_format)
        if (center_key is None) != (world_size is None):
            raise SpaceError(f"center_key and world_size go together, got center_key={center_key!r}, world_size={world_size!r}")
        self.roi = (roi_center, roi_size, roi_start, roi_end, roi_slices)
        if center_key is None and all(r is None for r in self.roi):
            raise SpaceError("SpaceCropd needs a box: roi_center/roi_size, roi_start/roi_end, roi_slices or center_key/world_size")
        if not isinstance(center_point, (int, np.integer)) or isinstance(center_point, bool):
            raise SpaceTypeError(f"center_point must be the index of a landmark (an int), got {center_point!r}")
        self.center_key, self.center_point, self.world_size = center_key, center_point, world_size
        modes, fills = self._per_key(padding_mode, "padding_mode"), self._per_key(fill, "fill")
        self.pads = tuple(crop_padding(m, f, key=k) for m, f, k in zip(modes, fills, self.keys))
        self.options = tuple(p.options() for p in self.pads)
        self.cropper = SpaceCrop(*self.roi)

    def _box(self, data: Mapping[Hashable, Any], ref: Space, ref_key: Hashable) -> tuple[np.ndarray, np.ndarray]:
        if self.center_key is not None:
            points = _require(data, self.center_key, "center_key")
            points = points.as_tensor() if isinstance(points, MetaTensor) else points
            flat = np.asarray(_copy(points, ref)).reshape(-1, ref.ndim)
            if not 0 <= self.center_point < len(flat):
                raise PointsError(f"center_point {self.center_point} is out of range for {len(flat)} landmarks in {self.center_key!r}")
            center = flat[self.center_point]
            center = ref.index_to_world(center) if self.point_coords == "index" else center
            box = ref.crop_world(center, self.world_size)  # type: ignore[arg-type]
            start = np.round(np.asarray(map_points(np.zeros(ref.ndim), box, ref))).astype(np.int64)
            return start, start + np.array(box.shape)
        lifted = _is_1d(data[ref_key])
        found = roi_box(ref.shape[:1] if lifted else ref.shape, *self.roi, key=ref_key)
        assert found is not None  # __init__ demands a box
        return flat_box(found, lifted)

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        present = list(self.key_iterator(d))
        if not present:
            self._no_grid(d)
            return d
        ref_space = _space_of(d, present[0], "key")
        start, end = self._box(d, ref_space, present[0])
        self._crop_all(d, ref_space, start, end, runs_lazily(self, lazy))
        return d


class SpaceCropForegroundd(_Cropd):
    """Crop every key to the foreground box of ``source_key``, as MONAI ``CropForegroundd``.

    Same arguments in the same order: ``select_fn`` (picklable default MONAI
    ``is_positive``), ``channel_indices``, ``margin``, ``allow_smaller``, ``k_divisible``,
    ``mode`` (numpy pad mode for the part of the box outside the image: ``"constant"``
    with ``constant_values`` in ``pad_kwargs``, ``"edge"``, ``"symmetric"``; or ours
    ``"zeros"``/``"border"``/``"reflection"``), ``start_coord_key``/``end_coord_key``
    (where the box is written into the data, ``None`` to skip). The box is computed exactly
    as MONAI's (see :func:`~.array.foreground_box`); no foreground gives an empty image, as MONAI's.
    Landmarks in ``point_keys`` (ours, keyword-only) move to the cropped grid.
    """

    cropper: SpaceCropForeground

    def __init__(
        self,
        keys: KeysCollection,
        source_key: str,
        select_fn: Callable[[Any], Any] = is_positive,
        channel_indices: Any = None,
        margin: Sequence[int] | int = 0,
        allow_smaller: bool = MONAI_ALLOW_SMALLER,
        k_divisible: Sequence[int] | int = 1,
        mode: Any = "constant",
        start_coord_key: Optional[str] = "foreground_start_coord",
        end_coord_key: Optional[str] = "foreground_end_coord",
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
        **pad_kwargs: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy=lazy)
        self._init_points(point_keys, point_coords, box_keys, box_mode, box_coords, box_format)
        self._init_pads(mode, "mode", pad_kwargs)
        self.source_key = source_key
        self.start_coord_key, self.end_coord_key = start_coord_key, end_coord_key
        self.cropper = SpaceCropForeground(select_fn, channel_indices, margin, allow_smaller, k_divisible=k_divisible)

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        source, lifted = lift_1d(_require(d, self.source_key, "source_key"), self.source_key)
        ref_space = pending_space(source)
        present = list(self.key_iterator(d))
        points_from = landmark_grid(lift_1d(d[present[0]], present[0])[0]) if present else None
        # the foreground is read on the pending grid with pixels from our engine, in each key's own mode
        # (requires_current_data would have MONAI's resampler execute them first): a step that reads the
        # data ends the segment, so every key goes on from its executed pixels and the crop is a copy
        for key in dict.fromkeys([self.source_key, *present]):
            image, lifted_key = lift_1d(d[key], key)
            d[key] = lower_1d(execute_pending(image, key=key, end_segment=True), lifted_key)
        start, end = self.cropper.compute_bounding_box(d[self.source_key])
        if self.start_coord_key is not None:
            d[self.start_coord_key] = start
        if self.end_coord_key is not None:
            d[self.end_coord_key] = end
        if np.any(np.asarray(end) <= np.asarray(start)) and runs_lazily(self, lazy):  # no foreground, as MONAI's lazy crop
            raise EmptyBoxError(f"{self.source_key!r} has no foreground: the crop is empty, which is not executed lazily (MONAI raises too)")
        # not lazy: the crop's pixels are the segment's data, a following step reads them (see above)
        self._crop_all(d, ref_space, *flat_box((start, end), lifted), False, points_from)
        return d


class SpaceResampled(_NamedKeys, InvertibleTransform, LazyTransform, _PointsMixin):
    """Resample every key to a ``pixdim``, a ``spatial_size`` or a ``zoom``, or onto ``ref_key``'s Space.

    The general form: everything after ``keys`` is keyword-only, and a positional value is
    refused (it could be ``Spacingd``'s ``pixdim``, ``Resized``'s ``spatial_size`` or
    ``Zoomd``'s ``zoom``; see :func:`~.array.refuse_positional`). The MONAI counterparts with
    MONAI's exact signatures are :class:`~.counterparts.SpaceSpacingd`,
    :class:`~.counterparts.SpaceResized` and :class:`~.counterparts.SpaceZoomd`. See
    :class:`~.array.SpaceResample` for each argument and ``docs/monai_dialect.md`` for the
    ``align_corners`` <-> ``align`` mapping.

    Args:
        keys: image keys, each ``(C, *spatial)``; each is planned from its own Space.
        mode, padding_mode, fill, dtype: per key (a list/tuple gives one per key).
        anti_aliasing, anti_aliasing_sigma, thick_axis_mode, anisotropy_threshold: for every
            key, see :class:`~.array.SpaceResample`.
        ref_key: a MetaTensor key whose Space every key is resampled onto (instead of
            ``pixdim``/``spatial_size``/``zoom``); a plain tensor or array there has no
            geometry and raises :class:`MetadataError`.
        point_keys: landmarks (indices of the first key) moved along.
        lazy: MONAI's flag. ``True`` (or ``Compose(lazy=True)``): MONAI's operations pending
            on a key reach this transform, which plans from their grid and executes them with
            its own step in one resample by our engine, the key's mode fused
            (:func:`~.lazy.fuse_options`); landmarks move by the same composed map.
    """

    def __init__(
        self,
        keys: KeysCollection,
        *positional: Any,
        pixdim: Sequence[float] | float | None = None,
        diagonal: bool = False,
        mode: Any = "bilinear",
        padding_mode: Any = "border",
        align_corners: Optional[bool] | Sequence[Optional[bool]] = None,
        dtype: Any = None,
        spatial_size: Sequence[int] | int | None = None,
        size_mode: str = "all",
        zoom: Sequence[float] | float | None = None,
        keep_size: bool = True,
        anti_aliasing: bool = False,
        anti_aliasing_sigma: Any = None,
        thick_axis_mode: Optional[str] = None,
        anisotropy_threshold: float = 3.0,
        ref_key: Optional[str] = None,
        align: Optional[str] = None,
        fill: Any = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
        allow_missing_keys: bool = False,
        lazy: bool = False,
    ) -> None:
        refuse_positional(type(self).__name__, positional)
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy=lazy)
        self._init_points(point_keys, point_coords, box_keys, box_mode, box_coords, box_format)
        given = {"pixdim": pixdim, "spatial_size": spatial_size, "zoom": zoom, "ref_key": ref_key}
        if sum(v is not None for v in given.values()) != 1:
            raise SpaceError(f"give exactly one of pixdim, spatial_size, zoom, ref_key; got {given!r}")
        corners = set(self._per_key(align_corners, "align_corners"))
        if len(corners) != 1:
            raise ModeError(f"align_corners must be the same for every key (it decides the grid), got {align_corners!r}")
        self.ref_key = ref_key
        self.options = self._per_key_options(
            mode,
            padding_mode,
            fill,
            anti_aliasing=anti_aliasing,
            anti_aliasing_sigma=anti_aliasing_sigma,
            thick_axis_mode=thick_axis_mode,
            anisotropy_threshold=anisotropy_threshold,
        )
        self.dtypes = tuple(as_torch_dtype(t, k) for t, k in zip(self._per_key(dtype, "dtype"), self.keys))
        self.resampler = SpaceResample(
            pixdim=pixdim,
            diagonal=diagonal,
            align_corners=corners.pop(),
            spatial_size=spatial_size,
            size_mode=size_mode,
            zoom=zoom,
            keep_size=keep_size,
            align=align,
        )

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        target_ref = None
        if self.ref_key is not None:
            ref = _require(d, self.ref_key, "ref_key")
            if not isinstance(ref, MetaTensor):  # a plain tensor/array has only MONAI's identity affine
                F.as_image(ref, self.ref_key, name="ref_key")  # None, paths, wrong dtypes or dims: that error first
                raise MetadataError(
                    f"ref_key {self.ref_key!r} holds a plain {type(ref).__name__} without geometry: the grid to "
                    "resample onto is read from a MetaTensor's affine and shape (keep MetaTensors: set_track_meta(True))"
                )
            target_ref = _space_of(d, self.ref_key, "ref_key")
        info = self.resampler.get_transform_info()
        moved = None
        for key, options, dtype in self.key_iterator(d, self.options, self.dtypes):
            image = F.as_image(d[key], key)
            source = pending_space(image)
            target = target_ref if target_ref is not None else self.resampler.plan(source, key)
            d[key] = F.resample(image, target, options, info, key=key, dtype=dtype, lazy=runs_lazily(self, lazy))
            if moved is None:
                moved = (landmark_grid(image), target)
        if moved is not None:
            self._move_points(d, *moved)
        else:
            self._no_grid(d)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resampler.inverse(d[key])
        return d


class SpaceInvertd(_NamedKeys, _PointsMixin):
    """Map predictions (and landmarks) back to the native Space in **one** resample each.

    MONAI ``Invertd``'s full signature, in its order, so that swapping ``_target_`` in a
    bundle config is the whole change; ours (``mode``, ``padding_mode``, ``fill``,
    ``point_keys``, ``point_coords``) are keyword-only. The working geometry of ``key`` is
    the affine of ``orig_keys`` (the transformed input image, current also after MONAI's
    own spatial transforms; default: the key itself, as ``Invertd``); the native geometry is
    the one recorded by the Space transforms, else what MONAI's loader recorded, so MONAI's
    ``Orientationd``, ``Spacingd``, ``Resized``, ``Zoomd``, ``SpatialPadd`` or
    ``CropForegroundd`` in the chain are undone too, through the affine, in one resample.

    Args:
        keys: prediction keys, ``(C, *working)`` tensors, MetaTensors or arrays.
        transform: MONAI's preprocessing ``Compose``; accepted, not needed (the geometry
            is read from the affine and the recorded native Space).
        orig_keys: per key, the key to take the geometry (and metadata) from.
        meta_keys, meta_key_postfix: where a legacy metadata dict of ``key`` lives
            (``f"{key}_{meta_key_postfix}"``); if present it is replaced by the output's meta.
        orig_meta_keys: where a legacy metadata dict of ``orig_key`` lives; used when
            ``orig_key`` holds a plain tensor.
        nearest_interp: per key, map back with ``"nearest"`` (default) or ``"linear"``
            when ``mode`` is not given.
        to_tensor: accepted (the output is always a tensor).
        device, post_func: per key, as ``Invertd``.
        mode: per key, ours: ``"nearest"``, ``"label"`` (hard label maps from a coarser
            grid), ``"linear"`` (probabilities/logits), ``"cubic"``, or MONAI's names.
        padding_mode, fill: per key, for native voxels outside the working grid.
        point_keys: landmarks in the working grid (``point_coords`` units) mapped to the
            native grid; ``{point_key}_in_grid`` flags those inside it.
        box_keys: predicted boxes in the working grid (MONAI's ``box_mode``, voxel ``i``
            spanning ``[i, i + 1)``) mapped to the native grid as regions, in one step;
            ``{box_key}_in_grid`` flags those wholly inside it (none is dropped or clipped).
        box_mode: MONAI's box mode of the boxes in and out (default: standard, ``xyzxyz``).
        box_coords: the coordinates the boxes are **written** in: ``"index"`` (native box
            coordinates) or ``"world"`` (world units in the affine's frame, RAS for MONAI's
            readers, the half voxel right); they always come in as working-grid boxes.
        box_format: ``"boxes"`` (the axis-aligned bounding box of the mapped box, MONAI's choice)
            or ``"corners"`` (``(N, 2^D, D)``: the mapped box itself, oriented).
        argmax: per key, ours (MONAI ``AsDiscreted``'s name): the key holds ``K`` channels of
            probabilities or logits; they are interpolated (``"linear"`` unless ``mode`` says
            ``"cubic"``; ``nearest_interp`` is ignored for these keys) and the output is their
            argmax, the native label map ``(1, *native)`` in the smallest integer dtype that holds
            ``K``, computed in tiles without ever holding ``K x native`` values (replaces
            ``Invertd`` + ``AsDiscreted(argmax=True)``; do not follow it with
            ``AsDiscreted(argmax=True)``, which would make every voxel class 0). ``fill`` is the
            label outside the working grid; ties go to the smaller class.
        keep_prob: per key, with ``argmax``: also write ``{key}_prob``, the winning channel's
            interpolated value ``(1, *native)`` float32 (0 outside the working grid).

    Output: ``(C, *native)`` MetaTensors with the native affine and the original's metadata.

    Raises:
        MetadataError: the reference is missing, is a plain tensor without a metadata dict,
            or carries no native geometry.
    """

    def __init__(
        self,
        keys: KeysCollection,
        transform: Any = None,
        orig_keys: KeysCollection | None = None,
        meta_keys: KeysCollection | None = None,
        orig_meta_keys: KeysCollection | None = None,
        meta_key_postfix: str = "meta_dict",
        nearest_interp: bool | Sequence[bool] = True,
        to_tensor: bool | Sequence[bool] = True,
        device: Any = None,
        post_func: Callable[[Any], Any] | Sequence[Callable[[Any], Any]] | None = None,
        allow_missing_keys: bool = False,
        *,
        mode: Any = None,
        padding_mode: Any = "zeros",
        fill: Any = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
        argmax: bool | Sequence[bool] = False,
        keep_prob: bool | Sequence[bool] = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self._init_points(point_keys, point_coords, box_keys, box_mode, box_coords, box_format, box_coords_in="index")
        self.transform = transform
        self.orig_keys = self._per_key(ensure_tuple(orig_keys) if orig_keys is not None else self.keys, "orig_keys")
        self.meta_keys = self._per_key(ensure_tuple(meta_keys) if meta_keys is not None else None, "meta_keys")
        self.orig_meta_keys = self._per_key(ensure_tuple(orig_meta_keys) if orig_meta_keys is not None else None, "orig_meta_keys")
        self.meta_key_postfix = meta_key_postfix
        self.argmax, self.keep_prob = self._per_key(argmax, "argmax"), self._per_key(keep_prob, "keep_prob")
        given = self._per_key(mode, "mode")
        modes = tuple(default_mode(m, n, a) for m, n, a in zip(given, self._per_key(nearest_interp, "nearest_interp"), self.argmax))
        self.options = self._per_key_options(modes, padding_mode, fill)
        for options, m, a, k, key in zip(self.options, given, self.argmax, self.keep_prob, self.keys):
            check_argmax(options, m, a, k, key)
        self.to_tensor = self._per_key(to_tensor, "to_tensor")
        self.device = self._per_key(device, "device")
        self.post_func = self._per_key(post_func, "post_func")
        check_inverted_options(self.device, self.post_func)

    def _reference(self, d: Mapping[Hashable, Any], key: Hashable, orig_key: Hashable, orig_meta_key: Any) -> MetaTensor:
        """The MetaTensor whose geometry ``key`` is mapped back with."""
        ref = _require(d, orig_key, "orig_key")
        if isinstance(ref, MetaTensor):
            return F.as_image(ref, orig_key)
        meta_key = orig_meta_key or f"{orig_key}_{self.meta_key_postfix}"
        meta = d.get(meta_key)
        if not isinstance(meta, Mapping) or meta.get("affine") is None:
            raise MetadataError(
                f"orig_keys: key {key!r} takes its geometry from {orig_key!r}, which holds a plain "
                f"{type(ref).__name__} without geometry (no MetaTensor, no {meta_key!r} metadata dict); keep "
                "MetaTensors (monai.data.set_track_meta(True)) or pass orig_keys= naming the transformed image"
            )
        return MetaTensor(F.as_image(ref, orig_key).as_tensor(), affine=meta["affine"], meta=dict(meta))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        spaces = None
        for key, orig_key, meta_key, orig_meta_key, options, device, post_func, argmax, keep_prob in self.key_iterator(
            d, self.orig_keys, self.meta_keys, self.orig_meta_keys, self.options, self.device, self.post_func, self.argmax, self.keep_prob
        ):
            ref = self._reference(d, key, orig_key, orig_meta_key)
            try:
                if 0 in tuple(ref.shape[1:]):  # an empty crop's grid: nothing maps back (MONAI pads with zeros)
                    out = map_back_empty(d[key], ref, options, argmax, keep_prob)
                    d[key] = finish_inverted(out[0] if keep_prob else out, device, post_func)
                    if keep_prob:
                        d[f"{key}{PROB_SUFFIX}"] = out[1]
                    continue
                current, native = Space.from_metatensor(ref), native_space(ref)
            except (MetadataError, SpaceTypeError) as err:
                raise MetadataError(f"key {orig_key!r}: {err}") from err
            try:
                out = F.map_back(d[key], ref, current, native, options, argmax=argmax, keep_prob=keep_prob)
            except (ShapeMismatchError, SpaceTypeError) as err:
                raise type(err)(f"key {key!r} (geometry from {orig_key!r}): {err}") from err
            if keep_prob:
                out, d[f"{key}{PROB_SUFFIX}"] = out[0], finish_inverted(out[1], device, None)
            d[key] = finish_inverted(out, device, post_func)
            meta_dict_key = meta_key or f"{key}_{self.meta_key_postfix}"
            if meta_dict_key in d and isinstance(out, MetaTensor):
                d[meta_dict_key] = dict(out.meta)
            if spaces is None:
                spaces = (current, native)
        if spaces is None and (self.point_keys or self.box_keys) and self.orig_keys[0] in d:
            ref = self._reference(d, self.keys[0], self.orig_keys[0], self.orig_meta_keys[0])
            spaces = (Space.from_metatensor(ref), native_space(ref))
        if spaces is not None:
            self._move_points(d, *spaces)
        else:
            self._no_grid(d)
        return d
