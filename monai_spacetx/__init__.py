"""monai-spacetx: plan crops and resamples on an immutable ``Space``, execute them once, and
map predictions and landmarks back to the scan's native geometry exactly.

Layers (imports point downward): the numpy geometry core (:mod:`.space`, :mod:`.points`),
the torch engine (:mod:`.engine`), the MONAI transforms (:mod:`.transforms`); interop
with nibabel and SimpleITK sits at the edge (:mod:`.interop`).
"""

from __future__ import annotations

from .errors import (
    EmptyBoxError,
    MetadataError,
    ModeError,
    PointsError,
    ShapeMismatchError,
    SpaceError,
    SpaceTxError,
    SpaceTypeError,
)
from .points import index_map, index_to_world, map_points, world_to_index
from .space import Space

__version__ = "0.1.0"

__all__ = [
    "Space",
    "index_map",
    "index_to_world",
    "world_to_index",
    "map_points",
    "SpaceTxError",
    "SpaceError",
    "EmptyBoxError",
    "ShapeMismatchError",
    "PointsError",
    "ModeError",
    "MetadataError",
    "SpaceTypeError",
]
