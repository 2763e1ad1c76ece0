"""Bad input at every public entry point: our own error (exact type, message naming the argument
and the value) or a result, never a raw error from numpy/torch/MONAI/nibabel and never a silent
wrong answer (docs/design.md §6). The command line's cases are in tests/test_cli.py.

One table: each row is a call, the exact exception type and a regex its message must match.
Inputs that must *work* (they used to fail inside a library) are in the second table.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_spacetx import (
    MetadataError,
    PointsError,
    ShapeMismatchError,
    Space,
    SpaceApplyPendingd,
    SpaceCrop,
    SpaceCropd,
    SpaceCropForeground,
    SpaceCropForegroundd,
    SpaceError,
    SpaceInvert,
    SpaceInvertd,
    SpaceResample,
    SpaceResampled,
    SpaceResized,
    SpaceTypeError,
    get_native_space,
    get_space,
    map_points,
    warp_image,
)
from monai_spacetx import ModeError, compare, interop
from monai_spacetx.transforms import foreground_box

import oracles

SPACE = Space((6, 5, 4))
BOX = {"roi_start": (0, 0, 0), "roi_end": (2, 2, 2)}


def image() -> MetaTensor:
    """A 2-channel 6x5x4 image on the identity grid."""
    return MetaTensor(torch.arange(2 * 6 * 5 * 4, dtype=torch.float32).reshape(2, 6, 5, 4) % 7)


def working() -> dict[str, Any]:
    """``{"image": ...}`` after one Space transform: an 8x8x8 working grid that remembers its native grid."""
    return SpaceResampled(keys="image", spatial_size=(8, 8, 8), mode="nearest")({"image": image()})


CASES: list[tuple[str, Callable[[], Any], type, str]] = [
    # -------------------------------------------------------------- images that are not images
    ("SpaceCrop(None)", lambda: SpaceCrop(**BOX)(None), SpaceTypeError, r"^image must be a tensor or numpy array, got NoneType None$"),
    ("SpaceCrop(path)", lambda: SpaceCrop(**BOX)("scan.nii.gz"), SpaceTypeError,
     r"^image must be a tensor or numpy array, got str 'scan\.nii\.gz' \(a file path\? load it first, e\.g\. with MONAI's LoadImage\(d\)\)$"),
    ("SpaceCrop(object array)", lambda: SpaceCrop(**BOX)(np.empty((1, 2, 2, 2), object)), SpaceTypeError,
     r"^image: image must have a numeric or bool dtype, got numpy dtype object$"),
    ("SpaceCrop(text array)", lambda: SpaceCrop(**BOX)(np.full((1, 2, 2, 2), "a")), SpaceTypeError, r"numeric or bool dtype, got numpy dtype <U1"),
    ("SpaceCrop(2-D list)", lambda: SpaceCrop(**BOX)([[1, 2], [3, 4]]), ShapeMismatchError,
     r"^image must be channel-first \(C, H, W\) or \(C, H, W, D\), got shape \(2, 2\)$"),
    ("SpaceCropd(None)", lambda: SpaceCropd(keys="image", **BOX)({"image": None}), SpaceTypeError,
     r"^image \(key 'image'\) must be a tensor or numpy array, got NoneType None$"),
    ("SpaceCropd(path)", lambda: SpaceCropd(keys="image", **BOX)({"image": "scan.nii.gz"}), SpaceTypeError,
     r"^image \(key 'image'\) must be a tensor or numpy array, got str 'scan\.nii\.gz' \(a file path\?"),
    ("SpaceResample(None)", lambda: SpaceResample(spatial_size=(3, 3, 3))(None), SpaceTypeError, r"^image must be a tensor or numpy array, got NoneType"),
    ("SpaceResample(path)", lambda: SpaceResample(spatial_size=(3, 3, 3))("x.nii"), SpaceTypeError, r"got str 'x\.nii' \(a file path\?"),
    ("SpaceResampled(None)", lambda: SpaceResampled(keys="image", spatial_size=(3, 3, 3))({"image": None}), SpaceTypeError,
     r"^image \(key 'image'\) must be a tensor or numpy array, got NoneType None$"),
    ("SpaceCropForeground(None)", lambda: SpaceCropForeground()(None), SpaceTypeError, r"^image must be a tensor or numpy array, got NoneType None$"),
    ("SpaceCropForegroundd(path)", lambda: SpaceCropForegroundd(keys="image", source_key="image")({"image": "x.png"}), SpaceTypeError,
     r"^image \(key 'image'\) must be a tensor or numpy array, got str 'x\.png'"),
    ("foreground_box(None)", lambda: foreground_box(None), SpaceTypeError, r"^image must be a tensor or numpy array, got NoneType None$"),
    ("SpaceInvert(pred None)", lambda: SpaceInvert()(None, ref=working()["image"]), SpaceTypeError,
     r"^prediction must be a tensor or numpy array, got NoneType None$"),
    ("SpaceInvert(pred path)", lambda: SpaceInvert()("pred.nii.gz", ref=working()["image"]), SpaceTypeError, r"^prediction must be a tensor or numpy array, got str"),
    ("SpaceInvertd(pred None)", lambda: SpaceInvertd(keys="pred", orig_keys="image")({**working(), "pred": None}), SpaceTypeError,
     r"^key 'pred' \(geometry from 'image'\): prediction must be a tensor or numpy array, got NoneType None$"),
    ("SpaceInvertd(pred path)", lambda: SpaceInvertd(keys="pred", orig_keys="image")({**working(), "pred": "p.nii"}), SpaceTypeError,
     r"^key 'pred' \(geometry from 'image'\): prediction must be a tensor or numpy array, got str 'p\.nii' \(a file path\?"),
    ("SpaceCropd(data None)", lambda: SpaceCropd(keys="image", **BOX)(None), SpaceTypeError,
     r"^SpaceCropd takes a dict of images \(MONAI's data dictionary\), got NoneType None$"),
    ("SpaceResampled(data path)", lambda: SpaceResampled(keys="image", spatial_size=3)("scan.nii"), SpaceTypeError,
     r"^SpaceResampled takes a dict of images \(MONAI's data dictionary\), got str 'scan\.nii'$"),
    ("SpaceResized(data list)", lambda: SpaceResized(keys="image", spatial_size=3)([image()]), SpaceTypeError, r"^SpaceResized takes a dict of images"),
    ("SpaceApplyPendingd(data None)", lambda: SpaceApplyPendingd(keys="image")(None), SpaceTypeError, r"^SpaceApplyPendingd takes a dict of images"),
    ("SpaceInvertd(data None)", lambda: SpaceInvertd(keys="pred")(None), SpaceTypeError, r"^SpaceInvertd takes a dict of images"),
    # -------------------------------------------------------------- references without geometry (were silent)
    ("SpaceInvert(ref=plain tensor)", lambda: SpaceInvert()(torch.zeros(1, 6, 5, 4), ref=torch.zeros(1, 6, 5, 4)), MetadataError,
     r"^ref is a plain Tensor without geometry: pass ref= the transformed input image \(a MetaTensor"),
    ("SpaceInvert(ref=numpy)", lambda: SpaceInvert()(torch.zeros(1, 6, 5, 4), ref=np.zeros((1, 6, 5, 4))), MetadataError,
     r"^ref is a plain ndarray without geometry"),
    ("SpaceInvert(plain pred, no ref)", lambda: SpaceInvert()(torch.zeros(1, 6, 5, 4)), MetadataError, r"^pred is a plain Tensor without geometry: pass ref="),
    ("SpaceInvert(ref path)", lambda: SpaceInvert()(torch.zeros(1, 6, 5, 4), ref="abc"), SpaceTypeError, r"^ref must be a tensor or numpy array, got str 'abc'"),
    ("SpaceResampled(ref_key numpy)", lambda: SpaceResampled(keys="image", ref_key="ref")({"image": image(), "ref": np.zeros((1, 3, 3, 3))}),
     MetadataError, r"^ref_key 'ref' holds a plain ndarray without geometry: the grid to resample onto is read from a MetaTensor's affine"),
    ("SpaceResampled(ref_key tensor)", lambda: SpaceResampled(keys="image", ref_key="ref")({"image": image(), "ref": torch.zeros((1, 3, 3, 3))}),
     MetadataError, r"^ref_key 'ref' holds a plain Tensor without geometry"),
    ("SpaceResampled(ref_key None)", lambda: SpaceResampled(keys="image", ref_key="ref")({"image": image(), "ref": None}), SpaceTypeError,
     r"^ref_key \(key 'ref'\) must be a tensor or numpy array, got NoneType None$"),
    ("SpaceInvertd(orig numpy)", lambda: SpaceInvertd(keys="pred", orig_keys="image")({"image": np.zeros((2, 8, 8, 8)), "pred": torch.zeros(2, 8, 8, 8)}),
     MetadataError, r"^orig_keys: key 'pred' takes its geometry from 'image', which holds a plain ndarray without geometry"),
    # -------------------------------------------------------------- CropForeground's arguments
    ("channel_indices out of range", lambda: SpaceCropForeground(channel_indices=5)(image()), SpaceError,
     r"^channel_indices 5 out of range for an image with 2 channels$"),
    ("channel_indices negative out of range", lambda: SpaceCropForegroundd(keys="image", source_key="image", channel_indices=[0, -3])({"image": image()}),
     SpaceError, r"^channel_indices \[0, -3\] out of range for an image with 2 channels$"),
    ("channel_indices text", lambda: SpaceCropForeground(channel_indices="a")(image()), SpaceTypeError,
     r"^channel_indices must be an int or a sequence of ints, got 'a'$"),
    ("channel_indices bool", lambda: SpaceCropForeground(channel_indices=True)(image()), SpaceTypeError, r"^channel_indices must be an int or a sequence of ints, got True$"),
    ("margin text", lambda: SpaceCropForeground(margin="a")(image()), SpaceError, r"^margin must have 3 entries \(one per spatial axis of a 3-D image\), got 'a'$"),
    ("margin wrong length", lambda: SpaceCropForeground(margin=[1, 2])(image()), SpaceError, r"^margin must have 3 entries .*got \[1, 2\]$"),
    ("margin negative", lambda: SpaceCropForeground(margin=-1)(image()), SpaceError, r"^margin must be >= 0, got -1$"),
    ("k_divisible fractional", lambda: SpaceCropForeground(k_divisible=1.5)(image()), SpaceError, r"^k_divisible must be integers, got 1\.5$"),
    ("select_fn None", lambda: SpaceCropForeground(select_fn=None)(image()), SpaceTypeError, r"^select_fn must be callable .*got None$"),
    # -------------------------------------------------------------- crops
    ("roi_slices text bound", lambda: SpaceCrop(roi_slices=(slice(0, 2), slice(0, "a"), slice(0, 2)))(image()), SpaceError,
     r"^roi_slices: a slice's stop must be an integer or None, got slice\(0, 'a', None\)$"),
    ("roi_slices fractional bound", lambda: SpaceCrop(roi_slices=(slice(0, 2), slice(0, 2.5), slice(0, 2)))(image()), SpaceError,
     r"^roi_slices: a slice's stop must be an integer or None, got slice\(0, 2\.5, None\)$"),
    ("roi_slices not slices", lambda: SpaceCrop(roi_slices=5)(image()), SpaceError, r"^roi_slices must be one slice per leading spatial axis, got 5$"),
    ("roi_start NaN", lambda: SpaceCrop(roi_start=(0, 0, float("nan")), roi_end=(2, 2, 2))(image()), SpaceError, r"^roi_start must be integers, got \(0, 0, nan\)$"),
    ("center_point text", lambda: SpaceCropd(keys="image", center_key="p", world_size=3, center_point="a"), SpaceTypeError,
     r"^center_point must be the index of a landmark \(an int\), got 'a'$"),
    ("landmarks NaN", lambda: SpaceCropd(keys="image", **BOX, point_keys="p")({"image": image(), "p": np.full((1, 3), np.nan)}), PointsError,
     r"^point key 'p': points must be finite"),
    # -------------------------------------------------------------- Invert(d)'s own arguments
    ("SpaceInvertd device", lambda: SpaceInvertd(keys="pred", device="gpu7"), ModeError, r"^device must be a torch device such as 'cpu' or 'cuda:0', got 'gpu7'$"),
    ("SpaceInvertd post_func", lambda: SpaceInvertd(keys="pred", post_func="argmax"), SpaceTypeError, r"^post_func must be callable \(or None\), got str 'argmax'$"),
    ("SpaceInvert post_func", lambda: SpaceInvert(post_func=3), SpaceTypeError, r"^post_func must be callable \(or None\), got int 3$"),
    # -------------------------------------------------------------- metadata
    ("get_native_space(shape 'abc')", lambda: get_native_space({"spatial_shape": "abc"}), MetadataError,
     r"^meta\['spatial_shape'\] must be numbers, got 'abc' \(corrupt metadata\?\)$"),
    ("get_native_space(shape NaN)", lambda: get_native_space({"spatial_shape": [np.nan, 2, 2]}), MetadataError,
     r"^meta\['spatial_shape'\] must be finite numbers, got \[nan, 2, 2\]"),
    ("get_native_space(shape 2.5)", lambda: get_native_space({"spatial_shape": [2.5, 2, 2]}), MetadataError,
     r"^meta\['spatial_shape'\] must be whole numbers of voxels, got \[2\.5, 2, 2\]"),
    ("get_native_space(affine 'abc')", lambda: get_native_space({"spatial_shape": [2, 2, 2], "original_affine": "abc"}), MetadataError,
     r"^meta\['original_affine'\] must be numbers, got 'abc'"),
    ("get_native_space(None)", lambda: get_native_space(None), SpaceTypeError, r"^expected a MONAI MetaTensor or a metadata dict, got NoneType$"),
    ("get_space(plain tensor)", lambda: get_space(torch.zeros(1, 2, 2, 2)), SpaceTypeError, r"^expected a MONAI MetaTensor or a metadata dict, got Tensor$"),
    # -------------------------------------------------------------- interop
    ("to_nifti(None)", lambda: interop.to_nifti(None, SPACE), SpaceTypeError, r"^data must be a numeric array, got NoneType of dtype object$"),
    ("to_nifti(text)", lambda: interop.to_nifti("abc", SPACE), SpaceTypeError, r"^data must be a numeric array, got str of dtype <U3$"),
    ("to_sitk(object array)", lambda: interop.to_sitk(np.empty((6, 5, 4), object), SPACE), SpaceTypeError, r"^data must be a numeric array, got ndarray of dtype object$"),
    ("to_sitk(channels)", lambda: interop.to_sitk(np.zeros((1, 6, 5, 4)), SPACE), ShapeMismatchError,
     r"^data of shape \(1, 6, 5, 4\) does not match the space's shape \(6, 5, 4\)$"),
    ("lps_ras_flip(3.0)", lambda: interop.lps_ras_flip(3.0), SpaceError, r"^ndim must be 2 or 3, got 3\.0$"),
    ("space_from_nifti(path)", lambda: interop.space_from_nifti("scan.nii"), SpaceTypeError, r"^expected a nibabel image with \.affine and \.shape, got str$"),
    # -------------------------------------------------------------- engine, geometry, metrics
    ("warp_image(plan text)", lambda: warp_image(np.zeros((6, 5, 4)), SPACE, SPACE, plan="abc"), SpaceTypeError,
     r"^plan must be a WarpPlan \(plan_warp\(source, target\)\) or None, got str$"),
    ("warp_image(options text)", lambda: warp_image(np.zeros((6, 5, 4)), SPACE, SPACE, options="abc"), SpaceTypeError,
     r"^options must be a WarpOptions \(WarpOptions\.parse\(\.\.\.\)\) or None, got str$"),
    ("warp_image(label NaN)", lambda: warp_image(np.full((6, 5, 4), np.nan), SPACE, SPACE.resize((3, 3, 3)), mode="label"), ModeError,
     r"^mode 'label' needs integer class values, got NaN or infinite values in a torch\.float64 image$"),
    ("SpaceResampled(label inf)", lambda: SpaceResampled(keys="image", spatial_size=3, mode="label")({"image": image() / 0}), ModeError,
     r"got NaN or infinite values in a torch\.float32 image$"),
    ("warp_image(None)", lambda: warp_image(None, SPACE, SPACE), SpaceTypeError, r"^image must be a torch\.Tensor or a numpy\.ndarray, got NoneType$"),
    ("SpaceResample(pixdim 1e-9)", lambda: SpaceResample(pixdim=1e-9)(image()), SpaceError,
     r"^shape \(5000000001, 4000000001, 3000000001\) has 6e\+28 voxels, more than any array can index \(2\*\*63\)$"),
    ("SpaceCrop(10^12 box)", lambda: SpaceCrop(roi_start=(0, 0, 0), roi_end=(10**12,) * 3)(image()), SpaceError, r"has 1e\+36 voxels, more than any array can index"),
    ("Space.resize(10^7 cube)", lambda: SPACE.resize((10**7,) * 3), SpaceError, r"^shape \(10000000, 10000000, 10000000\) has 1e\+21 voxels"),
    ("Space.respace(1e-300)", lambda: SPACE.respace(1e-300), SpaceError,
     r"^the planned shape \[6e\+300, .*\] is no array's shape \(a tiny spacing or factor, or a huge size\?\)$"),
    ("Space.crop_world(size 1e19)", lambda: SPACE.crop_world((0, 0, 0), 1e19), SpaceError,  # was a Space of negative shape
     r"^the planned shape \[1e\+19, 1e\+19, 1e\+19\] is no array's shape"),
    ("Space.zoom(1e300)", lambda: SPACE.zoom(1e300), SpaceError, r"^the planned shape \[6e\+300, 5e\+300, 4e\+300\] is no array's shape"),
    ("Space.permute(None)", lambda: SPACE.permute(None), SpaceError, r"^order must be a permutation of \[0, 1, 2\], got None$"),
    ("map_points(bool)", lambda: map_points(np.zeros((1, 3), bool), SPACE, SPACE), SpaceTypeError, r"^points must be numeric, got a bool array"),
    ("working_grid_mask(None)", lambda: compare.working_grid_mask(None, SPACE), SpaceTypeError, r"^native must be a Space, got NoneType$"),
    ("landmark_error_mm(None)", lambda: compare.landmark_error_mm(None, np.zeros((1, 3)), np.eye(4)), ShapeMismatchError,
     r"^points must be \(N, D\) index coordinates, got None$"),
    ("example_scan(None)", lambda: compare.example_scan(None), SpaceTypeError, r"^name must be the file name of an example scan, e\.g\. 'anatomical\.nii', got None$"),
    ("compare_roundtrip({})", lambda: compare.compare_roundtrip({}, size=(3, 3, 3)), SpaceTypeError,
     r"^data must be \{'image': MetaTensor, 'label': MetaTensor\}, each \(1, \*spatial\)"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_our_error_naming_it(call, error, message):
    with pytest.raises(error) as caught:
        call()
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert re.search(message, str(caught.value)), str(caught.value)
    assert isinstance(caught.value, (ValueError, TypeError))  # code guarding MONAI calls catches ours too


def _big_endian(*shape: int) -> np.ndarray:
    return (np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape) % 7).astype(">f4")


def test_big_endian_arrays_work_in_the_transforms_as_in_warp_image():
    """nibabel's ``dataobj`` hands out big-endian arrays; torch refuses them, the transforms convert them."""
    big = _big_endian(1, 6, 5, 4)
    native = big.astype("<f4")
    cropped = SpaceCropd(keys="image", roi_start=(1, 1, 1), roi_end=(5, 4, 3))({"image": big})["image"]
    assert np.array_equal(cropped.numpy(), native[:, 1:5, 1:4, 1:3])
    resized = SpaceResampled(keys="image", spatial_size=(3, 3, 3))({"image": big})["image"]
    expected = SpaceResampled(keys="image", spatial_size=(3, 3, 3))({"image": native})["image"]
    assert torch.equal(resized, expected)
    box = SpaceCropForegroundd(keys="image", source_key="image")({"image": big})
    assert tuple(box["image"].shape[1:]) == tuple(box["foreground_end_coord"] - box["foreground_start_coord"])
    data = working()
    pred = _big_endian(2, 8, 8, 8)
    back = SpaceInvertd(keys="pred", orig_keys="image")({**data, "pred": pred})["pred"]
    again = SpaceInvertd(keys="pred", orig_keys="image")({**data, "pred": pred.astype("<f4")})["pred"]
    assert tuple(back.shape) == (2, 6, 5, 4) and torch.equal(back, again)
    assert torch.equal(SpaceInvert()(pred, ref=data["image"]), again)
    assert big.dtype.byteorder == ">"  # the input is never modified


