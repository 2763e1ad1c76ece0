"""The Space value object: constructors, properties, serialisation and the planning ops' arithmetic."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest
import torch

from conftest import random_space

from monai_spacetx import Space


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
