"""Array Space transforms: ``(C, *spatial)`` MetaTensor in, MetaTensor out.

Each transform plans a target :class:`Space` from the input's current Space
(``x.affine`` + ``x.shape[1:]``), executes it with one call of
:func:`monai_spacetx.warp_image`, and records what it did twice: in ``meta``
(``spacetx_space`` / ``spacetx_native``, see :mod:`.meta`) and on MONAI's
``applied_operations`` stack, so that MONAI's ``Invertd`` and ``Compose.inverse`` can
undo it. The recorded interpolation mode uses MONAI's names (``"nearest"``,
``"linear"``, ``"bicubic"``), which is what ``Invertd(nearest_interp=True)`` rewrites.

These transforms are not lazy: inside ``Compose(lazy=True)`` MONAI executes its pending
operations before they run, so the result equals the eager pipeline's.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform
from monai.utils import TraceKeys, convert_to_tensor

from ..engine import warp_image
from ..errors import EmptyBoxError, ModeError, ShapeMismatchError, SpaceError
from ..geometry.space import Space
from .meta import NATIVE_KEY, SPACE_KEY, get_native_space

__all__ = ["MODES", "SpaceCrop", "SpaceResample", "SpaceInvert", "foreground_box", "check_mode"]

#: Interpolation modes of the Space transforms (see :func:`monai_spacetx.warp_image`).
MODES = ("nearest", "linear", "cubic", "label")
Padding = Union[float, str]

# Our mode -> the name recorded for MONAI (so Invertd(nearest_interp=True) can rewrite it).
_TO_MONAI_MODE = {"nearest": "nearest", "linear": "linear", "cubic": "bicubic", "label": "linear"}
_FROM_MONAI_MODE = {"nearest": "nearest", "linear": "linear", "bicubic": "cubic"}


def check_mode(mode: Any, key: Any = None) -> str:
    """Validate one interpolation mode; ``key`` names the data key in the message."""
    if mode not in MODES:
        where = f" for key {key!r}" if key is not None else ""
        raise ModeError(f"unknown mode {mode!r}{where}; expected one of {MODES}")
    return str(mode)


def _as_metatensor(img: Any) -> MetaTensor:
    out = convert_to_tensor(img, track_meta=True)
    if not isinstance(out, MetaTensor):  # pragma: no cover - only when track_meta is switched off globally
        out = MetaTensor(out)
    if out.ndim not in (3, 4):
        raise ShapeMismatchError(f"expected a channel-first (C, H, W) or (C, H, W, D) image, got shape {tuple(out.shape)}")
    return out


def _finish(data: Any, like: MetaTensor, space: Space, native: Space) -> MetaTensor:
    """Wrap resampled ``data`` as a MetaTensor carrying ``like``'s metadata re-pointed at ``space``."""
    out = MetaTensor(convert_to_tensor(data, track_meta=False))
    out.copy_meta_from(like)  # copies the meta dict: ``like`` is never modified
    out.affine = torch.as_tensor(space.to_monai_affine(), dtype=torch.float64)
    if "pixdim" in out.meta:
        pixdim = np.array(out.meta["pixdim"], dtype=np.float64, copy=True)
        pixdim[1 : 1 + space.ndim] = space.spacing
        out.meta["pixdim"] = pixdim
    out.meta[SPACE_KEY] = space.to_json()
    out.meta[NATIVE_KEY] = native.to_json()
    return out


def resample_to(
    transform: InvertibleTransform, img: Any, target: Space, mode: str, padding: Padding, **extra: Any
) -> MetaTensor:
    """Resample ``img`` onto ``target`` in one pass and record the step for MONAI's inverse."""
    img = _as_metatensor(img)
    source = Space.from_metatensor(img)
    native = get_native_space(img)
    data = warp_image(img.as_tensor(), source, target, mode=mode, padding=padding)
    record = {
        "source": source.to_json(),
        "target": target.to_json(),
        "mode": _TO_MONAI_MODE[mode],
        "label_aware": mode == "label",
        "padding": padding,
        **extra,
    }
    meta_info = transform.track_transform_meta(
        img,
        sp_size=target.shape,
        extra_info=record,
        orig_size=source.shape,
        transform_info=transform.get_transform_info(),
        lazy=False,
    )
    return _finish(data, meta_info, target, native)


