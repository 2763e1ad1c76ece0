"""monai-spacetx: plan crops and resamples on an immutable ``Space``, execute them once, and
map predictions and landmarks back to the scan's native geometry exactly.

Layers (imports point downward): the numpy geometry core (:mod:`.space`, :mod:`.points`),
the torch engine (:mod:`.engine`), the MONAI transforms (:mod:`.transforms`); interop
with nibabel and SimpleITK sits at the edge (:mod:`.interop`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    EmptyBoxError,
    MetadataError,
    ModeError,
    PointsError,
    ShapeMismatchError,
    SpaceError,
    SpaceTxError,
    SpaceTypeError,
    SpaceTxWarning,
)
from .geometry.boxes import boxes_to_world, map_boxes, world_to_boxes
from .geometry.points import index_map, index_to_world, map_points, world_to_index
from .geometry.space import Space

__version__ = "0.1.0"

# The engine (torch) and the MONAI adapters load lazily, so the numpy geometry core imports
# without them; bundle configs naming ``monai_spacetx.SpaceCropd`` resolve through this hook.
_TRANSFORMS = (
    "SpaceCrop",
    "SpaceCropd",
    "SpaceCropForeground",
    "SpaceCropForegroundd",
    "SpaceResample",
    "SpaceResampled",
    "SpaceInvert",
    "SpaceInvertd",
    "SpaceSpacing",
    "SpaceSpacingd",
    "SpaceResize",
    "SpaceResized",
    "SpaceZoom",
    "SpaceZoomd",
    "SpaceApplyPending",
    "SpaceApplyPendingd",
    "SpaceRandCropByPosNegLabel",
    "SpaceRandCropByPosNegLabeld",
    "SpaceRandCropByLabelClasses",
    "SpaceRandCropByLabelClassesd",
    "SpaceRandWeightedCrop",
    "SpaceRandWeightedCropd",
    "get_space",
    "get_native_space",
)


if TYPE_CHECKING:  # the lazily loaded names, for type checkers (kept in step with _TRANSFORMS)
    from .engine import warp_image
    from .transforms import (
        SpaceApplyPending,
        SpaceApplyPendingd,
        SpaceCrop,
        SpaceCropd,
        SpaceCropForeground,
        SpaceCropForegroundd,
        SpaceInvert,
        SpaceInvertd,
        SpaceRandCropByLabelClasses,
        SpaceRandCropByLabelClassesd,
        SpaceRandCropByPosNegLabel,
        SpaceRandCropByPosNegLabeld,
        SpaceRandWeightedCrop,
        SpaceRandWeightedCropd,
        SpaceResample,
        SpaceResampled,
        SpaceResize,
        SpaceResized,
        SpaceSpacing,
        SpaceSpacingd,
        SpaceZoom,
        SpaceZoomd,
        get_native_space,
        get_space,
    )


def __getattr__(name: str) -> Any:
    if name not in _TRANSFORMS and name != "warp_image":
        raise AttributeError(f"module 'monai_spacetx' has no attribute {name!r}")
    # An AttributeError raised while loading torch or MONAI code (e.g. ``torch.uint16`` on a torch
    # older than the declared floor) would leave this hook as "cannot import name ..."; it surfaces
    # as the ImportError it really is, naming the cause.
    try:
        if name == "warp_image":
            from .engine import warp_image

            return warp_image
        from . import transforms
    except AttributeError as err:
        raise ImportError(
            f"monai_spacetx.{name} could not be loaded: {type(err).__name__}: {err} (check the installed torch and "
            "MONAI against the versions pyproject.toml declares)"
        ) from err
    return getattr(transforms, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TRANSFORMS) | {"warp_image"})

__all__ = [
    "Space",
    "index_map",
    "index_to_world",
    "world_to_index",
    "map_points",
    "map_boxes",
    "boxes_to_world",
    "world_to_boxes",
    "SpaceTxError",
    "SpaceError",
    "EmptyBoxError",
    "ShapeMismatchError",
    "PointsError",
    "ModeError",
    "MetadataError",
    "SpaceTypeError",
    "SpaceTxWarning",
    "warp_image",
    *_TRANSFORMS,
]
