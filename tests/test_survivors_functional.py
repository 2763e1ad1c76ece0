"""Tests written to kill the mutants mutmut left alive in ``transforms/functional.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills (``<function>_<n>``: mutmut's ``x_<function>__mutmut_<n>``) and checks against an
outside oracle: brute-force samples from the raw affines (``oracles.py``), MONAI's own transforms side by side
(``Spacing``'s affine, ``Invertd``'s ``nearest_interp`` rewrite, ``pop_transform``'s matching), and values by hand.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch
from monai.data import MetaTensor, set_track_meta
from monai.transforms import Flip, Spacing
from monai.utils import TraceKeys

import oracles
from monai_spacetx import Space, SpaceResample
from monai_spacetx.errors import ShapeMismatchError, SpaceTypeError
from monai_spacetx.transforms import functional as F

SHAPE = (9, 7, 6)


def _affine() -> np.ndarray:
    """Oblique, anisotropic, off the origin, every entry different: a map read wrong shows."""
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0.1], [s, c, 0.0], [0.05, 0.0, 1.0]]) @ np.diag([1.2, 0.9, 1.7])
    affine[:3, 3] = (-12.0, 7.5, 31.0)
    return affine


def _image(label: bool = False, meta: dict | None = None) -> MetaTensor:
    grid = np.indices(SHAPE).astype(np.float64)
    if label:
        values = torch.as_tensor(((grid[0] // 3) + 2 * (grid[1] > 3) + (grid[2] > 2)).astype(np.uint8) % 4)
    else:
        values = torch.as_tensor(np.sin(0.7 * grid[0]) + np.cos(0.5 * grid[1] + 0.2) + 0.1 * grid[2] ** 2, dtype=torch.float32)
    return MetaTensor(values[None], affine=torch.as_tensor(_affine()), meta=dict(meta or {}))


def _spacing(affine: np.ndarray) -> np.ndarray:
    """Voxel spacing from the raw affine: the norms of its columns."""
    d = affine.shape[0] - 1
    return np.linalg.norm(np.asarray(affine, dtype=np.float64)[:d, :d], axis=0)


# ---------------------------------------------------------------------------------------------------------------- records


def test_a_label_step_is_undone_per_class_a_linear_step_linearly():
    """``label_aware`` is recorded for ``mode="label"`` only and the inverse reads it back (record_options_3/4/5/6/7,
    _options_of_4/8/9/10/11/12/13): the label step's inverse is the per-class vote, the linear step's the
    multilinear sample, each by brute force from the raw affines."""
    label = _image(label=True)
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="label")
    out = step(label)
    record = out.applied_operations[-1][TraceKeys.EXTRA_INFO]
    assert (record["mode"], record["label_aware"]) == ("bilinear", True)
    back = step.inverse(out)
    vote = oracles.label_vote(out[0].numpy(), out.affine, label.affine, SHAPE)
    assert back.dtype == torch.uint8
    assert oracles.label_vote_violations(back[0].numpy(), out[0].numpy(), out.affine, label.affine, SHAPE) == 0
    assert np.mean(back[0].numpy() == vote) > 0.98
    nearest = oracles.nearest(out[0].numpy(), out.affine, label.affine, SHAPE, padding="border")
    assert np.sum(back[0].numpy() != nearest) > 0  # the vote, not the nearest sample

    image = _image()
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")
    out = step(image)
    assert out.applied_operations[-1][TraceKeys.EXTRA_INFO]["label_aware"] is False
    back = step.inverse(out)
    linear = oracles.interpolate(out[0].numpy(), out.affine, image.affine, SHAPE, 1, "border")
    np.testing.assert_allclose(back[0].numpy(), linear, rtol=0, atol=2e-5)


def test_monais_nearest_interp_rewrite_of_a_label_step_is_nearest():
    """``Invertd(nearest_interp=True)`` rewrites a record's ``mode`` to ``"nearest"``; a label step then inverts by the
    nearest sample although ``label_aware`` is set (_options_of_5): brute-force nearest from the raw affines."""
    label = _image(label=True)
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="label")
    out = step(label)
    record = out.applied_operations[-1]
    record[TraceKeys.EXTRA_INFO] = {**record[TraceKeys.EXTRA_INFO], "mode": "nearest"}  # what MONAI's Invertd writes
    back = step.inverse(out)
    nearest = oracles.nearest(out[0].numpy(), out.affine, label.affine, SHAPE, padding="border")
    np.testing.assert_array_equal(back[0].numpy(), nearest)


def test_the_inverse_pads_with_the_recorded_padding_and_fill():
    """The inverse reads the step's ``padding_mode`` and ``fill`` (_options_of_15/16/20..23, record_options_8..11):
    a step onto a smaller field of view, undone with zeros padding and fill 7, by brute force."""
    image = _image()
    step = SpaceResample(spatial_size=(5, 4, 4), padding_mode="zeros", fill=7.0)
    out = step(image)
    smaller = Space.from_metatensor(out).crop((1, 1, 1), (4, 3, 3))  # a crop of the output: its inverse leaves voxels
    part = MetaTensor(out.as_tensor()[:, 1:4, 1:3, 1:3].clone(), affine=torch.as_tensor(smaller.to_monai_affine()))
    part.applied_operations = [dict(out.applied_operations[-1])]
    part.applied_operations[-1][TraceKeys.EXTRA_INFO] = {**part.applied_operations[-1][TraceKeys.EXTRA_INFO],
                                                         "target": smaller.to_json()}
    back = step.inverse(part)
    expected = oracles.interpolate(part[0].numpy(), part.affine, image.affine, SHAPE, 1, "zeros", 7.0)
    np.testing.assert_allclose(back[0].numpy(), expected, rtol=0, atol=2e-5)
    assert np.sum(expected == 7.0) > 10


# ---------------------------------------------------------------------------------------------------------- pixdim, affine


@pytest.mark.parametrize(
    "given, expected_tail",
    [
        (np.array([-1.0, 2.0, 2.0, 2.0, 1.0, 0.0, 0.0, 0.0]), [1.0, 0.0, 0.0, 0.0]),  # NIfTI's 8, qfac -1 (numpy)
        (torch.tensor([1, 3, 3, 3], dtype=torch.int64), []),  # integers: the new spacing is not truncated
        (torch.tensor([-1.0, 1.0]), []),  # short, as MONAI's own tests write it: padded with ones
        ([1.0, 1.0, 1.0, 1.0, 0.5], [0.5]),
        (torch.tensor(-1.0), []),  # a single number: qfac only
    ],
    ids=["nifti-numpy", "int-tensor", "short", "list", "scalar"],
)
def test_pixdim_gets_the_new_spacing_keeps_the_rest_and_the_input(given, expected_tail):
    """``pixdim`` is ``[qfac, spacing..., rest]``: the spacing written in from the raw affine, qfac and the rest kept,
    a short one padded to ``1 + D``, the input's own array never written (_pixdim_1..27, write_geometry_33..45)."""
    before = copy.deepcopy(given)
    like = _image(meta={"pixdim": given})
    target = Space((4, 5, 3), spacing=(1.55, 0.65, 2.35), origin=(3.0, -2.0, 1.0))
    out = F.write_geometry(torch.zeros(1, 4, 5, 3), like, target, None)
    qfac = float(np.asarray(before, dtype=np.float64).reshape(-1)[0])
    np.testing.assert_allclose(np.asarray(out.meta["pixdim"]), [qfac, 1.55, 0.65, 2.35, *expected_tail], rtol=0, atol=1e-12)
    assert np.asarray(out.meta["pixdim"]).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(like.meta["pixdim"]), np.asarray(before))  # ``like`` is never modified
    np.testing.assert_allclose(out.affine.numpy(), target.to_monai_affine(), rtol=0, atol=1e-12)
    assert out.affine.dtype == torch.float64


