"""Lazy fusion (issue 12): MONAI's pending spatial operations and ours executed as one resample by our engine.

Oracles: MONAI's own eager transforms (same grid, same values to float tolerance for linear,
bit for bit for crops/flips/reorientations), our engine's one-step resample for nearest
(centre-consistent), MONAI's Invertd / Compose.inverse for the records.
"""

from __future__ import annotations

import importlib.resources
import warnings

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Affined,
    CenterSpatialCropd,
    Compose,
    Flipd,
    Invertd,
    LoadImaged,
    Orientationd,
    RandAffined,
    RandFlipd,
    RandRotate90d,
    RandZoomd,
    Resized,
    Rotate90d,
    Rotated,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
    Zoomd,
)

from monai_spacetx.compare import wrong_voxels
from monai_spacetx.engine.options import WarpOptions
from monai_spacetx.errors import ModeError, SpaceError
from monai_spacetx.geometry.space import Space
from monai_spacetx.transforms import SpaceCropd, SpaceInvertd, SpaceResampled
from monai_spacetx.transforms.lazy import fuse_options, pending_space, recorded_mode, take_pending
from monai_spacetx.transforms.sink import SpaceApplyPending, SpaceApplyPendingd, execute_pending

import oracles

warnings.filterwarnings("ignore", category=FutureWarning)  # Orientationd's labels default
ANATOMICAL = str(importlib.resources.files("nibabel") / "tests" / "data" / "anatomical.nii")
KEYS = ["image", "label"]


def _smooth_image(spacing: float = 1.5) -> dict:
    """A smooth 3-D image on an oblique-free but permuted/flipped grid (isotropic, so rotations are Spaces)."""
    g = np.mgrid[0:20, 0:24, 0:16].astype(np.float32)
    values = np.sin(g[0] / 3) + np.cos(g[1] / 4) + g[2] / 10
    affine = torch.tensor([[0, -spacing, 0, 10], [spacing, 0, 0, -3], [0, 0, spacing, 5], [0, 0, 0, 1]], dtype=torch.float64)
    return {"img": MetaTensor(torch.as_tensor(values)[None], affine=affine)}


def _scan() -> dict:
    """nibabel's anatomical.nii and a binary uint8 label of it (as a new user would make one)."""
    data = LoadImaged(KEYS, ensure_channel_first=True, image_only=True)({"image": ANATOMICAL, "label": ANATOMICAL})
    label = data["label"]
    data["label"] = MetaTensor((label.as_tensor() > label.as_tensor().mean()).to(torch.uint8), meta=dict(label.meta))
    return data


def _label_chain(lazy: bool) -> Compose:
    """The issue's chain: Orientationd -> Spacingd(nearest) -> SpaceCropd -> SpaceResampled(nearest)."""
    return Compose(
        [
            Orientationd(KEYS, axcodes="RAS"),
            Spacingd(KEYS, pixdim=1.5, mode=("bilinear", "nearest")),
            SpaceCropd(KEYS, roi_start=(0, 0, 0), roi_end=(44, 55, 34)),
            SpaceResampled(KEYS, pixdim=0.8, mode=("bilinear", "nearest")),
        ],
        lazy=lazy,
    )




# ----------------------------------------------------------------------------- the pending grid and one warp
MONAI_OPS = {
    "Orientationd": lambda: Orientationd("img", axcodes="RAS"),
    "Spacingd": lambda: Spacingd("img", pixdim=(1.0, 0.8, 1.3), padding_mode="border"),
    "SpatialCropd": lambda: SpatialCropd("img", roi_start=(2, 3, 1), roi_end=(15, 20, 12)),
    "CenterSpatialCropd": lambda: CenterSpatialCropd("img", roi_size=(9, 10, 7)),
    "SpatialPadd": lambda: SpatialPadd("img", spatial_size=(24, 30, 20)),
    "Flipd": lambda: Flipd("img", spatial_axis=1),
    "Rotate90d": lambda: Rotate90d("img", k=1, spatial_axes=(0, 1)),
    "Resized": lambda: Resized("img", spatial_size=(30, 20, 10), mode="trilinear"),
    "Zoomd": lambda: Zoomd("img", zoom=1.3, mode="trilinear", keep_size=False),
    "Rotated": lambda: Rotated("img", angle=0.2, mode="bilinear", padding_mode="border"),
    "Affined": lambda: Affined("img", rotate_params=(0.1, 0, 0), mode="bilinear", padding_mode="border"),
    "RandAffined": lambda: RandAffined("img", prob=1.0, rotate_range=0.2, mode="bilinear", padding_mode="border"),
}
COPIES = {"Orientationd", "SpatialCropd", "CenterSpatialCropd", "SpatialPadd", "Flipd", "Rotate90d"}


