"""The MONAI counterparts side by side with MONAI: same signature, same input, compared output.

Each test runs one input through MONAI's transform and ours and compares shapes, affines (to
1e-9 mm unless said) and values with the tightest tolerance that holds: bit for bit for copies
and pads, float32 round-off for linear and area resampling. Where we differ on purpose, the test
says so and checks what we do instead (``docs/monai_dialect.md`` lists each difference).
"""

from __future__ import annotations

import inspect
import warnings

import monai
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (
    Compose,
    CropForeground,
    CropForegroundd,
    Invertd,
    Resize,
    Resized,
    Spacing,
    Spacingd,
    SpatialCrop,
    SpatialCropd,
    SpatialPadd,
    Zoom,
    Zoomd,
)

import monai_spacetx as mst
import oracles
from monai_spacetx import (
    SpaceCrop,
    SpaceCropd,
    SpaceCropForeground,
    SpaceCropForegroundd,
    SpaceInvertd,
    SpaceResample,
    SpaceResampled,
    SpaceResize,
    SpaceResized,
    SpaceSpacing,
    SpaceSpacingd,
    SpaceZoom,
    SpaceZoomd,
)
from monai.utils import version_leq

#: MONAI before 1.6 wrote a wrong output affine for ``align_corners=True`` in Resize, Zoom and
#: Spacing(scale_extent=True) (its values were right); 1.6 fixed it, and our geometry is 1.6's. On an
#: older MONAI those cases compare the values only (the affine is held to MONAI >= 1.6 in CI's other rows).
MONAI_CORNERS_AFFINE_FIXED = version_leq("1.6", monai.__version__)


def _affine_atol(kwargs: dict) -> float | None:
    """The affine tolerance of a case with these arguments: ``None`` (not compared) where MONAI's affine is the old one."""
    return 1e-9 if MONAI_CORNERS_AFFINE_FIXED or kwargs.get("align_corners") is not True else None

ALL_PAD_MODES = [
    "constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric", "wrap",
    "replicate", "circular",
]  # fmt: skip


def _oblique(shape=(20, 22, 12), spacing=(0.9, 1.1, 2.0), seed=0) -> MetaTensor:
    """A random image on an oblique, anisotropic grid with a far origin."""
    rng = np.random.default_rng(seed)
    angle = 0.3
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    affine = np.eye(4)
    affine[:3, :3] = rot * np.asarray(spacing)
    affine[:3, 3] = (-120.5, 37.25, 410.0)
    return MetaTensor(torch.as_tensor(rng.random((1, *shape)), dtype=torch.float32), affine=torch.as_tensor(affine))


def _axis_aligned_2d() -> MetaTensor:
    """A 2-D image with MONAI's 3x3 affine (what a 2-D in-memory MetaTensor or a PNG reader gives)."""
    affine = torch.tensor([[0.9, 0.0, 3.0], [0.0, -1.1, 4.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return MetaTensor(torch.rand(2, 17, 23, generator=torch.Generator().manual_seed(3)), affine=affine)


def _nearest_oracle(image: MetaTensor, out: MetaTensor, fill: float = 0.0) -> np.ndarray:
    """Centre-consistent nearest, brute force: each target centre reads the source voxel whose box
    contains it (``floor(x + 0.5)``), ``fill`` where the centre lies outside the source field of view."""
    source, target = mst.Space.from_metatensor(image), mst.Space.from_metatensor(out)
    matrix = mst.index_map(target, source)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in target.shape], indexing="ij"), -1).reshape(-1, target.ndim)
    x = grid @ matrix[:-1, :-1].T + matrix[:-1, -1]
    n = np.array(source.shape)
    inside = np.all((x >= -0.5) & (x <= n - 0.5), axis=1)
    idx = np.clip(np.floor(x + 0.5).astype(int), 0, n - 1)
    data = image.as_tensor().numpy()
    values = data[(slice(None), *idx.T)]
    return np.where(inside, values, fill).reshape(data.shape[0], *target.shape)


def _compare(theirs: torch.Tensor, ours: torch.Tensor, atol: float = 2e-6, affine_atol: float | None = 1e-9) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert tuple(ours.affine.shape) == tuple(theirs.affine.shape)
    if affine_atol is not None:
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=affine_atol)
    np.testing.assert_allclose(ours.as_tensor().float().numpy(), theirs.as_tensor().float().numpy(), rtol=0, atol=atol)


