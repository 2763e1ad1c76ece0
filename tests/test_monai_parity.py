"""Our transforms beside MONAI's, on the argument forms and inputs MONAI's own tests exercise.

Each case runs MONAI's transform (the outside oracle: the installed MONAI, whatever its version)
and ours on the same input and compares shape, affine, dtype and values: exactly where both
copy (crops, pads), within float32 round-off where both interpolate linearly, and only the grid
where ``docs/monai_dialect.md`` lists a deliberate difference (our centre-consistent
``nearest``, pad instead of clip for a box leaving the image, MONAI's 1-D affine translation).
Every case runs eagerly, under ``Compose(lazy=True)`` and through ``inverse``.

The forms follow MONAI's tests (``tests/transforms/test_spatial_crop.py``, ``test_spacing.py``,
``test_resize.py``, ``test_zoom.py``, ``test_crop_foreground.py``, ``inverse/test_inverse.py``,
``inverse/test_invert.py``, the ``RandCropBy*``/``RandWeightedCrop`` tests); the cases are ours.
``tests/parity/run_monai_tests.py`` runs MONAI's own files with our classes swapped in.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

import monai
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms.lazy.functional import apply_pending
from monai.transforms import (
    Compose,
    CropForeground,
    CropForegroundd,
    Invert,
    Invertd,
    RandCropByLabelClasses,
    RandCropByLabelClassesd,
    RandCropByPosNegLabel,
    RandCropByPosNegLabeld,
    RandWeightedCrop,
    RandWeightedCropd,
    Resize,
    Resized,
    Spacing,
    Spacingd,
    SpatialCrop,
    SpatialCropd,
    Zoom,
    Zoomd,
)

import monai_spacetx as mst
from monai_spacetx import (
    SpaceCrop,
    SpaceCropd,
    SpaceCropForeground,
    SpaceCropForegroundd,
    SpaceInvert,
    SpaceInvertd,
    SpaceResize,
    SpaceResized,
    SpaceSpacing,
    SpaceSpacingd,
    SpaceZoom,
    SpaceZoomd,
)

RNG = np.random.default_rng(31)
#: The installed MONAI: where its behaviour changed between versions, the suite follows it.
MONAI_VERSION = tuple(int(v) for v in monai.__version__.split("+")[0].split(".")[:2])


def _before_1_6_align_corners(args: dict[str, Any]) -> None:
    """MONAI before 1.6 wrote the wrong affine for ``align_corners=True`` in Resize/Zoom (fixed in 1.6)."""
    if args.get("align_corners") and MONAI_VERSION < (1, 6):
        pytest.skip(f"MONAI {monai.__version__}: Resize/Zoom's align_corners=True affine was fixed in 1.6")


def _image(shape: tuple[int, ...], affine: Any = None, dtype: Any = np.float32) -> MetaTensor:
    """Random integer values (so that a copy is recognisably exact), MONAI's 4x4 affine."""
    data = torch.as_tensor(RNG.integers(0, 100, size=shape).astype(dtype))
    return MetaTensor(data, affine=torch.eye(4, dtype=torch.float64) if affine is None else torch.as_tensor(affine, dtype=torch.float64))


OBLIQUE = np.array([[0.0, -1.2, 0.1, 4.0], [1.5, 0.0, 0.0, -3.0], [0.0, 0.1, 2.0, 7.5], [0.0, 0.0, 0.0, 1.0]])


def _same(ours: Any, theirs: Any, values: float | None = 0.0, affine: str = "all", dtype: bool = True) -> None:
    """Shape, affine, dtype and values of ours against MONAI's (``values=None``: the grid only)."""
    assert tuple(ours.shape) == tuple(theirs.shape), (tuple(ours.shape), tuple(theirs.shape))
    a, b = np.asarray(ours.affine, dtype=np.float64), np.asarray(theirs.affine, dtype=np.float64)
    if affine == "linear":  # MONAI's 1-D affine loses the translation (docs/monai_dialect.md)
        a, b = a[:-1, :-1], b[:-1, :-1]
    if affine != "none":  # "none": MONAI's affine is off, the caller checks ours by hand
        np.testing.assert_allclose(a, b, atol=1e-5)
    if dtype:
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if values is not None and ours.numel():
        o, t = torch.as_tensor(ours).double(), torch.as_tensor(theirs).double()
        if values == 0.0:
            assert torch.equal(o, t), float((o - t).abs().max())
        else:
            np.testing.assert_allclose(o.numpy(), t.numpy(), atol=values, rtol=0)