@pytest.mark.parametrize("name", list(MONAI_OPS))
def test_one_warp_reproduces_monai_eager(name):
    """pending_space is MONAI's eager output grid; executing the pending op with our engine gives MONAI's values."""
    eager_t, lazy_t = MONAI_OPS[name](), MONAI_OPS[name]()
    for t in (eager_t, lazy_t):
        if hasattr(t, "set_random_state"):
            t.set_random_state(7)
    eager = eager_t(_smooth_image())["img"]
    pending = lazy_t(_smooth_image(), lazy=True)["img"]
    assert pending.pending_operations and pending_space(pending) == Space.from_metatensor(eager)
    out = execute_pending(pending, WarpOptions("linear", "zeros" if name in COPIES else "border"))
    assert not out.pending_operations and [op["class"] for op in out.applied_operations] == [
        op["class"] for op in eager.applied_operations
    ]
    np.testing.assert_allclose(out.affine.numpy(), eager.affine.numpy(), atol=1e-6)
    if name in COPIES:  # crops, pads, flips, reorientations: copied, bit for bit
        assert torch.equal(out.as_tensor(), eager.as_tensor().to(out.dtype))
    else:
        torch.testing.assert_close(out.as_tensor(), eager.as_tensor().float(), atol=5e-6, rtol=1e-6)


def test_a_chain_of_monai_ops_is_one_warp_from_the_data_grid():
    ops = [Orientationd("img", axcodes="LPS"), Spacingd("img", pixdim=1.0), SpatialCropd("img", roi_start=(2, 3, 1), roi_end=(15, 20, 12))]
    eager, pending = _smooth_image(), _smooth_image()
    for t in ops:
        eager, pending = t(eager), t(pending, lazy=True)
    run = take_pending(pending["img"])
    assert len(run.ops) == 3 and run.source == Space.from_metatensor(_smooth_image()["img"])
    out = execute_pending(pending["img"], WarpOptions("linear", "border"))
    torch.testing.assert_close(out.as_tensor(), eager["img"].as_tensor(), atol=5e-6, rtol=1e-6)
    # nearest: the brute-force nearest sample of the data on MONAI's eager grid (tests/oracles.py)
    source = _smooth_image()["img"]
    expected = oracles.nearest(source[0].numpy(), source.affine, eager["img"].affine, eager["img"].shape[1:])
    assert oracles.wrong(execute_pending(pending["img"], WarpOptions("nearest"))[0], expected) == 0


def test_the_input_is_not_modified():
    pending = Spacingd("img", pixdim=1.0)(_smooth_image(), lazy=True)["img"]
    before = (pending.clone(), list(pending.pending_operations), list(pending.applied_operations))
    execute_pending(pending)
    assert torch.equal(pending.as_tensor(), before[0].as_tensor())
    assert pending.pending_operations == before[1] and pending.applied_operations == before[2]


def test_a_sheared_pending_grid_is_fused_and_equals_monai_eager():
    """A rotation in index space of an anisotropic grid is sheared in world: fused, MONAI's grid and values."""
    def anisotropic():
        sample = _smooth_image()
        sample["img"].affine = torch.diag(torch.tensor([1.0, 3.0, 1.0, 1.0], dtype=torch.float64))
        return sample

    eager = Rotated("img", angle=0.3, mode="bilinear", padding_mode="border")(anisotropic())["img"]
    pending = Rotated("img", angle=0.3, mode="bilinear", padding_mode="border")(anisotropic(), lazy=True)["img"]
    grid = pending_space(pending)
    assert not grid.is_orthogonal and grid == Space.from_metatensor(eager)
    out = execute_pending(pending, WarpOptions("linear", "border"))
    torch.testing.assert_close(out.as_tensor(), eager.as_tensor().float(), atol=5e-6, rtol=1e-6)


