"""The Space value object: constructors, properties, serialisation and the planning ops' arithmetic."""

from __future__ import annotations

import copy
import json
import math
import pickle

import numpy as np
import pytest
import torch

from conftest import random_space

from monai_spacetx import (
    EmptyBoxError,
    MetadataError,
    ModeError,
    PointsError,
    ShapeMismatchError,
    Space,
    SpaceError,
    SpaceTxError,
    SpaceTypeError,
)

S2 = Space((10, 12), spacing=(0.5, 2.0), origin=(3.0, -4.0))
S3 = Space((10, 12, 8), spacing=(0.5, 2.0, 1.5))


def test_constructor_and_properties():
    direction = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    space = Space((4, 5, 6), spacing=(0.5, 2.0, 3.0), origin=(10.0, 20.0, 30.0), direction=direction)
    assert space.shape == (4, 5, 6) and space.ndim == 3
    np.testing.assert_array_equal(space.spacing, [0.5, 2.0, 3.0])
    np.testing.assert_array_equal(space.origin, [10.0, 20.0, 30.0])
    np.testing.assert_array_equal(space.direction, direction)
    assert space.affine.dtype == np.float64 and space.affine.shape == (4, 4)
    np.testing.assert_array_equal(space.affine[:3, :3], direction * [0.5, 2.0, 3.0])
    np.testing.assert_array_equal(space.affine[3], [0, 0, 0, 1])
    assert Space((3, 4)).affine.shape == (3, 3)
    # scalar spacing/origin broadcast; numpy integer shapes accepted
    assert Space(np.array([3, 4]), spacing=2.0).spacing.tolist() == [2.0, 2.0]
    assert "Space(shape=(4, 5, 6)" in repr(space)


def test_from_affine_2d_accepts_monai_4x4_and_3x3():
    a3 = np.array([[0.0, -0.7, 5.0], [1.3, 0.0, -2.0], [0.0, 0.0, 1.0]])
    a4 = np.eye(4)
    a4[np.ix_([0, 1, 3], [0, 1, 3])] = a3
    s3 = Space.from_affine(a3, (7, 8))
    s4 = Space.from_affine(a4, (7, 8))
    assert s3 == s4 and np.array_equal(s3.affine, s4.affine) and s4.affine.shape == (3, 3)
    np.testing.assert_array_equal(s4.to_monai_affine(), a4)
    s_torch = Space.from_affine(torch.as_tensor(a4, dtype=torch.float32), (7, 8))
    assert s_torch == s3
    a4_z = a4.copy()
    a4_z[2, 2] = 2.5  # MONAI may keep a non-unit third-axis scale for 2-D images; it is ignored
    assert Space.from_affine(a4_z, (7, 8)) == s3


def test_from_affine_is_exact(oblique_space):
    again = Space.from_affine(oblique_space.affine, oblique_space.shape)
    assert np.array_equal(again.affine, oblique_space.affine)


@pytest.mark.parametrize("ndim", [2, 3])
def test_serialisation_round_trips_exactly(ndim):
    rng = np.random.default_rng(ndim)
    for _ in range(10):
        space = random_space(rng, ndim, origin_scale=1e6)
        for again in (
            Space.from_dict(space.to_dict()),
            Space.from_json(space.to_json()),
            Space.from_dict(json.loads(json.dumps(space.to_dict()))),
            pickle.loads(pickle.dumps(space)),
            copy.deepcopy(space),
            copy.copy(space),
        ):
            assert again.shape == space.shape
            assert np.array_equal(again.affine, space.affine)  # bit for bit
            assert again == space and hash(again) == hash(space)
        assert json.loads(space.to_json()) == space.to_dict()
        assert set(space.to_dict()) == {"shape", "affine"}


def test_equality_tolerance_and_hash():
    a = Space((4, 5), spacing=(1.0, 2.0), origin=(3.0, 4.0))
    b = Space((4, 5), spacing=(1.0, 2.0), origin=(3.0 + 1e-9, 4.0))
    c = Space((4, 5), spacing=(1.0, 2.0), origin=(3.0 + 1e-3, 4.0))
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert a != Space((4, 6), spacing=(1.0, 2.0), origin=(3.0, 4.0))
    assert a != "not a space"
    assert len({a, b, c}) == 2


def test_crop_and_pad():
    space = Space((10, 12), spacing=(0.5, 2.0), origin=(1.0, -1.0))
    cropped = space.crop((2, 3), (7, 12))
    assert cropped.shape == (5, 9)
    np.testing.assert_array_equal(cropped.origin, [2.0, 5.0])
    # a box reaching outside the grid is padding
    outside = space.crop((-2, 0), (12, 14))
    assert outside.shape == (14, 14)
    np.testing.assert_array_equal(outside.origin, [0.0, -1.0])
    assert space.pad(2) == space.crop((-2, -2), (12, 14))
    assert space.pad((1, 2), (3, 4)).shape == (14, 18)
    assert space.pad(0) == space


