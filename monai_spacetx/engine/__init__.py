"""Torch resampling engine: classify a source→target plan (:func:`plan_warp`) and execute it
once (:func:`warp_image`) with one parsed :class:`WarpOptions`; on CPU tensors the general path
runs numba-compiled kernels (:mod:`.compiled`). Imports torch, numba and the geometry core, never
MONAI."""

from __future__ import annotations

from .compiled import compose_nearest_gather
from .options import MODES, PADDING_MODES, Mode, PaddingMode, WarpOptions
from .plan import PathKind, WarpPlan, plan_warp
from .warp import ImageLike, recent_plan, warp_image

__all__ = [
    "warp_image",
    "plan_warp",
    "recent_plan",
    "WarpPlan",
    "PathKind",
    "WarpOptions",
    "Mode",
    "PaddingMode",
    "MODES",
    "PADDING_MODES",
    "ImageLike",
    "compose_nearest_gather",
]
