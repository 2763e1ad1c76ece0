"""Compatibility suite: the same inputs through MONAI's transform and ours, side by side.

For each MONAI transform ours stands in for: same output shape, affine and metadata keys
(ours add ``spacetx_space``/``spacetx_native``), same values where MONAI is exact (crops, pads,
flips) or within float tolerance (linear resamples); where MONAI's ``nearest`` is off-centre,
the differing voxels are counted against the ideal (centre-sampled) result. Then the MONAI
machinery: ``Compose(lazy=True)``, DataLoader workers (fork and spawn), datasets, a bundle
config parsed by ``monai.bundle.ConfigParser`` with only ``_target_`` swapped.
"""

from __future__ import annotations

import multiprocessing
import pickle
from pathlib import Path

import monai
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.utils import version_leq
from monai.transforms import (
    CenterSpatialCropd,
    Compose,
    CropForegroundd,
    Flipd,
    Invertd,
    Orientationd,
    Resized,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
    Zoomd,
)

from monai_spacetx import (
    MetadataError,
    Space,
    SpaceCropd,
    SpaceCropForegroundd,
    SpaceInvertd,
    SpaceResampled,
    get_native_space,
    get_space,
)

import oracles

DATA = Path(__file__).parent / "data"
SHAPE = (20, 18, 12)


def _native() -> Space:
    angle = 0.3
    c, s = np.cos(angle), np.sin(angle)
    direction = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return Space(SHAPE, spacing=(0.9, 1.1, 2.5), origin=(-20.0, 10.0, 5.0), direction=direction)


def _label() -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in SHAPE], indexing="ij"), -1)
    body = (((grid - (9.3, 8.6, 5.4)) / (6.2, 5.7, 3.6)) ** 2).sum(-1) <= 1.0
    core = (((grid - (10.1, 7.2, 6.0)) / (2.6, 2.3, 1.6)) ** 2).sum(-1) <= 1.0
    return (body.astype(np.uint8) + (core & body).astype(np.uint8)).astype(np.uint8)


def _sample() -> dict:
    """An in-memory oblique, anisotropic image + label, with the metadata a NIfTI loader writes."""
    native = _native()
    label = _label()
    rng = np.random.default_rng(0)
    image = (label * 100.0 + rng.normal(0, 5, SHAPE)).astype(np.float32)
    affine = torch.from_numpy(native.affine)
    meta = {"original_affine": native.affine.copy(), "spatial_shape": np.array(SHAPE), "pixdim": np.array([1.0, 0.9, 1.1, 2.5, 1, 1, 1, 1])}
    return {
        "image": MetaTensor(torch.from_numpy(image)[None], affine=affine, meta=dict(meta)),
        "label": MetaTensor(torch.from_numpy(label)[None], affine=affine, meta=dict(meta)),
    }


def _same_geometry(theirs: MetaTensor, ours: MetaTensor, atol: float = 1e-9) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=atol)
    assert set(map(str, theirs.meta)) <= set(map(str, ours.meta))
    assert {"spacetx_space", "spacetx_native"} <= set(map(str, ours.meta))
    assert get_native_space(ours) == _native()


# ----------------------------------------------------------------------------- resampling: linear within float tolerance
RESAMPLES = {
    "Spacingd finer": (lambda: Spacingd("image", pixdim=(0.7, 1.3, 1.9)), lambda: SpaceResampled("image", pixdim=(0.7, 1.3, 1.9))),
    "Spacingd coarser": (lambda: Spacingd("image", (1.7, 2.3, 3.9)), lambda: SpaceResampled("image", pixdim=(1.7, 2.3, 3.9))),
    "Spacingd one pixdim": (lambda: Spacingd("image", pixdim=1.4), lambda: SpaceResampled("image", pixdim=1.4)),
    "Resized": (
        lambda: Resized("image", spatial_size=(31, 25, -1), mode="trilinear"),
        lambda: SpaceResampled("image", spatial_size=(31, 25, -1), mode="trilinear"),
    ),
    "Resized longest": (
        lambda: Resized("image", spatial_size=30, size_mode="longest", mode="trilinear"),
        lambda: SpaceResampled("image", spatial_size=30, size_mode="longest", mode="trilinear"),
    ),
    "Zoomd": (lambda: Zoomd("image", zoom=1.7, mode="trilinear", keep_size=False), lambda: SpaceResampled("image", zoom=1.7, keep_size=False)),
    # zooming in with keep_size crops centrally; zooming out pads, where MONAI's "edge" repeats the zoomed
    # edge voxel and our "border" clamps to the source edge (docs/monai_dialect.md), so only crops compare
    "Zoomd keep_size": (
        lambda: Zoomd("image", zoom=(1.2, 1.4, 1.0), mode="trilinear"),
        lambda: SpaceResampled("image", zoom=(1.2, 1.4, 1.0)),
    ),
}


