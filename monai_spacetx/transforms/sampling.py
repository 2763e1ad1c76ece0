"""Crops that read the data to choose their boxes, and that make several samples: MONAI's
``RandCropByPosNegLabel(d)``, ``RandCropByLabelClasses(d)`` and ``RandWeightedCrop(d)`` with the
same signatures, the same random draws, and our engine where MONAI would flush.

MONAI's versions declare ``requires_current_data``: under ``Compose(lazy=True)`` MONAI executes
every pending operation with its own resampler before them (one mode for all keys: a label comes
back float32 and interpolated, MONAI issue #6850). Ours declare they do not need it, so MONAI
hands them the pending operations, and they execute what they *read* with our engine:

- the keys that are read (``label_key``, ``image_key``, ``w_key``) and the keys that are cropped
  are executed onto the pending grid by :func:`~.functional.execute_pending`, each with its own
  recorded mode (a label read by nearest or label mode, never interpolated): the segment ends
  there (one resample per key per segment, as in the eager chain);
- the boxes are then drawn by MONAI's own array transform (:meth:`randomize`, MONAI's code and
  random state: the same data and seed give MONAI's centres);
- each key of each sample is cropped by a copy of those pixels.

Each sample carries its own geometry and record (``patch_index``, ``crop_center`` in its meta
as MONAI writes them), so :class:`~.dictionary.SpaceInvertd`, MONAI's ``Invertd`` and
``Compose.inverse`` map each sample back on its own. The boxes follow MONAI's rule
(``start = max(center - size // 2, 0)``, clipped to the grid), so a box never pads.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any, Hashable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import RandCropByLabelClasses, RandCropByPosNegLabel, RandWeightedCrop
from monai.transforms.inverse import InvertibleTransform
from monai.transforms.traits import MultiSampleTrait
from monai.transforms.transform import LazyTransform, MapTransform, Randomizable
from monai.utils import fall_back_tuple

from ..engine.options import WarpOptions
from ..geometry.space import Space
from . import functional as F
from .dictionary import _PointsMixin, _require
from .functional import execute_pending
from .lazy import landmark_grid, pending_space

__all__ = [
    "sample_box",
    "SpaceRandCropByPosNegLabel",
    "SpaceRandCropByLabelClasses",
    "SpaceRandWeightedCrop",
    "SpaceRandCropByPosNegLabeld",
    "SpaceRandCropByLabelClassesd",
    "SpaceRandWeightedCropd",
]

#: A crop inside the grid copies: its padding is never used (the box is clipped as MONAI clips it).
_COPY = WarpOptions.parse("nearest", "zeros", 0.0)


def sample_box(center: Sequence[int], size: Sequence[int], shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The box ``[start, end)`` MONAI's ``SpatialCrop(roi_center=center, roi_size=size)`` cuts from a grid of ``shape``.

    ``start = max(center - size // 2, 0)``, ``end = min(start + size, shape)`` (slicing clips):

    >>> [b.tolist() for b in sample_box((5, 1), (4, 4), (8, 8))]
    [[3, 0], [7, 4]]
    """
    center_, size_, shape_ = (np.asarray(v, dtype=np.int64).reshape(-1) for v in (center, size, shape))
    start = np.maximum(center_ - size_ // 2, 0)
    return start, np.minimum(start + size_, shape_)


def _executed(img: Any, key: Optional[Hashable] = None) -> Any:
    """``img`` with its pending operations executed by our engine (its recorded modes), the segment ended there.

    ``None`` stays ``None``. A key whose pixels a step reads, and every key it crops, go on from
    these pixels: the crop is a copy of them (one resample per key per segment).
    """
    return None if img is None else execute_pending(img, key=key, end_segment=True)


class _Samples(InvertibleTransform):
    """The crops of a sampler: one per centre drawn by MONAI's ``randomize``; each undone by its own record."""

    centers: Any  # MONAI's randomize draws them (a list of centres, or None)
    spatial_size: Any

    def crop_samples(self, img: Any, lazy: Optional[bool] = None, key: Optional[Hashable] = None) -> list[torch.Tensor]:
        """One crop of ``img`` ``(C, *spatial)`` per drawn centre, ``(C, *spatial_size)`` each (clipped to the grid).

        ``lazy`` (MONAI's) changes nothing: a crop that read the data ends the lazy run (the next Space
        step reads the crop's pixels), whether the chain runs lazily or not.
        """
        image = F.as_image(img, key)
        grid = pending_space(image)
        size = fall_back_tuple(self.spatial_size, default=grid.shape)
        info = self.get_transform_info()
        samples: list[torch.Tensor] = []
        for index, center in enumerate(self.centers or ()):
            start, end = sample_box(center, size, grid.shape)
            # the crop's pixels are the segment's data (lazy or not): a following step reads them, not the data before
            out = F.resample(image, grid.crop(start, end), _COPY, info, key=key, lazy=False)
            if isinstance(out, MetaTensor):
                out.meta["patch_index"] = index
                out.meta["crop_center"] = center
            samples.append(out)
        return samples

    def inverse(self, data: Any) -> torch.Tensor:
        """Undo one sample's crop (a pad back onto the grid it was cut from)."""
        image = F.as_image(data)
        return F.invert(image, *F.pop_record(self, image))

    @property
    def requires_current_data(self) -> bool:
        """``False``: MONAI's ``Compose`` hands over the pending operations; what is read is executed by our engine."""
        return False


class SpaceRandCropByPosNegLabel(_Samples, RandCropByPosNegLabel):
    """MONAI ``RandCropByPosNegLabel`` (same arguments), reading the label through our engine.

    ``img``, ``label`` and ``image`` ``(C, *spatial)``; returns ``num_samples`` crops
    ``(C, *spatial_size)``, each with its own record (see :mod:`.sampling`).
    """

    def __call__(
        self,
        img: torch.Tensor,
        label: Optional[torch.Tensor] = None,
        image: Optional[torch.Tensor] = None,
        fg_indices: Any = None,
        bg_indices: Any = None,
        randomize: bool = True,
        lazy: Optional[bool] = None,
    ) -> list[torch.Tensor]:
        if randomize:
            label = _executed(self.label if label is None else label)
            image = _executed(self.image if image is None else image)
            self.randomize(label, fg_indices, bg_indices, image)
        return self.crop_samples(_executed(img), lazy)


class SpaceRandCropByLabelClasses(_Samples, RandCropByLabelClasses):
    """MONAI ``RandCropByLabelClasses`` (same arguments), reading the label through our engine."""

    def __call__(
        self,
        img: torch.Tensor,
        label: Optional[torch.Tensor] = None,
        image: Optional[torch.Tensor] = None,
        indices: Any = None,
        randomize: bool = True,
        lazy: Optional[bool] = None,
    ) -> list[torch.Tensor]:
        if randomize:
            label = _executed(self.label if label is None else label)
            image = _executed(self.image if image is None else image)
            self.randomize(label, indices, image)
        return self.crop_samples(_executed(img), lazy)


class SpaceRandWeightedCrop(_Samples, RandWeightedCrop):
    """MONAI ``RandWeightedCrop`` (same arguments), reading the weight map through our engine."""

    def __call__(
        self, img: torch.Tensor, weight_map: Any = None, randomize: bool = True, lazy: Optional[bool] = None
    ) -> list[torch.Tensor]:
        if randomize:
            self.randomize(_executed(self.weight_map if weight_map is None else weight_map))
        return self.crop_samples(_executed(img), lazy)


class _Samplesd(Randomizable, MapTransform, InvertibleTransform, LazyTransform, MultiSampleTrait, _PointsMixin):
    """Dictionary form: execute what is read, draw once, crop every key per sample; landmarks per sample."""

    cropper: Any  # one of the array samplers above (a MONAI sampler with our crops)
    read_keys: tuple[Optional[Hashable], ...]

    def _init(self, keys: KeysCollection, allow_missing_keys: bool, lazy: bool, points: Mapping[str, Any]) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy)
        self._init_points(**points)

    @LazyTransform.lazy.setter  # type: ignore[attr-defined,untyped-decorator]
    def lazy(self, value: bool) -> None:
        self._lazy = value
        self.cropper.lazy = value

    @property
    def requires_current_data(self) -> bool:
        """``False``: what is read is executed by our engine, never by MONAI's resampler."""
        return False

    def set_random_state(self, seed: Optional[int] = None, state: Optional[np.random.RandomState] = None) -> "_Samplesd":
        """Seed this transform and the MONAI sampler that draws the centres (as MONAI's dictionary form)."""
        super().set_random_state(seed, state)
        self.cropper.set_random_state(seed, state)
        return self

    def randomize(self, *args: Any, **kwargs: Any) -> None:
        """Draw the centres with MONAI's sampler (its ``randomize`` arguments), as MONAI's dictionary form."""
        self.cropper.randomize(*args, **kwargs)

    def _draw(self, d: dict[Hashable, Any]) -> None:
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> list[dict[Hashable, Any]]:
        """``num_samples`` dicts: every key cropped around one drawn centre, landmarks moved with it."""
        d = self._as_dict(data)
        present = list(self.key_iterator(d))
        first = present[0] if present else next((k for k in self.read_keys if k is not None and k in d), None)
        grid = pending_space(F.as_image(d[first], first)) if first is not None else None
        points_from = landmark_grid(F.as_image(d[first], first)) if first is not None else None
        for key in dict.fromkeys([*self.read_keys, *present]):  # executed once by our engine: the segment ends here
            if key is not None and key in d:
                d[key] = _executed(d[key], key)
        self._draw(d)
        samples: list[dict[Hashable, Any]] = [dict(d) for _ in self.cropper.centers or ()]
        for sample in samples:  # as MONAI: what is not cropped is copied into every sample
            for key in set(d).difference(self.keys):
                sample[key] = deepcopy(d[key])
        for key in present:
            for sample, crop in zip(samples, self.cropper.crop_samples(d[key], lazy, key)):
                sample[key] = crop
        if grid is None or points_from is None:
            self._no_grid(d)  # landmarks or boxes with no image to move with: refused, never left where they were
        else:
            size = fall_back_tuple(self.cropper.spatial_size, default=grid.shape)
            for sample, center in zip(samples, self.cropper.centers or ()):
                self._move_points(sample, points_from, grid.crop(*sample_box(center, size, grid.shape)))
        return samples

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Undo one sample's crop on every key (each sample carries its own record)."""
        d = self._as_dict(data)
        for key in self.key_iterator(d):
            d[key] = self.cropper.inverse(d[key])
        return d


