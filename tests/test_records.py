"""MONAI's records read the way MONAI wrote them: every spatial transform × mode × our step after it.

- The reader (``transforms/records.py``) against MONAI itself: each transform's eager record gives
  the index map MONAI's own lazy record holds (``lazy_affine``), the grid before the step, and
  the mode the user asked for.
- The table: each MONAI transform that records (lazy or inverse) × the image modes it takes ×
  each of our step kinds after it (a copying ``SpaceCropd``, a resampling ``SpaceResampled``,
  the sink ``SpaceApplyPendingd``), run under ``Compose(lazy=True)``: the grid is the eager
  chain's, a copy-only chain equals the eager one bit for bit, and otherwise image and label are
  the one-resample oracle (``oracles.py``: brute force from the raw affines), the image with the
  mode it asked for. The engine's warps are counted: one per key.
- The exact eager map-back through every record (flips with int / sequence / no axes,
  ``Rotate90d``, the random flips and turns, ``Orientationd``, crops, pads, ``Resized``,
  ``Zoomd``, ``Affined`` / ``RandAffined``): 0 wrong voxels when every step is finer.
- An unknown record raises our error naming it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Affined,
    BorderPadd,
    CenterScaleCropd,
    CenterSpatialCropd,
    Compose,
    CropForegroundd,
    DivisiblePadd,
    Flipd,
    Lambdad,
    Orientationd,
    RandAffined,
    RandAxisFlipd,
    RandFlipd,
    RandRotate90d,
    RandRotated,
    RandScaleCropd,
    RandSpatialCropd,
    RandZoomd,
    Resized,
    ResizeWithPadOrCropd,
    Rotate90d,
    Rotated,
    Spacingd,
    SpatialCropd,
    SpatialPadd,
    Zoomd,
)

import oracles
from monai_spacetx import MetadataError, Space, SpaceApplyPendingd, SpaceCropd, SpaceInvertd, SpaceResampled
from monai_spacetx.transforms.records import index_map, input_grid, read_record

KEYS = ["image", "label"]
SHAPES = {2: (17, 15), 3: (15, 13, 11)}


def _affine(ndim: int) -> np.ndarray:
    """Oblique (turned ~0.3 rad), anisotropic, far from the origin: nothing lines up by accident."""
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    if ndim == 2:
        affine[:2, :2] = np.array([[c, -s], [s, c]]) @ np.diag([0.9, 1.3])
        affine[:2, 3] = (-40.0, 12.5)
    else:
        turn = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
        affine[:3, :3] = turn @ np.diag([0.9, 1.3, 1.7])
        affine[:3, 3] = (-40.0, 12.5, 230.0)
    return affine


def _sample(ndim: int) -> dict:
    shape = SHAPES[ndim]
    grid = np.indices(shape).astype(np.float64)
    smooth = sum(np.sin(0.45 * g + k) for k, g in enumerate(grid)) + 0.05 * grid[0] ** 2
    label = (np.floor(grid[0] / 4) + 2 * (grid[1] > shape[1] / 2)).astype(np.uint8) % 4
    affine = torch.as_tensor(_affine(ndim))
    meta = {"original_affine": affine.clone(), "spatial_shape": np.array(shape)}
    return {
        "image": MetaTensor(torch.as_tensor(smooth[None], dtype=torch.float32), affine=affine.clone(), meta=dict(meta)),
        "label": MetaTensor(torch.as_tensor(label[None]), affine=affine.clone(), meta=dict(meta)),
    }


# ---------------------------------------------------------------- every MONAI transform that records
def _monai(name: str, ndim: int, image_mode) -> object:
    """MONAI transform ``name`` for both keys: the image sampled with ``image_mode``, the label nearest, zeros padding."""
    modes = (image_mode, "nearest")
    size = (9, 11, 7)[:ndim]
    return {
        "Spacingd": lambda: Spacingd(KEYS, pixdim=(0.7, 1.1, 1.5)[:ndim], mode=modes, padding_mode="zeros"),
        "Resized": lambda: Resized(KEYS, spatial_size=(19, 16, 14)[:ndim], mode=modes),
        "Zoomd": lambda: Zoomd(KEYS, zoom=1.3, mode=modes, keep_size=False, padding_mode="constant"),
        "Zoomd-keep": lambda: Zoomd(KEYS, zoom=0.8, mode=modes, keep_size=True, padding_mode="constant"),
        "RandZoomd": lambda: RandZoomd(KEYS, prob=1.0, min_zoom=1.2, max_zoom=1.4, mode=modes, keep_size=False),
        "Rotated": lambda: Rotated(KEYS, angle=(0.25, 0.1, -0.2)[: 1 if ndim == 2 else 3], mode=modes, padding_mode="zeros"),
        "RandRotated": lambda: RandRotated(KEYS, range_x=0.3, range_y=0.2, prob=1.0, mode=modes, padding_mode="zeros"),
        "Affined": lambda: Affined(KEYS, rotate_params=0.2, scale_params=(1.1,) * ndim, shear_params=(0.1,) * (2 if ndim == 2 else 6), mode=modes, padding_mode="zeros"),
        "RandAffined": lambda: RandAffined(KEYS, prob=1.0, rotate_range=0.25, scale_range=0.1, shear_range=0.1, mode=modes, padding_mode="zeros"),
        "Orientationd": lambda: Orientationd(KEYS, axcodes="LPS"[:ndim]),
        "Flipd-int": lambda: Flipd(KEYS, spatial_axis=0),
        "Flipd-list": lambda: Flipd(KEYS, spatial_axis=[0, 1]),
        "Flipd-all": lambda: Flipd(KEYS),
        "RandFlipd": lambda: RandFlipd(KEYS, prob=1.0, spatial_axis=1),
        "RandFlipd-no": lambda: RandFlipd(KEYS, prob=0.0, spatial_axis=1),
        "RandAxisFlipd": lambda: RandAxisFlipd(KEYS, prob=1.0),
        "Rotate90d": lambda: Rotate90d(KEYS, k=1, spatial_axes=(0, 1)),
        "Rotate90d-k3": lambda: Rotate90d(KEYS, k=3, spatial_axes=(1, 0)),
        "RandRotate90d": lambda: RandRotate90d(KEYS, prob=1.0, max_k=3),
        "SpatialCropd": lambda: SpatialCropd(KEYS, roi_start=(1, 2, 1)[:ndim], roi_end=(12, 11, 9)[:ndim]),
        "CenterSpatialCropd": lambda: CenterSpatialCropd(KEYS, roi_size=size),
        "RandSpatialCropd": lambda: RandSpatialCropd(KEYS, roi_size=size, random_size=False),
        "RandScaleCropd": lambda: RandScaleCropd(KEYS, roi_scale=0.6, random_size=False),
        "CenterScaleCropd": lambda: CenterScaleCropd(KEYS, roi_scale=0.7),
        "CropForegroundd": lambda: CropForegroundd(KEYS, source_key="label", margin=1, allow_smaller=True),
        "SpatialPadd": lambda: SpatialPadd(KEYS, spatial_size=(19, 16, 14)[:ndim]),
        "BorderPadd": lambda: BorderPadd(KEYS, spatial_border=2),
        "DivisiblePadd": lambda: DivisiblePadd(KEYS, k=8),
        "ResizeWithPadOrCropd": lambda: ResizeWithPadOrCropd(KEYS, spatial_size=(19, 9, 14)[:ndim]),
    }[name]()


INTERPOLATING = ["Spacingd", "Resized", "Zoomd", "Zoomd-keep", "RandZoomd", "Rotated", "RandRotated", "Affined", "RandAffined"]
COPYING = [
    "Orientationd", "Flipd-int", "Flipd-list", "Flipd-all", "RandFlipd", "RandFlipd-no", "RandAxisFlipd", "Rotate90d",
    "Rotate90d-k3", "RandRotate90d", "SpatialCropd", "CenterSpatialCropd", "RandSpatialCropd", "RandScaleCropd",
    "CenterScaleCropd", "CropForegroundd", "SpatialPadd", "BorderPadd", "DivisiblePadd", "ResizeWithPadOrCropd",
]
#: image modes each interpolating transform is run with: MONAI's names and spline orders, linear and nearest
IMAGE_MODES = {
    "Spacingd": ["bilinear", "nearest", 1, 0],  # np.int64(0): MONAI 1.6.1 eager refuses it (its lazy vote: test_lazy)
    "Resized": ["bilinear", "area", "nearest-exact", "nearest"],
    "Zoomd": ["bilinear", "area", "nearest"],
    "Zoomd-keep": ["bilinear", "nearest"],
    "RandZoomd": ["bilinear", "nearest"],
    "Rotated": ["bilinear", "nearest"],
    "RandRotated": ["bilinear", "nearest"],
    "Affined": ["bilinear", "nearest", 1],
    "RandAffined": ["bilinear", "nearest"],
}


def _run(transform: object, sample: dict, lazy: bool) -> dict:
    if hasattr(transform, "set_random_state"):
        transform.set_random_state(11)
    return transform(sample, lazy=True) if lazy else transform(sample)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", INTERPOLATING + COPYING)
def test_reader_gives_monais_own_index_map_grid_and_mode(name, ndim):
    """The eager record, read by us, holds what MONAI's lazy record of the same call holds."""
    mode = "bilinear" if name in INTERPOLATING else None
    eager = _run(_monai(name, ndim, "bilinear"), _sample(ndim), lazy=False)["image"]
    pending = _run(_monai(name, ndim, "bilinear"), _sample(ndim), lazy=True)["image"]
    step, lazy_step = read_record(eager.applied_operations[-1]), read_record(pending.pending_operations[-1])
    out = Space.from_metatensor(eager)
    np.testing.assert_allclose(index_map(step, out), index_map(lazy_step, out), rtol=0, atol=1e-9)
    assert input_grid(step, out) == Space.from_affine(_affine(ndim), SHAPES[ndim])
    assert step.mode == lazy_step.mode == ("linear" if mode else None)
    assert step.applied is (name != "RandFlipd-no")


