"""MONAI integration of the Space transforms: exact round trips, Invertd, collate, lazy, bundles."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    CropForegroundd,
    Invertd,
    LoadImaged,
    Orientationd,
    Resized,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
    Zoomd,
)

import monai_spacetx as mst
from monai_spacetx import Space, SpaceCropd, SpaceCropForegroundd, SpaceInvertd, SpaceResampled, get_native_space, get_space
from monai_spacetx.compare import dice, wrong_voxels

import oracles

NATIVE_SHAPE = (40, 36, 22)


def _native_space() -> Space:
    angle = 0.35
    c, s = np.cos(angle), np.sin(angle)
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array(
        [[1.0, 0.0, 0.0], [0.0, np.cos(0.2), -np.sin(0.2)], [0.0, np.sin(0.2), np.cos(0.2)]]
    )
    return Space(NATIVE_SHAPE, spacing=(0.9, 1.1, 2.5), origin=(-120.5, 80.25, -310.0), direction=direction)


def _label_volume() -> np.ndarray:
    """Two classes: an ellipsoid (1) with a smaller off-centre ball (2) inside, in index units."""
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in NATIVE_SHAPE], indexing="ij"), -1)
    body = (((grid - (19.3, 17.6, 10.4)) / (12.2, 10.7, 6.3)) ** 2).sum(-1) <= 1.0
    core = (((grid - (22.1, 15.2, 11.0)) / (4.6, 5.3, 3.1)) ** 2).sum(-1) <= 1.0
    return (body.astype(np.uint8) + core.astype(np.uint8) * (body > 0)).astype(np.uint8)


@pytest.fixture(scope="module")
def nifti_case(tmp_path_factory):
    """A real oblique, anisotropic NIfTI image + label on disk, loaded through MONAI's LoadImaged."""
    folder = tmp_path_factory.mktemp("case")
    native = _native_space()
    label = _label_volume()
    rng = np.random.default_rng(0)
    image = (label * 100.0 + rng.normal(0, 5, label.shape)).astype(np.float32)
    nib.save(nib.Nifti1Image(image, native.affine), folder / "image.nii.gz")
    nib.save(nib.Nifti1Image(label, native.affine), folder / "label.nii.gz")
    return {"image": str(folder / "image.nii.gz"), "label": str(folder / "label.nii.gz"), "native": native, "lab": label}


def _load(case):
    return LoadImaged(["image", "label"], ensure_channel_first=True, image_only=True)(
        {"image": case["image"], "label": case["label"]}
    )


def _dice(a, b) -> float:
    return dice(a, b, classes=(1, 2))


# ----------------------------------------------------------------------------- 1. the seed case
def test_seed_case_in_monai_terms():
    img = np.zeros((35, 35), np.float32)
    img[13:22, 13:22] = 1.0
    img[17, 17] = 5.0
    data = {"image": MetaTensor(torch.from_numpy(img)[None]), "kp": np.array([[17.0, 17.0]])}
    forward = Compose(
        [
            SpaceCropd("image", roi_start=(10, 10), roi_end=(25, 25), point_keys="kp"),
            SpaceResampled("image", spatial_size=(32, 32), mode="linear", point_keys="kp"),
        ]
    )
    out = forward(data)
    assert out["image"].shape == (1, 32, 32)
    working = out["image"][0].numpy()
    pred = {"image": out["image"], "mask": torch.from_numpy((working >= 0.5).astype(np.uint8))[None]}
    detected = np.argwhere(working >= 3).mean(axis=0)[None]
    pred["kp"] = detected
    back = SpaceInvertd("mask", orig_keys="image", mode="nearest", point_keys="kp")(pred)
    assert back["mask"].shape == (1, 35, 35)
    assert wrong_voxels(back["mask"], img >= 0.5) == 0
    np.testing.assert_allclose(back["kp"], [[17.0, 17.0]], atol=1e-9)
    assert back["kp_in_grid"].tolist() == [True]
    np.testing.assert_array_equal(back["mask"].affine.numpy(), np.eye(4))


