"""The ``Space`` value object: a 2-D or 3-D sampling grid, and the planning operations on it.

A Space is a spatial ``shape`` plus an index→world ``affine`` factored as
``direction @ diag(spacing)`` and ``origin`` (the world position of voxel ``(0, ..., 0)``'s
centre). Voxel ``i`` covers the index interval ``[i - 0.5, i + 0.5]``; the field of view
is the union of those boxes.

Every planning operation (``crop``, ``resize``, ``flip``, ...) returns a new Space and
touches no pixels. Each is expressed as a homogeneous matrix ``M`` taking new indices to
old ones, so the new affine is ``old.affine @ M``; executing the plan is then a single
resample (:func:`monai_spacetx.warp_image`). Numpy only: no torch import.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Literal, Sequence, Union, overload

import numpy as np
import numpy.typing as npt

from ..errors import EmptyBoxError, ModeError, ShapeMismatchError, SpaceError, SpaceTypeError
from .points import FloatArray, NumpyPoints, as_float64_array, as_float64_points, index_to_world, snap, world_to_index
from .tolerances import DEGENERATE_TOL, EQUALITY_ATOL, ORTHONORMAL_TOL, SNAP_TOL, UNIT_COLUMN_TOL

if TYPE_CHECKING:  # pragma: no cover - torch is needed for type checking only, never imported at run time
    import torch

__all__ = ["Space", "EQUALITY_ATOL", "ORTHONORMAL_TOL", "DEFAULT_THROUGH_PLANE"]

#: ``(thickness, position)`` of a 2-D space's third axis unless its 4x4 affine says otherwise:
#: MONAI's identity embedding of a 2-D image (a 1-thick slice at z = 0).
DEFAULT_THROUGH_PLANE: tuple[float, float] = (1.0, 0.0)


#: How a resampled grid keeps the field of view: its outer voxel edges, or its corner voxel centres.
Align = Literal["edges", "centers"]
#: Whether coordinates are world (the affine's frame) or continuous voxel indices.
Coords = Literal["world", "index"]
#: A real scalar or one value per axis (numpy array, sequence).
ArrayLike = Union[float, Sequence[float], npt.NDArray[Any]]
#: An integer or one per axis (numpy array, sequence); a scalar is broadcast.
IntsLike = Union[int, Sequence[int], npt.NDArray[Any]]
#: An int64 numpy array.
IntArray = npt.NDArray[np.int64]
#: A spatial shape: 2 or 3 positive integers (sequence or numpy array).
ShapeLike = Union[Sequence[int], npt.NDArray[Any]]


def _vector(value: Any, ndim: int, name: str, *, positive: bool = False) -> FloatArray:
    """A finite float64 vector of length ``ndim``; a scalar is broadcast."""
    arr = as_float64_array(value, name)
    if arr.ndim == 0:
        arr = np.full(ndim, float(arr))
    if arr.shape != (ndim,):
        raise SpaceError(f"{name} must have {ndim} entries, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise SpaceError(f"{name} must be finite, got {value!r}")
    if positive and not np.all(arr > 0):
        raise SpaceError(f"{name} must be positive, got {value!r}")
    return arr


def _holds_bool(value: Any) -> bool:
    """Whether ``value`` is or holds a boolean (numpy turns ``(True, 4)`` into ``[1, 4]`` silently)."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, np.ndarray):
        return bool(value.dtype == bool)
    if isinstance(value, (list, tuple)):
        return any(_holds_bool(v) for v in value)
    return False


def _is_int(value: Any) -> bool:
    """An integer scalar (python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_vector(value: Any, ndim: int, name: str) -> IntArray:
    """An int64 vector of length ``ndim``; a scalar is broadcast; non-integers and bools are refused."""
    try:
        arr = np.array(value)
    except (TypeError, ValueError):  # ragged nesting
        arr = np.array(None)
    if arr.ndim == 0:
        arr = np.full(ndim, arr.item())
    if arr.shape != (ndim,) or arr.dtype.kind not in "iuf" or _holds_bool(value):
        raise SpaceError(f"{name} must be {ndim} integers, got {value!r}")
    if not np.all(np.isfinite(arr.astype(np.float64))) or not np.all(np.mod(arr, 1) == 0):
        raise SpaceError(f"{name} must be {ndim} integers, got {value!r}")
    return arr.astype(np.int64)


def _shape(value: Any, name: str = "shape", ndim: int | None = None) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise SpaceTypeError(f"{name} must be a sequence of 2 or 3 positive integers, got {value!r}")
    count = len(value)
    if ndim is None and count not in (2, 3):
        raise SpaceError(f"{name} must have 2 or 3 entries (a 2-D or 3-D grid), got {value!r}")
    arr = _int_vector(value, ndim or count, name)
    if not np.all(arr >= 1):
        raise SpaceError(f"{name} must be positive integers, got {value!r}")
    return tuple(int(v) for v in arr)


def _check_align(align: str) -> None:
    if align not in ("edges", "centers"):
        raise ModeError(f"align must be 'edges' or 'centers', got {align!r}")


def _round_shape(extent: FloatArray) -> IntArray:
    """The documented rounding rule for a new shape: nearest integer, ties to even, at least 1."""
    return _planned_shape(np.maximum(np.round(snap(extent)), 1))


def _planned_shape(values: FloatArray) -> IntArray:
    """A planned shape (whole floats) as int64, refusing what no array can have instead of a wrapped cast."""
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) >= 2.0**62):
        raise SpaceError(f"the planned shape {values.tolist()} is no array's shape (a tiny spacing or factor, or a huge size?)")
    return values.astype(np.int64)


def _rotation(ndim: int, angles: Any) -> FloatArray:
    """Rotation about the grid's own axes: ``R_0(a_0) @ R_1(a_1) @ R_2(a_2)`` in 3-D."""
    angles_arr = np.atleast_1d(as_float64_array(angles, "angles"))
    expected = 1 if ndim == 2 else 3
    if angles_arr.shape != (expected,) or not np.all(np.isfinite(angles_arr)):
        raise SpaceError(f"angles must be {expected} finite number(s) (radians) for a {ndim}-D space, got {angles!r}")
    if ndim == 2:
        c, s = math.cos(angles_arr[0]), math.sin(angles_arr[0])
        return np.array([[c, -s], [s, c]])
    rotation = np.eye(3)
    for axis, angle in enumerate(angles_arr):
        c, s = math.cos(angle), math.sin(angle)
        plane = [a for a in range(3) if a != axis]
        step = np.eye(3)
        step[np.ix_(plane, plane)] = [[c, -s], [s, c]]
        rotation = rotation @ step
    return rotation


