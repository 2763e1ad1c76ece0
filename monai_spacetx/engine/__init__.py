"""Torch resampling engine: classify a source→target plan (:func:`plan_warp`) and execute it
once (:func:`warp_image`) with one parsed :class:`WarpOptions`. Imports torch and the geometry
core, never MONAI."""

from __future__ import annotations

from .options import MODES, PADDING_MODES, Mode, PaddingMode, WarpOptions
from .plan import PathKind, WarpPlan, plan_warp
from .warp import ImageLike, warp_image

__all__ = [
    "warp_image",
    "plan_warp",
    "WarpPlan",
    "PathKind",
    "WarpOptions",
    "Mode",
    "PaddingMode",
    "MODES",
    "PADDING_MODES",
    "ImageLike",
]