# ----------------------------------------------------------------------------- 2. MONAI pipelines vs ours (README, Accuracy)
OUR_PIPELINES = {
    "respace_finer": lambda: [SpaceResampled(["image", "label"], pixdim=(0.7, 0.8, 1.6), mode=("linear", "nearest"))],
    "resize_larger": lambda: [SpaceResampled(["image", "label"], spatial_size=(64, 56, 40), mode=("linear", "nearest"))],
    "crop_foreground_resize": lambda: [
        SpaceCropForegroundd(["image", "label"], source_key="label", margin=2),
        SpaceResampled(["image", "label"], spatial_size=(48, 48, 32), mode=("linear", "nearest")),
    ],
    "zoom_1.7": lambda: [SpaceResampled(["image", "label"], spatial_size=[int(n * 1.7) for n in NATIVE_SHAPE], mode=("linear", "nearest"))],
    "orientation_respace": lambda: [
        Orientationd(["image", "label"], axcodes="RAS"),
        SpaceResampled(["image", "label"], pixdim=0.75, align="centers", mode=("linear", "nearest")),
    ],
}


@pytest.mark.parametrize("name", sorted(OUR_PIPELINES))
def test_our_pipelines_round_trip_labels_exactly(nifti_case, name):
    data = Compose(OUR_PIPELINES[name]())(_load(nifti_case))
    back = SpaceInvertd("label", mode="nearest")(data)
    assert back["label"].shape[1:] == NATIVE_SHAPE
    np.testing.assert_allclose(back["label"].affine.numpy(), nifti_case["native"].affine, atol=1e-6)
    assert wrong_voxels(back["label"], nifti_case["lab"]) == 0


MONAI_PIPELINES = {
    "Spacingd finer": lambda: [Spacingd("image", pixdim=(0.7, 0.8, 1.6))],
    "Resized larger": lambda: [Resized("image", spatial_size=(64, 56, 40))],
    "CropForegroundd + Resized": lambda: [
        CropForegroundd("image", source_key="image", select_fn=lambda x: x > 50, margin=2),
        Resized("image", spatial_size=(48, 48, 32)),
    ],
    "Zoomd 1.7": lambda: [Zoomd("image", zoom=1.7, keep_size=False)],
    "Orientationd + Spacingd": lambda: [Orientationd("image", axcodes="RAS"), Spacingd("image", pixdim=0.75)],
    "SpatialPadd + Resized": lambda: [SpatialPadd("image", spatial_size=(48, 40, 26)), Resized("image", spatial_size=(60, 50, 30))],
}


def _ideal_prediction(image: MetaTensor, native: Space, label: np.ndarray) -> MetaTensor:
    """A perfect model: the native label sampled at the working grid's voxel centres, by brute force
    from the two affines (tests/oracles.py, none of the package); a MetaTensor, as a model fed a
    MetaTensor returns (MONAI's Invertd skips plain tensors)."""
    ideal = oracles.nearest(label, native.affine, image.affine, image.shape[1:])
    return MetaTensor(torch.from_numpy(ideal)[None])


#: wrong native voxels MONAI's Invertd(nearest_interp=True) leaves from that perfect prediction (MONAI 1.6.1):
#: its nearest is torch's (not centre-consistent) wherever the inverse interpolates
MONAI_INVERTD_WRONG = {
    "Spacingd finer": 0,
    "Resized larger": 704,
    "CropForegroundd + Resized": 461,
    "Zoomd 1.7": 798,
    "Orientationd + Spacingd": 0,
    "SpatialPadd + Resized": 727,
}


@pytest.mark.parametrize("name", sorted(MONAI_PIPELINES))
def test_space_invertd_undoes_monai_transforms_exactly(nifti_case, name):
    native, label = nifti_case["native"], nifti_case["lab"]
    pipeline = Compose(MONAI_PIPELINES[name]())
    data = pipeline(_load(nifti_case))
    data["pred"] = _ideal_prediction(data["image"], native, label)
    ours = SpaceInvertd("pred", orig_keys="image", mode="nearest")(dict(data))["pred"]
    assert ours.shape[1:] == NATIVE_SHAPE
    np.testing.assert_allclose(ours.affine.numpy(), native.affine, atol=1e-5)
    assert wrong_voxels(ours, label) == 0
    theirs = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=True)(dict(data))
    assert wrong_voxels(theirs["pred"], label) == MONAI_INVERTD_WRONG[name]