def test_a_singular_pending_grid_is_refused_naming_the_ops():
    flat = np.diag([1.0, 1.0, 0.0, 1.0])
    pending = Affined("img", affine=flat, mode="bilinear")(_smooth_image(), lazy=True)["img"]
    with pytest.raises(SpaceError, match=r"\['Affine'\].*not a Space"):
        pending_space(pending)


# ----------------------------------------------------------------------------- per-key mode
def test_recorded_modes_in_monai_dialect():
    image = _smooth_image()
    assert recorded_mode(Spacingd("img", pixdim=1.0, mode="nearest")(image, lazy=True)["img"].pending_operations[0]) == "nearest"
    assert recorded_mode(Resized("img", (9, 9, 9))(image, lazy=True)["img"].pending_operations[0]) == "linear"  # area
    rand = RandAffined("img", prob=1.0, rotate_range=0.1, mode=3)(image, lazy=True)["img"].pending_operations[0]
    assert recorded_mode(rand) == "cubic"  # nested in RandAffined's record, spline order 3
    assert recorded_mode(Orientationd("img", axcodes="LPS")(image, lazy=True)["img"].pending_operations[0]) is None


def test_fused_mode_rule():
    image = _smooth_image()
    nearest = Spacingd("img", pixdim=1.0, mode="nearest")(image, lazy=True)["img"].pending_operations
    linear = Spacingd("img", pixdim=1.0, mode="bilinear")(image, lazy=True)["img"].pending_operations
    flip = Flipd("img", spatial_axis=0)(image, lazy=True)["img"].pending_operations
    border = WarpOptions("linear", "border")
    assert fuse_options(nearest, border) == WarpOptions("nearest", "border")  # a discrete step keeps labels discrete
    assert fuse_options(nearest, WarpOptions("label")).mode == "label"
    assert fuse_options(linear, WarpOptions("cubic")).mode == "cubic"  # the last interpolating step wins
    assert fuse_options(linear, WarpOptions("nearest"), own_copies=True).mode == "linear"  # a crop has no vote
    assert fuse_options(flip, WarpOptions("linear")).mode == "linear"  # a flip copies: no vote either
    assert fuse_options([], WarpOptions("nearest"), own_copies=True) == WarpOptions("nearest")


# ----------------------------------------------------------------------------- the label chain
def test_lazy_label_chain_is_one_resample_and_keeps_values_and_dtype(warp_calls):
    out = _label_chain(lazy=True)(_scan())
    label = out["label"]
    assert label.dtype == torch.uint8 and set(torch.unique(label.as_tensor()).tolist()) == {0, 1}
    # one warp per key (crop and resample each fused with MONAI's pending orientation/spacing ...
    # the crop executes them, then the resample; see test_consecutive_space_transforms), none by MONAI
    assert warp_calls["monai"] == 0
    names = [op["class"] for op in label.applied_operations]
    assert names == ["Orientation", "SpatialResample", "SpaceCrop", "SpaceResample"]  # MONAI's, in order, then ours
    # the output is ONE resample from the loaded data: the last record says so, and a direct warp agrees
    last = label.applied_operations[-1]["extra_info"]
    data = _scan()["label"]
    assert last["fused"] == 3 and Space.from_json(last["data_source"]) == Space.from_metatensor(data)
    # the grid is the eager chain's (MONAI's Orientationd/Spacingd executed), the values the brute-force
    # nearest sample of the loaded label there: one resample, centre-consistent
    eager = _label_chain(lazy=False)(_scan())["label"]
    assert label.shape == eager.shape
    np.testing.assert_array_equal(label.affine.numpy(), eager.affine.numpy())
    expected = oracles.nearest(data[0].numpy(), data.affine, eager.affine, eager.shape[1:])
    # the crop reaches past Spacingd's grid: eagerly that part is the crop's fill (0), not data from further out
    spaced = Compose([Orientationd(KEYS, axcodes="RAS"), Spacingd(KEYS, pixdim=1.5)])(_scan())["label"]
    beyond = oracles.nearest(np.ones(spaced.shape[1:], np.uint8), spaced.affine, eager.affine, eager.shape[1:]) == 0
    assert beyond.sum() > 0
    expected[beyond] = 0
    assert oracles.wrong(label[0], expected) == 0


