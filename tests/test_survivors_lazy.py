"""Tests written to kill the mutants mutmut left alive in ``transforms/lazy.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills; each checks against an outside oracle: MONAI's own eager
transforms, brute force from the raw affines (tests/oracles.py), values and messages by hand, or
the module's documented rule worked out by hand. Small images only: this file joins every
module's mutation selection.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Affined, Spacingd

from monai_spacetx.engine.options import WarpOptions
from monai_spacetx.errors import SpaceError
from monai_spacetx.transforms.lazy import fuse_options, pending_space


def _image(ndim: int, n: int = 12) -> MetaTensor:
    values = torch.arange(float(n**ndim)).reshape(1, *([n] * ndim))
    return MetaTensor(values, affine=torch.eye(4, dtype=torch.float64))


def _shift(ndim: int, mode: str = "nearest", padding_mode: str = "zeros") -> list:
    """MONAI's lazy ``Affined`` shifting 2 voxels along axis 0 (its record keeps ``mode``): an integer index map."""
    shift = (2,) + (0,) * (ndim - 1)
    pending = Affined("img", translate_params=shift, mode=mode, padding_mode=padding_mode)({"img": _image(ndim)}, lazy=True)
    return list(pending["img"].pending_operations)


# ----------------------------------------------------------------------------- pending_space's message
def test_a_record_without_a_class_name_is_named_by_a_question_mark():
    """_op_names_3, _5, _6 (the default name ``"?"`` replaced): a singular pending grid whose record lost its class
    name is refused naming it ``'?'`` (the message by hand)."""
    flat = np.diag([1.0, 1.0, 0.0, 1.0])
    pending = Affined("img", affine=flat, mode="bilinear")({"img": _image(3)}, lazy=True)["img"]
    ops = pending.pending_operations
    del ops[0]["class"]
    with pytest.raises(SpaceError, match=r"^the pending operations \['\?'\] give a grid that is not a Space"):
        pending_space(pending)


# ----------------------------------------------------------------------------- fuse_options: the rule by hand
@pytest.mark.parametrize("ndim", [2, 3])
def test_an_integer_shift_has_no_vote_in_2d_and_3d(ndim):
    """fuse_options_2 (``ndim`` default 4), _8 (``ndim`` not passed on: 3 for a 2-D image): MONAI's ``Affined``
    shifting by 2 voxels with ``mode="nearest"`` copies voxels (its 2-D record is 3x3, its 3-D 4x4, both
    ``[I | (2, 0..)]``), so by the module's rule it has no say: our linear step decides, ``linear``. A vote for
    ``nearest`` would make it ``nearest``."""
    ops = _shift(ndim)
    matrix = np.asarray(ops[0]["lazy_affine"], dtype=float)
    expected = np.eye(ndim + 1)
    expected[0, ndim] = 2.0
    np.testing.assert_array_equal(matrix, expected)  # the integer index map, by hand
    if ndim == 2:
        assert fuse_options(ops, WarpOptions("linear"), ndim=2).mode == "linear"
    else:
        assert fuse_options(ops, WarpOptions("linear")).mode == "linear"  # the default ndim is 3
    # an interpolating MONAI step's vote does count: nearest wins over our linear
    spaced = Spacingd("img", pixdim=0.7, mode="nearest")({"img": _image(ndim)}, lazy=True)["img"].pending_operations
    assert fuse_options(spaced, WarpOptions("linear"), ndim=ndim).mode == "nearest"


def test_a_fused_step_that_pads_with_zeros_decides_the_padding():
    """fuse_options_14, _18 (whether a fused step fills with a constant lost): MONAI's ``Spacingd`` with
    ``padding_mode="zeros"`` filled beyond its input with 0, so our ``border`` step fuses to zeros padding, fill
    0 (the module's rule); ``border`` pending steps leave our padding as it is."""
    zeros = Spacingd("img", pixdim=0.7, mode="bilinear", padding_mode="zeros")({"img": _image(3)}, lazy=True)["img"]
    border = Spacingd("img", pixdim=0.7, mode="bilinear", padding_mode="border")({"img": _image(3)}, lazy=True)["img"]
    assert fuse_options(zeros.pending_operations, WarpOptions("cubic", "border")) == WarpOptions("cubic", "zeros", 0.0)
    assert fuse_options(border.pending_operations, WarpOptions("cubic", "border")) == WarpOptions("cubic", "border")


# ----------------------------------------------------------------------------- a MONAI pad mode replayed (Replay, _in_pad)
def test_a_copy_after_a_lazy_zoom_with_edge_padding_carries_the_padding_on():
    """_in_pad_25.._31 (which target voxels lie in the zoom's edge padding): a lazy kept-size zoom out (``edge``:
    the zoomed grid's 6 x 4 x 3 voxels padded to 10 x 8 x 6 by repeating its edge) then a lazy crop 2 voxels
    beyond every side (zeros there) is MONAI's eager ``Zoom`` then ``BorderPad(2)``, side by side: the crop
    copies, so its fused warp reads the input once inside the zoomed grid and carries the edge padding on."""
    from monai.transforms import BorderPad, Zoom

    from monai_spacetx.transforms import SpaceCrop, SpaceZoom

    generator = torch.Generator().manual_seed(1)
    img = MetaTensor(torch.rand(1, 10, 8, 6, generator=generator),
                     affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    zoomed = SpaceZoom(0.6, mode="bilinear", padding_mode="edge", lazy=True)(img)
    out = SpaceCrop(roi_start=(-2, -2, -2), roi_end=(12, 10, 8), lazy=True)(zoomed)
    expected = BorderPad(2)(Zoom(0.6, mode="bilinear", padding_mode="edge")(img))
    assert out.shape == expected.shape == (1, 14, 12, 10)
    np.testing.assert_array_equal(out.affine.numpy(), expected.affine.numpy())
    np.testing.assert_allclose(out.as_tensor().numpy(), expected.as_tensor().numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- Deferred: which reads compute the pixels
def _float_image() -> MetaTensor:
    generator = torch.Generator().manual_seed(0)
    return MetaTensor(torch.rand(1, 12, 10, 8, generator=generator),
                      affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))


def _one_linear_resample(img: MetaTensor, out: torch.Tensor) -> np.ndarray:
    """The brute-force linear sample (``border``, SpaceResampled's default) of ``img`` on ``out``'s grid."""
    from oracles import interpolate

    return interpolate(img.as_tensor().numpy()[0], img.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:]), 1, "border")


