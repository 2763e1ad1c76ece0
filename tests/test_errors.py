"""Bad input (DESIGN.md section 6): each entry point raises the package's own clear error.

Also: inputs are never mutated, and Space is immutable and hashable.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

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
    index_to_world,
    map_points,
    world_to_index,
)

S2 = Space((10, 12), spacing=(0.5, 2.0), origin=(3.0, -4.0))
S3 = Space((10, 12, 8), spacing=(0.5, 2.0, 1.5))


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
        ([[1.0, 0.5], [0.0, 1.0]], r"direction must be orthonormal .*deviation"),
        ([[2.0, 0.0], [0.0, 1.0]], r"direction must be orthonormal .*got \[\[2.0, 0.0\], \[0.0, 1.0\]\]"),
        ([[1.0, 0.0], [1.0, 0.0]], r"direction must be orthonormal"),
        (np.eye(3), r"direction must be a 2x2 matrix, got shape \(3, 3\)"),
        ([[1.0, np.nan], [0.0, 1.0]], r"direction must be finite"),
        ([[0.0, 0.0], [0.0, 1.0]], r"direction must be orthonormal"),
    ],
)
def test_bad_direction(direction, match):
    with pytest.raises(SpaceError, match=match):
        Space((4, 4), direction=direction)


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
    with pytest.raises(SpaceError, match=r"direction must be orthonormal"):
        Space.from_affine(shear, (3, 3, 3))
    coupled = np.eye(4)
    coupled[0, 2] = 0.1
    with pytest.raises(SpaceError, match=r"a 4x4 affine for a 2-D shape must not mix the third axis"):
        Space.from_affine(coupled, (3, 3))
    with pytest.raises(SpaceTypeError, match=r"affine must be a numeric matrix"):
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
    with pytest.raises(ModeError, match=r"codes must be a string of at least 3 axis codes such as 'RAS', got 'RA'"):
        S3.orient("RA")
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


# ------------------------------------------------------------------ points


@pytest.mark.parametrize("fn", [index_to_world, world_to_index])
def test_points_of_wrong_width(fn):
    with pytest.raises(PointsError, match=r"points must have shape \(D,\), \(N, D\) or \(C, N, D\) with D=3 .*got shape \(4, 2\)"):
        fn(np.zeros((4, 2)), S3)
    with pytest.raises(PointsError, match=r"with D=2 .*got shape \(1, 1, 1, 2\)"):
        fn(np.zeros((1, 1, 1, 2)), S2)
    with pytest.raises(PointsError, match=r"with D=2 .*got shape \(\)"):
        fn(np.float64(1.0), S2)
    with pytest.raises(PointsError, match=r"with D=3 .*got shape \(2, 2\)"):
        fn(torch.zeros(2, 2), S3)


def test_points_bad_values_and_types():
    with pytest.raises(PointsError, match=r"points must be finite"):
        index_to_world(np.array([[0.0, np.nan]]), S2)
    with pytest.raises(SpaceTypeError, match=r"points must be numeric"):
        index_to_world([["a", "b"]], S2)
    with pytest.raises(SpaceTypeError, match=r"points must be a numpy array, a torch tensor or a sequence, got dict"):
        index_to_world({"x": 1}, S2)
    with pytest.raises(PointsError, match=r"cannot map points between a 2-D and a 3-D space"):
        map_points(np.zeros((1, 2)), S2, S3)
    with pytest.raises(PointsError, match=r"with D=2"):
        map_points(np.zeros((1, 3)), S2, S2.resize((3, 3)))
    with pytest.raises(PointsError, match=r"with D=2"):
        S2.contains(np.zeros((2, 3)))


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