def _expected_mode(monai_mode, kind: str) -> str:
    """The module's rule: a discrete vote makes the key nearest, else the last voting step's mode (linear here)."""
    if monai_mode is not None and str(monai_mode).startswith("nearest") or (not isinstance(monai_mode, str) and monai_mode == 0):
        return "nearest"
    return "linear"


def _our_step(kind: str, grid: Space):
    if kind == "copy":
        stop = [max(2, n - 1) for n in grid.shape]
        return SpaceCropd(KEYS, roi_start=[1] * grid.ndim, roi_end=stop)
    if kind == "resample":
        return SpaceResampled(KEYS, pixdim=(grid.spacing * 0.8).tolist(), mode=("bilinear", "nearest"), padding_mode="zeros")
    return SpaceApplyPendingd(KEYS)


TABLE = [(name, mode) for name in INTERPOLATING for mode in IMAGE_MODES[name]] + [(name, None) for name in COPYING]


@pytest.mark.parametrize("kind", ["copy", "resample", "sink"])
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name, mode", TABLE, ids=[f"{n}-{m}" for n, m in TABLE])
def test_lazy_chain_is_one_resample_with_the_asked_mode(name, mode, ndim, kind, warp_calls):
    image_mode = "bilinear" if mode is None else mode

    def chain(*steps, lazy: bool = False) -> Compose:  # Compose re-seeds its transforms: the same draw in each
        composed = Compose([_monai(name, ndim, image_mode), *steps], lazy=lazy)
        composed.set_random_state(11)
        return composed

    grid = Space.from_metatensor(chain()(_sample(ndim))["image"])
    ours = _our_step(kind, grid)
    eager_chain, lazy_chain = chain(ours), chain(ours, lazy=True)
    eager = eager_chain(_sample(ndim))
    warp_calls["ours"] = warp_calls["monai"] = 0
    out = lazy_chain(_sample(ndim))
    for key in KEYS:  # a lazy Space step's output is computed when first read (lazy.Deferred): read it
        out[key].as_tensor()
    assert warp_calls == {"ours": 2, "monai": 0}, warp_calls  # one warp per key, none by MONAI
    source = _sample(ndim)
    for key in KEYS:
        assert tuple(out[key].shape) == tuple(eager[key].shape)
        np.testing.assert_allclose(out[key].affine.numpy(), eager[key].affine.numpy(), rtol=0, atol=1e-9)
        assert out[key].dtype == source[key].dtype  # a uint8 label stays uint8
    if mode is None and kind != "resample":  # crops, pads, flips, turns, reorientation: copied, bit for bit
        for key in KEYS:
            assert torch.equal(out[key].as_tensor(), eager[key].as_tensor().to(out[key].dtype)), key
        return
    target = out["image"]
    # what lies beyond the MONAI step's output grid was our step's zeros padding in the eager chain
    voxel = np.floor(oracles.source_coordinates(grid.to_monai_affine(), target.affine, target.shape[1:]) + 0.5)  # the tie rule
    beyond = ~np.all((voxel >= 0) & (voxel < np.array(grid.shape)[:, None]), axis=0).reshape(target.shape[1:])
    label = oracles.nearest(source["label"][0].numpy(), source["label"].affine, target.affine, target.shape[1:])
    label[beyond] = 0
    assert oracles.wrong(out["label"][0], label) == 0
    image = source["image"][0].numpy()
    wanted = _expected_mode(mode, kind) if mode is not None else "linear"
    if wanted == "nearest":
        expected = oracles.nearest(image, source["image"].affine, target.affine, target.shape[1:])
        expected[beyond] = 0
        np.testing.assert_array_equal(out["image"][0].numpy(), expected)
        return
    expected = oracles.interpolate(image, source["image"].affine, target.affine, target.shape[1:], order=1)
    x = oracles.source_coordinates(source["image"].affine, target.affine, target.shape[1:])
    interior = np.all((x >= 0) & (x <= np.array(SHAPES[ndim])[:, None] - 1), axis=0).reshape(target.shape[1:]) & ~beyond
    assert interior.mean() > 0.2
    np.testing.assert_allclose(out["image"][0].numpy()[interior], expected[interior], rtol=0, atol=2e-5)
    nearest = oracles.nearest(image, source["image"].affine, target.affine, target.shape[1:])
    assert np.abs(out["image"][0].numpy()[interior] - nearest[interior]).max() > 0.05  # really linear, not nearest