def test_coarse_grid_label_and_linear_beat_monai_invertd(nifti_case):
    native, label = nifti_case["native"], nifti_case["lab"]
    pipeline = Compose([Spacingd("image", pixdim=(1.6, 1.9, 3.6))])
    data = pipeline(_load(nifti_case))
    working = data["image"]
    hard = _ideal_prediction(working, native, label)
    shape = tuple(working.shape[1:])
    onehot = np.stack([oracles.interpolate(label == k, native.affine, working.affine, shape, 1, "zeros") for k in range(3)])
    prob = MetaTensor(torch.from_numpy(onehot.astype(np.float32)))

    ours_label = SpaceInvertd("pred", orig_keys="image", mode="label")({**data, "pred": hard})["pred"]
    theirs_nearest = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=True)({**data, "pred": hard})["pred"]
    # mode="label" is its definition (per-class linear, argmax), computed by brute force
    assert oracles.label_vote_violations(ours_label[0].numpy(), hard[0].numpy(), working.affine, native.affine, NATIVE_SHAPE, "zeros", 0) == 0
    assert (wrong_voxels(ours_label, label), wrong_voxels(theirs_nearest, label)) == (398, 585)
    assert _dice(ours_label, label) > _dice(theirs_nearest, label)

    ours_prob = SpaceInvertd("pred", orig_keys="image", mode="linear")({**data, "pred": prob})["pred"]
    theirs_prob = Invertd("pred", transform=pipeline, orig_keys="image", nearest_interp=False)({**data, "pred": prob})["pred"]
    expected = np.stack([oracles.interpolate(p, working.affine, native.affine, NATIVE_SHAPE, 1, "zeros") for p in onehot.astype(np.float32)])
    np.testing.assert_allclose(ours_prob.numpy(), expected, rtol=0, atol=1e-6)  # float32 probabilities
    assert (wrong_voxels(ours_prob.argmax(0), label), wrong_voxels(theirs_prob.argmax(0), label)) == (74, 74)


# ----------------------------------------------------------------------------- landmarks
def test_landmarks_travel_and_return_in_index_and_world(nifti_case):
    native = nifti_case["native"]
    points = np.array([[3.25, 4.5, 2.0], [20.0, 18.0, 11.0], [39.4, 35.2, 21.3]])
    world = native.index_to_world(points)
    data = _load(nifti_case)
    data.update(kp=points, kw=world[None])
    forward = Compose(
        [
            SpaceCropd(["image", "label"], roi_start=(5, 5, 2), roi_end=(36, 30, 20), point_keys="kp"),
            SpaceCropd(["image", "label"], roi_start=(0, 0, 0), roi_end=(31, 25, 18), point_keys="kw", point_coords="world"),
            SpaceResampled(["image", "label"], pixdim=(0.5, 0.6, 1.1), mode=("linear", "nearest"), point_keys="kp"),
        ]
    )
    out = forward(data)
    assert out["kp_in_grid"].tolist() == [False, True, False]  # the corners left the crop: kept, flagged
    assert out["kw_in_grid"].tolist() == [[False, True, False]]
    np.testing.assert_array_equal(out["kw"], world[None])
    np.testing.assert_allclose(get_space(out["image"]).index_to_world(out["kp"]), world, atol=1e-9)
    back = SpaceInvertd("label", mode="nearest", point_keys="kp")(out)
    np.testing.assert_allclose(back["kp"], points, atol=1e-9)
    assert back["kp_in_grid"].tolist() == [True, True, True]


def test_world_box_crop_around_a_landmark(nifti_case):
    native = nifti_case["native"]
    data = _load(nifti_case)
    data["kp"] = np.array([[20.0, 18.0, 11.0]])
    out = SpaceCropd(["image", "label"], center_key="kp", world_size=(18.0, 22.0, 25.0), point_keys="kp")(data)
    assert out["image"].shape[1:] == (20, 20, 10)
    # the box is snapped onto the grid (ties go up): the landmark sits within half a voxel of its centre
    np.testing.assert_allclose(out["kp"], [[9.0, 9.0, 4.0]], atol=1e-9)
    # the crop is exact: the values are the native ones, bit for bit
    start = np.array([11, 9, 7])
    expected = nifti_case["lab"][start[0] : start[0] + 20, start[1] : start[1] + 20, start[2] : start[2] + 10]
    np.testing.assert_array_equal(out["label"][0].numpy(), expected)
    assert native == get_native_space(out["image"])