def test_a_metatensor_reference_gives_its_geometry():
    """``ref_key`` holding a MetaTensor: its affine and shape are the grid (the one allowed form)."""
    ref = MetaTensor(torch.zeros(1, 3, 4, 2), affine=torch.diag(torch.tensor([2.0, 1.25, 2.0, 1.0], dtype=torch.float64)))
    out = SpaceResampled(keys="image", ref_key="ref", mode="nearest")({"image": image(), "ref": ref})["image"]
    assert tuple(out.shape) == (2, 3, 4, 2) and np.allclose(out.affine.numpy(), ref.affine.numpy())
    # the values: nearest from the raw affines (the image's identity grid onto the reference's 2 / 1.25 / 2 mm)
    for c in range(2):
        expected = oracles.nearest(image()[c].numpy(), np.eye(4), ref.affine.numpy(), (3, 4, 2))
        assert np.array_equal(out[c].numpy(), expected)
    # by hand: reference voxel (1, 2, 1) has its centre at (2, 2.5, 2) mm = source index (2, 2.5, 2): the tie goes up
    assert out[0, 1, 2, 1].item() == image()[0, 2, 3, 2].item() != image()[0, 2, 2, 2].item()


def test_interop_writes_a_bool_mask_and_float16():
    mask = np.zeros(SPACE.shape, bool)
    mask[1:3, 2:4, 1] = True
    stored = nib.Nifti1Image.from_bytes(interop.to_nifti(mask, SPACE).to_bytes())
    assert stored.get_data_dtype() == np.uint8 and np.array_equal(np.asanyarray(stored.dataobj), mask)
    half = np.linspace(0, 1, 120, dtype=np.float16).reshape(SPACE.shape)
    assert np.array_equal(interop.to_nifti(half, SPACE).get_fdata(dtype=np.float32), half.astype(np.float32))


