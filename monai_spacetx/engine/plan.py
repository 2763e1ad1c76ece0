"""Classify a source→target resample into the cheapest exact execution path (numpy only).

Everything is phrased through ``M = index_map(target, source)``: the snapped float64
homogeneous matrix taking a target voxel's continuous index ``j`` to the source index
``x = A @ j + b`` at which that voxel is sampled.

Paths, cheapest first:

- ``"identity"``: same shape and ``M`` is exactly the identity.
- ``"index"``: ``A`` is a signed permutation matrix and ``b`` is integral (crop, pad, flip,
  transpose, reorient): values are copied by indexing, bitwise exact, for every mode.
- ``"separable"``: ``A`` is a permutation matrix with arbitrary non-zero entries (axis-aligned
  scale + translation, e.g. crop + respace/resize): per-axis 1-D interpolation.
- ``"general"``: anything else (rotations, oblique targets): one gather/grid_sample pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import SpaceError, SpaceTypeError
from ..geometry.points import index_map, snap
from ..geometry.tolerances import PLAN_TOL, SNAP_TOL
from ..geometry.space import Space

__all__ = ["WarpPlan", "plan_warp", "PathKind"]

PathKind = Literal["identity", "index", "separable", "general"]


@dataclass(frozen=True)
class WarpPlan:
    """How to execute one resample from ``source`` onto ``target``.

    Attributes:
        kind: the execution path (see the module docstring).
        matrix: ``(D+1, D+1)`` float64, target index → source index (snapped).
        source_shape: spatial shape of the source grid.
        target_shape: spatial shape of the target grid.
        axes: for ``identity``/``index``/``separable``: ``axes[k]`` is the source axis that
            target axis ``k`` reads from; ``None`` for ``general``.
        scale: per target axis ``k``: ``x[axes[k]] = scale[k] * j[k] + offset[k]``.
        offset: see ``scale``.
        source_spacing, target_spacing: the grids' voxel spacings (mm), which decide the thick
            axis of an anisotropic resample (:meth:`thick_source_axis`); ``None`` if unknown.
    """

    kind: PathKind
    matrix: np.ndarray
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    axes: tuple[int, ...] | None = None
    scale: tuple[float, ...] | None = None
    offset: tuple[float, ...] | None = None
    source_spacing: tuple[float, ...] | None = None
    target_spacing: tuple[float, ...] | None = None

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.target_shape)

    def thick_source_axis(self, threshold: float) -> int | None:
        """The source axis nnU-Net resamples apart from the others, or ``None``.

        Axis-aligned plans only: the source's largest-spacing axis if its spacings' ratio
        (largest / smallest) exceeds ``threshold``, else the source axis the target's
        largest-spacing axis reads from if the target's ratio does, else ``None``.
        """
        if self.axes is None:
            return None
        for spacing, to_source in ((self.source_spacing, None), (self.target_spacing, self.axes)):
            if spacing is not None and max(spacing) > threshold * min(spacing):
                thick = int(np.argmax(spacing))
                return thick if to_source is None else to_source[thick]
        return None

    def axis_coords(self, k: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Snapped float64 source coordinates read by target voxels ``start..stop-1`` of axis ``k``.

        Axis-aligned plans only (``axes`` set): ``x = scale[k] * j + offset[k]`` along source
        axis ``axes[k]``, each value within ``SNAP_TOL`` of an integer or a half-integer snapped
        to it, so that the kernels' nearest tie rule ``floor(x + 0.5)``, their inside test
        (``-0.5 <= x <= n - 0.5``) and their copy-instead-of-blend test see exact values.
        """
        if self.scale is None or self.offset is None:
            raise ValueError(f"axis_coords needs an axis-aligned plan, this one is {self.kind!r}")
        stop = self.target_shape[k] if stop is None else stop
        coords = np.arange(start, stop, dtype=np.float64) * self.scale[k] + self.offset[k]
        return snap(2.0 * coords, 2.0 * SNAP_TOL) / 2.0


def _drop_negligible(matrix: np.ndarray, target_shape: tuple[int, ...]) -> np.ndarray:
    """``matrix`` with couplings, scale and shift residues that move no voxel by more than ``PLAN_TOL`` removed."""
    ndim = len(target_shape)
    cleaned = matrix.copy()
    linear = cleaned[:ndim, :ndim]
    extent = np.maximum(np.array(target_shape, dtype=np.float64) - 1.0, 1.0)
    # each dropped entry moves a row by at most PLAN_TOL / ndim over the grid
    linear[np.abs(linear) * extent[None, :] <= PLAN_TOL / ndim] = 0.0
    if np.all((linear != 0).sum(axis=0) == 1) and np.all((linear != 0).sum(axis=1) == 1):
        for row, col in zip(*np.nonzero(linear)):
            unit, shift = np.sign(linear[row, col]), cleaned[row, ndim]
            # a scale within PLAN_TOL of +-1 over the grid and a near-integer shift: an exact copy
            if abs(linear[row, col] - unit) * extent[col] <= PLAN_TOL / 2 and abs(shift - round(shift)) <= PLAN_TOL / 2:
                linear[row, col], cleaned[row, ndim] = unit, float(round(shift))
    return cleaned


def plan_warp(source: Space, target: Space) -> WarpPlan:
    """Classify the resample ``source → target`` (see the module docstring for the rules).

    Raises:
        SpaceTypeError: ``source`` or ``target`` is not a :class:`~monai_spacetx.Space`.
        SpaceError: the two spaces have different dimensionality.
    """
    for name, value in (("source", source), ("target", target)):
        if not isinstance(value, Space):
            raise SpaceTypeError(f"{name} must be a monai_spacetx.Space, got {type(value).__name__}")
    if source.ndim != target.ndim:
        raise SpaceError(
            f"source and target must have the same dimensionality, got source {source.ndim}-D "
            f"{source.shape} and target {target.ndim}-D {target.shape}"
        )
    ndim = source.ndim
    matrix = index_map(target, source)
    source_spacing, target_spacing = tuple(map(float, source.spacing)), tuple(map(float, target.spacing))
    cleaned = _drop_negligible(matrix, target.shape)
    linear, shift = cleaned[:ndim, :ndim], cleaned[:ndim, ndim]
    nonzero = linear != 0
    if not (np.all(nonzero.sum(axis=0) == 1) and np.all(nonzero.sum(axis=1) == 1)):
        return WarpPlan("general", matrix, source.shape, target.shape, source_spacing=source_spacing, target_spacing=target_spacing)
    axes = tuple(int(np.flatnonzero(nonzero[:, k])[0]) for k in range(ndim))
    scale = tuple(float(linear[axes[k], k]) for k in range(ndim))
    offset = tuple(float(shift[axes[k]]) for k in range(ndim))
    is_index = all(abs(s) == 1.0 for s in scale) and all(o == round(o) for o in offset)
    if is_index and source.shape == target.shape and np.array_equal(cleaned, np.eye(ndim + 1)):
        kind: PathKind = "identity"
    else:
        kind = "index" if is_index else "separable"
    return WarpPlan(kind, cleaned, source.shape, target.shape, axes=axes, scale=scale, offset=offset, source_spacing=source_spacing, target_spacing=target_spacing)
