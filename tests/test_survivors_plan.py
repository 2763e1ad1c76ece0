"""Tests written to kill the mutants of ``engine/plan.py`` that mutmut left alive (tests/mutation/run_mutmut.py).

Each test names the mutants it kills; each checks against an outside oracle: the rule as the module documents
it computed by hand from the raw affines (nnU-Net's ``max / min > threshold``, ``PLAN_TOL`` over the grid's extent,
``SNAP_TOL`` around half-integers), the documented messages. Survivors shown equivalent instead are listed with
their reasons in the mutation notes.
"""

from __future__ import annotations

import numpy as np
import pytest

from monai_spacetx import Space
from monai_spacetx.engine import WarpPlan, plan_warp, warp_image
from monai_spacetx.errors import SpaceTypeError
from monai_spacetx.geometry.tolerances import PLAN_TOL


def test_a_spacing_ratio_equal_to_the_threshold_is_not_anisotropic():
    """thick_source_axis_5 (``>=`` for ``>``): nnU-Net's rule is ``max(spacing) / min(spacing) > threshold``,
    strictly, so a ratio of exactly 3 is isotropic enough, on the source side and on the target side."""
    source = Space((6, 5, 4), spacing=(1.0, 1.0, 3.0))
    assert plan_warp(source, source.respace((1.5, 1.5, 3.0))).thick_source_axis(3.0) is None  # target ratio 2
    iso = Space((6, 5, 4))
    assert plan_warp(iso, iso.respace((1.0, 1.0, 3.0))).thick_source_axis(3.0) is None
    assert plan_warp(iso, iso.respace((1.0, 1.0, 3.0))).thick_source_axis(2.9) == 2  # just below: the target's axis 2


def test_the_targets_thick_axis_is_named_by_the_source_axis_it_reads():
    """thick_source_axis_12 (the target's axis returned as is): the source axis parallel to the target's thick
    axis, found from the raw directions (the source column whose direction is the target column's)."""
    source = Space((10, 9, 8))  # isotropic: the target decides
    target = source.permute((2, 0, 1)).respace((1.0, 1.0, 4.0))
    thick_target_axis = int(np.argmax(target.spacing))
    assert thick_target_axis == 2
    alignment = np.abs(np.asarray(source.direction).T @ np.asarray(target.direction)[:, thick_target_axis])
    expected = int(np.argmax(alignment))
    assert expected == 1  # by hand: permute((2, 0, 1)) puts source axis 1 last
    assert plan_warp(source, target).thick_source_axis(3.0) == expected


def test_axis_coords_refuses_a_plan_without_scale_or_offset_naming_its_kind():
    """axis_coords_2 (``and`` for ``or``), axis_coords_5 (the message dropped): a plan without an offset is not
    axis-aligned even when it has a scale; the message names the plan's kind."""
    half = WarpPlan("general", np.eye(3), (4, 4), (4, 4), scale=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"^axis_coords needs an axis-aligned plan, this one is 'general'$"):
        half.axis_coords(0)
    rotated = plan_warp(Space((4, 4)), Space((4, 4)).rotate(0.3))
    with pytest.raises(ValueError, match=r"^axis_coords needs an axis-aligned plan, this one is 'general'$"):
        rotated.axis_coords(1)


def test_axis_coords_snap_half_integers_within_snap_tol():
    """axis_coords_23, _27 (the doubled coordinates snapped with ``SNAP_TOL``, not ``2 * SNAP_TOL``): a target shifted
    by half a voxel plus 7e-10 reads x = j + 0.5 + 7e-10, within SNAP_TOL = 1e-9 of the half-integer, so exactly
    j + 0.5 (the module's contract); then the last voxel's centre is on the field of view's edge n - 0.5, inside."""
    source = Space((6, 5))
    target = Space((6, 5), origin=(0.5 + 7e-10, 0.0))
    plan = plan_warp(source, target)
    assert plan.kind == "separable"
    assert plan.axis_coords(0).tolist() == [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]
    # axis_coords_27 (``3 * SNAP_TOL``): 1.2e-9 from the half-integer is beyond SNAP_TOL, kept as it is
    beyond = plan_warp(source, Space((6, 5), origin=(0.5 + 1.2e-9, 0.0))).axis_coords(0)
    np.testing.assert_allclose(beyond - np.arange(6) - 0.5, 1.2e-9, rtol=1e-6, atol=0)
    src = np.arange(30.0).reshape(6, 5)
    out = warp_image(src, source, target, "linear", "zeros", fill=-1.0)
    # by hand: the mean of rows j and j + 1, the last row's taps clamped to row 5 (inside: not the fill)
    expected = np.concatenate([(src[:-1] + src[1:]) / 2.0, src[-1:]])
    assert np.array_equal(out, expected)


