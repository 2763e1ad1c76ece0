"""Dictionary Space transforms: ``SpaceCropd``, ``SpaceResampled``, ``SpaceInvertd``.

MONAI conventions: ``keys``, per-key ``mode`` and ``padding``, ``allow_missing_keys``.
Landmarks travel with the images through ``point_keys``: arrays of ``(N, D)`` or
``(C, N, D)`` coordinates, in voxel indices of the first image key
(``point_coords="index"``) or in world units (``"world"``, unchanged by any transform).
Each transform writes ``data[f"{point_key}_in_grid"]``, a boolean array telling which
points lie inside the new grid; points outside are kept, never dropped.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform, MapTransform
from monai.utils import ensure_tuple, ensure_tuple_rep

from ..engine.options import WarpOptions
from ..errors import MetadataError, ModeError, PointsError, ShapeMismatchError, SpaceError
from ..geometry.points import apply_affine, map_points
from ..geometry.space import Space
from . import functional as F
from .array import Padding, SpaceCrop, SpaceResample, foreground_box, parse_options, roi_box
from .meta import get_native_space

__all__ = ["SpaceCropd", "SpaceResampled", "SpaceInvertd", "IN_GRID_SUFFIX"]

#: ``data[point_key + IN_GRID_SUFFIX]`` flags the landmarks that lie inside the current grid.
IN_GRID_SUFFIX = "_in_grid"


def _require(data: Mapping[Hashable, Any], key: Hashable, what: str) -> Any:
    if key not in data:
        raise MetadataError(f"{what} {key!r} is not in the data (keys: {list(data)})")
    return data[key]


class _PointsMixin:
    """Per-key options, and moving landmark keys from one Space to another (flagging those that leave the grid)."""

    keys: tuple[Hashable, ...]
    point_keys: tuple[Hashable, ...]
    point_coords: str
    allow_missing_keys: bool

    def _per_key_options(self, mode: Any, padding: Padding | Sequence[Padding]) -> tuple[WarpOptions, ...]:
        """One parsed :class:`WarpOptions` per key (a single mode or padding applies to every key)."""
        modes = ensure_tuple_rep(mode, len(self.keys))
        # a string ("border") or a number applies to every key; a sequence gives one per key
        paddings = ensure_tuple_rep(padding, len(self.keys)) if isinstance(padding, (list, tuple)) else (padding,) * len(self.keys)
        return tuple(parse_options(m, p, key=k) for m, p, k in zip(modes, paddings, self.keys))

    def _init_points(self, point_keys: KeysCollection | None, point_coords: str) -> None:
        if point_coords not in ("index", "world"):
            raise ModeError(f"point_coords must be 'index' or 'world', got {point_coords!r}")
        self.point_keys = ensure_tuple(point_keys) if point_keys is not None else ()
        self.point_coords = point_coords

    def _move_points(self, data: dict, source: Space, target: Space) -> None:
        for key in self.point_keys:
            if key not in data:
                if self.allow_missing_keys:
                    continue
                raise MetadataError(f"point key {key!r} is not in the data (keys: {list(data)})")
            points = data[key]
            points = points.as_tensor() if isinstance(points, MetaTensor) else points
            try:
                moved = map_points(points, source, target) if self.point_coords == "index" else _copy(points, source)
                data[f"{key}{IN_GRID_SUFFIX}"] = target.contains(moved, coords=self.point_coords)
            except PointsError as err:
                raise PointsError(f"point key {key!r}: {err}") from err
            data[key] = moved


def _copy(points: Any, space: Space) -> Any:
    """A validated float64 copy of ``points`` (same container), as :func:`map_points` returns them."""
    return apply_affine(np.eye(space.ndim + 1), points)


class SpaceCropd(MapTransform, InvertibleTransform, _PointsMixin):
    """Crop every key to one index box, padding where it leaves the image. Never interpolates.

    The box comes from, by priority:

    - ``center_key`` + ``world_size``: a box of ``world_size`` world units (mm) around the
      landmark ``center_key[center_point]`` (``point_coords`` units), snapped to the grid;
    - ``source_key``: the bounding box of ``select_fn(data[source_key])`` grown by ``margin``
      voxels (like MONAI ``CropForegroundd``; no foreground keeps the whole grid);
    - ``roi_start``/``roi_end`` or ``roi_center``/``roi_size`` (like MONAI ``SpatialCropd``).

    The box is computed on the first key (or ``source_key``) and applied, in voxels, to
    every key. Landmarks in ``point_keys`` move to the cropped grid.

    Args:
        keys: image keys, each ``(C, *spatial)``.
        padding: fill value per key for voxels outside the image.
    """

    def __init__(
        self,
        keys: KeysCollection,
        roi_start: Sequence[int] | None = None,
        roi_end: Sequence[int] | None = None,
        roi_center: Sequence[int] | None = None,
        roi_size: Sequence[int] | None = None,
        source_key: str | None = None,
        margin: int | Sequence[int] = 0,
        select_fn: Callable[[Any], Any] = lambda x: x > 0,
        center_key: str | None = None,
        center_point: int = 0,
        world_size: Sequence[float] | float | None = None,
        padding: Padding | Sequence[Padding] = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self._init_points(point_keys, point_coords)
        if (center_key is None) != (world_size is None):
            raise SpaceError("center_key and world_size go together")
        self.roi = (roi_start, roi_end, roi_center, roi_size)
        if center_key is None and source_key is None and all(r is None for r in self.roi):
            raise SpaceError("SpaceCropd needs a box: roi_start/roi_end, roi_center/roi_size, source_key or center_key")
        self.source_key, self.margin, self.select_fn = source_key, margin, select_fn
        self.center_key, self.center_point, self.world_size = center_key, center_point, world_size
        self.options = self._per_key_options("nearest", padding)
        self.cropper = SpaceCrop()

    def _box(self, data: Mapping[Hashable, Any], ref: Space) -> tuple[np.ndarray, np.ndarray]:
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
        if self.source_key is not None:
            return foreground_box(_require(data, self.source_key, "source_key"), self.margin, self.select_fn)
        box = roi_box(ref.ndim, *self.roi)
        assert box is not None
        return box

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        present = list(self.key_iterator(d))
        if not present:
            return d
        ref_key = self.source_key if self.source_key is not None else present[0]
        ref_space = Space.from_metatensor(F.as_image(_require(d, ref_key, "source_key"), ref_key))
        start, end = self._box(d, ref_space)
        info = self.cropper.get_transform_info()
        for key, options in self.key_iterator(d, self.options):
            image = F.as_image(d[key], key)
            d[key] = F.resample(image, Space.from_metatensor(image).crop(start, end), options, info, key=key)
        self._move_points(d, ref_space, ref_space.crop(start, end))
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.cropper.inverse(d[key])
        return d


class SpaceResampled(MapTransform, InvertibleTransform, _PointsMixin):
    """Resample every key to a ``spatial_size``, a ``pixdim``, or onto the Space of ``ref_key``.

    Args:
        keys: image keys, each ``(C, *spatial)``.
        spatial_size: new shape (``-1`` keeps an axis), planned per key from its own Space.
        pixdim: new spacing, planned per key (see :meth:`Space.respace` for the shape rule).
        ref_key: a MetaTensor key whose Space every key is resampled onto.
        align: ``"edges"`` (default, MONAI ``Resize``) or ``"centers"`` (MONAI ``Spacing``).
        mode: per key, ``"nearest"``, ``"linear"`` (default), ``"cubic"`` or ``"label"``.
        padding: per key, constant fill, ``"border"`` or ``"reflection"``.
        point_keys: landmarks (indices of the first key) moved along.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: Sequence[int] | None = None,
        pixdim: Sequence[float] | float | None = None,
        ref_key: str | None = None,
        align: str = "edges",
        mode: str | Sequence[str] = "linear",
        padding: Padding | Sequence[Padding] = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self._init_points(point_keys, point_coords)
        if sum(v is not None for v in (spatial_size, pixdim, ref_key)) != 1:
            raise SpaceError(
                f"give exactly one of spatial_size, pixdim, ref_key; got spatial_size={spatial_size!r}, "
                f"pixdim={pixdim!r}, ref_key={ref_key!r}"
            )
        self.ref_key = ref_key
        self.options = self._per_key_options(mode, padding)
        self.resampler = SpaceResample(spatial_size=spatial_size, pixdim=pixdim, align=align)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        target_ref = None
        if self.ref_key is not None:
            target_ref = Space.from_metatensor(F.as_image(_require(d, self.ref_key, "ref_key"), self.ref_key))
        info = self.resampler.get_transform_info()
        moved = None
        for key, options in self.key_iterator(d, self.options):
            image = F.as_image(d[key], key)
            source = Space.from_metatensor(image)
            target = target_ref if target_ref is not None else self.resampler.plan(source)
            d[key] = F.resample(image, target, options, info, key=key)
            if moved is None:
                moved = (source, target)
        if moved is not None:
            self._move_points(d, *moved)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.resampler.inverse(d[key])
        return d


