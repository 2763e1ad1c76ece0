"""One Space transform per MONAI transform, with MONAI's exact signature: ``SpaceSpacing(d)``,
``SpaceResize(d)``, ``SpaceZoom(d)``.

Each takes the MONAI transform's arguments by the same names, in the same positional order, with
the same defaults (``Spacing``'s ``dtype=float64``, ``Resize``'s ``mode="area"``, ``Zoom``'s
``padding_mode="edge"``, ...), so that renaming ``_target_`` in a bundle config is the whole
migration; ours (``point_keys``, ``point_coords``, ``box_keys``, ``box_mode``, ``box_coords``,
``box_format``: see :mod:`.dictionary`) are keyword-only, after MONAI's. Each is a
thin shell: it plans MONAI's output grid on a :class:`Space` (:mod:`.planning`) and hands it to
the one functional layer (:func:`.functional.resample`: one warp, one record on
``applied_operations``, the metadata). The dictionary forms call their array form once per key
with that key's options, as MONAI's do.

``docs/monai_dialect.md`` lists, argument by argument, where a value is read differently.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.meta_tensor import MetaTensor
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.transform import LazyTransform, MapTransform
from monai.utils import TraceKeys

from ..engine.options import WarpOptions
from ..errors import ModeError
from ..geometry.space import Space
from . import functional as F
from .array import as_torch_dtype, lift_1d, lower_1d, resolve_align
from .dictionary import _PointsMixin
from .lazy import landmark_grid, pending_space, runs_lazily
from .padding import PadMode, parse_pad_mode, resample_padded
from .planning import monai_spacing, resize_shape, spacing_target, with_shape, zoom_target

__all__ = ["SpaceSpacing", "SpaceResize", "SpaceZoom", "SpaceSpacingd", "SpaceResized", "SpaceZoomd"]

_UNSET: Any = None  # MONAI's "None: use the constructor's value" for call-time overrides


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _bool(value: Any, name: str, key: Optional[Hashable] = None) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        where = f" for key {key!r}" if key is not None else ""
        raise ModeError(f"{name}{where} must be True or False, got {value!r}")
    return bool(value)


def _adapt(img: Any, key: Optional[Hashable] = None) -> tuple[MetaTensor, str]:
    """``img`` as an image a Space holds, and how it was adapted (undone by :func:`_restore`).

    ``"1d"``: a 1-D image ``(C, W)`` lifted to ``(C, W, 1, 1)`` (:func:`~.array.lift_1d`; MONAI
    resamples 1-D images too); ``"5d"``: ``(C, X, Y, Z, 1)``, whose trailing single voxel MONAI
    carries through unchanged (a 3-D affine), squeezed to ``(C, X, Y, Z)``; ``""``: as it is.
    """
    if isinstance(img, (torch.Tensor, np.ndarray)) and img.ndim == 5 and img.shape[-1] == 1:
        data = img.as_tensor() if isinstance(img, MetaTensor) else torch.as_tensor(img)
        squeezed = MetaTensor(data[..., 0])
        if isinstance(img, MetaTensor):
            squeezed.copy_meta_from(img)
        return F.as_image(squeezed, key), "5d"
    image, lifted = lift_1d(img, key)
    return image, "1d" if lifted else ""


def _restore(out: Any, kind: str) -> Any:
    """The output for an image :func:`_adapt` adapted, in the input's layout."""
    if kind == "1d":
        return lower_1d(out, True)
    if kind == "5d":
        if isinstance(out, MetaTensor):
            grown = MetaTensor(out.as_tensor()[..., None])
            grown.copy_meta_from(out)
            return grown
        return out[..., None]
    return out


def _reshaped(image: MetaTensor, shape: Sequence[int], affine: np.ndarray) -> MetaTensor:
    """``image``'s data reshaped (single-voxel axes added or dropped), its metadata, ``affine`` (4x4)."""
    out = MetaTensor(image.as_tensor().reshape(*shape))
    out.copy_meta_from(image)
    out.affine = torch.as_tensor(affine, dtype=torch.float64)
    return out