def test_resize_zoom_respace_arithmetic():
    space = Space((35, 35))
    working = space.crop((10, 10), (25, 25)).resize((32, 32))
    np.testing.assert_allclose(working.spacing, [15 / 32] * 2)
    # first voxel centre sits half a new voxel inside the crop's edge at 9.5
    np.testing.assert_allclose(working.origin, [9.5 + 15 / 64] * 2)
    centers = space.resize((8, 8), align="centers")
    np.testing.assert_allclose(centers.spacing, [34 / 7] * 2)
    np.testing.assert_array_equal(centers.origin, [0.0, 0.0])
    assert space.zoom(0.5).shape == (17, 17)  # floor(35 * 0.5)
    assert space.zoom((2, 1.01)).shape == (70, 35)
    # respace, edges: round(n * s / s') voxels, centred on the old field of view
    coarse = Space((10, 7), spacing=(1.0, 1.0)).respace((3.0, 2.0))
    assert coarse.shape == (3, 4)  # round(10/3) = 3, round(7/2) = round(3.5) = 4 (ties to even)
    np.testing.assert_allclose(coarse.index_to_world((coarse.shape[0] - 1) / 2.0 * np.ones(2))[0], 4.5)
    # respace, centers: round((n - 1) * s / s' + 1), voxel 0 kept
    c2 = Space((10, 7)).respace((3.0, 2.0), align="centers")
    assert c2.shape == (4, 4)
    np.testing.assert_array_equal(c2.origin, [0.0, 0.0])
    assert Space((3, 3)).respace(100.0).shape == (1, 1)  # at least one voxel


def test_flip_permute_orient():
    space = Space((4, 5, 6), spacing=(1.0, 2.0, 3.0), origin=(1.0, 2.0, 3.0))
    flipped = space.flip(1)
    np.testing.assert_array_equal(flipped.origin, [1.0, 10.0, 3.0])
    np.testing.assert_array_equal(flipped.direction, np.diag([1.0, -1.0, 1.0]))
    assert flipped.flip(1) == space and space.flip([0, 2]) == space.flip(0).flip(2)
    perm = space.permute((2, 0, 1))
    assert perm.shape == (6, 4, 5)
    np.testing.assert_array_equal(perm.spacing, [3.0, 1.0, 2.0])
    assert perm.permute(np.argsort((2, 0, 1))) == space
    lps = space.orient("LPS")
    np.testing.assert_array_equal(lps.direction, np.diag([-1.0, -1.0, 1.0]))
    assert lps.orient("RAS") == space
    assert space.orientation_plan("LPS") == ([0, 1], [0, 1, 2])
    assert space.orient("ras") == space  # case-insensitive
    assert Space((4, 5)).orient("LPS").direction.tolist() == [[-1.0, 0.0], [0.0, -1.0]]


def test_rotate():
    space = Space((11, 21), spacing=(1.0, 0.5))
    turned = space.rotate(np.pi / 2)
    np.testing.assert_allclose(turned.spacing, space.spacing)
    np.testing.assert_allclose(turned.direction, [[0.0, -1.0], [1.0, 0.0]], atol=1e-15)
    np.testing.assert_allclose(turned.index_to_world([5.0, 10.0]), [5.0, 5.0])
    about = space.rotate(0.3, center=(0.0, 0.0))
    np.testing.assert_allclose(about.origin, [0.0, 0.0], atol=1e-15)
    s3 = Space((5, 6, 7), spacing=(1.0, 2.0, 3.0))
    assert s3.rotate((0.0, 0.0, 0.0)) == s3
    r = s3.rotate((0.1, -0.2, 0.3))
    assert np.isclose(np.linalg.det(r.direction), 1.0)


def test_crop_world():
    space = Space((40, 40), spacing=(0.5, 0.5), origin=(-10.0, -10.0))
    # default: snapped to this grid, a pure crop
    box = space.crop_world(center=(0.0, 0.0), size=(5.0, 5.0))
    assert box.shape == (10, 10)
    start = space.world_to_index(box.origin)
    np.testing.assert_array_equal(start, np.round(start))
    np.testing.assert_allclose(box.spacing, [0.5, 0.5])
    # shape given: spacing = size / shape, centred exactly on the centre
    b2 = space.crop_world(center=(1.3, -2.1), size=(8.0, 6.0), shape=(16, 24))
    np.testing.assert_allclose(b2.spacing, [0.5, 0.25])
    np.testing.assert_allclose(b2.index_to_world((np.array(b2.shape) - 1) / 2.0), [1.3, -2.1])
    # spacing given: shape = round(size / spacing)
    b3 = space.crop_world(center=(1.3, -2.1), size=(8.0, 6.0), spacing=(1.0, 0.7))
    assert b3.shape == (8, 9)
    np.testing.assert_allclose(b3.direction, space.direction)


def test_bounds_and_contains(oblique_space):
    space = Space((10, 20), spacing=(1.0, 0.5), origin=(0.0, 0.0))
    low, high = space.bounds()
    np.testing.assert_array_equal(low, [-0.5, -0.25])
    np.testing.assert_array_equal(high, [9.5, 9.75])
    assert space.contains(np.array([[9.5, 9.75], [9.51, 0.0]])).tolist() == [True, False]
    low, high = oblique_space.bounds()
    corners = oblique_space.index_to_world(np.array(oblique_space.shape) - 0.5)
    assert np.all(corners >= low - 1e-9) and np.all(corners <= high + 1e-9)
    assert np.all(oblique_space.contains(oblique_space.index_to_world(np.zeros((3, oblique_space.ndim)))))