# ----------------------------------------------------------------------------- 1. signatures
PAIRS = [
    (Spacing, SpaceSpacing),
    (Spacingd, SpaceSpacingd),
    (Resize, SpaceResize),
    (Resized, SpaceResized),
    (Zoom, SpaceZoom),
    (Zoomd, SpaceZoomd),
    (CropForegroundd, SpaceCropForegroundd),
    (CropForeground, SpaceCropForeground),
    (SpatialCropd, SpaceCropd),
    (SpatialCrop, SpaceCrop),
    (Invertd, SpaceInvertd),
]


@pytest.mark.parametrize("theirs, ours", PAIRS, ids=[p[1].__name__ for p in PAIRS])
def test_signature_is_monais(theirs, ours):
    """Names, positional order, kinds and defaults of every MONAI argument; ours only keyword-only after them."""
    for method in ("__init__", "__call__"):
        if method == "__call__" and (ours.__name__.endswith("d") or "Crop" in ours.__name__):
            continue  # MapTransform.__call__(data, lazy) for both; the crops' calls take ours (box, options)
        mine = list(inspect.signature(getattr(ours, method)).parameters.values())
        monai = list(inspect.signature(getattr(theirs, method)).parameters.values())
        plain = [p for p in monai if p.kind is not p.VAR_KEYWORD]
        assert [p.name for p in mine[: len(plain)]] == [p.name for p in plain]
        for a, b in zip(mine, plain):
            assert a.kind == b.kind, (method, a.name)
            if b.default is b.empty and a.default is not a.empty:
                continue  # required in MONAI, optional here (Invertd's transform: we read the geometry from the affine)
            assert a.default is b.default or a.default == b.default, (method, a.name, a.default, b.default)
        extra = mine[len(plain) :]
        assert all(p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD) for p in extra), (method, [p.name for p in extra])
        assert any(p.kind is p.VAR_KEYWORD for p in mine) == any(p.kind is p.VAR_KEYWORD for p in monai)


def test_the_new_names_are_exported_for_bundle_configs():
    for name in ("SpaceSpacing", "SpaceSpacingd", "SpaceResize", "SpaceResized", "SpaceZoom", "SpaceZoomd"):
        assert getattr(mst, name) is getattr(mst.transforms, name)
        assert name in mst.__all__ and name in dir(mst)


def test_the_general_resample_refuses_a_positional_grid():
    """``SpaceResampled("x", (-1, 16, 17))`` was read as a pixdim (shape (1, 10, 2, 2)); now it is refused."""
    with pytest.raises(mst.SpaceTypeError, match=r"SpaceResampled takes its grid by name .*\(-1, 16, 17\).* SpaceResized \(Resized\)"):
        SpaceResampled("x", (-1, 16, 17))
    with pytest.raises(mst.SpaceTypeError, match=r"SpaceResample takes its grid by name .* SpaceSpacing \(Spacing\)"):
        SpaceResample((1.0, 1.0, 1.0))
    image = MetaTensor(torch.rand(1, 10, 4, 4))
    theirs = Resized("x", (-1, 16, 17))({"x": image})["x"]
    ours = SpaceResized("x", (-1, 16, 17))({"x": image})["x"]
    assert ours.shape == theirs.shape == (1, 10, 16, 17)
    _compare(theirs, ours)


# ----------------------------------------------------------------------------- 2. Spacingd
SPACINGS = {
    "plain": dict(pixdim=(1.3, 1.3, 1.5)),
    "positional": dict(),  # pixdim positional, below
    "one number": dict(pixdim=1.4),
    "non-positive keeps": dict(pixdim=(1.2, -1, 0)),
    "within AFFINE_TOL keeps": dict(pixdim=(0.9005, 1.5, 1.5)),
    "diagonal": dict(pixdim=(1.3, 1.3, 1.5), diagonal=True),
    "scale_extent": dict(pixdim=(1.3, 0.8, 1.5), scale_extent=True, align_corners=True),
    "min max scalars": dict(pixdim=(0.5, 0.5, 0.5), min_pixdim=0.4, max_pixdim=1.0),
    "min max per axis": dict(pixdim=(0.7, 0.7, 1.0), min_pixdim=(0.5, 0.5, 0.5), max_pixdim=(1.0, 1.0, 3.0)),
    "float32 compute": dict(pixdim=(1.7, 0.6, 2.5), dtype=np.float32),
}