def test_monai_lazy_alone_corrupts_the_label_ours_does_not():
    """The bug fixed: MONAI's own lazy flush drops the nearest mode (MONAI issue #6850)."""
    monai_only = Compose([Orientationd(KEYS, axcodes="RAS"), Spacingd(KEYS, pixdim=0.8, mode=("bilinear", "nearest"))], lazy=True)
    assert len(torch.unique(monai_only(_scan())["label"].as_tensor())) > 2
    ours = Compose([*monai_only.transforms, SpaceApplyPendingd(KEYS)], lazy=True)(_scan())
    eager = Compose([Orientationd(KEYS, axcodes="RAS"), Spacingd(KEYS, pixdim=0.8, mode=("bilinear", "nearest"))])(_scan())["label"]
    np.testing.assert_array_equal(ours["label"].affine.numpy(), eager.affine.numpy())
    data = _scan()["label"]
    expected = oracles.nearest(data[0].numpy(), data.affine, eager.affine, eager.shape[1:])
    assert ours["label"].dtype == torch.uint8 and oracles.wrong(ours["label"][0], expected) == 0


def test_lazy_label_chain_maps_back_exactly():
    scan = _scan()
    out = _label_chain(lazy=True)(dict(scan))
    back = SpaceInvertd("label", mode="nearest")(out)["label"]
    assert back.shape == scan["label"].shape and wrong_voxels(back, scan["label"]) == 0
    np.testing.assert_array_equal(back.affine.numpy(), scan["label"].affine.numpy())


def test_monai_inverse_still_inverts_the_fused_chain():
    scan = _scan()
    chain = _label_chain(lazy=True)
    by_compose = chain.inverse(chain(dict(scan)))  # (MONAI's inverse pops the records in place)
    by_invertd = Invertd(KEYS, transform=chain, nearest_interp=True)(chain(dict(scan)))
    for result in (by_compose, by_invertd):
        assert result["label"].shape == scan["label"].shape and not result["label"].applied_operations
        np.testing.assert_allclose(result["label"].affine.numpy(), scan["label"].affine.numpy(), atol=1e-6)
        # MONAI inverts step by step; every step here is at least as fine as the scan: nothing is lost
        assert wrong_voxels(result["label"].as_tensor().round(), scan["label"]) == 0


#: wrong voxels after mapping the eager label chain's output back by ONE nearest resample (brute force)
ONE_NEAREST_BACK_WRONG = 2045


def test_eager_chain_with_two_resamples_maps_back_exactly_by_composing_index_maps():
    """Issue 12 point 6: eager Spacingd(nearest) then SpaceResampled(nearest), undone by one gather."""
    scan = _scan()
    out = _label_chain(lazy=False)(dict(scan))
    names = [op["class"] for op in out["label"].applied_operations]
    assert names == ["Orientation", "SpatialResample", "SpaceCrop", "SpaceResample"]
    label = out["label"]
    one_resample = oracles.nearest(label[0].numpy(), label.affine, scan["label"].affine, scan["label"].shape[1:])
    assert wrong_voxels(one_resample, scan["label"][0]) == ONE_NEAREST_BACK_WRONG  # what one nearest resample back would leave
    back = SpaceInvertd("label", mode="nearest")(out)["label"]
    assert wrong_voxels(back, scan["label"]) == 0
    linear = SpaceInvertd("label", mode="linear")(out)["label"]  # linear stays one resample: by brute force
    expected = oracles.interpolate(label[0].numpy().astype(np.float64), label.affine, scan["label"].affine, scan["label"].shape[1:], 1, "zeros")
    assert linear.shape == scan["label"].shape and 0 < expected.mean() and not np.array_equal(expected, np.round(expected))
    np.testing.assert_allclose(linear[0].numpy(), expected, rtol=0, atol=1e-5)