# ------------------------------------------------------------------ bad input: the package's own errors


def test_error_hierarchy():
    for err in (SpaceError, EmptyBoxError, ShapeMismatchError, PointsError, ModeError, MetadataError):
        assert issubclass(err, SpaceTxError) and issubclass(err, ValueError)
    assert issubclass(SpaceTypeError, SpaceTxError) and issubclass(SpaceTypeError, TypeError)
    assert issubclass(EmptyBoxError, SpaceError)


# ------------------------------------------------------------------ constructing a Space


@pytest.mark.parametrize(
    "shape, err, match",
    [
        ((5,), SpaceError, r"shape must have 2 or 3 entries \(a 2-D or 3-D grid\), got \(5,\)"),
        ((2, 3, 4, 5), SpaceError, r"shape must have 2 or 3 entries .*got \(2, 3, 4, 5\)"),
        ((0, 3), SpaceError, r"shape must be positive integers, got \(0, 3\)"),
        ((-1, 3, 3), SpaceError, r"shape must be positive integers"),
        ((2.5, 3), SpaceError, r"shape must be 2 integers, got \(2.5, 3\)"),
        ((True, False), SpaceError, r"shape must be 2 integers"),
        (("a", "b"), SpaceError, r"shape must be 2 integers"),
        (5, SpaceTypeError, r"shape must be a sequence of 2 or 3 positive integers, got 5"),
        ("ab", SpaceTypeError, r"shape must be a sequence .*got 'ab'"),
        (None, SpaceTypeError, r"shape must be a sequence .*got None"),
    ],
)
def test_bad_shape(shape, err, match):
    with pytest.raises(err, match=match):
        Space(shape)


@pytest.mark.parametrize(
    "spacing, match",
    [
        ((1.0, 0.0), r"spacing must be positive, got \(1.0, 0.0\)"),
        ((1.0, -2.0), r"spacing must be positive"),
        ((1.0, np.nan), r"spacing must be finite"),
        ((np.inf, 1.0), r"spacing must be finite"),
        ((1.0, 2.0, 3.0), r"spacing must have 2 entries, got \(1.0, 2.0, 3.0\)"),
        (0.0, r"spacing must be positive, got 0.0"),
    ],
)
def test_bad_spacing(spacing, match):
    with pytest.raises(SpaceError, match=match):
        Space((4, 4), spacing=spacing)


def test_bad_spacing_type_and_origin():
    with pytest.raises(SpaceTypeError, match=r"spacing must be numeric, got 'abc'"):
        Space((4, 4), spacing="abc")
    with pytest.raises(SpaceError, match=r"origin must be finite, got \[0.0, nan\]"):
        Space((4, 4), origin=[0.0, np.nan])
    with pytest.raises(SpaceError, match=r"origin must have 3 entries"):
        Space((4, 4, 4), origin=[0.0, 1.0])


@pytest.mark.parametrize(
    "direction, match",
    [
        ([[1.0, 0.5], [0.0, 1.0]], r"direction's columns must be unit vectors .*column norms \[1.0, 1.118"),
        ([[2.0, 0.0], [0.0, 1.0]], r"direction's columns must be unit vectors .*got \[\[2.0, 0.0\], \[0.0, 1.0\]\]"),
        ([[1.0, 1.0], [0.0, 0.0]], r"affine is singular or degenerate: its index axes are \(nearly\) parallel"),
        (np.eye(3), r"direction must be a 2x2 matrix, got shape \(3, 3\)"),
        ([[1.0, np.nan], [0.0, 1.0]], r"direction must be finite"),
        ([[0.0, 0.0], [0.0, 1.0]], r"direction's columns must be unit vectors"),
        ([[1.0, math.cos(1e-7)], [0.0, math.sin(1e-7)]], r"\|det\(direction\)\| = 1e-07 < 1e-06"),
    ],
)
def test_bad_direction(direction, match):
    with pytest.raises(SpaceError, match=match):
        Space((4, 4), direction=direction)


@pytest.mark.parametrize("ndim", [2, 3])
def test_sheared_direction_is_a_space(ndim):
    """Unit columns that are not orthogonal: spacing stays the given one, direction the given columns."""
    direction = np.eye(ndim)
    direction[:, 1] = [0.6, 0.8, 0.0][:ndim]  # axis 1 leans 36.87 degrees towards axis 0
    space = Space((5, 6, 7)[:ndim], spacing=(0.7, 2.5, 1.1)[:ndim], origin=3.0, direction=direction)
    assert not space.is_orthogonal
    np.testing.assert_array_equal(space.spacing, (0.7, 2.5, 1.1)[:ndim])
    np.testing.assert_allclose(space.direction, direction, rtol=0, atol=1e-15)
    expected = np.eye(ndim + 1)
    expected[:ndim, :ndim] = direction * np.array((0.7, 2.5, 1.1)[:ndim])
    expected[:ndim, ndim] = 3.0
    np.testing.assert_array_equal(space.affine, expected)
    assert Space.from_json(space.to_json()) == space and Space.from_dict(space.to_dict()) == space
    assert pickle.loads(pickle.dumps(space)) == space