@pytest.mark.parametrize("name", sorted(SPACINGS))
def test_spacingd_matches_monai(name):
    image = _oblique()
    kwargs = SPACINGS[name]
    if name == "positional":
        theirs = Spacingd("img", (1.7, 1.1, 2.3), False, "bilinear", "border")({"img": image})["img"]
        ours = SpaceSpacingd("img", (1.7, 1.1, 2.3), False, "bilinear", "border")({"img": image})["img"]
    else:
        theirs = Spacingd("img", **kwargs)({"img": image})["img"]
        ours = SpaceSpacingd("img", **kwargs)({"img": image})["img"]
    if kwargs.get("scale_extent") and not MONAI_CORNERS_AFFINE_FIXED:
        # MONAI < 1.6 also resampled onto that old affine here (its values differ from 1.6's and ours): the shape is the same
        assert tuple(ours.shape) == tuple(theirs.shape)
        return
    _compare(theirs, ours, atol=5e-6 if name == "float32 compute" else 1e-6, affine_atol=_affine_atol(kwargs))


def test_spacingd_nearest_is_centre_consistent():
    """Deliberate difference: MONAI's ``nearest`` (grid_sample on float32 normalised coordinates) takes
    a neighbour of the voxel containing the centre for about 10% of these voxels; ours takes that
    voxel (brute-force oracle). Geometry as MONAI's."""
    image = _oblique()
    kwargs = dict(pixdim=(1.7, 0.6, 2.5), mode="nearest", padding_mode="zeros")
    theirs = Spacingd("img", **kwargs)({"img": image})["img"]
    ours = SpaceSpacingd("img", **kwargs)({"img": image})["img"]
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours.numpy(), _nearest_oracle(image, ours))
    assert 0.05 < float((ours.as_tensor() != theirs.as_tensor()).float().mean()) < 0.2


def test_spacing_2d_keeps_a_3x3_affine():
    image = _axis_aligned_2d()
    theirs = Spacing((1.3, 0.7))(image)
    ours = SpaceSpacing((1.3, 0.7))(image)
    assert ours.affine.shape == (3, 3)
    _compare(theirs, ours, atol=1e-6)


def test_ensure_same_shape_as_monai():
    """Two nearly identical oblique grids whose own Spacing shapes differ (a rounding tie at 3.5)."""
    rot = _oblique().affine.numpy()[:3, :3] / np.array([0.9, 1.1, 2.0])
    affines = []
    for eps in (1e-7, -1e-7):
        a = np.eye(4)
        a[:3, :3] = rot * np.array([1.0 + eps, 1.0, 1.0])
        affines.append(torch.as_tensor(a))
    data = {k: MetaTensor(torch.rand(1, 11, 9, 9), affine=a) for k, a in zip(("image", "label"), affines)}
    for same in (True, False):
        theirs = Spacingd(["image", "label"], (4.0, 2.0, 2.0), ensure_same_shape=same)(dict(data))
        ours = SpaceSpacingd(["image", "label"], (4.0, 2.0, 2.0), ensure_same_shape=same)(dict(data))
        for key in ("image", "label"):
            _compare(theirs[key], ours[key], atol=1e-6)
        assert (ours["image"].shape == ours["label"].shape) == same
    assert tuple(ours["image"].shape[1:2]) == (4,) and tuple(ours["label"].shape[1:2]) == (3,)


def test_spacingd_per_key_options_as_lists():
    image = _oblique()
    label = MetaTensor((image > 0.5).to(torch.uint8), affine=image.affine)
    args = (["img", "seg"], (1.3, 0.8, 1.7))
    kwargs = dict(mode=["bilinear", "nearest"], padding_mode=["border", "zeros"], align_corners=[False, True], dtype=[np.float64, None])
    theirs = Spacingd(*args, **kwargs)({"img": image, "seg": label})
    ours = SpaceSpacingd(*args, **kwargs)({"img": image, "seg": label})
    _compare(theirs["img"], ours["img"], atol=1e-6)
    assert ours["seg"].shape == theirs["seg"].shape
    np.testing.assert_allclose(ours["seg"].affine.numpy(), theirs["seg"].affine.numpy(), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours["seg"].numpy(), _nearest_oracle(label, ours["seg"]))
    assert ours["seg"].dtype == torch.uint8  # deliberate: MONAI returns float32, ours keeps the label's dtype