def test_consecutive_space_transforms_are_one_resample():
    data = _smooth_image()
    chain = [
        SpaceResampled("img", pixdim=1.1, mode="bilinear"),
        SpaceCropd("img", roi_start=(2, 2, 2), roi_end=(22, 26, 14)),
        SpaceResampled("img", spatial_size=(31, 37, 19), mode="bilinear"),
    ]
    lazy = Compose(chain, lazy=True)(dict(data))["img"]
    eager = Compose(chain, lazy=False)(dict(data))["img"]
    # the grid, planned by hand: 20 x 24 x 16 voxels of 1.5 mm -> 1.1 mm with MONAI Spacing's rule (pixdim is
    # Spacingd's argument: voxel 0's centre stays, round((n - 1) * 1.5 / 1.1 + 1) = 27 x 32 x 21 voxels), crop
    # [2, 22) x [2, 26) x [2, 14), resize to 31 x 37 x 19 keeping the crop's field-of-view edges
    spacing_1 = np.array([1.1, 1.1, 1.1])
    shape_1 = np.round((np.array([20, 24, 16]) - 1) * 1.5 / 1.1 + 1)
    crop_shape = np.array([20, 24, 12])
    spacing_2 = spacing_1 * crop_shape / np.array([31, 37, 19])
    direction = data["img"].affine.numpy()[:3, :3] / 1.5
    origin_1 = data["img"].affine.numpy()[:3, 3]  # voxel 0's centre stays
    corner = origin_1 + direction @ (spacing_1 * (2 - 0.5))  # the crop's first field-of-view corner
    expected_affine = np.eye(4)
    expected_affine[:3, :3] = direction * spacing_2
    expected_affine[:3, 3] = corner + direction @ (spacing_2 * 0.5)
    assert shape_1.tolist() == [27, 32, 21] and tuple(lazy.shape[1:]) == (31, 37, 19)
    np.testing.assert_allclose(lazy.affine.numpy(), expected_affine, rtol=0, atol=1e-9)
    assert Space.from_metatensor(lazy) == Space.from_metatensor(eager)
    # one interpolation from the data: the brute-force linear sample of the data on that grid
    expected = oracles.interpolate(data["img"][0].numpy(), data["img"].affine, expected_affine, (31, 37, 19), 1, "border")
    np.testing.assert_allclose(lazy[0].numpy(), expected, rtol=0, atol=8 * np.finfo(np.float32).eps * float(np.abs(expected).max()))
    assert np.abs(eager[0].numpy() - expected).max() > 1e-3  # eager interpolated twice
    assert lazy.applied_operations[-1]["extra_info"]["fused"] == 2


def test_a_transform_in_between_stops_the_fusion():
    """A non-spatial transform changes the pixels: the next Space step must resample those, not the older input."""
    from monai.transforms import ScaleIntensityd

    data = _smooth_image()
    chain = [SpaceResampled("img", pixdim=1.1), ScaleIntensityd("img", factor=1.0), SpaceResampled("img", pixdim=0.9)]
    lazy = Compose(chain, lazy=True)(dict(data))["img"]
    eager = Compose(chain, lazy=False)(dict(data))["img"]
    assert torch.equal(lazy.as_tensor(), eager.as_tensor())
    assert "fused" not in lazy.applied_operations[-1]["extra_info"]


def test_an_in_place_change_stops_the_fusion():
    first = SpaceResampled("img", pixdim=1.1, lazy=True)(_smooth_image())
    first["img"].mul_(2.0)
    second = SpaceResampled("img", pixdim=0.9, lazy=True)(first)["img"]
    eager = SpaceResampled("img", pixdim=0.9)(first)["img"]
    assert torch.equal(second.as_tensor(), eager.as_tensor())