def test_a_2d_image_keeps_monais_3x3_or_4x4_affine_as_monai_spacing_does():
    """A 2-D image's 3x3 affine stays 3x3 and a 4x4 one 4x4, with MONAI ``Spacing``'s values (write_geometry_17..27)."""
    a3 = np.array([[0.8, 0.3, 5.0], [-0.2, 1.1, -3.0], [0.0, 0.0, 1.0]])
    a4 = np.eye(4)
    a4[np.ix_([0, 1, 3], [0, 1, 3])] = a3
    for affine in (a3, a4):
        img = MetaTensor(torch.arange(48, dtype=torch.float32).reshape(1, 8, 6), affine=torch.as_tensor(affine))
        ours = SpaceResample(pixdim=(0.7, 1.3))(img)
        theirs = Spacing(pixdim=(0.7, 1.3))(img)
        assert tuple(ours.affine.shape) == tuple(theirs.affine.shape) == affine.shape
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-9)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(_spacing(ours.affine.numpy()[np.ix_([0, 1, -1], [0, 1, -1])]), (0.7, 1.3), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------- invert


def test_inverting_an_image_of_another_shape_names_both_shapes():
    """The inverse refuses an image that is not on the step's output grid, naming both shapes (invert_15/16/17)."""
    step = SpaceResample(spatial_size=(5, 4, 4))
    out = step(_image())
    wrong = MetaTensor(out.as_tensor()[:, :3].clone(), affine=out.affine.clone())
    wrong.applied_operations = list(out.applied_operations)
    with pytest.raises(ShapeMismatchError, match=re.escape(
            "cannot invert SpaceResample: image has spatial shape (3, 4, 4), the transform produced (5, 4, 4)")):
        step.inverse(wrong)


def test_without_metadata_tracking_invert_and_map_back_give_plain_tensors_with_the_values():
    """Under ``set_track_meta(False)`` the inverse and the map-back return plain tensors holding the brute-force
    samples (invert_28, map_back_78, resample_95)."""
    image = _image()
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")
    out = step(image)
    record = out.applied_operations[-1]
    current = Space.from_metatensor(out)
    native = Space.from_metatensor(image)
    linear = oracles.interpolate(out[0].numpy(), out.affine, image.affine, SHAPE, 1, "border")
    set_track_meta(False)
    try:
        back = F.invert(out, record)
        mapped = F.map_back(out.as_tensor(), out, current, native, F.WarpOptions.parse("linear", "border", 0.0))
        forward = F.resample(image, current, F.WarpOptions.parse("linear", "border", 0.0), step.get_transform_info())
    finally:
        set_track_meta(True)
    for result in (back, mapped):
        assert type(result) is torch.Tensor
        np.testing.assert_allclose(result[0].numpy(), linear, rtol=0, atol=2e-5)
    assert type(forward) is torch.Tensor
    np.testing.assert_allclose(forward[0].numpy(), out[0].numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        forward[0].numpy(), oracles.interpolate(image[0].numpy(), image.affine, out.affine, out.shape[1:], 1, "border"), rtol=0, atol=2e-5)


# ------------------------------------------------------------------------------------------------------------- pop_record


def test_a_rebuilt_transform_finds_its_record_below_another_by_monais_spawn_rule(monkeypatch):
    """A transform rebuilt in another process (another ``id``) finds its record by MONAI's rule (``spawn``: the class
    name), below a MONAI ``Flip`` record; both go, and the inverse maps from the flipped image's own grid
    (pop_record_22..44, invert_14): the brute-force linear sample from the flipped affine onto the input grid."""
    monkeypatch.setattr(torch.multiprocessing, "get_start_method", lambda allow_none=False: "spawn")
    image = _image()
    worker = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")
    out = copy.deepcopy(worker)(image)
    flipped = Flip(spatial_axis=1)(out)
    assert len(flipped.applied_operations) == 2
    record, skipped = F.pop_record(worker, flipped)
    assert record[TraceKeys.CLASS_NAME] == "SpaceResample" and skipped is True
    assert flipped.applied_operations == []
    back = F.invert(flipped, record, skipped)
    expected = oracles.interpolate(flipped[0].numpy(), flipped.affine, image.affine, SHAPE, 1, "border")
    np.testing.assert_allclose(back[0].numpy(), expected, rtol=0, atol=2e-5)
    np.testing.assert_allclose(back.affine.numpy(), image.affine.numpy(), rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------------------------------- as_image


def test_as_image_accepts_2d_and_3d_channel_first_only():
    """``(C, H, W)`` and ``(C, H, W, D)`` pass, 2-D and 5-D arrays are refused with their shape (as_image_26/27/28)."""
    assert F.as_image(np.zeros((1, 3, 4))).shape == (1, 3, 4)
    assert F.as_image(np.zeros((1, 3, 4, 5))).shape == (1, 3, 4, 5)
    for shape in ((3, 4), (1, 2, 3, 4, 5)):
        with pytest.raises(ShapeMismatchError, match=re.escape(
                f"image (key 'img') must be channel-first (C, H, W) or (C, H, W, D), got shape {shape}")):
            F.as_image(np.zeros(shape), "img")
    with pytest.raises(SpaceTypeError, match=r"^image \(key 'img'\): "):
        F.as_image(np.full((1, 2, 2, 2), "a"), "img")


def _monai_1_5_most_recent(self, data, key=None, check=True, pop=False):
    """MONAI 1.4/1.5's ``get_most_recent_transform``: the newest record only, checked against ``self``, else an error
    (1.6 searches down the stack by ``id``); written here from MONAI 1.5.0's source."""
    records = data.applied_operations
    if check:
        self.check_transforms_match(records[-1])
    return records.pop(-1) if pop else records[-1]


def test_our_record_below_monais_is_found_by_id_also_where_monai_looks_at_the_newest_only(monkeypatch):
    """MONAI before 1.6 pops only the newest record (and refuses another transform's): ``pop_record`` finds its own by
    ``id`` below a MONAI ``Flip`` record itself (pop_record_3, _10.._12, _15, _17.._19, _21, _22): both records go and
    the inverse maps from the flipped image's own grid, by brute force."""
    from monai.transforms.inverse import TraceableTransform

    monkeypatch.setattr(TraceableTransform, "get_most_recent_transform", _monai_1_5_most_recent)
    image = _image()
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")
    flipped = Flip(spatial_axis=0)(step(image))
    with pytest.raises(RuntimeError):  # the stand-in behaves as MONAI 1.5 did
        step.pop_transform(copy.copy(flipped))
    back = step.inverse(flipped)
    assert flipped.applied_operations == [] and back.applied_operations == []
    expected = oracles.interpolate(flipped[0].numpy(), flipped.affine, image.affine, SHAPE, 1, "border")
    np.testing.assert_allclose(back[0].numpy(), expected, rtol=0, atol=2e-5)


def test_a_transform_applied_twice_is_undone_newest_first():
    """Two records of one transform instance: the inverse pops the newer one only and maps onto the grid between
    (pop_record_14): brute-force linear sample from the second output onto the first output's grid."""
    image = _image()
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")
    once = step(image)
    grid_once = once.affine.clone()
    twice = step(SpaceResample(pixdim=(1.2, 1.5, 1.9))(once))
    assert len(twice.applied_operations) == 3
    back = step.inverse(twice)
    assert [op[TraceKeys.CLASS_NAME] for op in back.applied_operations] == ["SpaceResample", "SpaceResample"]
    middle = back.applied_operations[-1][TraceKeys.EXTRA_INFO]["target"]
    assert Space.from_json(middle).shape == tuple(back.shape[1:])
    expected = oracles.interpolate(twice[0].numpy(), twice.affine, Space.from_json(middle).to_monai_affine(), back.shape[1:], 1, "border")
    np.testing.assert_allclose(back[0].numpy(), expected, rtol=0, atol=2e-5)
    assert not np.allclose(back.affine.numpy(), grid_once.numpy())


def test_invert_maps_from_the_recorded_target_unless_told_to_use_the_data_grid():
    """``from_data_grid`` defaults to the recorded target (invert_1): an image whose affine was moved (same shape) is
    still read on the step's recorded output grid; with ``from_data_grid=True`` on its own grid. Brute force both."""
    image = _image()
    out = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")(image)
    record = out.applied_operations[-1]
    moved_affine = out.affine.clone()
    moved_affine[:3, 3] += torch.tensor([2.5, -1.0, 3.0], dtype=moved_affine.dtype)
    moved = MetaTensor(out.as_tensor().clone(), affine=moved_affine)
    recorded = Space.from_json(record[TraceKeys.EXTRA_INFO]["target"]).to_monai_affine()
    default = F.invert(moved, record)
    np.testing.assert_allclose(default[0].numpy(), oracles.interpolate(out[0].numpy(), recorded, image.affine, SHAPE, 1, "border"),
                               rtol=0, atol=2e-5)
    own = F.invert(moved, record, True)
    np.testing.assert_allclose(own[0].numpy(), oracles.interpolate(out[0].numpy(), moved_affine, image.affine, SHAPE, 1, "border"),
                               rtol=0, atol=2e-5)
    assert np.abs(own[0].numpy() - default[0].numpy()).max() > 0.1


# ---------------------------------------------------------------------------------------------------------- native grid


def test_the_native_grid_an_earlier_space_step_recorded_wins_over_monais_original_affine():
    """``spacetx_native`` (written by an earlier Space step) is the native grid, before MONAI's ``original_affine`` +
    ``spatial_shape`` (_native_or_none_1, _3): the grids written by hand, the output names the recorded one."""
    recorded = Space((11, 10, 8), spacing=(0.9, 0.8, 1.5), origin=(-14.0, 6.0, 29.0))
    loader = np.diag([1.0, 1.0, 1.0, 1.0])
    image = _image(meta={F.NATIVE_KEY: recorded.to_json(), "original_affine": loader, "spatial_shape": np.array((4, 4, 4))})
    out = SpaceResample(pixdim=(1.6, 1.3, 2.2))(image)
    assert Space.from_json(out.meta[F.NATIVE_KEY]) == recorded


def test_a_forward_step_needs_no_native_grid_and_writes_none_it_cannot_tell():
    """An image MONAI already flipped, without loader metadata: its native grid cannot be told, a forward step still
    runs (only mapping back needs it) and writes no ``spacetx_native`` (_native_or_none_2, _4, _5); values by brute force."""
    flipped = Flip(spatial_axis=2)(_image())
    assert flipped.applied_operations and "spatial_shape" not in flipped.meta
    out = SpaceResample(pixdim=(1.6, 1.3, 2.2), mode="bilinear")(flipped)
    assert F.NATIVE_KEY not in out.meta
    expected = oracles.interpolate(flipped[0].numpy(), flipped.affine, out.affine, out.shape[1:], 1, "border")
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=2e-5)
    image = _image()  # untouched: its own grid is native
    out = SpaceResample(pixdim=(1.6, 1.3, 2.2))(image)
    assert Space.from_json(out.meta[F.NATIVE_KEY]) == Space.from_metatensor(image)


def test_pop_record_says_whether_records_above_ours_went_too():
    """Our record on top: popped alone, second value ``False``; under a MONAI ``Flip`` record: both go, ``True``
    (pop_record_46, _47, _48); by hand."""
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2))
    out = step(_image())
    newest = out.applied_operations[-1]
    record, skipped = F.pop_record(step, out)
    assert record is newest and skipped is False and out.applied_operations == []
    flipped = Flip(spatial_axis=1)(step(_image()))
    ours = flipped.applied_operations[0]
    record, skipped = F.pop_record(step, flipped)
    assert record is ours and skipped is True and flipped.applied_operations == []