# ----------------------------------------------------------------------------- 3. MONAI Invertd on our Compose
@pytest.mark.parametrize("nearest_interp", [True, False])
def test_monai_invertd_inverts_our_compose(nifti_case, nearest_interp):
    native, label = nifti_case["native"], nifti_case["lab"]
    pre = Compose(
        [
            LoadImaged(["image", "label"], ensure_channel_first=True, image_only=True),
            SpaceCropd(["image", "label"], roi_start=(4, 3, 1), roi_end=(38, 33, 21)),
            SpaceResampled(["image", "label"], pixdim=(0.6, 0.7, 1.2), mode=("cubic", "nearest")),
        ]
    )
    data = pre({"image": nifti_case["image"], "label": nifti_case["label"]})
    data["pred"] = data["label"].clone()
    out = Invertd(["pred", "image"], transform=pre, orig_keys=["label", "image"], nearest_interp=nearest_interp)(data)
    assert out["pred"].shape[1:] == NATIVE_SHAPE
    np.testing.assert_allclose(out["pred"].affine.numpy(), native.affine, atol=1e-6)
    inside = np.zeros(NATIVE_SHAPE, bool)
    inside[4:38, 3:33, 1:21] = True
    assert wrong_voxels(out["pred"][0].numpy()[inside], label[inside]) == 0
    assert out["image"].shape[1:] == NATIVE_SHAPE
    # Compose.inverse as well
    from monai.transforms import allow_missing_keys_mode

    with allow_missing_keys_mode(pre):
        inverted = pre.inverse({"label": data["label"]})
    assert wrong_voxels(inverted["label"][0].numpy()[inside], label[inside]) == 0


def test_nearest_interp_switches_recorded_modes():
    from monai.transforms.utils import convert_applied_interp_mode

    x = MetaTensor(torch.rand(1, 10, 12))
    out = SpaceResampled("x", spatial_size=(20, 24), mode="cubic")({"x": x})["x"]
    converted = convert_applied_interp_mode(out.applied_operations, mode="nearest")
    assert converted[-1]["extra_info"]["mode"] == "nearest"
    out = SpaceResampled("x", spatial_size=(20, 24), mode="label")({"x": (x > 0.5).to(torch.uint8)})["x"]
    assert convert_applied_interp_mode(out.applied_operations, mode="nearest")[-1]["extra_info"]["mode"] == "nearest"


# ----------------------------------------------------------------------------- 4. DataLoader + collate
def _inference_pipeline():
    return Compose(
        [
            LoadImaged(["image", "label"], ensure_channel_first=True, image_only=True),
            SpaceCropForegroundd(["image", "label"], source_key="label", margin=3, point_keys="kp"),
            SpaceResampled(["image", "label"], spatial_size=(40, 36, 24), mode=("linear", "nearest"), point_keys="kp"),
        ]
    )


def _model(image: torch.Tensor) -> torch.Tensor:
    return (image > 50).to(torch.uint8)


def test_dataloader_collate_decollate_matches_unbatched(nifti_case):
    from monai.data import DataLoader, Dataset, decollate_batch, list_data_collate

    items = [
        {"image": nifti_case["image"], "label": nifti_case["label"], "kp": np.array([[20.0, 18.0, 11.0], [5.5, 6.0, 2.0]]) + i}
        for i in range(4)
    ]
    post = SpaceInvertd("pred", orig_keys="image", mode="nearest", point_keys="kp")
    expected = []
    for item in items:
        sample = _inference_pipeline()(dict(item))
        sample["pred"] = _model(sample["image"])
        expected.append(post(sample))
    loader = DataLoader(Dataset(items, _inference_pipeline()), batch_size=2, num_workers=2, collate_fn=list_data_collate)
    results = []
    for batch in loader:
        batch["pred"] = _model(batch["image"])
        results += [post(sample) for sample in decollate_batch(batch)]
    assert len(results) == len(expected)
    for got, want in zip(results, expected):
        assert torch.equal(got["pred"].as_tensor(), want["pred"].as_tensor())
        np.testing.assert_array_equal(got["pred"].affine.numpy(), want["pred"].affine.numpy())
        np.testing.assert_array_equal(np.asarray(got["kp"]), np.asarray(want["kp"]))
        assert get_native_space(got["image"]) == get_native_space(want["image"])


