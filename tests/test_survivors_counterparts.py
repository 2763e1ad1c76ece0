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
        (lambda: SpaceResize((7,)), lambda: Resize((7, -1)), {}),
        (lambda: SpaceResize(9, size_mode="longest", mode="bilinear"), lambda: Resize(9, size_mode="longest", mode="bilinear"), {}),
        (lambda: SpaceZoom(0.6, mode="bilinear"), lambda: Zoom((0.6, 1.0), mode="bilinear"), {}),
        (lambda: SpaceZoom(1.4, padding_mode="constant"), lambda: Zoom((1.4, 1.0), padding_mode="constant"), {}),
    ],
    ids=["spacing", "spacing-extra-entry", "spacing-min-max-inside", "spacing-min-max-keeps", "spacing-shape", "resize",
         "resize-longest", "zoom-out", "zoom-in"],
)
def test_a_1d_image_is_resampled_along_its_one_axis_as_monai_resamples_it_as_2d(ours, theirs, call):
    """The lifted 1-D image ``(C, W, 1, 1)``: only the first axis is planned; the two single-voxel axes keep their
    spacing and position (here 2 and 3 mm, not MONAI's 1 mm) whatever the other entries of ``pixdim``, ``zoom``,
    ``spatial_size`` say. Kills ``_leading_*`` (kind or value tests turned, the first entry lost or two kept),
    ``SpaceSpacing_plan_15/_20/_25/_30`` (the absent axes respaced), ``SpaceSpacing___call___5/_10``,
    ``SpaceResize_plan_15/_25/_35``, ``SpaceZoom_plan_15/_20``, ``_adapt_25/_30``, ``_restore_5``."""
    one, two = _one_d()
    theirs_call = dict(call)
    if "output_spatial_shape" in theirs_call:
        theirs_call["output_spatial_shape"] = (theirs_call["output_spatial_shape"], 1)
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