def test_the_inverse_carries_the_native_grid_or_the_steps_source_in_its_place():
    """The inverse's output names the image's recorded native grid (not the step's source), and the step's source when
    the image records none (invert_29.._33, _37): the grids by hand, from the raw input."""
    image = _image()
    first, second = SpaceResample(pixdim=(1.6, 1.3, 2.2)), SpaceResample(pixdim=(1.1, 1.9, 1.4))
    once = first(image)
    middle = Space.from_metatensor(once)
    twice = second(once)
    bare = MetaTensor(twice.as_tensor().clone(), affine=twice.affine.clone())
    bare.applied_operations = [dict(op) for op in twice.applied_operations]
    back = second.inverse(twice)
    assert Space.from_json(back.meta[F.NATIVE_KEY]) == Space.from_metatensor(image) != middle
    back = second.inverse(bare)  # no native recorded: the step's source stands in
    assert Space.from_json(back.meta[F.NATIVE_KEY]) == middle


# -------------------------------------------------------------------------------------------------------- execute_pending


def test_execute_pending_returns_what_has_nothing_pending_as_it_is():
    """A plain tensor, an array and a MetaTensor with nothing pending come back as they are, the same objects
    (execute_pending_2, _3, _4)."""
    for value in (torch.zeros(1, 3, 3, 3), np.zeros((1, 3, 3, 3)), _image(), None, "text"):
        assert F.execute_pending(value) is value
        assert F.execute_pending(value, end_segment=True) is value


