"""Boxes for detection: mapped as regions, exactly, in MONAI's box conventions.

Every check compares against something outside the package: boxes rasterised to masks (our own
brute-force rasteriser from raw affines, or MONAI's ``BoxToMask``) carried by an independent
nearest resample (``oracles.nearest`` from the raw affines, or MONAI's eager transforms with
``nearest``), corners pushed through the raw affines by hand, SimpleITK's index -> physical map,
MONAI's ``box_utils`` for the box modes, and numbers worked out by hand.
"""

from __future__ import annotations

import copy
import itertools
import warnings

import numpy as np
import pytest
import torch
from monai.apps.detection.transforms.box_ops import apply_affine_to_boxes
from monai.apps.detection.transforms.dictionary import (
    AffineBoxToWorldCoordinated,
    BoxToMaskd,
    ClipBoxToImaged,
    ConvertBoxModed,
    StandardizeEmptyBoxd,
)
from monai.data import MetaTensor
from monai.data.box_utils import StandardMode, convert_box_mode
from monai.transforms import (
    Compose,
    Flipd,
    Rotate90d,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
)

import oracles
from conftest import random_space

from monai_spacetx import (
    MetadataError,
    ModeError,
    PointsError,
    Space,
    SpaceApplyPendingd,
    SpaceCropd,
    SpaceCropForegroundd,
    SpaceInvertd,
    SpaceResampled,
    SpaceResized,
    SpaceSpacingd,
    SpaceTypeError,
    SpaceZoomd,
)
from monai_spacetx.geometry.boxes import boxes_in_grid, boxes_to_world, map_boxes, transform_boxes, world_to_boxes
from monai_spacetx.interop import lps_ras_flip, to_sitk


# ----------------------------------------------------------------------------- oracles (raw affines only)
def _as4(affine: np.ndarray) -> np.ndarray:
    ndim = affine.shape[0] - 1
    if ndim == 3:
        return affine
    out = np.eye(4)
    out[:2, :2], out[:2, 3] = affine[:2, :2], affine[:2, 2]
    return out


def image_on(space: Space, values: np.ndarray | None = None) -> MetaTensor:
    """A (1, *shape) float32 MetaTensor on ``space`` (ramp values unless given), as MONAI's loader gives it."""
    data = np.arange(np.prod(space.shape), dtype=np.float32).reshape(space.shape) if values is None else np.array(values)
    affine = torch.as_tensor(_as4(space.affine))
    meta = {"original_affine": affine.clone(), "spatial_shape": np.array(space.shape)}  # what MONAI's loader records
    return MetaTensor(torch.as_tensor(data)[None], affine=affine, meta=meta)