def test_spacing_values_we_refuse_say_why():
    """MONAI's scipy path (spline orders 2, 4, 5 and scipy's padding names) is refused with the reason."""
    with pytest.raises(mst.ModeError, match=r"^mode for key 'img' .* got 4 \(spline orders 2, 4 and 5 are not supported"):
        SpaceSpacingd("img", 1.0, mode=4)
    with pytest.raises(mst.ModeError, match=r"^padding_mode for key 'img' .* got 'grid-wrap' \(scipy's names"):
        SpaceSpacingd("img", 1.0, mode=3, padding_mode="grid-wrap")


def test_recompute_affine_keeps_the_world_position():
    """Deliberate difference: MONAI 1.6.1 writes the bare index scaling as the affine (origin and
    direction lost); ours resamples the field of view onto the rounded shape, affine and data agreeing."""
    image = _oblique()
    theirs = Spacing((1.3, 1.3, 1.5), recompute_affine=True)(image)
    ours = SpaceSpacing((1.3, 1.3, 1.5), recompute_affine=True)(image)
    assert ours.shape == theirs.shape
    linear = theirs.affine.numpy()[:3, :3]
    assert np.array_equal(linear, np.diag(np.diag(linear))) and abs(float(theirs.affine[0, 3])) < 1  # MONAI's: no rotation, no origin
    expected = mst.Space.from_metatensor(image).resize(tuple(theirs.shape[1:]), align="edges")
    assert mst.get_space(ours) == expected
    assert mst.Space.from_metatensor(ours) == expected


def test_spacing_counterpart_is_inverted_by_monai_invertd():
    image = _oblique()
    pre = Compose([SpaceSpacingd("img", (1.3, 1.3, 1.5), mode="nearest")])
    out = pre({"img": image})
    back = Invertd("img", pre, nearest_interp=True)(out)["img"]
    assert back.shape == image.shape
    np.testing.assert_allclose(back.affine.numpy(), image.affine.numpy(), atol=1e-9)
    # the values: MONAI's own nearest resample of the working image back onto the native grid
    from monai.transforms import SpatialResample

    working = MetaTensor(out["img"].as_tensor(), affine=out["img"].affine)
    expected = SpatialResample(mode="nearest", padding_mode="zeros")(working, dst_affine=image.affine, spatial_size=image.shape[1:])
    assert torch.equal(back.as_tensor(), expected.as_tensor())
    assert float((back.as_tensor() == image.as_tensor()).float().mean()) > 0.5  # and mostly the native values


# ----------------------------------------------------------------------------- 3. Resized: area and the per-key options
RESIZES = {
    "default area shrink": dict(spatial_size=(10, 11, 6)),
    "area uneven": dict(spatial_size=(7, 9, 5)),
    "area grow": dict(spatial_size=(31, 40, 12)),
    "area keep axis": dict(spatial_size=(7, 0, -1)),
    "longest": dict(spatial_size=25, size_mode="longest"),
    "trilinear": dict(spatial_size=(10, 11, 6), mode="trilinear"),
    "trilinear corners": dict(spatial_size=(10, 31, 6), mode="trilinear", align_corners=True),
    "nearest-exact": dict(spatial_size=(13, 9, 7), mode="nearest-exact"),
    "bicubic": dict(spatial_size=(13, 9, 7), mode="trilinear", dtype=np.float64),
}


@pytest.mark.parametrize("name", sorted(RESIZES))
def test_resized_matches_monai(name):
    image = _oblique()
    theirs = Resized("img", **RESIZES[name])({"img": image})["img"]
    ours = SpaceResized("img", **RESIZES[name])({"img": image})["img"]
    # area: the same windows and weights as F.interpolate's adaptive average pooling
    # nearest-exact is centre-consistent in both; linear and area to float32 round-off
    _compare(theirs, ours, atol=0 if "nearest" in name else 2e-6, affine_atol=_affine_atol(RESIZES[name]))


def test_resize_area_2d_with_3x3_affine():
    image = _axis_aligned_2d()
    _compare(Resize((5, 7))(image), SpaceResize((5, 7))(image), atol=1e-6)


def test_area_is_the_block_mean():
    """An independent oracle: shrinking by an integer factor averages whole blocks."""
    image = MetaTensor(torch.rand(1, 12, 9, 6, dtype=torch.float64))
    ours = SpaceResize((4, 3, 2), dtype=None)(image)  # computed in the input's float64
    blocks = image.as_tensor().reshape(1, 4, 3, 3, 3, 2, 3).mean(dim=(2, 4, 6))
    torch.testing.assert_close(ours.as_tensor(), blocks, rtol=0, atol=1e-12)