def _three_ways(ours_t: Callable[[], Any], theirs_t: Callable[[], Any], x: Any, values: float | None = 0.0, affine: str = "all", key: str | None = None) -> None:
    """Eager, ``Compose(lazy=True)`` and ``inverse``, ours against MONAI's."""
    get = (lambda d: d[key]) if key else (lambda d: d)
    ours, theirs = ours_t(), theirs_t()
    out_o, out_t = ours(x), theirs(x)
    _same(get(out_o), get(out_t), values, affine)
    lazy_o, lazy_t = Compose([ours_t()], lazy=True), Compose([theirs_t()], lazy=True)
    lo, lt = lazy_o(x), lazy_t(x)
    _same(get(lo), get(lt), None, affine, dtype=False)  # the grid of MONAI's lazy run
    _same(get(lo), get(out_t), values, affine, dtype=False)  # the values of its eager run (lazily MONAI interpolates "area" as linear)
    assert not get(lo).pending_operations
    inv_o, inv_t = ours.inverse(out_o), theirs.inverse(out_t)
    _same(get(inv_o), get(inv_t), None, affine, dtype=False)
    assert get(inv_o).applied_operations == []
    assert tuple(get(lazy_o.inverse(lo)).shape) == tuple(get(x).shape)


# ----------------------------------------------------------------------------- SpatialCrop(d)
CROPS = [  # the argument forms of MONAI's test_spatial_crop(d).py and test_inverse.py, on images inside the box
    {"roi_center": [4, 5, 3], "roi_size": [4, 5, 3]},
    {"roi_center": (4, 5, 3), "roi_size": 4},  # a scalar size with a per-axis centre
    {"roi_start": [0, 0, 0], "roi_end": [2, 2, 2]},
    {"roi_start": [1, 2], "roi_end": [4, 6]},  # fewer entries than axes: the leading ones
    {"roi_start": [1, 2, 0, 0, 0], "roi_end": [4, 6, 3, 9, 9]},  # more: the rest ignored
    {"roi_start": 2, "roi_end": 5},  # a scalar pair crops axis 0 only
    {"roi_slices": [slice(None), slice(None), slice(None)]},
    {"roi_slices": [slice(1, None), slice(None), slice(0, None)]},
    {"roi_slices": [slice(0, -1), slice(None), slice(None)]},
    {"roi_slices": [slice(-1, None), slice(-2, None), slice(0, 2)]},
    {"roi_slices": [slice(None), slice(None, -2), slice(-99, None)]},
    {"roi_slices": [slice(2, 5)]},
    {"roi_slices": [slice(-3, 4)] * 3},  # issue 26: empty, as MONAI's
    {"roi_start": [1, 0, 0], "roi_end": [1, 8, 7]},  # empty along axis 0
    {"roi_start": [3, 0, 0], "roi_end": [1, 8, 7]},  # an end below its start: empty
]


@pytest.mark.parametrize("args", CROPS, ids=lambda a: repr(a)[:60])
@pytest.mark.parametrize("form", ["array", "dict"])
def test_spatial_crop_forms(args: dict[str, Any], form: str) -> None:
    x = _image((2, 9, 10, 7), OBLIQUE)
    if form == "array":
        ours_t, theirs_t, data, key = (lambda: SpaceCrop(**args)), (lambda: SpatialCrop(**args)), x, None
    else:
        ours_t, theirs_t, data, key = (lambda: SpaceCropd("img", **args)), (lambda: SpatialCropd("img", **args)), {"img": x}, "img"
    get = (lambda d: d[key]) if key else (lambda d: d)
    if 0 in get(theirs_t()(data)).shape:  # eager: MONAI's empty image; lazy: both refuse (MONAI's resampler raises ValueError)
        out_o, out_t = ours_t()(data), theirs_t()(data)
        _same(get(out_o), get(out_t))
        with pytest.raises(ValueError):  # MONAI's test_lazy_error: its pending crop cannot be applied
            apply_pending(get(theirs_t()(data, lazy=True)), overrides={"mode": "nearest"})
        with pytest.raises(ValueError):
            ours_t()(data, lazy=True)
        return
    below = [s.start is not None and s.start < -n for s, n in zip(args.get("roi_slices", []), x.shape[1:])]
    if any(below):  # MONAI moves the affine by n + start although the data starts at voxel 0 there
        _three_ways(ours_t, theirs_t, data, key=key, affine="none")
        shift = np.eye(4)
        shift[:3, 3] = [s.indices(n)[0] for s, n in zip(args["roi_slices"], x.shape[1:])]
        np.testing.assert_allclose(np.asarray(get(ours_t()(data)).affine), np.asarray(x.affine) @ shift, atol=1e-12)
        return
    _three_ways(ours_t, theirs_t, data, key=key)
    for param in (np.asarray, torch.as_tensor):  # MONAI's tests pass the ROI as arrays and tensors too
        if "roi_slices" not in args:
            typed = {k: param(v) for k, v in args.items()}
            _same(get(SpaceCropd("img", **typed)({"img": x}) if key else SpaceCrop(**typed)(x)), get(theirs_t()(data)))


