"""Tests written to kill the mutants mutmut left alive in ``transforms/records.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills (``records_<function>_<n>``: mutmut's ``x_<function>__mutmut_<n>``) and checks
against an outside oracle: MONAI's own lazy record of the same call (``lazy_affine``), numpy's ``rot90``/``flip``
applied to an array and read back by brute force, records written by hand, values worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from monai_spacetx import MetadataError, Space
from monai_spacetx.transforms.records import index_map, input_grid, read_record


def _record(name: str, extra: dict | None = None, **entries) -> dict:
    """A record written by hand the way MONAI writes one (plain string keys: MONAI's TraceKeys are str enums)."""
    record = {"class": name, "orig_size": (4, 5), "do_transforms": True, "extra_info": {} if extra is None else extra}
    record.update(entries)
    return record


# ----------------------------------------------------------------------------- _is_intensity
def test_an_intensity_record_is_an_identity_step_and_other_unknown_records_are_refused():
    """records__is_intensity_1, _2, _8, _9, _21, _22 (no intensity record recognised), _6, _14 (a name that is no
    MONAI transform crashes with AttributeError instead of our error), _23, _24 (a record carrying a lazy grid
    change, ``lazy_affine`` or ``lazy_shape``, taken for an intensity one).

    By hand: ``NormalizeIntensity`` lives in ``monai.transforms.intensity.array`` (MONAI 1.7 records it), so its
    record moves no voxel: the identity map, the same grid before. ``Rand2DElastic`` lives in
    ``monai.transforms.spatial``: unknown here, refused by name, as is a class MONAI does not have."""
    out = Space((4, 5), spacing=(0.5, 2.0), origin=(3.0, -1.0))
    step = read_record(_record("NormalizeIntensity", {"mean": 1.5, "std": 2.0}))
    assert step.kind == "intensity" and step.mode is None and step.applied
    assert np.array_equal(index_map(step, out), np.eye(3))
    assert input_grid(step, out) == out
    for name, entries in (
        ("NormalizeIntensity", {"lazy_affine": np.diag([2.0, 1.0, 1.0])}),  # a grid change: not an intensity step
        ("NormalizeIntensity", {"lazy_shape": (2, 5)}),
        ("Rand2DElastic", {}),
        ("NotAMonaiTransform", {}),
    ):
        with pytest.raises(MetadataError, match=rf"cannot read the record of '{name}' \(innermost '{name}'\)"):
            read_record(_record(name, {"mean": 1.5}, **entries))


# ----------------------------------------------------------------------------- _rot90_map, _flip_map
def _brute_index_map_check(step, moved: np.ndarray, in_shape: tuple[int, ...]) -> None:
    """Every output voxel ``j`` of ``moved`` (numpy's result on ``arange``) holds the input voxel ``index_map @ j``."""
    out = Space(moved.shape)
    matrix = index_map(step, out)
    ndim = len(in_shape)
    j = np.indices(moved.shape).reshape(ndim, -1)
    source = matrix[:ndim, :ndim] @ j + matrix[:ndim, ndim:]
    expected = np.array(np.unravel_index(moved.reshape(-1), in_shape), dtype=np.float64)
    np.testing.assert_array_equal(source, expected)
    assert input_grid(step, out).shape == in_shape


@pytest.mark.parametrize("axes", [(0, 1), (1, 0), (0, 2), (2, 1), (-1, 0), (1, -3)])
def test_rotate90_records_of_any_k_against_numpy_rot90(axes):
    """records__rot90_map_13 (``k % 5``): ``np.rot90`` takes any whole ``k`` (period 4, negatives too); a record
    of ``k = 4, 5, -1, 7`` read with period 5 turns the wrong number of times. Oracle: ``np.rot90`` of ``arange``."""
    in_shape = (3, 4, 5)
    values = np.arange(np.prod(in_shape)).reshape(in_shape)
    for k in range(-5, 9):
        step = read_record({"class": "Rotate90", "orig_size": in_shape, "extra_info": {"k": k, "axes": axes}})
        _brute_index_map_check(step, np.rot90(values, k, axes), in_shape)


@pytest.mark.parametrize("axes", [None, 0, 2, -1, [0, 2], (1,), np.int64(1), [-3, -2]])
def test_flip_records_of_every_axes_form_against_numpy_flip(axes):
    """The ``Flip`` record's ``axes`` (an int, a numpy int, a sequence, negatives, ``None``: every axis) against
    ``np.flip`` of ``arange``, voxel for voxel."""
    in_shape = (3, 4, 5)
    values = np.arange(np.prod(in_shape)).reshape(in_shape)
    step = read_record({"class": "Flip", "orig_size": in_shape, "extra_info": {"axes": axes}})
    flipped = np.flip(values, axis=None if axes is None else (axes if np.ndim(axes) == 0 else tuple(axes)))
    _brute_index_map_check(step, flipped, in_shape)


# ----------------------------------------------------------------------------- _scale_map
@pytest.mark.parametrize("ndim", [2, 3])
def test_resize_and_zoom_with_align_corners_true_give_monais_lazy_affine(ndim):
    """records__scale_map_5, _9, _11, _12, _14 (``align_corners=True`` read as the edges-kept scale): MONAI's
    ``Resize`` / ``Zoom`` with ``align_corners=True`` keep the corner centres: an axis of 7 resized to 12 maps
    output ``j`` to input ``j * 6 / 11`` (by hand), which MONAI's own lazy record holds too."""
    from monai.transforms import Resize, Zoom

    shape = (7, 9, 5)[:ndim]
    image = MetaTensor(torch.rand(1, *shape, generator=torch.Generator().manual_seed(0)))
    interp = "bilinear" if ndim == 2 else "trilinear"
    for transform in (Resize((12, 5, 8)[:ndim], mode=interp, align_corners=True),
                      Zoom(1.7, mode=interp, align_corners=True, keep_size=False),
                      Zoom(0.6, mode=interp, align_corners=True, keep_size=True, padding_mode="edge")):
        eager, pending = transform(image), transform(image, lazy=True)
        out = Space.from_metatensor(eager)
        ours = index_map(read_record(eager.applied_operations[-1]), out)
        monais = pending.pending_operations[-1]["lazy_affine"]
        np.testing.assert_allclose(ours, np.asarray(monais, dtype=np.float64), rtol=0, atol=1e-9)
    resized = Resize((12, 5, 8)[:ndim], mode=interp, align_corners=True)(image)
    by_hand = np.diag([6 / 11, 8 / 4, 4 / 7][:ndim] + [1.0])
    np.testing.assert_allclose(index_map(read_record(resized.applied_operations[-1]), Space.from_metatensor(resized)), by_hand, atol=1e-12)


# ----------------------------------------------------------------------------- _nested_map
def test_a_nested_record_without_its_extra_info_names_the_missing_entry():
    """records__nested_map_9, _11 (a nested record's missing ``extra_info`` read as ``None``: a ``TypeError`` is
    reported instead of the entry that is missing): the message names ``KeyError('cropped')``, as documented
    ("lacks what its kind needs")."""
    record = {"class": "CropForeground", "orig_size": (6, 6), "extra_info": {"cropped": [1, 1, 0, 2], "pad_info": {"class": "Pad"}}}
    step = read_record(record)
    assert step.kind == "crop"
    with pytest.raises(MetadataError, match=r"the record of 'CropForeground' lacks what its kind 'crop' needs: KeyError\('cropped'\)"):
        index_map(step, Space((5, 4)))


# ----------------------------------------------------------------------------- read_record: constant padding, modes
def _constant_cases():
    from monai.transforms import (Affine, CenterSpatialCrop, Flip, ResizeWithPadOrCrop, Rotate, Spacing, SpatialPad,
                                  Zoom)

    # (transform, does it fill what lies outside its input with a constant (0), its interpolation mode in our names)
    return {
        "SpatialPad-constant": (SpatialPad((9, 9, 9), mode="constant"), True, None),
        "SpatialPad-edge": (SpatialPad((9, 9, 9), mode="edge"), False, None),
        "SpatialPad-nothing-to-pad": (SpatialPad((7, 9, 5), mode="constant"), False, None),
        "Spacing-zeros": (Spacing(pixdim=0.8, padding_mode="zeros", mode="bilinear"), True, "linear"),
        "Spacing-border": (Spacing(pixdim=0.8, padding_mode="border", mode="nearest"), False, "nearest"),
        "ResizeWithPadOrCrop-pads": (ResizeWithPadOrCrop((9, 5, 9), mode="constant"), True, None),
        "ResizeWithPadOrCrop-pads-edge": (ResizeWithPadOrCrop((9, 5, 9), mode="edge"), False, None),
        "ResizeWithPadOrCrop-crops": (ResizeWithPadOrCrop((5, 5, 5), mode="constant"), False, None),
        "Zoom-keep-pads": (Zoom(0.6, keep_size=True, padding_mode="constant", mode="trilinear"), True, "linear"),
        "Zoom-keep-pads-edge": (Zoom(0.6, keep_size=True, padding_mode="edge", mode="nearest"), False, "nearest"),
        "Zoom-keep-crops": (Zoom(1.5, keep_size=True, padding_mode="constant", mode="area"), False, "linear"),
        "Zoom-free": (Zoom(1.5, keep_size=False, padding_mode="constant", mode="nearest-exact"), False, "nearest"),
        "Rotate-zeros": (Rotate(0.3, padding_mode="zeros", mode="nearest"), True, "nearest"),
        "Rotate-border": (Rotate(0.3, padding_mode="border", mode="bilinear"), False, "linear"),
        "Affine-zeros": (Affine(rotate_params=0.2, padding_mode="zeros", mode=3), True, "cubic"),
        "Affine-reflection": (Affine(rotate_params=0.2, padding_mode="reflection", mode=0), False, "nearest"),
        "Flip": (Flip(0), False, None),
        "CenterSpatialCrop": (CenterSpatialCrop((5, 5, 5)), False, None),
    }


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "lazy"])
@pytest.mark.parametrize("name", list(_constant_cases()))
def test_the_constant_padding_and_mode_each_monai_record_says(name, lazy):
    """records_read_record_* (the ``constant`` rule per kind: a pad fills with 0 only in ``constant`` mode and
    only where it pads; a resample with ``zeros`` padding; a crop never), records__pad_constant_*,
    records__padding_constant_*, and the recorded mode (MONAI's names and spline orders, ``area`` as linear).
    By hand, from MONAI's documented padding modes, on its eager and its lazy records alike."""
    transform, constant, mode = _constant_cases()[name]
    image = MetaTensor(torch.rand(1, 7, 9, 5, generator=torch.Generator().manual_seed(1)))
    out = transform(image, lazy=lazy)
    out = out[0] if isinstance(out, tuple) else out  # Affine returns (image, matrix)
    step = read_record((out.pending_operations if lazy else out.applied_operations)[-1])
    assert (step.constant, step.mode) == (constant, mode)
    assert step.in_shape == (7, 9, 5) and step.applied