def test_area_refuses_a_rotated_resample():
    image = _oblique()
    with pytest.raises(mst.ModeError, match="mode 'area' .* needs an axis-aligned resample"):
        SpaceSpacing((1.3, 1.3, 1.5), diagonal=True, mode="area")(image)


def test_resized_per_key_options():
    """Per key mode, align_corners, anti_aliasing and sigma (a per-axis sigma for one key is [[...]], as MONAI)."""
    image = _oblique(shape=(40, 44, 24))
    data = {"a": image, "b": image.clone(), "c": image.clone()}
    kwargs = dict(
        mode=["area", "trilinear", "trilinear"],
        align_corners=[None, True, False],
        anti_aliasing=[False, False, True],
        anti_aliasing_sigma=[None, None, (1.0, 0.5, 0.0)],
    )
    theirs = Resized(["a", "b", "c"], (11, 13, 12), **kwargs)(dict(data))
    ours = SpaceResized(["a", "b", "c"], (11, 13, 12), **kwargs)(dict(data))
    _compare(theirs["a"], ours["a"], atol=2e-6)
    _compare(theirs["b"], ours["b"], atol=5e-6, affine_atol=_affine_atol({"align_corners": True}))
    # anti-aliasing: MONAI's Gaussian pads with zeros, ours replicates the edge (docs): compare the
    # voxels whose kernel (4 sigma) stays inside the image
    np.testing.assert_allclose(ours["c"].affine.numpy(), theirs["c"].affine.numpy(), atol=1e-9)
    inner = (slice(None), slice(2, -2), slice(1, -1), slice(None))
    np.testing.assert_allclose(ours["c"].numpy()[inner], theirs["c"].numpy()[inner], atol=1e-5)
    assert not np.allclose(ours["c"].numpy(), theirs["c"].numpy(), atol=1e-3)  # the borders do differ


# ----------------------------------------------------------------------------- 4. Zoomd and every pad mode
@pytest.mark.parametrize("padding_mode", ALL_PAD_MODES)
def test_zoomd_out_pads_like_monai(padding_mode):
    image = _oblique()
    theirs = Zoomd("img", 0.6, padding_mode=padding_mode)({"img": image})["img"]
    ours = SpaceZoomd("img", 0.6, padding_mode=padding_mode)({"img": image})["img"]
    _compare(theirs, ours, atol=1e-6)


ZOOMS = {
    "in crops": dict(zoom=1.3),
    "uneven crop": dict(zoom=(1.1, 0.9, 1.25), mode="bilinear"),
    "even zoomed, odd kept": dict(zoom=(1.2, 1.0, 1.0), mode="trilinear"),  # 24 -> 20: MONAI's centre-crop start
    "no keep": dict(zoom=0.55, keep_size=False),
    "corners": dict(zoom=1.5, mode="trilinear", align_corners=True),
    "constant value": dict(zoom=0.7, padding_mode="constant", constant_values=2.5),
}


@pytest.mark.parametrize("name", sorted(ZOOMS))
def test_zoomd_matches_monai(name):
    image = _oblique()
    kwargs = dict(ZOOMS[name])
    theirs = Zoomd("img", **kwargs)({"img": image})["img"]
    ours = SpaceZoomd("img", **kwargs)({"img": image})["img"]
    if "constant_values" in kwargs and not version_leq("1.5", monai.__version__):
        # MONAI 1.4's Zoom padded with 0 whatever constant_values said (fixed in 1.5): where it padded, ours holds
        # the value asked for; everywhere else the two agree
        t, o = theirs.as_tensor(), ours.as_tensor()
        padded = (t == 0) & (o == kwargs["constant_values"])
        assert bool(padded.any()) and tuple(o.shape) == tuple(t.shape)
        np.testing.assert_allclose(o[~padded].numpy(), t[~padded].numpy(), rtol=0, atol=5e-6)
        return
    _compare(theirs, ours, atol=5e-6, affine_atol=_affine_atol(kwargs))