def test_spatial_crop_refuses_what_monai_refuses() -> None:
    with pytest.raises(ValueError):
        SpatialCrop(roi_slices=[slice(0, 4, 2)])
    with pytest.raises(ValueError):
        SpaceCrop(roi_slices=[slice(0, 4, 2)])
    with pytest.raises((ValueError, RuntimeError)):  # MONAI < 1.6: torch's broadcasting RuntimeError
        SpatialCrop(roi_start=[1, 2], roi_end=[4, 5, 6])
    with pytest.raises(ValueError):
        SpaceCrop(roi_start=[1, 2], roi_end=[4, 5, 6])


@pytest.mark.parametrize(
    "args, shape, first",
    [  # a box leaving the image: MONAI clips (a centre box's start moves to 0), ours pads (deliberate)
        ({"roi_start": [-1, 0], "roi_end": [5, 5]}, (1, 5, 5), [1, 0]),
        ({"roi_start": [0, 0, 0], "roi_end": [8, 8, 8]}, (1, 5, 5, 5), [0, 0, 0]),
        ({"roi_center": [1, 1, 1], "roi_size": [2, 2, 2]}, (1, 1, 1, 1), [0, 0, 0]),
    ],
)
def test_box_leaving_the_image_pads_where_monai_clips(args: dict[str, Any], shape: tuple[int, ...], first: list[int]) -> None:
    x = _image(shape)
    ours, theirs = SpaceCrop(**args)(x), SpatialCrop(**args)(x)
    inside = tuple(slice(f, f + n) for f, n in zip(first, theirs.shape[1:]))
    assert torch.equal(ours.as_tensor()[(slice(None), *inside)], theirs.as_tensor())  # MONAI's clipped box inside ours
    shift = np.eye(4)
    shift[: len(first), 3] = first
    np.testing.assert_allclose(np.asarray(ours.affine) @ shift, np.asarray(theirs.affine), atol=1e-9)
    assert float(ours.sum()) == float(theirs.sum())  # the rest is zero padding


# ----------------------------------------------------------------------------- CropForeground(d)
FOREGROUND = [
    {},
    {"margin": 1},
    {"margin": [2, 0, 1], "allow_smaller": True},
    {"margin": 3, "allow_smaller": False},
    {"k_divisible": [4, 3, 5]},
    {"k_divisible": 4, "mode": "edge"},
    {"channel_indices": 1, "select_fn": lambda v: v > 1},
    {"margin": 2, "mode": "constant", "constant_values": 7},
]


def _blob(shape: tuple[int, ...] = (2, 9, 10, 8)) -> MetaTensor:
    data = torch.zeros(shape)
    data[0, 2:5, 3:8, 1:4] = torch.as_tensor(RNG.integers(1, 9, size=(3, 5, 3)).astype(np.float32))
    data[1, 1:3, 4:6, 2:7] = 2.0
    return MetaTensor(data, affine=torch.as_tensor(OBLIQUE))