def test_execute_pending_uses_the_options_mode_when_given_else_the_recorded_one():
    """``override`` defaults to whether options are given (execute_pending_15, _16, _20.._23): MONAI's lazy ``Rotate``
    recorded bilinear; with options ``nearest`` the pending rotation is the nearest sample, without options the linear
    one, each by brute force from the raw input affine to the pending grid."""
    from monai.transforms import Rotate

    image = _image()
    for options, order in ((F.WarpOptions.parse("nearest", "zeros", 0.0), 0), (None, 1)):
        pending = Rotate(angle=0.4, mode="bilinear", padding_mode="zeros", lazy=True)(image.clone())
        assert pending.pending_operations
        out = F.execute_pending(pending, options)
        assert not out.pending_operations
        values = image[0].numpy().astype(np.float64)
        if order == 0:
            expected = oracles.nearest(values, image.affine, out.affine, out.shape[1:], padding="zeros")
        else:
            expected = oracles.interpolate(values, image.affine, out.affine, out.shape[1:], 1, "zeros")
        inside = np.abs(expected) > 0
        np.testing.assert_allclose(out[0].numpy()[inside], expected[inside], rtol=0, atol=2e-5)


def test_a_segment_ends_at_execute_pending_only_when_asked():
    """After a lazy Space step, ``execute_pending`` with nothing pending keeps the chain's memory of that step's input
    unless ``end_segment`` (execute_pending_1, _5): the next lazy step is then one interpolation from the input, or an
    interpolation of the first step's pixels; brute force both ways."""
    image = _image()
    for end_segment in (False, True):
        first = SpaceResample(pixdim=(1.6, 1.3, 2.2), lazy=True)(image)
        kept = F.execute_pending(first, end_segment=True) if end_segment else F.execute_pending(first)
        assert kept is first
        second = SpaceResample(pixdim=(1.1, 1.9, 1.4), lazy=True)(kept)
        values = second[0].numpy()
        direct = oracles.interpolate(image[0].numpy(), image.affine, second.affine, second.shape[1:], 1, "border")
        twice = oracles.interpolate(first[0].numpy(), first.affine, second.affine, second.shape[1:], 1, "border")
        assert np.abs(direct - twice).max() > 0.05
        np.testing.assert_allclose(values, twice if end_segment else direct, rtol=0, atol=2e-5)


