"""The training pipelines MONAI users run, with every spatial ``_target_`` swapped to ours.

Transcribed (sizes scaled down to a small synthetic CT written to NIfTI) from MONAI's tutorials:

- **spleen** (``3d_segmentation/spleen_segmentation_3d``, the Model Zoo ``spleen_ct_segmentation``
  ``train.json``): ``LoadImaged → EnsureChannelFirstd → ScaleIntensityRanged → CropForegroundd →
  Orientationd → Spacingd → RandCropByPosNegLabeld(num_samples=4)``, here with the issue's
  ``RandAffined`` augmentation after it and our sink;
- **BTCV** (``3d_segmentation/unetr_btcv_segmentation_3d``): ``LoadImaged → EnsureChannelFirstd →
  Orientationd → Spacingd → ScaleIntensityRanged → CropForegroundd → RandCropByPosNegLabeld(4) →
  RandFlipd ×3 → RandRotate90d → RandShiftIntensityd``; ``SpaceApplyPendingd`` goes before
  ``RandShiftIntensityd`` (a transform that is not lazy makes MONAI execute what is pending with
  its own resampler).

Checked under ``Compose(lazy=True)`` and eagerly, against oracles computed here from the raw
arrays and affines (``oracles.py``) and MONAI's own transforms: MONAI's resampler is never
called (counted), labels keep their dtype and classes, every sample's image and label are one
resample per segment from the data, the crops choose MONAI's centres, each sample maps back
exactly (``SpaceInvertd``) and onto the native grid (MONAI's ``Invertd``), and the pipelines run
from a ``CacheDataset`` through a ``DataLoader`` with worker processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import CacheDataset, DataLoader, MetaTensor
from monai.transforms import (
    Compose,
    CropForegroundd,
    EnsureChannelFirstd,
    Flipd,
    Invertd,
    Lambdad,
    LoadImaged,
    Orientationd,
    RandAffined,
    RandCropByLabelClassesd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandRotate90d,
    RandShiftIntensityd,
    RandWeightedCropd,
    Rotated,
    ScaleIntensityRanged,
    Spacingd,
)

sys.path.insert(0, str(Path(__file__).parent))
import oracles  # noqa: E402

from monai_spacetx import (  # noqa: E402
    Space,
    SpaceApplyPendingd,
    SpaceCropd,
    SpaceCropForegroundd,
    SpaceInvertd,
    SpaceRandCropByLabelClasses,
    SpaceRandCropByLabelClassesd,
    SpaceRandCropByPosNegLabel,
    SpaceRandCropByPosNegLabeld,
    SpaceRandWeightedCrop,
    SpaceRandWeightedCropd,
    SpaceResampled,
    SpaceSpacingd,
    get_space,
)
from monai_spacetx.compare import working_grid_mask  # noqa: E402

KEYS = ["image", "label"]
#: LoadImaged's default dtype (MONAI reads the label as float32 too); the pipeline must keep it
LOADED = torch.float32
CLASSES = (0, 1, 2, 5)
SIZE = (20, 20, 16)


def _scan(tmp_path: Path, seed: int = 0) -> dict[str, str]:
    """A CT-like scan (LPS-ish oblique axes, 1.6 x 1.6 x 2.5 mm) and a uint8 label with classes {0, 1, 2, 5}, as NIfTI."""
    rng = np.random.default_rng(seed)
    shape = (40, 36, 22)
    angle = 0.2
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = np.diag([-1, -1, 1]) @ rot @ np.diag([1.6, 1.6, 2.5])
    affine[:3, 3] = [30.0, 25.0, -40.0]
    grid = np.indices(shape).astype(np.float64)
    body = ((grid[0] - 20) / 16) ** 2 + ((grid[1] - 18) / 14) ** 2 + ((grid[2] - 11) / 12) ** 2 < 1
    image = np.where(body, 40 + 60 * np.sin(grid[0] / 3) * np.cos(grid[1] / 4) + 8 * grid[2], -1000) + rng.normal(0, 2, shape)
    label = np.zeros(shape, np.uint8)
    label[(((grid[0] - 14) / 5) ** 2 + ((grid[1] - 12) / 6) ** 2 + ((grid[2] - 9) / 5) ** 2) < 1] = 1
    label[(((grid[0] - 27) / 4) ** 2 + ((grid[1] - 22) / 5) ** 2 + ((grid[2] - 13) / 4) ** 2) < 1] = 2
    label[(((grid[0] - 22) / 3) ** 2 + ((grid[1] - 28) / 3) ** 2 + ((grid[2] - 6) / 3) ** 2) < 1] = 5
    paths = {"image": str(tmp_path / f"ct{seed}.nii.gz"), "label": str(tmp_path / f"seg{seed}.nii.gz")}
    nib.save(nib.Nifti1Image(image.astype(np.float32), affine), paths["image"])
    nib.save(nib.Nifti1Image(label, affine), paths["label"])
    return paths


def _scaled(raw: np.ndarray, a_min: float, a_max: float) -> np.ndarray:
    """MONAI's ScaleIntensityRanged(b_min=0, b_max=1, clip=True), by hand."""
    return np.clip((raw - a_min) / (a_max - a_min), 0.0, 1.0)