class SpaceInvertd(MapTransform, _PointsMixin):
    """Map predictions (and landmarks) back to the native Space in **one** resample each.

    The working geometry of ``key`` is taken from ``orig_keys`` (the transformed input
    image, whose MetaTensor affine is current also after MONAI's own spatial transforms)
    or, if ``None``, from the prediction's own metadata. The native geometry is the one
    recorded by the Space transforms, else MONAI's ``original_affine`` + ``spatial_shape``,
    so MONAI's ``Orientationd``, ``Spacingd``, ``Resized``, ``Zoomd``, ``SpatialPadd`` or
    ``CropForegroundd`` in the chain are undone too, through the affine.

    Args:
        keys: prediction keys, ``(C, *working)`` tensors or MetaTensors.
        orig_keys: per key, the key to take the geometry (and metadata) from.
        mode: per key, ``"nearest"`` (default), ``"label"`` (hard label maps from a coarser
            grid), ``"linear"`` (probabilities/logits) or ``"cubic"``.
        padding: per key, fill for native voxels outside the working grid.
        point_keys: landmarks in the working grid (``point_coords`` units) mapped to the
            native grid; ``{point_key}_in_grid`` flags those inside it.

    Output: ``(C, *native)`` MetaTensors with the native affine and the original's metadata.
    """

    def __init__(
        self,
        keys: KeysCollection,
        orig_keys: KeysCollection | None = None,
        mode: str | Sequence[str] = "nearest",
        padding: Padding | Sequence[Padding] = 0.0,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self._init_points(point_keys, point_coords)
        self.orig_keys = ensure_tuple_rep(orig_keys, len(self.keys)) if orig_keys is not None else (None,) * len(self.keys)
        self.options = self._per_key_options(mode, padding)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        spaces = None
        for key, orig_key, options in self.key_iterator(d, self.orig_keys, self.options):
            pred = d[key]
            if orig_key is None and not isinstance(pred, MetaTensor):
                raise MetadataError(
                    f"key {key!r} is a plain {type(pred).__name__} without geometry; pass orig_keys= naming "
                    "the transformed input image"
                )
            ref = pred if orig_key is None else _require(d, orig_key, "orig_key")
            ref_t = F.as_image(ref, orig_key or key)
            try:
                current, native = Space.from_metatensor(ref_t), get_native_space(ref_t)
            except MetadataError as err:
                raise MetadataError(f"key {orig_key or key!r}: {err}") from err
            try:
                d[key] = F.map_back(pred, ref_t, current, native, options)
            except ShapeMismatchError as err:
                raise ShapeMismatchError(f"key {key!r} (geometry from {orig_key or key!r}): {err}") from err
            if spaces is None:
                spaces = (current, native)
        if spaces is None and self.point_keys and self.orig_keys[0] is not None and self.orig_keys[0] in d:
            ref_t = F.as_image(d[self.orig_keys[0]], self.orig_keys[0])
            spaces = (Space.from_metatensor(ref_t), get_native_space(ref_t))
        if spaces is not None:
            self._move_points(d, *spaces)
        return d