def _leading(value: Any, kind: str, keep: float) -> Any:
    """A per-axis argument for a lifted 1-D image: its first entry, then ``keep`` for the two extra axes."""
    if kind != "1d" or value is None:
        return value
    host = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
    first = np.atleast_1d(np.asarray(host, dtype=np.float64))[:1]
    return np.concatenate([first, [keep, keep]])


class _Counterpart(InvertibleTransform, LazyTransform):
    """Shared by the array counterparts: the call's ``dtype`` override, the one resample, ``inverse``."""

    compute_dtype: Optional[torch.dtype]

    def _dtype(self, dtype: Any) -> Optional[torch.dtype]:
        return self.compute_dtype if dtype is None else as_torch_dtype(dtype)

    def _resample(
        self, image: MetaTensor, target: Space, options: WarpOptions, dtype: Any, lazy: Optional[bool], extra_info: Optional[dict[str, Any]] = None
    ) -> torch.Tensor:
        info = self.get_transform_info()
        return F.resample(image, target, options, info, extra_info=extra_info, dtype=self._dtype(dtype), lazy=runs_lazily(self, lazy))

    def inverse(self, data: Any) -> torch.Tensor:
        image, kind = _adapt(data)
        record, skipped = F.pop_record(self, image)
        out = _restore(F.invert(image, record, skipped), kind)
        for _ in range(int(record[TraceKeys.EXTRA_INFO].get("new_dim", 0))):  # the axes Resize added (MONAI's record name)
            out = _reshaped(out, out.shape[:-1], np.asarray(out.affine)) if isinstance(out, MetaTensor) else out[..., 0]
        return out  # type: ignore[no-any-return]


