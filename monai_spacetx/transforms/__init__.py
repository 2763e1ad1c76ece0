"""MONAI adapters: array and dictionary Space transforms and the metadata helpers."""

from .array import MODES, SpaceCrop, SpaceInvert, SpaceResample, foreground_box
from .dictionary import IN_GRID_SUFFIX, SpaceCropd, SpaceInvertd, SpaceResampled
from .meta import NATIVE_KEY, SPACE_KEY, get_native_space, get_space

__all__ = [
    "MODES",
    "SpaceCrop",
    "SpaceResample",
    "SpaceInvert",
    "foreground_box",
    "SpaceCropd",
    "SpaceResampled",
    "SpaceInvertd",
    "IN_GRID_SUFFIX",
    "SPACE_KEY",
    "NATIVE_KEY",
    "get_space",
    "get_native_space",
]