# ----------------------------------------------------------------------------- 5. lazy
def test_lazy_compose_gives_the_eager_result(nifti_case):
    def build(lazy: bool) -> Compose:
        return Compose(
            [
                Orientationd(["image", "label"], axcodes="LPS"),
                SpatialPadd(["image", "label"], spatial_size=(48, 40, 26)),
                SpaceCropd(["image", "label"], roi_start=(2, 3, 1), roi_end=(44, 37, 24)),
                Orientationd(["image", "label"], axcodes="RAS"),
                SpaceResampled(["image", "label"], pixdim=(0.8, 0.9, 1.8), mode=("linear", "nearest")),
            ],
            lazy=lazy,
        )

    eager = build(False)(_load(nifti_case))
    lazy = build(True)(_load(nifti_case))
    # lazy: MONAI's orientation/pad, our crop, the reorientation and our resample are one warp from
    # the data's grid (issue 12): labels exactly as eager; images to float round-off except where
    # eager interpolated across the zeros SpatialPadd added (within a voxel of the data's edge)
    assert torch.equal(eager["label"].as_tensor(), lazy["label"].as_tensor())
    native = nifti_case["native"]
    expected = oracles.nearest(nifti_case["lab"], native.affine, lazy["label"].affine, lazy["label"].shape[1:])
    assert oracles.wrong(lazy["label"][0], expected) == 0  # the brute-force nearest sample of the native label
    data = _load(nifti_case)["image"]
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in lazy["image"].shape[1:]], indexing="ij"), -1).reshape(-1, 3)
    at = mst.map_points(grid.astype(float), Space.from_metatensor(lazy["image"]), Space.from_metatensor(data))
    inner = np.all((at >= 1) & (at <= np.array(data.shape[1:]) - 2), axis=1).reshape(lazy["image"].shape[1:])
    assert inner.mean() > 0.5
    torch.testing.assert_close(lazy["image"][0][inner], eager["image"][0][inner])  # float32 round-off
    for key in ("image", "label"):
        np.testing.assert_array_equal(eager[key].affine.numpy(), lazy[key].affine.numpy())
    back = SpaceInvertd("label", mode="nearest")(lazy)
    assert wrong_voxels(back["label"], nifti_case["lab"]) == 0


# ----------------------------------------------------------------------------- 6. bundle config
def test_bundle_config_builds_and_runs(nifti_case, tmp_path):
    from monai.bundle import ConfigParser

    config = {
        "preprocessing": {
            "_target_": "Compose",
            "transforms": [
                {"_target_": "LoadImaged", "keys": ["image"], "ensure_channel_first": True, "image_only": True},
                {"_target_": "monai_spacetx.SpaceCropd", "keys": ["image"], "roi_start": [4, 4, 2], "roi_end": [36, 32, 20]},
                {"_target_": "monai_spacetx.SpaceResampled", "keys": ["image"], "pixdim": [0.7, 0.7, 1.5], "mode": "linear"},
            ],
        },
        "postprocessing": {
            "_target_": "monai_spacetx.SpaceInvertd",
            "keys": ["pred"],
            "orig_keys": ["image"],
            "mode": "nearest",
        },
    }
    path = tmp_path / "inference.json"
    path.write_text(json.dumps(config))
    parser = ConfigParser()
    parser.read_config(str(path))
    data = parser.get_parsed_content("preprocessing")({"image": nifti_case["image"]})
    native = nifti_case["native"]
    working = data["image"]
    # the config's crop and 0.7 x 0.7 x 1.5 mm grid, planned by hand: index box [4, 36) x [4, 32) x [2, 20),
    # then MONAI Spacing's rule (pixdim is Spacingd's argument): voxel 0's centre stays, round((n - 1) s / s' + 1) voxels
    assert tuple(working.shape[1:]) == (41, 43, 29)  # round(31 * 0.9 / 0.7 + 1), round(27 * 1.1 / 0.7 + 1), round(17 * 2.5 / 1.5 + 1)
    expected_affine = native.affine @ np.diag([1.0, 1.0, 1.0, 1.0])
    expected_affine[:3, 3] = (native.affine @ np.array([4.0, 4.0, 2.0, 1.0]))[:3]
    expected_affine[:3, :3] = native.affine[:3, :3] * (np.array([0.7, 0.7, 1.5]) / np.array([0.9, 1.1, 2.5]))
    np.testing.assert_allclose(working.affine.numpy(), expected_affine, rtol=0, atol=1e-4)
    # the pipeline's image: the brute-force linear sample of the cropped scan on that grid (border: the crop's edge repeats)
    crop = nib.load(nifti_case["image"]).get_fdata()[4:36, 4:32, 2:20]
    crop_affine = native.affine.copy()
    crop_affine[:3, 3] = (native.affine @ np.array([4.0, 4.0, 2.0, 1.0]))[:3]
    expected_image = oracles.interpolate(crop, crop_affine, working.affine, working.shape[1:], 1, "border")
    np.testing.assert_allclose(working[0].numpy(), expected_image, rtol=0, atol=8 * np.finfo(np.float32).eps * np.abs(crop).max())
    data["pred"] = _model(data["image"])
    out = parser.get_parsed_content("postprocessing")(data)
    assert out["pred"].shape[1:] == NATIVE_SHAPE
    expected = oracles.nearest(data["pred"][0].numpy(), working.affine, native.affine, NATIVE_SHAPE)
    assert oracles.wrong(out["pred"][0], expected) == 0