def test_zoomd_per_key_lists_and_empty_padding():
    image = _oblique()
    data = {"a": image, "b": image.clone()}
    kwargs = dict(mode=["area", "trilinear"], padding_mode=["minimum", "empty"], align_corners=[None, True])
    theirs = Zoomd(["a", "b"], 0.7, **kwargs)(dict(data))
    ours = SpaceZoomd(["a", "b"], 0.7, **kwargs)(dict(data))
    _compare(theirs["a"], ours["a"], atol=2e-6)
    # "empty" leaves the padded voxels undefined (np.pad): the zoomed part is compared
    inner = (slice(None), slice(3, 17), slice(3, 18), slice(2, 10))
    assert ours["b"].shape == theirs["b"].shape
    np.testing.assert_allclose(ours["b"].numpy()[inner], theirs["b"].numpy()[inner], rtol=0, atol=5e-6)


def test_zoom_2d_keeps_a_3x3_affine():
    image = _axis_aligned_2d()
    _compare(Zoom(0.7, padding_mode="reflect")(image), SpaceZoom(0.7, padding_mode="reflect")(image), atol=1e-6)


# ----------------------------------------------------------------------------- 5. crops and pads: every pad mode, bit for bit
def _blob() -> MetaTensor:
    img = torch.zeros(1, 12, 10, 8)
    img[0, 0:5, 3:9, 2:8] = torch.rand(5, 6, 6, generator=torch.Generator().manual_seed(5)) + 1
    return MetaTensor(img, affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))


@pytest.mark.parametrize("mode", ALL_PAD_MODES)
def test_crop_foreground_every_pad_mode_bit_for_bit(mode):
    """The box leaves the image on one side (margin 3 at the top of axis 0)."""
    image = _blob()
    theirs = CropForegroundd("img", "img", margin=3, mode=mode)({"img": image})
    ours = SpaceCropForegroundd("img", "img", margin=3, mode=mode)({"img": image})
    assert torch.equal(ours["img"].as_tensor(), theirs["img"].as_tensor())
    np.testing.assert_array_equal(ours["img"].affine.numpy(), theirs["img"].affine.numpy())
    np.testing.assert_array_equal(ours["foreground_start_coord"], theirs["foreground_start_coord"])


@pytest.mark.parametrize("mode", ALL_PAD_MODES)
def test_spatial_pad_every_pad_mode_bit_for_bit(mode):
    image = _blob()
    theirs = SpatialPadd("img", (20, 14, 13), mode=mode)({"img": image})["img"]
    before = np.array([4, 2, 2])  # MONAI's symmetric split of (8, 4, 5)
    ours = SpaceCropd("img", roi_start=-before, roi_end=np.array([12, 10, 8]) + (np.array([20, 14, 13]) - [12, 10, 8] - before), padding_mode=mode)(
        {"img": image}
    )["img"]
    assert torch.equal(ours.as_tensor(), theirs.as_tensor())
    np.testing.assert_array_equal(ours.affine.numpy(), theirs.affine.numpy())


def test_pad_kwargs_reach_the_pad():
    image = _blob()
    for kwargs in (dict(mode="constant", constant_values=7), dict(mode="linear_ramp", end_values=3), dict(mode="maximum", stat_length=2)):
        theirs = CropForegroundd("img", "img", margin=3, **kwargs)({"img": image})["img"]
        ours = SpaceCropForegroundd("img", "img", margin=3, **kwargs)({"img": image})["img"]
        assert torch.equal(ours.as_tensor(), theirs.as_tensor()), kwargs


def test_crop_foreground_array_form_returns_coords_and_pads():
    image = _blob()
    theirs, t_start, t_end = CropForeground(margin=3, return_coords=True, mode="median")(image)
    ours, o_start, o_end = SpaceCropForeground(margin=3, return_coords=True, mode="median")(image)
    assert torch.equal(ours.as_tensor(), theirs.as_tensor())
    np.testing.assert_array_equal(o_start, t_start)
    np.testing.assert_array_equal(o_end, t_end)
    theirs = SpatialCrop(roi_start=(-2, 1, 0), roi_end=(9, 12, 8))(image)  # MONAI clips the box to the image
    ours = SpaceCrop(roi_start=(-2, 1, 0), roi_end=(9, 12, 8), padding_mode="wrap")(image)  # ours pads it (documented)
    assert ours.shape == (1, 11, 11, 8) and theirs.shape == (1, 9, 9, 8)
    assert torch.equal(ours.as_tensor()[:, 2:, :9], theirs.as_tensor())
    assert torch.equal(ours.as_tensor()[:, :2, :9], image.as_tensor()[:, -2:, 1:10])  # wrapped


