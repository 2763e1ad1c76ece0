"""The geometry core, numpy only: the :class:`Space` value object, point maps and tolerances.

Nothing here imports torch or MONAI; the engine and the transforms build on it.
"""

from __future__ import annotations

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
]