def test_crop_foreground_pads_with_a_constant_only_when_it_pads():
    """records__pad_constant_* (the ``pad_info`` nested in a crop record): ``CropForeground`` with a margin past
    the image's edge pads (``mode="constant"``: 0, ``"edge"``: no constant); without one it only crops."""
    from monai.transforms import CropForeground

    label = MetaTensor(torch.zeros(1, 7, 9, 5))
    label[0, 1:4, 3:5, 1:3] = 1
    for margin, mode, constant in ((3, "constant", True), (3, "edge", False), (0, "constant", False)):
        out = CropForeground(margin=margin, allow_smaller=False, mode=mode)(label)
        step = read_record(out.applied_operations[-1])
        assert (step.kind, step.constant) == ("crop", constant), (margin, mode)
        # the grid before: MONAI's own input grid, whatever the margin (crop then pad, by hand from the record)
        assert input_grid(step, Space.from_metatensor(out)) == Space((7, 9, 5))


# ----------------------------------------------------------------------------- read_record by hand
def test_read_record_entries_by_hand():
    """records_read_record_* (the class name's default, ``orig_size`` read from the outer record when the
    nested one has none, ``do_transforms`` of either level, ``lazy_shape`` as ints, ``lazy_affine`` as float64,
    the name kept from the outermost record and the kind from the innermost). Records written by hand in
    MONAI's layout (``RandRotated`` nests ``RandRotate`` nests ``Rotate``)."""
    rot = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    rotate = {"class": "Rotate", "orig_size": (6, 4), "extra_info": {"rot_mat": rot, "mode": "nearest", "padding_mode": "zeros"}}
    nested = {"class": "RandRotated", "orig_size": (9, 9), "do_transforms": True,
              "extra_info": {"class": "RandRotate", "do_transforms": True, "extra_info": rotate}}
    step = read_record(nested)
    assert (step.name, step.kind, step.mode, step.constant, step.applied) == ("RandRotated", "Rotate", "nearest", True, True)
    assert step.in_shape == (6, 4) and step.out_shape is None and step.lazy_affine is None
    np.testing.assert_array_equal(index_map(step, Space((4, 6))), rot)
    # no orig_size on the innermost record: the outer one's
    bare = {"class": "Flip", "extra_info": {"axes": 0}}
    step = read_record({"class": "RandFlipd", "orig_size": (5, 3), "do_transforms": True, "extra_info": bare})
    assert (step.kind, step.in_shape) == ("Flip", (5, 3))
    # do_transforms False at either level: an identity step, whatever the class (even one not known)
    for outer, inner in ((False, True), (True, False)):
        step = read_record({"class": "RandLambdad", "orig_size": (5, 3), "do_transforms": outer,
                            "extra_info": {"class": "RandLambda", "do_transforms": inner, "extra_info": {"x": 1}}})
        assert (step.kind, step.applied, step.mode, step.constant, dict(step.extra)) == ("identity", False, None, False, {})
        assert np.array_equal(index_map(step, Space((5, 3))), np.eye(3))
    # a lazy record: its shape as ints, its affine as float64 from a tensor
    step = read_record({"class": "Flip", "orig_size": (5, 3), "lazy_shape": (np.int64(5), 3.0),
                        "lazy_affine": torch.tensor([[-1, 0, 4], [0, 1, 0], [0, 0, 1]], dtype=torch.int32),
                        "extra_info": {"axes": 0}})
    assert step.out_shape == (5, 3) and all(type(s) is int for s in step.out_shape)
    assert step.lazy_affine.dtype == np.float64 and step.lazy_affine.tolist() == [[-1, 0, 4], [0, 1, 0], [0, 0, 1]]
    # no class at all: named '?' in the refusal
    with pytest.raises(MetadataError, match=r"cannot read the record of '\?' \(innermost None\)"):
        read_record({"orig_size": (5, 3), "extra_info": {"x": 1}})