def _pop(d: dict[Hashable, Any], key: Optional[Hashable]) -> Any:
    return d.pop(key, None) if key is not None else None


class SpaceRandCropByPosNegLabeld(_Samplesd):
    """MONAI ``RandCropByPosNegLabeld`` (same arguments, same order, same draws), without MONAI's flush.

    The label (and ``image_key``, for ``image_threshold``) is read from the pending grid through
    our engine with its own mode; see :mod:`.sampling`. Ours, keyword-only: ``point_keys``,
    ``point_coords`` (landmarks move into each sample, ``{point_key}_in_grid`` flags them) and
    ``box_keys``, ``box_mode``, ``box_coords``, ``box_format`` (boxes, as on every dictionary transform of ours).

    Input: a dict of ``(C, *spatial)`` images; output: ``num_samples`` dicts of ``(C, *spatial_size)``.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str,
        spatial_size: Sequence[int] | int,
        pos: float = 1.0,
        neg: float = 1.0,
        num_samples: int = 1,
        image_key: Optional[str] = None,
        image_threshold: float = 0.0,
        fg_indices_key: Optional[str] = None,
        bg_indices_key: Optional[str] = None,
        allow_smaller: bool = False,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
        point_keys: Optional[KeysCollection] = None,
        point_coords: str = "index",
        box_keys: Optional[KeysCollection] = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
    ) -> None:
        self.cropper = SpaceRandCropByPosNegLabel(
            spatial_size=spatial_size, pos=pos, neg=neg, num_samples=num_samples,
            image_threshold=image_threshold, allow_smaller=allow_smaller, lazy=lazy,
        )
        self._init(keys, allow_missing_keys, lazy, dict(point_keys=point_keys, point_coords=point_coords, box_keys=box_keys, box_mode=box_mode, box_coords=box_coords, box_format=box_format))
        self.label_key, self.image_key = label_key, image_key
        self.fg_indices_key, self.bg_indices_key = fg_indices_key, bg_indices_key
        self.read_keys = (label_key, image_key)

    def _draw(self, d: dict[Hashable, Any]) -> None:
        fg, bg = _pop(d, self.fg_indices_key), _pop(d, self.bg_indices_key)
        self.cropper.randomize(d.get(self.label_key), fg, bg, d.get(self.image_key))


class SpaceRandCropByLabelClassesd(_Samplesd):
    """MONAI ``RandCropByLabelClassesd`` (same arguments, same order, same draws), without MONAI's flush.

    The label (and ``image_key``) is read from the pending grid through our engine with its own
    mode; see :mod:`.sampling`. Ours, keyword-only: ``point_keys``, ``point_coords`` and the box arguments.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str,
        spatial_size: Sequence[int] | int,
        ratios: Optional[list[float | int]] = None,
        num_classes: Optional[int] = None,
        num_samples: int = 1,
        image_key: Optional[str] = None,
        image_threshold: float = 0.0,
        indices_key: Optional[str] = None,
        allow_smaller: bool = False,
        allow_missing_keys: bool = False,
        warn: bool = True,
        max_samples_per_class: Optional[int] = None,
        lazy: bool = False,
        *,
        point_keys: Optional[KeysCollection] = None,
        point_coords: str = "index",
        box_keys: Optional[KeysCollection] = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
    ) -> None:
        self.cropper = SpaceRandCropByLabelClasses(
            spatial_size=spatial_size, ratios=ratios, num_classes=num_classes, num_samples=num_samples,
            image_threshold=image_threshold, allow_smaller=allow_smaller, warn=warn,
            max_samples_per_class=max_samples_per_class, lazy=lazy,
        )
        self._init(keys, allow_missing_keys, lazy, dict(point_keys=point_keys, point_coords=point_coords, box_keys=box_keys, box_mode=box_mode, box_coords=box_coords, box_format=box_format))
        self.label_key, self.image_key, self.indices_key = label_key, image_key, indices_key
        self.read_keys = (label_key, image_key)

    def _draw(self, d: dict[Hashable, Any]) -> None:
        indices = _pop(d, self.indices_key)
        self.cropper.randomize(d.get(self.label_key), indices, d.get(self.image_key))