@pytest.mark.parametrize("args", FOREGROUND, ids=lambda a: repr(a)[:50])
def test_crop_foreground_forms(args: dict[str, Any]) -> None:
    x = _blob()
    _three_ways(lambda: SpaceCropForeground(**args), lambda: CropForeground(**args), x)
    _three_ways(lambda: SpaceCropForegroundd("img", "img", **args), lambda: CropForegroundd("img", "img", **args), {"img": x}, key="img")
    ours, theirs = SpaceCropForeground(return_coords=True, **args)(x), CropForeground(return_coords=True, **args)(x)
    assert [list(map(int, c)) for c in ours[1:]] == [list(map(int, c)) for c in theirs[1:]]


def test_crop_foreground_without_foreground_is_empty_as_monai() -> None:
    x = MetaTensor(torch.zeros(1, 5, 5))
    _same(SpaceCropForeground(k_divisible=10)(x), CropForeground(k_divisible=10)(x))
    with pytest.raises(ValueError):  # MONAI's test_lazy_error: lazily, both raise
        apply_pending(CropForeground(k_divisible=10)(x, lazy=True), overrides={"mode": "nearest"})
    with pytest.raises(ValueError):
        SpaceCropForeground(k_divisible=10)(x, lazy=True)


# ----------------------------------------------------------------------------- Spacing(d)
SPACINGS = [
    {"pixdim": 1.0},
    {"pixdim": [1.0, 2.0]},  # missing entries repeat the last
    {"pixdim": [1.0, 1.1, 1.4, 9.0]},  # extra ignored
    {"pixdim": [-1, 1.0, 0]},  # <= 0 keeps the input's
    {"pixdim": [1.1, 1.2, 0.9], "min_pixdim": [0.9, None, 1.2], "max_pixdim": [1.1, 1.1, None]},
    {"pixdim": [1.4, 1.2, 1.8], "min_pixdim": 1.0},
    {"pixdim": [1.3, 1.0, 1.7], "diagonal": True},
    {"pixdim": [1.3, 1.0, 1.7], "scale_extent": True, "align_corners": True},
    {"pixdim": [1.3, 1.0, 1.7], "padding_mode": "reflection", "dtype": np.float32},
]


@pytest.mark.parametrize("args", SPACINGS, ids=lambda a: repr(a)[:60])
def test_spacing_forms(args: dict[str, Any]) -> None:
    if args.get("align_corners") and MONAI_VERSION < (1, 6):
        pytest.skip(f"MONAI {monai.__version__} samples align_corners=True grids by its pre-1.6 rule (fixed in 1.6)")
    x = _image((1, 9, 10, 7), np.diag([1.5, 1.2, 2.0, 1.0]) if not args.get("diagonal") else OBLIQUE)
    x = x / 10.0
    _three_ways(lambda: SpaceSpacing(**args), lambda: Spacing(**args), x, values=2e-4)
    _three_ways(lambda: SpaceSpacingd("img", **args), lambda: Spacingd("img", **args), {"img": x}, values=2e-4, key="img")


def test_spacing_nearest_is_centre_consistent_the_grid_is_monais() -> None:
    x = _image((1, 9, 10, 7), np.diag([1.5, 1.2, 2.0, 1.0]))
    _three_ways(lambda: SpaceSpacing([1.1, 0.7, 1.3], mode="nearest"), lambda: Spacing([1.1, 0.7, 1.3], mode="nearest"), x, values=None)


def test_spacing_five_dimensional_input() -> None:
    x = MetaTensor(torch.ones(1, 2, 2, 2, 1), affine=torch.eye(4))
    args = {"pixdim": [-1, -1, 0.5], "padding_mode": "border", "align_corners": True}
    _same(SpaceSpacing(**args)(x), Spacing(**args)(x), values=1e-6, dtype=False)


def test_spacing_refuses_min_above_max_as_monai() -> None:
    for transform in (Spacing, SpaceSpacing):
        with pytest.raises(ValueError):
            transform(1.0, min_pixdim=[2.0, 1.0, 1.0], max_pixdim=[1.0, 1.0, 1.0])


# ----------------------------------------------------------------------------- Resize(d)
RESIZES = [
    {"spatial_size": (6, 13, -1)},
    {"spatial_size": (6, 13, 9), "mode": "trilinear"},
    {"spatial_size": (12, 7, 5), "mode": "trilinear", "align_corners": True},
    {"spatial_size": 11, "size_mode": "longest"},
    {"spatial_size": (5, 4, 3), "anti_aliasing": False},
    {"spatial_size": (14, 16, 12), "mode": "nearest-exact"},
]