def test_refusals_name_the_transform_what_is_known_and_what_to_do():
    """records_read_record_* (the messages): the unknown record's refusal lists every known kind and says what to
    do; a recorded mode we do not know is named with the transform."""
    with pytest.raises(MetadataError) as caught:
        read_record(_record("Rand3DElastic"))
    message = str(caught.value)
    assert message.startswith("monai-spacetx cannot read the record of 'Rand3DElastic' (innermost 'Rand3DElastic'): it does "
                              "not know what that transform does to the grid. Known: Affine, CastToType, ")
    assert message.endswith(" and our Space transforms. Execute it outside the Space chain, or map back with one resample (mode='linear')")
    for kind in ("Flip", "Rotate90", "crop", "pad", "intensity", "ResampleToMatch", "SpatialResample", "Zoom"):
        assert f" {kind}," in message or f" {kind} and" in message
    with pytest.raises(MetadataError, match=r"^'Spacingd' recorded an interpolation mode monai-spacetx does not know: .*'bogus'"):
        read_record({"class": "Spacingd", "orig_size": (5, 3), "extra_info": {"class": "SpatialResample", "orig_size": (5, 3),
                                                                               "extra_info": {"mode": "bogus", "src_affine": np.eye(3)}}})


def test_index_map_refuses_records_lacking_entries_and_our_own_steps():
    """records_index_map_* (the refusals' messages, and the exceptions they catch: a missing entry, a wrong
    type, a short list)."""
    out = Space((5, 3))
    for record, error in (
        (_record("Flip"), r"KeyError\('axes'\)"),
        (_record("SpatialResample"), r"KeyError\('src_affine'\)"),
        (_record("Orientation"), r"KeyError\('original_affine'\)"),
        (_record("Rotate90", {"k": 1}), r"KeyError\('axes'\)"),
        (_record("Rotate", {"mode": "bilinear"}), r"KeyError\('rot_mat'\)"),
        (_record("Affine", {"mode": "bilinear"}), r"KeyError\('affine'\)"),
        (_record("SpatialPad", {"padded": None}), r"TypeError"),
    ):
        step = read_record(record)
        with pytest.raises(MetadataError, match=rf"^the record of '{record['class']}' lacks what its kind '{step.kind}' needs: .*{error}"):
            index_map(step, out)
    ours = {"class": "SpaceResample", "orig_size": (5, 3), "extra_info": {"source": Space((6, 4)).to_json(), "target": Space((5, 3)).to_json()}}
    step = read_record(ours)
    assert step.kind == "spacetx" and input_grid(step, out) == Space((6, 4))
    with pytest.raises(MetadataError, match=r"^the record of 'SpaceResample' \(spacetx\) has no index map of its own$"):
        index_map(step, out)