@pytest.mark.parametrize("flag", ["copy", "non_blocking"])
def test_a_copying_to_of_a_deferred_output_computes_its_pixels_first(flag):
    """_keeps_storage_1, _2, _7, _8, _9 (``copy=True`` / ``non_blocking=True`` read as keeping the storage): a lazy
    Space step's output not yet computed, ``.to(dtype=float32, copy=True)`` (one positional argument, as MONAI's
    ``convert_to_tensor`` calls it) copies the pixels, so they are computed first: the brute-force one linear
    resample of the input, not the uninitialised storage."""
    from monai_spacetx.transforms import SpaceResampled

    img = _float_image()
    out = SpaceResampled("img", pixdim=0.9, lazy=True)({"img": img})["img"]
    copied = out.to(dtype=torch.float32, **{flag: True})
    expected = _one_linear_resample(img, out)
    np.testing.assert_allclose(torch.as_tensor(copied).numpy()[0], expected, rtol=0, atol=1e-5)


def test_which_to_calls_read_a_deferred_output(warp_calls):
    """_keeps_storage_5, _6, _11.._13, _20, _23.._33, _37.._39, _46, _55, _56 (the ``.to`` a deferred output answers without computing its pixels): a ``.to``
    that returns the tensor itself (same dtype, device, contiguous; MONAI's ``convert_to_tensor`` calls
    ``.to(dtype=None, device=None, memory_format=contiguous_format)`` on what it wraps) computes nothing (counted: 0 warps until a read,
    then 1); one that makes a new tensor (another dtype, ``channels_last``, ``copy=True``) gets the computed
    pixels: the brute-force one linear resample of the input."""
    from monai_spacetx.transforms import SpaceResampled

    img = _float_image()

    def deferred() -> MetaTensor:
        out = SpaceResampled("img", pixdim=0.9, lazy=True)({"img": img})["img"]
        warp_calls["ours"] = 0
        return out

    for kwargs in ({"dtype": torch.float32}, {"dtype": None, "device": None, "memory_format": torch.contiguous_format},
                   {"memory_format": torch.preserve_format}, {"device": torch.device("cpu"), "copy": False},
                   {"dtype": None, "device": None, "memory_format": torch.contiguous_format, "copy": False, "non_blocking": False}):
        out = deferred()
        same = out.to(**kwargs)
        assert warp_calls["ours"] == 0, kwargs  # nothing read yet
        np.testing.assert_allclose(same.as_tensor().numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)
        assert warp_calls["ours"] == 1, kwargs
    for kwargs in ({"dtype": torch.float64}, {"memory_format": torch.channels_last}, {"dtype": torch.float32, "copy": True}):
        out = deferred()
        made = torch.as_tensor(out.to(**kwargs))
        assert warp_calls["ours"] == 1, kwargs  # computed for the new tensor, once
        np.testing.assert_allclose(made.float().numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)
    out = deferred()
    assert out.to(device="meta").device.type == "meta"  # another device: computed before the move
    assert warp_calls["ours"] == 1


def test_a_crop_inside_a_lazy_zooms_computed_part_is_one_warp(warp_calls):
    """_in_pad_40 (the replay's warps run though no target voxel lies in the zoom's padding): a lazy kept-size zoom
    out (``edge``) then a lazy crop inside the zoomed grid's computed part (voxels [2, 8) x [2, 6) x [2, 4) of
    10 x 8 x 6) is ONE warp (counted), MONAI's eager ``Zoom`` then ``SpatialCrop``, side by side."""
    from monai.transforms import SpatialCrop, Zoom

    from monai_spacetx.transforms import SpaceCrop, SpaceZoom

    generator = torch.Generator().manual_seed(1)
    img = MetaTensor(torch.rand(1, 10, 8, 6, generator=generator),
                     affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    out = SpaceCrop(roi_start=(2, 2, 2), roi_end=(8, 6, 4), lazy=True)(SpaceZoom(0.6, mode="bilinear", padding_mode="edge", lazy=True)(img))
    warp_calls["ours"] = 0
    values = out.as_tensor().numpy()
    assert warp_calls["ours"] == 1
    expected = SpatialCrop(roi_start=(2, 2, 2), roi_end=(8, 6, 4))(Zoom(0.6, mode="bilinear", padding_mode="edge")(img))
    np.testing.assert_array_equal(out.affine.numpy(), expected.affine.numpy())
    np.testing.assert_allclose(values, expected.as_tensor().numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- landmark_grid: which grid, from which record
def test_the_landmarks_grid_is_read_from_the_right_record():
    """landmark_grid_2, _4.._8, _10 (which record is read): (a) after a Space step then MONAI's eager ``Flipd``, the
    Space step's output grid (its affine and shape as MONAI holds them before the flip), not the flipped image's;
    (b) ``spacetx_native`` alone, written by hand unlike the loader's ``original_affine``: that grid; (c) neither,
    after a MONAI transform and no loader metadata: the image's own grid (affine and shape by hand)."""
    from monai.transforms import Flipd

    from monai_spacetx import Space
    from monai_spacetx.transforms import SpaceResampled
    from monai_spacetx.transforms.lazy import landmark_grid
    from monai_spacetx.transforms.meta import NATIVE_KEY, space_to_meta

    affine = torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64))
    loaded = MetaTensor(torch.rand(1, 12, 10, 8), affine=affine.clone(),
                        meta={"original_affine": affine.clone(), "spatial_shape": np.array([12, 10, 8])})
    resampled = SpaceResampled("img", pixdim=0.9)({"img": loaded})["img"]
    flipped = Flipd("img", spatial_axis=0)({"img": resampled})["img"]
    assert not np.allclose(flipped.affine.numpy(), resampled.affine.numpy())
    assert landmark_grid(flipped) == Space.from_affine(resampled.affine.numpy(), tuple(resampled.shape[1:]))
    # (b) the native record alone decides; the loader's original_affine (identity-ish diag) is not read
    native = np.array([[0.0, -1.5, 0.0, 10.0], [1.5, 0.0, 0.0, -3.0], [0.0, 0.0, 1.5, 5.0], [0.0, 0.0, 0.0, 1.0]])
    only_native = MetaTensor(torch.rand(1, 12, 10, 8), affine=affine.clone(),
                             meta={NATIVE_KEY: space_to_meta(Space.from_affine(native, (7, 6, 5))),
                                   "original_affine": affine.clone(), "spatial_shape": np.array([12, 10, 8])})
    assert landmark_grid(only_native) == Space.from_affine(native, (7, 6, 5))
    # (c) no record at all, a MONAI transform applied: the image's own grid
    bare = Flipd("img", spatial_axis=1)({"img": MetaTensor(torch.rand(1, 6, 5, 4), affine=affine.clone())})["img"]
    assert bare.applied_operations and "original_affine" not in bare.meta
    assert landmark_grid(bare) == Space.from_affine(bare.affine.numpy(), (6, 5, 4))