def test_bad_affine():
    with pytest.raises(SpaceError, match=r"affine must be 4x4 for shape \(3, 3, 3\), got shape \(3, 3\)"):
        Space.from_affine(np.eye(3), (3, 3, 3))
    with pytest.raises(SpaceError, match=r"affine must be 3x3 for shape \(3, 3\), got shape \(5, 5\)"):
        Space.from_affine(np.eye(5), (3, 3))
    with pytest.raises(SpaceError, match=r"affine must be finite"):
        Space.from_affine(np.diag([1.0, np.inf, 1.0]), (3, 3))
    bottom = np.eye(3)
    bottom[2, 0] = 0.5
    with pytest.raises(SpaceError, match=r"affine's last row must be \[0, ..., 0, 1\], got \[0.5, 0.0, 1.0\]"):
        Space.from_affine(bottom, (3, 3))
    shear = np.eye(4)
    shear[0, 1] = 0.3
    assert not Space.from_affine(shear, (3, 3, 3)).is_orthogonal  # sheared grids are Spaces (MONAI makes them)
    singular = np.eye(4)
    singular[:3, 1] = singular[:3, 0] * 2.0
    with pytest.raises(SpaceError, match=r"affine is singular or degenerate"):
        Space.from_affine(singular, (3, 3, 3))
    coupled = np.eye(4)
    coupled[0, 2] = 0.1
    with pytest.raises(SpaceError, match=r"a 4x4 affine for a 2-D shape must not mix the third axis"):
        Space.from_affine(coupled, (3, 3))
    with pytest.raises(SpaceTypeError, match=r"affine must be numeric, got \[\[1, 0\], \[0, 1, 2\]\]"):
        Space.from_affine([[1, 0], [0, 1, 2]], (3, 3))


def test_bad_dict_json_metatensor():
    with pytest.raises(SpaceTypeError, match=r"expected a dict with 'shape' and 'affine', got \{'shape': \[3, 3\]\}"):
        Space.from_dict({"shape": [3, 3]})
    with pytest.raises(SpaceTypeError, match=r"expected a dict"):
        Space.from_dict([3, 3])
    with pytest.raises(SpaceTypeError, match=r"expected a MONAI MetaTensor with an affine, got Tensor"):
        Space.from_metatensor(torch.zeros(1, 3, 3))
    from monai.data import MetaTensor

    with pytest.raises(ShapeMismatchError, match=r"a MetaTensor must be \(C, H, W\) or \(C, H, W, D\).*\(1, 2, 3, 4, 5\)"):
        Space.from_metatensor(MetaTensor(torch.zeros(1, 2, 3, 4, 5)))


# ------------------------------------------------------------------ planning ops


@pytest.mark.parametrize(
    "start, end, err, match",
    [
        ((2, 3), (2, 5), EmptyBoxError, r"crop box is empty or inverted: start=\[2, 3\], end=\[2, 5\]"),
        ((5, 3), (2, 5), EmptyBoxError, r"crop box is empty or inverted: start=\[5, 3\], end=\[2, 5\]"),
        ((1.5, 3), (4, 5), SpaceError, r"start must be 2 integers, got \(1.5, 3\)"),
        ((1, 3), (4, 5.25), SpaceError, r"end must be 2 integers, got \(4, 5.25\)"),
        ((1, 3, 0), (4, 5, 2), SpaceError, r"start must be 2 integers, got \(1, 3, 0\)"),
        ((np.nan, 3), (4, 5), SpaceError, r"start must be 2 integers"),
        ("ab", (4, 5), SpaceError, r"start must be 2 integers, got 'ab'"),
    ],
)
def test_bad_crop(start, end, err, match):
    with pytest.raises(err, match=match):
        S2.crop(start, end)


def test_empty_box_is_also_a_value_error():
    with pytest.raises(ValueError):
        S3.crop((0, 0, 0), (0, 1, 1))


def test_bad_pad():
    with pytest.raises(SpaceError, match=r"pad amounts must be >= 0, got before=\[-1, 0\], after=\[-1, 0\]"):
        S2.pad((-1, 0))
    with pytest.raises(SpaceError, match=r"after must be 2 integers, got 0.5"):
        S2.pad(1, 0.5)