def invert_record(img: Any, record: dict) -> MetaTensor:
    """Undo one recorded Space step (MONAI ``inverse``): one resample from its target back to its source."""
    extra = record[TraceKeys.EXTRA_INFO]
    source, target = Space.from_json(extra["source"]), Space.from_json(extra["target"])
    img = _as_metatensor(img)
    if tuple(img.shape[1:]) != target.shape:
        raise ShapeMismatchError(
            f"cannot invert {record.get(TraceKeys.CLASS_NAME)}: image has spatial shape {tuple(img.shape[1:])}, "
            f"the transform produced {target.shape}"
        )
    monai_mode = extra["mode"]
    mode = "nearest" if monai_mode == "nearest" else ("label" if extra["label_aware"] else _FROM_MONAI_MODE[monai_mode])
    data = warp_image(img.as_tensor(), target, source, mode=mode, padding=extra["padding"])
    native = get_native_space(img) if NATIVE_KEY in img.meta else source
    return _finish(data, img, source, native)


def foreground_box(
    image: Any,
    margin: int | Sequence[int] = 0,
    select_fn: Callable[[Any], Any] = lambda x: x > 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Index box ``[start, end)`` of the voxels where ``select_fn`` holds in any channel, grown by ``margin``.

    Args:
        image: ``(C, *spatial)`` array or tensor.
        margin: voxels added on both sides (may reach outside the grid: that is padding).
        select_fn: voxel-wise predicate.

    Returns:
        ``(start, end)`` int64 arrays. With no foreground voxel the box is the whole grid.
    """
    mask = np.asarray(convert_to_tensor(select_fn(image), track_meta=False).cpu().numpy()).astype(bool)
    spatial = mask.shape[1:]
    margin_v = np.broadcast_to(np.asarray(margin, dtype=np.int64), (len(spatial),))
    if np.any(margin_v < 0):
        raise SpaceError(f"margin must be >= 0, got {margin!r}")
    mask = mask.any(axis=0)
    if not mask.any():
        return np.zeros(len(spatial), np.int64), np.array(spatial, np.int64)
    start, end = [], []
    for axis in range(len(spatial)):
        along = np.flatnonzero(mask.any(axis=tuple(a for a in range(len(spatial)) if a != axis)))
        start.append(along[0])
        end.append(along[-1] + 1)
    return np.array(start) - margin_v, np.array(end) + margin_v


def roi_box(
    ndim: int,
    roi_start: Sequence[int] | None = None,
    roi_end: Sequence[int] | None = None,
    roi_center: Sequence[int] | None = None,
    roi_size: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Index box from ``roi_start``/``roi_end`` or ``roi_center``/``roi_size`` (MONAI ``SpatialCrop``'s rule).

    Returns ``None`` when no box was given.
    """
    if roi_center is not None or roi_size is not None:
        if roi_center is None or roi_size is None or roi_start is not None or roi_end is not None:
            raise SpaceError("give roi_center and roi_size together, or roi_start and roi_end, not a mix")
        center, size = np.broadcast_to(np.asarray(roi_center), (ndim,)), np.broadcast_to(np.asarray(roi_size), (ndim,))
        start = np.asarray(center, dtype=np.int64) - np.floor_divide(np.asarray(size, dtype=np.int64), 2)
        return start, start + np.asarray(size, dtype=np.int64)
    if roi_start is None and roi_end is None:
        return None
    if roi_start is None or roi_end is None:
        raise SpaceError(f"give both roi_start and roi_end, got roi_start={roi_start!r}, roi_end={roi_end!r}")
    return np.broadcast_to(np.asarray(roi_start), (ndim,)), np.broadcast_to(np.asarray(roi_end), (ndim,))


class SpaceCrop(InvertibleTransform):
    """Crop (and pad where the box leaves the image) to an index box. Never interpolates.

    Args:
        roi_start, roi_end: box ``[start, end)`` in voxels of the input; may reach outside the grid.
        roi_center, roi_size: alternatively, the box centred at ``roi_center``
            (``start = center - size // 2``, as MONAI ``SpatialCrop``).
        padding: fill value for voxels outside the input.

    Input ``(C, *spatial)``; output ``(C, *box_size)`` with the cropped affine.
    """

    def __init__(
        self,
        roi_start: Sequence[int] | None = None,
        roi_end: Sequence[int] | None = None,
        roi_center: Sequence[int] | None = None,
        roi_size: Sequence[int] | None = None,
        padding: Padding = 0.0,
    ) -> None:
        self.roi = (roi_start, roi_end, roi_center, roi_size)
        self.padding = padding

    def plan(self, source: Space, box: tuple[Any, Any] | None = None) -> Space:
        """The cropped Space for ``source`` (``box`` overrides the constructor's box)."""
        box = box if box is not None else roi_box(source.ndim, *self.roi)
        if box is None:
            raise EmptyBoxError("SpaceCrop needs a box: roi_start/roi_end or roi_center/roi_size")
        return source.crop(*box)

    def __call__(self, img: Any, box: tuple[Any, Any] | None = None) -> MetaTensor:
        img = _as_metatensor(img)
        target = self.plan(Space.from_metatensor(img), box)
        return resample_to(self, img, target, "nearest", self.padding)

    def inverse(self, data: Any) -> MetaTensor:
        return invert_record(data, self.pop_transform(data))


class SpaceResample(InvertibleTransform):
    """Resample to a ``spatial_size``, a ``pixdim`` or a given target Space, in one pass.

    Args:
        spatial_size: new shape; entries ``-1`` keep the input's size along that axis.
        pixdim: new voxel spacing (direction unchanged), see :meth:`Space.respace`.
        align: ``"edges"`` (keep the field of view's edges, MONAI ``Resize``'s default) or
            ``"centers"`` (keep corner voxel centres, MONAI ``Spacing``'s default).
        mode: ``"nearest"``, ``"linear"``, ``"cubic"`` or ``"label"``.
        padding: constant fill, ``"border"`` or ``"reflection"``.

    Input ``(C, *spatial)``; output ``(C, *target.shape)``.
    """

    def __init__(
        self,
        spatial_size: Sequence[int] | None = None,
        pixdim: Sequence[float] | float | None = None,
        align: str = "edges",
        mode: str = "linear",
        padding: Padding = 0.0,
    ) -> None:
        if spatial_size is not None and pixdim is not None:
            raise SpaceError("give spatial_size or pixdim, not both")
        if align not in ("edges", "centers"):
            raise ModeError(f"align must be 'edges' or 'centers', got {align!r}")
        self.spatial_size, self.pixdim, self.align = spatial_size, pixdim, align
        self.mode = check_mode(mode)
        self.padding = padding

    def plan(self, source: Space) -> Space:
        """The target Space for ``source``."""
        if self.spatial_size is not None:
            size = list(np.broadcast_to(np.asarray(self.spatial_size), (source.ndim,)))
            size = [n if int(s) == -1 else int(s) for s, n in zip(size, source.shape)]
            return source.resize(size, align=self.align)  # type: ignore[arg-type]
        if self.pixdim is not None:
            return source.respace(self.pixdim, align=self.align)  # type: ignore[arg-type]
        raise SpaceError("SpaceResample needs spatial_size, pixdim or a target Space")

    def __call__(self, img: Any, target: Space | None = None, mode: str | None = None) -> MetaTensor:
        img = _as_metatensor(img)
        target = target if target is not None else self.plan(Space.from_metatensor(img))
        return resample_to(self, img, target, check_mode(mode or self.mode), self.padding)

    def inverse(self, data: Any) -> MetaTensor:
        return invert_record(data, self.pop_transform(data))


class SpaceInvert:
    """Map a prediction back to the native Space in **one** resample.

    Args:
        mode: ``"nearest"`` (centre-consistent), ``"label"`` (label-aware, for hard label
            maps from a coarser grid), ``"linear"`` (probabilities/logits) or ``"cubic"``.
        padding: fill for native voxels the working grid does not cover.

    ``__call__(pred, ref=None)``: ``pred`` is ``(C, *working)``; its geometry comes from
    ``ref`` (the transformed input image, a MetaTensor) or, if ``ref`` is ``None``, from
    ``pred`` itself. The output is ``(C, *native)`` with the native affine and ``ref``'s
    metadata (file name etc.), and an empty ``applied_operations``.
    """

    def __init__(self, mode: str = "nearest", padding: Padding = 0.0) -> None:
        self.mode = check_mode(mode)
        self.padding = padding

    def __call__(self, pred: Any, ref: Any = None, mode: str | None = None) -> MetaTensor:
        ref_t = _as_metatensor(pred if ref is None else ref)
        return self.invert(pred, ref_t, Space.from_metatensor(ref_t), get_native_space(ref_t), mode)

    def invert(self, pred: Any, ref: MetaTensor, current: Space, native: Space, mode: str | None = None) -> MetaTensor:
        """Map ``pred`` from ``current`` to ``native`` (spaces already read from ``ref``), with ``ref``'s metadata."""
        pred_t = pred.as_tensor() if isinstance(pred, MetaTensor) else convert_to_tensor(pred, track_meta=False)
        if tuple(pred_t.shape[1:]) != current.shape or pred_t.ndim != current.ndim + 1:
            raise ShapeMismatchError(
                f"prediction of shape {tuple(pred_t.shape)} does not lie on the working grid {current.shape} "
                "(expected (C, *working))"
            )
        data = warp_image(pred_t, current, native, mode=check_mode(mode or self.mode), padding=self.padding)
        out = _finish(data, ref, native, native)
        out.applied_operations = []
        return out
