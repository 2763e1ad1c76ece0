"""Point maps: index <-> world and between spaces; shapes, container types and dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_space

from monai_spacetx import (
    PointsError,
    Space,
    SpaceTypeError,
    index_map,
    index_to_world,
    map_points,
    world_to_index,
)

S2 = Space((10, 12), spacing=(0.5, 2.0), origin=(3.0, -4.0))
S3 = Space((10, 12, 8), spacing=(0.5, 2.0, 1.5))


def test_index_to_world_is_the_affine(oblique_space):
    space = oblique_space
    rng = np.random.default_rng(0)
    pts = rng.uniform(-3, 30, size=(17, space.ndim))
    expected = (space.affine @ np.c_[pts, np.ones(len(pts))].T).T[:, : space.ndim]
    np.testing.assert_allclose(index_to_world(pts, space), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(space.index_to_world(pts), expected, rtol=0, atol=1e-9)
    # voxel centres sit at integers: index 0 is the origin
    np.testing.assert_array_equal(space.index_to_world(np.zeros(space.ndim)), space.origin)


def test_world_to_index_inverts(oblique_space):
    space = oblique_space
    pts = np.random.default_rng(1).uniform(-5, 40, size=(3, 11, space.ndim))
    back = world_to_index(index_to_world(pts, space), space)
    np.testing.assert_allclose(back, pts, rtol=0, atol=1e-9)


@pytest.mark.parametrize("shape", [(3,), (5, 3), (2, 5, 3)])
def test_point_shapes_are_kept(shape):
    space = Space((10, 11, 12), spacing=(0.5, 1, 2), origin=(1, 2, 3))
    pts = np.ones(shape)
    for fn in (lambda p: index_to_world(p, space), lambda p: world_to_index(p, space)):
        out = fn(pts)
        assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == np.float64


def test_numpy_in_numpy_out_and_dtype():
    space = Space((10, 10), spacing=(0.5, 2.0))
    pts32 = np.array([[1.0, 2.0]], dtype=np.float32)
    out = index_to_world(pts32, space)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.5, 4.0]])
    assert index_to_world(pts32, space, dtype=np.float32).dtype == np.float32
    # plain sequences and ints are accepted
    np.testing.assert_array_equal(index_to_world([[1, 2]], space), [[0.5, 4.0]])


def test_torch_in_torch_out():
    space = Space((10, 10, 4), spacing=(0.5, 2.0, 3.0), origin=(1.0, 0.0, -1.0))
    pts = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]], dtype=torch.float32, requires_grad=True)
    out = index_to_world(pts, space)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.shape == pts.shape
    assert out.device == pts.device
    torch.testing.assert_close(out, torch.tensor([[[1.5, 4.0, 8.0], [1.0, 0.0, -1.0]]], dtype=torch.float64))
    assert map_points(pts, space, space.crop((1, 1, 1), (5, 5, 3)), dtype=torch.float32).dtype == torch.float32
    assert isinstance(world_to_index(out, space), torch.Tensor)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_points_stay_on_cuda():
    space = Space((10, 10, 4), spacing=(0.5, 2.0, 3.0), origin=(1.0, 0.0, -1.0))
    pts = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], device="cuda", dtype=torch.float16)
    for mapped in (index_to_world(pts, space), world_to_index(pts, space), map_points(pts, space, space.zoom(2.0))):
        assert mapped.device == pts.device and mapped.dtype == torch.float64
    torch.testing.assert_close(index_to_world(pts, space).cpu(), torch.tensor([[1.5, 4.0, 8.0], [1.0, 0.0, -1.0]], dtype=torch.float64))


def test_seed_example_crop_resize_landmark():
    """The seed's 35x35 grid, crop [10:25, 10:25], resize to 32x32; landmark (17, 17)."""
    native = Space((35, 35))
    working = native.crop((10, 10), (25, 25)).resize((32, 32))
    fwd = map_points(np.array([[17.0, 17.0]]), native, working)
    # (17 - 10 + 0.5) * 32 / 15 - 0.5 = 15.5: pixels as areas
    np.testing.assert_allclose(fwd, [[15.5, 15.5]], rtol=0, atol=1e-12)
    back = map_points(fwd, working, native)
    np.testing.assert_allclose(back, [[17.0, 17.0]], rtol=0, atol=1e-12)


def test_index_map_of_crop_is_exact_integer_shift(oblique_space):
    space = oblique_space
    cropped = space.crop([2] * space.ndim, [5] * space.ndim)
    matrix = index_map(cropped, space)
    expected = np.eye(space.ndim + 1)
    expected[: space.ndim, space.ndim] = 2
    np.testing.assert_array_equal(matrix, expected)  # snapped: exactly an integer shift
    flipped = index_map(space.flip(0), space)
    assert flipped[0, 0] == -1.0 and flipped[0, space.ndim] == space.shape[0] - 1