def test_the_landmarks_grid_of_a_collated_batch_is_refused_by_name():
    """landmark_grid_12.._14 (the message): two samples through ``SpaceResampled`` collated by MONAI's
    ``list_data_collate`` hold one grid each; the message, by hand, says how many and how to decollate."""
    from monai.data import list_data_collate

    from monai_spacetx.errors import SpaceTypeError
    from monai_spacetx.transforms import SpaceResampled
    from monai_spacetx.transforms.lazy import landmark_grid

    affine = torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64))
    samples = [SpaceResampled("img", pixdim=0.9)({"img": MetaTensor(torch.rand(1, 6, 5, 4), affine=affine.clone())}) for _ in range(2)]
    batch = list_data_collate(samples)["img"]
    expected = ("the landmarks' grid of a collated batch (2 samples) is one grid per sample; "
                "decollate the batch first (monai.data.decollate_batch)")
    with pytest.raises(SpaceTypeError) as caught:
        landmark_grid(batch)
    assert str(caught.value) == expected


# ----------------------------------------------------------------------------- op_votes / _decide: the rule by hand
@pytest.mark.parametrize("ndim", [2, 3])
def test_a_half_voxel_shift_votes_and_a_whole_one_does_not(ndim):
    """_op_copies_15 (the translation column left out of the integrality check), op_votes_1 (default ``ndim`` 4): MONAI's ``Affined`` shifting by 0.5
    voxel with ``mode="nearest"`` interpolates (its index map ``[I | (0.5, 0..)]``, by hand), so it votes
    ``nearest``; shifting by 2 voxels copies: no vote."""
    from monai_spacetx.transforms.lazy import op_votes

    def shifted(by: float) -> list:
        shift = (by,) + (0.0,) * (ndim - 1)
        return list(Affined("img", translate_params=shift, mode="nearest")({"img": _image(ndim)}, lazy=True)["img"].pending_operations)

    half = shifted(0.5)
    expected = np.eye(ndim + 1)
    expected[0, ndim] = 0.5
    np.testing.assert_array_equal(np.asarray(half[0]["lazy_affine"], dtype=float), expected)
    assert op_votes(half, ndim) == ["nearest"]
    assert op_votes(shifted(2.0), ndim) == []
    if ndim == 3:  # op_votes_1: the default ndim is 3
        assert op_votes(shifted(2.0)) == []


def test_a_constant_filling_step_sets_the_padding_and_keeps_the_voted_mode():
    """_decide_27 (the voted mode dropped), _29 (the fill kept) where a fused step fills with a constant: MONAI's
    ``Spacingd(mode="nearest", padding_mode="zeros")`` under our ``linear``/``border`` step with fill 5: by the rule,
    ``nearest`` (a discrete vote), zeros padding, fill 0."""
    zeros = Spacingd("img", pixdim=0.7, mode="nearest", padding_mode="zeros")({"img": _image(3)}, lazy=True)["img"]
    fused = fuse_options(zeros.pending_operations, WarpOptions("linear", "border", 5.0))
    assert (fused.mode, fused.padding_mode, fused.fill) == ("nearest", "zeros", 0.0)


def test_an_index_map_within_the_plan_tolerance_of_a_permutation_copies():
    """_op_copies_27 (the tolerance made exclusive): MONAI's ``Affined`` with a shear of exactly ``PLAN_TOL`` along a
    1-voxel axis (no centring shift: its record is ``[[1, PLAN_TOL, 0, 0], ...]``, by hand) is an integer map
    within the tolerance, bound included: no vote; 1.5 ``PLAN_TOL`` votes ``nearest``."""
    from monai_spacetx.geometry.tolerances import PLAN_TOL
    from monai_spacetx.transforms.lazy import op_votes

    img = MetaTensor(torch.rand(1, 8, 1, 8), affine=torch.eye(4, dtype=torch.float64))

    def sheared(amount: float) -> list:
        matrix = np.eye(4)
        matrix[0, 1] = amount
        return list(Affined("img", affine=matrix, mode="nearest")({"img": img}, lazy=True)["img"].pending_operations)

    exact = sheared(PLAN_TOL)
    record = np.asarray(exact[0]["lazy_affine"], dtype=float)
    assert record[0].tolist() == [1.0, PLAN_TOL, 0.0, 0.0] and np.array_equal(record[1:], np.eye(4)[1:])
    assert op_votes(exact) == []
    assert op_votes(sheared(1.5 * PLAN_TOL)) == ["nearest"]


# ----------------------------------------------------------------------------- plan_step: copy computed pixels, or re-read the input
def _resampled(img: MetaTensor, pixdim: float = 0.9) -> MetaTensor:
    from monai_spacetx.transforms import SpaceResampled

    return SpaceResampled("img", pixdim=pixdim, lazy=True)({"img": img})["img"]


def _crop(img: MetaTensor) -> MetaTensor:
    from monai_spacetx.transforms import SpaceCrop

    return SpaceCrop(roi_start=(1, 2, 1), roi_end=(9, 8, 6), lazy=True)(img)


def test_a_crop_after_a_lazy_resample_reads_the_input_or_copies_the_read_pixels(monkeypatch):
    """plan_step_14, _17, _19, _20, _29, _31 (when a crop copies the resample's computed pixels, when it re-reads the
    input): lazy ``SpaceResampled`` then lazy ``SpaceCrop``. Unread in between: ONE warp in all, reading the input's
    storage; read in between: the crop's warp reads the resample's computed storage (a copy, not a second
    resample of the input). Either way the crop holds the brute-force one linear resample of the input."""
    import monai_spacetx.transforms.lazy as lazy_module

    reads: list[int] = []  # the storage each engine warp reads
    engine = lazy_module.warp_image

    def recorded(data, *args, **kwargs):
        reads.append(data.untyped_storage().data_ptr())
        return engine(data, *args, **kwargs)

    monkeypatch.setattr(lazy_module, "warp_image", recorded)
    img = _float_image()
    for read_between in (False, True):
        reads.clear()
        first = _resampled(img)
        if read_between:
            first.as_tensor()
        out = _crop(first)
        values = out.as_tensor().numpy()[0]
        expected_reads = [img.untyped_storage().data_ptr()] + ([first.untyped_storage().data_ptr()] if read_between else [])
        assert reads == expected_reads, read_between
        assert tuple(out.shape[1:]) == (8, 6, 5)
        np.testing.assert_allclose(values, _one_linear_resample(img, out), rtol=0, atol=1e-5)


