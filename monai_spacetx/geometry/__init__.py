"""The geometry core, numpy only: the :class:`Space` value object, point and box maps, and tolerances.

Nothing here imports torch or MONAI; the engine and the transforms build on it.
"""

from __future__ import annotations

from .boxes import (
    EDGE_OFFSET,
    BoxFormat,
    as_float64_boxes,
    box_corners,
    boxes_in_grid,
    boxes_to_world,
    corners_to_boxes,
    map_boxes,
    transform_boxes,
    world_to_boxes,
)
from .points import (
    FloatArray,
    NumpyPoints,
    apply_affine,
    as_float64_array,
    as_float64_points,
    index_map,
    index_to_world,
    map_points,
    snap,
    world_to_index,
)
from .space import DEFAULT_THROUGH_PLANE, Align, ArrayLike, Coords, IntsLike, ShapeLike, Space

__all__ = [
    "Space",
    "DEFAULT_THROUGH_PLANE",
    "Align",
    "Coords",
    "ArrayLike",
    "IntsLike",
    "ShapeLike",
    "FloatArray",
    "NumpyPoints",
    "apply_affine",
    "as_float64_array",
    "as_float64_points",
    "index_map",
    "index_to_world",
    "map_points",
    "snap",
    "world_to_index",
    "EDGE_OFFSET",
    "BoxFormat",
    "as_float64_boxes",
    "box_corners",
    "boxes_in_grid",
    "boxes_to_world",
    "corners_to_boxes",
    "map_boxes",
    "transform_boxes",
    "world_to_boxes",
]
