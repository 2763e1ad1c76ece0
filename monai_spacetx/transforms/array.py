"""Array Space transforms: ``(C, *spatial)`` MetaTensor in, MetaTensor out.

Each transform parses its options once, at construction (:class:`WarpOptions`), plans a
target :class:`Space` from the input's current Space (``x.affine`` + ``x.shape[1:]``) and
hands both to :mod:`.functional`, which executes one warp, records the step on MONAI's
``applied_operations`` (so ``Invertd`` and ``Compose.inverse`` can undo it) and writes the
metadata (``spacetx_space`` / ``spacetx_native``, see :mod:`.meta`).

These transforms are not lazy: inside ``Compose(lazy=True)`` MONAI executes its pending
operations before they run, so the result equals the eager pipeline's.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Optional, Sequence, Union

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import InvertibleTransform
from monai.utils import convert_to_tensor

from ..engine.options import MODES, WarpOptions
from ..errors import EmptyBoxError, ModeError, SpaceError
from ..geometry.space import Space
from . import functional as F
from .meta import get_native_space

__all__ = ["MODES", "SpaceCrop", "SpaceResample", "SpaceInvert", "foreground_box", "parse_options"]

Padding = Union[float, str]


def parse_options(mode: Any, padding: Any, key: Optional[Hashable] = None) -> WarpOptions:
    """Options from a mode and a ``padding`` (a constant fill, or a padding mode name); ``key`` is named in errors."""
    if isinstance(padding, str):
        return WarpOptions.parse(mode, padding, 0.0, key=key)
    return WarpOptions.parse(mode, "zeros", padding, key=key)


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
        self.options = parse_options("nearest", padding)

    def plan(self, source: Space, box: tuple[Any, Any] | None = None) -> Space:
        """The cropped Space for ``source`` (``box`` overrides the constructor's box)."""
        box = box if box is not None else roi_box(source.ndim, *self.roi)
        if box is None:
            raise EmptyBoxError("SpaceCrop needs a box: roi_start/roi_end or roi_center/roi_size")
        return source.crop(*box)

    def __call__(
        self, img: Any, box: tuple[Any, Any] | None = None, options: WarpOptions | None = None
    ) -> torch.Tensor:
        """Crop ``img`` ``(C, *spatial)`` to the constructor's box (or ``box``); ``options`` overrides the padding."""
        image = F.as_image(img)
        target = self.plan(Space.from_metatensor(image), box)
        return F.resample(image, target, options or self.options, self.get_transform_info())

    def inverse(self, data: Any) -> torch.Tensor:
        return F.invert(data, self.pop_transform(data))


class SpaceResample(InvertibleTransform):
    """Resample to a ``spatial_size``, a ``pixdim`` or a given target Space, in one pass.

    Args:
        spatial_size: new shape; entries ``-1`` keep the input's size along that axis.
        pixdim: new voxel spacing (direction unchanged), see :meth:`Space.respace`.
        align: ``"edges"`` (keep the field of view's edges, MONAI ``Resize``'s default) or
            ``"centers"`` (keep corner voxel centres, MONAI ``Spacing``'s default).
        mode: ``"nearest"``, ``"linear"``, ``"cubic"`` or ``"label"`` (or MONAI's names).
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
        self.options = parse_options(mode, padding)

    def plan(self, source: Space) -> Space:
        """The target Space for ``source``."""
        if self.spatial_size is not None:
            size = list(np.broadcast_to(np.asarray(self.spatial_size), (source.ndim,)))
            size = [n if int(s) == -1 else int(s) for s, n in zip(size, source.shape)]
            return source.resize(size, align=self.align)  # type: ignore[arg-type]
        if self.pixdim is not None:
            return source.respace(self.pixdim, align=self.align)  # type: ignore[arg-type]
        raise SpaceError("SpaceResample needs spatial_size, pixdim or a target Space")

    def __call__(self, img: Any, target: Space | None = None, options: WarpOptions | None = None) -> torch.Tensor:
        """Resample ``img`` ``(C, *spatial)`` onto ``target`` (default: the planned Space)."""
        image = F.as_image(img)
        target = target if target is not None else self.plan(Space.from_metatensor(image))
        return F.resample(image, target, options or self.options, self.get_transform_info())

    def inverse(self, data: Any) -> torch.Tensor:
        return F.invert(data, self.pop_transform(data))


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
        self.options = parse_options(mode, padding)

    def __call__(self, pred: Any, ref: Any = None, options: WarpOptions | None = None) -> torch.Tensor:
        reference = F.as_image(pred if ref is None else ref)
        current = Space.from_metatensor(reference)
        return F.map_back(pred, reference, current, get_native_space(reference), options or self.options)
