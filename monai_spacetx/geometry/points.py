"""Point maps between index and world coordinates, and between two spaces.

Conventions (see ``docs/conventions.md``): index coordinates are continuous, follow the tensor's
own spatial axis order and put voxel centres at integers; world coordinates are in the
frame of the Space's affine (MONAI's ``MetaTensor.affine``: RAS for MONAI's readers).

Points are arrays whose last axis holds the ``D`` coordinates of one point: ``(D,)``,
``(N, D)`` or MONAI's ``(C, N, D)``. Numpy in gives numpy out; a torch tensor in gives a
torch tensor out on the same device. The arithmetic always runs in float64; the result
is float64 unless ``dtype`` says otherwise. Inputs are never modified.

This module imports no torch: tensors are recognised by duck typing and converted
lazily, so the geometry core stays importable without it.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

from ..errors import PointsError, SpaceTypeError
from .tolerances import LINEAR_SNAP_TOL, SNAP_TOL

if TYPE_CHECKING:  # pragma: no cover - torch is needed for type checking only, never imported at run time
    import torch

    from .space import Space

__all__ = [
    "nearest_voxel",
    "FloatArray",
    "NumpyPoints",
    "snap",
    "as_float64_array",
    "as_float64_points",
    "apply_affine",
    "index_map",
    "index_to_world",
    "world_to_index",
    "map_points",
]

#: A float64 numpy array.
FloatArray = npt.NDArray[np.float64]
#: Points that come back as numpy: a numpy array of any real dtype, a nested sequence or a scalar.
NumpyPoints = Union[npt.NDArray[Any], Sequence[Any], float]


def snap(values: npt.ArrayLike, tol: float = SNAP_TOL) -> FloatArray:
    """Return a float64 copy of ``values`` with entries within ``tol`` of an integer rounded to it.

    Example:
        >>> snap([0.9999999999999, 2.5, -3e-12])
        array([ 1. ,  2.5, -0. ])
    """
    snapped = np.array(values, dtype=np.float64)
    nearest = np.round(snapped)
    close = np.abs(snapped - nearest) <= tol
    snapped[close] = nearest[close]
    return snapped


def nearest_voxel(continuous: npt.ArrayLike) -> FloatArray:
    """The voxel whose box ``[i - 0.5, i + 0.5)`` holds each continuous index: ``floor(snap(x + 0.5))``.

    The tie rule of the conventions (a centre on a boundary goes to the higher index), with the
    half added before snapping, so an index a hair below a boundary by round-off is on it, as in
    the engine's ``nearest`` (``floor(x + 0.5 + SNAP_TOL)``).

    Example:
        >>> nearest_voxel([1.5, 1.4999999999999, 1.49, -0.5])
        array([2., 2., 1., 0.])
    """
    return np.floor(snap(np.asarray(continuous, dtype=np.float64) + 0.5))


def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def as_float64_array(value: Any, name: str) -> FloatArray:
    """``value`` (numpy array, torch tensor, nested sequence or scalar) as a new float64 numpy array.

    Every real integer or floating dtype is accepted, in either byte order (nibabel's
    ``dataobj`` hands out big-endian arrays) and at any precision (``np.longdouble`` and
    float16 are rounded to float64). Booleans, complex numbers, text and other objects are
    refused: converting them would silently drop information (an imaginary part) or hide
    a mistake (``True`` read as 1).

    Raises:
        SpaceTypeError: naming ``name`` and the value.

    Example:
        >>> as_float64_array(np.array([1, 2], dtype=">i4"), "shape")
        array([1., 2.])
    """
    if _is_torch(value):
        if value.is_complex() or str(value.dtype) == "torch.bool":
            raise SpaceTypeError(f"{name} must be numeric, got a {value.dtype} tensor (real numbers only)")
        return np.array(value.detach().cpu().double().numpy())
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as err:  # ragged nesting
        raise SpaceTypeError(f"{name} must be numeric, got {value!r}") from err
    if arr.dtype.kind == "O":  # mixed python/numpy scalars; numpy would read None as nan
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in arr.ravel()):
            raise SpaceTypeError(f"{name} must be numeric, got {value!r}")
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "iuf":
        shown = f"a {arr.dtype} array {arr.tolist()!r}" if isinstance(value, np.ndarray) else repr(value)
        raise SpaceTypeError(f"{name} must be numeric, got {shown} (real numbers only: not bool, complex or text)")
    return arr.astype(np.float64)  # always a copy, in native byte order


def as_float64_points(points: Any, ndim: int, name: str = "points") -> FloatArray:
    """Validate a point array and return it as a float64 numpy array (a copy).

    Args:
        points: ``(D,)``, ``(N, D)`` or ``(C, N, D)`` coordinates: numpy array (any real
            dtype and byte order), torch tensor or nested sequence.
        ndim: ``D``, the number of coordinates per point.
        name: the argument's name, for error messages.

    Raises:
        SpaceTypeError: not an array, tensor or sequence, or not real numbers.
        PointsError: wrong shape or non-finite coordinates.
    """
    if not (_is_torch(points) or isinstance(points, (np.ndarray, list, tuple)) or np.isscalar(points)):
        raise SpaceTypeError(f"{name} must be a numpy array, a torch tensor or a sequence, got {type(points).__name__}")
    arr = as_float64_array(points, name)
    if arr.ndim not in (1, 2, 3) or arr.shape[-1] != ndim:
        raise PointsError(
            f"{name} must have shape (D,), (N, D) or (C, N, D) with D={ndim} coordinates per point, "
            f"got shape {tuple(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)):
        raise PointsError(f"{name} must be finite, got {arr.tolist()!r}")
    return arr


def _check_space(value: Any, name: str) -> None:
    """Refuse anything but a :class:`Space` (a tensor or an affine passed by mistake)."""
    from .space import Space  # at call time: space.py imports this module

    if not isinstance(value, Space):
        raise SpaceTypeError(f"{name} must be a Space, got {type(value).__name__}")


def _like(result: npt.NDArray[Any], template: Any, dtype: Any) -> Any:
    """Return ``result`` in the container type of ``template`` (numpy or torch, same device)."""
    if _is_torch(template):
        import torch

        out = torch.from_numpy(np.ascontiguousarray(result)).to(device=template.device)
        return out.to(dtype if dtype is not None else torch.float64)
    return result.astype(dtype if dtype is not None else np.float64, copy=False)


@overload
def apply_affine(matrix: npt.ArrayLike, points: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor: ...
@overload
def apply_affine(matrix: npt.ArrayLike, points: NumpyPoints, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
def apply_affine(matrix: npt.ArrayLike, points: Any, dtype: Any = None) -> Any:
    """Apply a homogeneous ``(D+1, D+1)`` matrix to points of shape ``(..., D)``.

    Args:
        matrix: homogeneous affine matrix, float64.
        points: ``(D,)``, ``(N, D)`` or ``(C, N, D)`` numpy array, torch tensor or nested sequence.
        dtype: result dtype (numpy or torch dtype matching the input type); float64 by default.

    Returns:
        Mapped points, same shape and container type as ``points`` (a sequence gives numpy).

    Example:
        >>> apply_affine(np.diag([2.0, 3.0, 1.0]), [[1.0, 1.0], [0.5, -1.0]])
        array([[ 2.,  3.],
               [ 1., -3.]])
    """
    homogeneous = np.asarray(matrix, dtype=np.float64)
    ndim = homogeneous.shape[0] - 1
    arr = as_float64_points(points, ndim)
    mapped: FloatArray = arr @ homogeneous[:ndim, :ndim].T + homogeneous[:ndim, ndim]
    return _like(mapped, points, dtype)


def index_map(from_space: Space, to_space: Space) -> FloatArray:
    """Homogeneous matrix taking continuous indices of ``from_space`` to those of ``to_space``.

    Computed as ``inv(to.affine) @ from.affine`` without forming the inverse, with the
    origins subtracted first so that large world origins cost no precision, then
    snapped so that an integer shift is exactly one: linear entries within 1e-12 of an
    integer, and shifts within :data:`SNAP_TOL` on rows whose linear part is then an
    integer axis map. Nothing else is rounded, so mapped points stay within 1e-9 voxel.

    Returns:
        ``(D+1, D+1)`` float64 matrix ``A`` with ``index_to = A @ [index_from, 1]``.

    Example:
        >>> from monai_spacetx import Space
        >>> native = Space((35, 35), origin=(1e5, -1e5))
        >>> index_map(native.crop((10, 12), (25, 25)), native)  # a crop is an exact integer shift
        array([[ 1.,  0., 10.],
               [ 0.,  1., 12.],
               [ 0.,  0.,  1.]])
    """
    _check_space(from_space, "from_space")
    _check_space(to_space, "to_space")
    if from_space.ndim != to_space.ndim:
        raise PointsError(f"cannot map points between a {from_space.ndim}-D and a {to_space.ndim}-D space")
    ndim = from_space.ndim
    to_linear = to_space.affine[:ndim, :ndim]
    matrix = np.eye(ndim + 1)
    # The linear part only carries round-off (~1e-15): snap it tightly, so that a genuine
    # tiny rotation or scale is never rounded away (it would move far points by more than
    # 1e-9 voxel). The shift carries the origins' round-off too: snap it at SNAP_TOL, but
    # only on rows that are an integer axis map, where the plan is really an index shift.
    linear = snap(np.linalg.solve(to_linear, from_space.affine[:ndim, :ndim]), LINEAR_SNAP_TOL)
    shift = np.linalg.solve(to_linear, from_space.origin - to_space.origin)
    integer_rows = np.all(linear == np.round(linear), axis=1)
    shift[integer_rows] = snap(shift[integer_rows])
    matrix[:ndim, :ndim] = linear
    matrix[:ndim, ndim] = shift
    return matrix


@overload
def index_to_world(points: torch.Tensor, space: Space, dtype: torch.dtype | None = None) -> torch.Tensor: ...
@overload
def index_to_world(points: NumpyPoints, space: Space, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
def index_to_world(points: Any, space: Space, dtype: Any = None) -> Any:
    """Map continuous index coordinates on ``space`` to world coordinates (``space.affine``).

    Example:
        >>> from monai_spacetx import Space
        >>> index_to_world([[0.0, 0.0], [9.0, 4.0]], Space((10, 5), spacing=(0.5, 2.0), origin=(100.0, 0.0)))
        array([[100. ,   0. ],
               [104.5,   8. ]])
    """
    _check_space(space, "space")
    return apply_affine(space.affine, points, dtype)


@overload
def world_to_index(points: torch.Tensor, space: Space, dtype: torch.dtype | None = None) -> torch.Tensor: ...
@overload
def world_to_index(points: NumpyPoints, space: Space, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
def world_to_index(points: Any, space: Space, dtype: Any = None) -> Any:
    """Map world coordinates to continuous index coordinates on ``space`` (the inverse of :func:`index_to_world`)."""
    _check_space(space, "space")
    ndim = space.ndim
    arr = as_float64_points(points, ndim)
    linear = space.affine[:ndim, :ndim]
    mapped: npt.NDArray[Any] = np.linalg.solve(linear, (arr - space.origin).reshape(-1, ndim).T).T.reshape(arr.shape)
    return _like(mapped, points, dtype)


@overload
def map_points(points: torch.Tensor, source: Space, target: Space, dtype: torch.dtype | None = None) -> torch.Tensor: ...
@overload
def map_points(points: NumpyPoints, source: Space, target: Space, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
def map_points(points: Any, source: Space, target: Space, dtype: Any = None) -> Any:
    """Map continuous index coordinates on ``source`` to index coordinates on ``target``.

    The two spaces are linked through world coordinates: a point keeps its world position.

    Args:
        points: ``(D,)``, ``(N, D)`` or ``(C, N, D)`` index coordinates on ``source``.
        source: the space the points are given on.
        target: the space to express them on.
        dtype: result dtype; float64 by default.

    Returns:
        Index coordinates on ``target``, same shape and container type as ``points``.
        Points outside ``target``'s field of view are returned as they are (never dropped);
        use :meth:`Space.contains` to flag them.

    Example:
        >>> from monai_spacetx import Space
        >>> native = Space((35, 35))
        >>> map_points([[17.0, 12.0]], native, native.crop((10, 10), (25, 25)).resize((30, 30)))
        array([[14.5,  4.5]])
    """
    _check_space(source, "source")
    _check_space(target, "target")
    return apply_affine(index_map(source, target), points, dtype)