class SpaceSpacing(_Counterpart):
    """MONAI ``Spacing``: resample to the voxel spacing ``pixdim``, in one pass.

    Same arguments, order and defaults as ``monai.transforms.Spacing``:

    Args:
        pixdim: output spacing; extra entries ignored, missing ones repeat the last, ``<= 0``
            keeps the input's. An input spacing within MONAI's ``AFFINE_TOL`` (1e-3) of the
            target (or of ``[min_pixdim, max_pixdim]``) is kept, as MONAI.
        diagonal: ``True``: onto a grid along the world axes (MONAI's ``np.diag(pixdim)``
            affine; an oblique input is resampled onto it), else the input's direction is kept.
        mode, padding_mode: MONAI's names (``"bilinear"``/``"border"``), plus ours ``"label"``.
        align_corners: as in MONAI, no effect on the output grid (``False``, the corner voxel
            centres are kept either way); our engine samples voxel centres exactly.
        dtype: the computation dtype of the interpolating modes (``float64``); the output keeps a
            floating input's dtype (nearest/label keep any dtype).
        scale_extent: MONAI's: the shape from the voxels' full extent rather than their centres.
        recompute_affine: the output grid's spacing recomputed from its (rounded) shape: the
            input's field of view resized to that shape (corner centres kept with
            ``align_corners=True``, edges otherwise), and the data sampled there. MONAI 1.6.1
            writes ``scale_affine(...)`` alone as the affine (origin and direction lost); ours
            keeps the world position (see ``docs/monai_dialect.md``).
        min_pixdim, max_pixdim: input spacings inside ``[min_pixdim, max_pixdim]`` are kept.
        lazy: MONAI's flag; pending MONAI operations fuse into this one resample (:mod:`.lazy`).
    """

    def __init__(
        self,
        pixdim: Sequence[float] | float | np.ndarray,
        diagonal: bool = False,
        mode: str | int = "bilinear",
        padding_mode: str = "border",
        align_corners: bool = False,
        dtype: Any = np.float64,
        scale_extent: bool = False,
        recompute_affine: bool = False,
        min_pixdim: Sequence[float] | float | np.ndarray | None = None,
        max_pixdim: Sequence[float] | float | np.ndarray | None = None,
        lazy: bool = False,
    ) -> None:
        LazyTransform.__init__(self, lazy=lazy)
        self.pixdim, self.min_pixdim, self.max_pixdim = pixdim, min_pixdim, max_pixdim
        monai_spacing(pixdim, Space((2, 2, 2)), min_pixdim, max_pixdim)  # fail at construction, not per sample
        self.diagonal = _bool(diagonal, "diagonal")
        self.scale_extent = _bool(scale_extent, "scale_extent")
        self.recompute_affine = _bool(recompute_affine, "recompute_affine")
        self.mode, self.padding_mode, self.align_corners, self.dtype = mode, padding_mode, align_corners, dtype
        self.options = WarpOptions.parse(mode, padding_mode)
        self.compute_dtype = as_torch_dtype(dtype)

    def plan(
        self,
        source: Space,
        scale_extent: Optional[bool] = None,
        output_spatial_shape: Any = None,
        align_corners: Any = None,
        kind: str = "",
    ) -> Space:
        """MONAI ``Spacing``'s output grid for ``source`` (see :func:`~.planning.spacing_target`);
        ``kind="1d"``: ``source`` is a lifted 1-D image's grid, only its first axis is respaced."""
        extent = _bool(_or(scale_extent, self.scale_extent), "scale_extent")
        pixdim, low, high = _leading(self.pixdim, kind, -1.0), _leading(self.min_pixdim, kind, np.nan), _leading(self.max_pixdim, kind, np.nan)
        target = spacing_target(source, pixdim, self.diagonal, extent, low, high)
        if output_spatial_shape is not None:
            target = with_shape(target, resize_shape(target, output_spatial_shape))
        if self.recompute_affine:
            corners = _or(align_corners, self.align_corners)
            target = source.resize(target.shape, align="centers" if corners else "edges")
        return target

    def __call__(
        self,
        data_array: Any,
        mode: str | int | None = None,
        padding_mode: str | None = None,
        align_corners: bool | None = None,
        dtype: Any = None,
        scale_extent: bool | None = None,
        output_spatial_shape: Sequence[int] | np.ndarray | int | None = None,
        lazy: bool | None = None,
    ) -> torch.Tensor:
        """Resample ``data_array`` ``(C, *spatial)``; the arguments override the constructor's for this call."""
        image, kind = _adapt(data_array)
        shape = _leading(output_spatial_shape, kind, -1)
        if kind == "5d" and shape is not None and np.size(shape) == 4 and np.ravel(shape)[3] == 1:
            shape = np.ravel(shape)[:3]  # MONAI's shape of a (C, X, Y, Z, 1) image (Spacingd's ensure_same_shape) names the carried voxel
        target = self.plan(pending_space(image), scale_extent, None if shape is None else np.asarray(shape).astype(np.int64), align_corners, kind)
        options = self.options if mode is None and padding_mode is None else WarpOptions.parse(_or(mode, self.mode), _or(padding_mode, self.padding_mode))
        return _restore(self._resample(image, target, options, dtype, lazy), kind)  # type: ignore[no-any-return]