def test_crop_foreground_2d_keeps_a_3x3_affine():
    img = torch.zeros(1, 9, 11)
    img[0, 0:4, 3:6] = 1.0
    image = MetaTensor(img, affine=torch.tensor([[0.9, 0.0, 3.0], [0.0, 1.1, 4.0], [0.0, 0.0, 1.0]], dtype=torch.float64))
    theirs = CropForegroundd("img", "img", margin=2, mode="minimum")({"img": image})["img"]
    ours = SpaceCropForegroundd("img", "img", margin=2, mode="minimum")({"img": image})["img"]
    assert ours.affine.shape == (3, 3)
    _compare(theirs, ours, atol=0)


def test_pad_mode_errors_name_the_argument_written():
    with pytest.raises(mst.ModeError, match=r"^mode for key 'img' must be a pad mode, .* got 'mirror'"):
        SpaceCropForegroundd("img", "img", mode="mirror")
    with pytest.raises(mst.ModeError, match=r"^padding_mode for key 'img' must be a pad mode, .* got 'grid-wrap'"):
        SpaceZoomd("img", 0.5, padding_mode="grid-wrap")
    with pytest.raises(mst.ModeError, match=r"^padding_mode for key 'img' must be a pad mode"):
        SpaceCropd("img", roi_start=(0, 0, 0), roi_end=(4, 4, 4), padding_mode="bogus")


# ----------------------------------------------------------------------------- 6. lazy: the counterparts fuse with MONAI's transforms
def test_counterparts_in_a_lazy_compose_match_eager():
    from monai.transforms import Orientationd

    image = _oblique(shape=(24, 26, 14))
    label = MetaTensor((image > 0.5).to(torch.uint8), affine=image.affine)
    chain = [
        Orientationd(["img", "seg"], "RAS"),
        SpaceSpacingd(["img", "seg"], (1.3, 1.2, 1.9), mode=["bilinear", "nearest"]),
        SpaceResized(["img", "seg"], (16, 18, 10), mode=["area", "nearest"]),  # area after a lazy flip: still axis-aligned
        SpaceZoomd(["img", "seg"], 1.2, mode=["trilinear", "nearest"], padding_mode="constant"),
    ]
    from monai.transforms import Resized, Spacingd, Zoomd

    monai_chain = [
        Orientationd(["img", "seg"], "RAS"),
        Spacingd(["img", "seg"], (1.3, 1.2, 1.9), mode=["bilinear", "nearest"]),
        Resized(["img", "seg"], (16, 18, 10), mode=["area", "nearest"]),
        Zoomd(["img", "seg"], 1.2, mode=["trilinear", "nearest"], padding_mode="constant"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = Compose(chain)({"img": image, "seg": label})
        lazy = Compose(chain, lazy=True)({"img": image, "seg": label})
        theirs = Compose(monai_chain)({"img": image, "seg": label})  # MONAI's own transforms, eager
    for key in ("img", "seg"):  # the grids: MONAI's
        for out in (eager, lazy):
            assert out[key].shape == theirs[key].shape
            np.testing.assert_allclose(out[key].affine.numpy(), theirs[key].affine.numpy(), atol=1e-9)
    # eager values: MONAI's chain (the image; MONAI's nearest is off-centre, the label is checked lazily below)
    np.testing.assert_allclose(eager["img"].numpy(), theirs["img"].numpy(), rtol=0, atol=1e-5)
    # lazy values: one resample from the native grid onto the final one, by brute force from the raw affines
    final, native = lazy["seg"].affine.numpy(), image.affine.numpy()
    shape = tuple(lazy["seg"].shape[1:])
    assert lazy["seg"].dtype == torch.uint8
    assert np.array_equal(lazy["seg"][0].numpy(), oracles.nearest(label[0].numpy(), native, final, shape))
    np.testing.assert_allclose(lazy["img"][0].numpy(), oracles.interpolate(image[0].numpy(), native, final, shape, 1, "zeros"), rtol=0, atol=1e-5)
    back = SpaceInvertd("seg", orig_keys="seg")(dict(lazy))["seg"]
    assert back.shape == label.shape
    np.testing.assert_allclose(back.affine.numpy(), image.affine.numpy(), atol=1e-9)
    assert np.array_equal(back[0].numpy(), oracles.nearest(lazy["seg"][0].numpy(), final, native, tuple(label.shape[1:])))