@pytest.mark.parametrize("args", RESIZES, ids=lambda a: repr(a)[:60])
def test_resize_forms(args: dict[str, Any]) -> None:
    _before_1_6_align_corners(args)
    x = _image((2, 9, 10, 7), OBLIQUE) / 10.0
    _three_ways(lambda: SpaceResize(**args), lambda: Resize(**args), x, values=1e-4)
    _three_ways(lambda: SpaceResized("img", **args), lambda: Resized("img", **args), {"img": x}, values=1e-4, key="img")


def test_resize_more_entries_than_axes_adds_axes_as_monai() -> None:
    x = _image((1, 12, 10)) / 10.0
    ours, theirs = SpaceResize((8, 6, 4), mode="trilinear"), Resize((8, 6, 4), mode="trilinear")
    out_o, out_t = ours(x), theirs(x)
    _same(out_o, out_t, values=1e-4)
    _same(ours.inverse(out_o), theirs.inverse(out_t), values=None, dtype=False)  # the added axis goes again


# ----------------------------------------------------------------------------- Zoom(d)
ZOOMS = [
    {"zoom": 1.5},
    {"zoom": [0.6, 1.3, 1.0], "mode": "trilinear"},
    {"zoom": 0.7, "padding_mode": "constant", "constant_values": 3},  # kwargs go to the pad
    {"zoom": 0.6, "padding_mode": "reflect"},
    {"zoom": [1.3, 0.8, 1.1], "keep_size": False},
    {"zoom": 1.4, "mode": "trilinear", "align_corners": True, "keep_size": False},
]


@pytest.mark.parametrize("args", ZOOMS, ids=lambda a: repr(a)[:60])
def test_zoom_forms(args: dict[str, Any]) -> None:
    _before_1_6_align_corners(args)
    if "constant_values" in args and MONAI_VERSION < (1, 6):
        pytest.skip(f"MONAI {monai.__version__}'s Zoom keeps **kwargs but does not pass them to its pad (1.6 does)")
    x = _image((2, 9, 10, 7), OBLIQUE) / 10.0
    _three_ways(lambda: SpaceZoom(**args), lambda: Zoom(**args), x, values=1e-4)
    _three_ways(lambda: SpaceZoomd("img", **args), lambda: Zoomd("img", **args), {"img": x}, values=1e-4, key="img")


# ----------------------------------------------------------------------------- 1-D images (C, W)
ONE_D = [
    (lambda: SpaceCrop(roi_center=10, roi_size=13), lambda: SpatialCrop(roi_center=10, roi_size=13), "all"),
    (lambda: SpaceCrop(roi_start=4, roi_end=16), lambda: SpatialCrop(roi_start=4, roi_end=16), "all"),
    (lambda: SpaceCrop(roi_slices=[slice(3, -2)]), lambda: SpatialCrop(roi_slices=[slice(3, -2)]), "all"),
    (lambda: SpaceCropForeground(margin=1), lambda: CropForeground(margin=1), "all"),
    (lambda: SpaceZoom(2, keep_size=False), lambda: Zoom(2, keep_size=False), "linear"),
    (lambda: SpaceZoom(0.5, padding_mode="constant"), lambda: Zoom(0.5, padding_mode="constant"), "linear"),
    (lambda: SpaceResize(7, mode="linear"), lambda: Resize(7, mode="linear"), "linear"),
]


@pytest.mark.parametrize("ours_t, theirs_t, affine", ONE_D)
def test_one_dimensional_images(ours_t: Callable[[], Any], theirs_t: Callable[[], Any], affine: str) -> None:
    affine = "linear"  # MONAI's 1-D affines lose the translation (its rank-1 record); ours keep it (checked below)
    x = MetaTensor(torch.as_tensor(np.pad(np.arange(1.0, 11.0, dtype=np.float32), 5)[None]))
    ours, theirs = ours_t(), theirs_t()
    out_o, out_t = ours(x), theirs(x)
    _same(out_o, out_t, values=1e-5, affine=affine)
    inv_o, inv_t = ours.inverse(out_o), theirs.inverse(out_t)
    _same(inv_o, inv_t, values=None, affine=affine, dtype=False)
    np.testing.assert_allclose(np.asarray(inv_o.affine), np.asarray(x.affine), atol=1e-9)  # back where it was
    first = np.flatnonzero(out_o[0].numpy() == 1.0)  # value 1 sits at voxel 5 of the input: the affine says where
    if isinstance(ours, SpaceCrop) and first.size:
        assert float(out_o.affine[0, 3] + out_o.affine[0, 0] * first[0]) == pytest.approx(5.0)