def test_map_points_keeps_points_outside_target_and_contains_flags_them():
    native = Space((35, 35))
    working = native.crop((10, 10), (25, 25))
    pts = np.array([[17.0, 17.0], [2.0, 30.0], [9.5, 9.5], [9.49, 12.0]])
    mapped = map_points(pts, native, working)
    assert mapped.shape == pts.shape  # never dropped
    np.testing.assert_array_equal(mapped, pts - 10)
    np.testing.assert_array_equal(working.contains(mapped, coords="index"), [True, False, True, False])
    world = native.index_to_world(pts)
    np.testing.assert_array_equal(working.contains(world), [True, False, True, False])
    assert working.contains(world[0]).shape == ()


def test_map_points_between_random_spaces_through_world():
    rng = np.random.default_rng(5)
    for ndim in (2, 3):
        a, b = random_space(rng, ndim), random_space(rng, ndim)
        pts = rng.uniform(-5, 20, size=(2, 6, ndim))
        via_world = world_to_index(index_to_world(pts, a), b)
        np.testing.assert_allclose(map_points(pts, a, b), via_world, rtol=0, atol=1e-8)


def test_inputs_not_mutated():
    space = Space((9, 9, 9), spacing=(0.5, 1.5, 2.0))
    pts = np.array([[1.0, 2.0, 3.0]])
    keep = pts.copy()
    tpts = torch.tensor([[1.0, 2.0, 3.0]])
    tkeep = tpts.clone()
    for fn in (index_to_world, world_to_index):
        out = fn(pts, space)
        out[...] = 99
        fn(tpts, space)
    map_points(pts, space, space.resize((4, 4, 4)))
    np.testing.assert_array_equal(pts, keep)
    assert torch.equal(tpts, tkeep)


def test_index_map_never_rounds_a_genuine_tiny_rotation():
    """Snapping recognises integer shifts but must not round real geometry (regression)."""
    space = Space((512, 512), spacing=(0.7, 0.7), origin=(1e5, -1e5))
    turned = space.rotate(3e-10)  # linear entries within 1e-9 of 0 and 1
    pts = np.array([[511.0, 511.0], [0.0, 511.0]])
    forward = map_points(pts, space, turned)
    exact = world_to_index(index_to_world(pts, space), turned)
    np.testing.assert_allclose(forward, exact, rtol=0, atol=1e-9)
    np.testing.assert_allclose(map_points(forward, turned, space), pts, rtol=0, atol=1e-9)
    # while a crop seen through large-origin round-off is still an exact integer shift
    cropped = space.crop((100, 7), (300, 400))
    np.testing.assert_array_equal(index_map(cropped, space)[:2, 2], [100.0, 7.0])


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




def test_points_of_any_real_dtype_and_byte_order_work_and_come_back_float64():
    """nibabel's dataobj hands out big-endian arrays; np.longdouble and float16 are plain numbers."""
    values = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 2.0]])  # exact in every dtype below
    expected = index_to_world(values, S3)
    for dtype in (">f8", ">f4", ">i2", np.longdouble, np.float16, np.uint8):
        points = values.astype(dtype)
        for mapped in (index_to_world(points, S3), world_to_index(points, S3), map_points(points, S3, S3.zoom(2.0))):
            assert mapped.dtype == np.float64 and mapped.dtype.isnative
        np.testing.assert_array_equal(index_to_world(points, S3), expected)


@pytest.mark.parametrize(
    "points, match",
    [
        (np.zeros((2, 3), dtype=complex), r"points must be numeric, got a complex128 array .*real numbers only"),
        (np.ones((2, 3), dtype=bool), r"points must be numeric, got a bool array .*not bool"),
        (torch.zeros(2, 3, dtype=torch.complex64), r"points must be numeric, got a torch.complex64 tensor"),
        (torch.ones(2, 3, dtype=torch.bool), r"points must be numeric, got a torch.bool tensor"),
        ([[1.0, 2.0, None]], r"points must be numeric, got \[\[1.0, 2.0, None\]\]"),
        ([[1.0, 2.0, 3.0], [1.0]], r"points must be numeric, got \[\[1.0, 2.0, 3.0\], \[1.0\]\]"),
    ],
)
def test_complex_bool_and_ragged_points_are_refused(points, match):
    # complex points once lost their imaginary part silently
    for fn in (index_to_world, world_to_index):
        with pytest.raises(SpaceTypeError, match=match):
            fn(points, S3)
    with pytest.raises(SpaceTypeError, match=match):
        map_points(points, S3, S3)


def test_spaces_of_the_wrong_type_are_refused():
    with pytest.raises(SpaceTypeError, match=r"space must be a Space, got ndarray"):
        index_to_world(np.zeros((1, 3)), np.eye(4))
    with pytest.raises(SpaceTypeError, match=r"space must be a Space, got Tensor"):
        world_to_index(np.zeros((1, 3)), torch.eye(4))
    with pytest.raises(SpaceTypeError, match=r"source must be a Space, got Tensor"):
        map_points(np.zeros((1, 3)), torch.eye(4), S3)
    with pytest.raises(SpaceTypeError, match=r"target must be a Space, got NoneType"):
        map_points(np.zeros((1, 3)), S3, None)
    with pytest.raises(SpaceTypeError, match=r"from_space must be a Space, got list"):
        index_map([], S3)
    with pytest.raises(SpaceTypeError, match=r"to_space must be a Space, got dict"):
        index_map(S3, S3.to_dict())