# ---------------------------------------------------------------------------------------------------------------- map_back


def _two_steps() -> tuple[MetaTensor, MetaTensor]:
    """A loaded image (MONAI's loader metadata: ``original_affine`` + ``spatial_shape``) and its working grid after two
    Space steps (two resamples)."""
    affine = torch.as_tensor(_affine())
    image = _image(meta={"original_affine": affine.clone(), "spatial_shape": np.array(SHAPE)})
    working = SpaceResample(pixdim=(1.1, 1.9, 1.4))(SpaceResample(pixdim=(1.6, 1.3, 2.2))(image))
    return image, working


def test_a_prediction_off_the_working_grid_is_refused_with_both_shapes():
    """A prediction with the working grid's dimensions but another shape is refused, the message in full (map_back_10,
    _17.._21)."""
    from monai_spacetx import SpaceInvert

    _, working = _two_steps()
    shape = tuple(working.shape[1:])
    bad = torch.zeros(2, shape[0] + 1, *shape[1:])
    with pytest.raises(ShapeMismatchError, match=re.escape(
            f"prediction of shape {tuple(bad.shape)} does not lie on the working grid {shape} (expected (C, *working))")):
        SpaceInvert()(bad, ref=working)


def test_a_linear_map_back_through_two_resamples_is_one_linear_resample():
    """Only ``nearest`` composes the chain's nearest maps; linear with zeros padding is one linear resample from the
    working grid to the native one (map_back_55): brute force from the raw affines, zeros outside."""
    from monai_spacetx import SpaceInvert

    image, working = _two_steps()
    pred = MetaTensor(working.as_tensor() * 2.0 + 1.0, affine=working.affine.clone())
    out = SpaceInvert(mode="bilinear", padding_mode="zeros")(pred, ref=working)
    expected = oracles.interpolate(pred[0].numpy(), working.affine, image.affine, SHAPE, 1, "zeros", 0.0)
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=2e-5)