@pytest.mark.parametrize("name", sorted(RESAMPLES))
def test_linear_resamples_match_monai(name):
    theirs_t, ours_t = RESAMPLES[name]
    theirs, ours = theirs_t()(_sample())["image"], ours_t()(_sample())["image"]
    _same_geometry(theirs, ours)
    assert ours.dtype == theirs.dtype == torch.float32
    # border included: Spacingd's default padding_mode "border" is ours too
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-4)


def test_anti_aliasing_matches_monai_resize_away_from_the_edges():
    """MONAI ``Resize(anti_aliasing=True)`` smooths with zero padding, ours replicates the edge
    (``padding_mode``): voxels whose kernel stays inside the image must agree."""
    image = _sample()["image"]
    size = (7, 8, 12)  # shrinks the first two axes by about 2.9 and 2.25; the third is kept
    theirs = Resized("image", spatial_size=size, mode="trilinear", anti_aliasing=True)({"image": image})["image"]
    ours = SpaceResampled("image", spatial_size=size, mode="trilinear", anti_aliasing=True)({"image": image})["image"]
    plain = SpaceResampled("image", spatial_size=size, mode="trilinear")({"image": image})["image"]
    _same_geometry(theirs, ours)
    interior = [slice(None)]
    for n, m in zip(SHAPE, size):
        scale = n / m
        reach = int(max(4.0 * max(0.0, (scale - 1) / 2), 0.5) + 0.5) + 1  # kernel radius + the linear tap
        x = (np.arange(m) + 0.5) * scale - 0.5
        inside = np.nonzero((x - reach >= 0) & (x + reach <= n - 1))[0]
        assert inside.size, (n, m)
        interior.append(slice(inside[0], inside[-1] + 1))
    interior = tuple(interior)
    np.testing.assert_allclose(ours.numpy()[interior], theirs.numpy()[interior], rtol=1e-4, atol=1e-3)
    assert not np.allclose(plain.numpy()[interior], theirs.numpy()[interior], atol=1.0)  # the smoothing is real


@pytest.mark.parametrize(
    "theirs_t, ours_t, monai_off_centre",
    [
        (lambda: Resized("label", spatial_size=(31, 25, 17), mode="nearest"), lambda: SpaceResampled("label", spatial_size=(31, 25, 17), mode="nearest"), 520),
        (lambda: Zoomd("label", zoom=1.7, mode="nearest", keep_size=False), lambda: SpaceResampled("label", zoom=1.7, mode="nearest", keep_size=False), 556),
    ],
    ids=["Resized", "Zoomd"],
)
def test_nearest_is_centre_consistent_where_monai_is_off_centre(theirs_t, ours_t, monai_off_centre):
    theirs, ours = theirs_t()(_sample())["label"], ours_t()(_sample())["label"]
    _same_geometry(theirs, ours)
    ideal = _ideal(ours)
    assert int((ours.as_tensor() != ideal).sum()) == 0
    # MONAI's nearest resize (torch "nearest": floor(j * scale)) is off-centre: exactly this many voxels
    assert int((theirs.as_tensor().to(torch.uint8) != ideal).sum()) == monai_off_centre
    assert ours.dtype == torch.uint8  # labels stay integer (MONAI returns float32)


