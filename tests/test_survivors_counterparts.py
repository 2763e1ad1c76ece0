"""Tests written to kill the mutants mutmut left alive in ``transforms/counterparts.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills (``<class>_<method>_<n>``: mutmut's ``xǁ<class>ǁ<method>__mutmut_<n>``, or
``<function>_<n>``) and checks our MONAI counterparts against an outside oracle: MONAI's own transform run side by
side on the same input with the same arguments (its ``inverse`` too), MONAI's transform on the 1-D image written as
a ``(C, W, 1)`` 2-D image (MONAI 1.6.1 resamples 1-D images but moves their affine's translation: a documented
difference), brute-force samples from the raw affines (``oracles.py``), landmarks moved by hand from the raw
affines, and error messages written out by hand.
"""

from __future__ import annotations

import contextlib
import re
import warnings

import numpy as np
import pytest
import torch
from monai.data import MetaTensor, set_track_meta
from monai.transforms import Resize, Resized, Spacing, Spacingd, SpatialCrop, Zoom, Zoomd

import oracles
from monai_spacetx import (
    MetadataError,
    ModeError,
    SpaceResize,
    SpaceResized,
    SpaceSpacing,
    SpaceSpacingd,
    SpaceZoom,
    SpaceZoomd,
)


def _oblique(shape=(20, 22, 12), seed: int = 0, dtype=torch.float32) -> MetaTensor:
    """A smooth random image on an oblique, anisotropic grid with a far origin."""
    rng = np.random.default_rng(seed)
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]) @ np.diag([0.9, 1.1, 2.0])
    affine[:3, 3] = (-120.5, 37.25, 410.0)
    return MetaTensor(torch.as_tensor(rng.random((1, *shape)), dtype=dtype), affine=torch.as_tensor(affine))


def _axis_aligned(shape=(20, 22, 12), seed: int = 1, dtype=torch.float32) -> MetaTensor:
    affine = np.array([[1.1, 0, 0, -7.0], [0, 0.9, 0, 3.0], [0, 0, 1.7, 12.5], [0, 0, 0, 1.0]])
    rng = np.random.default_rng(seed)
    return MetaTensor(torch.as_tensor(rng.random((1, *shape)), dtype=dtype), affine=torch.as_tensor(affine))


def _same(theirs: torch.Tensor, ours: torch.Tensor, atol: float = 2e-6, affine_atol: float = 1e-9) -> None:
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(np.asarray(ours.affine), np.asarray(theirs.affine), rtol=0, atol=affine_atol)
    np.testing.assert_allclose(ours.as_tensor().double().numpy(), theirs.as_tensor().double().numpy(), rtol=0, atol=atol)