# ----------------------------------------------------------------------------- no fallback without a word
def _on_grid(meta: dict[str, Any]) -> MetaTensor:
    """A 6x5x4 image whose current affine is a 2 mm grid shifted by (7, 8, 9) mm, with ``meta`` added."""
    affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0], dtype=torch.float64))
    affine[:3, 3] = torch.tensor([7.0, 8.0, 9.0], dtype=torch.float64)
    img = MetaTensor(torch.zeros(1, 6, 5, 4), affine=affine)
    img.meta.update(meta)
    return img


@pytest.mark.parametrize(
    "meta, error, message",
    [
        ({"spacetx_space": '{"shape": [6, 5'}, MetadataError, r"^meta\['spacetx_space'\] is not a valid Space \(corrupt metadata\?\)"),
        ({"spacetx_native": "not json"}, MetadataError, r"^meta\['spacetx_native'\] is not a valid Space \(corrupt metadata\?\)"),
        ({"spatial_shape": [6, 5, 4], "original_affine": "abc"}, MetadataError, r"^meta\['original_affine'\] must be numbers, got 'abc'"),
        ({"spacetx_space": [Space((6, 5, 4)).to_json(), Space((6, 5, 4)).to_json()]}, SpaceTypeError,
         r"^the landmarks' grid of a collated batch \(2 samples\) is one grid per sample; decollate the batch first"),
        ({"spacetx_native": [Space((6, 5, 4)).to_json()] * 3}, SpaceTypeError, r"collated batch \(3 samples\)"),
    ],
    ids=["corrupt space", "corrupt native", "corrupt original_affine", "collated space", "collated native"],
)
def test_landmark_grid_never_replaces_a_bad_record_by_the_current_grid(meta, error, message):
    """Was: the image's current (2 mm, shifted) grid, and landmarks moved by wrong numbers without a word."""
    from monai_spacetx.transforms.lazy import landmark_grid

    with pytest.raises(error, match=message):
        landmark_grid(_on_grid(meta))
    # the same through a transform that moves landmarks
    with pytest.raises(error, match=message):
        SpaceCropd(keys="image", **BOX, point_keys="p")({"image": _on_grid(meta), "p": np.ones((1, 3))})