@pytest.mark.parametrize("argmax", [False, True])
def test_the_map_back_names_the_native_grid_also_where_ref_records_none(argmax):
    """The mapped-back prediction's ``spacetx_native`` is the native grid, also when ``ref`` only has MONAI's loader
    metadata (map_back_41, _83): the grid from the raw loader affine and shape."""
    from monai_spacetx import SpaceInvert

    image, working = _two_steps()
    del working.meta[F.NATIVE_KEY]
    pred = MetaTensor(torch.stack([working[0], -working[0]]), affine=working.affine.clone())
    out = SpaceInvert(argmax=argmax, mode="bilinear")(pred, ref=working)
    assert tuple(out.shape[1:]) == SHAPE
    assert Space.from_json(out.meta[F.NATIVE_KEY]) == Space.from_affine(_affine(), SHAPE)
    np.testing.assert_allclose(out.affine.numpy(), _affine(), rtol=0, atol=1e-9)


def test_the_record_holds_the_shape_the_step_started_from_after_monais_pending_pad():
    """Our record's ``orig_size`` is MONAI's: the input's spatial shape, here the shape after a lazily pending MONAI
    ``SpatialPad``, by hand, and the step's recorded source is that padded grid. (resample_41, ``orig_size=None``, is
    equivalent: MONAI's own default, read from the image after the pending records moved onto it, is the same shape.)"""
    from monai.transforms import SpatialPad

    image = _image()
    padded = SpatialPad(spatial_size=(12, 9, 6), lazy=True)(image.clone())
    assert padded.pending_operations
    out = SpaceResample(pixdim=(1.6, 1.3, 2.2), lazy=True)(padded)
    ours = out.applied_operations[-1]
    assert ours[TraceKeys.CLASS_NAME] == "SpaceResample"
    assert tuple(int(s) for s in ours[TraceKeys.ORIG_SIZE]) == (12, 9, 6)
    assert Space.from_json(ours[TraceKeys.EXTRA_INFO]["source"]).shape == (12, 9, 6)