def test_bad_resize_zoom_respace():
    with pytest.raises(ModeError, match=r"align must be 'edges' or 'centers', got 'corners'"):
        S2.resize((4, 4), align="corners")
    with pytest.raises(ModeError, match=r"align must be 'edges' or 'centers', got 'center'"):
        S2.respace(1.0, align="center")
    with pytest.raises(ModeError, match=r"align must be 'edges' or 'centers', got None"):
        S2.zoom(2.0, align=None)
    with pytest.raises(SpaceError, match=r"shape must be 2 integers, got \(4, 4, 4\)"):
        S2.resize((4, 4, 4))
    with pytest.raises(SpaceError, match=r"shape must be positive integers, got \(0, 4\)"):
        S2.resize((0, 4))
    with pytest.raises(SpaceError, match=r"align='centers' needs at least 2 voxels along every axis, got \(10, 12\) -> \(1, 4\)"):
        S2.resize((1, 4), align="centers")
    with pytest.raises(SpaceError, match=r"factor must be positive, got 0"):
        S2.zoom(0)
    with pytest.raises(SpaceError, match=r"zoom factor \[0.01, 1.0\] leaves no voxel along some axis of shape \(10, 12\)"):
        S2.zoom((0.01, 1.0))
    with pytest.raises(SpaceError, match=r"spacing must be positive, got \[1.0, -1.0\]"):
        S2.respace([1.0, -1.0])
    with pytest.raises(SpaceError, match=r"spacing must be finite"):
        S2.respace([1.0, np.inf])


def test_bad_flip_permute_orient_rotate():
    with pytest.raises(SpaceError, match=r"flip axes must be integers in \[-2, 2\), got 2"):
        S2.flip(2)
    with pytest.raises(SpaceError, match=r"flip axes must be integers in \[-3, 3\), got \[0, 1.5\]"):
        S3.flip([0, 1.5])
    with pytest.raises(SpaceError, match=r"order must be a permutation of \[0, 1, 2\], got \(0, 0, 1\)"):
        S3.permute((0, 0, 1))
    with pytest.raises(SpaceError, match=r"order must be a permutation of \[0, 1\], got 'ab'"):
        S2.permute("ab")
    with pytest.raises(ModeError, match=r"invalid orientation codes 'XYZ'"):
        S3.orient("XYZ")
    with pytest.raises(ModeError, match=r"orientation codes must name each world axis once, got 'RRS'"):
        S3.orient("RRS")
    with pytest.raises(ModeError, match=r"codes must be a string of 3 axis codes such as 'RAS' for a 3-D space, got 'RA'"):
        S3.orient("RA")
    with pytest.raises(ModeError, match=r"codes must be a string of 3 axis codes .* for a 3-D space, got 'RASX'"):
        S3.orient("RASX")  # once silently read as 'RAS'
    with pytest.raises(ModeError, match=r"codes must be a string of 2 or 3 axis codes .* for a 2-D space, got 'RASL'"):
        S2.orient("RASL")
    with pytest.raises(ModeError, match=r"invalid orientation codes 'RAX'"):
        S2.orient("RAX")  # the unused third code must still be valid
    with pytest.raises(ModeError, match=r"orientation codes must name each world axis once, got 'RAR'"):
        S2.orient("RAR")
    with pytest.raises(ModeError, match=r"codes must be a string"):
        S3.orient(None)
    with pytest.raises(ModeError, match=r"orientation codes must name each world axis once, got 'RS'"):
        S2.orient("RS")  # a 2-D (RAS world) grid spans R and A
    with pytest.raises(SpaceError, match=r"angles must be 3 finite number\(s\) \(radians\) for a 3-D space, got 0.5"):
        S3.rotate(0.5)
    with pytest.raises(SpaceError, match=r"angles must be 1 finite number\(s\) .* for a 2-D space"):
        S2.rotate((0.1, 0.2))
    with pytest.raises(SpaceError, match=r"angles must be 1 finite"):
        S2.rotate(np.nan)
    with pytest.raises(SpaceError, match=r"center must have 2 entries"):
        S2.rotate(0.1, center=(1.0, 2.0, 3.0))


def test_bad_crop_world_bounds_contains():
    with pytest.raises(SpaceError, match=r"crop_world takes spacing or shape, not both"):
        S2.crop_world((0, 0), (4, 4), spacing=1.0, shape=(4, 4))
    with pytest.raises(SpaceError, match=r"size must be positive, got \(4, 0\)"):
        S2.crop_world((0, 0), (4, 0))
    with pytest.raises(SpaceError, match=r"center must have 2 entries"):
        S2.crop_world((0, 0, 0), (4, 4))
    with pytest.raises(ModeError, match=r"coords must be 'world' or 'index', got 'voxel'"):
        S2.contains([[0.0, 0.0]], coords="voxel")


# ------------------------------------------------------------------ no mutation, immutability, hashing