# ---------------------------------------------------------------- the exact eager map-back through every record
FINER_STEPS = {
    "Orientationd": lambda nd: Orientationd(["label"], axcodes="LPS"[:nd]),
    "Flipd-int": lambda nd: Flipd(["label"], spatial_axis=0),
    "Flipd-list": lambda nd: Flipd(["label"], spatial_axis=[0, 1]),
    "Flipd-all": lambda nd: Flipd(["label"]),
    "RandFlipd": lambda nd: RandFlipd(["label"], prob=1.0, spatial_axis=1),
    "RandAxisFlipd": lambda nd: RandAxisFlipd(["label"], prob=1.0),
    "Rotate90d": lambda nd: Rotate90d(["label"], k=1, spatial_axes=(0, 1)),
    "RandRotate90d": lambda nd: RandRotate90d(["label"], prob=1.0, max_k=3),
    "SpatialPadd": lambda nd: SpatialPadd(["label"], spatial_size=(40, 40, 40)[:nd]),
    "BorderPadd": lambda nd: BorderPadd(["label"], spatial_border=2),
    "Resized": lambda nd: Resized(["label"], spatial_size=(31, 29, 27)[:nd], mode="nearest-exact"),
    "Zoomd": lambda nd: Zoomd(["label"], zoom=1.25, mode="nearest-exact", keep_size=False),
    "Spacingd": lambda nd: Spacingd(["label"], pixdim=(0.4, 0.55, 0.7)[:nd], mode="nearest"),
    "Affined": lambda nd: Affined(["label"], rotate_params=0.15, scale_params=(0.6,) * nd, spatial_size=(40, 40, 40)[:nd], mode="nearest"),
    # per axis (low, high) of the scale offset: 0.55-0.6 input voxels per output voxel, finer even when turned
    "RandAffined": lambda nd: RandAffined(["label"], prob=1.0, rotate_range=0.15, scale_range=((-0.45, -0.4),) * nd, spatial_size=(40, 40, 40)[:nd], mode="nearest"),
}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", list(FINER_STEPS))
def test_exact_map_back_through_every_record(name, ndim):
    """native → Spacingd(finer, nearest) → the step → SpaceResampled(finer, nearest) → SpaceInvertd(nearest): 0 wrong.

    The chain rounds the label two or three times; composing every recorded step's nearest map
    undoes each rounding (a step read wrong, e.g. a flip about the wrong axis, scrambles the label).
    """
    label = _sample(ndim)["label"]
    noise = torch.randint(0, 4, label.shape, generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    label = MetaTensor(noise, affine=label.affine, meta=dict(label.meta))  # every voxel its own: each rounding shows
    step = FINER_STEPS[name](ndim)
    forward = Compose([
        Spacingd(["label"], pixdim=(0.6, 0.9, 1.2)[:ndim], mode="nearest"),
        step,
        SpaceResampled(["label"], zoom=1.15, keep_size=False, mode="nearest"),  # finer than the step before
    ])({"label": label})
    back = SpaceInvertd(["label"], mode="nearest")(forward)["label"]
    assert back.shape == label.shape  # (MONAI's eager Spacingd returns the label as float32)
    np.testing.assert_allclose(back.affine.numpy(), label.affine.numpy(), atol=1e-9)
    # native voxels whose centre reaches the last working grid through every step (elsewhere: fill)
    ones = SpaceInvertd(["label"], mode="nearest", fill=255)(forward)["label"].as_tensor()
    reached = ones != 255
    assert reached.float().mean() > 0.5
    assert oracles.wrong(back.as_tensor()[reached], label.as_tensor()[reached]) == 0


def test_an_unknown_record_is_refused_by_name():
    sample = {"label": _sample(3)["label"]}
    forward = Compose([
        Spacingd(["label"], pixdim=0.6, mode="nearest"),
        Lambdad(["label"], func=lambda x: x, inv_func=lambda x: x),
        SpaceResampled(["label"], pixdim=0.3, mode="nearest"),
    ])(sample)
    with pytest.raises(MetadataError, match=r"cannot read the record of 'Lambda' .*does not know what that transform does to the grid"):
        SpaceInvertd(["label"], mode="nearest")(forward)


def test_a_lazy_crop_never_reads_what_an_earlier_crop_removed():
    """SpaceCropd → SpaceCropForegroundd(margin=3) ×2 → a padding SpaceCropd: lazily the eager shapes and values."""
    from monai_spacetx import SpaceCropForegroundd

    def chain(lazy: bool) -> Compose:
        return Compose(
            [
                SpaceCropd(KEYS, roi_start=(2, 1, 1), roi_end=(12, 11, 9)),
                SpaceCropForegroundd(KEYS, source_key="label", margin=3, select_fn=lambda x: x == 3),
                SpaceCropForegroundd(KEYS, source_key="label", margin=3, select_fn=lambda x: x == 3),
                SpaceCropd(KEYS, roi_start=(-2, -2, -2), roi_end=(20, 20, 20), fill=7),
            ],
            lazy=lazy,
        )

    from monai.transforms import CropForegroundd, SpatialCropd

    # the oracle: MONAI's own eager crops for the first three steps, the padding crop by numpy slicing
    theirs = Compose([
        SpatialCropd(KEYS, roi_start=(2, 1, 1), roi_end=(12, 11, 9)),
        CropForegroundd(KEYS, source_key="label", margin=3, select_fn=lambda x: x == 3),
        CropForegroundd(KEYS, source_key="label", margin=3, select_fn=lambda x: x == 3),
    ])(_sample(3))
    eager, lazy = chain(False)(_sample(3)), chain(True)(_sample(3))
    for key in KEYS:
        before = theirs[key].as_tensor().numpy()
        expected = np.full((1, 22, 22, 22), 7, dtype=before.dtype)  # roi (-2, -2, -2)-(20, 20, 20): 2 voxels of fill first
        size = [min(n, 20) for n in before.shape[1:]]
        expected[:, 2 : 2 + size[0], 2 : 2 + size[1], 2 : 2 + size[2]] = before[:, : size[0], : size[1], : size[2]]
        for name, out in (("eager", eager), ("lazy", lazy)):
            assert out[key].shape == expected.shape and np.array_equal(out[key].as_tensor().numpy(), expected), (name, key)
    assert (eager["image"].as_tensor() == 7).sum() > 0  # the last crop pads: with its fill, not with data