class Space:
    """An immutable 2-D or 3-D sampling grid: ``shape`` plus an index→world affine.

    Args:
        shape: spatial shape, 2 or 3 positive integers, in the tensor's axis order.
        spacing: voxel size along each index axis (world units, e.g. mm); scalar or per axis.
        origin: world position of the centre of voxel ``(0, ..., 0)``.
        direction: ``(D, D)`` matrix whose column ``k`` is the unit world direction of index
            axis ``k``. Orthogonal or not: a sheared grid (what MONAI makes when it rotates an
            anisotropic scan in index space, or a NIfTI sform with shear) is a Space too. Its
            columns must be unit vectors and span the space (not parallel).

    ``affine = [[direction @ diag(spacing), origin], [0, 1]]`` is ``(D+1, D+1)`` float64: any
    finite, invertible affine. ``spacing`` is the affine's column norms (nibabel's voxel sizes),
    ``direction`` its normalised columns.
    Equality: same shape and affines within :data:`EQUALITY_ATOL`. The hash uses the shape
    only, so it agrees with that tolerant equality.

    2-D spaces and MONAI's 4x4 affine:
        MONAI stores a ``4x4`` affine for 2-D images too. Its third row and column place
        the image in a volume: ``affine[2, 2]`` is the slice thickness (the third index
        axis's step) and ``affine[2, 3]`` the slice position (world z of the plane). A 2-D
        Space read from that form (:meth:`from_affine`, :meth:`from_metatensor`,
        :meth:`from_dict`) keeps both as :attr:`through_plane`; every planning op passes
        them on unchanged, and :meth:`to_monai_affine`, :meth:`to_dict` and pickling write
        them back, so a slice at z = 57.5 mm stays at z = 57.5 mm. The in-plane geometry
        (:attr:`affine`, ``3x3``) and equality ignore them: two slices of the same in-plane
        grid at different z are equal 2-D spaces.

    Example:
        >>> native = Space((35, 35))
        >>> working = native.crop((10, 10), (25, 25)).resize((32, 32))
        >>> working.spacing
        array([0.46875, 0.46875])
    """

    __slots__ = ("_shape", "_affine", "_through_plane")
    _shape: tuple[int, ...]
    _affine: FloatArray
    _through_plane: tuple[float, float] | None

    def __init__(
        self,
        shape: ShapeLike,
        spacing: ArrayLike = 1.0,
        origin: ArrayLike = 0.0,
        direction: npt.NDArray[Any] | Sequence[Sequence[float]] | None = None,
    ) -> None:
        shape_t = _shape(shape)
        ndim = len(shape_t)
        spacing_v = _vector(spacing, ndim, "spacing", positive=True)
        origin_v = _vector(origin, ndim, "origin")
        direction_m = np.eye(ndim) if direction is None else as_float64_array(direction, "direction")
        affine = np.eye(ndim + 1)
        affine[:ndim, :ndim] = direction_m * spacing_v if direction_m.shape == (ndim, ndim) else np.nan
        affine[:ndim, ndim] = origin_v
        self._init(shape_t, affine, DEFAULT_THROUGH_PLANE if ndim == 2 else None, direction_given=direction_m)

    def _init(
        self,
        shape: tuple[int, ...],
        affine: FloatArray,
        through_plane: tuple[float, float] | None,
        direction_given: FloatArray | None = None,
    ) -> None:
        ndim = len(shape)
        if math.prod(shape) >= 2**63:  # planned, e.g. by a tiny spacing: no array can index it, refuse before allocating
            raise SpaceError(f"shape {shape} has {math.prod(shape):.3g} voxels, more than any array can index (2**63)")
        if through_plane is not None:
            thickness, position = through_plane
            if not (math.isfinite(thickness) and math.isfinite(position) and thickness != 0.0):
                raise SpaceError(
                    "a 2-D image's 4x4 affine needs a finite, nonzero slice thickness affine[2, 2] and a finite "
                    f"slice position affine[2, 3], got {thickness!r} and {position!r}"
                )
        if direction_given is not None:
            if direction_given.shape != (ndim, ndim):
                raise SpaceError(f"direction must be a {ndim}x{ndim} matrix, got shape {direction_given.shape}")
            if not np.all(np.isfinite(direction_given)):
                raise SpaceError(f"direction must be finite, got {direction_given.tolist()}")
            norms = np.linalg.norm(direction_given, axis=0)
            if float(np.max(np.abs(norms - 1.0))) > UNIT_COLUMN_TOL:  # a scaled column must not silently change the spacing
                raise SpaceError(
                    f"direction's columns must be unit vectors (| |d_k| - 1 | <= {UNIT_COLUMN_TOL}; the voxel size "
                    f"goes in spacing), got {direction_given.tolist()} (column norms {norms.tolist()})"
                )
        linear = affine[:ndim, :ndim]
        if not np.all(np.isfinite(affine)):
            raise SpaceError(f"affine must be finite, got {affine.tolist()}")
        spacing = np.linalg.norm(linear, axis=0)
        if not np.all(spacing > 0):
            raise SpaceError(f"spacing (affine column norms) must be positive, got {spacing.tolist()}")
        # the normalised columns may be sheared (MONAI rotates anisotropic grids in index space) but
        # must span the space: |det| of unit columns is the volume of their parallelepiped, 1 when orthogonal
        volume = abs(float(np.linalg.det(linear / spacing)))
        if volume < DEGENERATE_TOL:
            raise SpaceError(
                f"affine is singular or degenerate: its index axes are (nearly) parallel, |det(direction)| = "
                f"{volume:.3g} < {DEGENERATE_TOL}, got {affine.tolist()}"
            )
        affine = affine.copy()
        affine.setflags(write=False)
        object.__setattr__(self, "_shape", shape)
        object.__setattr__(self, "_affine", affine)
        object.__setattr__(self, "_through_plane", through_plane)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Space is immutable; cannot set {name!r}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_affine(cls, affine: Any, shape: ShapeLike) -> Space:
        """Build a Space from an index→world affine and a spatial shape.

        Args:
            affine: ``(D+1, D+1)`` matrix, or for a 2-D shape also MONAI's ``4x4`` form
                (whose third axis must not couple to the first two; its slice thickness
                ``affine[2, 2]`` and position ``affine[2, 3]`` become :attr:`through_plane`).
                numpy or torch, any real dtype.
            shape: spatial shape, 2 or 3 positive integers.

        The stored affine is exactly the given one (as float64), so a Space built from a
        MetaTensor reproduces ``x.affine`` bit for bit (:meth:`to_monai_affine`).

        Example:
            >>> slice_affine = np.diag([0.5, 0.5, 2.5, 1.0])
            >>> slice_affine[:3, 3] = [-10.0, 4.0, 57.5]
            >>> Space.from_affine(slice_affine, (64, 64)).crop((8, 8), (40, 40)).to_monai_affine()[2]
            array([ 0. ,  0. ,  2.5, 57.5])
        """
        shape_t = _shape(shape)
        ndim = len(shape_t)
        matrix = as_float64_array(affine, "affine")
        through_plane = DEFAULT_THROUGH_PLANE if ndim == 2 else None
        if ndim == 2 and matrix.shape == (4, 4):
            coupling = np.concatenate([matrix[:2, 2], matrix[2, :2], matrix[3, :3]])
            if np.any(coupling != 0):
                raise SpaceError(
                    f"a 4x4 affine for a 2-D shape must not mix the third axis into the first two, got {matrix.tolist()}"
                )
            through_plane = (float(matrix[2, 2]), float(matrix[2, 3]))
            matrix = matrix[np.ix_([0, 1, 3], [0, 1, 3])]
        if matrix.shape != (ndim + 1, ndim + 1):
            raise SpaceError(f"affine must be {ndim + 1}x{ndim + 1} for shape {shape_t}, got shape {matrix.shape}")
        if not np.array_equal(matrix[ndim], np.eye(ndim + 1)[ndim]):
            raise SpaceError(f"affine's last row must be [0, ..., 0, 1], got {matrix[ndim].tolist()}")
        space = object.__new__(cls)
        space._init(shape_t, matrix, through_plane)
        return space

    @classmethod
    def from_metatensor(cls, x: Any) -> Space:
        """The Space of a MONAI ``MetaTensor`` ``(C, *spatial)``: ``x.affine`` and ``x.shape[1:]``."""
        affine = getattr(x, "affine", None)
        if affine is None or not hasattr(x, "shape"):
            raise SpaceTypeError(f"expected a MONAI MetaTensor with an affine, got {type(x).__name__}")
        spatial = tuple(x.shape[1:])
        if len(spatial) not in (2, 3):
            raise ShapeMismatchError(
                f"a MetaTensor must be (C, H, W) or (C, H, W, D) for a Space, got shape {tuple(x.shape)}"
            )
        return cls.from_affine(affine, spatial)


    # ------------------------------------------------------------------ properties
    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape in the tensor's axis order."""
        return self._shape

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions, 2 or 3."""
        return len(self._shape)

    @property
    def affine(self) -> FloatArray:
        """``(D+1, D+1)`` float64 index→world matrix (read-only)."""
        # a view of the read-only stored array: its WRITEABLE flag cannot be turned back on
        return self._affine.view()

    @property
    def spacing(self) -> FloatArray:
        """Voxel size along each index axis (affine column norms)."""
        spacing: FloatArray = np.linalg.norm(self._affine[: self.ndim, : self.ndim], axis=0)
        return spacing

    @property
    def origin(self) -> FloatArray:
        """World position of the centre of voxel ``(0, ..., 0)``."""
        return self._affine[: self.ndim, self.ndim].copy()

    @property
    def direction(self) -> FloatArray:
        """``(D, D)`` matrix whose columns are the unit world directions of the index axes (sheared or not)."""
        direction: FloatArray = self._affine[: self.ndim, : self.ndim] / self.spacing
        return direction

    @property
    def is_orthogonal(self) -> bool:
        """Whether the index axes are orthogonal in world (``direction`` orthonormal within ``ORTHONORMAL_TOL``).

        Example:
            >>> Space((4, 4)).is_orthogonal, Space((4, 4), direction=[[1.0, 0.6], [0.0, 0.8]]).is_orthogonal
            (True, False)
        """
        direction = self.direction
        return bool(np.max(np.abs(direction.T @ direction - np.eye(self.ndim))) <= ORTHONORMAL_TOL)

    def frame(self) -> FloatArray:
        """The orthonormal ``(D, D)`` frame nearest to :attr:`direction` (its polar factor).

        The frame :meth:`rotate` turns about: :attr:`direction` itself when the grid is
        orthogonal; for a sheared grid the rotation closest to it (``U @ Vt`` of its SVD), so
        that rotating about "the grid's axes" is a rigid world rotation either way.
        """
        u, _, vt = np.linalg.svd(self.direction)
        frame: FloatArray = u @ vt
        return frame

    @property
    def through_plane(self) -> tuple[float, float] | None:
        """2-D: ``(thickness, position)``, MONAI's ``affine[2, 2]`` and ``affine[2, 3]``; 3-D: ``None``.

        ``(1.0, 0.0)`` unless the Space was read from a 4x4 affine that says otherwise;
        every planning op keeps it (see the class docstring).
        """
        return self._through_plane

    def to_monai_affine(self) -> FloatArray:
        """The affine in MONAI's ``4x4`` form, float64.

        A 2-D space is embedded with its :attr:`through_plane` as the third axis:
        ``[[a00, a01, 0, t0], [a10, a11, 0, t1], [0, 0, thickness, position], [0, 0, 0, 1]]``.

        Example:
            >>> Space((4, 5), spacing=(0.5, 2.0)).to_monai_affine()
            array([[0.5, 0. , 0. , 0. ],
                   [0. , 2. , 0. , 0. ],
                   [0. , 0. , 1. , 0. ],
                   [0. , 0. , 0. , 1. ]])
        """
        if self._through_plane is None:
            return self._affine.copy()
        out = np.eye(4)
        out[np.ix_([0, 1, 3], [0, 1, 3])] = self._affine
        out[2, 2:] = self._through_plane
        return out

    # ------------------------------------------------------------------ value semantics
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return self._shape == other._shape and bool(
            np.allclose(self._affine, other._affine, rtol=0.0, atol=EQUALITY_ATOL)
        )

    def __hash__(self) -> int:
        return hash(("Space", self._shape))

    def __repr__(self) -> str:
        def fmt(values: FloatArray) -> str:
            return np.array2string(values, precision=6, separator=", ", suppress_small=True).replace("\n", "")

        plane = "" if self._through_plane in (None, DEFAULT_THROUGH_PLANE) else f", through_plane={self._through_plane}"
        return (
            f"Space(shape={self._shape}, spacing={fmt(self.spacing)}, origin={fmt(self.origin)}, "
            f"direction={fmt(self.direction)}{plane})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (Space.from_affine, (self.to_monai_affine(), self._shape))

    def to_dict(self) -> dict[str, Any]:
        """Plain-python form: ``{"shape": [...], "affine": [[...], ...]}``; JSON-safe and lossless.

        The affine is MONAI's ``4x4`` form (:meth:`to_monai_affine`), also for a 2-D space,
        so that its :attr:`through_plane` survives.
        """
        return {"shape": list(self._shape), "affine": self.to_monai_affine().tolist()}

    @classmethod
    def from_dict(cls, data: Any) -> Space:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, dict) or "shape" not in data or "affine" not in data:
            raise SpaceTypeError(f"expected a dict with 'shape' and 'affine', got {data!r}")
        return cls.from_affine(data["affine"], data["shape"])

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict` (floats written with full precision).

        Example:
            >>> Space((2, 3)).to_json()
            '{"shape": [2, 3], "affine": [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]}'
            >>> Space.from_json(Space((2, 3)).to_json()) == Space((2, 3))
            True
        """
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> Space:
        """Inverse of :meth:`to_json`.

        Raises:
            SpaceTypeError: ``text`` is not a string, or holds JSON that is not such a dict.
            SpaceError: ``text`` is not valid JSON, or describes an invalid grid.
        """
        if not isinstance(text, (str, bytes, bytearray)):
            raise SpaceTypeError(f"text must be a JSON string, got {type(text).__name__} {text!r}")
        try:
            data = json.loads(text)
        except ValueError as err:  # json.JSONDecodeError, or bytes that are not UTF-8
            shown = repr(text) if len(text) <= 200 else repr(text[:200]) + "..."
            raise SpaceError(f"text is not valid JSON ({err}), got {shown}") from err
        return cls.from_dict(data)

    # ------------------------------------------------------------------ points
    @overload
    def index_to_world(self, points: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor: ...
    @overload
    def index_to_world(self, points: NumpyPoints, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
    def index_to_world(self, points: Any, dtype: Any = None) -> Any:
        """Map ``(D,)``, ``(N, D)`` or ``(C, N, D)`` index coordinates to world coordinates.

        Numpy (or a sequence) in gives numpy out, a torch tensor gives a tensor on its device;
        float64 unless ``dtype`` says otherwise (:func:`~monai_spacetx.geometry.points.index_to_world`).
        """
        return index_to_world(points, self, dtype)

    @overload
    def world_to_index(self, points: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor: ...
    @overload
    def world_to_index(self, points: NumpyPoints, dtype: npt.DTypeLike | None = None) -> npt.NDArray[Any]: ...
    def world_to_index(self, points: Any, dtype: Any = None) -> Any:
        """Map ``(D,)``, ``(N, D)`` or ``(C, N, D)`` world coordinates to index coordinates (types as :meth:`index_to_world`)."""
        return world_to_index(points, self, dtype)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """World axis-aligned bounding box ``(low, high)`` of the field of view (voxel edges).

        Example:
            >>> Space((10, 4), spacing=(0.5, 2.0), origin=(100.0, 0.0)).bounds()
            (array([99.75, -1.  ]), array([104.75,   7.  ]))
        """
        corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in self._shape], indexing="ij")).reshape(self.ndim, -1).T
        world = self.index_to_world(corners)
        return world.min(axis=0), world.max(axis=0)

    def contains(self, points: Any, coords: Coords = "world") -> npt.NDArray[np.bool_]:
        """Whether each point lies in the field of view (voxel boxes, edges included).

        Args:
            points: ``(D,)``, ``(N, D)`` or ``(C, N, D)`` coordinates.
            coords: ``"world"`` or ``"index"``.

        Returns:
            Boolean numpy array of shape ``points.shape[:-1]``.

        Example:
            >>> Space((10, 4)).contains([[-0.5, 0.0], [9.5, 3.5], [9.6, 0.0]], coords="index")
            array([ True,  True, False])
        """
        if coords == "world":
            index = np.asarray(world_to_index(as_float64_points(points, self.ndim), self))
        elif coords == "index":
            index = as_float64_points(points, self.ndim)
        else:
            raise ModeError(f"coords must be 'world' or 'index', got {coords!r}")
        index = snap(index)
        high = np.array(self._shape, dtype=np.float64) - 0.5
        inside: npt.NDArray[np.bool_] = np.all((index >= -0.5) & (index <= high), axis=-1)
        return inside

    # ------------------------------------------------------------------ planning
    def _with_affine(self, affine: FloatArray, shape: ShapeLike) -> Space:
        """A Space of ``shape`` with the in-plane ``affine`` and this Space's :attr:`through_plane`."""
        space = object.__new__(Space)
        space._init(tuple(int(n) for n in shape), affine, self._through_plane)
        return space

    def _derive(self, new_to_old: FloatArray, shape: ShapeLike) -> Space:
        """The Space whose index ``j`` sits at this Space's index ``new_to_old @ [j, 1]``."""
        return self._with_affine(self._affine @ new_to_old, shape)

    def crop(self, start: IntsLike, end: IntsLike) -> Space:
        """Index box ``[start, end)`` (end exclusive); parts outside the grid are padding.

        ``start`` and ``end`` are integers (one per axis, or one for all), as MONAI
        ``SpatialCrop(roi_start, roi_end)``; the new voxel ``j`` is the old voxel ``start + j``.

        Raises:
            EmptyBoxError: when ``end <= start`` along some axis.

        Example:
            >>> Space((10, 4), origin=(100.0, 0.0)).crop((2, -1), (6, 4))
            Space(shape=(4, 5), spacing=[1., 1.], origin=[102.,  -1.], direction=[[1., 0.], [0., 1.]])
        """
        start_v = _int_vector(start, self.ndim, "start")
        end_v = _int_vector(end, self.ndim, "end")
        if np.any(end_v <= start_v):
            raise EmptyBoxError(f"crop box is empty or inverted: start={start_v.tolist()}, end={end_v.tolist()}")
        matrix = np.eye(self.ndim + 1)
        matrix[: self.ndim, self.ndim] = start_v
        return self._derive(matrix, end_v - start_v)

    def pad(self, before: IntsLike, after: IntsLike | None = None) -> Space:
        """Grow the grid by ``before`` voxels at the low end and ``after`` (default: ``before``) at the high end.

        Example:
            >>> Space((10, 4)).pad(1, (0, 3)).shape
            (11, 8)
        """
        before_v = _int_vector(before, self.ndim, "before")
        after_v = before_v if after is None else _int_vector(after, self.ndim, "after")
        if np.any(before_v < 0) or np.any(after_v < 0):
            raise SpaceError(f"pad amounts must be >= 0, got before={before_v.tolist()}, after={after_v.tolist()}")
        return self.crop(-before_v, np.array(self._shape) + after_v)

    def _scaled(self, shape: IntArray, align: Align) -> Space:
        old = np.array(self._shape, dtype=np.float64)
        new = shape.astype(np.float64)
        matrix = np.eye(self.ndim + 1)
        if align == "edges":
            scale = old / new
            offset = 0.5 * scale - 0.5
        else:
            if np.any(old < 2) or np.any(new < 2):
                raise SpaceError(
                    f"align='centers' needs at least 2 voxels along every axis, got {self._shape} -> {tuple(int(n) for n in shape)}"
                )
            scale = (old - 1) / (new - 1)
            offset = np.zeros(self.ndim)
        matrix[: self.ndim, : self.ndim] = np.diag(scale)
        matrix[: self.ndim, self.ndim] = offset
        return self._derive(matrix, shape)

    def resize(self, shape: ShapeLike, align: Align = "edges") -> Space:
        """Same field of view sampled with a new ``shape``.

        ``align="edges"`` (default) keeps the field of view's edges (MONAI ``Resize``'s
        default); ``align="centers"`` keeps the first and last voxel centres
        (``Resize(align_corners=True)``) and needs at least 2 voxels per axis.

        Example:
            >>> native = Space((10, 4))
            >>> native.resize((20, 8)).origin, native.resize((20, 8)).spacing
            (array([-0.25, -0.25]), array([0.5, 0.5]))
            >>> native.resize((19, 7), align="centers").origin, native.resize((19, 7), align="centers").spacing
            (array([0., 0.]), array([0.5, 0.5]))
        """
        _check_align(align)
        return self._scaled(np.array(_shape(shape, "shape", self.ndim)), align)

    def zoom(self, factor: ArrayLike, align: Align = "edges") -> Space:
        """Resize to ``floor(shape * factor)`` voxels per axis: MONAI ``Zoom(keep_size=False)``.

        The product is floored exactly as MONAI does (float64, no snapping), so a product a
        hair below an integer loses that voxel: ``n=50, f=2.26`` gives 112 voxels, not 113.
        ``align="edges"`` matches MONAI's default affine, ``align="centers"`` matches
        ``Zoom(align_corners=True)``.

        Example:
            >>> Space((50, 50)).zoom(2.26).shape
            (112, 112)
        """
        _check_align(align)
        factor_v = _vector(factor, self.ndim, "factor", positive=True)
        new = _planned_shape(np.floor(np.array(self._shape, dtype=np.float64) * factor_v))
        if np.any(new < 1):
            raise SpaceError(f"zoom factor {factor_v.tolist()} leaves no voxel along some axis of shape {self._shape}")
        return self._scaled(new, align)

    def respace(self, spacing: ArrayLike, align: Align = "edges") -> Space:
        """Resample the field of view at a new voxel ``spacing``, direction unchanged (shear removed).

        Rounding rule for the new shape (nearest integer, ties to even as ``numpy.round``,
        at least 1, after snapping):

        - ``align="edges"``: ``n' = round(n * s / s')``; the new field of view (``n' * s'``
          long) is centred on the old one, so each edge moves by at most ``s' / 2`` (by
          ``|n * s - n' * s'| / 2``, zero when ``s'`` divides the extent).
        - ``align="centers"``: ``n' = round((n - 1) * s / s' + 1)`` and voxel 0's centre
          stays put: exactly MONAI ``Spacing``'s default output affine and shape (it rounds
          ``(n - 1) * s / s' + 1``).

        A sheared grid is respaced as MONAI ``Spacing`` does it: the new grid is orthogonal,
        its frame the ``Q`` of the affine's ``QR`` factorisation (index axis 0 keeps its world
        direction, axis 1 stays in the plane of old axes 0 and 1, ...), and it covers the old
        grid's corners in that frame: ``align="centers"`` rounds the span of the corner voxel
        centres plus one and puts voxel 0 on the corner that is lowest along every new axis
        (MONAI's ``compute_shape_offset``; where no corner is, both grids' ``shape / 2``
        points coincide, as MONAI's fallback); ``align="edges"`` rounds the span of the voxel
        edges and centres the new field of view on the old one.

        Example:
            >>> native = Space((10, 5), spacing=(1.0, 1.0))
            >>> native.respace(3.0).shape, native.respace(3.0).origin
            ((3, 2), array([1.5, 0.5]))
            >>> native.respace(3.0, align="centers").shape, native.respace(3.0, align="centers").origin
            ((4, 2), array([0., 0.]))
            >>> sheared = Space((10, 10), direction=[[1.0, 0.6], [0.0, 0.8]])
            >>> sheared.respace(1.0, align="centers").shape, sheared.respace(1.0).is_orthogonal
            ((15, 8), True)
        """
        _check_align(align)
        new_spacing = _vector(spacing, self.ndim, "spacing", positive=True)
        old = np.array(self._shape, dtype=np.float64)
        if not self.is_orthogonal:
            return self._respace_sheared(new_spacing, align)
        ratio = new_spacing / self.spacing
        matrix = np.eye(self.ndim + 1)
        matrix[: self.ndim, : self.ndim] = np.diag(ratio)
        if align == "edges":
            new = _round_shape(old / ratio)
            matrix[: self.ndim, self.ndim] = 0.5 * ratio - 0.5 + 0.5 * (old - new * ratio)
        else:
            # MONAI's compute_shape_offset rounds the centre span plus one, in this order
            new = _planned_shape(np.round(snap((old - 1) / ratio + 1.0)))
        return self._derive(matrix, new)

    def _respace_sheared(self, new_spacing: FloatArray, align: Align) -> Space:
        """:meth:`respace` of a sheared grid onto the orthogonal grid of its ``QR`` frame (see there)."""
        ndim = self.ndim
        old = np.array(self._shape, dtype=np.float64)
        linear = self._affine[:ndim, :ndim]
        upper = np.linalg.cholesky(linear.T @ linear).T  # linear = Q @ upper, positive diagonal (MONAI's zoom_affine)
        new_to_old = np.linalg.solve(upper, np.diag(new_spacing))  # new index -> old index, linear part
        old_to_new = np.linalg.inv(new_to_old)
        low, high = (0.0, old - 1) if align == "centers" else (-0.5, old - 0.5)  # centres, or the voxel edges
        corners = np.array(np.meshgrid(*[(low, h) for h in np.broadcast_to(high, (ndim,))], indexing="ij")).reshape(ndim, -1)
        span = np.ptp(old_to_new @ corners, axis=1)
        matrix = np.eye(ndim + 1)
        matrix[:ndim, :ndim] = new_to_old
        if align == "centers":
            new = _planned_shape(np.round(snap(span + 1.0)))
            out = old_to_new @ corners
            lowest = [i for i in range(out.shape[1]) if np.all(out - out[:, i : i + 1] >= -SNAP_TOL)]
            # voxel 0 on the lowest corner, or MONAI's fallback: the shape / 2 points coincide
            matrix[:ndim, ndim] = corners[:, lowest[0]] if lowest else old / 2.0 - new_to_old @ (new / 2.0)
        else:
            new = _round_shape(span)
            matrix[:ndim, ndim] = (old - 1) / 2.0 - new_to_old @ ((new - 1) / 2.0)
        return self._derive(matrix, np.maximum(new, 1))

    def flip(self, axes: int | Sequence[int] | npt.NDArray[np.integer[Any]] | None = None) -> Space:
        """Reverse the given index axes (field of view unchanged), as MONAI ``Flip(spatial_axis=axes)``.

        ``axes`` is one axis or a sequence of axes, negative ones counting from the end;
        ``None`` reverses every axis (MONAI's default) and an empty sequence none. Naming an
        axis twice is an error, as in numpy and torch.

        Example:
            >>> flipped = Space((10, 4), origin=(100.0, 0.0)).flip(0)
            >>> flipped.origin, flipped.direction
            (array([109.,   0.]), array([[-1.,  0.],
                   [ 0.,  1.]]))
        """
        if axes is None:
            axes_list: list[Any] = list(range(self.ndim))
        elif isinstance(axes, (list, tuple, range)) or (isinstance(axes, np.ndarray) and axes.ndim == 1):
            axes_list = list(axes)
        else:
            axes_list = [axes]
        if not all(_is_int(axis) and -self.ndim <= axis < self.ndim for axis in axes_list):
            raise SpaceError(f"flip axes must be integers in [-{self.ndim}, {self.ndim}), got {axes!r}")
        flipped = [int(axis) % self.ndim for axis in axes_list]
        if len(set(flipped)) != len(flipped):
            raise SpaceError(f"flip axes must name each axis at most once, got {axes!r}")
        matrix = np.eye(self.ndim + 1)
        for axis in flipped:
            matrix[axis, axis] = -1.0
            matrix[axis, self.ndim] = self._shape[axis] - 1
        return self._derive(matrix, self._shape)

    def permute(self, order: Sequence[int] | npt.NDArray[np.integer[Any]]) -> Space:
        """Reorder the index axes; new axis ``k`` is old axis ``order[k]`` (as ``numpy.transpose``).

        Example:
            >>> Space((10, 4, 7), spacing=(1.0, 2.0, 3.0)).permute((2, 0, 1)).spacing
            array([3., 1., 2.])
        """
        order_list = list(order) if hasattr(order, "__iter__") and not isinstance(order, (str, bytes)) else []
        if sorted(int(o) if _is_int(o) else -1 for o in order_list) != list(range(self.ndim)):
            raise SpaceError(f"order must be a permutation of {list(range(self.ndim))}, got {order!r}")
        matrix = np.zeros((self.ndim + 1, self.ndim + 1))
        matrix[self.ndim, self.ndim] = 1.0
        for new_axis, old_axis in enumerate(order_list):
            matrix[int(old_axis), new_axis] = 1.0
        return self._derive(matrix, [self._shape[int(o)] for o in order_list])

    def orientation_plan(self, codes: str) -> tuple[list[int], list[int]]:
        """The ``(flip_axes, order)`` that :meth:`orient` applies: flip first, then permute."""
        import nibabel.orientations as nio

        lengths = "3" if self.ndim == 3 else "2 or 3"
        if not isinstance(codes, str) or not self.ndim <= len(codes) <= 3:
            raise ModeError(
                f"codes must be a string of {lengths} axis codes such as 'RAS' for a {self.ndim}-D space, got {codes!r}"
            )
        try:
            every = nio.axcodes2ornt(tuple(codes.upper()))
        except Exception as err:  # nibabel raises ValueError for unknown codes
            raise ModeError(f"invalid orientation codes {codes!r}: {err}") from err
        target = every[: self.ndim]  # a 2-D grid spans the first two world axes; MONAI reads "RAS" as "RA" there
        world_axes = every[:, 0].tolist()
        if np.any(np.isnan(every)) or len(set(world_axes)) != len(world_axes) or set(target[:, 0].tolist()) != set(range(self.ndim)):
            raise ModeError(f"orientation codes must name each world axis once, got {codes!r}")
        current = nio.io_orientation(self._affine)
        transform = nio.ornt_transform(current, target)
        flips = [axis for axis in range(self.ndim) if transform[axis, 1] == -1]
        order = [int(a) for a in np.argsort(transform[:, 0])]
        return flips, order

    def orient(self, codes: str) -> Space:
        """Flip and permute the index axes so they point along ``codes`` (e.g. ``"RAS"``), as MONAI ``Orientation``.

        Codes name the world direction each index axis increases towards (RAS world, as
        MONAI's readers): 3 codes for a 3-D space; 2 for a 2-D space, or 3 of which it uses
        the first two (MONAI reads ``"RAS"`` so on a 2-D image). Every code given must be
        valid and name a different world axis.

        Example:
            >>> lps = Space((4, 5, 6), direction=np.diag([-1.0, -1.0, 1.0]))
            >>> lps.orient("RAS").direction.diagonal(), lps.orient("RAS").origin
            (array([1., 1., 1.]), array([-3., -4.,  0.]))
        """
        flips, order = self.orientation_plan(codes)
        return self.flip(flips).permute(order)

    def rotate(self, angles: ArrayLike, center: ArrayLike | None = None) -> Space:
        """Rotate the grid (not the content) rigidly in world about a world ``center`` (default: the grid centre).

        The grid's shape, spacing and shear are kept; its affine becomes ``W @ affine`` for the
        world rotation ``W = Q @ R @ Q^T`` about ``center``, where ``Q`` is :meth:`frame` (the
        direction itself for an orthogonal grid, its nearest rotation for a sheared one).

        Args:
            angles: radians; one angle in 2-D, three in 3-D composed as
                ``R_0(a_0) @ R_1(a_1) @ R_2(a_2)`` where ``R_k`` turns about the frame's axis
                ``k`` (the grid's own index axis ``k`` when orthogonal; right-handed).
                Content sampled on the rotated grid appears turned by ``-angles``.
            center: world point kept fixed.

        Example:
            >>> turned = Space((5, 5)).rotate(np.pi / 2)  # about the centre voxel (2, 2)
            >>> turned.direction.round(12) + 0.0, turned.origin.round(12) + 0.0
            (array([[ 0., -1.],
                   [ 1.,  0.]]), array([4., 0.]))
        """
        rotation = _rotation(self.ndim, angles)
        center_world = (
            self.index_to_world((np.array(self._shape) - 1) / 2.0)
            if center is None
            else _vector(center, self.ndim, "center")
        )
        center_index = self.world_to_index(center_world)
        frame = self.frame()
        axes = self._affine[: self.ndim, : self.ndim]
        linear = np.linalg.solve(axes, frame @ rotation @ frame.T @ axes)  # the world rotation in index terms
        matrix = np.eye(self.ndim + 1)
        matrix[: self.ndim, : self.ndim] = linear
        matrix[: self.ndim, self.ndim] = center_index - linear @ center_index
        return self._derive(matrix, self._shape)

    def crop_world(
        self,
        center: ArrayLike,
        size: ArrayLike,
        spacing: ArrayLike | None = None,
        shape: ShapeLike | None = None,
    ) -> Space:
        """An oriented box of ``size`` world units centred on world point ``center``.

        The box keeps this Space's direction (sheared too: ``size[k]`` is then measured along
        index axis ``k``'s world direction). Its sampling is, by priority:

        - ``shape`` given: ``spacing = size / shape`` exactly;
        - ``spacing`` given: ``shape = round(size / spacing)`` (ties to even, at least 1);
        - neither: this Space's spacing and shape ``round(size / spacing)``, and the box is
          moved by at most half a voxel (ties move it up) so its voxels coincide with this
          grid's — a pure crop, executed by copying (no interpolation).

        Example:
            >>> native = Space((100, 100), spacing=0.5)
            >>> native.crop_world((20.0, 20.0), (10.0, 10.0))  # on the native grid: moved up by half a voxel (a tie)
            Space(shape=(20, 20), spacing=[0.5, 0.5], origin=[15.5, 15.5], direction=[[1., 0.], [0., 1.]])
            >>> native.crop_world((20.0, 20.0), (10.0, 10.0), shape=(8, 8)).spacing
            array([1.25, 1.25])
        """
        if spacing is not None and shape is not None:
            raise SpaceError("crop_world takes spacing or shape, not both")
        center_v = _vector(center, self.ndim, "center")
        size_v = _vector(size, self.ndim, "size", positive=True)
        if shape is not None:
            shape_v = np.array(_shape(shape, "shape", self.ndim))
            spacing_v = size_v / shape_v
        else:
            spacing_v = self.spacing if spacing is None else _vector(spacing, self.ndim, "spacing", positive=True)
            shape_v = _round_shape(size_v / spacing_v)
        if spacing is None and shape is None:
            first = self.world_to_index(center_v) - (shape_v - 1) / 2.0
            start = np.floor(snap(first + 0.5)).astype(np.int64)  # ties go up, as nearest's tie rule
            return self.crop(start, start + shape_v)
        affine = np.eye(self.ndim + 1)
        affine[: self.ndim, : self.ndim] = self.direction * spacing_v
        affine[: self.ndim, self.ndim] = center_v - affine[: self.ndim, : self.ndim] @ ((shape_v - 1) / 2.0)
        return self._with_affine(affine, shape_v)