def spleen(lazy: bool, augment: bool = True) -> Compose:
    steps = [
        LoadImaged(KEYS, image_only=True),
        EnsureChannelFirstd(KEYS),
        ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
        SpaceCropForegroundd(KEYS, source_key="image"),
        Orientationd(KEYS, axcodes="RAS"),
        SpaceSpacingd(KEYS, pixdim=(1.1, 1.3, 1.9), mode=("bilinear", "nearest")),
        SpaceRandCropByPosNegLabeld(KEYS, label_key="label", spatial_size=SIZE, pos=1, neg=1, num_samples=4, image_key="image", image_threshold=0),
    ]
    if augment:
        steps += [
            RandAffined(KEYS, prob=1.0, rotate_range=(0.3, 0.3, 0.3), scale_range=(0.1, 0.1, 0.1), mode=("bilinear", "nearest"), padding_mode="zeros"),
            SpaceApplyPendingd(KEYS),
        ]
    return Compose(steps, lazy=lazy)


def btcv(lazy: bool) -> Compose:
    return Compose(
        [
            LoadImaged(KEYS, image_only=True),
            EnsureChannelFirstd(KEYS),
            Orientationd(KEYS, axcodes="RAS"),
            SpaceSpacingd(KEYS, pixdim=(1.1, 1.3, 1.9), mode=("bilinear", "nearest")),
            ScaleIntensityRanged("image", a_min=-175, a_max=250, b_min=0.0, b_max=1.0, clip=True),
            SpaceCropForegroundd(KEYS, source_key="image"),
            SpaceRandCropByPosNegLabeld(KEYS, label_key="label", spatial_size=SIZE, pos=1, neg=1, num_samples=4, image_key="image", image_threshold=0),
            RandFlipd(KEYS, spatial_axis=[0], prob=0.5),
            RandFlipd(KEYS, spatial_axis=[1], prob=0.5),
            RandFlipd(KEYS, spatial_axis=[2], prob=0.5),
            RandRotate90d(KEYS, prob=0.5, max_k=3),
            SpaceApplyPendingd(KEYS),
            RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        ],
        lazy=lazy,
    )


