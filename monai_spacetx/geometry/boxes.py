"""Boxes for detection: MONAI's box convention, mapped between grids and to world as regions, exactly.

Conventions (``docs/boxes.md``):

- A **box** is a row ``(x1, y1, x2, y2)`` or ``(x1, y1, z1, x2, y2, z2)`` in MONAI's standard
  mode (``StandardMode``: ``xyxy`` / ``xyzxyz``), ``x`` ``y`` ``z`` being the tensor's own
  spatial axes 0, 1, 2, in **box coordinates**: voxel ``i`` spans ``[i, i + 1)`` (a box made
  from a mask is ``[min, max + 1)``, MONAI's convention). Our index coordinates put voxel ``i``'s
  centre at ``i`` (``docs/conventions.md``), so box coordinate ``e`` is index coordinate
  ``e - 0.5``: the half voxel that MONAI's ``AffineBoxToWorldCoordinated`` forgets.
- A box is a **region** (its edges, not its voxel centres), mapped by the affine chain without
  rounding: its ``2^D`` corners are mapped exactly. The default result is the axis-aligned
  bounding box of the mapped corners (``box_format="boxes"``, MONAI's choice);
  ``box_format="corners"`` returns the ``(N, 2^D, D)`` mapped corners themselves, an oriented box
  (a parallelepiped) that maps on again exactly. Either form is accepted as input.
- Corner ``c`` of a box takes, along axis ``k``, the low edge when bit ``D - 1 - k`` of ``c`` is
  0 and the high edge when it is 1 (axis 0 varies slowest, as ``itertools.product``).
- **World boxes** are in the frame of the Space's affine (MONAI's ``MetaTensor.affine``: RAS),
  in world units (mm), with no half voxel: ``(x1, y1, z1, x2, y2, z2)`` is the region itself.
  LPS (ITK, SimpleITK, DICOM) is converted at that edge only, e.g.
  ``transform_boxes(boxes, lps_ras_flip(3))`` with :func:`monai_spacetx.interop.lps_ras_flip`.

Everything runs in float64 and returns float64; numpy in gives numpy out, a torch tensor in
gives a torch tensor out on the same device (duck typed: this module imports no torch).
Other MONAI box modes (``cccwhd``, ``xxyyzz``, ...) are converted by MONAI's
``monai.data.box_utils`` in the transforms layer, not here.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import ModeError, PointsError, SpaceTypeError
from .points import FloatArray, _is_torch, _like, as_float64_array, index_map, snap

if TYPE_CHECKING:  # pragma: no cover - space.py imports points.py; only the annotations need it here
    from .space import Space

__all__ = [
    "BoxFormat",
    "EDGE_OFFSET",
    "as_float64_boxes",
    "box_corners",
    "corners_to_boxes",
    "edge_shift",
    "transform_boxes",
    "map_boxes",
    "boxes_to_world",
    "world_to_boxes",
    "boxes_in_grid",
]

#: ``"boxes"``: ``(N, 2D)`` axis-aligned boxes (MONAI's standard mode); ``"corners"``: ``(N, 2^D, D)`` corners.
BoxFormat = Literal["boxes", "corners"]
#: Box coordinate ``e`` is index coordinate ``e - EDGE_OFFSET``: voxel ``i`` spans ``[i, i + 1)`` in box
#: coordinates and ``[i - 0.5, i + 0.5]`` around its centre ``i`` in index coordinates.
EDGE_OFFSET = 0.5


def _check_format(box_format: str) -> None:
    if box_format not in ("boxes", "corners"):
        raise ModeError(f"box_format must be 'boxes' or 'corners', got {box_format!r}")


def as_float64_boxes(boxes: Any, ndim: int, name: str = "boxes") -> FloatArray:
    """Validate boxes and return them as a new float64 numpy array.

    Args:
        boxes: ``(N, 2D)`` boxes in MONAI's standard mode (``x1 <= x2`` on every axis, zero
            size allowed), or ``(N, 2^D, D)`` corners (any parallelepiped: not checked further);
            numpy array (any real dtype), torch tensor or nested sequence. ``N`` may be 0
            (MONAI's ``StandardizeEmptyBox`` gives ``(0, 2D)``).
        ndim: ``D``.
        name: named in errors (the data key, for the transforms).

    Raises:
        SpaceTypeError: not an array, tensor or sequence, or not real numbers.
        PointsError: wrong shape, non-finite values, or ``x2 < x1``; the message names ``name``
            and the offending rows.

    Example:
        >>> as_float64_boxes([[0, 0, 2, 3]], 2)
        array([[0., 0., 2., 3.]])
        >>> as_float64_boxes([[2, 0, 1, 3]], 2, "box")
        Traceback (most recent call last):
        ...
        monai_spacetx.errors.PointsError: box: x2 < x1 (the high edge below the low edge) in rows [0]: [[2.0, 0.0, 1.0, 3.0]]
    """
    if not (_is_torch(boxes) or isinstance(boxes, (np.ndarray, list, tuple))):
        raise SpaceTypeError(f"{name} must be a numpy array, a torch tensor or a sequence of boxes, got {type(boxes).__name__}")
    arr = as_float64_array(boxes, name)
    width, corners = 2 * ndim, 2**ndim
    is_boxes = arr.ndim == 2 and arr.shape[1] == width
    is_corners = arr.ndim == 3 and arr.shape[1:] == (corners, ndim)
    if not (is_boxes or is_corners):
        raise PointsError(
            f"{name} must be (N, {width}) boxes ({'x1 y1 x2 y2' if ndim == 2 else 'x1 y1 z1 x2 y2 z2'}, MONAI's "
            f"standard mode) or (N, {corners}, {ndim}) corners for {ndim}-D images, got shape {tuple(arr.shape)}"
            + (" (no boxes? MONAI's StandardizeEmptyBoxd makes them (0, 2D))" if arr.size == 0 else "")
        )
    bad = ~np.all(np.isfinite(arr), axis=tuple(range(1, arr.ndim)))
    if bad.any():
        rows = np.flatnonzero(bad)
        raise PointsError(f"{name} must be finite, got non-finite values in rows {rows.tolist()}: {arr[rows].tolist()!r}")
    if is_boxes:
        inverted = np.any(arr[:, ndim:] < arr[:, :ndim], axis=1)
        if inverted.any():
            rows = np.flatnonzero(inverted)
            raise PointsError(f"{name}: x2 < x1 (the high edge below the low edge) in rows {rows.tolist()}: {arr[rows].tolist()!r}")
    return arr


def box_corners(boxes: npt.ArrayLike) -> FloatArray:
    """The ``2^D`` corners of ``(N, 2D)`` standard-mode boxes, ``(N, 2^D, D)``, in the same coordinates.

    Example:
        >>> box_corners([[0.0, 1.0, 2.0, 4.0]])
        array([[[0., 1.],
                [0., 4.],
                [2., 1.],
                [2., 4.]]])
    """
    arr = np.asarray(boxes, dtype=np.float64)
    ndim = arr.shape[-1] // 2
    bits = np.array(list(itertools.product((0, 1), repeat=ndim)), dtype=bool)  # (2^D, D)
    low, high = arr[:, None, :ndim], arr[:, None, ndim:]
    corners: FloatArray = np.where(bits[None], high, low)
    return corners


def corners_to_boxes(corners: npt.ArrayLike) -> FloatArray:
    """The axis-aligned bounding boxes ``(N, 2D)`` of ``(N, K, D)`` corners (MONAI's standard mode).

    Example:
        >>> corners_to_boxes([[[1.0, 5.0], [3.0, 2.0], [0.0, 4.0]]])
        array([[0., 2., 3., 5.]])
    """
    arr = np.asarray(corners, dtype=np.float64)
    if arr.shape[0] == 0:
        return np.zeros((0, 2 * arr.shape[-1]))
    boxes: FloatArray = np.concatenate([arr.min(axis=1), arr.max(axis=1)], axis=1)
    return boxes


def edge_shift(ndim: int, offset: float) -> FloatArray:
    """Homogeneous translation by ``offset`` on every axis: ``edge_shift(D, -EDGE_OFFSET)`` takes box
    coordinates to index coordinates, ``edge_shift(D, EDGE_OFFSET)`` back.

    Example:
        >>> edge_shift(2, -EDGE_OFFSET)
        array([[ 1. ,  0. , -0.5],
               [ 0. ,  1. , -0.5],
               [ 0. ,  0. ,  1. ]])
    """
    matrix = np.eye(ndim + 1)
    matrix[:ndim, ndim] = offset
    return matrix


def _corners_of(boxes: Any, ndim: int, name: str) -> FloatArray:
    arr = as_float64_boxes(boxes, ndim, name)
    return box_corners(arr) if arr.ndim == 2 else arr


def _finish(corners: FloatArray, template: Any, box_format: str) -> Any:
    return _like(corners if box_format == "corners" else corners_to_boxes(corners), template, None)


def transform_boxes(boxes: Any, matrix: npt.ArrayLike, box_format: BoxFormat = "boxes", name: str = "boxes") -> Any:
    """Boxes (or corners) mapped as regions by a homogeneous ``(D+1, D+1)`` matrix applied to their coordinates.

    No half voxel is added: the matrix acts on the boxes' own coordinates (use it for world boxes,
    e.g. LPS <-> RAS; :func:`map_boxes` and :func:`boxes_to_world` handle box coordinates).
    Every corner is mapped, so a rotation gives the bounding box of the rotated box (MONAI's
    ``apply_affine_to_boxes`` maps two corners only).

    Args:
        boxes: ``(N, 2D)`` standard-mode boxes or ``(N, 2^D, D)`` corners.
        matrix: homogeneous affine.
        box_format: ``"boxes"`` (axis-aligned bounding boxes of the mapped corners) or ``"corners"``.
        name: named in errors.

    Example:
        >>> flip = np.diag([-1.0, -1.0, 1.0])  # LPS <-> RAS in 2-D
        >>> transform_boxes([[1.0, 2.0, 4.0, 3.0]], flip)
        array([[-4., -3., -1., -2.]])
    """
    _check_format(box_format)
    homogeneous = np.asarray(matrix, dtype=np.float64)
    ndim = homogeneous.shape[0] - 1
    corners = _corners_of(boxes, ndim, name)
    mapped = corners @ homogeneous[:ndim, :ndim].T + homogeneous[:ndim, ndim]
    return _finish(mapped, boxes, box_format)


def map_boxes(boxes: Any, source: Space, target: Space, box_format: BoxFormat = "boxes", name: str = "boxes") -> Any:
    """Boxes in box coordinates of ``source`` mapped to box coordinates of ``target`` (same world region).

    The corners go through the index map (:func:`~.points.index_map`: snapped where it is an
    integer shift, nothing else rounded) with the half voxel on either side.

    Example:
        >>> from monai_spacetx import Space
        >>> one = Space((1, 1))
        >>> map_boxes([[0.0, 0.0, 1.0, 1.0]], one, one.flip(0))  # MONAI issue #7740: stays [0, 1)
        array([[0., 0., 1., 1.]])
        >>> native = Space((10, 10))
        >>> map_boxes([[2.0, 2.0, 4.0, 6.0]], native, native.respace((2.0, 0.5), align="edges"))
        array([[ 1.,  4.,  2., 12.]])
    """
    ndim = source.ndim
    matrix = edge_shift(ndim, EDGE_OFFSET) @ index_map(source, target) @ edge_shift(ndim, -EDGE_OFFSET)
    return transform_boxes(boxes, matrix, box_format, name)


def boxes_to_world(boxes: Any, space: Space, box_format: BoxFormat = "boxes", name: str = "boxes") -> Any:
    """Boxes in box coordinates of ``space`` as world boxes (the frame and units of ``space.affine``).

    Example:
        >>> from monai_spacetx import Space
        >>> boxes_to_world([[0.0, 0.0, 1.0, 2.0]], Space((4, 4), spacing=(2.0, 3.0), origin=(10.0, 0.0)))
        array([[ 9. , -1.5, 11. ,  4.5]])
    """
    ndim = space.ndim
    return transform_boxes(boxes, space.affine @ edge_shift(ndim, -EDGE_OFFSET), box_format, name)


def world_to_boxes(boxes: Any, space: Space, box_format: BoxFormat = "boxes", name: str = "boxes") -> Any:
    """World boxes as boxes in box coordinates of ``space`` (the inverse of :func:`boxes_to_world`).

    Example:
        >>> from monai_spacetx import Space
        >>> world_to_boxes([[9.0, -1.5, 11.0, 4.5]], Space((4, 4), spacing=(2.0, 3.0), origin=(10.0, 0.0)))
        array([[0., 0., 1., 2.]])
    """
    _check_format(box_format)
    ndim = space.ndim
    corners = _corners_of(boxes, ndim, name)
    linear = space.affine[:ndim, :ndim]
    flat = (corners - space.origin).reshape(-1, ndim)
    index = np.asarray(np.linalg.solve(linear, flat.T).T.reshape(corners.shape) + EDGE_OFFSET, dtype=np.float64)
    return _finish(index, boxes, box_format)


def boxes_in_grid(boxes: Any, space: Space, coords: str = "index", name: str = "boxes") -> npt.NDArray[np.bool_]:
    """Whether each box lies wholly inside the field of view of ``space``: ``[0, n]`` in box coordinates
    (edges included; a corner within ``SNAP_TOL`` of an edge is on it).

    Args:
        boxes: ``(N, 2D)`` boxes or ``(N, 2^D, D)`` corners, in box coordinates of ``space``
            (``coords="index"``) or in world units (``"world"``).
        space: the grid.
        coords: ``"index"`` or ``"world"``.
        name: named in errors.

    Returns:
        ``(N,)`` bool: every corner inside (a box partly outside is ``False``).

    Example:
        >>> from monai_spacetx import Space
        >>> boxes_in_grid([[0.0, 0.0, 10.0, 4.0], [0.0, 0.0, 10.5, 4.0], [-1e-15, 0.0, 1.0, 1.0]], Space((10, 4)))
        array([ True, False,  True])
    """
    ndim = space.ndim
    if coords == "index":
        corners = _corners_of(boxes, ndim, name)
    elif coords == "world":
        corners = np.asarray(world_to_boxes(np.asarray(_corners_of(boxes, ndim, name)), space, "corners", name))
    else:
        raise ModeError(f"coords must be 'index' or 'world', got {coords!r}")
    # the field of view is [0, n] in box coordinates: its edges are integers, where snap() absorbs round-off
    corners = snap(corners)
    inside: npt.NDArray[np.bool_] = np.all((corners >= 0) & (corners <= np.array(space.shape, dtype=np.float64)), axis=(1, 2))
    return inside