def test_a_coupling_is_dropped_by_its_effect_over_the_grids_extent():
    """_drop_negligible_9 (extent ``n + 1`` for ``n - 1``): an entry ``c`` is dropped when it moves a row by at
    most ``PLAN_TOL / ndim`` across the grid, i.e. ``|c| * (n - 1)``. On a 3 x 3 grid a shear of 2e-5 moves a row
    by 4e-5 <= 5e-5 (dropped: the identity copy), one of 3e-5 by 6e-5 (kept: the general path)."""
    assert PLAN_TOL / 2 == 5e-5
    # (shape, shear, kind): _14 (``n - 2``) and _20 (``PLAN_TOL * ndim``) drop 3e-5 on 3 x 3; _19 (``<`` for ``<=``)
    # keeps 2.5e-5 * 2 == 5e-5 exactly (the bound is inclusive); _15 (extent at least 2) keeps 4e-5 on 2 x 2 (extent 1)
    for shape, shear, kind in (((3, 3), 2e-5, "identity"), ((3, 3), 3e-5, "general"), ((3, 3), 2.5e-5, "identity"),
                               ((2, 2), 4e-5, "identity"), ((2, 2), 6e-5, "general")):
        affine = np.eye(3)
        affine[0, 1] = shear
        assert plan_warp(Space(shape), Space.from_affine(affine, shape)).kind == kind, (shape, shear)


def test_plan_warp_names_the_argument_that_is_not_a_space():
    """The source's message (test_engine checks only the target's)."""
    with pytest.raises(SpaceTypeError, match=r"^source must be a monai_spacetx\.Space, got ndarray$"):
        plan_warp(np.eye(3), Space((4, 4)))


def test_a_scale_residue_is_snapped_by_its_effect_over_the_grids_extent():
    """_drop_negligible_41 (the residue divided by the extent, not multiplied): a spacing of 1 + d read by an 11-voxel
    axis (extent 10) moves the last voxel by 10 d; snapped to an exact copy when 10 d <= PLAN_TOL / 2 = 5e-5 (d = 4e-6),
    resampled when not (d = 1e-5: a 1e-4 voxel drift is a real resample, not float32 header round-off)."""
    for d, kind in ((4e-6, "identity"), (1e-5, "separable")):
        assert plan_warp(Space((11, 3)), Space((11, 3), spacing=(1.0 + d, 1.0))).kind == kind, d


def test_a_shift_residue_is_rounded_within_half_plan_tol():
    """_drop_negligible_50 (``<`` for ``<=``), _51 (``PLAN_TOL * 2``), _52 (``PLAN_TOL / 3``): a unit-scale axis whose
    shift is within PLAN_TOL / 2 = 5e-5 voxels of an integer (bound included: a shift of exactly 5e-5) is an exact
    copy; 1e-4 is a real shift, resampled."""
    source = Space((4, 4))
    for shift, kind in ((4e-5, "identity"), (5e-5, "identity"), (1e-4, "separable"), (2.0 + 4e-5, "index"),
                        (-3.0 - 1e-4, "separable")):
        plan = plan_warp(source, Space((4, 4), origin=(shift, 0.0)))
        assert plan.kind == kind, shift


def test_nearly_parallel_target_axes_take_the_general_path():
    """plan_warp_37 (``or`` for ``and``), _40 (the row count read twice): a sheared target whose two axes both run along
    source axis 0 (index map columns (1, 1e-6) and (1, -1e-6): the 1e-6 parts move no voxel by more than PLAN_TOL over
    3 voxels and are dropped) has no source axis per target axis: it is not axis-aligned, whatever the counts of one
    side say. Then the values: the brute-force linear interpolation from the raw affines (tests/oracles.py)."""
    import oracles

    source = Space((3, 3))
    src = np.arange(9.0).reshape(3, 3) ** 2
    for linear in ([[1.0, 1.0], [1e-6, -1e-6]], [[1.0, 1e-6], [1.0, -1e-6]]):
        affine = np.eye(3)
        affine[:2, :2] = linear
        target = Space.from_affine(affine, (3, 3))
        assert plan_warp(source, target).kind == "general", linear
        expected = oracles.interpolate(src, source.affine, target.affine, target.shape, 1, "border")
        np.testing.assert_allclose(warp_image(src, source, target, "linear", "border"), expected, rtol=0, atol=1e-9)


def test_every_plan_carries_the_grids_spacings():
    """plan_warp_52, _53 (a general plan without its spacings): the spacings are the attributes' documented values on
    every path, the column norms of the raw affines."""
    source = Space((8, 7), spacing=(0.8, 1.7))
    for target in (source.rotate(0.3).respace((1.1, 0.9)), source.respace((1.1, 0.9)), source.crop((1, 1), (6, 6))):
        plan = plan_warp(source, target)
        assert np.allclose(plan.source_spacing, np.linalg.norm(source.affine[:2, :2], axis=0), rtol=0, atol=1e-12)
        assert np.allclose(plan.target_spacing, np.linalg.norm(target.affine[:2, :2], axis=0), rtol=0, atol=1e-12), plan.kind