def test_parse_recorded_mode_by_hand():
    """records_parse_recorded_mode_1, _4, _6, _7 (MONAI's ``"none"`` in any case is no mode), _9 (spline orders not
    read as orders), _10 .. _17 (the orders' table: 0 nearest, 1 linear, 2 and up cubic). By hand, from MONAI's
    documented spline orders and mode names."""
    from monai.utils import InterpolateMode

    from monai_spacetx import ModeError

    from monai_spacetx.transforms.records import parse_recorded_mode

    for value in (None, "none", "None", "NONE"):
        assert parse_recorded_mode(value) is None, value
    table = {0: "nearest", np.int64(0): "nearest", 1: "linear", np.int32(1): "linear", 2: "cubic", 3: "cubic", 5: "cubic",
             "bilinear": "linear", "NEAREST-EXACT": "nearest", "area": "linear", InterpolateMode.AREA: "linear",
             InterpolateMode.BICUBIC: "cubic"}
    for value, expected in table.items():
        assert parse_recorded_mode(value) == expected, value
    with pytest.raises(ModeError, match=r"got 'true'"):  # a bool is no spline order (True == 1 would read as linear)
        parse_recorded_mode(True)


def test_resample_to_match_records_give_monais_lazy_affine():
    """records_index_map_19, _20, _21 (``ResampleToMatch`` not read as a resample from ``src_affine``): its eager
    record gives MONAI's own lazy ``lazy_affine`` of the same call, and by numpy on the raw affines
    ``solve(source affine, destination affine)``; the grid before is the source's."""
    from monai.transforms import ResampleToMatch

    c, s = np.cos(0.3), np.sin(0.3)
    source_affine = np.eye(4)
    source_affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.2, 0.9, 1.7])
    source_affine[:3, 3] = (-25.0, 40.0, 90.0)
    destination_affine = np.diag([0.8, 1.1, 1.3, 1.0])
    destination_affine[:3, 3] = (-30.0, 35.0, 88.0)
    image = MetaTensor(torch.rand(1, 9, 11, 7, generator=torch.Generator().manual_seed(2)), affine=torch.as_tensor(source_affine))
    destination = MetaTensor(torch.zeros(1, 12, 10, 9), affine=torch.as_tensor(destination_affine))
    eager = ResampleToMatch(mode="bilinear")(image, destination)
    pending = ResampleToMatch(mode="bilinear")(image, destination, lazy=True)
    step = read_record(eager.applied_operations[-1])
    assert (step.name, step.kind, step.mode) == ("ResampleToMatch", "ResampleToMatch", "linear")
    out = Space.from_metatensor(eager)
    matrix = index_map(step, out)
    np.testing.assert_allclose(matrix, np.asarray(pending.pending_operations[-1]["lazy_affine"], dtype=np.float64), rtol=0, atol=1e-9)
    np.testing.assert_allclose(matrix, np.linalg.solve(source_affine, destination_affine), rtol=0, atol=1e-9)
    assert input_grid(step, out) == Space.from_affine(source_affine, (9, 11, 7))