def _raw(paths: dict[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    img = nib.load(paths["image"])
    return np.asarray(img.dataobj, dtype=np.float64), np.asarray(nib.load(paths["label"]).dataobj), img.affine


def _affine(x: MetaTensor) -> np.ndarray:
    return oracles.affine_of(x, 3)


def _segment(values: np.ndarray, label: np.ndarray, affine: np.ndarray, target: np.ndarray, shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One resample by the oracles: the label by nearest (0 outside), the image trilinear (NaN where a tap leaves the data)."""
    x = oracles.source_coordinates(affine, target, shape)
    interior = np.all((x >= 0) & (x <= np.array(values.shape)[:, None] - 1), axis=0).reshape(shape)
    image = oracles.interpolate(values, affine, target, shape, order=1)
    return np.where(interior, image, np.nan), oracles.nearest(label, affine, target, shape)


def _check_against_raw(
    sample: dict, raw: np.ndarray, label: np.ndarray, affine: np.ndarray, a_min: float, a_max: float, segments: int = 1, scale_after: bool = False
) -> None:
    """One resample from the scan per segment: the label by nearest (exactly), the image trilinear inside the data.

    With ``segments=2`` the first ends at the crop that read the data (its grid from the crop's record);
    ``scale_after``: the intensities were scaled after the resample (the clip does not commute with it)."""
    target, shape = _affine(sample["image"]), tuple(sample["image"].shape[1:])
    assert sample["label"].dtype == LOADED
    assert set(torch.unique(sample["label"]).tolist()) <= set(CLASSES)
    image, labels, grid = (raw if scale_after else _scaled(raw, a_min, a_max)), label, affine
    if segments == 2:
        crop = next(op for op in sample["label"].applied_operations if op["class"] == "SpaceRandCropByPosNegLabel")
        cut = Space.from_json(crop["extra_info"]["target"])
        cut_affine = oracles.affine_of(torch.as_tensor(cut.to_monai_affine()), 3)
        image, labels = _segment(image, labels, grid, cut_affine, cut.shape)
        grid = cut_affine
    expected_image, expected_label = _segment(image, labels, grid, target, shape)
    if scale_after:
        expected_image = _scaled(expected_image, a_min, a_max)
    assert oracles.wrong(sample["label"][0], expected_label) == 0
    known = np.isfinite(expected_image)
    assert known.sum() > 0.3 * known.size
    np.testing.assert_allclose(sample["image"][0].numpy()[known], expected_image[known], atol=2e-5)


@pytest.mark.parametrize("augment", [False, True], ids=["crops", "crops+RandAffined"])
def test_spleen_lazy_is_one_resample_per_key_and_never_monai(tmp_path, warp_calls, augment):
    paths = _scan(tmp_path)
    raw, label, affine = _raw(paths)
    pipeline = spleen(lazy=True, augment=augment)
    pipeline.set_random_state(7)
    samples = pipeline(dict(paths))
    assert warp_calls["monai"] == 0
    assert len(samples) == 4
    for sample in samples:
        # ScaleIntensityRanged ran on the loaded data; CropForegroundd is a copy: one resample from the scan to
        # the crop that reads the data, one from there (RandAffined, executed by our sink)
        _check_against_raw(sample, raw, label, affine, -57, 164, segments=2 if augment else 1)
        assert sample["image"].dtype == torch.float32 and sample["image"].shape[1:] == SIZE


def test_btcv_lazy_and_eager_keep_labels_and_monai_centres(tmp_path, warp_calls):
    paths = _scan(tmp_path, seed=1)
    raw, label, affine = _raw(paths)
    outputs = {}
    for lazy in (True, False):
        pipeline = btcv(lazy)
        pipeline.set_random_state(11)
        outputs[lazy] = pipeline(dict(paths))
    assert warp_calls["monai"] == 0
    for lazy_sample, eager_sample in zip(outputs[True], outputs[False]):
        assert lazy_sample["label"].meta["crop_center"] == eager_sample["label"].meta["crop_center"]
        np.testing.assert_allclose(_affine(lazy_sample["image"]), _affine(eager_sample["image"]), atol=1e-9)
        for sample in (lazy_sample, eager_sample):
            target, shape = _affine(sample["label"]), tuple(sample["label"].shape[1:])
            assert sample["label"].dtype == LOADED
            assert oracles.wrong(sample["label"][0], oracles.nearest(label, affine, target, shape)) == 0


def _as_monai(pipeline: Compose) -> Compose:
    """The same pipeline with MONAI's own transforms for ours (our sink dropped): the reference for the draws."""
    swap = {SpaceCropForegroundd: CropForegroundd, SpaceSpacingd: Spacingd, SpaceRandCropByPosNegLabeld: RandCropByPosNegLabeld}
    steps = []
    for t in pipeline.transforms:
        if isinstance(t, SpaceApplyPendingd):
            continue
        cls = swap.get(type(t))
        if cls is SpaceCropForegroundd or cls is CropForegroundd:
            steps.append(CropForegroundd(KEYS, source_key="image", allow_smaller=False))
        elif cls is Spacingd:
            steps.append(Spacingd(KEYS, pixdim=(1.1, 1.3, 1.9), mode=("bilinear", "nearest")))
        elif cls is RandCropByPosNegLabeld:
            steps.append(RandCropByPosNegLabeld(KEYS, "label", SIZE, 1, 1, 4, "image", 0))
        else:
            steps.append(t)
    return Compose(steps)


def test_eager_spleen_chooses_monai_boxes(tmp_path):
    """Eagerly (MONAI's transforms execute as they go) ours and MONAI's pipelines cut the same boxes from the same data."""
    paths = _scan(tmp_path, seed=2)
    ours, theirs = spleen(lazy=False, augment=False), _as_monai(spleen(lazy=False, augment=False))
    ours.set_random_state(5)
    theirs.set_random_state(5)
    for a, b in zip(ours(dict(paths)), theirs(dict(paths))):
        assert a["label"].meta["crop_center"] == b["label"].meta["crop_center"]
        assert a["image"].shape == b["image"].shape


@pytest.mark.parametrize("pipeline", ["spleen", "btcv"])
def test_every_sample_maps_back(tmp_path, pipeline):
    """SpaceInvertd: 0 wrong voxels inside each sample (the working grid is finer than the scan); MONAI's
    Invertd: each sample back on the native grid (shape and affine of the file)."""
    paths = _scan(tmp_path, seed=3)
    _, label, affine = _raw(paths)
    chain = spleen(lazy=True, augment=False) if pipeline == "spleen" else btcv(lazy=True)
    chain.set_random_state(3)
    native = Space.from_affine(affine, label.shape)
    for sample in chain(dict(paths)):
        sample["pred"] = sample["label"].clone()
        back = SpaceInvertd(keys="pred", orig_keys="label", mode="nearest")(dict(sample))["pred"]
        assert tuple(back.shape[1:]) == label.shape
        inside = working_grid_mask(native, get_space(sample["label"]))
        assert inside.sum() > 0 and oracles.wrong(back[0].numpy()[inside], label[inside]) == 0
        inverted = Invertd(keys="pred", transform=chain, orig_keys="label", nearest_interp=True)(dict(sample))["pred"]
        assert tuple(inverted.shape[1:]) == label.shape
        np.testing.assert_allclose(_affine(inverted), affine, atol=1e-4)


def test_cache_dataset_and_worker_processes(tmp_path):
    files = [_scan(tmp_path, seed=s) for s in (4, 5)]
    dataset = CacheDataset(files, btcv(lazy=True), progress=False)
    loader = DataLoader(dataset, batch_size=2, num_workers=2)
    batches = list(loader)
    assert len(batches) == 1 and batches[0]["label"].shape[0] == 8  # 2 scans x 4 samples, collated
    assert batches[0]["label"].dtype == LOADED
    assert set(torch.unique(batches[0]["label"]).tolist()) <= set(CLASSES)


# ---- the crops themselves, side by side with MONAI's on the same data -----------------------------


def _sample(seed: int) -> dict[str, MetaTensor]:
    rng = np.random.default_rng(seed)
    affine = torch.as_tensor(np.diag([0.9, 1.3, 2.0, 1.0]))
    label = torch.zeros((1, 30, 26, 18), dtype=torch.uint8)
    label[0, 4:12, 6:15, 3:9] = 1
    label[0, 18:25, 14:22, 10:16] = 2
    weight = torch.as_tensor(rng.random((1, 30, 26, 18)), dtype=torch.float32)
    return {
        "image": MetaTensor(torch.as_tensor(rng.normal(size=(1, 30, 26, 18)), dtype=torch.float32), affine=affine),
        "label": MetaTensor(label, affine=affine),
        "weight": MetaTensor(weight, affine=affine),
    }


CROPS = {
    "pos_neg": (
        lambda cls: cls(KEYS, "label", (10, 12, 8), pos=1, neg=2, num_samples=3, image_key="image", image_threshold=-0.5),
        RandCropByPosNegLabeld,
        SpaceRandCropByPosNegLabeld,
    ),
    "label_classes": (
        lambda cls: cls(KEYS, "label", (10, 12, 8), ratios=[1, 2, 3], num_classes=3, num_samples=4),
        RandCropByLabelClassesd,
        SpaceRandCropByLabelClassesd,
    ),
    "weighted": (lambda cls: cls(KEYS, "weight", (10, 12, 8), num_samples=3), RandWeightedCropd, SpaceRandWeightedCropd),
}


@pytest.mark.parametrize("name", sorted(CROPS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crops_equal_monai_on_the_same_data(name, seed):
    make, monai_cls, our_cls = CROPS[name]
    theirs, ours = make(monai_cls), make(our_cls)
    theirs.set_random_state(seed)
    ours.set_random_state(seed)
    expected, got = theirs(_sample(seed)), ours(_sample(seed))
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        for key in KEYS:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape
            assert torch.equal(a[key].as_tensor(), b[key].as_tensor())
            np.testing.assert_allclose(_affine(a[key]), _affine(b[key]), atol=1e-12)
            np.testing.assert_array_equal(np.asarray(a[key].meta["crop_center"]), np.asarray(b[key].meta["crop_center"]))
            assert a[key].meta["patch_index"] == b[key].meta["patch_index"]


@pytest.mark.parametrize("name", sorted(CROPS))
def test_crops_read_pending_data_with_our_engine(name, warp_calls):
    """After a pending rotation and flip: the label is read by nearest (uint8, its classes), MONAI's
    resampler never runs, and each sample is the nearest / trilinear sample of the input on its grid."""
    make, _, our_cls = CROPS[name]
    data = _sample(4)
    keys, modes = KEYS + (["weight"] if name == "weighted" else []), ("bilinear", "nearest", "bilinear")
    chain = Compose([Rotated(keys, angle=(0.2, 0.0, 0.1), mode=modes[: len(keys)], padding_mode="zeros"),
                     Flipd(keys, spatial_axis=1), make(our_cls)], lazy=True)
    chain.set_random_state(0)
    samples = chain(data)
    assert warp_calls["monai"] == 0
    source = _affine(data["image"])
    for sample in samples:
        target, shape = _affine(sample["label"]), tuple(sample["label"].shape[1:])
        assert sample["label"].dtype == torch.uint8
        assert oracles.wrong(sample["label"][0], oracles.nearest(data["label"][0].numpy(), source, target, shape)) == 0
        x = oracles.source_coordinates(source, target, shape)
        interior = np.all((x >= 0) & (x <= np.array(shape_of(data))[:, None] - 1), axis=0).reshape(shape)
        expected = oracles.interpolate(data["image"][0].numpy().astype(np.float64), source, target, shape, order=1)
        np.testing.assert_allclose(sample["image"][0].numpy()[interior], expected[interior], atol=2e-5)


def shape_of(data: dict) -> tuple[int, ...]:
    return tuple(data["image"].shape[1:])


def test_array_forms_equal_monai():
    from monai.transforms import RandCropByLabelClasses, RandCropByPosNegLabel, RandWeightedCrop

    data = _sample(5)
    pairs = [
        (RandCropByPosNegLabel((8, 8, 6), data["label"], num_samples=3), SpaceRandCropByPosNegLabel((8, 8, 6), data["label"], num_samples=3), {}),
        (RandCropByLabelClasses((8, 8, 6), [1, 1, 1], data["label"], 3, 3), SpaceRandCropByLabelClasses((8, 8, 6), [1, 1, 1], data["label"], 3, 3), {}),
        (RandWeightedCrop((8, 8, 6), 3, data["weight"]), SpaceRandWeightedCrop((8, 8, 6), 3, data["weight"]), {}),
    ]
    for theirs, ours, kwargs in pairs:
        theirs.set_random_state(9)
        ours.set_random_state(9)
        for a, b in zip(ours(data["image"], **kwargs), theirs(data["image"], **kwargs)):
            assert torch.equal(a.as_tensor(), b.as_tensor())
            np.testing.assert_allclose(_affine(a), _affine(b), atol=1e-12)
        back = ours.inverse(a)
        assert back.shape == data["image"].shape
        start = [int(c) - s // 2 for c, s in zip(np.asarray(a.meta["crop_center"]).reshape(-1), (8, 8, 6))]
        inside = tuple(slice(max(s, 0), max(s, 0) + 8 if i < 2 else max(s, 0) + 6) for i, s in enumerate(start))
        assert torch.equal(back[(0, *inside)], data["image"][(0, *inside)].as_tensor())
        assert float(back.abs().sum()) == pytest.approx(float(a.abs().sum()), rel=1e-6)


def test_a_space_step_keeps_its_padding_through_a_copying_monai_step():
    """SpaceResampled(border) -> Flipd -> sink (or SpaceCropForegroundd): lazily as eagerly, beyond the scan too.

    The fused warp re-reads the resample's input; beyond it the resample's own padding (border,
    reflection) filled the grid the flip copied. Random oblique scans and spacings; 108 of these
    160 cases differed before the fix."""
    rng = np.random.default_rng(1)
    for _ in range(20):
        native = Space((9, 10, 10), spacing=rng.uniform(0.5, 2.5, 3)).rotate(rng.uniform(-0.5, 0.5, 3))
        image = MetaTensor(torch.rand(1, 9, 10, 10) + 0.5, affine=torch.as_tensor(native.to_monai_affine()))
        pixdim = tuple(rng.uniform(0.5, 3, 3))
        for padding in ("border", "reflection"):
            for diagonal in (False, True):
                for last in (SpaceApplyPendingd("img"), SpaceCropForegroundd("img", source_key="img")):
                    steps = [SpaceResampled("img", pixdim=pixdim, padding_mode=padding, diagonal=diagonal), Flipd("img", spatial_axis=2), last]
                    lazy = Compose(steps, lazy=True)({"img": image})["img"]
                    eager = Compose(steps)({"img": image})["img"]
                    assert lazy.shape == eager.shape
                    np.testing.assert_allclose(lazy.numpy(), eager.numpy(), atol=1e-5)


@pytest.mark.parametrize("lazy", [True, False], ids=["lazy", "eager"])
def test_monai_multi_sample_crop_between_our_steps(tmp_path, lazy):
    """MONAI's RandSpatialCropSamplesd between two Space steps: each sample keeps its own records;
    MONAI's Invertd / Compose.inverse (which skip MONAI's crop: it cannot invert) bring each sample back
    onto the native grid, and lazily each sample is one nearest resample of the scan that SpaceInvertd
    undoes exactly (the working grids are finer than the scan)."""
    from monai.transforms import RandSpatialCropSamplesd

    paths = _scan(tmp_path, seed=6)
    _, label, affine = _raw(paths)
    chain = Compose(
        [
            LoadImaged(KEYS, image_only=True),
            EnsureChannelFirstd(KEYS),
            Orientationd(KEYS, axcodes="RAS"),
            SpaceResampled(KEYS, pixdim=(1.1, 1.3, 1.9), mode=("bilinear", "nearest")),
            RandSpatialCropSamplesd(KEYS, roi_size=(20, 20, 14), num_samples=3, random_size=False),
            SpaceResampled(KEYS, pixdim=(1.0, 1.2, 1.7), mode=("bilinear", "nearest")),
            SpaceApplyPendingd(KEYS),
        ],
        lazy=lazy,
    )
    chain.set_random_state(1)
    native = Space.from_affine(affine, label.shape)
    for sample in chain(dict(paths)):
        sample["pred"] = sample["label"].clone()
        inverted = Invertd(keys="pred", transform=chain, orig_keys="label", nearest_interp=True)(dict(sample))["pred"]
        assert tuple(inverted.shape[1:]) == label.shape
        np.testing.assert_allclose(_affine(inverted), affine, atol=1e-4)
        back = chain.inverse(dict(sample))["label"]
        assert tuple(back.shape[1:]) == label.shape
        if lazy:
            target, shape = _affine(sample["label"]), tuple(sample["label"].shape[1:])
            assert oracles.wrong(sample["label"][0], oracles.nearest(label, affine, target, shape)) == 0
            mapped = SpaceInvertd(keys="pred", orig_keys="label", mode="nearest")(dict(sample))["pred"]
            inside = working_grid_mask(native, get_space(sample["label"]))
            assert inside.sum() > 0 and oracles.wrong(mapped[0].numpy()[inside], label[inside]) == 0


def test_engine_passes_per_key(monkeypatch):
    """Under Compose(lazy=True) a Space step's output is computed only if something reads it: consecutive
    Space steps, MONAI's lazy steps between them and the sink interpolate each key once; MONAI's own flush
    (a transform that is not lazy) reads the Space step's output, computed once, and then flips it."""
    import monai_spacetx.transforms.lazy as lazy_module
    from monai_spacetx.engine.plan import plan_warp

    passes: list[str] = []
    real = lazy_module.warp_image

    def counted(data, source, target, *args, **kwargs):
        passes.append("copy" if plan_warp(source, target).kind in ("identity", "index") else "interpolate")
        return real(data, source, target, *args, **kwargs)

    monkeypatch.setattr(lazy_module, "warp_image", counted)
    data = _sample(6)
    crop = lambda: SpaceCropd(KEYS, roi_start=(2, 3, 1), roi_end=(26, 22, 15))  # noqa: E731
    resample = lambda: SpaceResampled(KEYS, pixdim=(0.7, 1.1, 1.5), mode=("bilinear", "nearest"))  # noqa: E731
    rand_affine = lambda: RandAffined(KEYS, prob=1.0, rotate_range=(0.3, 0.2, 0.1), scale_range=0.1, mode=("bilinear", "nearest"))  # noqa: E731
    cases = {
        "crop -> resample": ([crop(), resample()], ["interpolate"] * 2),
        "resample -> crop": ([resample(), crop()], ["interpolate"] * 2),
        "crop -> resample -> sink": ([crop(), resample(), SpaceApplyPendingd(KEYS)], ["interpolate"] * 2),
        # a MONAI lazy step straight after a Space step takes the data only to wrap it: no pass of its own
        "resample -> Flipd -> sink": ([resample(), Flipd(KEYS, spatial_axis=0), SpaceApplyPendingd(KEYS)], ["interpolate"] * 2),
        # once something read the Space step's output (here a Lambdad that sums it), a flip after it copies those pixels
        "resample -> read -> Flipd -> sink": (
            [resample(), Lambdad(KEYS, lambda x: x if float(x.sum()) == float(x.sum()) else None), Flipd(KEYS, spatial_axis=0),
             SpaceApplyPendingd(KEYS)],
            ["interpolate", "copy"] * 2),
        "resample -> RandAffined -> sink": ([resample(), rand_affine(), SpaceApplyPendingd(KEYS)], ["interpolate"] * 2),
        "crop -> resample -> RandAffined -> sink": ([crop(), resample(), rand_affine(), SpaceApplyPendingd(KEYS)], ["interpolate"] * 2),
        "resample -> Rotated -> Flipd -> sink": (
            [resample(), Rotated(KEYS, angle=0.3, mode=("bilinear", "nearest")), Flipd(KEYS, spatial_axis=1), SpaceApplyPendingd(KEYS)],
            ["interpolate"] * 2),
        # MONAI's own flush (a non-lazy transform follows) reads the deferred output: computed first, then MONAI's copy
        "resample -> Flipd -> RandShiftIntensityd": (
            [resample(), Flipd(KEYS, spatial_axis=2), RandShiftIntensityd("image", offsets=0.0, prob=1.0)], ["interpolate"] * 2),
    }
    for name, (steps, expected) in cases.items():
        passes.clear()
        pipeline = Compose(steps, lazy=True)
        pipeline.set_random_state(5)
        out = pipeline({k: data[k] for k in KEYS})
        for key in KEYS:
            out[key].as_tensor()  # read: a deferred output is computed now
        assert sorted(passes) == sorted(expected), name
        # the label is the one nearest resample of the input (values: tests/chains.py and test_records.py)
        target, shape = _affine(out["label"]), tuple(out["label"].shape[1:])
        expected_label = oracles.nearest(data["label"][0].numpy(), _affine(data["label"]), target, shape)
        assert oracles.wrong(out["label"][0], expected_label) == 0, name
        # MONAI's own flush casts to float32 even for a flip (why the README puts the sink before such a transform)
        assert out["label"].dtype == (torch.float32 if "Intensity" in name else torch.uint8), name


def test_random_lazy_chains_run_the_engine_once_per_key(monkeypatch):
    """The random chains of ``tests/chains.py`` (MONAI's lazy spatial transforms and ours, any order, our sink
    last; their values are checked there): the engine runs at most once per key, copies included."""
    import warnings

    import chains
    import monai_spacetx.transforms.lazy as lazy_module

    calls: list[int] = []
    real = lazy_module.warp_image

    def counted(data, *args, **kwargs):
        calls.append(1)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(lazy_module, "warp_image", counted)
    over = []
    for seed in range(300, 350):
        sample, steps = chains.random_chain(seed)
        pipeline = Compose([*steps, SpaceApplyPendingd(chains.KEYS, point_keys=chains.POINTS)], lazy=True)
        pipeline.set_random_state(seed)
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                out = pipeline(sample)
            except Exception:  # refused by MONAI itself (a crop to nothing): tests/chains.py holds us to that
                continue
        for key in chains.KEYS:
            out[key].as_tensor()
        if len(calls) > len(chains.KEYS):
            over.append(f"{seed}: {len(calls)} passes: " + " -> ".join(type(step).__name__ for step in steps))
    assert not over, "\n".join(over)


@pytest.mark.parametrize("name", sorted(CROPS))
def test_boxes_and_landmarks_follow_each_sample(name):
    """A box [x1, y1, z1, x2, y2, z2) and a landmark move into each sample by the sample's offset
    (MONAI's box: voxel i spans [i, i + 1)), computed here from MONAI's centre; back on the scan
    with SpaceInvertd, exactly."""
    crop = CROPS[name][2](**crop_kwargs(name), box_keys="boxes", point_keys="points")
    crop.set_random_state(3)
    data = _sample(7)
    boxes = np.array([[4.0, 6.0, 3.0, 12.0, 15.0, 9.0], [18.0, 14.0, 10.0, 25.0, 22.0, 16.0]])
    points = np.array([[7.0, 8.0, 4.0], [20.0, 15.5, 11.25]])
    for sample in crop({**data, "boxes": boxes, "points": points}):
        center = np.asarray(sample["label"].meta["crop_center"], dtype=np.int64).reshape(-1)
        start = np.maximum(center - np.array((10, 12, 8)) // 2, 0)
        np.testing.assert_allclose(sample["boxes"], boxes - np.tile(start, 2), atol=1e-12)
        np.testing.assert_allclose(sample["points"], points - start, atol=1e-12)
        sample["pred"] = sample["label"]
        back = SpaceInvertd(keys="pred", orig_keys="label", box_keys="boxes", point_keys="points")(dict(sample))
        np.testing.assert_allclose(back["boxes"], boxes, atol=1e-9)
        np.testing.assert_allclose(back["points"], points, atol=1e-9)


def crop_kwargs(name: str) -> dict:
    """The arguments CROPS uses, by name (to add ours)."""
    common = {"keys": KEYS, "spatial_size": (10, 12, 8)}
    if name == "pos_neg":
        return {**common, "label_key": "label", "pos": 1, "neg": 2, "num_samples": 3, "image_key": "image", "image_threshold": -0.5}
    if name == "label_classes":
        return {**common, "label_key": "label", "ratios": [1, 2, 3], "num_classes": 3, "num_samples": 4}
    return {**common, "w_key": "weight", "num_samples": 3}


@pytest.mark.parametrize("padding_mode", ["edge", "symmetric", "constant"])
@pytest.mark.parametrize("middle", ["Rotated", "Flipd"])
def test_zoom_with_a_monai_pad_mode_fuses_into_one_resample(padding_mode, middle):
    """SpaceZoomd(keep_size=True) with a MONAI pad mode (Zoomd's default "edge") -> Rotated/Flipd -> SpaceZoomd,
    lazily: inside the scan's field of view the label is the one nearest resample of the input and the
    image the one trilinear resample (brute force from the raw affines); it was two (594 / 1134 labels off)."""
    from monai.transforms import Rotated

    from monai_spacetx import SpaceZoomd

    grid = np.indices((20, 18, 16)).astype(np.float64)
    affine = torch.diag(torch.tensor([1.2, 1.0, 2.0, 1.0], dtype=torch.float64))
    image = MetaTensor(torch.as_tensor(np.sin(grid[0] / 3) + np.cos(grid[1] / 4) + grid[2] / 10, dtype=torch.float32)[None], affine=affine)
    label = MetaTensor(torch.as_tensor((grid[0] // 4 + grid[1] // 5) % 3, dtype=torch.uint8)[None], affine=affine.clone())
    modes = ("bilinear", "nearest")
    mid = Rotated(KEYS, angle=0.3, mode=modes) if middle == "Rotated" else Flipd(KEYS, spatial_axis=1)
    steps = [SpaceZoomd(KEYS, zoom=0.8, keep_size=True, mode=modes, padding_mode=padding_mode), mid,
             SpaceZoomd(KEYS, zoom=1.3, keep_size=False, mode=modes, padding_mode=padding_mode)]
    out = Compose(steps, lazy=True)({"image": image, "label": label})
    target, shape = _affine(out["label"]), tuple(out["label"].shape[1:])
    x = oracles.source_coordinates(affine.numpy(), target, shape)
    inside = np.all((x >= 0) & (x <= np.array(image.shape[1:])[:, None] - 1), axis=0).reshape(shape)
    expected_label = oracles.nearest(label[0].numpy(), affine.numpy(), target, shape)
    assert inside.mean() > 0.3 and int((out["label"][0].numpy() != expected_label)[inside].sum()) == 0
    expected = oracles.interpolate(image[0].numpy(), affine.numpy(), target, shape, order=1)
    np.testing.assert_allclose(out["image"][0].numpy()[inside], expected[inside], atol=2e-5)
    eager = Compose(steps)({"image": image, "label": label})  # beyond the field of view: the zoom's padding, as eagerly
    assert eager["label"].shape == out["label"].shape


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
def test_model_zoo_spleen_train_config_swapped(tmp_path, warp_calls, lazy):
    """The Model Zoo spleen bundle's training preprocessing (train.json, transcribed), every MONAI transform
    with a counterpart renamed to ours and nothing else changed but the crop size (the scan is small):
    4 samples, each one resample of the scan (brute force), labels with their classes; lazily MONAI's
    resampler never runs."""
    from monai.bundle import ConfigParser

    from monai_spacetx.transforms.names import counterparts

    config = ConfigParser.load_config_file(str(Path(__file__).parent / "data" / "model_zoo_train" / "spleen_ct_segmentation_train.yaml"))
    table = counterparts()

    def swap(node):
        if isinstance(node, dict):
            return {k: (table[v] if k == "_target_" and v in table else swap(v)) for k, v in node.items()}
        return [swap(v) for v in node] if isinstance(node, list) else node

    config = swap(config)
    config["train"]["random_transforms"][0]["spatial_size"] = list(SIZE)
    config["train"]["preprocessing"]["lazy"] = lazy
    parser = ConfigParser(config)
    targets = [t["_target_"] for t in config["train"]["deterministic_transforms"] + config["train"]["random_transforms"]]
    assert "monai_spacetx.SpaceSpacingd" in targets and "monai_spacetx.SpaceRandCropByPosNegLabeld" in targets
    pipeline = parser.get_parsed_content("train#preprocessing")
    pipeline.set_random_state(2)
    paths = _scan(tmp_path, seed=8)
    raw, label, affine = _raw(paths)
    samples = pipeline(dict(paths))
    assert len(samples) == 4
    if lazy:
        assert warp_calls["monai"] == 0
    for sample in samples:
        _check_against_raw(sample, raw, label, affine, -57, 164, scale_after=True)  # train.json scales after Spacingd