def test_a_resample_after_a_read_lazy_resample_still_reads_the_input_once():
    """plan_step_15, _18 (the computed pixels copied although the next step interpolates: two resamples): lazy
    ``SpaceResampled(0.9)``, read, then lazy ``SpaceResampled(1.3)``: the brute-force ONE linear resample of the
    input on the last grid."""
    img = _float_image()
    first = _resampled(img)
    first.as_tensor()
    out = _resampled(first, 1.3)
    np.testing.assert_allclose(out.as_tensor().numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)


def test_a_monai_resize_along_the_last_axis_after_a_read_resample_is_fused():
    """plan_step_13 (the pending operations' copy check made on one axis too few): lazy ``SpaceResampled``, read,
    then MONAI's lazy ``Resized`` along the last axis only (it interpolates there) and the sink: the brute-force
    ONE linear resample of the input onto MONAI's grid, not a copy of the read pixels resampled again."""
    from monai.transforms import Resized

    from monai_spacetx import SpaceApplyPendingd

    img = _float_image()
    first = _resampled(img)
    first.as_tensor()
    shape = tuple(first.shape[1:])
    pending = Resized("img", spatial_size=(shape[0], shape[1], shape[2] + 3), mode="trilinear")({"img": first}, lazy=True)
    out = SpaceApplyPendingd("img")(pending)["img"]
    assert tuple(out.shape[1:]) == (shape[0], shape[1], shape[2] + 3)
    np.testing.assert_allclose(out.as_tensor().numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)


def test_a_key_a_foreground_crop_does_not_read_is_computed_before_it_is_cropped():
    """plan_step_29 (the crop's input never computed when there is no earlier step to read from): lazy
    ``SpaceResampled`` on two keys, then ``SpaceCropForegroundd`` on the first: it ends the segment for both keys,
    so the second key's deferred output has no earlier input to fuse with and must be computed before the crop
    copies it: the brute-force one linear resample of the second key's input on its cropped grid."""
    from monai_spacetx.transforms import SpaceCropForegroundd, SpaceResampled

    other = _float_image()
    blob = torch.zeros_like(other.as_tensor())
    blob[:, 3:9, 3:7, 2:6] = 1.0
    img = MetaTensor(blob, affine=other.affine.clone())
    out = SpaceResampled(["img", "other"], pixdim=0.9, lazy=True)({"img": img, "other": other})
    cropped = SpaceCropForegroundd(["img", "other"], source_key="img", lazy=True)(out)["other"]
    assert tuple(cropped.shape[1:]) != tuple(out["other"].shape[1:])  # a real crop
    np.testing.assert_allclose(cropped.as_tensor().numpy()[0], _one_linear_resample(other, cropped), rtol=0, atol=1e-5)



# ----------------------------------------------------------------------------- plan_step: 2-D votes, the fused count
def test_a_2d_integer_shift_before_our_linear_step_has_no_vote():
    """plan_step_38 (the pending operations' votes read as 3-D in 2-D): MONAI's lazy 2-D ``Affined`` shifting 2
    voxels with ``mode="nearest"`` (a 3x3 record: a copy) then our lazy ``SpaceResampled`` (bilinear): the
    brute-force ONE linear resample of the input, not nearest."""
    from oracles import interpolate

    from monai_spacetx.transforms import SpaceResampled

    generator = torch.Generator().manual_seed(2)
    img = MetaTensor(torch.rand(1, 12, 10, generator=generator), affine=torch.diag(torch.tensor([1.0, 1.2, 1.0, 1.0], dtype=torch.float64)))
    pending = Affined("img", translate_params=(2, 0), mode="nearest", padding_mode="border")({"img": img}, lazy=True)
    out = SpaceResampled("img", pixdim=0.7, lazy=True)(pending)["img"]
    expected = interpolate(img.as_tensor().numpy()[0], img.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:]), 1, "border")
    np.testing.assert_allclose(out.as_tensor().numpy()[0], expected, rtol=0, atol=1e-5)


def test_the_fused_count_covers_the_space_step_and_the_monai_steps_between():
    """plan_step_76 (the count of records the warp covers): lazy ``SpaceResampled``, MONAI's lazy ``Flipd``, lazy
    ``SpaceResampled``: the last warp covers 2 records before its own (the first Space step's and the flip's), by
    hand, and the result is the brute-force ONE linear resample of the input."""
    from monai.transforms import Flipd

    img = _float_image()
    flipped = Flipd("img", spatial_axis=0)({"img": _resampled(img)}, lazy=True)["img"]
    out = _resampled(flipped, 1.3)
    assert [op["class"] for op in out.applied_operations] == ["SpaceResample", "Flip", "SpaceResample"]
    assert out.applied_operations[-1]["extra_info"]["fused"] == 2
    np.testing.assert_allclose(out.as_tensor().numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)


def test_our_label_mode_wins_over_a_monai_nearest_vote():
    """plan_step_84 (our step's own vote lost): MONAI's lazy ``Spacingd(mode="nearest")`` on a uint8 label, then our
    lazy ``SpaceResampled(mode="label")``: by the rule ``label`` (our step asked for it), so no voxel breaks the
    per-class linear vote of the input on the final grid (tests/oracles.py: ties may go either way), which the
    brute-force nearest sample breaks in hundreds."""
    from oracles import label_vote_violations, nearest

    from monai_spacetx.transforms import SpaceResampled

    values = (np.indices((12, 12, 12)).sum(axis=0) // 3 % 3).astype(np.uint8)
    label = MetaTensor(torch.as_tensor(values)[None], affine=torch.diag(torch.tensor([1.0, 1.2, 1.0, 1.0], dtype=torch.float64)))
    pending = Spacingd("seg", pixdim=0.8, mode="nearest")({"seg": label}, lazy=True)
    out = SpaceResampled("seg", pixdim=0.7, mode="label", lazy=True)(pending)["seg"]
    got = out.as_tensor().numpy()[0]
    a0, a1, shape = label.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:])
    assert out.dtype == torch.uint8
    assert label_vote_violations(got, values, a0, a1, shape, "border") == 0
    assert label_vote_violations(nearest(values, a0, a1, shape), values, a0, a1, shape, "border") > 100


