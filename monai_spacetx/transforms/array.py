"""Array Space transforms: ``(C, *spatial)`` MetaTensor in, MetaTensor out, in MONAI's dialect.

Each transform parses its options once, at construction (:class:`WarpOptions`), plans a
target :class:`Space` from the input's current Space (``x.affine`` + ``x.shape[1:]``) and
hands both to :mod:`.functional`, which executes one warp, records the step on MONAI's
``applied_operations`` (so ``Invertd`` and ``Compose.inverse`` can undo it) and writes the
metadata (``spacetx_space`` / ``spacetx_native``, see :mod:`.meta`).

Argument names, values, defaults and positional order follow the MONAI transform each one
stands in for (``SpatialCrop``, ``CropForeground``); our own additions are keyword-only.
``SpaceResample`` is the general form, every argument by name; the counterparts of
``Spacing``/``Resize``/``Zoom`` with their exact signatures are in :mod:`.counterparts`.
``docs/monai_dialect.md`` lists every deliberate difference.

``SpaceCrop``, ``SpaceCropForeground`` and ``SpaceResample`` are MONAI lazy transforms: with
``lazy=True`` (or in ``Compose(lazy=True)``) MONAI's pending spatial operations reach them and
are executed with their own step as one resample by our engine (see :mod:`.lazy`).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Hashable, Optional, Sequence

import numpy as np
import torch
from monai.data.meta_obj import get_track_meta
from monai.data.meta_tensor import MetaTensor
from monai.transforms.inverse import InvertibleTransform, TraceableTransform
from monai.transforms.transform import LazyTransform
from monai.transforms.croppad.array import CropForeground as _MonaiCropForeground
from monai.transforms.utils import compute_divisible_spatial_size, generate_spatial_bounding_box, is_positive
from monai.utils import TraceKeys, convert_to_tensor, get_equivalent_dtype

from ..engine.options import MODES, WarpOptions
from ..errors import EmptyBoxError, MetadataError, ModeError, ShapeMismatchError, SpaceError, SpaceTypeError
from ..geometry.space import Align, Space
from . import functional as F
from .lazy import pending_space, runs_lazily
from .meta import NATIVE_KEY, SPACE_KEY, find_native_space, native_space
from .padding import crop_padding, parse_pad_mode, resample_padded
from .planning import int_entries as _int_entries
from .planning import monai_spacing, pixdim_values, resize_shape, spacing_target, zoom_target

__all__ = [
    "MODES",
    "SpaceCrop",
    "SpaceCropForeground",
    "SpaceResample",
    "SpaceInvert",
    "foreground_box",
    "roi_box",
    "lift_1d",
    "lower_1d",
    "flat_box",
    "empty_crop",
    "map_back_empty",
    "resolve_align",
    "as_torch_dtype",
    "refuse_positional",
]


#: MONAI ``CropForeground``'s default ``allow_smaller`` in the installed MONAI (``True`` before 1.5,
#: ``False`` since): ours follows it, so the migration stays a rename on every supported version.
MONAI_ALLOW_SMALLER: bool = bool(inspect.signature(_MonaiCropForeground.__init__).parameters["allow_smaller"].default)


def refuse_positional(name: str, positional: tuple[Any, ...]) -> None:
    """The general resample transforms take their grid by name: a positional value could be MONAI
    ``Spacing``'s ``pixdim``, ``Resize``'s ``spatial_size`` or ``Zoom``'s ``zoom``, so it is refused.

    Raises:
        SpaceTypeError: naming the value and the counterparts that take MONAI's positional order.
    """
    if positional:
        suffix = "d" if name.endswith("d") else ""
        raise SpaceTypeError(
            f"{name} takes its grid by name (pixdim=, spatial_size=, zoom=, ref_key=): a positional "
            f"{', '.join(repr(p) for p in positional)} could be Spacing's pixdim, Resize's spatial_size or Zoom's zoom. "
            f"For MONAI's positional order use SpaceSpacing{suffix} (Spacing{suffix}), SpaceResize{suffix} "
            f"(Resize{suffix}) or SpaceZoom{suffix} (Zoom{suffix})"
        )


def _where(key: Optional[Hashable]) -> str:
    return f" for key {key!r}" if key is not None else ""


def _roi_entries(value: Any, name: str, key: Optional[Hashable]) -> np.ndarray:
    """One of MONAI ``SpatialCrop``'s ROI arguments as a 1-D int64 vector of any length (a scalar is one entry)."""
    try:
        host = convert_to_tensor(value, track_meta=False).cpu().numpy() if isinstance(value, torch.Tensor) else value
        arr = np.atleast_1d(np.asarray(host))
    except Exception as err:  # ragged lists and the like
        raise SpaceTypeError(f"{name}{_where(key)} must be integers, got {value!r}") from err
    if arr.ndim != 1 or arr.size == 0 or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise SpaceError(f"{name}{_where(key)} must be an integer or a sequence of integers, got {value!r}")
    if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
        raise SpaceError(f"{name}{_where(key)} must be integers, got {value!r}")
    return arr.astype(np.int64)