def test_eager_space_transforms_do_not_fuse():
    data = _smooth_image()
    first = SpaceResampled("img", pixdim=1.1)(dict(data))
    second = SpaceResampled("img", pixdim=0.9)(first)["img"]
    assert "fused" not in second.applied_operations[-1]["extra_info"]


# ----------------------------------------------------------------------------- the sink
def test_chain_ending_with_monai_ops_needs_the_sink(warp_calls):
    scan = _scan()
    head = [SpaceResampled(KEYS, pixdim=1.5, mode=("bilinear", "nearest")), Flipd(KEYS, spatial_axis=0), Spacingd(KEYS, pixdim=1.0, mode=("bilinear", "nearest"))]
    Compose(head, lazy=True)(dict(scan))
    assert warp_calls["monai"] == 2  # without the sink MONAI's resampler runs the tail, once per key
    warp_calls["monai"] = 0
    out = Compose([*head, SpaceApplyPendingd(KEYS)], lazy=True)(dict(scan))
    assert warp_calls["monai"] == 0
    # the sink fuses with the lazy Space step before it: ONE resample (nearest for the label) from the
    # loaded data onto the final grid, the brute-force nearest, voxel for voxel
    label = scan["label"]
    expected = oracles.nearest(label[0].numpy(), label.affine, out["label"].affine, out["label"].shape[1:])
    assert out["label"].dtype == torch.uint8 and oracles.wrong(out["label"][0], expected) == 0
    eager = Compose(head)(dict(scan))["label"]
    np.testing.assert_array_equal(out["label"].affine.numpy(), eager.affine.numpy())
    assert [op["class"] for op in out["label"].applied_operations] == ["SpaceResample", "Flip", "SpatialResample"]
    assert not out["label"].pending_operations
    # the newest record says the sink's warp covered the Space step too (the exact map-back counts one resample)
    assert out["label"].applied_operations[-1]["spacetx_fused"] == 1


def test_sink_array_form_and_overrides():
    source = _smooth_image()["img"]
    pending = Spacingd("img", pixdim=1.0, mode="nearest")(_smooth_image(), lazy=True)["img"]
    grid = Spacingd("img", pixdim=1.0, mode="nearest")(_smooth_image())["img"]  # MONAI's eager grid
    recorded = SpaceApplyPending()(pending)
    overridden = SpaceApplyPending(mode="bilinear")(pending)
    for out in (recorded, overridden):
        np.testing.assert_array_equal(out.affine.numpy(), grid.affine.numpy())
    # the recorded mode (nearest) and the override (bilinear), each against its brute-force definition
    assert oracles.wrong(recorded[0], oracles.nearest(source[0].numpy(), source.affine, grid.affine, grid.shape[1:])) == 0
    linear = oracles.interpolate(source[0].numpy(), source.affine, grid.affine, grid.shape[1:], 1, "border")
    np.testing.assert_allclose(overridden[0].numpy(), linear, rtol=0, atol=8 * np.finfo(np.float32).eps * float(np.abs(linear).max()))
    assert SpaceApplyPending()(recorded) is recorded  # nothing pending: unchanged


def test_sink_bad_arguments_name_the_key():
    with pytest.raises(ModeError, match="'label'.*'bogus'"):
        SpaceApplyPendingd(["image", "label"], mode=[None, "bogus"])
    with pytest.raises(ModeError, match="padding_mode.*'image'.*'wrap'"):
        SpaceApplyPendingd(["image"], padding_mode="wrap")