@pytest.mark.parametrize("zoom", [1.5, (1.5, 0.7, 1.3)], ids=["crops", "crops-and-pads"])
def test_a_kept_size_zoom_that_crops_gives_monais_lazy_affine(zoom):
    """records_index_map_156, _161, _162 (the ``crop_info`` nested in a kept-size ``Zoom``'s ``padcrop`` not read): a
    zoom in (> 1) with ``keep_size=True`` crops the zoomed grid back to its size; its eager record gives MONAI's own
    lazy ``lazy_affine`` of the same call, and the grid before is the input's."""
    from monai.transforms import Zoom

    image = MetaTensor(torch.rand(1, 7, 9, 5, generator=torch.Generator().manual_seed(4)))
    transform = Zoom(zoom, mode="trilinear", keep_size=True, padding_mode="constant")
    eager, pending = transform(image), transform(image, lazy=True)
    out = Space.from_metatensor(eager)
    step = read_record(eager.applied_operations[-1])
    np.testing.assert_allclose(index_map(step, out), np.asarray(pending.pending_operations[-1]["lazy_affine"], dtype=np.float64),
                               rtol=0, atol=1e-9)
    assert input_grid(step, out) == Space((7, 9, 5))


def test_square_takes_monais_two_forms_and_refuses_others_by_name():
    """records_square_6 (``or``: a 2-D op's matrix of any shape read as MONAI's 4x4 form), _22 (the message lost):
    by hand, a 2-D op's 4x4 matrix keeps rows/columns 0, 1, 3; a 5x5 matrix fits no 2-D image."""
    from monai_spacetx.transforms.records import square

    four = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(square(four, 2), [[0.0, 1.0, 3.0], [4.0, 5.0, 7.0], [12.0, 13.0, 15.0]])
    np.testing.assert_array_equal(square(four, 3), four)
    with pytest.raises(MetadataError, match=r"^a recorded matrix of shape \(5, 5\) does not fit a 2-D image$"):
        square(np.eye(5), 2)


def test_our_own_records_say_whether_they_padded_with_a_constant():
    """records_read_record_66, _75 .. _78 (our record's ``padding_mode`` not read): by hand, our step with
    ``zeros`` (MONAI's ``constant`` too) fills with a constant, with ``border`` it does not."""
    grids = {"source": Space((6, 4)).to_json(), "target": Space((5, 3)).to_json()}
    for padding, constant in (("zeros", True), ("constant", True), ("border", False), ("reflection", False)):
        step = read_record({"class": "SpaceResample", "orig_size": (6, 4), "extra_info": {**grids, "padding_mode": padding}})
        assert (step.kind, step.constant) == ("spacetx", constant), padding