def test_inputs_are_never_mutated():
    direction = np.array([[0.0, -1.0], [1.0, 0.0]])
    spacing = np.array([0.5, 2.0])
    origin = np.array([1.0, 2.0])
    shape = [6, 7]
    copies = [a.copy() for a in (direction, spacing, origin)]
    space = Space(shape, spacing=spacing, origin=origin, direction=direction)
    for a, c in zip((direction, spacing, origin), copies):
        np.testing.assert_array_equal(a, c)
    assert shape == [6, 7]
    # later changes to the caller's arrays do not reach the Space
    direction[0, 0] = 9.0
    spacing[:] = 9.0
    origin[:] = 9.0
    np.testing.assert_array_equal(space.spacing, [0.5, 2.0])
    np.testing.assert_array_equal(space.origin, [1.0, 2.0])

    affine = space.affine.copy()
    affine_t = torch.tensor(affine)
    keep, keep_t = affine.copy(), affine_t.clone()
    built = Space.from_affine(affine, (6, 7))
    Space.from_affine(affine_t, (6, 7))
    affine[0, 2] = 100.0
    assert built == space
    np.testing.assert_array_equal(affine_t.numpy(), keep_t.numpy())
    del keep

    start, end = np.array([1, 1]), np.array([4, 5])
    space.crop(start, end)
    space.pad(start, end)
    np.testing.assert_array_equal(start, [1, 1])
    np.testing.assert_array_equal(end, [4, 5])
    new_spacing = np.array([1.0, 1.0])
    space.respace(new_spacing)
    np.testing.assert_array_equal(new_spacing, [1.0, 1.0])
    data = {"shape": [6, 7], "affine": space.affine.tolist()}
    Space.from_dict(data)
    assert data == {"shape": [6, 7], "affine": space.affine.tolist()}


def test_planning_leaves_the_source_space_unchanged(oblique_space):
    before = oblique_space.affine.copy()
    oblique_space.crop([1] * oblique_space.ndim, [3] * oblique_space.ndim).resize([5] * oblique_space.ndim)
    oblique_space.flip(0).orient("LPS").rotate([0.1] * (1 if oblique_space.ndim == 2 else 3))
    assert np.array_equal(oblique_space.affine, before)


def test_space_is_immutable():
    space = Space((4, 5), spacing=(1.0, 2.0))
    with pytest.raises(AttributeError, match=r"Space is immutable; cannot set '_shape'"):
        space._shape = (1, 1)
    with pytest.raises(AttributeError, match=r"Space is immutable; cannot set 'spacing'"):
        space.spacing = (2.0, 2.0)
    with pytest.raises(AttributeError, match="immutable"):
        space.anything = 1
    with pytest.raises(ValueError, match="read-only"):
        space.affine[0, 0] = 5.0
    view = space.affine
    with pytest.raises(ValueError):
        view.setflags(write=True)  # cannot re-enable writing
    # derived arrays are copies: changing them does not change the Space
    space.origin[0] = 99.0
    space.spacing[0] = 99.0
    space.direction[0, 0] = 99.0
    space.to_monai_affine()[0, 0] = 99.0
    space.to_dict()["affine"][0][0] = 99.0
    np.testing.assert_array_equal(space.affine, np.diag([1.0, 2.0, 1.0]))


def test_space_is_hashable_and_equal_spaces_hash_equal():
    a = Space((4, 5), spacing=(1.0, 2.0), origin=(0.1, 0.2))
    b = Space.from_affine(a.affine.copy(), [4, 5])
    c = a.crop((0, 0), (4, 5))
    assert a == b == c
    assert hash(a) == hash(b) == hash(c)
    assert len({a, b, c}) == 1
    assert {a: "x"}[c] == "x"


# ------------------------------------------------------------------ bad input once raw or silently wrong (issue 10)


@pytest.mark.parametrize(
    "text, err, match",
    [
        ("{not json", SpaceError, r"text is not valid JSON \(Expecting property name.*\), got '\{not json'"),
        ("", SpaceError, r"text is not valid JSON .*got ''"),
        (b"\xff\xfe", SpaceError, r"text is not valid JSON"),
        ("[3, 3]", SpaceTypeError, r"expected a dict with 'shape' and 'affine', got \[3, 3\]"),
        (None, SpaceTypeError, r"text must be a JSON string, got NoneType None"),
        ({"shape": [3, 3]}, SpaceTypeError, r"text must be a JSON string, got dict"),
        ('{"shape": [3, 3], "affine": "eye"}', SpaceTypeError, r"affine must be numeric, got 'eye'"),
        ('{"shape": [3, 3], "affine": null}', SpaceTypeError, r"affine must be numeric, got None"),
        ('{"shape": [3, 3], "affine": [[1, 0, 0], [0, 1, 0]]}', SpaceError, r"affine must be 3x3 for shape \(3, 3\), got shape \(2, 3\)"),
        ('{"shape": [3, true], "affine": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}', SpaceError, r"shape must be 2 integers, got \[3, True\]"),
        ('{"shape": "33", "affine": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}', SpaceTypeError, r"shape must be a sequence .*got '33'"),
    ],
)
def test_bad_json_and_dicts(text, err, match):
    with pytest.raises(err, match=match):
        Space.from_json(text)


def test_from_json_shortens_long_text_in_its_message():
    with pytest.raises(SpaceError, match=r"got '\{x{199}'\.\.\.$") as info:
        Space.from_json("{" + "x" * 500)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    "direction, err, match",
    [
        ("eye", SpaceTypeError, r"direction must be numeric, got 'eye'"),
        ([[1.0, 0.0], [0.0, "a"]], SpaceTypeError, r"direction must be numeric, got \[\[1.0, 0.0\], \[0.0, 'a'\]\]"),
        ([[1.0, 0.0], [0.0]], SpaceTypeError, r"direction must be numeric, got \[\[1.0, 0.0\], \[0.0\]\]"),
        (np.eye(2, dtype=complex), SpaceTypeError, r"direction must be numeric, got .*real numbers only"),
        (np.eye(2, dtype=bool), SpaceTypeError, r"direction must be numeric, got .*not bool"),
        ([[1.0, 0.0], [0.0, None]], SpaceTypeError, r"direction must be numeric"),
    ],
)
def test_bad_direction_types(direction, err, match):
    with pytest.raises(err, match=match):
        Space((3, 3), direction=direction)