def rasterise(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Brute force: a voxel is in a standard-mode box when its centre ``i + 0.5`` (box coordinates) is in ``[x1, x2)``."""
    ndim = len(shape)
    centres = np.indices(shape).reshape(ndim, -1).T + 0.5
    mask = np.zeros(len(centres), dtype=bool)
    for box in np.asarray(boxes, dtype=np.float64):
        mask |= np.all((centres >= box[:ndim]) & (centres < box[ndim:]), axis=1)
    return mask.reshape(shape)


def centres_in(boxes: np.ndarray, shape: tuple[int, ...], closed: bool) -> np.ndarray:
    """Voxels whose centres lie strictly inside (``closed=False``) or inside or on (``True``) any box."""
    ndim = len(shape)
    centres = np.indices(shape).reshape(ndim, -1).T + 0.5
    mask = np.zeros(len(centres), dtype=bool)
    tol = 1e-9
    for box in np.asarray(boxes, dtype=np.float64):
        if closed:
            mask |= np.all((centres >= box[:ndim] - tol) & (centres <= box[ndim:] + tol), axis=1)
        else:
            mask |= np.all((centres > box[:ndim] + tol) & (centres < box[ndim:] - tol), axis=1)
    return mask.reshape(shape)


def centres_in_corners(corners: np.ndarray, shape: tuple[int, ...], closed: bool) -> np.ndarray:
    """Voxels whose centres lie inside any parallelepiped given by its ``2^D`` corners (corner 0 and its
    ``D`` neighbours ``2^(D-1-k)`` span it), strictly or with the boundary."""
    ndim = len(shape)
    centres = np.indices(shape).reshape(ndim, -1).T + 0.5
    mask = np.zeros(len(centres), dtype=bool)
    tol = 1e-9
    for c in np.asarray(corners, dtype=np.float64):
        edges = np.stack([c[2 ** (ndim - 1 - k)] - c[0] for k in range(ndim)], axis=1)
        u = np.linalg.solve(edges, (centres - c[0]).T).T
        mask |= np.all((u >= -tol) & (u <= 1 + tol), axis=1) if closed else np.all((u > tol) & (u < 1 - tol), axis=1)
    return mask.reshape(shape)


def carried_mask(mask: np.ndarray, source_affine: np.ndarray, target_affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The mask carried to the target grid by one nearest resample from the raw affines."""
    return oracles.nearest(mask.astype(np.uint8), source_affine, target_affine, shape).astype(bool)


def assert_box_matches_mask(boxes: np.ndarray, carried: np.ndarray) -> None:
    """Centres strictly inside the mapped boxes are in the carried mask, and the carried mask lies inside
    or on them; with no centre on a box edge the two sets are equal."""
    shape = carried.shape
    strict, closed = centres_in(boxes, shape, False), centres_in(boxes, shape, True)
    assert not (strict & ~carried).any(), f"{int((strict & ~carried).sum())} voxels inside the box are not in the mask"
    assert not (carried & ~closed).any(), f"{int((carried & ~closed).sum())} mask voxels outside the box"


def random_boxes(rng: np.random.Generator, shape: tuple[int, ...], n: int = 3) -> np.ndarray:
    """``n`` standard-mode boxes with integer edges inside ``shape`` (each at least one voxel)."""
    ndim = len(shape)
    low = np.stack([rng.integers(0, s - 1, n) for s in shape], axis=1)
    high = np.stack([rng.integers(low[:, k] + 1, shape[k] + 1) for k in range(ndim)], axis=1)
    return np.concatenate([low, high], axis=1).astype(np.float64)


def corner_list(boxes: np.ndarray) -> np.ndarray:
    """``(N, 2^D, D)`` corners by hand (axis 0 slowest)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    ndim = boxes.shape[1] // 2
    return np.array([[[b[ndim * bit + k] for k, bit in enumerate(bits)] for bits in itertools.product((0, 1), repeat=ndim)] for b in boxes])


# ----------------------------------------------------------------------------- hand-computed cases
def test_hand_computed_respacing_crop_and_world():
    native = Space((10, 10), spacing=(2.0, 1.0), origin=(100.0, 0.0))
    box = np.array([[2.0, 3.0, 4.0, 5.0]])  # voxels 2, 3 along axis 0 (centres 104, 106 mm): edges 103..107 mm
    np.testing.assert_array_equal(boxes_to_world(box, native), [[103.0, 2.5, 107.0, 4.5]])
    # 2 mm -> 1 mm with the edges kept: [103, 107) mm is new voxels 4..7 -> [4, 8)
    np.testing.assert_allclose(map_boxes(box, native, native.respace((1.0, 1.0), align="edges")), [[4.0, 3.0, 8.0, 5.0]], atol=1e-12)
    # MONAI Spacingd (centres kept): new voxel 0 centred at 100 mm, voxel j spans [99.5 + j, 100.5 + j): 103 mm is 3.5
    np.testing.assert_allclose(map_boxes(box, native, native.respace((1.0, 1.0), align="centers")), [[3.5, 3.0, 7.5, 5.0]], atol=1e-12)
    np.testing.assert_array_equal(map_boxes(box, native, native.crop((1, 2), (9, 9))), [[1.0, 1.0, 3.0, 3.0]])
    np.testing.assert_array_equal(world_to_boxes([[103.0, 2.5, 107.0, 4.5]], native), box)


def test_issue_7740_flip_of_a_one_voxel_box_stays_put():
    """MONAI #7740: ``apply_affine_to_boxes`` with the flip's index map turns ``[0, 1)`` into ``[-1, 0)``."""
    one = Space((1, 1, 1))
    box = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    flip_index = np.diag([-1.0, 1.0, 1.0, 1.0])  # voxel centre i -> -i + (n - 1), n = 1
    monai = np.asarray(apply_affine_to_boxes(torch.as_tensor(box), torch.as_tensor(flip_index)))
    assert monai[0, 0] == -1.0 and monai[0, 3] == 0.0  # the bug, as MONAI 1.x has it
    np.testing.assert_array_equal(map_boxes(box, one, one.flip(0)), box)
    # through the transforms: MONAI's eager Flipd, then our SpaceInvertd maps the box back
    data = {"image": image_on(one), "box": box.copy()}
    flipped = Flipd("image", spatial_axis=0)(data)
    back = SpaceInvertd("image", box_keys="box")(flipped)
    np.testing.assert_array_equal(back["box"], box)
    assert back["box_in_grid"].tolist() == [True]


def test_rotation_maps_every_corner_where_monai_maps_two():
    """A 45 degree turn of ``[0, 0, 2, 1]``: the corner (0, 1) goes to (-0.71, 0.71); MONAI's two-corner box misses it."""
    c = np.sqrt(0.5)
    turn = np.array([[c, -c, 0.0], [c, c, 0.0], [0.0, 0.0, 1.0]])
    box = np.array([[0.0, 0.0, 2.0, 1.0]])
    np.testing.assert_allclose(transform_boxes(box, turn), [[-c, 0.0, 2 * c, 3 * c]], atol=1e-15)
    np.testing.assert_allclose(transform_boxes(box, turn, "corners"), [[[0, 0], [-c, c], [2 * c, 2 * c], [c, 3 * c]]], atol=1e-15)
    monai = np.asarray(apply_affine_to_boxes(torch.as_tensor(box), torch.as_tensor(turn)))
    np.testing.assert_allclose(monai, [[0.0, 0.0, c, 3 * c]], atol=1e-6)  # docs/boxes.md quotes it


def test_world_boxes_against_the_raw_affine_and_monai_half_voxel(oblique_space):
    space = oblique_space
    rng = np.random.default_rng(3)
    boxes = random_boxes(rng, space.shape)
    ndim = space.ndim
    corners = corner_list(boxes) - 0.5  # box coordinates -> index coordinates: the half voxel
    world = corners @ space.affine[:ndim, :ndim].T + space.affine[:ndim, ndim]
    expected = np.concatenate([world.min(1), world.max(1)], axis=1)
    np.testing.assert_allclose(boxes_to_world(boxes, space), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(boxes_to_world(boxes, space, "corners"), world, rtol=0, atol=1e-9)
    np.testing.assert_allclose(world_to_boxes(boxes_to_world(boxes, space, "corners"), space, "corners"), corner_list(boxes), atol=1e-9)


def test_monai_world_box_is_half_a_voxel_off_on_a_diagonal_affine():
    space = Space((20, 20, 10), spacing=(0.7, 0.7, 2.5), origin=(-30.0, 12.0, 5.0))
    boxes = np.array([[2.0, 3.0, 1.0, 6.0, 9.0, 4.0]])
    data = {"image": image_on(space), "box": torch.as_tensor(boxes)}
    monai = np.asarray(AffineBoxToWorldCoordinated("box", box_ref_image_keys="image")(data)["box"], dtype=np.float64)
    ours = boxes_to_world(boxes, space)
    np.testing.assert_allclose(monai - ours, [np.tile([0.35, 0.35, 1.25], 2)], atol=1e-5)


def test_world_boxes_lps_at_the_simpleitk_edge():
    sitk = pytest.importorskip("SimpleITK")
    space = random_space(np.random.default_rng(11), 3, reflect=True)
    boxes = random_boxes(np.random.default_rng(12), space.shape)
    img = to_sitk(np.zeros(space.shape, dtype=np.float32), space)
    lps = np.array([[img.TransformContinuousIndexToPhysicalPoint([float(v) for v in c]) for c in corners] for corners in corner_list(boxes) - 0.5])
    ours_lps = transform_boxes(boxes_to_world(boxes, space, "corners"), lps_ras_flip(3), "corners")
    np.testing.assert_allclose(ours_lps, lps, atol=1e-6)
    np.testing.assert_allclose(transform_boxes(boxes_to_world(boxes, space), lps_ras_flip(3)), np.c_[lps.min(1), lps.max(1)], atol=1e-6)


# ----------------------------------------------------------------------------- geometry: masks and round trips
@pytest.mark.parametrize("seed", range(12))
def test_axis_aligned_maps_match_the_nearest_carried_mask(seed):
    """Flips, permutations, crops, pads, finer and coarser respacing of an oblique native grid: the mapped
    box's centres are the box mask carried by one nearest resample from the raw affines."""
    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    native = random_space(rng, ndim, shape_range=(6, 16))
    boxes = random_boxes(rng, native.shape)
    target = native
    for _ in range(3):
        step = int(rng.integers(5))
        if step == 0:
            target = target.flip(int(rng.integers(ndim)))
        elif step == 1:
            target = target.permute(rng.permutation(ndim))
        elif step == 2:
            target = target.crop(rng.integers(-3, 3, ndim), np.array(target.shape) + rng.integers(-3, 3, ndim))
        else:
            factor = rng.uniform(0.4, 2.7, ndim)  # finer and coarser
            target = target.respace(target.spacing * factor, align=["edges", "centers"][int(rng.integers(2))])
    mapped = map_boxes(boxes, native, target)
    carried = carried_mask(rasterise(boxes, native.shape), native.affine, target.affine, target.shape)
    assert_box_matches_mask(mapped, carried)
    # and back within 1e-6 voxel (the map is axis-aligned: the bounding box is the box)
    np.testing.assert_allclose(map_boxes(mapped, target, native), boxes, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_rotated_targets_corners_are_the_region(seed):
    """Under rotation the oriented corners hold exactly the mask's voxels (centres strictly inside are in it,
    it lies inside or on them), the default bounding box contains them, and corners go back to the box."""
    rng = np.random.default_rng(100 + seed)
    ndim = 2 + seed % 2
    native = random_space(rng, ndim, shape_range=(6, 14))
    boxes = random_boxes(rng, native.shape, 2)
    angles = rng.uniform(-0.8, 0.8, 1 if ndim == 2 else 3)
    target = native.rotate(angles).respace(rng.uniform(0.4, 1.5, ndim) * native.spacing.min())
    corners = map_boxes(boxes, native, target, "corners")
    carried = carried_mask(rasterise(boxes, native.shape), native.affine, target.affine, target.shape)
    strict, closed = centres_in_corners(corners, target.shape, False), centres_in_corners(corners, target.shape, True)
    assert not (strict & ~carried).any() and not (carried & ~closed).any()
    aabb = map_boxes(boxes, native, target)
    assert not (carried & ~centres_in(aabb, target.shape, True)).any()
    np.testing.assert_allclose(aabb, np.c_[corners.min(1), corners.max(1)], atol=0)
    np.testing.assert_allclose(map_boxes(corners, target, native, "corners"), corner_list(boxes), rtol=0, atol=1e-6)


def test_in_grid_flags_and_nothing_clipped():
    space = Space((10, 8))
    boxes = np.array([[0.0, 0.0, 10.0, 8.0], [-1.0, 2.0, 3.0, 4.0], [9.0, 7.0, 12.0, 9.0], [20.0, 20.0, 21.0, 21.0]])
    assert boxes_in_grid(boxes, space).tolist() == [True, False, False, False]
    cropped = space.crop((2, 0), (10, 8))
    out = SpaceCropd("image", roi_start=(2, 0), roi_end=(10, 8), box_keys="box")({"image": image_on(space), "box": boxes.copy()})
    np.testing.assert_array_equal(out["box"], boxes - [2, 0, 2, 0])  # kept as they are, not clipped
    assert out["box_in_grid"].tolist() == [False, False, False, False] and cropped.shape == (8, 8)


# ----------------------------------------------------------------------------- transforms
def _transform_cases(native: Space):
    """(name, transform, the grid its output is on, from the native grid) for each of our dictionary transforms."""
    ndim = native.ndim
    return [
        ("SpaceCropd", SpaceCropd("image", roi_start=[1] * ndim, roi_end=[7] * ndim, box_keys="box"), native.crop([1] * ndim, [7] * ndim)),
        ("SpaceResampled", SpaceResampled("image", pixdim=[0.73] * ndim, mode="nearest", box_keys="box"), None),
        ("SpaceSpacingd", SpaceSpacingd("image", pixdim=[1.37] * ndim, mode="nearest", box_keys="box"), None),
        ("SpaceResized", SpaceResized("image", spatial_size=[13] * ndim, mode="nearest", box_keys="box"), None),
        ("SpaceZoomd", SpaceZoomd("image", zoom=0.6, mode="nearest", keep_size=False, box_keys="box"), None),
        ("SpaceCropForegroundd", SpaceCropForegroundd("image", source_key="fg", margin=1, box_keys="box", allow_missing_keys=False), None),
    ]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("case", range(6))
def test_every_transform_moves_boxes_as_the_mask_moves(ndim, case):
    rng = np.random.default_rng(ndim * 10 + case)
    native = random_space(rng, ndim, shape_range=(9, 14))
    boxes = random_boxes(rng, native.shape)
    mask = rasterise(boxes, native.shape)
    name, transform, _ = _transform_cases(native)[case]
    fg = np.zeros(native.shape, dtype=np.float32)
    fg[(slice(2, 7),) * ndim] = 1.0
    data = {"image": image_on(native), "fg": image_on(native, fg), "box": boxes.copy()}
    if name == "SpaceCropForegroundd":
        transform = SpaceCropForegroundd(["image", "fg"], source_key="fg", margin=1, box_keys="box")
    out = transform(data)
    target = Space.from_metatensor(out["image"])
    carried = carried_mask(mask, native.affine, target.affine, target.shape)
    assert_box_matches_mask(np.asarray(out["box"]), carried)
    assert out["box_in_grid"].shape == (len(boxes),)
    # and back in one step, within 1e-6 voxel
    back = SpaceInvertd("image", box_keys="box")(out)
    np.testing.assert_allclose(back["box"], boxes, rtol=0, atol=1e-6)


def test_modes_via_monai_box_utils():
    native = Space((12, 12, 12), spacing=(1.0, 1.0, 2.0))
    standard = np.array([[1.0, 2.0, 3.0, 5.0, 6.0, 4.0], [0.0, 0.0, 0.0, 12.0, 12.0, 12.0]])
    for mode in ("cccwhd", "xyzwhd", "xxyyzz"):
        given = np.asarray(convert_box_mode(standard, src_mode=StandardMode(), dst_mode=mode))
        out = SpaceSpacingd("image", pixdim=(0.5, 0.5, 0.5), box_keys="box", box_mode=mode)({"image": image_on(native), "box": given})
        plain = SpaceSpacingd("image", pixdim=(0.5, 0.5, 0.5), box_keys="box")({"image": image_on(native), "box": standard.copy()})
        np.testing.assert_allclose(out["box"], convert_box_mode(plain["box"], src_mode=StandardMode(), dst_mode=mode), atol=1e-6)


def test_torch_in_torch_out_and_corners_format():
    native = Space((8, 8), spacing=(1.0, 2.0))
    boxes = torch.tensor([[1.0, 1.0, 3.0, 2.0]], dtype=torch.float32)
    out = SpaceResampled("image", pixdim=(0.5, 0.5), box_keys="box", box_format="corners")({"image": image_on(native), "box": boxes})
    assert isinstance(out["box"], torch.Tensor) and out["box"].shape == (1, 4, 2) and out["box"].dtype == torch.float64
    # corners in order (axis 0 slowest); voxel 0's centre kept (MONAI Spacing): axis 0, 1 mm, [1, 3) is
    # [0.5, 2.5] mm, new index [1, 5], box [1.5, 5.5]; axis 1, 2 mm, [1, 2) is [1, 3] mm, index [2, 6], box [2.5, 6.5]
    np.testing.assert_allclose(out["box"].numpy(), [[[1.5, 2.5], [1.5, 6.5], [5.5, 2.5], [5.5, 6.5]]], atol=1e-12)
    # corners go on through the next transform and come back as the box
    back = SpaceInvertd("image", box_keys="box")(out)
    np.testing.assert_allclose(back["box"], [[1.0, 1.0, 3.0, 2.0]], atol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_boxes_stay_on_the_device():
    native = Space((8, 8), spacing=(1.0, 2.0))
    image = image_on(native).cuda()
    boxes = torch.tensor([[1.0, 1.0, 3.0, 2.0]], device="cuda")
    out = SpaceResampled("image", pixdim=(0.5, 0.5), box_keys="box")({"image": image, "box": boxes})
    assert out["box"].device.type == "cuda"
    np.testing.assert_allclose(out["box"].cpu().numpy(), [[1.5, 2.5, 5.5, 6.5]], atol=1e-12)  # as the CPU case, by hand


def test_invert_writes_world_boxes():
    native = random_space(np.random.default_rng(7), 3, shape_range=(8, 12))
    data = {"image": image_on(native)}
    out = SpaceSpacingd("image", pixdim=(1.1, 0.9, 1.7))(data)
    working = Space.from_metatensor(out["image"])
    predicted = random_boxes(np.random.default_rng(8), working.shape)
    out["box"] = predicted.copy()
    back = SpaceInvertd("image", box_keys="box", box_coords="world")(out)
    corners = corner_list(predicted) - 0.5
    world = corners @ working.affine[:3, :3].T + working.affine[:3, 3]  # the working grid's raw affine
    np.testing.assert_allclose(back["box"], np.c_[world.min(1), world.max(1)], atol=1e-9)
    back = SpaceInvertd("image", box_keys="box", box_coords="world", box_format="corners")(dict(out, box=predicted.copy()))
    np.testing.assert_allclose(back["box"], world, atol=1e-9)


def test_world_boxes_stay_and_are_flagged():
    native = Space((10, 10), spacing=(1.0, 1.0))
    world = np.array([[-0.5, -0.5, 3.5, 3.5], [-0.5, -0.5, 9.5, 9.5]])
    out = SpaceCropd("image", roi_start=(0, 0), roi_end=(5, 5), box_keys="box", box_coords="world")({"image": image_on(native), "box": world.copy()})
    np.testing.assert_array_equal(out["box"], world)
    assert out["box_in_grid"].tolist() == [True, False]


# ----------------------------------------------------------------------------- chains with MONAI's transforms, eager and lazy
def _monai_chain_case(seed: int, lazy: bool):
    rng = np.random.default_rng(seed)
    ndim = 3
    native = random_space(rng, ndim, shape_range=(10, 15))
    boxes = random_boxes(rng, native.shape)
    steps = [
        SpaceCropd(["image"], roi_start=[1, 0, 1], roi_end=[9, 10, 9], box_keys="box"),
        Flipd("image", spatial_axis=int(rng.integers(3))),
        Rotate90d("image", k=int(rng.integers(1, 4)), spatial_axes=(0, 1)),
        SpatialPadd("image", spatial_size=[12, 12, 12]),
        Spacingd("image", pixdim=rng.uniform(0.6, 1.9, 3).tolist(), mode="nearest", padding_mode="zeros"),
        SpatialCropd("image", roi_start=[1, 1, 1], roi_end=[9, 9, 9]),
        SpaceApplyPendingd("image", box_keys="box") if lazy else SpaceCropd("image", roi_start=[0, 0, 0], roi_end=[8, 8, 8], box_keys="box"),
    ]
    return native, boxes, Compose(steps, lazy=lazy)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_boxes_follow_monai_transforms_in_the_chain(seed, lazy):
    """Our crops, MONAI's flips, Rotate90, pads, Spacingd and crops, eager and lazy: the boxes land where the
    mask carried by one nearest resample from the raw affines lands, and come back to the scan."""
    native, boxes, chain = _monai_chain_case(seed, lazy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = chain({"image": image_on(native), "box": boxes.copy()})
    target = Space.from_metatensor(out["image"])
    carried = carried_mask(rasterise(boxes, native.shape), native.affine, target.affine, target.shape)
    assert_box_matches_mask(np.asarray(out["box"]), carried)
    back = SpaceInvertd("image", box_keys="box")(out)
    np.testing.assert_allclose(back["box"], boxes, rtol=0, atol=1e-6)


def test_monai_eager_nearest_carries_the_same_mask():
    """MONAI's own eager Spacingd(nearest) as the carrier: its mask holds the voxels strictly inside our box and lies inside or on it."""
    native = Space((14, 12, 10), spacing=(1.0, 1.2, 2.0), origin=(5.0, -7.0, 3.0))
    boxes = np.array([[2.0, 3.0, 1.0, 9.0, 7.0, 6.0], [10.0, 0.0, 4.0, 14.0, 5.0, 10.0]])
    mask = rasterise(boxes, native.shape).astype(np.float32)
    data = {"image": image_on(native, mask), "box": boxes.copy()}
    monai = Spacingd("image", pixdim=(0.7, 0.9, 1.3), mode="nearest", padding_mode="zeros")(dict(data))
    ours = SpaceSpacingd("image", pixdim=(0.7, 0.9, 1.3), mode="nearest", box_keys="box")(dict(data))
    np.testing.assert_allclose(np.asarray(monai["image"].affine), np.asarray(ours["image"].affine), atol=1e-9)
    carried = monai["image"][0].numpy() > 0.5
    assert carried.any()
    assert_box_matches_mask(np.asarray(ours["box"]), carried)


# ----------------------------------------------------------------------------- interop with MONAI's detection transforms
def test_interop_with_monai_detection_transforms_in_one_compose():
    native = Space((16, 16, 12), spacing=(1.0, 1.0, 2.0))
    given = np.array([[4.0, 5.0, 3.0, 4.0, 6.0, 2.0]])  # cccwhd: centre (4, 5, 3), size (4, 6, 2)
    chain = Compose(
        [
            ConvertBoxModed("box", src_mode="cccwhd", dst_mode="xyzxyz"),
            StandardizeEmptyBoxd("empty", box_ref_image_keys="image"),
            SpaceSpacingd("image", pixdim=(0.5, 0.5, 1.0), mode="nearest", box_keys=["box", "empty"]),
            ClipBoxToImaged("box", label_keys="label", box_ref_image_keys="image", remove_empty=True),
            BoxToMaskd("box", box_mask_keys="mask", label_keys="label", box_ref_image_keys="image", min_fg_label=0),
            AffineBoxToWorldCoordinated("box", box_ref_image_keys="image"),
        ]
    )
    out = chain({"image": image_on(native), "box": given.copy(), "label": np.array([1]), "empty": np.zeros(0)})
    assert np.asarray(out["empty"]).shape == (0, 6) and out["empty_in_grid"].shape == (0,)
    working = Space.from_metatensor(out["image"])
    standard = np.asarray(convert_box_mode(given, src_mode="cccwhd", dst_mode=StandardMode()))
    carried = carried_mask(rasterise(standard, native.shape), native.affine, working.affine, working.shape)
    # BoxToMaskd drew our working-grid box: its mask is the native box's mask carried by nearest
    # (BoxToMask truncates box coordinates to int32; ours here are [3.5, 11.5) etc., whose voxels truncation keeps)
    np.testing.assert_array_equal(np.asarray(out["mask"])[0] > 0, carried)


def test_bad_input_names_the_key_and_the_value():
    native = Space((8, 8))
    image = image_on(native)
    crop = SpaceCropd("image", roi_start=(0, 0), roi_end=(4, 4), box_keys="pred")
    for bad, words in [
        (np.array([[3.0, 1.0, 2.0, 4.0]]), "x2 < x1"),
        (np.array([[1.0, np.nan, 2.0, 4.0]]), "finite"),
        (np.array([[1.0, 1.0, 2.0]]), "(N, 4)"),
    ]:
        with pytest.raises(PointsError, match="pred") as err:
            crop({"image": image, "pred": bad})
        assert words in str(err.value)
    with pytest.raises(PointsError, match="negative size"):
        SpaceCropd("image", roi_start=(0, 0), roi_end=(4, 4), box_keys="pred", box_mode="ccwh")({"image": image, "pred": np.array([[2.0, 2.0, -1.0, 1.0]])})
    with pytest.raises(SpaceTypeError, match="pred"):
        crop({"image": image, "pred": "boxes"})
    with pytest.raises(MetadataError, match="'pred'"):
        SpaceResampled("image", pixdim=1.0, box_keys="pred", allow_missing_keys=True)({"pred": np.array([[0.0, 0.0, 1.0, 1.0]])})
    with pytest.raises(MetadataError, match="'pred'"):
        SpaceInvertd("image", box_keys="pred", allow_missing_keys=True)({"pred": np.array([[0.0, 0.0, 1.0, 1.0]])})
    with pytest.raises(MetadataError, match="'pred'"):
        crop({"image": image})
    with pytest.raises(ModeError, match="box_mode"):
        SpaceCropd("image", roi_start=(0, 0), roi_end=(4, 4), box_keys="pred", box_mode="abcd")
    with pytest.raises(ModeError, match="box_format"):
        SpaceCropd("image", roi_start=(0, 0), roi_end=(4, 4), box_keys="pred", box_format="aabb")
    with pytest.raises(ModeError, match="box_coords"):
        SpaceInvertd("image", box_keys="pred", box_coords="lps")


# ----------------------------------------------------------------------------- the detection bundle's pre/post-processing
#: ``preprocessing`` and ``postprocessing`` of MONAI Model Zoo ``models/lung_nodule_ct_detection/configs/inference.json``
#: (Project-MONAI/model-zoo, commit 003970e579d943b915788dde6fffd1e6cc352d0e), transcribed; the ``itkreader`` branch for raw
#: LUNA16 is left out (``whether_raw_luna16`` is false there) and ``EnsureChannelFirstd``'s ``meta_key_postfix`` too (MONAI
#: 1.6 no longer takes it: the bundle's own config fails there without us).
BUNDLE = {
    "preprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "LoadImaged", "keys": "image", "meta_key_postfix": "meta_dict"},
            {"_target_": "EnsureChannelFirstd", "keys": "image"},
            {"_target_": "Orientationd", "keys": "image", "axcodes": "RAS"},
            {"_target_": "Spacingd", "keys": "image", "pixdim": [0.703125, 0.703125, 1.25]},
            {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": -1024.0, "a_max": 300.0, "b_min": 0.0, "b_max": 1.0, "clip": True},
            {"_target_": "EnsureTyped", "keys": "image"},
        ],
    },
    "postprocessing": {
        "_target_": "Compose",
        "transforms": [
            {"_target_": "ClipBoxToImaged", "box_keys": "box", "label_keys": "label", "box_ref_image_keys": "image", "remove_empty": True},
            {"_target_": "AffineBoxToWorldCoordinated", "box_keys": "box", "box_ref_image_keys": "image", "image_meta_key_postfix": "meta_dict", "affine_lps_to_ras": True},
            {"_target_": "ConvertBoxModed", "box_keys": "box", "src_mode": "xyzxyz", "dst_mode": "cccwhd"},
            {"_target_": "DeleteItemsd", "keys": ["image"]},
        ],
    },
}
#: The migration: ``Spacingd`` by its counterpart (``_target_`` only); ``AffineBoxToWorldCoordinated`` (the working grid's
#: affine applied to box coordinates) by ``SpaceInvertd`` writing world boxes (its own arguments: a different transform).
BUNDLE_SWAP = {
    "Spacingd": lambda node: {**node, "_target_": "monai_spacetx.SpaceSpacingd"},
    "AffineBoxToWorldCoordinated": lambda node: {"_target_": "monai_spacetx.SpaceInvertd", "keys": "image", "box_keys": "box", "box_coords": "world"},
}


def _bundle(section: str, ours: bool):
    """The bundle's ``section`` parsed by MONAI's ``ConfigParser``, as it ships or migrated."""
    from monai.bundle import ConfigParser

    config = copy.deepcopy(BUNDLE)
    if ours:
        config[section]["transforms"] = [BUNDLE_SWAP.get(t["_target_"], lambda n: n)(t) for t in config[section]["transforms"]]
    parser = ConfigParser(config)
    parser.parse()
    return parser.get_parsed_content(section)


def _bundle_pre(ours: bool):
    return _bundle("preprocessing", ours)


def _bundle_post(ours: bool):
    return _bundle("postprocessing", ours)


def _detect(image: np.ndarray) -> np.ndarray:
    """Stand-in detector: the box ``[min, max + 1)`` of the bright voxels (MONAI's convention), standard mode."""
    idx = np.argwhere(image > 0.9)
    return np.concatenate([idx.min(0), idx.max(0) + 1])[None].astype(np.float32)


def test_detection_bundle_pre_and_post_processing(tmp_path):
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(5)
    native = random_space(rng, 3, shape_range=(24, 30), spacing_range=(0.6, 1.6))
    native = Space(native.shape, spacing=(0.8, 0.75, 1.6), origin=native.origin, direction=native.direction)
    scan = np.full(native.shape, -1000.0, dtype=np.float32)
    scan[8:14, 9:16, 6:11] = 200.0  # the nodule
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(scan, native.affine), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _bundle_pre(True)({"image": str(path)})
        monai = _bundle_pre(False)({"image": str(path)})
    results = {}
    for name, data in (("ours", ours), ("monai", monai)):  # each on its own working grid
        predicted = _detect(data["image"][0].numpy())
        pred = {"box": torch.as_tensor(predicted), "label": torch.tensor([0]), "label_scores": torch.tensor([0.9])}
        out = _bundle_post(name == "ours")({**pred, "image": data["image"]})
        # oracle: the working-grid box's world region from the raw working affine (the half voxel right)
        affine = np.asarray(data["image"].affine, dtype=np.float64)
        world = (corner_list(predicted) - 0.5) @ affine[:3, :3].T + affine[:3, 3]
        right = np.asarray(convert_box_mode(np.c_[world.min(1), world.max(1)], src_mode="xyzxyz", dst_mode="cccwhd"))
        results[name] = (np.asarray(out["box"], dtype=np.float64), right, affine, predicted)
    box, right, affine, predicted = results["ours"]
    np.testing.assert_allclose(box, right, atol=1e-4)  # RAS, as the affine
    # MONAI's (LPS, its affine applied to box coordinates): the centre half a working voxel off
    box, right, affine, _ = results["monai"]
    offset = affine[:3, :3] @ np.full(3, 0.5)
    np.testing.assert_allclose(box[0, :3], (right[0, :3] + offset) * np.array([-1.0, -1.0, 1.0]), atol=1e-3)
    working = Space.from_metatensor(ours["image"])
    # mask oracle: native voxels in our native-index box are the working box's mask carried back by nearest
    pre = _bundle_pre(True)({"image": str(path)})
    back = SpaceInvertd("image", box_keys="box")({"image": pre["image"], "box": predicted.astype(np.float64)})
    carried = carried_mask(rasterise(predicted, working.shape), working.affine, native.affine, native.shape)
    assert_box_matches_mask(np.asarray(back["box"]), carried)
    # and the box we return sits on the nodule: centres within one working voxel (the detector thresholds a blurred copy)
    nodule_centre = np.array([11.0, 12.5, 8.5])  # box coordinates of [8, 14) x [9, 16) x [6, 11)
    box_centre = (np.asarray(back["box"])[0, :3] + np.asarray(back["box"])[0, 3:]) / 2
    distance_mm = np.linalg.norm(native.affine[:3, :3] @ (box_centre - nodule_centre))
    assert distance_mm <= working.spacing.max(), distance_mm


# ----------------------------------------------------------------------------- the random box family (tests/chains.py)
@pytest.mark.parametrize("block", range(3))
def test_random_box_chains(block):
    """36 seeded chains of MONAI's lazy transforms and ours, 2-D and 3-D, oblique and sheared, eager and lazy:
    the boxes' corners keep their world points, the flags say whether they lie in the grid, and (lazy) they hold
    the voxels of their mask carried by one nearest resample (``python tests/chains.py --boxes --n N`` for more)."""
    from chains import check_box_chain

    failures = [f"seed {seed}: {f}" for seed in range(block * 12, (block + 1) * 12) for f in check_box_chain(seed)]
    assert not failures, "\n".join(failures)


# ----------------------------------------------------------------------------- the tutorial lesson
def test_tutorial_07_detection(tmp_path, monkeypatch):
    """Lesson 07 runs; its true boxes come back exactly, each detection mapped back holds its lesion, MONAI's world
    boxes are half a working voxel (1 mm) off ours, and the figure is written."""
    import importlib.util
    from pathlib import Path

    tutorials = Path(__file__).resolve().parents[1] / "tutorials"
    monkeypatch.syspath_prepend(str(tutorials))
    spec = importlib.util.spec_from_file_location("lesson_07_detection", tutorials / "07_detection.py")
    lesson = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lesson)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = lesson.main(tmp_path)
    assert result["roundtrip_voxels"] < 1e-9
    np.testing.assert_allclose(result["monai_offset_mm"], 1.0, atol=1e-4)
    shape = (128, 96, 24)
    for row, truth in zip(result["detections"], lesson.LESIONS):
        lesion = rasterise(truth[None], shape)
        assert not (lesion & ~centres_in_corners(row["native_corners"][None], shape, True)).any()
        assert not (lesion & ~centres_in(row["native"][None], shape, True)).any()
    assert result["figure"] is None or Path(result["figure"]).is_file()