class SpaceResize(_Counterpart):
    """MONAI ``Resize``: resample the field of view to ``spatial_size`` voxels, in one pass.

    Same arguments, order and defaults as ``monai.transforms.Resize``:

    Args:
        spatial_size: new shape; entries ``<= 0`` keep the axis; with ``size_mode="longest"``
            one int for the longest axis, the others scaled alike.
        mode: ``"area"`` (default, MONAI's: the mean of the source voxels each new voxel's box
            overlaps, ``F.interpolate(mode="area")``'s values), ``"nearest"`` (centre-consistent:
            MONAI's ``nearest`` is not, ``nearest-exact`` is), ``"bilinear"``/``"trilinear"``/
            ``"linear"``, ``"bicubic"``, or ours ``"label"``.
        align_corners: ``True`` keeps the corner voxel centres, else the field of view's edges.
        anti_aliasing, anti_aliasing_sigma: Gaussian smoothing where an axis shrinks (MONAI's
            sigma rule), folded into the interpolation; edges replicated (MONAI zero-pads).
        dtype: computation dtype (``float32``).
        lazy: MONAI's flag (:mod:`.lazy`).
    """

    def __init__(
        self,
        spatial_size: Sequence[int] | int,
        size_mode: str = "all",
        mode: str = "area",
        align_corners: bool | None = None,
        anti_aliasing: bool = False,
        anti_aliasing_sigma: Sequence[float] | float | None = None,
        dtype: Any = torch.float32,
        lazy: bool = False,
    ) -> None:
        LazyTransform.__init__(self, lazy=lazy)
        if size_mode not in ("all", "longest"):
            raise ModeError(f"size_mode must be 'all' or 'longest', got {size_mode!r}")
        self.spatial_size, self.size_mode = spatial_size, size_mode
        self.mode, self.align_corners, self.anti_aliasing, self.anti_aliasing_sigma = mode, align_corners, anti_aliasing, anti_aliasing_sigma
        self.dtype = dtype
        self.options = self._options(mode, anti_aliasing, anti_aliasing_sigma)
        self.compute_dtype = as_torch_dtype(dtype)
        resolve_align(None, align_corners, "edges")

    @staticmethod
    def _options(mode: Any, anti_aliasing: Any, sigma: Any, key: Optional[Hashable] = None) -> WarpOptions:
        # F.interpolate clamps at the edges: border padding, every target voxel lies in the field of view
        return WarpOptions.parse(mode, "border", key=key, anti_aliasing=anti_aliasing, anti_aliasing_sigma=sigma)

    def plan(self, source: Space, align_corners: Any = None, kind: str = "") -> Space:
        """MONAI ``Resize``'s output grid for ``source`` (``kind="1d"``: a lifted 1-D image's grid)."""
        align = resolve_align(None, _or(align_corners, self.align_corners), "edges")
        size: Any = self.spatial_size
        if kind == "1d" and self.size_mode == "all":
            size = _leading(size, kind, -1).astype(np.int64)
        elif kind == "1d":  # "longest" of one axis: that axis gets the size
            size = np.array([int(size), -1, -1])
        return source.resize(resize_shape(source, size, "all" if kind == "1d" else self.size_mode), align=align)

    def _more_axes(self, img: Any) -> Any:
        """MONAI's rule for a ``spatial_size`` with more entries than the image has axes: the image
        gains trailing single-voxel axes (those of its 4x4 affine) and is resized as an image of that rank."""
        wanted = len(np.atleast_1d(np.asarray(self.spatial_size))) if self.size_mode == "all" else 0
        if not isinstance(img, (torch.Tensor, np.ndarray)) or not img.ndim - 1 < wanted <= 3:
            return img
        if img.ndim == 2:  # 1-D: its lifted (C, W, 1, 1) image carries the 4x4 affine
            lifted = lift_1d(img)[0]
            return lifted if wanted == 3 else _reshaped(lifted, lifted.shape[:-1], np.asarray(lifted.affine))
        image = F.as_image(img)
        return _reshaped(image, (*image.shape, 1), Space.from_metatensor(image).to_monai_affine())

    def __call__(
        self,
        img: Any,
        mode: str | None = None,
        align_corners: bool | None = None,
        anti_aliasing: bool | None = None,
        anti_aliasing_sigma: Sequence[float] | float | None = None,
        dtype: Any = None,
        lazy: bool | None = None,
    ) -> torch.Tensor:
        """Resize ``img`` ``(C, *spatial)``; the arguments override the constructor's for this call."""
        grown = self._more_axes(img)
        new_dim = grown.ndim - img.ndim if grown is not img else 0
        image, kind = _adapt(grown)
        target = self.plan(pending_space(image), align_corners, kind)
        options = self.options
        if mode is not None or anti_aliasing is not None or anti_aliasing_sigma is not None:
            options = self._options(_or(mode, self.mode), _or(anti_aliasing, self.anti_aliasing), _or(anti_aliasing_sigma, self.anti_aliasing_sigma))
        out = self._resample(image, target, options, dtype, lazy, {"new_dim": new_dim} if new_dim else None)
        return _restore(out, kind)  # type: ignore[no-any-return]