def test_execute_pending_marks_the_newest_record_and_names_the_loaders_native_grid():
    """A lazy Space step, then MONAI's lazy ``Flip`` and ``Rotate``: one warp covers all three; the records stay in
    order, only the newest (``Rotate``'s) says what the warp covered (execute_pending_29, _30), and the output names
    the native grid told by MONAI's loader metadata (execute_pending_38): by hand."""
    from monai.transforms import Rotate

    affine = torch.as_tensor(_affine())
    image = _image(meta={"original_affine": affine.clone(), "spatial_shape": np.array(SHAPE)})
    step = SpaceResample(pixdim=(1.6, 1.3, 2.2), lazy=True)(image)
    pending = Rotate(angle=0.3, lazy=True)(Flip(spatial_axis=0, lazy=True)(step))
    out = F.execute_pending(pending)
    names = [op[TraceKeys.CLASS_NAME] for op in out.applied_operations]
    assert names == ["SpaceResample", "Flip", "Rotate"]
    from monai_spacetx.transforms.lazy import FUSED_KEY

    assert FUSED_KEY in out.applied_operations[-1] and FUSED_KEY not in out.applied_operations[1]
    assert Space.from_json(out.meta[F.NATIVE_KEY]) == Space.from_affine(_affine(), SHAPE)
    out = F.execute_pending(Flip(spatial_axis=1, lazy=True)(image.clone()))  # no Space step wrote it before
    assert Space.from_json(out.meta[F.NATIVE_KEY]) == Space.from_affine(_affine(), SHAPE)