# ----------------------------------------------------------------------------- the inverse table (test_inverse.py)
def _inverse_data(name: str) -> dict[str, MetaTensor]:
    if name.startswith("1D"):
        size = 10 if name == "1D even" else 11
        arr = torch.as_tensor(np.pad(np.arange(size, dtype=np.float32), 5)[None])
        return {k: MetaTensor(arr.clone()) for k in ("image", "label")}
    shape = (1, 31, 30) if name == "2D" else (1, 30, 31, 27)
    img = torch.zeros(shape)
    img[(0, *[slice(n // 4, 3 * n // 4) for n in shape[1:]])] = torch.as_tensor(RNG.random([n // 2 + n % 2 for n in shape[1:]]).astype(np.float32))
    affine = np.eye(4) if name == "2D" else OBLIQUE
    return {"image": MetaTensor(img, affine=torch.as_tensor(affine)), "label": MetaTensor((img > 0.5).float(), affine=torch.as_tensor(affine))}


INVERSE_TABLE = [  # (data, tolerance after forward + inverse, MONAI's, ours) from MONAI's invertibility table
    *[(name, 0.0, lambda t=t: t[0]("image label".split(), **t[1]), lambda t=t: t[2]("image label".split(), **t[1]))
      for name in ("1D even", "1D odd")
      for t in [
          (SpatialCropd, {"roi_center": 10, "roi_size": 13}, SpaceCropd),
          (SpatialCropd, {"roi_center": 11, "roi_size": 14}, SpaceCropd),
          (SpatialCropd, {"roi_start": 3, "roi_end": 17}, SpaceCropd),
          (SpatialCropd, {"roi_start": 4, "roi_end": 16}, SpaceCropd),
          (CropForegroundd, {"source_key": "label"}, SpaceCropForegroundd),
      ]],
    ("1D odd", 0.0, lambda: Zoomd(["image", "label"], zoom=2, keep_size=False), lambda: SpaceZoomd(["image", "label"], zoom=2, keep_size=False)),
    ("2D", 0.0, lambda: SpatialCropd(["image", "label"], [15, 14], [20, 19]), lambda: SpaceCropd(["image", "label"], [15, 14], [20, 19])),
    ("3D", 0.0, lambda: SpatialCropd(["image", "label"], roi_slices=[slice(None), slice(None, -2), slice(-22, None)]),
     lambda: SpaceCropd(["image", "label"], roi_slices=[slice(None), slice(None, -2), slice(-22, None)])),
    ("2D", 0.0, lambda: CropForegroundd(["image", "label"], source_key="label", margin=2), lambda: SpaceCropForegroundd(["image", "label"], source_key="label", margin=2)),
    ("3D", 0.0, lambda: CropForegroundd(["image", "label"], source_key="label", k_divisible=[5, 7, 2]),
     lambda: SpaceCropForegroundd(["image", "label"], source_key="label", k_divisible=[5, 7, 2])),
    ("3D", 3e-2, lambda: Spacingd(["image", "label"], [0.5, 0.7, 0.9], diagonal=False), lambda: SpaceSpacingd(["image", "label"], [0.5, 0.7, 0.9], diagonal=False)),
    ("2D", 2e-1, lambda: Resized(["image", "label"], [50, 47]), lambda: SpaceResized(["image", "label"], [50, 47])),
    ("3D", 5e-2, lambda: Resized(["image", "label"], 41, "longest", "trilinear", True), lambda: SpaceResized(["image", "label"], 41, "longest", "trilinear", True)),
    ("2D", 2e-1, lambda: Zoomd(["image", "label"], zoom=0.9), lambda: SpaceZoomd(["image", "label"], zoom=0.9)),
    ("3D", 3e-2, lambda: Zoomd(["image", "label"], zoom=[2.5, 1, 3], keep_size=False), lambda: SpaceZoomd(["image", "label"], zoom=[2.5, 1, 3], keep_size=False)),
]


@pytest.mark.parametrize("name, tolerance, theirs_t, ours_t", INVERSE_TABLE)
def test_inverse_table(name: str, tolerance: float, theirs_t: Callable[[], Any], ours_t: Callable[[], Any]) -> None:
    data = _inverse_data(name)
    theirs, ours = theirs_t(), ours_t()
    if getattr(theirs, "resizer", None) is not None and theirs.align_corners[0] and MONAI_VERSION < (1, 6):
        pytest.skip(f"MONAI {monai.__version__}: Resize's align_corners=True affine was fixed in 1.6")
    fwd_t, fwd_o = theirs(dict(data)), ours(dict(data))
    affine = "linear" if name.startswith("1D") else "all"  # MONAI's 1-D affines lose the translation
    for key in ("image", "label"):
        _same(fwd_o[key], fwd_t[key], values=1e-4 if tolerance else 0.0, affine=affine, dtype=False)
    back_t, back_o = theirs.inverse(fwd_t), ours.inverse(fwd_o)
    for key in ("image", "label"):
        _same(back_o[key], back_t[key], values=None, affine=affine, dtype=False)
        # MONAI's own acceptance: the mean difference to the original within its tolerance
        assert float((back_o[key].float() - data[key].float()).abs().mean()) <= tolerance + 1e-6
        assert back_o[key].applied_operations == []


# ----------------------------------------------------------------------------- Invert(d)
def test_invert_takes_monais_signature() -> None:
    ours = list(inspect.signature(SpaceInvert).parameters)
    theirs = list(inspect.signature(Invert).parameters)
    assert ours[: len(theirs)] == theirs
    for name in ours[len(theirs) :]:
        assert inspect.signature(SpaceInvert).parameters[name].kind is inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize("form", ["array", "dict"])
def test_invert_gives_monais_native_grid(form: str) -> None:
    data = _inverse_data("3D")
    if form == "array":  # MONAI's test_invert: Invert(transform=an array Compose) on the transformed image
        transform = Compose([SpaceSpacing([0.8, 0.9, 1.1], mode="nearest"), SpaceCrop(roi_center=[12, 14, 11], roi_size=[16, 18, 14])])
        out = transform(data["label"])
        theirs = Invert(transform=transform, nearest_interp=True)(out.clone())
        ours = SpaceInvert(transform, True)(out)
    else:
        transform = Compose([
            SpaceSpacingd(["image", "label"], [0.8, 0.9, 1.1], mode=["bilinear", "nearest"]),
            SpaceCropd(["image", "label"], roi_center=[12, 14, 11], roi_size=[16, 18, 14]),
        ])
        out = transform(dict(data))
        theirs = Invertd("label", transform=transform, orig_keys="label", nearest_interp=True)(dict(out))["label"]
        ours = SpaceInvertd("label", transform=transform, orig_keys="label", nearest_interp=True)(dict(out))["label"]
    _same(ours, theirs, values=None, dtype=False)
    inside = theirs.as_tensor() != 0
    assert torch.equal(ours.as_tensor()[inside], data["label"].as_tensor()[inside])  # the grid is finer: exact where MONAI kept it


@pytest.mark.parametrize("form", ["array", "dict"])
def test_invert_of_an_empty_crop_is_zeros_on_the_native_grid_as_monai(form: str) -> None:
    x = _image((1, 6, 7), np.array([[0.0, -1.2, 0.0, 4.0], [1.5, 0.0, 0.0, -3.0], [0.0, 0.0, 2.0, 7.5], [0.0, 0.0, 0.0, 1.0]]))
    if form == "dict":
        outs = []
        for crop, invert in ((SpatialCropd, Invertd), (SpaceCropd, SpaceInvertd)):
            transform = Compose([crop("img", roi_start=[2, 2], roi_end=[2, 5])])
            out = transform({"img": x})
            out["pred"] = out["img"].clone()
            outs.append(invert("pred", transform=transform, orig_keys="img")(out)["pred"])
        theirs, ours = outs
    else:
        transform = Compose([SpaceCrop(roi_start=[2, 2], roi_end=[2, 5])])
        out = transform(x)
        theirs, ours = Invert(transform)(out.clone()), SpaceInvert(transform)(out)
    _same(ours, theirs, dtype=False)
    np.testing.assert_allclose(np.asarray(ours.affine), np.asarray(x.affine))


# ----------------------------------------------------------------------------- the sampling crops
def _labelled() -> dict[str, MetaTensor]:
    label = torch.zeros(1, 12, 11, 9)
    label[0, 3:8, 2:7, 2:6] = 1
    label[0, 8:10, 7:9, 5:8] = 2
    image = torch.as_tensor(RNG.random((2, 12, 11, 9)).astype(np.float32))
    return {"image": MetaTensor(image, affine=torch.as_tensor(OBLIQUE)), "label": MetaTensor(label, affine=torch.as_tensor(OBLIQUE))}


SAMPLERS = [
    (lambda m: m(["image", "label"], "label", [4, 5, 3], pos=1, neg=1, num_samples=3), RandCropByPosNegLabeld, "SpaceRandCropByPosNegLabeld"),
    (lambda m: m(["image", "label"], "label", [4, 5, 3], pos=2, neg=1, num_samples=4, image_key="image", image_threshold=0.5), RandCropByPosNegLabeld, "SpaceRandCropByPosNegLabeld"),
    (lambda m: m(["image", "label"], "label", [4, -1, 3], ratios=[1, 2, 3], num_classes=3, num_samples=3), RandCropByLabelClassesd, "SpaceRandCropByLabelClassesd"),
    (lambda m: m(["image", "label"], "label", [5, 4, 3], num_samples=3), RandWeightedCropd, "SpaceRandWeightedCropd"),
]


@pytest.mark.parametrize("make, monai_t, ours_name", SAMPLERS)
def test_sampling_crops_choose_monais_boxes(make: Callable[[Any], Any], monai_t: Any, ours_name: str) -> None:
    ours_t = getattr(mst, ours_name, None)
    if ours_t is None:
        pytest.skip(f"{ours_name} is not in this version of monai_spacetx")
    data = _labelled()
    theirs, ours = make(monai_t), make(ours_t)
    theirs.set_random_state(7)
    ours.set_random_state(7)
    out_t, out_o = theirs(dict(data)), ours(dict(data))
    lazy = make(ours_t)
    chain = Compose([lazy], lazy=True)  # Compose seeds its transforms: seed ours after it
    lazy.set_random_state(7)
    out_l = chain(dict(data))  # lazily: the same boxes, the same copies
    assert len(out_o) == len(out_t) == len(out_l)
    for sample_o, sample_t, sample_l in zip(out_o, out_t, out_l):
        for key in ("image", "label"):
            _same(sample_o[key], sample_t[key])
            _same(sample_l[key], sample_t[key])
        if hasattr(theirs, "inverse"):  # MONAI's RandWeightedCropd has none
            back_o, back_t = ours.inverse(sample_o), theirs.inverse(sample_t)
            for key in ("image", "label"):
                _same(back_o[key], back_t[key], values=None, dtype=False)


ARRAY_SAMPLERS = [
    (lambda m, d: m([4, 5, 3], label=d["label"], pos=1, neg=1, num_samples=3), RandCropByPosNegLabel, "SpaceRandCropByPosNegLabel"),
    (lambda m, d: m([4, 5, 3], ratios=[1, 1, 2], label=d["label"], num_classes=3, num_samples=2), RandCropByLabelClasses, "SpaceRandCropByLabelClasses"),
    (lambda m, d: m([5, 4, 3], num_samples=2, weight_map=d["label"]), RandWeightedCrop, "SpaceRandWeightedCrop"),
]


@pytest.mark.parametrize("make, monai_t, ours_name", ARRAY_SAMPLERS)
def test_array_sampling_crops_choose_monais_boxes(make: Callable[[Any, Any], Any], monai_t: Any, ours_name: str) -> None:
    ours_t = getattr(mst, ours_name, None)
    if ours_t is None:
        pytest.skip(f"{ours_name} is not in this version of monai_spacetx")
    data = _labelled()
    theirs, ours = make(monai_t, data), make(ours_t, data)
    theirs.set_random_state(3)
    ours.set_random_state(3)
    out_t, out_o = theirs(data["image"]), ours(data["image"])
    assert len(out_o) == len(out_t)
    for sample_o, sample_t in zip(out_o, out_t):
        _same(sample_o, sample_t)
