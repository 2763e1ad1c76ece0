"""Torch resampling engine: classify a source→target plan (:func:`plan_warp`) and execute it
once (:func:`warp_image`). Imports torch and the geometry core, never MONAI."""

from __future__ import annotations

from .plan import PathKind, WarpPlan, plan_warp
from .warp import MODES, PADDINGS, warp_image

__all__ = ["warp_image", "plan_warp", "WarpPlan", "PathKind", "MODES", "PADDINGS"]