class SpaceRandWeightedCropd(_Samplesd):
    """MONAI ``RandWeightedCropd`` (same arguments, same order, same draws), without MONAI's flush.

    The weight map ``w_key`` is read from the pending grid through our engine with its own mode;
    see :mod:`.sampling`. Ours, keyword-only: ``point_keys``, ``point_coords`` and the box arguments.
    """

    def __init__(
        self,
        keys: KeysCollection,
        w_key: str,
        spatial_size: Sequence[int] | int,
        num_samples: int = 1,
        allow_missing_keys: bool = False,
        lazy: bool = False,
        *,
        point_keys: Optional[KeysCollection] = None,
        point_coords: str = "index",
        box_keys: Optional[KeysCollection] = None,
        box_mode: Any = None,
        box_coords: str = "index",
        box_format: str = "boxes",
    ) -> None:
        self.cropper = SpaceRandWeightedCrop(spatial_size=spatial_size, num_samples=num_samples, lazy=lazy)
        self._init(keys, allow_missing_keys, lazy, dict(point_keys=point_keys, point_coords=point_coords, box_keys=box_keys, box_mode=box_mode, box_coords=box_coords, box_format=box_format))
        self.w_key = w_key
        self.read_keys = (w_key,)

    def _draw(self, d: dict[Hashable, Any]) -> None:
        self.cropper.randomize(_require(d, self.w_key, "w_key"))