def test_a_monai_zeros_padding_before_our_border_step_pads_the_fused_warp_with_zeros():
    """plan_step_42, _43 (whether a fused step fills with a constant): MONAI's lazy ``Affined`` (turned 0.4 rad,
    ``padding_mode="zeros"``) then our lazy ``SpaceResampled`` (``border``): the fused warp pads with zeros, as
    MONAI's step filled beyond the input: the brute-force ONE linear resample of the input with zeros padding."""
    from oracles import interpolate

    from monai_spacetx.transforms import SpaceResampled

    img = _float_image()
    pending = Affined("img", rotate_params=(0.4, 0.0, 0.0), mode="bilinear", padding_mode="zeros")({"img": img}, lazy=True)
    out = SpaceResampled("img", pixdim=0.7, padding_mode="border", lazy=True)(pending)["img"]
    data, shape = img.as_tensor().numpy()[0], tuple(out.shape[1:])
    expected = interpolate(data, img.affine.numpy(), out.affine.numpy(), shape, 1, "zeros")
    assert np.abs(expected - interpolate(data, img.affine.numpy(), out.affine.numpy(), shape, 1, "border")).max() > 0.1
    np.testing.assert_allclose(out.as_tensor().numpy()[0], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("seed", range(8))
def test_outside_grid_is_the_brute_force_nearest_cell_test(seed):
    """outside_grid_25 (the corner test stops one voxel short), _31 (the corners moved the wrong way): a target box
    on an oblique, sheared grid, a third of a voxel off its centres, that passes the grid's edge (only at the far end,
    only at the near end, or by 0-2 voxels on random sides); the voxels outside are exactly those whose centre, solved
    from the raw affines with numpy, rounds (``floor(x + 0.5)``) outside the grid."""
    from monai_spacetx import Space
    from monai_spacetx.transforms.lazy import outside_grid

    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    linear = np.diag(rng.uniform(0.7, 1.6, ndim)) + rng.uniform(-0.2, 0.2, (ndim, ndim))
    affine = np.eye(ndim + 1)
    affine[:ndim, :ndim], affine[:ndim, ndim] = linear, rng.uniform(-5, 5, ndim)
    shape = rng.integers(5, 9, ndim)
    grid = Space.from_affine(affine, shape.tolist())
    low, high = np.zeros(ndim, dtype=np.int64), shape.copy()
    if seed < 2:  # one row past the far end of axis 0, inside everywhere else
        high[0] += 1
    elif seed < 4:  # one row before the near end of axis 0, and two short of the far end
        low[0], high[0] = -1, shape[0] - 2
    else:
        low, high = -rng.integers(0, 3, ndim), shape + rng.integers(0, 3, ndim)
    target_affine = affine.copy()
    target_affine[:ndim, ndim] = affine[:ndim, :ndim] @ (low + 1.0 / 3.0) + affine[:ndim, ndim]
    target = Space.from_affine(target_affine, (high - low).tolist())
    got = outside_grid(target, grid)
    index = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in target.shape], indexing="ij"), -1)
    world = index @ target_affine[:ndim, :ndim].T + target_affine[:ndim, ndim]
    cell = np.floor(np.linalg.solve(linear, (world - affine[:ndim, ndim]).reshape(-1, ndim).T).T + 0.5).reshape(index.shape)
    expected = ~np.all((cell >= 0) & (cell < shape), axis=-1)
    assert expected.any() == bool(np.any(low < 0) or np.any(high > shape))
    np.testing.assert_array_equal(np.zeros(target.shape, dtype=bool) if got is None else got, expected)


