"""MONAI adapters: array and dictionary Space transforms, their functional layer and the metadata helpers."""

from .array import MODES, SpaceCrop, SpaceCropForeground, SpaceInvert, SpaceResample, foreground_box
from .counterparts import SpaceResize, SpaceResized, SpaceSpacing, SpaceSpacingd, SpaceZoom, SpaceZoomd
from .dictionary import IN_GRID_SUFFIX, SpaceCropd, SpaceCropForegroundd, SpaceInvertd, SpaceResampled
from .meta import NATIVE_KEY, SPACE_KEY, get_native_space, get_space
from .sampling import (
    SpaceRandCropByLabelClasses,
    SpaceRandCropByLabelClassesd,
    SpaceRandCropByPosNegLabel,
    SpaceRandCropByPosNegLabeld,
    SpaceRandWeightedCrop,
    SpaceRandWeightedCropd,
)
from .sink import SpaceApplyPending, SpaceApplyPendingd

__all__ = [
    "MODES",
    "SpaceApplyPending",
    "SpaceApplyPendingd",
    "SpaceCrop",
    "SpaceCropForeground",
    "SpaceResample",
    "SpaceInvert",
    "foreground_box",
    "SpaceCropd",
    "SpaceCropForegroundd",
    "SpaceResampled",
    "SpaceInvertd",
    "SpaceSpacing",
    "SpaceSpacingd",
    "SpaceResize",
    "SpaceResized",
    "SpaceZoom",
    "SpaceZoomd",
    "SpaceRandCropByPosNegLabel",
    "SpaceRandCropByPosNegLabeld",
    "SpaceRandCropByLabelClasses",
    "SpaceRandCropByLabelClassesd",
    "SpaceRandWeightedCrop",
    "SpaceRandWeightedCropd",
    "IN_GRID_SUFFIX",
    "SPACE_KEY",
    "NATIVE_KEY",
    "get_space",
    "get_native_space",
]