# ----------------------------------------------------------------------------- 7. SaveImaged
def test_saved_prediction_overlays_the_original_file(nifti_case, tmp_path):
    from monai.transforms import SaveImaged

    data = _inference_pipeline()({"image": nifti_case["image"], "label": nifti_case["label"], "kp": np.zeros((1, 3))})
    data["pred"] = _model(data["image"])
    data = SpaceInvertd("pred", orig_keys="image", mode="nearest")(data)
    SaveImaged("pred", output_dir=str(tmp_path), output_postfix="seg", separate_folder=False, resample=False)(data)
    saved = nib.load(str(tmp_path / "image_seg.nii.gz"))
    original = nib.load(nifti_case["image"])
    assert saved.shape == original.shape
    np.testing.assert_allclose(saved.affine, original.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(saved.dataobj), data["pred"][0].numpy())  # the values written are the mapped-back ones


# ----------------------------------------------------------------------------- 8. CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_stay_on_cuda():
    cpu = MetaTensor(torch.rand(1, 20, 18, 10, generator=torch.Generator().manual_seed(0)))
    results = {}
    for device in ("cpu", "cuda"):
        data = {"x": MetaTensor(cpu.as_tensor().to(device))}
        data = SpaceResampled("x", spatial_size=(30, 27, 15))(SpaceCropd("x", roi_start=(1, 1, 1), roi_end=(19, 17, 9))(data))
        assert data["x"].device.type == device
        data["pred"] = (data["x"] > 0.5).to(torch.uint8)
        back = SpaceInvertd("pred", orig_keys="x", mode="label")(data)
        assert back["pred"].device.type == device
        results[device] = (data["x"], data["pred"], back["pred"])
    (x_cpu, pred_cpu, back_cpu), (x_gpu, pred_gpu, back_gpu) = results["cpu"], results["cuda"]
    # values: the brute-force linear sample of the input, on either device; the label map back by its definition
    working = x_cpu.affine.numpy()
    expected = oracles.interpolate(cpu[0].numpy(), np.eye(4), working, (30, 27, 15), 1, "border")
    np.testing.assert_allclose(x_gpu[0].cpu().numpy(), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(x_cpu[0].numpy(), expected, rtol=0, atol=1e-5)
    assert torch.equal(pred_gpu.cpu(), pred_cpu) and torch.equal(back_gpu.cpu(), back_cpu)
    assert oracles.label_vote_violations(back_gpu[0].cpu().numpy(), pred_cpu[0].numpy(), working, np.eye(4), (20, 18, 10), "zeros", 0) == 0


# ----------------------------------------------------------------------------- 9. bad input
def test_bad_input_messages():
    x = MetaTensor(torch.rand(1, 10, 12))
    with pytest.raises(mst.ModeError, match="mode for key 'x' must be one of .*got 'lanczos'"):
        SpaceResampled("x", spatial_size=(5, 6), mode="lanczos")
    with pytest.raises(mst.SpaceTypeError, match=r"SpaceResampled takes its grid by name .* use SpaceSpacingd \(Spacingd\), SpaceResized"):
        SpaceResampled("x", (-1, 16, 17))
    with pytest.raises(mst.SpaceError, match="exactly one of pixdim, spatial_size, zoom, ref_key"):
        SpaceResampled("x")
    empty = SpaceCropd("x", roi_start=(5, 5), roi_end=(5, 9))({"x": x})["x"]  # an empty crop, as MONAI's
    assert tuple(empty.shape) == tuple(SpatialCropd("x", roi_start=(5, 5), roi_end=(5, 9))({"x": x})["x"].shape) == (1, 0, 4)
    with pytest.raises(mst.EmptyBoxError, match="empty.*not executed lazily"):
        SpaceCropd("x", roi_start=(5, 5), roi_end=(5, 9), lazy=True)({"x": x})
    with pytest.raises(mst.SpaceError, match="needs a box"):
        SpaceCropd("x")
    with pytest.raises(KeyError, match="missing"):
        SpaceCropd("y", roi_start=(0, 0), roi_end=(4, 4))({"x": x})
    with pytest.raises(mst.MetadataError, match="point key 'kp' is not in the data"):
        SpaceCropd("x", roi_start=(0, 0), roi_end=(4, 4), point_keys="kp")({"x": x})
    with pytest.raises(mst.PointsError, match="point key 'kp'.*D=2"):
        SpaceCropd("x", roi_start=(0, 0), roi_end=(4, 4), point_keys="kp")({"x": x, "kp": np.zeros((3, 3))})
    with pytest.raises(mst.ModeError, match="point_coords must be 'index' or 'world'"):
        SpaceCropd("x", roi_start=(0, 0), roi_end=(4, 4), point_coords="voxel")
    with pytest.raises(mst.MetadataError, match="orig_keys: key 'pred' takes its geometry from 'pred', which holds a plain Tensor"):
        SpaceInvertd("pred")({"pred": torch.zeros(1, 10, 12)})
    with pytest.raises(mst.MetadataError, match="orig_key 'img' is not in the data"):
        SpaceInvertd("pred", orig_keys="img")({"pred": torch.zeros(1, 10, 12)})
    worked = SpaceResampled("x", spatial_size=(20, 24))({"x": x})
    with pytest.raises(mst.ShapeMismatchError, match="key 'pred' \\(geometry from 'x'\\).*\\(1, 10, 12\\)"):
        SpaceInvertd("pred", orig_keys="x")({"x": worked["x"], "pred": torch.zeros(1, 10, 12)})
    resized = Resized("x", spatial_size=(20, 24))({"x": MetaTensor(torch.rand(1, 10, 12))})["x"]
    resized.meta.pop("spacetx_native", None)
    with pytest.raises(mst.MetadataError, match="key 'x': cannot tell the native geometry"):
        SpaceInvertd("pred", orig_keys="x")({"x": resized, "pred": torch.zeros(1, 20, 24)})
    with pytest.raises(mst.ShapeMismatchError, match="channel-first"):
        SpaceCropd("x", roi_start=(0,), roi_end=(4,))({"x": torch.zeros(10)})


def test_inputs_are_not_mutated_and_numpy_works():
    image = np.random.default_rng(1).random((1, 9, 11)).astype(np.float32)
    data = {"x": image, "kp": np.array([[2.0, 3.0]])}
    copy = {k: v.copy() for k, v in data.items()}
    out = SpaceResampled("x", spatial_size=(18, 22), point_keys="kp")(SpaceCropd("x", roi_start=(1, 1), roi_end=(8, 10), point_keys="kp")(data))
    for key in data:
        np.testing.assert_array_equal(data[key], copy[key])
    assert isinstance(out["x"], MetaTensor) and out["x"].shape == (1, 18, 22)
    assert get_native_space(out["x"]) == Space((9, 11))


# ----------------------------------------------------------------------------- MONAI-dialect bad input (issue 10)
def test_transform_bad_inputs_name_the_argument_the_key_and_the_value():
    volume = {"x": MetaTensor(torch.rand(1, 10, 12, 8))}
    with pytest.raises(mst.SpaceError, match=r"roi_start and roi_end must have the same number of entries .* got \(1, 2\) and \(5, 6, 7\)"):
        SpaceCropd("x", roi_start=(1, 2), roi_end=(5, 6, 7))  # at construction, as MONAI's ValueError
    with pytest.raises(mst.SpaceError, match=r"spatial_size for key 'x' must have 3 entries .* got \(5, 6\)"):
        SpaceResampled("x", spatial_size=(5, 6))(volume)
    # a volume without its channel axis reads as a 2-D image with 10 channels: the message says so
    with pytest.raises(mst.SpaceError, match=r"spatial_size for key 'x' must have 2 entries .*channel axis missing"):
        SpaceResampled("x", spatial_size=(5, 6, 4))({"x": torch.rand(10, 12, 8)})
    with pytest.raises(mst.ShapeMismatchError, match=r"image \(key 'x'\) must be channel-first .* got shape \(10, 12\)"):
        SpaceResampled("x", spatial_size=(5, 6))({"x": torch.rand(10, 12)})
    with pytest.raises(mst.ModeError, match=r"mode has 3 entries for 2 keys \['x', 'y'\]"):
        SpaceResampled(["x", "y"], spatial_size=(5, 6, 4), mode=("nearest", "bilinear", "nearest"))
    with pytest.raises(mst.ModeError, match=r"padding_mode for key 'y' must be one of .* got 'wrap'"):
        SpaceResampled(["x", "y"], pixdim=1.0, padding_mode=("border", "wrap"))
    with pytest.raises(mst.SpaceTypeError, match=r"pixdim must be numbers, got \(1, 2, 'a'\)"):
        SpaceResampled("x", pixdim=(1, 2, "a"))
    with pytest.raises(mst.ModeError, match=r"dtype for key 'x' must be a floating dtype"):
        SpaceResampled("x", pixdim=1.0, dtype=np.int32)
    with pytest.raises(mst.ModeError, match="diagonal=True goes with pixdim"):
        SpaceResampled("x", spatial_size=(5, 6, 4), diagonal=True)
    with pytest.raises(mst.ModeError, match=r"anti_aliasing for key 'x' must be True or False, got 'yes'"):
        SpaceResampled("x", spatial_size=(5, 6, 4), anti_aliasing="yes")
    with pytest.raises(mst.ModeError, match=r"anti_aliasing_sigma for key 'x' must be a non-negative number or one per axis, got -1"):
        SpaceResampled("x", spatial_size=(5, 6, 4), anti_aliasing=True, anti_aliasing_sigma=-1)
    with pytest.raises(mst.SpaceError, match=r"roi_slices must have step 1"):
        SpaceCropd("x", roi_slices=[slice(0, 4, 2), slice(0, 4), slice(0, 4)])
    with pytest.raises(mst.ModeError, match=r"pad keyword arguments for key 'x' must be among .* got \['stat_lenght'\]"):
        SpaceCropForegroundd("x", "x", stat_lenght=2)
    with pytest.raises(mst.ModeError, match=r"^mode for key 'x' must be a pad mode, one of .* got 'mirror'"):
        SpaceCropForegroundd("x", "x", mode="mirror")
    worked = SpaceResampled("x", spatial_size=(5, 6, 4))(volume)["x"]
    worked.meta["spacetx_native"] = "{not json"
    with pytest.raises(mst.MetadataError, match=r"key 'x': meta\['spacetx_native'\] is not a valid Space \(corrupt metadata\?\)"):
        SpaceInvertd("p", orig_keys="x")({"x": worked, "p": torch.zeros(1, 5, 6, 4)})
    with pytest.raises(mst.MetadataError, match=r"orig_keys: key 'p' takes its geometry from 'x', which holds a plain Tensor"):
        SpaceInvertd("p", orig_keys="x")({"x": torch.zeros(1, 5, 6, 4), "p": torch.zeros(1, 5, 6, 4)})


def test_plain_tensor_reference_with_a_legacy_meta_dict_works():
    native = Space((10, 12), spacing=(0.5, 2.0), origin=(3.0, -4.0))
    working = native.resize((20, 24))
    data = {
        "x": torch.zeros(1, 20, 24),
        "x_meta_dict": {"affine": torch.from_numpy(working.to_monai_affine()), "spacetx_native": native.to_json()},
        "p": torch.ones(1, 20, 24, dtype=torch.uint8),
        "p_meta_dict": {},
    }
    out = SpaceInvertd("p", orig_keys="x")(data)
    assert out["p"].shape == (1, 10, 12) and bool((out["p"] == 1).all())
    np.testing.assert_array_equal(out["p"].affine.numpy(), native.to_monai_affine())
    assert out["p_meta_dict"]["spacetx_space"] == native.to_json()  # Invertd's meta_key_postfix dict is updated


# ----------------------------------------------------------------------------- 2-D slices keep MONAI's 4x4 affine
def test_2d_slice_keeps_its_slice_position_through_crop_resample_and_invert():
    affine = np.array([[0.8, 0.0, 0.0, -30.0], [0.0, 0.7, 0.0, 12.5], [0.0, 0.0, 2.5, 57.5], [0.0, 0.0, 0.0, 1.0]])
    label = np.zeros((40, 36), np.uint8)
    label[10:25, 8:30] = 1
    image = MetaTensor(torch.from_numpy(label)[None], affine=torch.from_numpy(affine))
    forward = Compose(
        [
            SpaceCropd("image", roi_start=(4, 2), roi_end=(36, 34)),
            SpaceResampled("image", pixdim=(0.4, 0.35), mode="nearest"),
        ]
    )
    out = forward({"image": image})
    assert out["image"].affine[2, 2].item() == 2.5 and out["image"].affine[2, 3].item() == 57.5
    out["pred"] = out["image"].as_tensor().clone()
    back = SpaceInvertd("pred", orig_keys="image", mode="nearest")(out)
    np.testing.assert_array_equal(back["pred"].affine.numpy(), affine)  # z = 57.5 mm in, z = 57.5 mm out
    inside = np.zeros_like(label, bool)
    inside[4:36, 2:34] = True
    assert wrong_voxels(back["pred"][0].numpy()[inside], label[inside]) == 0
    # MONAI's own Invertd on our records also lands on the native 4x4
    theirs = Invertd("pred", transform=forward, orig_keys="image")({**out, "pred": out["image"].clone()})
    np.testing.assert_allclose(theirs["pred"].affine.numpy(), affine, atol=1e-9)