# ----------------------------------------------------------------------------- landmarks through MONAI's random ops
def test_landmarks_follow_monai_random_ops_and_come_back():
    data = _smooth_image(spacing=1.0)
    points = np.array([[5.0, 7.0, 4.0], [12.3, 15.1, 9.7], [3.2, 20.4, 2.5]])
    data["pts"] = points
    chain = Compose(
        [
            RandAffined("img", prob=1.0, rotate_range=(0.3, 0.2, 0.25), scale_range=0.1, translate_range=2.0, padding_mode="zeros"),
            RandFlipd("img", prob=1.0, spatial_axis=1),
            RandZoomd("img", prob=1.0, min_zoom=1.1, max_zoom=1.2, keep_size=False),
            SpaceResampled("img", spatial_size=(32, 36, 24), mode="bilinear", padding_mode="zeros", point_keys="pts"),
        ],
        lazy=True,
    )
    chain.set_random_state(3)
    out = chain(dict(data))
    moved = out["pts"]
    source, target = Space.from_metatensor(data["img"]), Space.from_metatensor(out["img"])
    # the points went through the same composed map as the image: world positions are kept
    np.testing.assert_allclose(target.index_to_world(moved), source.index_to_world(points), atol=1e-9)
    back = SpaceInvertd("img", mode="linear", point_keys="pts")(out)
    np.testing.assert_allclose(back["pts"], points, atol=1e-9)


def test_landmarks_mark_the_same_anatomy_as_the_image():
    data = _smooth_image(spacing=1.0)
    blob_at = np.array([9.0, 11.0, 7.0])
    g = np.mgrid[0:20, 0:24, 0:16]
    blob = np.exp(-sum((g[k] - blob_at[k]) ** 2 for k in range(3)) / 4.0).astype(np.float32)
    data["img"] = MetaTensor(torch.as_tensor(blob)[None], affine=data["img"].affine)
    data["pts"] = blob_at[None]
    chain = Compose([RandAffined("img", prob=1.0, rotate_range=0.4, padding_mode="zeros"), SpaceResampled("img", pixdim=0.5, point_keys="pts")], lazy=True)
    chain.set_random_state(11)
    out = chain(data)
    peak = np.array(np.unravel_index(int(torch.argmax(out["img"])), out["img"].shape[1:]), dtype=float)
    assert np.abs(peak - out["pts"][0]).max() <= 1.0  # the brightest voxel is the landmark's (0.5 mm voxels)


@pytest.mark.parametrize("seed", range(6))
def test_axis_aligned_chains_map_back_one_axis_at_a_time_to_the_same_voxels(seed):
    """The separable composition of nearest maps equals the general (N, D) one, voxel for voxel."""
    from conftest import random_space

    from monai_spacetx.transforms.chain import _separable_flat_index, compose_nearest

    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    native = random_space(rng, ndim, shape_range=(8, 20))
    reoriented = native.flip(int(rng.integers(ndim))).permute(list(rng.permutation(ndim)))
    respaced = reoriented.respace(reoriented.spacing * rng.uniform(0.5, 1.6, ndim))
    cropped = respaced.crop([1] * ndim, [n - 1 for n in respaced.shape])
    grids = [native, reoriented, respaced, cropped.resize([n + 3 for n in cropped.shape])]
    flat, valid = _separable_flat_index(grids)
    index, expected_valid = compose_nearest(grids)
    assert np.array_equal(valid, expected_valid) and valid.any() and not valid.all()
    expected = np.ravel_multi_index(tuple(np.where(expected_valid[:, None], index, 0).T), grids[-1].shape)
    assert np.array_equal(flat[valid], expected[valid])  # the rest take the fill
    assert _separable_flat_index([native, native.rotate([0.3] * (1 if ndim == 2 else 3))]) is None


# ----------------------------------------------------------------------------- silent fallbacks (issue 23)
@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("where", [1, 2], ids=["before Spacingd", "after Spacingd"])
def test_an_identity_rotation_in_a_label_chain_keeps_the_map_back_exact(lazy, where):
    """``Rotated(angle=0.0)`` is MONAI's affine resample with an identity matrix: the chain's grids are unchanged,
    so mapping the label back must stay exact (a record the map-back misreads would silently cost voxels)."""
    steps = [
        Orientationd(KEYS, axcodes="RAS"),
        Spacingd(KEYS, pixdim=1.5, mode=("bilinear", "nearest")),
        SpaceCropd(KEYS, roi_start=(0, 0, 0), roi_end=(44, 55, 34)),
        SpaceResampled(KEYS, pixdim=0.8, mode=("bilinear", "nearest")),
    ]
    steps.insert(where, Rotated(KEYS, angle=0.0, mode=("bilinear", "nearest")))
    scan = _scan()
    out = Compose(steps, lazy=lazy)(dict(scan))
    back = SpaceInvertd("label", mode="nearest")(out)["label"]
    assert back.shape == scan["label"].shape
    assert wrong_voxels(back, scan["label"]) == 0