def _ideal(working: MetaTensor) -> torch.Tensor:
    """The native label sampled at the working voxel centres through the affine, by brute force."""
    native = _native()
    centres = np.stack(np.meshgrid(*[np.arange(n) for n in working.shape[1:]], indexing="ij"), -1).reshape(-1, 3)
    index = native.world_to_index(get_space(working).index_to_world(centres.astype(np.float64)))
    nearest = np.floor(np.round(index + 0.5, 9)).astype(np.int64)  # ties (to 1e-9 voxel) go up
    inside = np.all((nearest >= 0) & (nearest < np.array(SHAPE)), axis=1)
    values = np.zeros(len(centres), np.uint8)
    values[inside] = _label()[tuple(nearest[inside].T)]
    return torch.from_numpy(values.reshape(working.shape))


# ----------------------------------------------------------------------------- crops and pads: bit for bit
CROPS = {
    "SpatialCropd start/end": (
        lambda: SpatialCropd(["image", "label"], roi_start=(2, 3, 1), roi_end=(17, 15, 10)),
        lambda: SpaceCropd(["image", "label"], roi_start=(2, 3, 1), roi_end=(17, 15, 10)),
    ),
    "SpatialCropd positional center/size": (
        lambda: SpatialCropd(["image", "label"], (10, 9, 6), (11, 8, 7)),
        lambda: SpaceCropd(["image", "label"], (10, 9, 6), (11, 8, 7)),
    ),
    "SpatialCropd slices": (
        lambda: SpatialCropd(["image", "label"], roi_slices=[slice(1, 19), slice(None, 10), slice(2, 12)]),
        lambda: SpaceCropd(["image", "label"], roi_slices=[slice(1, 19), slice(None, 10), slice(2, 12)]),
    ),
    "CenterSpatialCropd": (
        lambda: CenterSpatialCropd(["image", "label"], roi_size=(9, 10, 5)),
        lambda: SpaceCropd(["image", "label"], roi_center=[n // 2 for n in SHAPE], roi_size=(9, 10, 5)),
    ),
    "SpatialPadd": (
        lambda: SpatialPadd(["image", "label"], spatial_size=(25, 21, 16)),
        lambda: SpaceCropd(["image", "label"], roi_start=(-2, -1, -2), roi_end=(23, 20, 14)),
    ),
    "CropForegroundd": (
        lambda: CropForegroundd(["image", "label"], source_key="label", margin=(2, 1, 3)),
        lambda: SpaceCropForegroundd(["image", "label"], source_key="label", margin=(2, 1, 3)),
    ),
    "CropForegroundd k_divisible, channel_indices": (
        lambda: CropForegroundd(["image", "label"], "image", lambda x: x > 150, [0], 1, False, 4),
        lambda: SpaceCropForegroundd(["image", "label"], "image", lambda x: x > 150, [0], 1, False, 4),
    ),
    "CropForegroundd allow_smaller": (
        lambda: CropForegroundd(["image", "label"], source_key="label", margin=5, allow_smaller=True),
        lambda: SpaceCropForegroundd(["image", "label"], source_key="label", margin=5, allow_smaller=True),
    ),
}


@pytest.mark.parametrize("name", sorted(CROPS))
def test_crops_and_pads_equal_monai_bit_for_bit(name):
    theirs_t, ours_t = CROPS[name]
    theirs, ours = theirs_t()(_sample()), ours_t()(_sample())
    for key in ("image", "label"):
        _same_geometry(theirs[key], ours[key])
        assert torch.equal(ours[key].as_tensor(), theirs[key].as_tensor().to(ours[key].dtype))
    if "CropForegroundd" in name:
        for coord in ("foreground_start_coord", "foreground_end_coord"):
            np.testing.assert_array_equal(ours[coord], theirs[coord])


# ----------------------------------------------------------------------------- orientation, flip: ours onto MONAI's grid, and back
@pytest.mark.parametrize(
    "monai_t",
    [lambda: Orientationd(["image", "label"], axcodes="LPI"), lambda: Flipd(["image", "label"], spatial_axis=(0, 2))],
    ids=["Orientationd", "Flipd"],
)
def test_orientation_and_flip_are_copies_and_space_invertd_undoes_them(monai_t):
    theirs = monai_t()(_sample())
    # ours doing the same thing: resampling onto MONAI's output grid is an exact copy
    ours = SpaceResampled(["image", "label"], ref_key="target", mode="nearest")({**_sample(), "target": theirs["label"]})
    for key in ("image", "label"):
        _same_geometry(theirs[key], ours[key])
        assert torch.equal(ours[key].as_tensor(), theirs[key].as_tensor())
    # and SpaceInvertd undoes MONAI's, bit for bit, in one copy
    back = SpaceInvertd(["image", "label"], mode="nearest")(theirs)
    for key in ("image", "label"):
        assert torch.equal(back[key].as_tensor(), _sample()[key].as_tensor())
        np.testing.assert_array_equal(back[key].affine.numpy(), _native().affine)


# ----------------------------------------------------------------------------- Invertd
def test_space_invertd_is_invertd_with_the_target_swapped():
    pipeline = Compose([Orientationd(["image", "label"], "RAS"), Spacingd(["image", "label"], (1.3, 1.5, 3.1), mode=("bilinear", "nearest"))])
    data = pipeline(_sample())
    data["pred"] = MetaTensor(_ideal(data["image"]))  # a perfect model on the working grid (brute force)
    args = dict(keys="pred", transform=pipeline, orig_keys="image", nearest_interp=True, to_tensor=True, device="cpu", post_func=None)
    theirs = Invertd(**args)(dict(data))["pred"]
    ours = SpaceInvertd(**args)(dict(data))["pred"]
    _same_geometry(theirs, ours, atol=1e-6)
    # mapping back is one nearest resample from the working grid: the brute-force one, voxel for voxel
    expected = oracles.nearest(data["pred"][0].numpy(), data["image"].affine, _native().affine, SHAPE)
    assert oracles.wrong(ours[0], expected) == 0
    # the working grid is coarser than native along every axis: no method is exact, and here
    # MONAI's chain of inverses loses exactly as many voxels as the one resample
    assert oracles.wrong(ours[0], _label()) == 169
    assert oracles.wrong(theirs[0].to(torch.uint8), _label()) == 169


def test_nearest_interp_false_maps_back_linearly_and_post_func_device_apply():
    data = SpaceResampled(["image"], pixdim=(0.8, 0.9, 2.0))(_sample())
    prob = torch.rand(2, *data["image"].shape[1:])
    data["prob"] = prob
    out = SpaceInvertd("prob", None, "image", nearest_interp=False, device="cpu", post_func=lambda x: x * 2)(data)
    expected = np.stack([oracles.interpolate(p.numpy(), data["image"].affine, _native().affine, SHAPE, 1, "zeros") for p in prob]) * 2
    np.testing.assert_allclose(out["prob"].numpy(), expected, rtol=0, atol=1e-6)  # float32 probabilities


def test_compose_inverse_and_invertd_undo_our_transforms():
    pre = Compose(
        [
            SpaceCropForegroundd(["image", "label"], source_key="label", margin=1),
            SpaceResampled(["image", "label"], pixdim=(0.5, 0.6, 1.2), mode=("bilinear", "nearest")),
        ]
    )
    data = pre(_sample())
    data["pred"] = data["label"].clone()
    out = Invertd("pred", pre, "label", nearest_interp=True)(data)
    assert out["pred"].shape[1:] == SHAPE
    assert int((out["pred"].as_tensor() != torch.from_numpy(_label())[None]).sum()) == 0
    inverted = pre.inverse({"image": data["image"], "label": data["label"]})
    assert int((inverted["label"].as_tensor() != torch.from_numpy(_label())[None]).sum()) == 0


# ----------------------------------------------------------------------------- Compose(lazy=True)
def test_lazy_compose_is_one_resample_onto_the_eager_grid():
    """Lazy: the same grid as eager (MONAI's Orientationd/Spacingd and ours planned in turn), filled by ONE
    resample from the data: the brute-force nearest / linear sample of the native arrays there.
    Eager resamples twice (Spacingd, then ours), so its values differ: 366 label voxels here."""

    def build(lazy: bool) -> Compose:
        return Compose(
            [
                Orientationd(["image", "label"], axcodes="LPS"),
                SpaceCropd(["image", "label"], roi_start=(1, 1, 1), roi_end=(19, 16, 11)),
                Spacingd(["image", "label"], pixdim=(0.8, 0.9, 2.0), mode=("bilinear", "nearest")),
                SpaceResampled(["image", "label"], spatial_size=(24, 20, 14), mode=("bilinear", "nearest")),
            ],
            lazy=lazy,
        )

    eager, lazy = build(False)(_sample()), build(True)(_sample())
    for key in ("image", "label"):
        assert eager[key].shape == lazy[key].shape == (1, 24, 20, 14)
        np.testing.assert_allclose(eager[key].affine.numpy(), lazy[key].affine.numpy(), rtol=0, atol=1e-9)
    native = _native().affine
    label = oracles.nearest(_label(), native, eager["label"].affine, (24, 20, 14))
    assert lazy["label"].dtype == torch.uint8 and oracles.wrong(lazy["label"][0], label) == 0
    assert oracles.wrong(eager["label"][0].to(torch.uint8), label) == 366  # eager: nearest of a nearest
    image = _sample()["image"][0].numpy()
    expected = oracles.interpolate(image, native, eager["image"].affine, (24, 20, 14), 1, "border")
    np.testing.assert_allclose(lazy["image"][0].numpy(), expected, rtol=0, atol=8 * np.finfo(np.float32).eps * np.abs(image).max())
    back = SpaceInvertd("label", mode="nearest")(lazy)
    assert oracles.wrong(back["label"][0], oracles.nearest(label, eager["label"].affine, native, SHAPE)) == 0


# ----------------------------------------------------------------------------- DataLoader workers, datasets
def _loader_pipeline() -> Compose:
    return Compose(
        [
            SpaceCropForegroundd(["image", "label"], source_key="label", margin=1),
            SpaceResampled(["image", "label"], spatial_size=(24, 24, 16), mode=("bilinear", "nearest")),
        ]
    )


def test_transforms_pickle():
    """A pickled transform (what a DataLoader worker gets) keeps its keys and options: same output, by hand where cheap."""
    image = MetaTensor(torch.arange(30.0).reshape(1, 5, 6), affine=torch.diag(torch.tensor([2.0, 0.5, 1.0, 1.0], dtype=torch.float64)))
    crop = pickle.loads(pickle.dumps(SpaceCropd("x", roi_start=(1, 2), roi_end=(3, 5))))
    assert list(crop.keys) == ["x"]
    assert torch.equal(crop({"x": image})["x"].as_tensor(), image.as_tensor()[:, 1:3, 2:5])  # by hand: the roi, no other
    resample = SpaceResampled("x", pixdim=(1.0, 1.0), mode="nearest")
    copy = pickle.loads(pickle.dumps(resample))
    out = copy({"x": image})["x"]
    from monai.transforms import Spacingd

    assert list(copy.keys) == ["x"] and out.shape == Spacingd("x", pixdim=(1.0, 1.0))({"x": image})["x"].shape == (1, 9, 4)
    assert torch.equal(out.as_tensor(), resample({"x": image})["x"].as_tensor())
    invert = pickle.loads(pickle.dumps(SpaceInvertd("y", orig_keys="x", mode="label")))
    assert list(invert.keys) == ["y"] and list(invert.orig_keys) == ["x"]
    working = resample({"x": image})
    pred = (working["x"].as_tensor() > 14).to(torch.uint8)
    back = invert({**working, "y": pred})["y"]
    assert back.shape == image.shape  # mode "label" kept: the vote's definition from the raw affines, not nearest
    assert oracles.label_vote_violations(back[0].numpy(), pred[0].numpy(), working["x"].affine.numpy(), image.affine.numpy(), (5, 6)) == 0
    pipeline = _loader_pipeline()
    sample = _sample()
    expected = pipeline(_sample())
    unpickled = pickle.loads(pickle.dumps(pipeline))(sample)
    for key in ("image", "label"):
        assert unpickled[key].shape == (1, 24, 24, 16) and torch.equal(unpickled[key].as_tensor(), expected[key].as_tensor())


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers(context):
    from monai.data import DataLoader, Dataset, decollate_batch

    if context not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{context} is not available here")
    items = [_sample() for _ in range(2)]
    expected = _loader_pipeline()(items[0])
    loader = DataLoader(Dataset(items, _loader_pipeline()), batch_size=2, num_workers=2, multiprocessing_context=context)
    batch = next(iter(loader))
    for sample in decollate_batch(batch):
        assert torch.equal(sample["label"].as_tensor(), expected["label"].as_tensor())
        sample["pred"] = sample["label"]
        back = SpaceInvertd("pred", orig_keys="label", mode="nearest")(sample)
        assert int((back["pred"].as_tensor() != torch.from_numpy(_label())[None]).sum()) == 0


def test_cache_persistent_and_thread_loader(tmp_path):
    from monai.data import CacheDataset, PersistentDataset, ThreadDataLoader

    items = [_sample(), _sample()]
    # What PersistentDataset hands back depends on MONAI: MetaTensors in 1.4 (it pickled them whole), plain
    # tensors in 1.5 (no way to keep them), and from 1.6 MetaTensors with track_meta=True, plain ones by default
    v14 = not version_leq("1.5", monai.__version__)
    from_16 = version_leq("1.6", monai.__version__)
    meta = dict(track_meta=True, weights_only=False) if from_16 else {}
    persistent = PersistentDataset(items, _loader_pipeline(), cache_dir=tmp_path / "meta", **meta)
    for dataset in (CacheDataset(items, _loader_pipeline(), progress=False), persistent):
        for batch in ThreadDataLoader(dataset, batch_size=1, num_workers=0):
            assert batch["label"].shape[2:] == (24, 24, 16)
    PersistentDataset(items, _loader_pipeline(), cache_dir=tmp_path / "plain")[0]  # the first call computes and caches
    for cache, keeps_meta in (("meta", from_16 or v14), ("plain", v14)):
        cached = PersistentDataset(items, _loader_pipeline(), cache_dir=tmp_path / cache, **(meta if cache == "meta" else {}))[0]
        cached["pred"] = cached["label"]  # read back from disk
        assert isinstance(cached["label"], MetaTensor) == keeps_meta, (cache, monai.__version__)
        if keeps_meta:
            back = SpaceInvertd("pred", orig_keys="label")(cached)
            assert int((back["pred"].as_tensor() != torch.from_numpy(_label())[None]).sum()) == 0
        else:  # plain tensors: mapping back says so, never a silent no-op
            with pytest.raises(MetadataError, match="orig_keys: key 'pred' takes its geometry from 'label', which holds a plain Tensor"):
                SpaceInvertd("pred", orig_keys="label")(cached)


def test_set_track_meta_false_returns_plain_tensors():
    from monai.data import set_track_meta

    set_track_meta(False)
    try:
        out = _loader_pipeline()(_sample())
    finally:
        set_track_meta(True)
    assert type(out["image"]) is torch.Tensor and out["image"].shape[1:] == (24, 24, 16)


def test_any_pixdim_length_and_missing_keys():
    x = MetaTensor(torch.rand(1, 10, 12), meta={"pixdim": [1.0, 1.0]})
    out = SpaceResampled("x", spatial_size=(5, 6))({"x": x})["x"]
    np.testing.assert_allclose(out.meta["pixdim"], [1.0, 2.0, 2.0])
    assert list(x.meta["pixdim"]) == [1.0, 1.0]
    data = SpaceResampled(["x", "y"], pixdim=2.0, allow_missing_keys=True)({"x": x})
    assert set(data) == {"x"}


# ----------------------------------------------------------------------------- native geometry from any loader
def test_png_resized_by_monai_maps_back_and_saves_as_png(tmp_path):
    from monai.transforms import LoadImaged, SaveImaged
    from PIL import Image

    pixels = np.zeros((30, 20), np.uint8)
    pixels[8:21, 5:14] = 255
    Image.fromarray(pixels).save(tmp_path / "mask.png")
    data = Compose([LoadImaged("image", ensure_channel_first=True, image_only=True), Resized("image", spatial_size=(48, 64), mode="nearest")])(
        {"image": str(tmp_path / "mask.png")}
    )
    # a perfect model: the loaded mask sampled at the working pixel centres (brute force from the affines)
    loaded = LoadImaged("image", ensure_channel_first=True, image_only=True)({"image": str(tmp_path / "mask.png")})["image"]
    ideal = oracles.nearest(loaded[0].numpy(), loaded.affine, data["image"].affine, (48, 64))
    data["pred"] = MetaTensor(torch.from_numpy(ideal.astype(np.uint8))[None])
    back = SpaceInvertd("pred", orig_keys="image", mode="nearest")(data)
    assert tuple(back["pred"].shape[1:]) == tuple(data["image"].meta["spatial_shape"].tolist()) == (20, 30)
    # 48 x 64 is finer than 20 x 30 along both axes: the mask comes back pixel for pixel
    assert oracles.wrong(back["pred"][0], loaded[0].numpy().astype(np.uint8)) == 0
    SaveImaged("pred", output_dir=str(tmp_path / "out"), output_ext=".png", separate_folder=False, output_dtype=np.uint8, scale=None, resample=False)(back)
    saved = np.asarray(Image.open(next((tmp_path / "out").glob("*.png"))))
    assert saved.shape == pixels.shape
    np.testing.assert_array_equal(saved, pixels)  # the written PNG is the drawn mask, in PIL's own orientation


def test_forward_transforms_need_no_native_geometry_only_mapping_back_does():
    x = MetaTensor(torch.rand(1, 10, 12))
    resized = Resized("x", spatial_size=(20, 24))({"x": x})["x"]  # no loader metadata, MONAI ran first
    out = SpaceResampled("x", pixdim=(0.5, 0.5))({"x": resized})["x"]
    assert "spacetx_native" not in out.meta
    with pytest.raises(MetadataError, match="key 'x': cannot tell the native geometry"):
        SpaceInvertd("pred", orig_keys="x")({"x": out, "pred": torch.zeros(1, *out.shape[1:])})


# ----------------------------------------------------------------------------- a bundle config, only _target_ swapped
def test_bundle_config_with_only_targets_swapped():
    from monai.bundle import ConfigParser

    results = {}
    for flavour in ("monai", "ours"):
        parser = ConfigParser()
        parser.read_config(str(DATA / "bundle_inference.yaml"))
        if flavour == "ours":
            text = (DATA / "bundle_inference.yaml").read_text()
            for theirs, ours in (("Spacingd", "monai_spacetx.SpaceSpacingd"), ("CropForegroundd", "monai_spacetx.SpaceCropForegroundd"), ("Invertd", "monai_spacetx.SpaceInvertd")):
                text = text.replace(f"_target_: {theirs}\n", f"_target_: {ours}\n")
            assert text.count("monai_spacetx.") == 3
            parser = ConfigParser()
            parser.read_config(_write(text))
        data = parser.get_parsed_content("preprocessing")(_sample())
        data["pred"] = MetaTensor(_ideal(data["image"]))  # a perfect model (brute force)
        results[flavour] = (data, parser.get_parsed_content("postprocessing")(data))
    (fwd_theirs, back_theirs), (fwd_ours, back_ours) = results["monai"], results["ours"]
    _same_geometry(fwd_theirs["image"], fwd_ours["image"])
    # the config asks MONAI to interpolate in float32 (dtype: $np.float32): agreement to float32 precision
    np.testing.assert_allclose(fwd_ours["image"].numpy(), fwd_theirs["image"].numpy(), rtol=1e-5, atol=1e-3)
    assert back_ours["pred"].shape == back_theirs["pred"].shape == (1, *SHAPE)
    np.testing.assert_allclose(back_ours["pred"].affine.numpy(), _native().affine, rtol=0, atol=1e-6)
    # back by one nearest resample from the working grid: the brute-force one, voxel for voxel
    expected = oracles.nearest(fwd_ours["pred"][0].numpy(), fwd_ours["image"].affine, _native().affine, SHAPE)
    assert oracles.wrong(back_ours["pred"][0], expected) == 0
    assert oracles.wrong(back_ours["pred"][0], _label()) == WRONG_BACK_BUNDLE
    assert oracles.wrong(back_theirs["pred"][0].to(torch.uint8), _label()) == WRONG_BACK_BUNDLE_MONAI


#: a perfect prediction on the config's working grid (1.2 x 1.3 x 2.0 mm, coarser than native along
#: its second and third axes) mapped back: ours (one resample) and MONAI's Invertd (chain of inverses)
WRONG_BACK_BUNDLE, WRONG_BACK_BUNDLE_MONAI = 63, 77


def _write(text: str) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(text)
    handle.close()
    return handle.name