class SpaceZoom(_Counterpart):
    """MONAI ``Zoom``: scale by ``zoom`` (``floor(n * zoom)`` voxels), with ``keep_size`` the input's shape.

    Same arguments, order and defaults as ``monai.transforms.Zoom``:

    Args:
        zoom: factor per axis (or one for all).
        mode: as :class:`SpaceResize` (default ``"area"``).
        padding_mode: where ``keep_size`` pads (zooming out): every numpy and torch pad mode,
            applied to the zoomed image as MONAI does (default ``"edge"``: the zoomed edge voxel
            repeated); ``"constant"`` is an engine padding (fuses lazily); ours ``"zeros"``,
            ``"border"`` (the *source* edge), ``"reflection"``.
        align_corners: ``True`` keeps the corner voxel centres, else the edges.
        dtype: computation dtype (``float32``).
        keep_size: crop/pad the zoomed grid centrally back to the input's shape (MONAI's
            ``ResizeWithPadOrCrop``).
        lazy: MONAI's flag (:mod:`.lazy`); a pad mode applied after the copy runs eagerly.
        kwargs: ``np.pad``/``F.pad`` arguments of the padding (``constant_values``, ...).
    """

    def __init__(
        self,
        zoom: Sequence[float] | float,
        mode: str = "area",
        padding_mode: str = "edge",
        align_corners: bool | None = None,
        dtype: Any = torch.float32,
        keep_size: bool = True,
        lazy: bool = False,
        **kwargs: Any,
    ) -> None:
        LazyTransform.__init__(self, lazy=lazy)
        self.zoom, self.keep_size, self.kwargs = zoom, _bool(keep_size, "keep_size"), kwargs
        self.mode, self.padding_mode, self.align_corners, self.dtype = mode, padding_mode, align_corners, dtype
        self.pad = self._pad(padding_mode)
        self.options = self._options(mode, self.pad)
        self.compute_dtype = as_torch_dtype(dtype)
        resolve_align(None, align_corners, "edges")

    def _pad(self, padding_mode: Any, key: Optional[Hashable] = None) -> PadMode:
        # MONAI's "edge" repeats the zoomed edge voxel: only "constant" is the engine's own padding here
        return parse_pad_mode(padding_mode, self.kwargs, name="padding_mode", key=key, engine_modes=("constant",))

    @staticmethod
    def _options(mode: Any, pad: PadMode, key: Optional[Hashable] = None) -> WarpOptions:
        return WarpOptions.parse(mode, pad.engine or "zeros", pad.fill, key=key)

    def plan(self, source: Space, align_corners: Any = None, kind: str = "") -> tuple[Space, np.ndarray, tuple[int, ...]]:
        """MONAI ``Zoom``'s output grid, its first voxel in zoomed-grid indices, and the zoomed shape
        (``kind="1d"``: a lifted 1-D image's grid, zoomed along its first axis)."""
        align = resolve_align(None, _or(align_corners, self.align_corners), "edges")
        zoom = _leading(self.zoom, kind, 1.0)
        target, start = zoom_target(source, zoom, self.keep_size, align)
        return target, start, source.zoom(zoom, align=align).shape

    def __call__(
        self,
        img: Any,
        mode: str | None = None,
        padding_mode: str | None = None,
        align_corners: bool | None = None,
        dtype: Any = None,
        lazy: bool | None = None,
    ) -> torch.Tensor:
        """Zoom ``img`` ``(C, *spatial)``; the arguments override the constructor's for this call."""
        image, kind = _adapt(img)
        target, start, zoomed = self.plan(pending_space(image), align_corners, kind)
        pad = self.pad if padding_mode is None else self._pad(padding_mode)
        options = self.options if mode is None and padding_mode is None else self._options(_or(mode, self.mode), pad)
        info = self.get_transform_info()
        out = resample_padded(image, target, options, pad, start, zoomed, info, dtype=self._dtype(dtype), lazy=runs_lazily(self, lazy))
        return _restore(out, kind)  # type: ignore[no-any-return]


