"""Box keys of the dictionary transforms: MONAI's box modes in and out, the exact geometry in between.

The dictionary transforms (``box_keys=``) move boxes with the image through :class:`BoxOptions`
and :func:`move_boxes`, called from the one landmark path (``_PointsMixin._move_points``).
The geometry (box coordinates, the half voxel, corners, world boxes) is
:mod:`monai_spacetx.geometry.boxes`; MONAI's other box modes (``cccwhd``, ``xxyyzz``, ...) are
converted to and from its standard mode by MONAI's own ``monai.data.box_utils``. (In the size
modes MONAI rounds the sizes to float32, its ``COMPUTE_DTYPE``; standard-mode boxes stay float64.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Optional

import numpy as np
import numpy.typing as npt
from monai.data.box_utils import BoxMode, StandardMode, convert_box_mode, get_boxmode
from monai.data.meta_tensor import MetaTensor

from ..errors import ModeError, PointsError
from ..geometry.boxes import (
    as_float64_boxes,
    box_corners,
    boxes_in_grid,
    boxes_to_world,
    corners_to_boxes,
    map_boxes,
)
from ..geometry.points import _like, as_float64_array
from ..geometry.space import Space

__all__ = ["BoxOptions", "move_boxes"]

#: Relative tolerance of the mode round trip that detects a negative size (MONAI clamps it to 0 in float32).
_MODE_ROUND_TRIP_RTOL = 1e-6


@dataclass(frozen=True)
class BoxOptions:
    """How a transform reads and writes its box keys.

    Attributes:
        mode: MONAI's box mode of the ``(N, 2D)`` boxes, in and out (a ``BoxMode``).
        coords_in: ``"index"`` (box coordinates of the grid the boxes are on) or ``"world"``.
        coords_out: the same choice for the output (``SpaceInvertd``: the native grid's, or world).
        box_format: ``"boxes"`` (axis-aligned, in ``mode``) or ``"corners"`` (``(N, 2^D, D)``).
    """

    mode: BoxMode
    coords_in: str
    coords_out: str
    box_format: str

    @classmethod
    def parse(cls, box_mode: Any, box_coords: str, box_format: str, coords_in: Optional[str] = None) -> "BoxOptions":
        """Validate the transform's arguments (``coords_in`` defaults to ``box_coords``).

        Raises:
            ModeError: naming the argument and the value.
        """
        try:
            mode = get_boxmode(box_mode)
        except (ValueError, TypeError) as err:
            raise ModeError(f"box_mode must be one of MONAI's box modes (monai.data.box_utils, e.g. 'xyzxyz', 'cccwhd'), got {box_mode!r}") from err
        for name, value in (("box_coords", box_coords), ("box coordinates in", coords_in or box_coords)):
            if value not in ("index", "world"):
                raise ModeError(f"{name} must be 'index' or 'world', got {value!r}")
        if box_format not in ("boxes", "corners"):
            raise ModeError(f"box_format must be 'boxes' or 'corners', got {box_format!r}")
        return cls(mode, coords_in or box_coords, box_coords, box_format)


def _standard(value: Any, mode: BoxMode, ndim: int, key: Hashable) -> npt.NDArray[np.float64]:
    """``value`` as validated float64 standard-mode boxes, or corners as they are."""
    name = f"box key {key!r}"
    raw = as_float64_array(value, name)
    if raw.ndim == 2 and raw.shape[1] == 2 * ndim and len(raw) and not isinstance(mode, StandardMode):
        if not np.all(np.isfinite(raw)):
            as_float64_boxes(raw, ndim, name)  # names the rows
        standard = np.asarray(convert_box_mode(raw, src_mode=mode, dst_mode=StandardMode()), dtype=np.float64)
        back = np.asarray(convert_box_mode(standard, src_mode=StandardMode(), dst_mode=mode), dtype=np.float64)
        wrong = ~np.all(np.isclose(back, raw, rtol=_MODE_ROUND_TRIP_RTOL, atol=_MODE_ROUND_TRIP_RTOL), axis=1)
        if wrong.any():
            rows = np.flatnonzero(wrong)
            raise PointsError(
                f"{name}: boxes in mode {type(mode).__name__} with a negative size or inverted edges in rows "
                f"{rows.tolist()}: {raw[rows].tolist()!r} (MONAI's box_utils would clamp them)"
            )
        raw = standard
    return as_float64_boxes(raw, ndim, name)


def move_boxes(value: Any, source: Space, target: Space, options: BoxOptions, key: Hashable) -> tuple[Any, npt.NDArray[np.bool_]]:
    """One box key moved from ``source`` to ``target`` (the grids the landmarks move between).

    Returns:
        ``(boxes, in_grid)``: the boxes (or corners) in ``options``' output coordinates, mode and
        format, in the input's container (a tensor stays a tensor, float64); ``in_grid`` ``(N,)``:
        whether each box lies wholly inside ``target``'s field of view. Nothing is dropped or clipped.

    Raises:
        PointsError: the boxes are malformed (naming the key and the rows).
    """
    template = value.as_tensor() if isinstance(value, MetaTensor) else value
    arr = _standard(template, options.mode, source.ndim, key)
    name = f"box key {key!r}"
    if options.coords_in == "index":
        corners = np.asarray(map_boxes(arr, source, target, "corners", name))
        in_grid = boxes_in_grid(corners, target, "index", name)
        if options.coords_out == "world":
            corners = np.asarray(boxes_to_world(corners, target, "corners", name))
    else:  # world boxes are regions of the world: no grid moves them
        corners = box_corners(arr) if arr.ndim == 2 else arr
        in_grid = boxes_in_grid(corners, target, "world", name)
    if options.box_format == "corners":
        return _like(corners, template, None), in_grid
    boxes = corners_to_boxes(corners)
    if not isinstance(options.mode, StandardMode) and len(boxes):
        boxes = np.asarray(convert_box_mode(boxes, src_mode=StandardMode(), dst_mode=options.mode), dtype=np.float64)
    return _like(boxes, template, None), in_grid