def test_complex_and_bool_affines_and_vectors_are_refused():
    with pytest.raises(SpaceTypeError, match=r"affine must be numeric, got .*real numbers only"):
        Space.from_affine(np.eye(3, dtype=complex), (3, 3))  # once: imaginary part silently dropped
    with pytest.raises(SpaceTypeError, match=r"affine must be numeric, got a torch.complex64 tensor"):
        Space.from_affine(torch.eye(3, dtype=torch.complex64), (3, 3))
    with pytest.raises(SpaceTypeError, match=r"spacing must be numeric, got \(1\+1j\)"):
        Space((3, 3), spacing=1 + 1j)
    with pytest.raises(SpaceTypeError, match=r"origin must be numeric, got \[True, False\]"):
        Space((3, 3), origin=[True, False])
    with pytest.raises(SpaceTypeError, match=r"angles must be numeric, got 'abc'"):
        S3.rotate("abc")
    with pytest.raises(SpaceTypeError, match=r"factor must be numeric, got None"):
        S3.zoom(None)


@pytest.mark.parametrize(
    "shape, match",
    [
        ((True, 4), r"shape must be 2 integers, got \(True, 4\)"),  # once silently (1, 4)
        ((np.True_, 4, 5), r"shape must be 3 integers"),
        ((3, 4 + 0j), r"shape must be 2 integers"),
        ([[3, 4], [5]], r"shape must be 2 integers"),
        ((3, None), r"shape must be 2 integers, got \(3, None\)"),
    ],
)
def test_bool_complex_and_ragged_shapes_are_refused(shape, match):
    with pytest.raises(SpaceError, match=match):
        Space(shape)


def test_bool_crop_and_permute_arguments_are_refused():
    with pytest.raises(SpaceError, match=r"start must be 3 integers, got \(True, 0, 0\)"):
        S3.crop((True, 0, 0), (3, 3, 3))
    with pytest.raises(SpaceError, match=r"order must be a permutation of \[0, 1, 2\], got \(True, 0, 2\)"):
        S3.permute((True, 0, 2))


@pytest.mark.parametrize(
    "axes, err, match",
    [
        (1.0, SpaceError, r"flip axes must be integers in \[-3, 3\), got 1.0"),
        ("0", SpaceError, r"flip axes must be integers in \[-3, 3\), got '0'"),
        (True, SpaceError, r"flip axes must be integers in \[-3, 3\), got True"),
        ([0, None], SpaceError, r"flip axes must be integers in \[-3, 3\), got \[0, None\]"),
        ([0, 0], SpaceError, r"flip axes must name each axis at most once, got \[0, 0\]"),  # once: no flip at all
        ((2, -1), SpaceError, r"flip axes must name each axis at most once, got \(2, -1\)"),
    ],
)
def test_bad_flip_axes(axes, err, match):
    with pytest.raises(err, match=match):
        S3.flip(axes)


def test_flip_none_flips_every_axis_and_empty_flips_none():
    # MONAI's Flip(spatial_axis=None) reverses every spatial axis
    assert S3.flip(None) == S3.flip([0, 1, 2]) == S3.flip()
    assert S3.flip([]) == S3.flip(()) == S3
    assert S3.flip(np.array([0, 2])) == S3.flip([0, 2]) == S3.flip((np.int64(-3), -1))
    assert S3.flip(np.int32(1)) == S3.flip(1)


def test_wide_and_foreign_byte_order_inputs_simply_work():
    """nibabel's dataobj hands out big-endian arrays; np.longdouble and float16 are plain numbers."""
    affine = np.array([[0.0, -0.5, 0.0, 10.0], [1.5, 0.0, 0.0, -3.0], [0.0, 0.0, 2.0, 7.0], [0.0, 0.0, 0.0, 1.0]])
    expected = Space.from_affine(affine, (4, 5, 6))
    for dtype in (">f8", ">f4", "<f4", np.longdouble):
        built = Space.from_affine(affine.astype(dtype), np.array([4, 5, 6], dtype=">i4"))
        assert built == expected and built.affine.dtype == np.float64 and built.affine.dtype.isnative
    spacing = Space((4, 5), spacing=np.array([0.5, 2.0], dtype=np.longdouble), origin=np.array([1, 2], dtype=">i2"))
    assert spacing == Space((4, 5), spacing=(0.5, 2.0), origin=(1.0, 2.0))
    assert S3.zoom(np.longdouble(1.5)) == S3.zoom(1.5)
    assert S3.crop(np.array([1, 2, 3], dtype=">i8"), np.array([4, 5, 6], dtype=np.uint8)) == S3.crop((1, 2, 3), (4, 5, 6))
    assert S3.respace(np.array([1.0, 1.0, 1.0], dtype=">f8")) == S3.respace(1.0)