@pytest.mark.parametrize("mode", ["nearest", 0, np.int64(0)], ids=["name", "int", "numpy int"])
def test_a_nearest_vote_given_as_a_spline_order_is_kept_under_lazy(mode):
    """MONAI takes ``mode=0`` (spline order 0: nearest), numpy integers too; the fused resample must honour it."""
    scan = _scan()
    spacing = Spacingd(KEYS, pixdim=0.8, mode=("bilinear", mode))
    out = Compose([Orientationd(KEYS, axcodes="RAS"), spacing, SpaceCropd(KEYS, roi_start=(0, 0, 0), roi_end=(80, 100, 60))], lazy=True)(dict(scan))
    grid = Compose([Orientationd(KEYS, axcodes="RAS"), Spacingd(KEYS, pixdim=0.8, mode=("bilinear", "nearest"))])(_scan())["label"]
    label = scan["label"]
    expected = oracles.nearest(label[0].numpy(), label.affine, grid.affine, grid.shape[1:])[:80, :100, :60]
    assert out["label"].dtype == torch.uint8 and oracles.wrong(out["label"][0], expected) == 0
    # and the image's bilinear vote is honoured too (the crop itself has no vote: it copies)
    image = scan["image"]
    linear = oracles.interpolate(image[0].numpy(), image.affine, grid.affine, grid.shape[1:], 1, "border")[:80, :100, :60]
    np.testing.assert_allclose(out["image"][0].numpy(), linear, rtol=0, atol=8 * np.finfo(np.float32).eps * float(np.abs(linear).max()))


def test_grids_read_from_cache_are_exact():
    """The data, pending and native grids come from a cache of recent grids keyed by the affine's bytes: an affine one
    ulp away, another shape or another dtype is a different grid. Oracle: Space.from_affine of the raw affines, bit for bit."""
    from monai_spacetx.transforms.meta import find_native_space

    affine = torch.tensor([[0.0, -1.5, 0.1, 10.0], [1.5, 0.0, 0.0, -3.0], [0.0, 0.2, 1.5, 5.0], [0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)
    nudged = affine.clone()
    nudged[0, 3] = float(np.nextafter(10.0, 11.0))
    for a in (affine, nudged, affine, nudged):  # the second round is read from the cache
        for shape in ((6, 5, 4), (6, 5, 3)):
            img = MetaTensor(torch.zeros((1, *shape)), affine=a)
            run = take_pending(img)
            assert np.array_equal(run.source.affine, a.numpy()) and run.source.shape == shape
            assert np.array_equal(pending_space(img).affine, a.numpy()) and pending_space(img).shape == shape
            img.meta["original_affine"], img.meta["spatial_shape"] = a.numpy().copy(), np.array(shape)
            img.meta["original_affine"][1, 3] += 1.0  # the native grid: another affine than the data's
            native = find_native_space(img)
            assert native is not None and np.array_equal(native.affine, img.meta["original_affine"]) and native.shape == shape
    # RandAffined's pending grid, against the pending affine MONAI gives, one sample after another
    rand = RandAffined(["img"], prob=1.0, rotate_range=0.3, scale_range=0.1, lazy=True)
    rand.set_random_state(0)
    for _ in range(3):
        img = rand({"img": MetaTensor(torch.zeros((1, 6, 5, 4)), affine=affine)})["img"]
        expected = Space.from_affine(img.peek_pending_affine(), img.peek_pending_shape())
        assert np.array_equal(pending_space(img).affine, expected.affine) and pending_space(img).shape == expected.shape
    singular = torch.eye(4, dtype=torch.float64)
    singular[0, 0] = 0.0
    for _ in range(2):  # a grid that is not a Space is refused every time, never cached
        with pytest.raises(SpaceError):
            pending_space(MetaTensor(torch.zeros((1, 6, 5, 4)), affine=singular))