class _Counterpartd(MapTransform, InvertibleTransform, LazyTransform, _PointsMixin):
    """Shared by the dictionary counterparts: landmarks move with the first key, ``inverse`` per key."""

    def _array(self) -> Any:
        raise NotImplementedError

    def _apply(self, data: Mapping[Hashable, Any], per_key: Sequence[Sequence[Any]], call: Callable[..., Any]) -> dict[Hashable, Any]:
        """``d[key] = call(key, image, *that key's entries of per_key)`` for every key; landmarks
        move from the first key's grid to its output grid."""
        d = self._as_dict(data)
        moved = None
        for key, *args in self.key_iterator(d, *per_key):
            image, kind = _adapt(d[key], key)
            d[key] = out = call(key, d[key] if kind else image, *args)
            if moved is None and not kind:  # a 1-D image's landmarks have no Space to move by
                grid = landmark_grid(image)
                moved = (grid, Space.from_metatensor(out) if isinstance(out, MetaTensor) else grid)
        if moved is not None:
            self._move_points(d, *moved)
        else:
            self._no_grid(d)
        return d

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = self._as_dict(data)
        for key in self.key_iterator(d):
            d[key] = self._array().inverse(d[key])
        return d


class SpaceSpacingd(_Counterpartd):
    """MONAI ``Spacingd``: every key to the spacing ``pixdim`` (see :class:`SpaceSpacing`).

    Same arguments, order and defaults as ``monai.transforms.Spacingd``; ``mode``,
    ``padding_mode``, ``align_corners``, ``dtype`` and ``scale_extent`` per key (a list/tuple
    gives one per key). ``ensure_same_shape``: keys with the first key's shape and (within 1e-3)
    spacing get exactly its output shape, as MONAI. Ours, keyword-only: ``point_keys``,
    ``point_coords`` (landmarks in voxel indices of the first key, or world units).
    """

    def __init__(
        self,
        keys: KeysCollection,
        pixdim: Sequence[float] | float,
        diagonal: bool = False,
        mode: Any = "bilinear",
        padding_mode: Any = "border",
        align_corners: Any = False,
        dtype: Any = np.float64,
        scale_extent: Any = False,
        recompute_affine: bool = False,
        min_pixdim: Sequence[float] | float | None = None,
        max_pixdim: Sequence[float] | float | None = None,
        ensure_same_shape: bool = True,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
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
        self.spacing_transform = SpaceSpacing(
            pixdim, diagonal=diagonal, recompute_affine=recompute_affine, min_pixdim=min_pixdim, max_pixdim=max_pixdim
        )
        self.mode, self.padding_mode = self._per_key(mode, "mode"), self._per_key(padding_mode, "padding_mode")
        self.align_corners, self.dtype = self._per_key(align_corners, "align_corners"), self._per_key(dtype, "dtype")
        self.scale_extent = tuple(_bool(s, "scale_extent", k) for s, k in zip(self._per_key(scale_extent, "scale_extent"), self.keys))
        for m, p, t, k in zip(self.mode, self.padding_mode, self.dtype, self.keys):  # fail at construction, naming the key
            WarpOptions.parse(m, p, key=k)
            as_torch_dtype(t, k)
        self.ensure_same_shape = _bool(ensure_same_shape, "ensure_same_shape")

    def _array(self) -> SpaceSpacing:
        return self.spacing_transform

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        lazy_ = runs_lazily(self, lazy)
        first: list[tuple[tuple[int, ...], np.ndarray]] = []  # the first MetaTensor key's pending shape and spacing
        shape: list[tuple[int, ...]] = []  # the first key's output shape

        def call(key: Hashable, image: MetaTensor, mode: Any, padding_mode: Any, align_corners: Any, dtype: Any, extent: Any) -> Any:
            should_match = False
            if self.ensure_same_shape and isinstance(data[key], MetaTensor):
                adapted = _adapt(image, key)[0]
                mine = (pending_space(adapted).shape, Space.from_metatensor(adapted).spacing)
                if not first:
                    first.append(mine)
                else:  # MONAI's rule: same pending shape, spacing within 1e-3
                    should_match = first[0][0] == mine[0] and bool(np.allclose(first[0][1], mine[1], atol=1e-3))
            out = self.spacing_transform(
                image, mode, padding_mode, align_corners, dtype, extent, shape[0] if should_match and shape else None, lazy_
            )
            if not shape:
                shape.append(tuple(out.shape[1:]))
            return out

        return self._apply(data, (self.mode, self.padding_mode, self.align_corners, self.dtype, self.scale_extent), call)


class SpaceResized(_Counterpartd):
    """MONAI ``Resized``: every key to ``spatial_size`` (see :class:`SpaceResize`).

    Same arguments, order and defaults as ``monai.transforms.Resized``; ``mode``,
    ``align_corners``, ``anti_aliasing``, ``anti_aliasing_sigma`` and ``dtype`` per key (a
    list/tuple gives one per key, as MONAI's ``ensure_tuple_rep``: a per-axis sigma for one key
    is written ``[[s0, s1, s2]]``). Ours, keyword-only: ``point_keys``, ``point_coords``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_size: Sequence[int] | int,
        size_mode: str = "all",
        mode: Any = "area",
        align_corners: Any = None,
        anti_aliasing: Any = False,
        anti_aliasing_sigma: Any = None,
        dtype: Any = np.float32,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
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
        self.mode, self.align_corners = self._per_key(mode, "mode"), self._per_key(align_corners, "align_corners")
        self.anti_aliasing = self._per_key(anti_aliasing, "anti_aliasing")
        self.anti_aliasing_sigma = self._per_key(anti_aliasing_sigma, "anti_aliasing_sigma")
        self.dtype = self._per_key(dtype, "dtype")
        for m, a, s, c, t, k in zip(self.mode, self.anti_aliasing, self.anti_aliasing_sigma, self.align_corners, self.dtype, self.keys):
            SpaceResize._options(m, a, s, k)  # fail at construction, naming the key
            resolve_align(None, c, "edges")
            as_torch_dtype(t, k)
        self.resizer = SpaceResize(spatial_size=spatial_size, size_mode=size_mode)

    def _array(self) -> SpaceResize:
        return self.resizer

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        lazy_ = runs_lazily(self, lazy)
        per_key = (self.mode, self.align_corners, self.anti_aliasing, self.anti_aliasing_sigma, self.dtype)
        return self._apply(data, per_key, lambda key, image, mode, corners, aa, sigma, dtype: self.resizer(image, mode, corners, aa, sigma, dtype, lazy_))


class SpaceZoomd(_Counterpartd):
    """MONAI ``Zoomd``: every key zoomed by ``zoom`` (see :class:`SpaceZoom`).

    Same arguments, order and defaults as ``monai.transforms.Zoomd``; ``mode``,
    ``padding_mode``, ``align_corners`` and ``dtype`` per key; ``kwargs`` go to the padding
    (``np.pad``/``F.pad``). Ours, keyword-only: ``point_keys``, ``point_coords``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        zoom: Sequence[float] | float,
        mode: Any = "area",
        padding_mode: Any = "edge",
        align_corners: Any = None,
        dtype: Any = np.float32,
        keep_size: bool = True,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
        point_keys: KeysCollection | None = None,
        point_coords: str = "index",
        box_keys: KeysCollection | None = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
        **kwargs: Any,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy=lazy)
        self._init_points(point_keys, point_coords, box_keys, box_mode, box_coords, box_format)
        self.mode, self.padding_mode = self._per_key(mode, "mode"), self._per_key(padding_mode, "padding_mode")
        self.align_corners, self.dtype = self._per_key(align_corners, "align_corners"), self._per_key(dtype, "dtype")
        self.zoomer = SpaceZoom(zoom=zoom, keep_size=keep_size, **kwargs)
        for m, p, c, t, k in zip(self.mode, self.padding_mode, self.align_corners, self.dtype, self.keys):
            SpaceZoom._options(m, self.zoomer._pad(p, k), k)  # fail at construction, naming the key
            resolve_align(None, c, "edges")
            as_torch_dtype(t, k)

    def _array(self) -> SpaceZoom:
        return self.zoomer

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        lazy_ = runs_lazily(self, lazy)
        per_key = (self.mode, self.padding_mode, self.align_corners, self.dtype)
        return self._apply(data, per_key, lambda key, image, mode, padding, corners, dtype: self.zoomer(image, mode, padding, corners, dtype, lazy_))