def test_warp_as_keeps_copied_dtypes_and_returns_monais_float_for_interpolated_integers():
    """warp_as_1, _2, _5.._8 (``nearest``/``label`` sent through MONAI's computation dtype), _19, _20 (the output dtype
    of an interpolated image): with a computation dtype given (MONAI's ``dtype=float64``), a nearest or label copy
    keeps a uint8 map's dtype and values, an int16 image interpolated comes back float32 and a float64 one float64
    (the module's contract, MONAI's rule for integer input); the grid is a whole-voxel crop, so every value is the
    input's, by hand."""
    from monai_spacetx import Space
    from monai_spacetx.transforms.lazy import warp_as

    source = Space((6, 5, 4))
    target = source.crop((1, 1, 0), (5, 4, 4))
    window = (slice(None), slice(1, 5), slice(1, 4), slice(0, 4))
    labels = torch.arange(120).reshape(1, 6, 5, 4).to(torch.uint8)
    for mode in ("nearest", "label"):
        out = warp_as(labels, source, target, WarpOptions.parse(mode, "zeros"), torch.float64)
        assert out.dtype == torch.uint8, mode
        assert torch.equal(out, labels[window]), mode
    ints = torch.arange(120, dtype=torch.int16).reshape(1, 6, 5, 4)
    out = warp_as(ints, source, target, WarpOptions.parse("linear", "zeros"), torch.float64)
    assert out.dtype == torch.float32 and torch.equal(out, ints[window].float())
    doubles = torch.rand(1, 6, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = warp_as(doubles, source, target, WarpOptions.parse("linear", "zeros"), torch.float32)
    assert out.dtype == torch.float64 and torch.equal(out, doubles[window].float().double())


# ----------------------------------------------------------------------------- _called_by_lazy_monai: passes by hand
@pytest.mark.parametrize("monai_step", ["Flipd", "Rotated", "SpatialPadd"])
def test_a_monai_lazy_step_after_a_space_step_costs_no_pass(warp_calls, monai_step):
    """_called_by_lazy_monai_*, Deferred.as_tensor_2, _3 (a MONAI lazy function taking the data of a Space step's
    unread output through ``as_tensor()`` reads no value): ``SpaceResampled -> <MONAI step> -> SpaceApplyPendingd``
    under ``Compose(lazy=True)`` is ONE warp of our engine in all and none of MONAI's resampler (counted), whether
    ``lazy`` is held by the function that calls ``as_tensor()`` (``flip``, ``pad_func``) or by its caller
    (``affine_func`` through ``_maybe_new_metatensor``); the result is the brute-force one linear resample of the
    input on the final grid (beyond the input: border for the flip and the rotation, zeros for the pad)."""
    from monai.transforms import Compose, Flipd, Rotated, SpatialPadd

    from monai_spacetx.transforms import SpaceApplyPendingd, SpaceResampled
    from oracles import interpolate

    step = {"Flipd": lambda: Flipd("img", spatial_axis=1),
            "Rotated": lambda: Rotated("img", angle=0.4, mode="bilinear", padding_mode="border"),
            "SpatialPadd": lambda: SpatialPadd("img", spatial_size=(16, 14, 12))}[monai_step]()
    img = _float_image()
    out = Compose([SpaceResampled("img", pixdim=0.9), step, SpaceApplyPendingd("img")], lazy=True)({"img": img})["img"]
    values = out.as_tensor().numpy()[0]
    assert warp_calls == {"ours": 1, "monai": 0}
    assert [op["class"] for op in out.applied_operations] == ["SpaceResample", monai_step[:-1]]
    if monai_step == "SpatialPadd":  # zeros beyond the resampled grid: the pad's own region, by hand
        resampled = SpaceResampled("img", pixdim=0.9)({"img": img})["img"]
        inner = tuple(slice((n - m) // 2, (n - m) // 2 + m) for n, m in zip(out.shape[1:], resampled.shape[1:]))
        expected = np.zeros(out.shape[1:])
        expected[inner] = interpolate(img.as_tensor().numpy()[0], img.affine.numpy(), resampled.affine.numpy(),
                                      tuple(resampled.shape[1:]), 1, "border")
    else:
        expected = _one_linear_resample(img, out)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-5)


def test_as_tensor_outside_a_monai_lazy_function_gets_the_pixels(warp_calls):
    """_called_by_lazy_monai (the first frame outside ``lazy.py`` must be MONAI's lazy function): a lazy Space
    step's unread output, ``as_tensor()`` called by a user's transform inside ``Compose(lazy=True)`` (MONAI's
    ``_apply_transform``, which holds ``lazy=True``, is its caller) and by MONAI's eager ``Flip``
    (``lazy=False``): a plain tensor holding the brute-force one linear resample (one warp), and MONAI's eager
    flip of it (one warp, then MONAI's copy; the output it read is then the type MONAI's eager ``Spacing`` returns).
    _called_by_lazy_monai_30 (True when neither MONAI frame holds ``lazy=True``) fails the last."""
    from monai.transforms import Compose, Flip, Spacing

    from monai_spacetx.transforms import SpaceResampled

    img = _float_image()
    taken: list[torch.Tensor] = []

    def user_transform(data: dict) -> dict:
        taken.append(data["img"].as_tensor())
        return data

    out = Compose([SpaceResampled("img", pixdim=0.9), user_transform], lazy=True)({"img": img})["img"]
    assert type(taken[0]) is torch.Tensor and warp_calls["ours"] == 1
    np.testing.assert_allclose(taken[0].numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)
    warp_calls["ours"] = 0
    fresh = SpaceResampled("img", pixdim=0.9, lazy=True)({"img": img})["img"]
    flipped = Flip(spatial_axis=0, lazy=False)(fresh)
    assert warp_calls["ours"] == 1 and type(fresh) is type(Spacing(pixdim=0.9)(img))  # computed, an ordinary MetaTensor
    np.testing.assert_allclose(flipped.as_tensor().numpy()[0], _one_linear_resample(img, fresh)[::-1], rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- realize, _unread_view: the views of one storage
@pytest.mark.parametrize("first", ["output", "view"])
def test_a_read_deferred_output_and_its_monai_view_are_ordinary_metatensors_with_the_pixels(warp_calls, first):
    """realize_5, _22, _23, _30, _31, _unread_view_7.._14 (the class switch after computing; a second view of
    the same storage; the view MONAI's lazy ``Flip`` gets): a lazy ``SpaceResampled``'s unread output and the
    MetaTensor MONAI's lazy ``Flip`` made of it share one storage; whichever is read first computes it (one warp,
    counted), the other then reads the same pixels without a second warp: the brute-force one linear resample (the
    flip is still pending on the view). The one read first is then of the type MONAI's eager ``Spacing`` returns."""
    from monai.transforms import Flip, Spacing

    img = _float_image()
    out = _resampled(img)
    view = Flip(spatial_axis=0, lazy=True)(out)
    assert warp_calls["ours"] == 0 and len(view.pending_operations) == 1
    expected = _one_linear_resample(img, out)
    for tensor in ((out, view) if first == "output" else (view, out)):
        np.testing.assert_allclose(tensor.as_tensor().numpy()[0], expected, rtol=0, atol=1e-5)
        assert warp_calls["ours"] == 1
    assert type(out if first == "output" else view) is type(Spacing(pixdim=0.9)(img))


# ----------------------------------------------------------------------------- output_dtype: an interpolated integer image
def test_a_lazily_interpolated_integer_image_is_float32_as_monais():
    """output_dtype_13 (the deferred output allocated in the input's dtype): a lazy ``SpaceResampled`` (bilinear) of
    an int16 image is float32, MONAI's eager ``Spacing``'s dtype, and holds the brute-force linear resample (not
    truncated to integers)."""
    from monai.transforms import Spacing

    generator = torch.Generator().manual_seed(3)
    values = torch.randint(-300, 300, (1, 12, 10, 8), generator=generator, dtype=torch.int16)
    img = MetaTensor(values, affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    out = _resampled(img)
    assert out.dtype == Spacing(pixdim=0.9)(img).dtype == torch.float32
    expected = _one_linear_resample(MetaTensor(values.double(), affine=img.affine), out)
    np.testing.assert_allclose(out.as_tensor().numpy()[0], expected, rtol=0, atol=1e-3)


# ----------------------------------------------------------------------------- _recall: only the untouched output fuses
def test_a_space_steps_output_changed_in_place_is_read_as_changed():
    """_recall_3 (a changed layout, the version after an in-place write, ignored when records exist): a lazy
    ``SpaceResampled``'s output, ``add_(1)`` in place, then a lazy ``SpaceCrop`` and a lazy ``SpaceResampled(1.3)``:
    the crop holds the brute-force linear resample plus 1; the second resample resamples those pixels (the
    brute-force resample onto the 0.9 grid, plus 1, resampled onto the 1.3 grid), not the input once."""
    from oracles import interpolate

    img = _float_image()
    out = _resampled(img)
    out.add_(1.0)
    cropped = _crop(out)
    np.testing.assert_allclose(cropped.as_tensor().numpy()[0], _one_linear_resample(img, cropped) + 1.0, rtol=0, atol=1e-5)
    again = _resampled(out, 1.3)
    twice = interpolate(_one_linear_resample(img, out) + 1.0, out.affine.numpy(), again.affine.numpy(), tuple(again.shape[1:]), 1, "border")
    assert np.abs(twice - _one_linear_resample(img, again) - 1.0).max() > 1e-3  # the two differ: the test can tell
    np.testing.assert_allclose(again.as_tensor().numpy()[0], twice, rtol=0, atol=1e-5)


def test_an_eager_monai_step_on_the_same_storage_ends_the_fusion():
    """_recall_14 (any output on the step's storage taken for its untouched output): MONAI's eager identity
    ``Orientation`` (RAS already) returns the lazy ``SpaceResampled``'s storage with its own record last; a
    following lazy ``SpaceResampled(1.3)`` resamples those pixels, as the eager chain does: the brute-force linear
    resample onto the 0.9 grid, then from that grid onto the 1.3 grid (two resamples, not one from the input)."""
    from monai.transforms import Orientation

    from oracles import interpolate

    img = _float_image()
    first = _resampled(img)
    oriented = Orientation(axcodes="RAS")(first)
    assert oriented.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
    out = _resampled(oriented, 1.3)
    once = _one_linear_resample(img, first)
    twice = interpolate(once, first.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:]), 1, "border")
    assert np.abs(twice - _one_linear_resample(img, out)).max() > 1e-3  # the two differ: the test can tell
    np.testing.assert_allclose(out.as_tensor().numpy()[0], twice, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- take_pending, execute, execute_fused (public)
def test_take_pending_reads_a_deferred_outputs_pixels_by_default():
    """take_pending_1 (``read=False`` by default): ``take_pending`` of a lazy Space step's unread output gives
    its pixels, the brute-force one linear resample, with no pending operation and the output's grid."""
    from monai_spacetx.transforms.lazy import take_pending

    img = _float_image()
    out = _resampled(img)
    run = take_pending(out)
    assert run.ops == () and run.grid == run.source
    np.testing.assert_array_equal(run.source.affine, out.affine.numpy())
    np.testing.assert_allclose(run.data.numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)


def test_execute_takes_the_recorded_mode_and_the_given_padding():
    """execute_1.._5, execute_fused_1 (``override`` on by default: the given mode over the recorded one): MONAI's
    lazy ``Rotate`` recorded with ``nearest`` and ``border``; ``execute(img, linear + border)``: the recorded
    nearest wins (the given mode is a default), our ``border`` pads: the brute-force nearest sample of the raw
    affines (border), a plain tensor on the pending grid. With ``zeros`` given, zeros beyond the input."""
    from monai.transforms import Rotate

    from monai_spacetx.transforms.lazy import execute
    from oracles import nearest

    generator = torch.Generator().manual_seed(4)
    img = MetaTensor(torch.rand(1, 12, 10, 8, generator=generator), affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    pending = Rotate(angle=(0.0, 0.0, 0.35), mode="nearest", padding_mode="border", lazy=True)(img)
    target = pending.peek_pending_affine().numpy()
    shape = tuple(int(n) for n in pending.peek_pending_shape())
    for padding in ("border", "zeros"):
        pixels = execute(pending, WarpOptions("linear", padding_mode=padding))
        assert type(pixels) is torch.Tensor and tuple(pixels.shape) == (1, *shape)
        expected = nearest(img.numpy()[0], img.affine.numpy(), target, shape, padding=padding)
        np.testing.assert_array_equal(pixels.numpy()[0], expected)


def test_execute_fused_with_nothing_pending_returns_the_pixels_and_covers_nothing():
    """execute_fused_4, _7, _8, _27 (what is read, and the count, when nothing is pending): ``execute_fused`` of a
    MetaTensor with nothing pending returns its own data (the same storage) and covers 0 records; of a lazy Space
    step's unread output, its pixels computed: the brute-force one linear resample."""
    from monai_spacetx.transforms.lazy import execute_fused

    img = _float_image()
    pixels, covered, _ = execute_fused(img)
    assert covered == 0 and pixels.untyped_storage().data_ptr() == img.untyped_storage().data_ptr()
    np.testing.assert_array_equal(pixels.numpy(), img.numpy())
    out = _resampled(img)
    pixels, covered, _ = execute_fused(out)
    assert covered == 0
    np.testing.assert_allclose(torch.as_tensor(pixels).numpy()[0], _one_linear_resample(img, out), rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- Deferred.__torch_function__: keyword arguments
def test_a_deferred_output_given_as_a_keyword_argument_is_computed_first():
    """Deferred.__torch_function___12 (keyword arguments not searched for deferred outputs): ``torch.add(x,
    other=out)`` with ``out`` a lazy Space step's unread output: x + the brute-force one linear resample."""
    img = _float_image()
    out = _resampled(img)
    ones = torch.ones(out.shape)
    total = torch.add(ones, other=out)
    np.testing.assert_allclose(torch.as_tensor(total).numpy()[0], _one_linear_resample(img, out) + 1.0, rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- run_step: copied pixels
def test_a_border_crop_beyond_a_read_resample_copies_its_pixels_with_their_border(warp_calls):
    """run_step_6, _11 (the options not passed when the computed pixels are copied): a lazy ``SpaceResampled``
    (``border``), read, then a lazy ``SpaceCrop`` reaching 2 voxels beyond its grid on every side with
    ``padding_mode="border"``: one copy of the read pixels (counted: 1 warp after the read), each voxel beyond
    the grid the nearest edge voxel: numpy's ``edge`` pad of the brute-force resample."""
    from monai_spacetx.transforms import SpaceCrop

    img = _float_image()
    first = _resampled(img)
    first.as_tensor()
    warp_calls["ours"] = 0
    shape = tuple(first.shape[1:])
    out = SpaceCrop(roi_start=(-2, -2, -2), roi_end=tuple(n + 2 for n in shape), padding_mode="border", lazy=True)(first)
    values = out.as_tensor().numpy()[0]
    assert warp_calls["ours"] == 1
    np.testing.assert_allclose(values, np.pad(_one_linear_resample(img, first), 2, mode="edge"), rtol=0, atol=1e-5)


def test_a_crop_of_a_read_edge_zoom_copies_its_padded_pixels_in_one_warp(warp_calls):
    """run_step_32 (the zoom's padding replayed again over pixels that hold it): a lazy kept-size ``SpaceZoom(0.6,
    edge)``, read, then a lazy crop of voxels [0, 9) x [0, 7) x [0, 5) (the zoom's padding included): one copy of the
    read pixels (counted: 1 warp after the read), MONAI's eager ``Zoom`` then ``SpatialCrop``, side by side."""
    from monai.transforms import SpatialCrop, Zoom

    from monai_spacetx.transforms import SpaceCrop, SpaceZoom

    generator = torch.Generator().manual_seed(1)
    img = MetaTensor(torch.rand(1, 10, 8, 6, generator=generator),
                     affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    zoomed = SpaceZoom(0.6, mode="bilinear", padding_mode="edge", lazy=True)(img)
    zoomed.as_tensor()
    warp_calls["ours"] = 0
    out = SpaceCrop(roi_start=(0, 0, 0), roi_end=(9, 7, 5), lazy=True)(zoomed)
    values = out.as_tensor().numpy()
    assert warp_calls["ours"] == 1
    expected = SpatialCrop(roi_start=(0, 0, 0), roi_end=(9, 7, 5))(Zoom(0.6, mode="bilinear", padding_mode="edge")(img))
    np.testing.assert_allclose(values, expected.as_tensor().numpy(), rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------- plan_step: the earlier step's padding
def test_a_copy_after_a_lazy_resample_pads_with_the_resamples_padding_and_fill():
    """plan_step's ``replace(options, padding_mode=base.padding[0], fill=base.padding[1])`` (either dropped: the
    copy's own ``border`` or fill 0 beyond the input): a lazy ``SpaceResampled(0.9, zeros, fill=5)`` then a lazy
    ``SpaceCrop`` reaching 2 voxels beyond its grid (``border``) is one warp from the input, which pads as the
    resample did (the module's rule, by hand): the brute-force linear sample of the input on the crop's grid,
    5 where a centre lies outside the input's field of view (there are some)."""
    from monai_spacetx.transforms import SpaceCrop, SpaceResampled
    from oracles import interpolate

    img = _float_image()
    first = SpaceResampled("img", pixdim=0.9, padding_mode="zeros", fill=5.0, lazy=True)({"img": img})["img"]
    shape = tuple(first.shape[1:])
    out = SpaceCrop(roi_start=(-2, -2, -2), roi_end=tuple(n + 2 for n in shape), padding_mode="border", lazy=True)(first)
    expected = interpolate(img.numpy()[0], img.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:]), 1, "zeros", fill=5.0)
    assert (expected == 5.0).sum() > 100
    np.testing.assert_allclose(out.as_tensor().numpy()[0], expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shift", [0.5, -0.5])
def test_a_centre_on_the_edge_of_a_flipped_copy_is_decided_in_the_inputs_frame(shift):
    """plan_step's held windows framed from the earlier Space step's input (``base.source``), not its output: a
    lazy ``SpaceResampled(diagonal=True)`` of an image whose first axis runs backwards is a flipped copy; MONAI's
    lazy half-voxel nearest ``Affined`` (zeros) then the sink: every target centre is a tie. By hand: one nearest
    read of the input at ``floor(x + 0.5)`` (the higher row), 0 where that row is not in the input (the flip
    decides no tie: a centre half a voxel before row 0 reads row 0)."""
    from monai.transforms import Affined, Compose

    from monai_spacetx import SpaceApplyPendingd, SpaceResampled

    values = np.arange(32.0).reshape(8, 4) + 1.0
    affine = torch.eye(4, dtype=torch.float64)
    affine[0, 0], affine[0, 3] = -1.0, 7.0  # input row i at world 7 - i
    data = {"image": MetaTensor(torch.as_tensor(values[None]).float(), affine=affine)}
    out = Compose([SpaceResampled("image", pixdim=1.0, diagonal=True, mode="nearest"),
                   Affined("image", translate_params=[shift, 0.0], mode="nearest", padding_mode="zeros"),
                   SpaceApplyPendingd("image")], lazy=True)(data)["image"]
    world = out.affine.numpy()[0, 0] * np.arange(out.shape[1]) + out.affine.numpy()[0, 3]
    x = 7.0 - world  # the input row each target centre lies on
    assert sorted(np.abs(x) % 1) == [0.5] * out.shape[1]  # every centre is a tie
    rows = np.floor(x + 0.5).astype(int)
    expected = np.zeros((out.shape[1], 4))
    kept = (rows >= 0) & (rows < 8)
    expected[kept] = values[rows[kept]]
    np.testing.assert_array_equal(out[0].numpy(), expected)


@pytest.mark.parametrize("last_lazy", [True, False])
@pytest.mark.parametrize("mode", ["edge", "wrap", "mean", "median", "minimum", "maximum", "reflect", "symmetric", "linear_ramp"])
def test_a_crop_back_out_past_a_lazy_crop_pads_with_its_own_mode_as_monai(mode, last_lazy):
    """run_step_29 and the order of a step's own padding: a lazy kept-size ``SpaceZoom(0.6, edge)``, a lazy crop
    inward, then a crop back out to the zoom's grid (lazy or not) padded with a MONAI pad mode. The crops copy, so
    the result is MONAI's eager ``Zoom``, ``SpatialCrop`` and ``BorderPad(mode)``, side by side, voxel for voxel.
    Before the fix the constant beyond the inward crop's grid was written after the crop's own padding (``wrap``,
    ``mean``, ...: 384 of 480 voxels were 0)."""
    from monai.transforms import BorderPad, SpatialCrop, Zoom

    from monai_spacetx.transforms import SpaceCrop, SpaceZoom

    generator = torch.Generator().manual_seed(1)
    img = MetaTensor(torch.rand(1, 10, 8, 6, generator=generator),
                     affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    zoomed = SpaceZoom(0.6, mode="bilinear", padding_mode="edge", lazy=True)(img)
    inward = SpaceCrop(roi_start=(2, 2, 1), roi_end=(8, 6, 5), lazy=True)(zoomed)
    out = SpaceCrop(roi_start=(-2, -2, -1), roi_end=(8, 6, 5), padding_mode=mode, lazy=last_lazy)(inward)
    expected = BorderPad([2, 2, 2, 2, 1, 1], mode=mode)(
        SpatialCrop(roi_start=(2, 2, 1), roi_end=(8, 6, 5))(Zoom(0.6, mode="bilinear", padding_mode="edge")(img)))
    assert out.shape == expected.shape == (1, 10, 8, 6)
    np.testing.assert_array_equal(out.affine.numpy(), expected.affine.numpy())
    np.testing.assert_allclose(out.as_tensor().numpy(), expected.as_tensor().numpy(), rtol=0, atol=1e-6)