# ------------------------------------------------------------------ 2-D spaces keep MONAI's 4x4 affine


def _slice_of_volume() -> np.ndarray:
    """MONAI's 4x4 affine of a 2-D slice 2.5 mm thick taken from a volume at z = 57.5 mm."""
    return np.array([[0.0, -0.7, 0.0, 5.0], [1.3, 0.0, 0.0, -2.0], [0.0, 0.0, 2.5, 57.5], [0.0, 0.0, 0.0, 1.0]])


def test_2d_space_keeps_slice_thickness_and_position_through_every_planning_op():
    native = Space.from_affine(_slice_of_volume(), (40, 30))
    assert native.through_plane == (2.5, 57.5)
    np.testing.assert_array_equal(native.to_monai_affine(), _slice_of_volume())
    planned = [
        native.crop((3, 4), (20, 25)),
        native.pad(2, 3),
        native.resize((64, 48)),
        native.resize((64, 48), align="centers"),
        native.zoom(1.7),
        native.respace((0.5, 0.9)),
        native.respace((0.5, 0.9), align="centers"),
        native.flip(0),
        native.flip(None),
        native.permute((1, 0)),
        native.orient("LP"),
        native.orient("RAS"),
        native.rotate(0.4),
        native.crop_world((1.0, 2.0), (10.0, 12.0)),
        native.crop_world((1.0, 2.0), (10.0, 12.0), spacing=0.3),
        native.crop_world((1.0, 2.0), (10.0, 12.0), shape=(16, 16)),
        native.crop((3, 4), (20, 25)).resize((32, 32)).rotate(-0.2).flip(1),
    ]
    for space in planned:
        assert space.through_plane == (2.5, 57.5)
        monai = space.to_monai_affine()
        np.testing.assert_array_equal(monai[2], [0.0, 0.0, 2.5, 57.5])
        np.testing.assert_array_equal(monai[:, 2], [0.0, 0.0, 2.5, 0.0])
        np.testing.assert_array_equal(monai[np.ix_([0, 1, 3], [0, 1, 3])], space.affine)  # in-plane unchanged
        for again in (
            Space.from_dict(space.to_dict()),
            Space.from_json(space.to_json()),
            pickle.loads(pickle.dumps(space)),
            copy.deepcopy(space),
        ):
            np.testing.assert_array_equal(again.to_monai_affine(), monai)


def test_through_plane_defaults_and_equality_ignores_it():
    flat = Space((40, 30), spacing=(0.7, 1.3))
    assert flat.through_plane == (1.0, 0.0) and Space((4, 5, 6)).through_plane is None
    np.testing.assert_array_equal(flat.to_monai_affine()[2], [0.0, 0.0, 1.0, 0.0])
    moved = _slice_of_volume()
    in_plane = Space.from_affine(moved[np.ix_([0, 1, 3], [0, 1, 3])], (40, 30))
    sliced = Space.from_affine(moved, (40, 30))
    assert in_plane.through_plane == (1.0, 0.0)
    assert sliced == in_plane and hash(sliced) == hash(in_plane)  # equality is in-plane, as documented
    np.testing.assert_array_equal(sliced.affine, in_plane.affine)
    assert "through_plane=(2.5, 57.5)" in repr(sliced) and "through_plane" not in repr(in_plane)
    assert Space.from_dict(sliced.to_dict()).through_plane == (2.5, 57.5)
    assert np.array(sliced.to_dict()["affine"]).shape == (4, 4)
    flipped_z = moved.copy()
    flipped_z[2, 2] = -1.0  # a through-plane axis pointing down is still a valid slice
    assert Space.from_affine(flipped_z, (40, 30)).through_plane == (-1.0, 57.5)


@pytest.mark.parametrize("thickness, position", [(0.0, 57.5), (np.nan, 0.0), (1.0, np.inf)])
def test_bad_through_plane(thickness, position):
    affine = _slice_of_volume()
    affine[2, 2:] = thickness, position
    with pytest.raises(SpaceError, match=r"a 2-D image's 4x4 affine needs a finite, nonzero slice thickness affine\[2, 2\]"):
        Space.from_affine(affine, (40, 30))


# ------------------------------------------------------------------ the documentation's examples run


@pytest.mark.parametrize(
    "module",
    ["monai_spacetx.geometry.space", "monai_spacetx.geometry.points", "monai_spacetx.geometry.tolerances", "monai_spacetx.engine.options",
     "monai_spacetx._recent"],
)
def test_docstring_examples_run(module):
    """The ``Example:`` blocks of the geometry core (and of engine/options.py and the cache policy) are doctests."""
    import doctest
    import importlib

    imported = importlib.import_module(module)
    result = doctest.testmod(imported, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False, report=True)
    assert result.failed == 0
    if module != "monai_spacetx.geometry.tolerances":  # constants only: nothing to run there
        assert result.attempted >= 3