@contextlib.contextmanager
def _quiet():
    """MONAI's warnings (an affine overwritten by its applied metadata) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ----------------------------------------------------------------------------- construction: our errors, naming the key
def test_dictionary_forms_refuse_a_bad_per_key_option_at_construction_naming_the_key():
    """SpaceResized/SpaceZoomd/SpaceSpacingd check every key's options when built (MONAI fails later, per sample):
    the message names the argument, the key and the value (written out by hand).

    Kills ``SpaceResized___init___40/_45/_50/_55/_60/_65/_70/_75/_80/_85/_90/_100``, the same in ``SpaceSpacingd``
    and ``SpaceZoomd`` (names and keys dropped, the wrong list zipped, a check skipped)."""
    keys = ["a", "b"]
    cases = [
        (lambda: SpaceResized(keys, 5, mode=["area", "area", "area"]), r"^mode has 3 entries for 2 keys \['a', 'b'\]"),
        (lambda: SpaceResized(keys, 5, align_corners=[None, None, None]), r"^align_corners has 3 entries for 2 keys"),
        (lambda: SpaceResized(keys, 5, anti_aliasing=[False, False, True]), r"^anti_aliasing has 3 entries for 2 keys"),
        (lambda: SpaceResized(keys, 5, anti_aliasing_sigma=[1.0, 1.0, 1.0]), r"^anti_aliasing_sigma has 3 entries for 2 keys"),
        (lambda: SpaceResized(keys, 5, dtype=[np.float32] * 3), r"^dtype has 3 entries for 2 keys"),
        (lambda: SpaceResized(keys, 5, mode=["area", "cubicle"]), r"^mode for key 'b' .*'cubicle'"),
        (lambda: SpaceResized(keys, 5, align_corners=[None, "yes"]), r"^align_corners must be True, False or None, got 'yes'$"),
        (lambda: SpaceResized(keys, 5, dtype=[np.float32, np.int16]), r"^dtype for key 'b' must be a floating dtype, got "),
        (lambda: SpaceResized(keys, 5, mode="trilinear", anti_aliasing=[False, "x"]), r"anti_aliasing for key 'b'.*'x'"),
        (lambda: SpaceSpacingd(keys, 1.0, mode=["bilinear"] * 3), r"^mode has 3 entries for 2 keys"),
        (lambda: SpaceSpacingd(keys, 1.0, padding_mode=["border"] * 3), r"^padding_mode has 3 entries for 2 keys"),
        (lambda: SpaceSpacingd(keys, 1.0, align_corners=[False] * 3), r"^align_corners has 3 entries for 2 keys"),
        (lambda: SpaceSpacingd(keys, 1.0, dtype=[np.float64] * 3), r"^dtype has 3 entries for 2 keys"),
        (lambda: SpaceSpacingd(keys, 1.0, scale_extent=[False] * 3), r"^scale_extent has 3 entries for 2 keys"),
        (lambda: SpaceSpacingd(keys, 1.0, scale_extent=[False, "no"]), r"^scale_extent for key 'b' must be True or False, got 'no'$"),
        (lambda: SpaceSpacingd(keys, 1.0, mode=["bilinear", "cubicle"]), r"^mode for key 'b' .*'cubicle'"),
        (lambda: SpaceSpacingd(keys, 1.0, padding_mode=["border", "mirror"]), r"^padding_mode for key 'b' .*'mirror'"),
        (lambda: SpaceSpacingd(keys, 1.0, dtype=[np.float64, np.int32]), r"^dtype for key 'b' must be a floating dtype"),
        (lambda: SpaceSpacingd(keys, 1.0, ensure_same_shape="yes"), r"^ensure_same_shape must be True or False, got 'yes'$"),
        (lambda: SpaceZoomd(keys, 0.5, mode=["area"] * 3), r"^mode has 3 entries for 2 keys"),
        (lambda: SpaceZoomd(keys, 0.5, padding_mode=["edge"] * 3), r"^padding_mode has 3 entries for 2 keys"),
        (lambda: SpaceZoomd(keys, 0.5, align_corners=[None] * 3), r"^align_corners has 3 entries for 2 keys"),
        (lambda: SpaceZoomd(keys, 0.5, dtype=[np.float32] * 3), r"^dtype has 3 entries for 2 keys"),
        (lambda: SpaceZoomd(keys, 0.5, mode=["area", "cubicle"]), r"^mode for key 'b' .*'cubicle'"),
        (lambda: SpaceZoomd(keys, 0.5, padding_mode=["edge", "mirror"]), r"^padding_mode for key 'b' must be a pad mode.*'mirror'"),
        (lambda: SpaceZoomd(keys, 0.5, align_corners=[None, "yes"]), r"^align_corners must be True, False or None, got 'yes'$"),
        (lambda: SpaceZoomd(keys, 0.5, dtype=[np.float32, np.uint8]), r"^dtype for key 'b' must be a floating dtype"),
    ]
    for build, message in cases:
        with pytest.raises(ModeError, match=message):
            build()


def test_array_forms_refuse_bad_flags_at_construction():
    """``_bool``'s message names the argument (and the key only where there is one); the array forms check
    ``pixdim``, the flags, ``size_mode`` and ``align_corners`` when built. Kills ``_bool_5`` (the key's clause on
    ``key is None``), ``SpaceSpacing___init___30/_35/_40/_45``, ``SpaceZoom___init___15``, ``SpaceResize___init___15``."""
    cases = [
        (lambda: SpaceSpacing(1.0, diagonal="yes"), r"^diagonal must be True or False, got 'yes'$"),
        (lambda: SpaceSpacing(1.0, scale_extent=1), r"^scale_extent must be True or False, got 1$"),
        (lambda: SpaceSpacing(1.0, recompute_affine=None), r"^recompute_affine must be True or False, got None$"),
        (lambda: SpaceZoom(0.5, keep_size="no"), r"^keep_size must be True or False, got 'no'$"),
        (lambda: SpaceResize(5, size_mode="LONGEST"), r"^size_mode must be 'all' or 'longest', got 'LONGEST'$"),
        (lambda: SpaceResize(5, align_corners="yes"), r"^align_corners must be True, False or None, got 'yes'$"),
        (lambda: SpaceZoom(0.5, align_corners=1), r"^align_corners must be True, False or None, got 1$"),
    ]
    for build, message in cases:
        with pytest.raises(ModeError, match=message):
            build()
    image = _axis_aligned()
    # a flag given per call is read the same way
    with pytest.raises(ModeError, match=r"^scale_extent must be True or False, got 'x'$"):
        SpaceSpacing(1.3)(image, scale_extent="x")


# ----------------------------------------------------------------------------- 1-D and 5-D images
def _one_d() -> tuple[MetaTensor, MetaTensor]:
    """A 1-D image ``(2, 13)`` whose 4x4 affine has non-unit spacings and offsets on its two absent axes, and the
    same data as MONAI's 2-D image ``(2, 13, 1)`` (the oracle's input: MONAI resamples it with no 1-D special case)."""
    data = torch.rand(2, 13, generator=torch.Generator().manual_seed(0))
    one = MetaTensor(data.clone(), affine=torch.tensor([[1.5, 0, 0, 4.0], [0, 2.0, 0, -1.0], [0, 0, 3.0, 2.0], [0, 0, 0, 1]], dtype=torch.float64))
    two = MetaTensor(data[..., None].clone(), affine=torch.tensor([[1.5, 0, 4.0], [0, 2.0, -1.0], [0, 0, 1]], dtype=torch.float64))
    return one, two


def _assert_one_d(ours: MetaTensor, theirs: MetaTensor, one: MetaTensor, atol: float = 1e-6) -> None:
    """``ours`` (1-D) holds MONAI's 2-D values and axis-0 geometry; the two absent axes keep the input's rows."""
    assert ours.ndim == 2 and tuple(ours.shape) == tuple(theirs.shape[:-1])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy()[..., 0], rtol=0, atol=atol)
    expected = one.affine.numpy().copy()
    expected[0, 0], expected[0, 3] = theirs.affine[0, 0].item(), theirs.affine[0, 2].item()
    np.testing.assert_allclose(ours.affine.numpy(), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    "ours, theirs, call",
    [
        (lambda: SpaceSpacing(0.7), lambda: Spacing((0.7, -1)), {}),
        (lambda: SpaceSpacing((0.7, 5.0)), lambda: Spacing((0.7, -1)), {}),
        (lambda: SpaceSpacing((0.7,), min_pixdim=0.2, max_pixdim=0.9), lambda: Spacing((0.7, -1), min_pixdim=0.2, max_pixdim=0.9), {}),
        (lambda: SpaceSpacing((0.7,), min_pixdim=1.2, max_pixdim=1.6), lambda: Spacing((0.7, -1), min_pixdim=1.2, max_pixdim=1.6), {}),
        (lambda: SpaceSpacing(0.7), lambda: Spacing((0.7, -1)), {"output_spatial_shape": 30}),
        (lambda: SpaceSpacing(0.7), lambda: Spacing((0.7, -1)), {"output_spatial_shape": (30,)}),
        (lambda: SpaceResize((7,)), lambda: Resize((7, -1)), {}),
        (lambda: SpaceResize(9, size_mode="longest", mode="bilinear"), lambda: Resize(9, size_mode="longest", mode="bilinear"), {}),
        (lambda: SpaceZoom(0.6, mode="bilinear"), lambda: Zoom((0.6, 1.0), mode="bilinear"), {}),
        (lambda: SpaceZoom(1.4, padding_mode="constant"), lambda: Zoom((1.4, 1.0), padding_mode="constant"), {}),
    ],
    ids=["spacing", "spacing-extra-entry", "spacing-min-max-inside", "spacing-min-max-keeps", "spacing-shape", "spacing-shape-list", "resize",
         "resize-longest", "zoom-out", "zoom-in"],
)
def test_a_1d_image_is_resampled_along_its_one_axis_as_monai_resamples_it_as_2d(ours, theirs, call):
    """The lifted 1-D image ``(C, W, 1, 1)``: only the first axis is planned; the two single-voxel axes keep their
    spacing and position (here 2 and 3 mm, not MONAI's 1 mm) whatever the other entries of ``pixdim``, ``zoom``,
    ``spatial_size`` say. Kills ``_leading_*`` (kind or value tests turned, the first entry lost or two kept),
    ``SpaceSpacing_plan_15/_20/_25`` (the absent axes respaced), ``SpaceSpacing___call___5`` (a list shape not extended),
    ``SpaceResize_plan_15/_25/_35``, ``SpaceZoom_plan_15/_20``, ``_adapt_25/_30``, ``_restore_5``."""
    one, two = _one_d()
    theirs_call = dict(call)
    if "output_spatial_shape" in theirs_call:
        theirs_call["output_spatial_shape"] = (*np.atleast_1d(theirs_call["output_spatial_shape"]), 1)
    with _quiet():
        expected = theirs()(two, **theirs_call)
    _assert_one_d(ours()(one, **call), expected, one, atol=1e-6)


def test_a_1d_image_round_trips_through_inverse_onto_its_own_grid():
    """``inverse`` of a 1-D resample gives a 1-D image on the input's grid: MONAI's inverse of the 2-D form as the
    oracle (values and the axis-0 geometry). Kills ``_Counterpart_inverse_10`` (the 1-D form not restored)."""
    one, two = _one_d()
    for ours, theirs in ((SpaceZoom(0.6, mode="bilinear"), Zoom((0.6, 1.0), mode="bilinear")),
                         (SpaceSpacing(0.7), Spacing((0.7, -1))), (SpaceResize((7,)), Resize((7, -1)))):
        with _quiet():
            expected = theirs.inverse(theirs(two))
        back = ours.inverse(ours(one))
        _assert_one_d(back, expected, one, atol=2e-6)
        np.testing.assert_allclose(back.affine.numpy(), one.affine.numpy(), rtol=0, atol=1e-9)


def _five_d() -> MetaTensor:
    affine = torch.tensor([[1.1, 0, 0, 3.0], [0, 0.9, 0, -2.0], [0, 0, 1.7, 5.0], [0, 0, 0, 1.0]], dtype=torch.float64)
    return MetaTensor(torch.rand(1, 9, 8, 7, 1, generator=torch.Generator().manual_seed(4)), affine=affine)


def test_a_5d_image_with_a_trailing_single_voxel_is_resampled_and_inverted_as_monai_does():
    """``(C, X, Y, Z, 1)`` with a 3-D affine: MONAI's Spacing carries the last axis through. Kills ``_adapt_5/_10/_15/_20``,
    ``_restore_10``, ``_Counterpart_inverse_10``."""
    image = _five_d()
    for kwargs in (dict(pixdim=(1.3, 0.6, 1.5)), dict(pixdim=(0.8, 1.2, 2.5), mode="nearest", padding_mode="zeros")):
        theirs_t, ours_t = Spacing(**kwargs), SpaceSpacing(**kwargs)
        with _quiet():
            theirs = theirs_t(image)
            ours = ours_t(image)
            if kwargs.get("mode") != "nearest":
                _same(theirs, ours, atol=1e-6)
                _same(theirs_t.inverse(theirs), ours_t.inverse(ours), atol=2e-6)
                continue
        # nearest: ours is centre-consistent (brute force), MONAI's grid is the oracle for the geometry
        assert tuple(ours.shape) == tuple(theirs.shape) and ours.shape[-1] == 1
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-9)
        expected = oracles.nearest(image[0, ..., 0].numpy(), image.affine, ours.affine, ours.shape[1:4])
        np.testing.assert_array_equal(ours[0, ..., 0].numpy(), expected)
        back = ours_t.inverse(ours)
        assert tuple(back.shape) == tuple(image.shape)
        np.testing.assert_allclose(back.affine.numpy(), image.affine.numpy(), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(back[0, ..., 0].numpy(), oracles.nearest(ours[0, ..., 0].numpy(), ours.affine, image.affine, image.shape[1:4]))


def test_a_5d_image_key_in_spacingd_is_resampled_as_monai_does():
    """The dictionary form hands a 5-D key's own data to the array form, and ``ensure_same_shape`` gives the second
    key the first key's output shape, ``(X, Y, Z, 1)`` (MONAI reads the fourth entry as the carried voxel; ours refused
    it before the fix). Kills ``_Counterpartd__apply_15`` and the ``ensure_same_shape`` reading of an adapted key."""
    image = _five_d()
    other = MetaTensor(torch.rand(1, 9, 8, 7, 1, generator=torch.Generator().manual_seed(6)), affine=image.affine.clone())
    with _quiet():
        theirs = Spacingd(["a", "b"], (1.3, 0.6, 1.5))({"a": image, "b": other})
    ours = SpaceSpacingd(["a", "b"], (1.3, 0.6, 1.5))({"a": image, "b": other})
    for key in ("a", "b"):
        _same(theirs[key], ours[key], atol=1e-6)
    # the first key's output shape is passed on as MONAI writes it, (X, Y, Z, 1): found by this test (it failed before)
    for shape in ((10, 12, 8, 1), (10, 12, 8)):
        with _quiet():
            expected = Spacing((1.3, 0.6, 1.5))(image, output_spatial_shape=shape)
        _same(expected, SpaceSpacing((1.3, 0.6, 1.5))(image, output_spatial_shape=shape), atol=1e-6)


# ----------------------------------------------------------------------------- inverse of the array forms
@pytest.mark.parametrize(
    "args",
    [(Spacing, SpaceSpacing, ((1.3, 0.8, 1.7),), {}), (Resize, SpaceResize, ((11, 9, 7),), {"mode": "trilinear"}),
     (Zoom, SpaceZoom, (0.7,), {"mode": "trilinear"}), (Zoom, SpaceZoom, (1.3,), {"mode": "trilinear", "keep_size": False})],
    ids=["spacing", "resize", "zoom-out", "zoom-in"],
)
def test_the_array_inverse_is_monais_inverse(args):
    """Each array form's ``inverse`` against MONAI's ``inverse`` of MONAI's own output (grid and values, float32
    round-off). Kills ``_Counterpart_inverse_5`` and the other mutants that lose the image or the record."""
    theirs_t, ours_t, pos, kwargs = args
    image = _oblique()
    theirs_t, ours_t = theirs_t(*pos, **kwargs), ours_t(*pos, **kwargs)
    with _quiet():
        expected = theirs_t.inverse(theirs_t(image))
    back = ours_t.inverse(ours_t(image))
    _same(expected, back, atol=2e-6)
    assert back.applied_operations == []


def test_inverse_after_a_transform_monai_skips_maps_from_the_images_own_grid():
    """MONAI's ``Compose.inverse`` skips transforms that cannot invert, and ``pop_transform`` then finds ours below a
    newer record: the data lies on that newer grid (here a MONAI crop of ours), and ``inverse`` maps from it onto
    the input grid: brute-force nearest from the raw affines. Kills ``_Counterpart_inverse_15/_18`` (``skipped`` not
    passed: the recorded grid's shape is refused)."""
    image = MetaTensor(torch.rand(1, 12, 10, 8, generator=torch.Generator().manual_seed(2)),
                       affine=torch.tensor([[1.1, 0, 0, 3], [0, 0.9, 0, -2], [0, 0, 1.7, 5], [0, 0, 0, 1.0]], dtype=torch.float64))
    ours = SpaceSpacing((0.8, 0.7, 1.2), mode="nearest", padding_mode="zeros")
    cropped = SpatialCrop(roi_start=(2, 1, 0), roi_end=(12, 11, 9))(ours(image))
    back = ours.inverse(cropped)
    assert tuple(back.shape) == tuple(image.shape) and back.applied_operations == []
    np.testing.assert_allclose(back.affine.numpy(), image.affine.numpy(), rtol=0, atol=1e-12)
    expected = oracles.nearest(cropped[0].numpy(), cropped.affine, image.affine, image.shape[1:])
    np.testing.assert_array_equal(back[0].numpy(), expected)
    assert 0 < (expected == 0).mean() < 0.9  # the crop removed part of the field of view: the fill shows


def test_inverse_removes_the_axes_a_longer_spatial_size_added():
    """MONAI's ``Resize`` with more ``spatial_size`` entries than axes adds trailing single-voxel axes and its inverse
    (record ``new_dim``) takes them away: a 2-D image resized to 3-D and a 1-D image resized to 2-D and 3-D, back to
    their rank, against MONAI's inverse (values, the spatial part of the affine). With MONAI's metadata off the
    inverse returns a plain tensor of the input's shape. Kills ``SpaceResize___call___5/_45/_50/_55/_60``,
    ``_Counterpart_inverse_20/_21/_25/_26/_28/_29/_30/_35/_40``, ``SpaceResize__more_axes_*``."""
    two = MetaTensor(torch.rand(1, 9, 8, generator=torch.Generator().manual_seed(7)),
                     affine=torch.tensor([[1.1, 0, 3.0], [0, 0.9, -2.0], [0, 0, 1.0]], dtype=torch.float64))
    one = MetaTensor(torch.rand(1, 9, generator=torch.Generator().manual_seed(8)),
                     affine=torch.tensor([[1.5, 0, 0, 4.0], [0, 1.0, 0, 0.0], [0, 0, 1.0, 0.0], [0, 0, 0, 1]], dtype=torch.float64))
    for image, size in ((two, (5, 6, 3)), (one, (5, 6)), (one, (5, 6, 3))):
        mode = "bilinear" if len(size) == 2 else "trilinear"
        theirs_t, ours_t = Resize(size, mode=mode), SpaceResize(size, mode=mode)
        with _quiet():
            theirs = theirs_t(image)
            expected = theirs_t.inverse(theirs)
        out = ours_t(image)
        assert tuple(out.shape) == tuple(theirs.shape) == (1, *size)
        np.testing.assert_allclose(out.numpy(), theirs.numpy(), rtol=0, atol=1e-6)
        back = ours_t.inverse(out)
        assert tuple(back.shape) == tuple(expected.shape) == tuple(image.shape)
        np.testing.assert_allclose(back.numpy(), expected.numpy(), rtol=0, atol=1e-6)
        if image is two:  # MONAI keeps the 3x3 affine throughout; ours is the 4x4 of the 3-D grid: compare the 2-D part
            np.testing.assert_allclose(back.affine.numpy()[np.ix_([0, 1, 3], [0, 1, 3])], expected.affine.numpy(), rtol=0, atol=1e-9)
        out = ours_t(image)
        set_track_meta(False)
        try:
            plain = ours_t.inverse(out)
        finally:
            set_track_meta(True)
        assert type(plain) is torch.Tensor and tuple(plain.shape) == tuple(image.shape)
        np.testing.assert_allclose(plain.numpy(), expected.numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- call-time arguments override the constructor's
def test_spacing_call_arguments_override_the_constructors_as_monais_do():
    """``Spacing.__call__``'s ``mode``, ``padding_mode``, ``align_corners``, ``scale_extent``, ``output_spatial_shape``
    each alone, MONAI's call side by side (a diagonal resample, where the padding shows). Kills
    ``SpaceSpacing___call___57/_60`` (the call's mode or padding not read) and the other call mutants,
    ``SpaceSpacing_plan_5/_10/_50/_55/_60/_65/_70``."""
    image = _oblique()
    pixdim = (1.3, 0.8, 1.7)
    cases = [
        (dict(mode="nearest"), dict(mode="bilinear")),
        (dict(padding_mode="border"), dict(padding_mode="reflection")),
        (dict(diagonal=True), dict(padding_mode="reflection")),  # onto the world axes: the padding shows
        (dict(diagonal=True, padding_mode="reflection"), dict(padding_mode="border")),
        (dict(mode="nearest", padding_mode="border"), dict(mode="bilinear", padding_mode="reflection")),
        (dict(), dict(output_spatial_shape=(17, 25, 9))),
        (dict(), dict(output_spatial_shape=(17, 25, 9), align_corners=True, scale_extent=True)),
        (dict(), dict(scale_extent=True)),
        (dict(scale_extent=True), dict(scale_extent=False)),
        (dict(recompute_affine=True), dict(align_corners=True)),
        (dict(recompute_affine=True, align_corners=True), dict()),
    ]
    for built, called in cases:
        with _quiet():
            theirs = Spacing(pixdim, **built)(image, **called)
        ours = SpaceSpacing(pixdim, **built)(image, **called)
        if built.get("recompute_affine"):  # MONAI 1.6.1 writes the bare scaling as the affine (documented): ours is the
            # input's field of view resized to MONAI's shape, corner centres kept with align_corners=True, edges otherwise
            corners = called.get("align_corners", built.get("align_corners", False))
            assert tuple(ours.shape) == tuple(theirs.shape)
            from monai_spacetx import Space

            expected = Space.from_metatensor(image).resize(tuple(theirs.shape[1:]), align="centers" if corners else "edges")
            assert Space.from_metatensor(ours) == expected
            continue
        _same(theirs, ours, atol=2e-6, affine_atol=1e-9)


def _linear64(image: MetaTensor, out: MetaTensor, padding: str = "border") -> np.ndarray:
    return oracles.interpolate(image[0].numpy().astype(np.float64), image.affine, out.affine, out.shape[1:], 1, padding)


def test_the_call_dtype_is_the_computation_dtype():
    """A float64 image resampled with ``dtype=float64`` given at the call agrees with the float64 brute-force linear
    oracle to 1e-12 (float32 arithmetic misses it by ~1e-8), and the constructor's float32 does not. Kills
    ``SpaceZoom___call___50``, ``_Counterpart__dtype`` mutants, the dropped ``dtype`` of the three calls."""
    image = _axis_aligned(dtype=torch.float64)
    for transform in (SpaceSpacing((1.3, 0.8, 1.7), dtype=np.float32), SpaceResize((11, 9, 7), mode="trilinear"), SpaceZoom(1.3, mode="trilinear")):
        exact = transform(image, dtype=torch.float64)
        rough = transform(image)
        assert exact.dtype == rough.dtype == torch.float64
        np.testing.assert_allclose(exact[0].numpy(), _linear64(image, exact), rtol=0, atol=1e-12)
        assert np.abs(rough[0].numpy() - _linear64(image, rough)).max() > 1e-9
    # Spacing's default computation dtype is float64 (MONAI's), the others' float32
    default = SpaceSpacing((1.3, 0.8, 1.7))(image)
    np.testing.assert_allclose(default[0].numpy(), _linear64(image, default), rtol=0, atol=1e-12)


def test_resize_call_arguments_override_the_constructors_as_monais_do():
    """``Resize.__call__``'s ``mode``, ``align_corners``, ``anti_aliasing``, ``anti_aliasing_sigma``, each alone.
    Anti-aliasing: MONAI's Gaussian zero-pads, ours replicates the edge (documented): the voxels whose kernel stays
    inside are compared, and the smoothing must show. Kills ``SpaceResize___call___15/_20/_25/_30/_35/_40``,
    ``SpaceResize_plan_5/_10``."""
    image = _oblique(shape=(40, 44, 24))
    size = (11, 13, 12)
    inner = (slice(None), slice(2, -2), slice(2, -2), slice(1, -1))
    cases = [
        (dict(), dict(mode="trilinear"), None),
        (dict(mode="trilinear"), dict(align_corners=True), None),
        (dict(mode="trilinear", align_corners=True), dict(align_corners=False), None),
        (dict(mode="trilinear"), dict(anti_aliasing=True), inner),
        (dict(mode="trilinear", anti_aliasing=True), dict(anti_aliasing_sigma=(1.0, 0.5, 0.0)), inner),
        (dict(mode="trilinear", anti_aliasing=True, anti_aliasing_sigma=(1.0, 0.5, 0.0)), dict(anti_aliasing=False), None),
        (dict(mode="trilinear"), dict(anti_aliasing=True, anti_aliasing_sigma=(2.0, 0.0, 0.0)), inner),
    ]
    for built, called, region in cases:
        with _quiet():
            theirs = Resize(size, **built)(image, **called)
        ours = SpaceResize(size, **built)(image, **called)
        if region is None:
            _same(theirs, ours, atol=5e-6)
            continue
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-9)
        np.testing.assert_allclose(ours.numpy()[region], theirs.numpy()[region], rtol=0, atol=5e-5)
        plain = Resize(size, mode="trilinear")(image)
        assert np.abs(ours.numpy()[region] - plain.numpy()[region]).max() > 1e-2  # the smoothing shows


def test_zoom_call_arguments_override_the_constructors_as_monais_do():
    """``Zoom.__call__``'s ``mode``, ``padding_mode``, ``align_corners``, each alone. Kills
    ``SpaceZoom___call___5/_15/_20/_25``, ``SpaceZoom_plan_5/_10``."""
    image = _oblique()
    cases = [
        (dict(), dict(mode="trilinear")),
        (dict(mode="trilinear"), dict(padding_mode="reflect")),
        (dict(mode="trilinear", padding_mode="reflect"), dict(padding_mode="constant")),
        (dict(mode="trilinear"), dict(align_corners=True)),
        (dict(mode="trilinear", align_corners=True), dict(align_corners=False)),
        (dict(padding_mode="constant"), dict(mode="trilinear")),
    ]
    for zoom in (0.7, 1.3):
        for built, called in cases:
            with _quiet():
                theirs = Zoom(zoom, **built)(image, **called)
            _same(theirs, SpaceZoom(zoom, **built)(image, **called), atol=5e-6)


# ----------------------------------------------------------------------------- the dictionary forms
def test_dictionary_forms_pass_each_keys_options_and_keep_monais_defaults():
    """Per key ``mode``/``align_corners``/``anti_aliasing``/``anti_aliasing_sigma``/``dtype`` (Resized),
    ``mode``/``padding_mode``/``align_corners``/``dtype`` (Zoomd), and the defaults (``anti_aliasing=False``,
    ``keep_size=True``), MONAI's dictionary transforms side by side. Kills ``SpaceResized___call___10/_15/_25``,
    ``SpaceResized___init___5``, ``SpaceZoomd___call___10/_15/_20``, ``SpaceZoomd___init___5/_65``."""
    image = _oblique(shape=(40, 44, 24))
    data = {"a": image, "b": image.clone(), "c": image.clone()}
    with _quiet():
        theirs = Resized(["a", "b"], (11, 13, 12), mode="trilinear")(dict(data))
    ours = SpaceResized(["a", "b"], (11, 13, 12), mode="trilinear")(dict(data))
    for key in ("a", "b"):
        _same(theirs[key], ours[key], atol=5e-6)
    kwargs = dict(mode=["trilinear", "nearest-exact", "trilinear"], align_corners=[True, None, False],
                  anti_aliasing=[False, False, True], anti_aliasing_sigma=[None, None, (2.0, 0.0, 0.0)], dtype=[np.float64, np.float32, np.float32])
    with _quiet():
        theirs = Resized(["a", "b", "c"], (11, 13, 12), **kwargs)(dict(data))
    ours = SpaceResized(["a", "b", "c"], (11, 13, 12), **kwargs)(dict(data))
    _same(theirs["a"], ours["a"], atol=5e-6)
    _same(theirs["b"], ours["b"], atol=0)
    inner = (slice(None), slice(2, -2), slice(2, -2), slice(1, -1))
    np.testing.assert_allclose(ours["c"].numpy()[inner], theirs["c"].numpy()[inner], rtol=0, atol=5e-5)
    image = _oblique()
    kwargs = dict(mode=["trilinear", "area"], padding_mode=["reflect", "constant"], align_corners=[True, None])
    for zoom in (0.7, 1.3):
        with _quiet():
            theirs = Zoomd(["a", "b"], zoom, **kwargs)({"a": image, "b": image.clone()})
        ours = SpaceZoomd(["a", "b"], zoom, **kwargs)({"a": image, "b": image.clone()})
        for key in ("a", "b"):
            _same(theirs[key], ours[key], atol=5e-6)
    with _quiet():
        theirs = Zoomd("a", 0.7, mode="trilinear")({"a": image})["a"]
    _same(theirs, SpaceZoomd("a", 0.7, mode="trilinear")({"a": image})["a"], atol=5e-6)


def test_lazy_forms_hand_their_flag_to_the_one_resample():
    """A lazy Space step followed by a lazy Space step is one linear interpolation of the input (brute force from the
    raw affines, where the input's interior is read); when the first step's ``lazy`` (constructor or call) is lost,
    the second interpolates its output again (more than 1e-3 off). The second step's own flag does not matter: it
    reads a lazy step's input either way. Kills ``SpaceResized___call___20``, ``SpaceZoomd___call___25``, ``SpaceSpacingd___call___55``,
    ``_Counterpart__resample_15/_20``, ``SpaceZoom___call___40``."""
    image = _axis_aligned(shape=(24, 22, 14), dtype=torch.float64)
    a0 = image.affine.numpy()

    def check(out: MetaTensor, once: bool) -> None:
        shape = tuple(out.shape[1:])
        x = oracles.source_coordinates(a0, out.affine.numpy(), shape)
        interior = np.all((x >= 0.5) & (x <= np.array(image.shape[1:])[:, None] - 1.5), axis=0).reshape(shape)
        assert interior.sum() > 500
        error = np.abs(out[0].numpy()[interior] - _linear64(image, out)[interior]).max()
        assert (error < 1e-9) if once else (error > 1e-3), error

    dicts = [
        lambda lazy: SpaceResized("img", (13, 15, 9), mode="trilinear", dtype=np.float64, lazy=lazy),
        lambda lazy: SpaceZoomd("img", 0.8, mode="trilinear", padding_mode="constant", dtype=np.float64, lazy=lazy),
        lambda lazy: SpaceSpacingd("img", (1.3, 1.2, 2.1), lazy=lazy),
    ]
    last = lambda lazy: SpaceSpacingd("img", (0.9, 1.7, 1.1), lazy=lazy)  # noqa: E731
    for first in dicts:
        check(last(True)(first(True)({"img": image}))["img"], once=True)
        check(last(True)(first(False)({"img": image}))["img"], once=False)
    arrays = [
        lambda lazy: SpaceResize((13, 15, 9), mode="trilinear", dtype=np.float64, lazy=lazy),
        lambda lazy: SpaceZoom(0.8, mode="trilinear", padding_mode="constant", dtype=np.float64, lazy=lazy),
        lambda lazy: SpaceSpacing((1.3, 1.2, 2.1), lazy=lazy),
    ]
    for first in arrays:
        check(SpaceSpacing((0.9, 1.7, 1.1), lazy=True)(first(True)(image)), once=True)
        check(SpaceSpacing((0.9, 1.7, 1.1), lazy=True)(first(False)(image)), once=False)
        check(SpaceSpacing((0.9, 1.7, 1.1))(first(False)(image, lazy=True)), once=True)  # the call's flag wins
        check(SpaceSpacing((0.9, 1.7, 1.1))(first(True)(image, lazy=False)), once=False)


def test_landmarks_move_with_the_first_image_key_of_a_grid():
    """``point_keys`` move from the first key's input grid to its output grid (by hand from the raw affines: the
    world position kept); a first key that is a 1-D image has no grid to move by, so the next key's is used; with no
    image key present, boxes are refused by name. Kills ``_Counterpartd__apply_5/_10/_20/_25/_30`` and the
    ``point_keys``/``point_coords``/``box_*`` arguments dropped in the three constructors."""
    a = _oblique(shape=(20, 22, 12))
    b = _axis_aligned(shape=(16, 18, 10))
    points = np.array([[0.0, 0.0, 0.0], [19.0, 21.0, 11.0], [7.25, 3.5, 5.0], [-3.0, 10.0, 4.0]])

    def moved(source: MetaTensor, target: MetaTensor) -> np.ndarray:
        m = np.linalg.solve(target.affine.numpy(), source.affine.numpy())
        return points @ m[:3, :3].T + m[:3, 3]

    for transform in (SpaceSpacingd(["a", "b"], (1.3, 0.8, 1.7), point_keys="kp"),
                      SpaceResized(["a", "b"], (11, 13, 7), point_keys="kp"),
                      SpaceZoomd(["a", "b"], 0.7, point_keys="kp", keep_size=False)):
        out = transform({"a": a, "b": b, "kp": points.copy()})
        expected = moved(a, out["a"])
        np.testing.assert_allclose(out["kp"], expected, rtol=0, atol=1e-9)
        n = np.array(out["a"].shape[1:])
        np.testing.assert_array_equal(out["kp_in_grid"], np.all((expected >= -0.5) & (expected <= n - 0.5), axis=1))
        assert not np.allclose(moved(b, out["b"]), expected, atol=1e-3)  # the second key's map is another one
    one, _ = _one_d()
    out = SpaceZoomd(["line", "b"], 0.7, point_keys="kp", keep_size=False)({"line": one, "b": b, "kp": points.copy()})
    np.testing.assert_allclose(out["kp"], moved(b, out["b"]), rtol=0, atol=1e-9)
    world = SpaceResized(["a"], (11, 13, 7), point_keys="kw", point_coords="world")({"a": a, "kw": points.copy()})
    np.testing.assert_allclose(world["kw"], points, rtol=0, atol=0)  # world landmarks stay where they are
    boxes = np.array([[1.0, 1.0, 1.0, 4.0, 5.0, 6.0]])
    for transform in (SpaceSpacingd(["a"], 1.3, box_keys="bx", allow_missing_keys=True),
                      SpaceResized(["a"], 5, box_keys="bx", allow_missing_keys=True),
                      SpaceZoomd(["a"], 0.5, box_keys="bx", allow_missing_keys=True)):
        with pytest.raises(MetadataError, match=r"^box key 'bx' .* needs an image key to move with, and none of \['a'\] is in the data"):
            transform({"bx": boxes})
        out = transform({"a": a, "bx": boxes.copy()})
        # MONAI's box coordinates put voxel i on [i, i + 1): the 8 corners, half a voxel to centre indices, mapped by
        # hand from the raw affines, and their bounding box back in box coordinates
        corners = np.array(np.meshgrid([1.0, 4.0], [1.0, 5.0], [1.0, 6.0], indexing="ij")).reshape(3, -1).T - 0.5
        m = np.linalg.solve(out["a"].affine.numpy(), a.affine.numpy())
        ends = corners @ m[:3, :3].T + m[:3, 3] + 0.5
        np.testing.assert_allclose(out["bx"], np.r_[ends.min(0), ends.max(0)][None], rtol=0, atol=1e-9)


def test_box_options_reach_the_boxes():
    """``box_format="corners"`` gives the 8 corners themselves, ``box_mode="cccwhd"`` MONAI's centre-size boxes in and
    out (converted by hand); the corners mapped by hand from the raw affines. Kills the ``_init_points`` mutants
    of the three constructors that drop ``box_mode`` or ``box_format``."""
    a = _oblique(shape=(20, 22, 12))
    lo, hi = np.array([1.0, 1.0, 1.0]), np.array([4.0, 5.0, 6.0])
    corners = np.array(np.meshgrid(*zip(lo, hi), indexing="ij")).reshape(3, -1).T
    for make in (lambda **k: SpaceSpacingd("a", (1.3, 0.8, 1.7), box_keys="bx", **k),
                 lambda **k: SpaceResized("a", (11, 13, 7), box_keys="bx", **k),
                 lambda **k: SpaceZoomd("a", 0.7, box_keys="bx", keep_size=False, **k)):
        out = make(box_format="corners")({"a": a, "bx": np.r_[lo, hi][None]})
        m = np.linalg.solve(out["a"].affine.numpy(), a.affine.numpy())
        ends = (corners - 0.5) @ m[:3, :3].T + m[:3, 3] + 0.5
        assert out["bx"].shape == (1, 8, 3)
        np.testing.assert_allclose(np.sort(out["bx"][0], axis=0), np.sort(ends, axis=0), rtol=0, atol=1e-9)
        out = make(box_mode="cccwhd")({"a": a, "bx": np.r_[(lo + hi) / 2, hi - lo][None]})
        box = np.r_[ends.min(0), ends.max(0)]
        np.testing.assert_allclose(out["bx"], np.r_[(box[:3] + box[3:]) / 2, box[3:] - box[:3]][None], rtol=0, atol=1e-5)


def test_a_missing_key_is_monais_key_error_unless_allowed():
    """MONAI's rule: a missing key raises ``KeyError`` unless ``allow_missing_keys=True``, then it is skipped. Kills
    ``SpaceSpacingd___init___10/_20`` and the same in the two others (the flag's default turned, the flag lost)."""
    image = _axis_aligned()
    builders = [
        (lambda allow: SpaceSpacingd(["a", "b"], 1.3, allow_missing_keys=allow), lambda allow: Spacingd(["a", "b"], 1.3, allow_missing_keys=allow),
         lambda: SpaceSpacingd(["a", "b"], 1.3)),
        (lambda allow: SpaceResized(["a", "b"], (7, 8, 9), allow_missing_keys=allow), lambda allow: Resized(["a", "b"], (7, 8, 9), allow_missing_keys=allow),
         lambda: SpaceResized(["a", "b"], (7, 8, 9))),
        (lambda allow: SpaceZoomd(["a", "b"], 0.6, allow_missing_keys=allow), lambda allow: Zoomd(["a", "b"], 0.6, allow_missing_keys=allow),
         lambda: SpaceZoomd(["a", "b"], 0.6)),
    ]
    for ours, theirs, default in builders:
        with pytest.raises(KeyError):
            theirs(False)({"a": image})
        with pytest.raises(KeyError, match="`b`"):
            ours(False)({"a": image})
        with pytest.raises(KeyError, match="`b`"):  # the default is MONAI's False
            default()({"a": image})
        with _quiet():
            expected = theirs(True)({"a": image})
        got = ours(True)({"a": image})
        assert set(got) == set(expected) == {"a"}
        _same(expected["a"], got["a"], atol=5e-6)


def test_nearest_survives_a_padding_mode_given_alone_at_the_call():
    """``SpaceSpacing(mode="nearest")(img, padding_mode=...)``: the constructor's mode stays (MONAI's ``nearest`` is
    off-centre: the brute-force centre-consistent nearest with that padding is the oracle). Kills
    ``SpaceSpacing___call___40`` (the constructor's mode not read)."""
    image = _oblique()
    for padding in ("zeros", "border", "reflection"):
        out = SpaceSpacing((1.3, 0.8, 1.7), mode="nearest")(image, padding_mode=padding)
        with _quiet():
            grid = Spacing((1.3, 0.8, 1.7))(image)
        np.testing.assert_allclose(out.affine.numpy(), grid.affine.numpy(), rtol=0, atol=1e-9)
        expected = oracles.nearest(image[0].numpy(), image.affine, out.affine, out.shape[1:], padding=padding)
        np.testing.assert_array_equal(out[0].numpy(), expected)


def test_a_1d_key_with_pending_operations_is_refused_naming_the_key():
    """1-D images are not fused lazily: our error names the key (written out by hand). Kills ``_adapt_25`` (the key
    not passed to the lift)."""
    from monai.transforms import Flip

    from monai_spacetx import SpaceError

    one, _ = _one_d()
    pending = Flip(0, lazy=True)(one)
    assert len(pending.pending_operations) == 1
    for transform in (SpaceZoomd("line", 0.6), SpaceResized("line", 7), SpaceSpacingd("line", 0.7)):
        with pytest.raises(SpaceError, match=r"^image for key 'line' is a 1-D image \(C, W\) with MONAI operations pending"):
            transform({"line": pending})


def test_spacing_computes_in_float64_by_default_as_monai():
    """MONAI's ``Spacing`` default ``dtype=float64``: a float32 image comes out as the float64 brute-force linear
    sample rounded to float32, voxel for voxel (float32 arithmetic misses ~20% of them). Kills
    ``SpaceSpacing___init___55`` (the computation dtype lost) and the dictionary form's ``dtype`` default."""
    image = _axis_aligned()
    for transform in (lambda: SpaceSpacing((1.3, 0.8, 1.7)), lambda: SpaceSpacingd("img", (1.3, 0.8, 1.7))):
        made = transform()
        out = made(image) if isinstance(made, SpaceSpacing) else made({"img": image})["img"]
        assert out.dtype == torch.float32
        exact = _linear64(image, out).astype(np.float32)
        assert (out[0].numpy() == exact).mean() > 0.999
    rough = SpaceSpacing((1.3, 0.8, 1.7), dtype=np.float32)(image)
    assert (rough[0].numpy() == _linear64(image, rough).astype(np.float32)).mean() < 0.95


def test_spacingd_align_corners_reaches_recompute_affine():
    """``recompute_affine=True``: the input's field of view resized to MONAI's shape, corner centres kept with
    ``align_corners=True`` and edges otherwise (ours; MONAI 1.6.1 writes a bare scaling, documented), per key. Kills
    ``SpaceSpacingd___init___65`` (the per-key ``align_corners`` lost)."""
    from monai_spacetx import Space

    image = _oblique()
    data = {"a": image, "b": image.clone()}
    with _quiet():
        theirs = Spacingd(["a", "b"], (1.3, 1.3, 1.5), recompute_affine=True)(dict(data))
    ours = SpaceSpacingd(["a", "b"], (1.3, 1.3, 1.5), recompute_affine=True, align_corners=[True, False])(dict(data))
    for key, align in (("a", "centers"), ("b", "edges")):
        assert tuple(ours[key].shape) == tuple(theirs[key].shape)
        assert Space.from_metatensor(ours[key]) == Space.from_metatensor(image).resize(tuple(theirs[key].shape[1:]), align=align)
    assert Space.from_metatensor(ours["a"]) != Space.from_metatensor(ours["b"])


def test_a_spatial_size_two_entries_longer_is_refused_by_rank():
    """MONAI grows an image by the extra ``spatial_size`` entries only up to 3 spatial axes (a 2-D image with 4 entries
    fails in MONAI's interpolation): ours refuses it naming the image's own rank (by hand). Kills
    ``SpaceResize__more_axes_15`` (``<= 4``: the image grown to 3-D first, the error then about a 3-D image)."""
    from monai_spacetx import SpaceError

    two = MetaTensor(torch.rand(1, 9, 8), affine=torch.tensor([[1.1, 0, 3], [0, 0.9, -2], [0, 0, 1.0]], dtype=torch.float64))
    with pytest.raises(Exception):
        Resize((5, 6, 4, 1))(two)
    with pytest.raises(SpaceError, match=r"^spatial_size must have 2 entries \(one per spatial axis of a 2-D image\), got \(5, 6, 4, 1\)"):
        SpaceResize((5, 6, 4, 1))(two)