def _roi_pair(a: Any, b: Any, names: tuple[str, str], key: Optional[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Two ROI arguments broadcast against each other as MONAI does: equal lengths, or one of them a single entry."""
    first, second = _roi_entries(a, names[0], key), _roi_entries(b, names[1], key)
    n = max(first.size, second.size)
    if first.size not in (1, n) or second.size not in (1, n):
        raise SpaceError(
            f"{names[0]} and {names[1]}{_where(key)} must have the same number of entries (or one of them a single "
            f"entry), got {a!r} and {b!r}"
        )
    return np.broadcast_to(first, (n,)).copy(), np.broadcast_to(second, (n,)).copy()


def roi_box(
    shape: Sequence[int],
    roi_center: Any = None,
    roi_size: Any = None,
    roi_start: Any = None,
    roi_end: Any = None,
    roi_slices: Optional[Sequence[slice]] = None,
    key: Optional[Hashable] = None,
) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Index box ``[start, end)`` in a grid of spatial ``shape`` from MONAI ``SpatialCrop``'s arguments,
    or ``None`` when none is given. ``end >= start`` on every axis; ``end == start`` is an empty crop.

    As MONAI's ``Crop.compute_slices`` reads them:

    - ``roi_slices`` (wins): Python slices, step 1 or ``None``, read with ``slice.indices`` as
      numpy reads them: ``None`` is open, a negative start or end counts from the axis' end,
      everything is clipped to the image (``slice(-3, 4)`` on 10 voxels is empty, as MONAI's);
    - ``roi_center`` + ``roi_size``: ``start = center - size // 2``, ``end = start + size``;
    - ``roi_start`` + ``roi_end``; an ``end`` below its ``start`` gives an empty axis.

    Each argument may be a scalar or have any number of entries: two arguments of a pair are
    broadcast against each other (equal lengths, or one a single entry), then the box covers
    the leading axes; axes beyond it are kept whole and entries beyond the image's axes are
    ignored (MONAI's rule: a scalar pair crops axis 0 only).

    Deliberate difference: the centre and start/end forms are not clipped to the image; where
    the box leaves the image the crop pads (MONAI shifts a centre box's negative start to 0
    and clips both forms to the image).

    Raises:
        SpaceError: a slice with a step other than 1, non-integer entries, pairs whose lengths do
            not broadcast, or a mix of the two forms (each naming the argument, ``key`` and the value).
    """
    size_v = np.asarray(shape, dtype=np.int64)
    ndim = size_v.size
    start, end = np.zeros(ndim, np.int64), size_v.copy()
    if roi_slices is not None:
        slices: list[Any] = list(roi_slices) if isinstance(roi_slices, (list, tuple)) else [roi_slices]
        if not slices or not all(isinstance(s, slice) for s in slices):
            raise SpaceError(f"roi_slices{_where(key)} must be one slice per leading spatial axis, got {roi_slices!r}")
        if any(s.step not in (None, 1) for s in slices):
            raise SpaceError(f"roi_slices{_where(key)} must have step 1 (or None), got {roi_slices!r}")
        for axis, s in enumerate(slices[:ndim]):
            for name, bound in (("start", s.start), ("stop", s.stop)):
                if bound is not None and not (isinstance(bound, (int, np.integer)) and not isinstance(bound, bool)):
                    raise SpaceError(f"roi_slices{_where(key)}: a slice's {name} must be an integer or None, got {s!r}")
            first, stop, _ = s.indices(int(size_v[axis]))
            start[axis], end[axis] = first, max(stop, first)
        return start, end
    if roi_center is not None or roi_size is not None:
        if roi_center is None or roi_size is None or roi_start is not None or roi_end is not None:
            raise SpaceError(
                f"give roi_center and roi_size together, or roi_start and roi_end, not a mix{_where(key)}; got "
                f"roi_center={roi_center!r}, roi_size={roi_size!r}, roi_start={roi_start!r}, roi_end={roi_end!r}"
            )
        center, size = _roi_pair(roi_center, roi_size, ("roi_center", "roi_size"), key)
        first = center - np.floor_divide(size, 2)
        last = first + np.maximum(size, 0)
    elif roi_start is None and roi_end is None:
        return None
    elif roi_start is None or roi_end is None:
        raise SpaceError(f"give both roi_start and roi_end{_where(key)}, got roi_start={roi_start!r}, roi_end={roi_end!r}")
    else:
        first, last = _roi_pair(roi_start, roi_end, ("roi_start", "roi_end"), key)
    k = min(ndim, first.size)
    start[:k], end[:k] = first[:k], np.maximum(last[:k], first[:k])
    return start, end


def lift_1d(img: Any, key: Optional[Hashable] = None, name: str = "image") -> tuple[MetaTensor, bool]:
    """``img`` as a channel-first MetaTensor (:func:`~.functional.as_image`), a 1-D image ``(C, W)``
    lifted to ``(C, W, 1, 1)`` with the same 4x4 affine (MONAI's form for every rank): a 3-D grid
    whose two extra axes are single voxels that no planning op touches. Returns ``(image, lifted)``;
    :func:`lower_1d` takes the result back to ``(C, W')``.

    Raises:
        SpaceError: a 1-D image with MONAI operations pending (they are not fused into our resample).
    """
    if isinstance(img, (torch.Tensor, np.ndarray)) and img.ndim == 2:
        if isinstance(img, MetaTensor):
            if img.pending_operations:
                raise SpaceError(
                    f"{name}{_where(key)} is a 1-D image (C, W) with MONAI operations pending; 1-D images are not "
                    "fused lazily: run the MONAI transforms before it eagerly"
                )
            lifted = MetaTensor(img.as_tensor()[..., None, None])
            lifted.copy_meta_from(img)
            lifted.affine = img.affine  # MONAI's 4x4 affine of the 1-D image (copy_meta_from keeps it; said here)
            return F.as_image(lifted, key, name), True
        data = torch.as_tensor(img) if isinstance(img, np.ndarray) else img
        return F.as_image(data[..., None, None], key, name), True
    return F.as_image(img, key, name), False


def lower_1d(out: Any, lifted: bool) -> Any:
    """The output of a transform run on a :func:`lift_1d` image, back to ``(C, W')`` (unchanged if not lifted)."""
    if not lifted:
        return out
    if isinstance(out, MetaTensor):
        flat = MetaTensor(out.as_tensor()[..., 0, 0])
        flat.copy_meta_from(out)
        flat.meta.pop(SPACE_KEY, None)  # the lifted 3-D grid; a 1-D image has no Space of its own
        flat.meta.pop(NATIVE_KEY, None)
        return flat
    return out[..., 0, 0]


def flat_box(box: tuple[np.ndarray, np.ndarray], lifted: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 1-D image's box ``[start, end)`` extended to its :func:`lift_1d` grid (the two extra axes whole)."""
    if not lifted:
        return box
    return np.concatenate([box[0][:1], [0, 0]]).astype(np.int64), np.concatenate([box[1][:1], [1, 1]]).astype(np.int64)


def empty_crop(
    image: MetaTensor, source: Space, start: np.ndarray, end: np.ndarray, transform_info: Any, lazy: bool, key: Optional[Hashable] = None
) -> torch.Tensor:
    """An empty crop (``end <= start`` on some axis), as MONAI returns it: a ``(C, *sizes)`` image with
    no voxels, its affine moved to ``start``, the step recorded (its ``inverse`` gives zeros on ``source``).

    No :class:`Space` has an empty axis, so this is the one crop that is not planned on one.

    Raises:
        EmptyBoxError: under lazy execution, or with MONAI operations pending (MONAI's lazy
            crop raises ``ValueError`` for an empty box too).
    """
    sizes = np.maximum(end - start, 0)
    if lazy or image.pending_operations:
        raise EmptyBoxError(
            f"the crop box{_where(key)} is empty (start={start.tolist()}, end={end.tolist()}); an empty crop is not "
            "executed lazily (MONAI's lazy crop raises for it too)"
        )
    translate = np.eye(source.ndim + 1)
    translate[: source.ndim, source.ndim] = start
    record = {"empty_crop": True, "source": source.to_json(), "start": start.tolist(), "end": end.tolist()}
    meta_info = TraceableTransform.track_transform_meta(
        image, sp_size=sizes.tolist(), affine=translate, extra_info=record, orig_size=source.shape, transform_info=transform_info
    )
    data = torch.zeros((image.shape[0], *sizes.tolist()), dtype=image.dtype, device=image.device)
    if not get_track_meta():
        return data
    out = MetaTensor(data)
    out.copy_meta_from(meta_info)
    out.meta.pop(SPACE_KEY, None)  # an empty grid is no Space
    native = native_space(image) if NATIVE_KEY in image.meta else find_native_space(image)
    if native is not None:  # what mapping back needs, as every Space step writes it
        out.meta[NATIVE_KEY] = native.to_json()
    return out


def map_back_empty(pred: Any, ref: MetaTensor, options: WarpOptions, argmax: bool = False, keep_prob: bool = False) -> Any:
    """Map a prediction on an empty working grid (an empty crop's) back: every native voxel lies
    outside it, so the output is ``fill`` everywhere (MONAI's inverse pads the empty crop with
    zeros); with ``argmax``, ``fill`` as the label (and 0 as ``prob``)."""
    data = F.as_image(pred, name="prediction")
    if tuple(data.shape[1:]) != tuple(ref.shape[1:]):
        raise ShapeMismatchError(f"prediction of shape {tuple(data.shape)} does not lie on the working grid {tuple(ref.shape[1:])} (expected (C, *working))")
    native = native_space(ref)
    if argmax:
        outs = [torch.full((1, *native.shape), int(options.fill), dtype=torch.uint8), torch.zeros((1, *native.shape), dtype=torch.float32)]
    else:
        outs = [torch.full((data.shape[0], *native.shape), options.fill, dtype=data.dtype, device=data.device)]
    if get_track_meta():
        metas = [F.write_geometry(o, ref, native, native) for o in outs]
        for m in metas:
            m.applied_operations = []
        outs = list(metas)
    return (outs[0], outs[1]) if keep_prob else outs[0]


def _undo_empty_crop(image: MetaTensor, record: Any) -> torch.Tensor:
    """MONAI's inverse of an empty crop: zeros on the grid it was taken from."""
    source = Space.from_json(record[TraceKeys.EXTRA_INFO]["source"])
    zeros = torch.zeros((image.shape[0], *source.shape), dtype=image.dtype, device=image.device)
    if not get_track_meta():
        return zeros
    native = native_space(image) if NATIVE_KEY in image.meta else source
    return F.write_geometry(zeros, image, source, native)


def foreground_box(
    image: Any,
    select_fn: Callable[[Any], Any] = is_positive,
    channel_indices: Any = None,
    margin: Sequence[int] | int = 0,
    allow_smaller: bool = MONAI_ALLOW_SMALLER,
    k_divisible: Sequence[int] | int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Index box ``[start, end)`` of the foreground, exactly as MONAI ``CropForeground`` computes it.

    MONAI's ``generate_spatial_bounding_box`` (``select_fn`` on ``channel_indices``, grown
    by ``margin``, clipped to the image only when ``allow_smaller``), then grown to a
    multiple of ``k_divisible`` around its centre. The box may reach outside the grid: that
    part is padding. With no foreground voxel the box is empty (``start == end == 0``): the
    crop is an empty image, as MONAI's.

    Args:
        image: ``(C, *spatial)`` array or tensor, 1, 2 or 3 spatial axes.
    """
    lifted, flat = lift_1d(image)
    data = lifted.as_tensor()[..., 0, 0] if flat else lifted
    ndim, channels = data.ndim - 1, int(data.shape[0])
    if not callable(select_fn):
        raise SpaceTypeError(f"select_fn must be callable (voxel values -> foreground mask), got {select_fn!r:.60}")
    if channel_indices is not None:
        indices = np.atleast_1d(np.asarray(channel_indices))
        if indices.ndim != 1 or indices.size == 0 or indices.dtype == bool or not np.issubdtype(indices.dtype, np.integer):
            raise SpaceTypeError(f"channel_indices must be an int or a sequence of ints, got {channel_indices!r}")
        if np.any((indices < -channels) | (indices >= channels)):
            raise SpaceError(f"channel_indices {channel_indices!r} out of range for an image with {channels} channels")
    margins = _int_entries(margin, ndim, "margin", None)
    if np.any(margins < 0):
        raise SpaceError(f"margin must be >= 0, got {margin!r}")
    _int_entries(k_divisible, ndim, "k_divisible", None)  # <= 0 keeps the size along that axis, as MONAI
    start, end = generate_spatial_bounding_box(data, select_fn, channel_indices, margin, allow_smaller)
    start_v, end_v = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    size = np.maximum(end_v - start_v, 0)  # no foreground: [0, 0) on every axis, an empty box
    divisible = np.asarray(compute_divisible_spatial_size(size.tolist(), k=k_divisible), dtype=np.int64)
    start_v = start_v - np.floor_divide(divisible - size, 2)
    return start_v, start_v + divisible


def resolve_align(align: Optional[str], align_corners: Optional[bool], default: Align) -> Align:
    """Our ``align`` from MONAI's ``align_corners``: ``True`` keeps the corner voxel centres (``"centers"``).

    An explicit ``align`` wins; otherwise ``align_corners=True`` gives ``"centers"``,
    ``False`` gives ``"edges"`` and ``None`` the transform's ``default``.
    """
    if align is not None:
        if align not in ("edges", "centers"):
            raise ModeError(f"align must be 'edges' or 'centers', got {align!r}")
        return "edges" if align == "edges" else "centers"
    if align_corners is None:
        return default
    if not isinstance(align_corners, (bool, np.bool_)):
        raise ModeError(f"align_corners must be True, False or None, got {align_corners!r}")
    return "centers" if align_corners else "edges"


def as_torch_dtype(dtype: Any, key: Optional[Hashable] = None) -> Optional[torch.dtype]:
    """MONAI's ``dtype`` argument (numpy, torch or a name) as a floating torch dtype, or ``None``."""
    if dtype is None:
        return None
    try:
        torch_dtype = get_equivalent_dtype(dtype, torch.Tensor)
    except Exception as err:
        raise ModeError(f"dtype{_where(key)} must be a floating dtype, got {dtype!r}") from err
    if not isinstance(torch_dtype, torch.dtype) or not torch_dtype.is_floating_point:
        raise ModeError(f"dtype{_where(key)} must be a floating dtype, got {dtype!r}")
    return torch_dtype


class SpaceCrop(InvertibleTransform, LazyTransform):
    """Crop (and pad where the box leaves the image) to an index box. Never interpolates.

    MONAI ``SpatialCrop``'s arguments in its order; ours are keyword-only.

    Args:
        roi_center, roi_size: the box centred at ``roi_center`` (``start = center - size // 2``).
        roi_start, roi_end: box ``[start, end)`` in voxels of the input; may reach outside the grid.
        roi_slices: Python slices for the leading spatial axes (step 1), instead of the above;
            read as numpy reads them and clipped to the image, as MONAI's (see :func:`roi_box`).
            Every ROI argument may be a scalar or have fewer or more entries than axes (MONAI's rule).
        padding_mode: for voxels outside the input: ours ``"zeros"`` (``fill``), ``"border"``,
            ``"reflection"``, or any numpy/torch pad mode MONAI's ``SpatialPad`` takes (:mod:`.padding`).
        fill: the constant of ``"zeros"``/``"constant"`` padding.
        lazy: MONAI's flag. ``True``: MONAI's operations pending on the input reach this
            transform, which executes them with the crop in one resample (:mod:`.lazy`); the
            box is then in voxels of the pending grid.

    Input ``(C, *spatial)``; output ``(C, *box_size)`` with the cropped affine, bitwise
    equal to the input inside the image.
    """

    def __init__(
        self,
        roi_center: Any = None,
        roi_size: Any = None,
        roi_start: Any = None,
        roi_end: Any = None,
        roi_slices: Optional[Sequence[slice]] = None,
        lazy: bool = False,
        *,
        padding_mode: str = "zeros",
        fill: float = 0.0,
    ) -> None:
        LazyTransform.__init__(self, lazy=lazy)
        self.roi = (roi_center, roi_size, roi_start, roi_end, roi_slices)
        roi_box((1, 1, 1), *self.roi)  # the arguments' errors at construction (step, types, lengths), as MONAI's
        self.pad = crop_padding(padding_mode, fill)
        self.options = self.pad.options()

    def _box(
        self, source: Space, box: tuple[Any, Any] | None = None, key: Optional[Hashable] = None, lifted: bool = False
    ) -> tuple[Any, Any]:
        """The box in ``source``'s voxels: ``box``, else the constructor's, read on the image's own axes
        (a :func:`lift_1d` image's one axis), then extended to ``source``."""
        if box is not None:
            return box
        found = roi_box(source.shape[:1] if lifted else source.shape, *self.roi, key=key)
        if found is None:
            raise EmptyBoxError("SpaceCrop needs a box: roi_center/roi_size, roi_start/roi_end or roi_slices")
        return flat_box(found, lifted)

    def plan(self, source: Space, box: tuple[Any, Any] | None = None, key: Optional[Hashable] = None) -> Space:
        """The cropped Space for ``source`` (``box`` overrides the constructor's box; an empty box raises
        :class:`EmptyBoxError`: no Space is empty)."""
        return source.crop(*self._box(source, box, key))

    def __call__(
        self, img: Any, box: tuple[Any, Any] | None = None, options: WarpOptions | None = None, lazy: Optional[bool] = None
    ) -> torch.Tensor:
        """Crop ``img`` ``(C, *spatial)`` to the constructor's box (or ``box``, in voxels of the image as
        given); ``options`` overrides the padding. An empty box gives an empty image (:func:`empty_crop`)."""
        image, lifted = lift_1d(img)
        source = pending_space(image)
        start, end = (np.asarray(b, dtype=np.int64) for b in self._box(source, None if box is None else flat_box(box, lifted), lifted=lifted))
        info, lazy_ = self.get_transform_info(), runs_lazily(self, lazy)
        if np.any(end <= start):
            return lower_1d(empty_crop(image, source, start, end, info, lazy_), lifted)  # type: ignore[no-any-return]
        target = source.crop(start, end)
        if options is not None:
            return lower_1d(F.resample(image, target, options, info, lazy=lazy_), lifted)  # type: ignore[no-any-return]
        out = resample_padded(image, target, self.options, self.pad, start, source.shape, info, lazy=lazy_)
        return lower_1d(out, lifted)  # type: ignore[no-any-return]

    def inverse(self, data: Any) -> torch.Tensor:
        image, lifted = lift_1d(data)
        record, skipped = F.pop_record(self, image)
        if record[TraceKeys.EXTRA_INFO].get("empty_crop"):
            return lower_1d(_undo_empty_crop(image, record), lifted)  # type: ignore[no-any-return]
        return lower_1d(F.invert(image, record, skipped), lifted)  # type: ignore[no-any-return]


class SpaceCropForeground(SpaceCrop):
    """Crop to the foreground's bounding box, as MONAI ``CropForeground`` (same arguments, same order).

    Args:
        select_fn: voxel-wise foreground predicate (picklable default: MONAI's ``is_positive``).
        channel_indices: channels to look at (default: all).
        margin: voxels added on every side.
        allow_smaller: clip the grown box to the image (``True``) or pad (``False``); the default is
            the installed MONAI's (``False`` since MONAI 1.5, ``True`` before).
        return_coords: also return the box's start and end (``(cropped, start, end)``), as MONAI.
        k_divisible: grow the box to a multiple of ``k`` around its centre.
        mode, pad_kwargs: MONAI's pad mode (numpy's or torch's, or ours) and its ``np.pad``/``F.pad``
            arguments, for the part of the box outside the image (:mod:`.padding`).

    Input ``(C, *spatial)``; output ``(C, *box_size)``. A crop: never interpolates.
    """

    def __init__(
        self,
        select_fn: Callable[[Any], Any] = is_positive,
        channel_indices: Any = None,
        margin: Sequence[int] | int = 0,
        allow_smaller: bool = MONAI_ALLOW_SMALLER,
        return_coords: bool = False,
        k_divisible: Sequence[int] | int = 1,
        mode: str = "constant",
        lazy: bool = False,
        **pad_kwargs: Any,
    ) -> None:
        super().__init__(lazy=lazy)
        self.pad = parse_pad_mode(mode, pad_kwargs, name="mode")
        self.options = self.pad.options()
        self.select_fn, self.channel_indices, self.margin = select_fn, channel_indices, margin
        self.allow_smaller, self.k_divisible, self.return_coords = allow_smaller, k_divisible, return_coords

    def compute_bounding_box(self, img: Any) -> tuple[np.ndarray, np.ndarray]:
        """The box ``[start, end)`` of ``img``'s foreground (MONAI's rule, see :func:`foreground_box`)."""
        return foreground_box(img, self.select_fn, self.channel_indices, self.margin, self.allow_smaller, self.k_divisible)

    def __call__(
        self, img: Any, box: tuple[Any, Any] | None = None, options: WarpOptions | None = None, lazy: Optional[bool] = None
    ) -> torch.Tensor:
        image, lifted = lift_1d(img)
        # the foreground is found on the pending grid, its pixels computed by our engine in the image's own
        # recorded mode (not by MONAI's resampler, as requires_current_data would have it): reading the data
        # ends the segment, and the crop of what was read is a copy
        if box is None:
            image = F.execute_pending(image, end_segment=True)
            box = self.compute_bounding_box(lower_1d(image, lifted))
            if np.any(box[1] <= box[0]) and runs_lazily(self, lazy):  # no foreground, as MONAI's lazy crop
                raise EmptyBoxError("the image has no foreground: the crop is empty, which is not executed lazily (MONAI raises too)")
            lazy = False  # the crop's pixels are the segment's data: a following step reads them
        out = super().__call__(lower_1d(image, lifted), box, options, lazy)
        return (out, *box) if self.return_coords else out  # type: ignore[return-value]


class SpaceResample(InvertibleTransform, LazyTransform):
    """Resample to a ``pixdim``, a ``spatial_size`` or a ``zoom``, in one pass: the general form.

    Every argument is keyword-only: one class for three MONAI transforms cannot take MONAI's
    positional order, so a positional value is refused (:func:`refuse_positional`) instead of
    being misread. :class:`~.counterparts.SpaceSpacing`, :class:`~.counterparts.SpaceResize`
    and :class:`~.counterparts.SpaceZoom` take ``Spacing``'s, ``Resize``'s and ``Zoom``'s exact
    signatures; the grids are planned by the same functions (:mod:`.planning`).

    Args:
        pixdim: new voxel spacing, read as MONAI ``Spacing`` reads it (:func:`~.planning.monai_spacing`).
        diagonal: with ``pixdim``: onto a grid along the world axes (MONAI ``Spacing``'s ``diagonal``).
        mode: ``"bilinear"`` (default), ``"nearest"``, ``"bicubic"``, spline orders 0/1/3,
            or ours ``"label"`` (per-class linear, then argmax).
        padding_mode: ``"border"`` (default, as ``Spacing``), ``"zeros"``, ``"reflection"``.
        align_corners: MONAI's flag mapped onto ``align`` for ``spatial_size``/``zoom`` (see
            :func:`resolve_align`); accepted and without effect for ``pixdim``, where
            MONAI ``Spacing``'s grid does not depend on it either.
        dtype: floating dtype the interpolation computes in (``None``: the input's); the
            output keeps the input's floating dtype (float32 for integer input in linear
            modes); nearest and label keep the input dtype, bit for bit.
        spatial_size: new shape (``-1`` keeps an axis; an int with ``size_mode="longest"``).
        zoom: scale factor per axis (``floor(n * zoom)`` voxels, MONAI ``Zoom``'s rule).
        keep_size: with ``zoom``, crop/pad the zoomed grid centrally back to the input shape
            (default ``True``, as ``Zoom``).
        anti_aliasing: MONAI ``Resize``'s (default ``False``): where the resample shrinks an
            axis, ``linear``/``cubic`` sample a Gaussian-smoothed source, so that detail finer
            than the new voxels does not alias (``nearest``/``label`` ignore it).
        anti_aliasing_sigma: the Gaussian's standard deviation in source voxels, one or one
            per axis; ``None``: MONAI's ``max(0, (s - 1) / 2)`` for a shrink factor ``s``. See
            :class:`~monai_spacetx.engine.options.WarpOptions` for the kernel and the edges.
        thick_axis_mode, anisotropy_threshold: nnU-Net's "separate z" for anisotropic scans:
            ``"nearest"`` or ``"linear"`` along the thick axis (largest spacing, when the
            spacing ratio exceeds ``anisotropy_threshold``, default 3), ``mode`` in-plane;
            ``None`` (default) resamples every axis with ``mode``. See
            :class:`~monai_spacetx.engine.options.WarpOptions`.
        align: ``"edges"`` keeps the field of view's edges, ``"centers"`` the corner voxel
            centres. Default: ``"centers"`` for ``pixdim`` (MONAI ``Spacing``'s output affine
            and shape), ``"edges"`` for ``spatial_size``/``zoom`` (MONAI ``Resize``/``Zoom``).
        fill: the constant of ``"zeros"`` padding.
        lazy: MONAI's flag. ``True``: MONAI's operations pending on the input reach this
            transform, which plans from their grid and executes them with its own step in one
            resample (:mod:`.lazy`), the mode fused per :func:`~.lazy.fuse_options`.

    Input ``(C, *spatial)``; output ``(C, *target.shape)``.
    """

    def __init__(
        self,
        *positional: Any,
        pixdim: Sequence[float] | float | None = None,
        diagonal: bool = False,
        mode: Any = "bilinear",
        padding_mode: str = "border",
        align_corners: Optional[bool] = None,
        dtype: Any = None,
        spatial_size: Sequence[int] | int | None = None,
        size_mode: str = "all",
        zoom: Sequence[float] | float | None = None,
        keep_size: bool = True,
        anti_aliasing: bool = False,
        anti_aliasing_sigma: Any = None,
        thick_axis_mode: Optional[str] = None,
        anisotropy_threshold: float = 3.0,
        align: Optional[str] = None,
        fill: float = 0.0,
        lazy: bool = False,
    ) -> None:
        refuse_positional(type(self).__name__, positional)
        LazyTransform.__init__(self, lazy=lazy)
        given = {"pixdim": pixdim, "spatial_size": spatial_size, "zoom": zoom}
        if sum(v is not None for v in given.values()) > 1:
            raise SpaceError(f"give one of pixdim, spatial_size, zoom; got {given!r}")
        if diagonal and (pixdim is None or align == "edges"):
            raise ModeError("diagonal=True goes with pixdim (MONAI Spacing's corner-centred grid), not with spatial_size, zoom or align='edges'")
        self.diagonal = bool(diagonal)
        if size_mode not in ("all", "longest"):
            raise ModeError(f"size_mode must be 'all' or 'longest', got {size_mode!r}")
        if pixdim is not None:
            pixdim_values(pixdim)  # fail at construction, not per sample
        self.pixdim, self.spatial_size, self.size_mode, self.zoom, self.keep_size = pixdim, spatial_size, size_mode, zoom, keep_size
        # MONAI Spacing's output grid does not depend on align_corners (only its grid_sample call
        # does), so for pixdim the flag is accepted and the grid is Spacing's: corner centres kept
        self.align = resolve_align(align, None if pixdim is not None else align_corners, "centers" if pixdim is not None else "edges")
        self.dtype = as_torch_dtype(dtype)
        self.options = WarpOptions.parse(
            mode,
            padding_mode,
            fill,
            anti_aliasing=anti_aliasing,
            anti_aliasing_sigma=anti_aliasing_sigma,
            thick_axis_mode=thick_axis_mode,
            anisotropy_threshold=anisotropy_threshold,
        )

    def plan(self, source: Space, key: Optional[Hashable] = None) -> Space:
        """The target Space for ``source`` (``key`` is named in errors)."""
        if self.pixdim is not None:
            if self.align == "centers":
                return spacing_target(source, self.pixdim, self.diagonal, key=key)
            return source.respace(monai_spacing(self.pixdim, source, key=key), align=self.align)
        if self.zoom is not None:
            return zoom_target(source, self.zoom, self.keep_size, self.align)[0]
        if self.spatial_size is not None:
            return source.resize(resize_shape(source, self.spatial_size, self.size_mode, key), align=self.align)
        raise SpaceError("SpaceResample needs pixdim, spatial_size or zoom (or a target Space)")

    def __call__(
        self, img: Any, target: Space | None = None, options: WarpOptions | None = None, lazy: Optional[bool] = None
    ) -> torch.Tensor:
        """Resample ``img`` ``(C, *spatial)`` onto ``target`` (default: the planned Space)."""
        image = F.as_image(img)
        target = target if target is not None else self.plan(pending_space(image))
        info = self.get_transform_info()
        return F.resample(image, target, options or self.options, info, dtype=self.dtype, lazy=runs_lazily(self, lazy))

    def inverse(self, data: Any) -> torch.Tensor:
        image = F.as_image(data)
        return F.invert(image, *F.pop_record(self, image))


class SpaceInvert:
    """Map a prediction back to the native Space in **one** resample (MONAI ``Invert``'s arguments).

    MONAI ``Invert``'s signature in its order (``transform, nearest_interp, device, post_func,
    to_tensor``); ours keyword-only after it.

    Args:
        transform: MONAI's preprocessing transform (``Compose``), inverted step by step there;
            accepted, not needed here: the working grid is ``pred``'s (or ``ref``'s) affine, the
            native grid the one recorded at load time. Unlike MONAI, ``None`` is accepted.
        nearest_interp: with ``mode=None``, map back with ``"nearest"`` (``True``, MONAI's
            default) or ``"linear"`` (``False``, for probabilities/logits).
        to_tensor: accepted for MONAI compatibility; the output is always a tensor.
        device: move the output there (``None``: the prediction's device).
        post_func: callable applied to the output.
        mode: ours: ``"nearest"`` (centre-consistent), ``"label"`` (hard label maps from a
            coarser grid), ``"linear"``, ``"cubic"``, or MONAI's names; wins over ``nearest_interp``.
        padding_mode, fill: for native voxels the working grid does not cover.
        argmax: ours (MONAI ``AsDiscrete``'s name): ``pred`` holds ``K`` channels of
            probabilities or logits; interpolate them (``"linear"`` unless ``mode`` says
            ``"cubic"``; ``nearest_interp`` is ignored) and return their argmax, the native label
            map ``(1, *native)`` in the smallest integer dtype that holds ``K``, computed in tiles
            without ever holding ``K x native`` values. ``fill`` is the label outside the working
            grid. Ties go to the smaller class. ``mode="nearest"``/``"label"`` raise ``ModeError``.
        keep_prob: with ``argmax``, return ``(labels, prob)``: ``prob`` ``(1, *native)`` float32
            is the winning channel's interpolated value (0 outside the working grid).

    ``__call__(pred, ref=None)``: ``pred`` is ``(C, *working)``; its geometry comes from
    ``ref`` (the transformed input image, a MetaTensor) or, if ``ref`` is ``None``, from
    ``pred`` itself. The output is ``(C, *native)`` with the native affine and ``ref``'s
    metadata (file name etc.), and an empty ``applied_operations``. A plain tensor or array
    as ``ref`` (or as ``pred`` without ``ref``) has no geometry: :class:`MetadataError`.
    """

    def __init__(
        self,
        transform: Any = None,
        nearest_interp: bool = True,
        device: Any = None,
        post_func: Optional[Callable[[Any], Any]] = None,
        to_tensor: bool = True,
        *,
        mode: Any = None,
        padding_mode: str = "zeros",
        fill: float = 0.0,
        argmax: bool = False,
        keep_prob: bool = False,
    ) -> None:
        self.transform = transform
        self.options = WarpOptions.parse(default_mode(mode, nearest_interp, argmax), padding_mode, fill)
        check_argmax(self.options, mode, argmax, keep_prob)
        self.argmax, self.keep_prob = argmax, keep_prob
        check_inverted_options((device,), (post_func,))
        self.to_tensor, self.device, self.post_func = to_tensor, device, post_func

    def __call__(self, pred: Any, ref: Any = None, options: WarpOptions | None = None) -> Any:
        name, given = ("pred", pred) if ref is None else ("ref", ref)
        if not isinstance(given, MetaTensor):  # a plain tensor/array has no working grid to map back from
            F.as_image(given, name=name)  # None, paths, wrong dtypes or dims: that error first
            raise MetadataError(
                f"{name} is a plain {type(given).__name__} without geometry: pass ref= the transformed input "
                "image (a MetaTensor, whose affine is the working grid and whose metadata holds the native one)"
            )
        reference = F.as_image(given, name=name)
        if 0 in tuple(reference.shape[1:]):  # an empty crop's grid: nothing maps back
            out = map_back_empty(pred, reference, options or self.options, self.argmax, self.keep_prob)
        else:
            current = Space.from_metatensor(reference)
            out = F.map_back(
                pred, reference, current, native_space(reference), options or self.options, argmax=self.argmax, keep_prob=self.keep_prob
            )
        if self.keep_prob:
            return finish_inverted(out[0], self.device, self.post_func), finish_inverted(out[1], self.device, None)
        return finish_inverted(out, self.device, self.post_func)


def default_mode(mode: Any, nearest_interp: Any, argmax: Any = False) -> Any:
    """The mode to map back with: ``mode`` if given, else ``"linear"`` with ``argmax``, else MONAI
    ``Invertd``'s ``nearest_interp`` switch."""
    if mode is not None:
        return mode
    if argmax is True:
        return "linear"
    return "nearest" if nearest_interp else "linear"


def check_argmax(options: WarpOptions, mode: Any, argmax: Any, keep_prob: Any, key: Hashable | None = None) -> None:
    """``argmax``/``keep_prob`` are booleans, ``argmax`` interpolates (linear or cubic), ``keep_prob`` needs it; else ``ModeError``."""
    where = f" for key {key!r}" if key is not None else ""
    for name, value in (("argmax", argmax), ("keep_prob", keep_prob)):
        if not isinstance(value, bool):
            raise ModeError(f"{name}{where} must be True or False, got {value!r}")
    if keep_prob and not argmax:
        raise ModeError(f"keep_prob=True{where} returns the winning probability of argmax=True; set argmax=True too")
    if argmax and options.mode not in ("linear", "cubic"):
        raise ModeError(
            f"argmax=True{where} interpolates the K channels, then takes their argmax: mode must be 'linear' "
            f"(MONAI's 'bilinear') or 'cubic', got mode={mode!r}. The argmax of nearest samples is the nearest "
            "sample of the argmax (take it first and map back with mode='nearest'); mode='label' is for maps "
            "that already hold labels"
        )


def check_inverted_options(devices: Sequence[Any], post_funcs: Sequence[Any]) -> None:
    """MONAI ``Invertd``'s ``device`` (a torch device or its name) and ``post_func`` (a callable), or our error.

    MONAI skips a ``post_func`` that is not callable without a word; here it is refused at construction.
    """
    for device in devices:
        if device is not None:
            try:
                torch.device(device)
            except (RuntimeError, TypeError) as err:
                raise ModeError(f"device must be a torch device such as 'cpu' or 'cuda:0', got {device!r}") from err
    for func in post_funcs:
        if func is not None and not callable(func):
            raise SpaceTypeError(f"post_func must be callable (or None), got {type(func).__name__} {func!r:.60}")


def finish_inverted(out: torch.Tensor, device: Any, post_func: Optional[Callable[[Any], Any]]) -> Any:
    """MONAI ``Invertd``'s last steps: move to ``device``, apply ``post_func``."""
    if device is not None:
        out = out.to(device=device)
    return post_func(out) if callable(post_func) else out