def test_a_lazy_step_without_metadata_tracking_gives_the_plain_samples():
    """``lazy=True`` under ``set_track_meta(False)``: a plain tensor holding the brute-force samples (resample_89,
    _92.._94: the step is still remembered for a following one)."""
    image = _image()
    planned = SpaceResample(pixdim=(1.6, 1.3, 2.2))(image)
    set_track_meta(False)
    try:
        out = SpaceResample(pixdim=(1.6, 1.3, 2.2), lazy=True)(image)
    finally:
        set_track_meta(True)
    assert type(out) is torch.Tensor
    expected = oracles.interpolate(image[0].numpy(), image.affine, planned.affine, planned.shape[1:], 1, "border")
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=2e-5)


def test_a_deferred_lazy_step_computes_in_its_computation_dtype():
    """resample_55, _58 (the computation dtype not handed to the deferred step): a lazy ``SpaceSpacing`` (MONAI's
    default ``dtype=float64``) whose output is read later is the float64 brute-force linear sample rounded to
    float32, voxel for voxel, as the eager step is; with ``dtype=float32`` a fifth of the voxels round otherwise."""
    from monai_spacetx.transforms import SpaceSpacing

    rng = np.random.default_rng(1)
    affine = np.array([[1.1, 0, 0, -7.0], [0, 0.9, 0, 3.0], [0, 0, 1.7, 12.5], [0, 0, 0, 1.0]])
    image = MetaTensor(torch.as_tensor(rng.random((1, 20, 22, 12)), dtype=torch.float32), affine=torch.as_tensor(affine))

    def exact(out: torch.Tensor) -> np.ndarray:
        data = image.as_tensor().double().numpy()[0]
        return oracles.interpolate(data, affine, out.affine.numpy(), tuple(out.shape[1:]), 1, "border").astype(np.float32)

    lazy = SpaceSpacing((1.3, 0.8, 1.7), lazy=True)(image)
    values = lazy.as_tensor()  # the first read computes the deferred step
    assert values.dtype == torch.float32
    assert (values[0].numpy() == exact(lazy)).mean() > 0.999
    rough = SpaceSpacing((1.3, 0.8, 1.7), dtype=np.float32, lazy=True)(image)
    assert (rough.as_tensor()[0].numpy() == exact(rough)).mean() < 0.95
