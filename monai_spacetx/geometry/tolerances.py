"""Every numerical tolerance of the package, with its unit and the reason for its value.

One module so that a reader finds them all in one place and no two modules disagree.
The plan is snapped once, in the geometry (:func:`~monai_spacetx.geometry.points.index_map`)
and the engine's classifier (:func:`~monai_spacetx.engine.plan_warp`); the kernels trust it.
"""

from __future__ import annotations

__all__ = [
    "SNAP_TOL",
    "LINEAR_SNAP_TOL",
    "EQUALITY_ATOL",
    "ORTHONORMAL_TOL",
    "UNIT_COLUMN_TOL",
    "DEGENERATE_TOL",
    "PLAN_TOL",
    "WEIGHT_TOL",
    "AFFINE_MATCH_ATOL",
]

#: Source voxels (index units). A planned coordinate closer than this to an integer is that
#: integer, so a plan that is "really" an integer shift (a crop seen through float64
#: round-off) is one, and a nearest-neighbour centre on a voxel boundary follows the
#: documented tie rule instead of round-off.
SNAP_TOL = 1e-9

#: Dimensionless (entries of the linear part of an index map). Pure float64 round-off of
#: ``inv(A) @ B``; anything larger is a real scale and must be kept.
LINEAR_SNAP_TOL = 1e-12

#: World units (mm). Two spaces are equal when their shapes match and their affines agree to
#: this absolute tolerance.
EQUALITY_ATOL = 1e-6

#: Dimensionless. Largest deviation of ``direction.T @ direction`` from the identity accepted
#: as orthonormal (:attr:`~monai_spacetx.Space.is_orthogonal`): float32 NIfTI headers of oblique
#: scans carry ~1e-7 round-off, and a few orders of magnitude of slack cost nothing geometrically.
ORTHONORMAL_TOL = 1e-4

#: Dimensionless. Largest deviation from 1 of a column norm of a ``direction`` given to
#: ``Space(...)``: the voxel size belongs in ``spacing``, and a direction column of norm 2 would
#: silently double it. Same float32 header round-off as ``ORTHONORMAL_TOL``.
UNIT_COLUMN_TOL = ORTHONORMAL_TOL

#: Dimensionless: ``|det|`` of the normalised direction (the volume of the unit parallelepiped
#: its columns span; 1 when orthogonal, ``sin`` of the angle between two axes in 2-D). Below
#: this the index axes are (nearly) parallel: the affine is singular or so close to it that
#: world -> index loses all precision. MONAI's sheared grids stay far above it (a 45 degree
#: shear gives 0.71).
DEGENERATE_TOL = 1e-6

#: Source voxels, over the whole target grid. Couplings, scale and shift residues of a plan that
#: move no target voxel by more than this are dropped by the classifier. Float32 NIfTI affines
#: couple axes that are really aligned by ~1e-8 per voxel; without this a crop + respace of such
#: a scan would take the general path (slow, and interpolating where a copy is exact). It is
#: the same size as ``ORTHONORMAL_TOL`` because both absorb the same float32 header round-off.
PLAN_TOL = ORTHONORMAL_TOL

#: Dimensionless (an interpolation weight). Below this a linear weight is exact round-off of
#: an integer coordinate, so the separable kernel may copy instead of blending.
WEIGHT_TOL = 1e-12

#: World units (mm). Two images (e.g. an image and its label loaded from separate files) are
#: taken to be on the same grid when their affines agree to this: float32 headers written by
#: different tools differ by ~1e-5 mm.
AFFINE_MATCH_ATOL = 1e-4