def test_landmark_grid_reads_each_record_in_its_order():
    """Hand-made records: the Space record wins, then the native one, then MONAI's; none: the data grid."""
    from monai_spacetx.transforms.lazy import landmark_grid

    recorded, native = Space((3, 3, 3), spacing=(0.5, 1.0, 1.5)), Space((9, 8, 7), origin=(1.0, 2.0, 3.0))
    monai = np.diag([3.0, 3.0, 3.0, 1.0])
    assert landmark_grid(_on_grid({"spacetx_space": recorded.to_json(), "spacetx_native": native.to_json()})) == recorded
    assert landmark_grid(_on_grid({"spacetx_native": native.to_json(), "original_affine": monai, "spatial_shape": [2, 2, 2]})) == native
    got = landmark_grid(_on_grid({"original_affine": monai, "spatial_shape": [2, 3, 4]}))
    assert got.shape == (2, 3, 4) and np.array_equal(got.affine, monai)
    own = landmark_grid(_on_grid({}))
    assert own.shape == (6, 5, 4) and np.array_equal(own.affine[:3, 3], [7.0, 8.0, 9.0]) and np.allclose(own.spacing, 2.0)


def test_a_missing_original_affine_is_assumed_identity_with_a_warning_once(monkeypatch):
    """MONAI gives an image loaded without an affine the identity; only PILReader's header says that is so."""
    import warnings

    from monai_spacetx import SpaceTxWarning
    from monai_spacetx.transforms import meta as meta_module

    monkeypatch.setattr(meta_module, "_WARNED", set())
    with pytest.warns(SpaceTxWarning, match=r"spatial_shape \[6, 5, 4\] but no 'original_affine' \(keys present: \['filename_or_obj', 'spatial_shape'\]\)"):
        native = get_native_space({"spatial_shape": [6, 5, 4], "filename_or_obj": "scan.npy"})
    assert native.shape == (6, 5, 4) and np.array_equal(native.affine, np.eye(4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once: the second sample says nothing
        get_native_space({"spatial_shape": [6, 5, 4], "filename_or_obj": "scan2.npy"})
    monkeypatch.setattr(meta_module, "_WARNED", set())
    pil = {"spatial_shape": [40, 30], "format": "PNG", "mode": "L", "width": 40, "height": 30}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PILReader's images: the identity is what MONAI gave them, no word needed
        assert np.array_equal(get_native_space(pil).affine, np.eye(3))


# ----------------------------------------------------------------------------- grids too large, autograd in label mode
def test_a_grid_too_large_for_memory_is_refused_before_allocating(monkeypatch):
    """The free memory is made small (free_bytes says 1 MiB): the 5.1 MB output is refused, naming its size;
    the allocator is never reached (torch.empty would raise its own RuntimeError)."""
    from monai_spacetx.engine import limits

    monkeypatch.setattr(limits, "free_bytes", lambda device: 2**20)
    target = SPACE.resize((108, 108, 108))  # 1,259,712 voxels x 1 channel x 4 bytes = 4.8 MiB > 1 MiB
    with pytest.raises(SpaceError, match=r"^target \(the grid to sample onto\) would have shape \(108, 108, 108\) = 1,259,712 voxels "
                                         r"x 1 channel\(s\) x 4 bytes = 0\.00469 GiB, more than the 0\.000977 GiB free on cpu; use a coarser"):
        warp_image(torch.zeros(6, 5, 4), SPACE, target)
    with pytest.raises(SpaceError, match=r"= 1,259,712 voxels x 2 channel\(s\) x 8 bytes = 0\.0188 GiB"):  # channels and float64 counted
        warp_image(torch.zeros(2, 6, 5, 4, dtype=torch.float64), SPACE, target)
    # the same guard under a transform (the pixdim the issue tried: 1e-5 mm on a 1 mm grid)
    with pytest.raises(SpaceError, match=r"^target \(the grid to sample onto\) would have shape \(500001, 400001, 300001\) = "):
        SpaceResampled(keys="image", pixdim=1e-5)({"image": image()})
    small = SPACE.resize((3, 3, 3))  # 27 x 4 bytes fits: no refusal of what fits
    assert warp_image(torch.ones(6, 5, 4), SPACE, small, "nearest").shape == (3, 3, 3)


def test_the_real_free_memory_refuses_the_issues_grid():
    """No patch: warp_image(img, s, s.respace(1e-4)) asks for 6e10 x 2e10 ... voxels, refused by the guard, not torch."""
    with pytest.raises(SpaceError, match=r"^target \(the grid to sample onto\) would have shape \(60000, 50000, 40000\) = "
                                         r"120,000,000,000,000 voxels x 1 channel\(s\) x 4 bytes = 4\.47e\+05 GiB, more than the [0-9.]+ GiB free on cpu"):
        warp_image(torch.zeros(6, 5, 4), SPACE, SPACE.respace(1e-4, align="edges"))


def test_the_guard_counts_bytes_by_hand():
    from monai_spacetx.engine.limits import check_grid, free_bytes

    free = free_bytes(torch.device("cpu"))
    assert free is not None and free > 0
    with open("/proc/meminfo") as meminfo:  # the kernel's own number, read independently
        available = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    assert abs(free - available) < 2**30  # moments apart on a shared machine
    check_grid((10, 10), what="g", channels=3, itemsize=8, max_voxels=100)  # exactly at the limit: fine
    with pytest.raises(SpaceError, match=r"^g would have shape \(10, 11\) = 110 voxels, more than --max-voxels 100; use less, or raise --max-voxels"):
        check_grid((10, 11), what="g", max_voxels=100, limit_name="--max-voxels", remedy="use less")


def test_label_mode_refuses_an_image_that_requires_grad():
    """Was autograd's RuntimeError ('index_select(): functions with out=... arguments ...') on the separable path."""
    x = torch.zeros(1, 6, 5, 4).requires_grad_(True)
    for target in (SPACE.respace(0.7), SPACE.rotate((0.3, 0.0, 0.0)), SPACE.crop((1, 1, 1), (4, 4, 3))):
        with pytest.raises(ModeError, match=r"^mode 'label' votes on class values and has no gradient, got an image that requires grad; "
                                            r"pass image\.detach\(\), or use mode 'linear' to differentiate$"):
            warp_image(x, SPACE, target, "label")
    out = warp_image(x.detach(), SPACE, SPACE.respace(0.7), "label")
    assert tuple(out.shape[1:]) == SPACE.respace(0.7).shape and not out.requires_grad


# ----------------------------------------------------------------------------- the command line: one line, exit 2, before the work
@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    """A 12x10x8 scan (1.2 x 1.0 x 1.5 mm, origin (-10, 5, 3)) with a bright box, and the wrong companions."""
    folder = tmp_path_factory.mktemp("cli_bad")
    affine = np.diag([1.2, 1.0, 1.5, 1.0])
    affine[:3, 3] = (-10.0, 5.0, 3.0)
    scan = np.zeros((12, 10, 8), np.float32)
    scan[3:9, 2:8, 2:6] = 100.0
    nib.save(nib.Nifti1Image(scan, affine), str(folder / "image.nii.gz"))
    halves = np.where(scan > 50, 1.5, 0.5).astype(np.float32)
    halves[0, 0, 0] = 2.5
    nib.save(nib.Nifti1Image(halves, affine), str(folder / "halves.nii.gz"))
    shifted = affine.copy()
    shifted[0, 3] += 2.0
    nib.save(nib.Nifti1Image((scan > 50).astype(np.uint8), shifted), str(folder / "shifted.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((12, 10, 8), np.float32), affine), str(folder / "zeros.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((12, 10, 8, 1, 3), np.float32), affine), str(folder / "five_d.nii.gz"))
    (folder / "ragged.csv").write_text("1,2,3\n4,5\n")
    (folder / "abc.csv").write_text("1,2,abc\n4,5,6\n")
    (folder / "header.csv").write_text("x,y,z\n-5,7,6\n")
    (folder / "notes.txt").write_text("this is not an image\n")
    (folder / "brain.mgz").write_bytes(b"\x1f\x8b\x08" + bytes(64))
    (folder / "brain.mnc").write_bytes(b"CDF\x01" + bytes(64))
    return folder


CLI_CASES = [
    ("ragged-csv", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--landmarks", "{f}/ragged.csv"],
     r"^--landmarks '.*ragged\.csv': row 2 has 2 values \['4', '5'\], expected 3 coordinates for a 3-D image$"),
    ("numeric-first-row", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--landmarks", "{f}/abc.csv"],
     r"^--landmarks '.*abc\.csv': row 1 is not numeric: \['1', '2', 'abc'\]$"),
    ("fractional-label", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--label", "{f}/halves.nii.gz"],
     r"^--label '.*halves\.nii\.gz': labels must be whole numbers 0\.\.255, got 3 fractional value\(s\): 0\.5, 1\.5, 2\.5$"),
    ("empty-stand-in", ["{f}/zeros.nii.gz", "--size", "6", "6", "6"],
     r"^image '.*zeros\.nii\.gz': the stand-in label image > 0 is empty \(no voxel above it: a constant image\?\); give --label"),
    ("figure-proc", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--figure", "/proc/x.png"],
     r"^--figure: cannot write '/proc/x\.png': (No such file or directory|Permission denied)$"),
    ("shifted-label", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--label", "{f}/shifted.nii.gz"],
     r"^--label '.*shifted\.nii\.gz': must lie on the image's grid; same shape \(12, 10, 8\) but its affine differs from the image's "
     r"by up to 2 mm \(label origin \[-8\.0, 5\.0, 3\.0\], image origin \[-10\.0, 5\.0, 3\.0\]\)$"),
    ("huge-margin", ["{f}/image.nii.gz", "--crop-foreground", "50", "--margin", "100000", "--spacing", "1"],
     r"^the cropped grid would have shape \(200006, 200006, 200004\) = 8,000,640,016,800,144 voxels, more than --max-voxels "
     r"134,217,728; use a smaller --margin"),
    ("uncropped-over-budget", ["{f}/image.nii.gz", "--size", "4", "4", "4", "--max-voxels", "900"],
     r"^the scan's grid would have shape \(12, 10, 8\) = 960 voxels, more than --max-voxels 900; crop it with --roi or --crop-foreground"),
    ("figure-folder", ["{f}/image.nii.gz", "--size", "6", "6", "6", "--figure", "{f}"],
     r"^--figure: '.*cli_bad\d*' is a folder; give a file name, e\.g\. '.*cli_bad\d*/worst\.png'$"),
    ("txt", ["{f}/notes.txt", "--size", "6", "6", "6"],
     r"^image '.*notes\.txt': cannot be read as an image by MONAI's LoadImage \(not NIfTI, NRRD, PNG/JPG/BMP/TIFF nor DICOM: no reader takes \.txt files\)$"),
    ("mgz", ["{f}/brain.mgz", "--size", "6", "6", "6"],
     r"^image '.*brain\.mgz': cannot be read .*: FreeSurfer MGH \.mgz files are read by nibabel, not by LoadImage; convert it to NIfTI"),
    ("mnc", ["{f}/brain.mnc", "--size", "6", "6", "6"],
     r"^image '.*brain\.mnc': cannot be read .*: MINC \.mnc files are read by nibabel, not by LoadImage; convert it to NIfTI"),
    ("five-d", ["{f}/five_d.nii.gz", "--size", "6", "6", "6"],
     r"^image '.*five_d\.nii\.gz': expected a 2-D or 3-D image \(or a 4-D series of them, with --volume\), got a 5-D array of shape \(12, 10, 8, 1\) x 3$"),
    ("five-d-volume", ["{f}/five_d.nii.gz", "--size", "6", "6", "6", "--volume", "0"], r"got a 5-D array of shape \(12, 10, 8, 1\) x 3$"),
]


@pytest.mark.parametrize("argv, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_command_line_bad_input_names_the_argument_and_the_value(argv, message, cli_files, capsys, monkeypatch):
    from monai_spacetx.cli import main

    called = []
    monkeypatch.setattr("monai_spacetx.compare.compare_roundtrip", lambda *a, **k: called.append(1))  # the work
    status = main(["check", "--quiet", *[a.format(f=cli_files) for a in argv]])
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and not called, (argv, out, err)
    prefix = "monai-spacetx check: error: "
    assert err.count("\n") == 1 and err.startswith(prefix), err
    assert re.search(message, err[len(prefix):].rstrip("\n")), err


def test_a_csv_header_of_words_is_still_skipped(cli_files):
    from monai_spacetx.cli.inputs import read_landmarks

    assert read_landmarks(cli_files / "header.csv", 3).tolist() == [[-5.0, 7.0, 6.0]]


@pytest.mark.parametrize(
    "transform",
    [
        lambda: SpaceCropd(keys=["image", "seg"], **BOX),
        lambda: SpaceResampled(keys=["image", "seg"], pixdim=1.0),
        lambda: SpaceApplyPendingd(keys=["image", "seg"]),
        lambda: SpaceInvertd(keys=["image", "seg"], orig_keys="image"),
    ],
    ids=["SpaceCropd", "SpaceResampled", "SpaceApplyPendingd", "SpaceInvertd"],
)
def test_a_missing_key_is_monais_key_error_with_the_keys_present(transform):
    """MONAI's convention (its KeyError naming the key and the transform), plus the keys the data has."""
    t = transform()
    name = type(t).__name__
    with pytest.raises(KeyError) as caught:
        t({"image": image(), "label": image()})
    assert type(caught.value) is KeyError
    assert caught.value.args[0] == (f"Key `seg` of transform `{name}` was missing in the data and allow_missing_keys==False "
                                    "(keys present: ['image', 'label'])")
    t = transform()
    t.allow_missing_keys = True  # MONAI's escape hatch still skips it
    assert set(t({"image": working()["image"] if name == "SpaceInvertd" else image()})) >= {"image"}


@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_linear_and_cubic_are_differentiable_on_every_path(mode):
    """The docstring's promise, checked by finite differences (torch.autograd.gradcheck); cubic on the general
    (oblique) path raised autograd's RuntimeError (a product written with out=)."""
    for space in (Space((5, 4), spacing=(1.0, 1.3)), Space((4, 3, 3), spacing=(1.0, 1.3, 0.8))):
        nd = space.ndim
        turn = space.rotate(0.3 if nd == 2 else (0.3, 0.0, 0.2))
        for target in (turn.resize((3,) * nd), space.respace(0.7), space.crop((1,) * nd, (3,) * nd)):
            x = torch.rand(1, *space.shape, dtype=torch.float64, requires_grad=True)
            assert torch.autograd.gradcheck(lambda t: warp_image(t, space, target, mode, "border"), (x,))



@pytest.mark.parametrize(
    "kind, extra, error",
    [
        ("Rotate90", {"k": 1, "axes": (0,)}, r"ValueError\('not enough values to unpack"),  # one axis, not a plane
        ("SpatialResample", {"src_affine": np.zeros((3, 3))}, r"LinAlgError\('Singular matrix'\)"),  # no index map
    ],
)
def test_a_malformed_record_is_our_metadata_error_naming_the_transform(kind, extra, error):
    """A record MONAI would never write (hand-made or corrupted metadata) is refused with our error, which
    names the transform and what numpy or Python found wrong, rather than a bare ValueError."""
    from monai_spacetx.transforms.records import index_map, read_record

    step = read_record({"class": kind, "orig_size": (5, 3), "do_transforms": True, "extra_info": extra})
    with pytest.raises(MetadataError, match=rf"^the record of '{kind}' lacks what its kind '{step.kind}' needs: {error}"):
        index_map(step, Space((5, 3)))


@pytest.mark.parametrize(
    "record, error",
    [
        ({"class": "SpatialCrop", "orig_size": (5, 3), "extra_info": {"cropped": [0, 1, 0, 1], "pad_info": {"extra_info": ["x"]}}},
         r"AttributeError\(\"'list' object has no attribute 'get'\"\)"),
        ({"class": "Flip", "orig_size": (5, "three"), "extra_info": {"axes": [0]}}, r"ValueError\(\"invalid literal for int"),
        ({"class": "SpatialPad", "orig_size": (5, 3), "extra_info": {"mode": "constant", "padded": 7}}, r"TypeError\("),
    ],
)
def test_a_record_monai_never_writes_is_refused_when_read(record, error):
    """The reader itself refuses a malformed record with our error naming the transform (bare AttributeError,
    ValueError or TypeError before)."""
    from monai_spacetx.transforms.records import read_record

    with pytest.raises(MetadataError, match=rf"^the record of '{record['class']}' is not one MONAI writes: {error}"):
        read_record(record)


def test_a_record_that_is_not_a_mapping_is_refused_without_a_name():
    """Something other than a dict where MONAI keeps a record (a corrupted ``applied_operations``): our error, the
    transform named ``'?'`` as in every message about an unnamed record."""
    from monai_spacetx.transforms.records import read_record

    with pytest.raises(MetadataError, match=r"^the record of '\?' is not one MONAI writes: AttributeError\("):
        read_record(["SpatialCrop", {"cropped": [0, 1]}])  # type: ignore[arg-type]
