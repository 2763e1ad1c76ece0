"""Tests written to kill the mutants mutmut left alive (tests/mutation/run_mutmut.py, tests/mutation/README.md).

Each test names the module and the mutants it kills; each checks against an outside oracle
(hand-computed values, raw affines solved by numpy, the documented message). A survivor shown
equivalent instead is listed, with its reason, in tests/mutation/README.md.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from monai_spacetx import Space, SpaceTypeError, index_map, map_points, world_to_index
from monai_spacetx.geometry.points import as_float64_array, nearest_voxel, snap


# ----------------------------------------------------------------------------- geometry/points.py
def test_snap_returns_float64_and_its_tolerance_is_inclusive():
    """snap_3, snap_5 (dtype dropped), snap_11 (``<`` for ``<=``)."""
    out = snap([1, 2, -3])
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0, -3.0]
    half = snap(np.array([0.1, 2.3], dtype=np.float32))
    assert half.dtype == np.float64 and half[0] == np.float64(np.float32(0.1))  # float32 kept, not rounded through
    # 1.25 and 0.75 are 0.25 from an integer exactly (binary fractions): "within tol" includes the bound
    assert snap([1.25, 0.75, 1.3], tol=0.25).tolist() == [1.0, 1.0, 1.3]


def test_nearest_voxel_by_hand():
    """nearest_voxel_1..8 (no test of test_points.py called it): the tie rule, floor(snap(x + 0.5))."""
    got = nearest_voxel([1.5, 1.4999999999999, 1.49, -0.5, -1.5, 2.5000000001, -0.50000001, 7.0])
    assert got.dtype == np.float64
    assert got.tolist() == [2.0, 2.0, 1.0, 0.0, -1.0, 3.0, -1.0, 7.0]
    assert nearest_voxel(np.array([[0.49, 0.5]])).tolist() == [[0.0, 1.0]]
    # nearest_voxel_5, _7: float32 input is read in float64 first: 0.5 - 2**-25 (a float32) is 3e-8 below the
    # boundary (far more than the 1e-9 snap), so voxel 0; in float32, x + 0.5 rounds (to even) to 1.0, voxel 1
    below = np.array([0.5 - 2.0**-25], dtype=np.float32)
    assert float(below[0]) == 0.5 - 2.0**-25 and np.floor(below + np.float32(0.5)).tolist() == [1.0]
    assert nearest_voxel(below).tolist() == [0.0]


def test_a_torch_subclass_from_another_module_stays_torch():
    """_is_torch_1, _is_torch_3: ``torch.nn.Parameter`` lives in ``torch.nn.parameter``: still torch out."""
    space = Space((4, 5), spacing=(2.0, 0.5))
    points = torch.nn.Parameter(torch.tensor([[1.0, 2.0]]), requires_grad=False)
    assert type(points).__module__ == "torch.nn.parameter"
    out = world_to_index(points, space)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert out.tolist() == [[0.5, 4.0]]  # by hand: 1 / 2, 2 / 0.5


def test_object_arrays_of_real_scalars_are_read_and_others_named():
    """as_float64_array_13, _14, _18, _20 (object arrays of numbers refused or lost), _27, _28 (message)."""
    mixed = np.array([1, np.float32(2.5), 3.25], dtype=object)
    out = as_float64_array(mixed, "points")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.5, 3.25]
    with pytest.raises(SpaceTypeError, match=r"^points must be numeric, got \[True, False\] \(real numbers only"):
        as_float64_array([True, False], "points")
    with pytest.raises(SpaceTypeError, match=r"^points must be numeric, got a bool array \[True\] \(real numbers only"):
        as_float64_array(np.array([True]), "points")
    with pytest.raises(SpaceTypeError, match=r"^points must be numeric, got array\(\[1, None\], dtype=object\)$"):
        as_float64_array(np.array([1, None], dtype=object), "points")


def test_world_to_index_honours_dtype():
    """world_to_index_29 (dtype dropped)."""
    space = Space((4, 4, 4), spacing=(2.0, 2.0, 4.0), origin=(1.0, 1.0, 1.0))
    out = world_to_index(np.array([[3.0, 5.0, 9.0]]), space, dtype=np.float32)
    assert out.dtype == np.float32 and out.tolist() == [[1.0, 2.0, 2.0]]
    tout = world_to_index(torch.tensor([[3.0, 5.0, 9.0]]), space, dtype=torch.float16)
    assert tout.dtype == torch.float16 and tout.tolist() == [[1.0, 2.0, 2.0]]


def _brute_index_map(a: Space, b: Space) -> np.ndarray:
    """``inv(b.affine) @ a.affine`` from the raw affines, in long double (the oracle)."""
    return np.linalg.solve(b.affine.astype(np.longdouble).astype(np.float64), a.affine)


def test_index_map_snaps_only_the_shift_of_integer_rows():
    """index_map_36 (every row's shift snapped), _38, _40 (rows judged together: a mixed map snaps nothing).

    Axis 0 is an integer axis map (a shift by 2 voxels plus 3e-10 voxel of round-off, snapped to 2 exactly);
    axes 1 and 2 are rotated, and their shifts carry 4e-10 voxel that is real (not snapped)."""
    source = Space((6, 6, 6), spacing=(1.0, 1.0, 1.0))
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    # target origin: -2 voxels (+3e-10) along axis 0; along the rotated axes an offset of (3 + 4e-10) voxels
    origin = np.array([-2.0 - 3e-10, 0.0, 0.0]) + direction[:, 1] * -(3.0 + 4e-10)
    target = Space((6, 6, 6), spacing=(1.0, 1.0, 1.0), origin=origin, direction=direction)
    got = index_map(source, target)
    raw = _brute_index_map(source, target)
    assert got[0, 3] == 2.0  # the integer row: snapped exactly
    assert abs(raw[0, 3] - 2.0) > 1e-10  # the raw affines do carry the round-off
    assert abs(got[1, 3] - raw[1, 3]) < 1e-12 and abs(got[1, 3] - 3.0) > 1e-10  # a rotated row: never snapped
    np.testing.assert_allclose(got[:3, :3], raw[:3, :3], atol=1e-12)


def test_map_points_on_a_2d_parameter_on_the_cpu():
    """_like: a torch tensor in gives a torch tensor out on its device, float64 unless dtype says."""
    native = Space((35, 35))
    out = map_points(torch.tensor([[17.0, 12.0]]), native, native.crop((10, 10), (25, 25)).resize((30, 30)))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.device.type == "cpu"
    assert out.tolist() == [[14.5, 4.5]]  # by hand: (17 - 10 + 0.5) * 2 - 0.5, (12 - 10 + 0.5) * 2 - 0.5


# ----------------------------------------------------------------------------- transforms/meta.py
def _metatensor(shape=(6, 5, 4), spacing=(2.0, 1.5, 1.0), origin=(10.0, -4.0, 7.0)):
    from monai.data import MetaTensor

    affine = torch.eye(4, dtype=torch.float64)
    affine[:3, :3] = torch.diag(torch.tensor(spacing, dtype=torch.float64))
    affine[:3, 3] = torch.tensor(origin, dtype=torch.float64)
    return MetaTensor(torch.zeros(1, *shape), affine=affine)


def test_get_space_reads_a_metatensor_and_refuses_a_batch():
    """get_space_3 .. _30 (the MetaTensor branch never taken, the batch check, its message)."""
    from monai_spacetx.transforms.meta import get_space

    got = get_space(_metatensor())
    assert got.shape == (6, 5, 4) and got.spacing.tolist() == [2.0, 1.5, 1.0] and got.origin.tolist() == [10.0, -4.0, 7.0]
    batch = _metatensor()
    batch.is_batch = True
    with pytest.raises(SpaceTypeError, match=r"^get_space takes one sample; decollate the batch first \(monai\.data\.decollate_batch\)$"):
        get_space(batch)


def test_get_space_of_metadata_dicts():
    """get_space_33 .. _35 (the record missing, or not read)."""
    from monai_spacetx import MetadataError
    from monai_spacetx.transforms.meta import get_space

    recorded = Space((3, 4), spacing=(0.5, 2.0), origin=(1.0, 2.0))
    assert get_space({"spacetx_space": recorded.to_json()}) == recorded
    with pytest.raises(MetadataError, match=r"^metadata has no 'spacetx_space': no Space transform has been applied$"):
        get_space({"spatial_shape": [3, 4]})


def test_space_from_meta_forms_and_messages():
    """space_from_meta_2 (the dict form), _3, _4 (lists that are not all strings), _8, _9 (the message)."""
    from monai_spacetx.transforms.meta import space_from_meta

    space = Space((3, 4), spacing=(0.5, 2.0), origin=(1.0, 2.0))
    assert space_from_meta(space.to_dict()) == space
    assert space_from_meta([space.to_json(), space.to_json()]) == [space, space]
    for bad, shown in (([], r"list: \[\]"), ([space.to_json(), 3], r"list: \['\{"), (5, r"int: 5"), ((), r"tuple: \(\)")):
        with pytest.raises(SpaceTypeError, match=r"^meta\['spacetx_space'\] must be a Space JSON string, got " + shown):
            space_from_meta(bad)


def test_native_space_messages_and_metatensors():
    """get_native_space_11 .. _16, native_space_3 .. _5, find_native_space_22 .. _39: messages by hand, and a
    MetaTensor with or without applied operations."""
    from monai_spacetx import MetadataError
    from monai_spacetx.transforms.meta import find_native_space, get_native_space, native_space

    img = _metatensor()
    assert find_native_space(img) == Space.from_affine(img.affine.numpy(), (6, 5, 4))  # nothing applied: its own grid
    img.applied_operations.append({"class": "Flip"})
    assert find_native_space(img) is None  # something applied and nothing recorded: cannot be told
    assert find_native_space({"filename_or_obj": "x.nii"}) is None
    with pytest.raises(MetadataError, match=r"^cannot tell the native geometry: metadata has neither 'spacetx_native' nor MONAI's "
                                            r"'original_affine' \+ 'spatial_shape', and transforms were already applied$"):
        get_native_space(img)
    batch = {"spacetx_native": [Space((2, 2)).to_json()] * 2}
    with pytest.raises(SpaceTypeError, match=r"^expected one sample, got a collated batch; decollate it first \(monai\.data\.decollate_batch\)$"):
        native_space(batch)
    with pytest.raises(MetadataError, match=r"^meta\['original_affine'\] does not describe a 3-D grid \[6, 5, 4\]: "):
        find_native_space({"spatial_shape": [6, 5, 4], "original_affine": np.zeros((4, 4))})


def test_original_affine_as_a_tensor_and_a_nested_shape():
    """_as_numpy_1 .. _7 (a torch tensor's detach, a tensor that requires grad), _spatial_shape_2 (a nested shape)."""
    from monai_spacetx.transforms.meta import get_native_space

    affine = torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0], dtype=torch.float64)).requires_grad_(True)
    got = get_native_space({"spatial_shape": torch.tensor([[6, 5, 4]]), "original_affine": affine})
    assert got.shape == (6, 5, 4) and got.spacing.tolist() == [2.0, 3.0, 4.0]


def test_the_identity_warning_lists_twelve_keys_and_says_what_to_do(monkeypatch):
    """_original_affine_33 .. _38: the message, by hand."""
    from monai_spacetx import SpaceTxWarning
    from monai_spacetx.transforms import meta as meta_module

    monkeypatch.setattr(meta_module, "_WARNED", set())
    meta = {f"k{i:02d}": i for i in range(14)}
    meta["spatial_shape"] = [3, 3]
    keys = sorted(map(str, meta))[:12]
    with pytest.warns(SpaceTxWarning) as caught:
        meta_module.get_native_space(meta)
    assert str(caught[0].message) == (
        f"metadata has spatial_shape [3, 3] but no 'original_affine' (keys present: {keys}): the native grid is taken as "
        "MONAI's default identity affine (1 mm voxels at the origin); load with a reader that records the affine, or set "
        "meta['original_affine']"
    )


# ----------------------------------------------------------------------------- transforms/padding.py
def test_pad_mode_messages_without_a_key_by_hand():
    """_where_2, _4 (a key-less message says "for key None" or gets text appended): the list of modes is
    numpy's ``np.pad`` modes, then torch's that numpy lacks, then ours, as MONAI and our docs name them."""
    from monai_spacetx import ModeError
    from monai_spacetx.transforms.padding import parse_pad_mode

    known = ("'constant', 'edge', 'linear_ramp', 'maximum', 'mean', 'median', 'minimum', 'reflect', 'symmetric', "
             "'wrap', 'empty', 'replicate', 'circular', 'zeros', 'border', 'reflection'")
    with pytest.raises(ModeError) as caught:
        parse_pad_mode("mirror")
    assert str(caught.value) == f"mode must be a pad mode, one of {known}; got 'mirror'"
    with pytest.raises(ModeError) as caught:
        parse_pad_mode("wrap", {"foo": 1})
    assert str(caught.value) == ("pad keyword arguments must be among ['constant_values', 'value', 'stat_length', "
                                 "'reflect_type', 'end_values'], got ['foo']")


def test_pad_outside_refuses_an_empty_kept_part_and_names_the_key():
    """pad_outside_14 (an empty slice, ``stop == start``, let through to np.pad), _15, _16 (the message)."""
    from monai_spacetx import EmptyBoxError
    from monai_spacetx.transforms.padding import pad_outside, parse_pad_mode

    data = torch.arange(12.0).reshape(1, 3, 4)
    for pad in (parse_pad_mode("wrap"), parse_pad_mode("constant", {"constant_values": [1, 2]})):  # np.pad, both
        with pytest.raises(EmptyBoxError) as caught:
            pad_outside(data, (slice(1, 1), slice(0, 4)), pad, key="img")
        assert str(caught.value) == (f"mode {pad.mode!r} for key 'img' pads from the image's values, but the box does "
                                     "not overlap the image")
    # a kept part of one voxel row is padded from it (np.pad 'wrap' of one row repeats it, by hand)
    out = pad_outside(data, (slice(1, 2), slice(0, 4)), parse_pad_mode("wrap"))
    assert out.tolist() == [[[4.0, 5.0, 6.0, 7.0]] * 3]


def test_crop_padding_default_fill_is_zero():
    """crop_padding_1 (the default ``fill`` 1): MONAI's constant pad fills 0 unless told otherwise."""
    from monai_spacetx.transforms.padding import crop_padding

    for mode in ("zeros", "constant"):
        pad = crop_padding(mode)
        assert pad.engine == "zeros" and pad.fill == 0.0 and pad.options().fill == 0.0


def test_crop_fill_reaches_zeros_and_constant_padding():
    """crop_padding_12, _17 .. _20 (``fill`` dropped, or given to the wrong modes): a box two rows above the image,
    filled by hand; ``fill`` is the constant of ``zeros``/``constant`` only (``border`` repeats the edge row)."""
    from monai_spacetx.transforms import SpaceCrop, SpaceCropd

    data = torch.arange(24.0).reshape(1, 4, 3, 2)
    box = dict(roi_start=(-2, 0, 0), roi_end=(3, 3, 2))
    for mode in ("zeros", "constant"):
        out = SpaceCrop(**box, padding_mode=mode, fill=5.0)(data)
        expected = torch.cat([torch.full((1, 2, 3, 2), 5.0), data[:, :3]], dim=1)
        assert torch.equal(out.as_tensor(), expected), mode
    out = SpaceCropd(["a", "b"], **box, padding_mode=["constant", "border"], fill=[-1.0, 7.0])({"a": data, "b": data.clone()})
    assert torch.equal(out["a"].as_tensor(), torch.cat([torch.full((1, 2, 3, 2), -1.0), data[:, :3]], dim=1))
    assert torch.equal(out["b"].as_tensor(), torch.cat([data[:, :1], data[:, :1], data[:, :3]], dim=1))  # edge row twice


def test_zoom_dtype_is_the_precision_it_computes_in():
    """resample_padded_8, _15 (``dtype`` dropped on the engine path): MONAI's Zoom computed wholly in float64, rounded
    to float32, is within one float32 ulp of ours with ``dtype=float64`` (float32 arithmetic is 2 ulps off here)."""
    from monai.data import MetaTensor
    from monai.transforms import Zoom

    from monai_spacetx.transforms import SpaceZoom

    img = MetaTensor(torch.rand(1, 9, 11, 7, generator=torch.Generator().manual_seed(0)),
                     affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))
    for padding_mode in ("constant", "edge"):
        expected = Zoom(0.6, padding_mode=padding_mode, dtype=torch.float64)(img.double()).as_tensor().float().numpy()
        ours = SpaceZoom(0.6, padding_mode=padding_mode, dtype=torch.float64)(img)
        assert ours.dtype == torch.float32
        ulps = np.abs(ours.as_tensor().numpy() - expected) / np.spacing(np.abs(expected))
        assert ulps.max() <= 1.0, padding_mode


def test_a_crop_that_misses_the_image_with_a_monai_pad_mode_is_refused_naming_the_key():
    """resample_padded_31 .. _34 (the up-front check's call broken: a TypeError, or no key): nothing to pad from."""
    from monai_spacetx import EmptyBoxError
    from monai_spacetx.transforms import SpaceCropd

    crop = SpaceCropd("img", roi_start=(10, 0, 0), roi_end=(12, 2, 2), padding_mode="wrap")
    with pytest.raises(EmptyBoxError) as caught:
        crop({"img": torch.arange(24.0).reshape(1, 4, 3, 2)})
    assert str(caught.value) == "mode 'wrap' for key 'img' pads from the image's values, but the box does not overlap the image"


def _zoom_image():
    from monai.data import MetaTensor

    return MetaTensor(torch.rand(1, 20, 16, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
                      affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))


def test_a_lazy_zoom_with_a_monai_pad_mode_fuses_with_the_next_step():
    """resample_padded_38 (the replay's computed part lost), _57, _65 (``lazy`` dropped: the next step interpolates
    the zoom's output again): a lazy kept-size zoom out (``edge`` padding) then a lazy respacing is one linear
    interpolation of the input, brute force from the raw affines, wherever it reads the input's interior."""
    from oracles import interpolate

    from monai_spacetx.transforms import SpaceSpacing, SpaceZoom

    img = _zoom_image()
    out = SpaceSpacing((0.7, 0.9, 1.3), lazy=True)(SpaceZoom(0.6, padding_mode="edge", lazy=True)(img))
    a0, a1, shape = img.affine.numpy(), out.affine.numpy(), tuple(out.shape[1:])
    expected = interpolate(img.as_tensor().numpy()[0], a0, a1, shape, 1, "border")
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1).reshape(-1, 3)
    x = (np.linalg.solve(a0, a1) @ np.c_[grid, np.ones(len(grid))].T)[:3].T  # the input index each centre reads
    interior = np.all((x >= 0.5) & (x <= np.array(img.shape[1:]) - 1.5), axis=1).reshape(shape)
    assert interior.sum() > 5000  # the zoom out covers the input's whole field of view: all of it is computed
    np.testing.assert_allclose(out.as_tensor().numpy()[0][interior], expected[interior], rtol=0, atol=1e-12)


def test_a_zoom_with_a_monai_pad_mode_is_inverted_by_its_record():
    """resample_padded_54 (the transform's info not recorded: its inverse finds no record): back on the input's
    grid, as MONAI's own Zoomd and its inverse (side by side)."""
    from monai.transforms import Zoomd

    from monai_spacetx.transforms import SpaceZoomd

    img = _zoom_image().float()
    ours = SpaceZoomd("img", 0.6, padding_mode="edge")
    theirs = Zoomd("img", 0.6, padding_mode="edge")
    back = ours.inverse(ours({"img": img}))["img"]
    expected = theirs.inverse(theirs({"img": img}))["img"]
    assert back.shape == img.shape and len(back.applied_operations) == 0
    np.testing.assert_array_equal(back.affine.numpy(), img.affine.numpy())
    np.testing.assert_allclose(back.as_tensor().numpy(), expected.as_tensor().numpy(), rtol=0, atol=1e-6)


def test_parse_pad_mode_routes_as_the_module_documents():
    """parse_pad_mode_15 .. _23 (an enum's ``value`` not read), _44 .. _49 (torch's ``value`` keyword lost), _55 .. _59
    (``constant_values``/``value`` not taken as the engine's constant), _62 .. _68, _74 (mode or fill lost): by hand,
    from the module's contract: ``constant`` with one number is our ``zeros`` with that fill, ``edge``/``replicate``
    our ``border``, ours keep their name, every other mode (or other keywords) goes to MONAI's ``pad_nd``."""
    import enum

    from monai_spacetx import ModeError
    from monai_spacetx.transforms.padding import PadMode, parse_pad_mode

    class Mode(enum.Enum):  # an enum that is not a str (MONAI's are StrEnums): its value is the mode
        WRAP = "wrap"

    assert parse_pad_mode(Mode.WRAP) == PadMode("wrap", None, 0.0, ())
    assert parse_pad_mode("constant", {"constant_values": 2.5}) == PadMode("constant", "zeros", 2.5, ())
    assert parse_pad_mode("constant", {"value": 3}) == PadMode("constant", "zeros", 3.0, ())
    assert parse_pad_mode("CONSTANT", {"constant_values": 2, "value": 9}) == PadMode("constant", "zeros", 2.0, ())
    assert parse_pad_mode("constant", {"constant_values": (1, 2)}) == PadMode("constant", None, 0.0, (("constant_values", (1, 2)),))
    assert parse_pad_mode("edge", {"constant_values": 3}) == PadMode("edge", "border", 0.0, ())
    assert parse_pad_mode("replicate") == PadMode("replicate", "border", 0.0, ())
    assert parse_pad_mode("zeros", {"value": 4}) == PadMode("zeros", "zeros", 4.0, ())
    assert parse_pad_mode("Reflection") == PadMode("reflection", "reflection", 0.0, ())
    assert parse_pad_mode("border") == PadMode("border", "border", 0.0, ())
    assert parse_pad_mode("mean", {"stat_length": 2}) == PadMode("mean", None, 0.0, (("stat_length", 2),))
    assert parse_pad_mode("edge", engine_modes=("constant",)) == PadMode("edge", None, 0.0, ())  # a zoom's edge
    # parse_pad_mode_69, _71: np.pad's arguments given to our own padding were dropped without a word (fixed: refused)
    for kwargs in ({"constant_values": (1, 2)}, {"stat_length": 2}, {"value": True}):
        with pytest.raises(ModeError, match=r"^padding_mode for key 'img' 'zeros' is our engine padding: its only pad keyword "):
            parse_pad_mode("zeros", kwargs, name="padding_mode", key="img")


def test_torch_value_keyword_pads_like_monai():
    """parse_pad_mode_44 .. _49 end to end: MONAI's CropForegroundd with torch's ``value`` keyword, bit for bit."""
    from monai.data import MetaTensor
    from monai.transforms import CropForegroundd

    from monai_spacetx.transforms import SpaceCropForegroundd

    img = torch.zeros(1, 12, 10, 8)
    img[0, 0:5, 3:9, 2:8] = torch.rand(5, 6, 6, generator=torch.Generator().manual_seed(5)) + 1
    image = MetaTensor(img)
    theirs = CropForegroundd("img", "img", margin=3, mode="constant", value=7)({"img": image})["img"]
    ours = SpaceCropForegroundd("img", "img", margin=3, mode="constant", value=7)({"img": image})["img"]
    assert float(theirs[0, 0, 0, 0]) == 7.0 and torch.equal(ours.as_tensor(), theirs.as_tensor())


def test_a_lazy_crop_that_misses_the_image_is_refused_at_once():
    """resample_padded_25 (the up-front check never true): lazily the warp runs later; the refusal must not wait."""
    from monai_spacetx import EmptyBoxError
    from monai_spacetx.transforms import SpaceCropd

    crop = SpaceCropd("img", roi_start=(10, 0, 0), roi_end=(12, 2, 2), padding_mode="wrap", lazy=True)
    with pytest.raises(EmptyBoxError, match=r"^mode 'wrap' for key 'img' pads from the image's values, but the box"):
        crop({"img": torch.arange(24.0).reshape(1, 4, 3, 2)})


# ----------------------------------------------------------------------------- geometry/boxes.py
def test_corners_to_boxes_of_integer_corners_is_float64():
    """corners_to_boxes_3, _5 (integer corners kept integer): the docstring's example, given as ints."""
    from monai_spacetx.geometry.boxes import corners_to_boxes

    out = corners_to_boxes([[[1, 5], [3, 2], [0, 4]]])
    assert out.dtype == np.float64 and out.tolist() == [[0.0, 2.0, 3.0, 5.0]]


def test_world_box_functions_name_boxes_by_default_and_keep_torch():
    """boxes_to_world_3, _4, _9, _13, world_to_boxes_3, _4, _10 (the default name in errors), world_to_boxes_35
    (a torch tensor in, numpy out): messages and values by hand."""
    from monai_spacetx import PointsError
    from monai_spacetx.geometry.boxes import boxes_to_world, world_to_boxes

    space = Space((4, 4), spacing=(2.0, 3.0), origin=(10.0, 0.0))
    for function in (boxes_to_world, world_to_boxes):
        with pytest.raises(PointsError, match=r"^boxes must be \(N, 4\) boxes \(x1 y1 x2 y2, MONAI's standard mode\) or "
                                              r"\(N, 4, 2\) corners for 2-D images, got shape \(1, 3\)$"):
            function([[1.0, 2.0, 3.0]], space)
    with pytest.raises(PointsError, match=r"^gt boxes must be \(N, 4\) "):  # boxes_to_world_13: the name given passed on
        boxes_to_world([[1.0, 2.0, 3.0]], space, name="gt boxes")
    out = world_to_boxes(torch.tensor([[9.0, -1.5, 11.0, 4.5]], dtype=torch.float64), space)
    # by hand: (9 - 10) / 2 + 0.5 = 0, (-1.5 - 0) / 3 + 0.5 = 0, (11 - 10) / 2 + 0.5 = 1, 4.5 / 3 + 0.5 = 2
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.tolist() == [[0.0, 0.0, 1.0, 2.0]]


def test_box_functions_name_their_argument_and_keep_torch():
    """map_boxes_3, _4, _23, _27, boxes_in_grid_3, _4, _12, _32 (the name in errors: the default, or the one given),
    boxes_in_grid_38 (the coords message), transform_boxes_25 (a torch tensor in, numpy out): by hand."""
    from monai_spacetx import ModeError, PointsError
    from monai_spacetx.geometry.boxes import boxes_in_grid, map_boxes, transform_boxes

    space = Space((4, 4))
    shape_error = r"must be \(N, 4\) boxes \(x1 y1 x2 y2, MONAI's standard mode\) or \(N, 4, 2\) corners for 2-D images, got shape \(1, 3\)$"
    bad = [[1.0, 2.0, 3.0]]
    with pytest.raises(PointsError, match=r"^boxes " + shape_error):
        map_boxes(bad, space, space.flip(0))
    with pytest.raises(PointsError, match=r"^label boxes " + shape_error):
        map_boxes(bad, space, space.flip(0), name="label boxes")
    for coords in ("index", "world"):
        with pytest.raises(PointsError, match=r"^boxes " + shape_error):
            boxes_in_grid(bad, space, coords)
        with pytest.raises(PointsError, match=r"^b " + shape_error):
            boxes_in_grid(bad, space, coords, name="b")
    with pytest.raises(ModeError, match=r"^coords must be 'index' or 'world', got 'pixel'$"):
        boxes_in_grid([[0.0, 0.0, 1.0, 1.0]], space, "pixel")
    flip = torch.tensor([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])  # LPS <-> RAS in 2-D
    out = transform_boxes(torch.tensor([[1.0, 2.0, 4.0, 3.0]]), flip)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.tolist() == [[-4.0, -3.0, -1.0, -2.0]]


def test_as_float64_boxes_checks_and_messages_by_hand():
    """as_float64_boxes_1 .. _10 (names, the container check, its message), _25 (a wrong corner shape accepted),
    _34 .. _50 (the 2-D/3-D hint, the empty hint), _54 .. _75 (the rows named: non-finite, inverted; zero-size boxes
    are MONAI's standard mode too), _check_format_6, _corners_of_4, _7, transform_boxes_3, _4, _18 (names)."""
    from monai_spacetx import ModeError, PointsError
    from monai_spacetx.geometry.boxes import as_float64_boxes, transform_boxes

    def fails(error, message, *args, **kwargs):
        with pytest.raises(error) as caught:
            as_float64_boxes(*args, **kwargs)
        assert str(caught.value) == message

    two = "must be (N, 4) boxes (x1 y1 x2 y2, MONAI's standard mode) or (N, 4, 2) corners for 2-D images, got shape "
    three = "must be (N, 6) boxes (x1 y1 z1 x2 y2 z2, MONAI's standard mode) or (N, 8, 3) corners for 3-D images, got shape "
    fails(SpaceTypeError, "boxes must be a numpy array, a torch tensor or a sequence of boxes, got dict", {"a": 1}, 2)
    fails(SpaceTypeError, "box must be numeric, got [['a', 'b', 'c', 'd']] (real numbers only: not bool, complex or text)",
          [["a", "b", "c", "d"]], 2, "box")
    fails(PointsError, "boxes " + two + "(2, 5)", np.zeros((2, 5)), 2)
    fails(PointsError, "boxes " + three + "(2, 5)", np.zeros((2, 5)), 3)
    fails(PointsError, "box " + two + "(1, 3, 2)", np.zeros((1, 3, 2)), 2, "box")
    fails(PointsError, "box " + two + "(0,) (no boxes? MONAI's StandardizeEmptyBoxd makes them (0, 2D))", np.zeros((0,)), 2, "box")
    fails(PointsError, "boxes must be finite, got non-finite values in rows [1]: [[0.0, 0.0, 1.0, inf]]",
          [[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, np.inf], [0.0, 0.0, 2.0, 2.0]], 2)
    fails(PointsError, "boxes: x2 < x1 (the high edge below the low edge) in rows [1]: [[3.0, 0.0, 2.0, 1.0]]",
          [[0.0, 0.0, 1.0, 1.0], [3.0, 0.0, 2.0, 1.0]], 2)
    zero_size = as_float64_boxes(torch.tensor([[1, 1, 1, 1]]), 2)  # a point box: x1 == x2 is allowed
    assert zero_size.dtype == np.float64 and zero_size.tolist() == [[1.0, 1.0, 1.0, 1.0]]
    eye = np.eye(3)
    with pytest.raises(ModeError, match=r"^box_format must be 'boxes' or 'corners', got 'xyxy'$"):
        transform_boxes([[0.0, 0.0, 1.0, 1.0]], eye, "xyxy")
    with pytest.raises(PointsError, match=r"^boxes " + re.escape(two) + r"\(1, 3\)$"):
        transform_boxes([[0.0, 0.0, 1.0]], eye)
    with pytest.raises(PointsError, match=r"^gt " + re.escape(two) + r"\(1, 3\)$"):
        transform_boxes([[0.0, 0.0, 1.0]], eye, name="gt")


def test_box_corners_of_integer_boxes_is_float64():
    """box_corners_3, _5 (integer boxes kept integer): the docstring's example, given as ints."""
    from monai_spacetx.geometry.boxes import box_corners

    out = box_corners([[0, 1, 2, 4]])
    assert out.dtype == np.float64 and out.tolist() == [[[0.0, 1.0], [0.0, 4.0], [2.0, 1.0], [2.0, 4.0]]]


# ----------------------------------------------------------------------------- engine/box.py
def _runs_by_brute_force(matrix, source_shape, starts, shape):
    """Per row of the block, the first and one-past-last voxel whose centre maps into ``[-0.5, n - 0.5]`` on every
    source axis (edges included), straight from the matrix; ``lo == hi`` for a row that stays outside."""
    ndim = len(source_shape)
    lo, hi = np.zeros(shape[:-1], dtype=np.int64), np.zeros(shape[:-1], dtype=np.int64)
    for row in np.ndindex(*shape[:-1]):
        inside = []
        for j in range(shape[-1]):
            index = np.array([s + r for s, r in zip(starts[:-1], row)] + [starts[-1] + j, 1.0])
            x = matrix[:ndim] @ index
            inside.append(all(-0.5 <= x[k] <= source_shape[k] - 0.5 for k in range(ndim)))
        hits = np.flatnonzero(inside)
        assert hits.size == 0 or hits[-1] - hits[0] + 1 == hits.size  # a convex field of view: one run per row
        lo[row], hi[row] = (hits[0], hits[-1] + 1) if hits.size else (0, 0)
    return lo, hi


def test_inside_runs_include_the_field_of_view_edges():
    """inside_runs_61, _64 (an edge exactly at -0.5 or n - 0.5 left out), _68 (a slope of exactly 1 taken for a
    constant row): coupled plans whose coordinates are multiples of 1/4, so centres land on the edges exactly."""
    from monai_spacetx.engine.box import inside_runs
    from monai_spacetx.engine.plan import WarpPlan

    for linear, shift, source_shape in (
        ([[0.5, 0.25], [0.25, 1.0]], [-1.0, -0.75], (4, 5)),  # slope 1 along the row on axis 1
        ([[0.25, -0.5], [1.0, 0.25]], [2.0, -2.5], (3, 6)),
        ([[0.0, 0.5], [0.5, 0.0]], [-0.5, -0.5], (5, 4)),  # constant rows on axis 1: the slope-0 branch
    ):
        matrix = np.eye(3)
        matrix[:2, :2], matrix[:2, 2] = linear, shift
        plan = WarpPlan("general", matrix, source_shape, (12, 14))
        for starts, shape in (((0, 0), (12, 14)), ((3, 2), (6, 9))):
            lo, hi = inside_runs(plan, starts, shape)
            expected_lo, expected_hi = _runs_by_brute_force(matrix, source_shape, starts, shape)
            full = expected_hi > expected_lo
            assert full.any() and (~full).any() or starts != (0, 0)
            assert (lo.numpy()[full] == expected_lo[full]).all() and (hi.numpy()[full] == expected_hi[full]).all()
            assert (hi.numpy()[~full] <= lo.numpy()[~full]).all()  # an empty row


def _inside_by_brute_force(source, target):
    """Target voxel indices whose centre maps into the source field of view ``[-0.5, n - 0.5]`` (raw affines)."""
    matrix = np.linalg.solve(source.affine, target.affine)
    ndim = source.ndim
    index = np.stack(np.meshgrid(*[np.arange(n) for n in target.shape], indexing="ij"), -1).reshape(-1, ndim)
    x = index @ matrix[:ndim, :ndim].T + matrix[:ndim, ndim]
    return index[np.all((x >= -0.5) & (x <= np.array(source.shape) - 0.5), axis=1)]


def test_target_box_edges_single_voxels_and_the_general_bound():
    """target_box_19, _22 (a centre exactly on -0.5 or n - 0.5 left out), _26 (one voxel inside taken for none),
    _51, _54 (the general path's box shrunk by a source voxel): against the voxels inside by brute force."""
    from monai_spacetx.engine import plan_warp
    from monai_spacetx.engine.box import target_box
    from monai_spacetx.engine.options import WarpOptions

    source = Space((4, 3))
    c, s = np.cos(0.5), np.sin(0.5)
    for target in (
        Space((6, 3), origin=(-0.5, 0.0)),  # x = j - 0.5: voxels 0 and 4 sit on the edges, exactly
        Space((3, 3), spacing=(10.0, 1.0), origin=(-9.0, 0.0)),  # x = 10 j - 9: voxel 1 alone is inside
        Space((80, 80), spacing=(0.25, 0.25), origin=(-6.0, -4.0), direction=[[c, -s], [s, c]]),  # general, finer
    ):
        inside = _inside_by_brute_force(source, target)
        box = target_box(plan_warp(source, target), WarpOptions())
        assert box is not None
        if plan_warp(source, target).kind != "general":  # axis-aligned: the exact box
            assert [(b.start, b.stop) for b in box] == [(int(lo), int(hi) + 1) for lo, hi in zip(inside.min(0), inside.max(0))]
        else:  # general: a bound that holds every inside voxel, not the whole grid
            assert all(b.start <= lo and hi < b.stop for b, lo, hi in zip(box, inside.min(0), inside.max(0)))
            assert box[0].start > 0 and box[0].stop < 80


def test_target_box_of_sheared_plans_on_whole_voxels():
    """target_box_70 (the general box's low margin turned into a cut: wrong when a field-of-view corner maps onto a
    voxel centre exactly), _83 (a box of no voxels returned instead of ``None``), inside_runs_124, _126 (not int64):
    a shear ``x = (j0 + j1 + s0, j1 - 0.5)`` whose corners map to whole target indices, against brute force."""
    from monai_spacetx.engine.box import inside_runs, target_box
    from monai_spacetx.engine.options import WarpOptions
    from monai_spacetx.engine.plan import WarpPlan

    def plan(s0):
        return WarpPlan("general", np.array([[1.0, 1.0, s0], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]]), (4, 3), (12, 10))

    for s0 in (-5.5, -2.5, 0.5):
        matrix = plan(s0).matrix
        index = np.stack(np.meshgrid(np.arange(12), np.arange(10), indexing="ij"), -1).reshape(-1, 2)
        x = index @ matrix[:2, :2].T + matrix[:2, 2]
        inside = index[np.all((x >= -0.5) & (x <= np.array([4, 3]) - 0.5), axis=1)]
        box = target_box(plan(s0), WarpOptions())
        assert all(b.start <= lo and hi < b.stop for b, lo, hi in zip(box, inside.min(0), inside.max(0))), s0
        lo, hi = inside_runs(plan(s0), (0, 0), (12, 10))
        assert lo.dtype == torch.int64 and hi.dtype == torch.int64
    for s0 in (-17.0, 6.0):  # the field of view maps wholly beyond the target grid on axis 0
        assert _inside_by_brute_force_matrix(plan(s0).matrix, (4, 3), (12, 10)).size == 0
        assert target_box(plan(s0), WarpOptions()) is None


def _inside_by_brute_force_matrix(matrix, source_shape, target_shape):
    index = np.stack(np.meshgrid(*[np.arange(n) for n in target_shape], indexing="ij"), -1).reshape(-1, len(target_shape))
    x = index @ matrix[:-1, :-1].T + matrix[:-1, -1]
    return index[np.all((x >= -0.5) & (x <= np.array(source_shape) - 0.5), axis=1)]


def test_inside_runs_edge_tolerance_is_inclusive():
    """inside_runs_71, _72 (``<=``/``>=`` at the tolerance): a coordinate exactly ``SNAP_TOL`` beyond an edge is
    "within SNAP_TOL of the field-of-view edge", so on it (the docstring); rows constant along the row axis."""
    from monai_spacetx.engine.box import inside_runs
    from monai_spacetx.engine.plan import WarpPlan
    from monai_spacetx.geometry.tolerances import SNAP_TOL

    for edge in (-0.5 - SNAP_TOL, 3 - 0.5 + SNAP_TOL):  # source axis 1 has 3 voxels
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, edge], [0.0, 0.0, 1.0]])  # x = (j0, edge) for every j1
        lo, hi = inside_runs(WarpPlan("general", matrix, (4, 3), (6, 5)), (0, 0), (6, 5))
        assert lo.tolist() == [0] * 6 and hi.tolist() == [5, 5, 5, 5, 0, 0]  # rows j0 = 4, 5 lie beyond source axis 0


# ----------------------------------------------------------------------------- engine/limits.py
def test_free_bytes_reads_memavailable_in_kib_else_the_physical_memory(monkeypatch):
    """free_bytes_20 (kB read as 1025 bytes), _21 .. _29 (the fallback when /proc/meminfo cannot be read): a fake
    meminfo by hand, then none at all (the physical memory, pages x page size, as ``os.sysconf`` reports them)."""
    import io
    import os

    from monai_spacetx.engine import limits

    fake = "MemTotal:       16000000 kB\nMemFree:         1000 kB\nMemAvailable:    1234567 kB\n"
    monkeypatch.setattr(limits, "open", lambda path, *a, **k: io.StringIO(fake), raising=False)
    assert limits.free_bytes(torch.device("cpu")) == 1234567 * 1024

    def unreadable(path, *args, **kwargs):
        raise PermissionError(path)

    monkeypatch.setattr(limits, "open", unreadable, raising=False)
    assert limits.free_bytes(torch.device("cpu")) == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_check_grid_defaults_by_hand(monkeypatch):
    """check_grid_1, _2 (default channels 1 and 4-byte items), _3, _4 (the limit's default name): 8 MiB free; a grid
    of 2**21 float32 voxels needs exactly that (fits), one voxel more does not; the messages by hand."""
    from monai_spacetx import SpaceError
    from monai_spacetx.engine import limits

    monkeypatch.setattr(limits, "free_bytes", lambda device: 8 << 20)
    limits.check_grid((2**21,), what="g")  # 2,097,152 x 1 x 4 bytes = 8 MiB: exactly the free memory, fine
    with pytest.raises(SpaceError) as caught:
        limits.check_grid((2**21 + 1,), what="g")
    assert str(caught.value) == ("g would have shape (2097153,) = 2,097,153 voxels x 1 channel(s) x 4 bytes = 0.00781 GiB, "
                                 "more than the 0.00781 GiB free on cpu; use a coarser spacing or a smaller size")
    with pytest.raises(SpaceError) as caught:
        limits.check_grid((3, 4), what="g", max_voxels=11)
    assert str(caught.value) == ("g would have shape (3, 4) = 12 voxels, more than max_voxels 11; use a coarser spacing or a "
                                 "smaller size, or raise max_voxels if you have the memory")


def test_check_grid_skips_small_grids_and_unknown_memory(monkeypatch):
    """check_grid_26 (a grid of exactly SMALL_GRID_BYTES checked against the memory), _29 (an unknown free memory
    compared anyway): "grids of at most SMALL_GRID_BYTES are not checked", "None where it cannot be told (then
    nothing is refused)"."""
    from monai_spacetx.engine import limits

    monkeypatch.setattr(limits, "free_bytes", lambda device: 1)  # 1 byte free: anything checked is refused
    assert limits.SMALL_GRID_BYTES == 4 * 2**20
    limits.check_grid((2**20,), what="g")  # 2**20 float32 voxels = 4 MiB exactly: not checked
    monkeypatch.setattr(limits, "free_bytes", lambda device: None)
    limits.check_grid((2**30,), what="g", channels=4)  # 16 GiB, but the free memory cannot be told: not refused


def test_check_grid_reads_the_cpu_free_memory_once_a_second(monkeypatch):
    """Checks within FREE_MEMORY_SECONDS of a read take its figure (a training sample's two outputs read
    /proc/meminfo once); an older figure, or another reader (a patched free_bytes), is read again. Counted by hand."""
    from monai_spacetx import SpaceError
    from monai_spacetx.engine import limits

    reads = []
    monkeypatch.setattr(limits, "free_bytes", lambda device: reads.append(device.type) or 64 << 20)
    for _ in range(3):
        limits.check_grid((2**22,), what="g")  # 16 MiB: checked
    assert reads == ["cpu"]
    monkeypatch.setattr(limits, "FREE_MEMORY_SECONDS", 0.0)
    limits.check_grid((2**22,), what="g")
    assert reads == ["cpu", "cpu"]
    monkeypatch.setattr(limits, "FREE_MEMORY_SECONDS", 3600.0)
    monkeypatch.setattr(limits, "free_bytes", lambda device: 8 << 20)  # another reader: its own figure at once
    with pytest.raises(SpaceError, match="more than the 0.00781 GiB free on cpu"):
        limits.check_grid((2**22,), what="g")


# ----------------------------------------------------------------------------- transforms/planning.py
def _odd_image():
    from monai.data import MetaTensor

    return MetaTensor(torch.rand(1, 9, 11, 7, generator=torch.Generator().manual_seed(2)),
                      affine=torch.diag(torch.tensor([1.0, 1.2, 2.0, 1.0], dtype=torch.float64)))


def test_a_kept_size_zoom_in_of_odd_sizes_crops_where_monai_does():
    """zoom_target_26 (``n / 2`` for ``n // 2``: the centre crop one voxel off on odd axes): 9 x 11 x 7 zoomed by 1.5
    (13 x 16 x 10 voxels, cropped back), against MONAI's Zoom side by side."""
    from monai.transforms import Zoom

    from monai_spacetx.transforms import SpaceZoom

    img = _odd_image()
    theirs, ours = Zoom(1.5, keep_size=True)(img), SpaceZoom(1.5, keep_size=True)(img)
    assert ours.shape == theirs.shape == img.shape
    np.testing.assert_array_equal(ours.affine.numpy(), theirs.affine.numpy())
    np.testing.assert_allclose(ours.as_tensor().numpy(), theirs.as_tensor().numpy(), rtol=0, atol=1e-6)


def test_resize_longest_takes_one_positive_int():
    """resize_shape_6, _7, _10, _11 (the check of ``size_mode='longest'``): 1 is allowed (MONAI's shape, side by
    side); 0, ``True`` and 2.5 are refused, naming the value."""
    from monai.transforms import Resize

    from monai_spacetx import SpaceError
    from monai_spacetx.transforms import SpaceResize

    img = _odd_image()
    assert SpaceResize(1, size_mode="longest")(img).shape == Resize(1, size_mode="longest")(img).shape == (1, 1, 1, 1)
    for bad in (0, True, 2.5):
        with pytest.raises(SpaceError) as caught:
            SpaceResize(bad, size_mode="longest")(img)
        assert str(caught.value) == f"spatial_size must be one positive int with size_mode='longest', got {bad!r}"


def test_a_2d_slice_keeps_its_place_in_the_volume_through_spacing():
    """_in_volume_21, _22 (the slice's through-plane spacing or position lost): a 2-D image with MONAI's 4 x 4 affine,
    against MONAI's Spacing side by side (the affine, every entry)."""
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    from monai_spacetx.transforms import SpaceSpacing

    affine = torch.tensor([[0.8, 0, 0, 10.0], [0, 0.9, 0, -5.0], [0, 0, 2.5, 37.5], [0, 0, 0, 1]], dtype=torch.float64)
    img = MetaTensor(torch.rand(1, 12, 10, generator=torch.Generator().manual_seed(0)), affine=affine)
    for kwargs in ({}, {"scale_extent": True}, {"diagonal": True}):  # the last two by MONAI's own rule (_in_volume)
        theirs, ours = Spacing((0.5, 0.6), **kwargs)(img), SpaceSpacing((0.5, 0.6), **kwargs)(img)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.as_tensor().numpy(), theirs.as_tensor().numpy(), rtol=0, atol=1e-6)


def test_int_entries_and_resize_shape_by_hand():
    """int_entries_2 .. _12 (a tensor's conversion, the ragged message), _20, _25 (text taken for numbers), _31 .. _38
    (the channel-axis hint only for D + 1 entries), _41 (a fraction accepted), _54 .. _56 (message, int64),
    resize_shape_12, _13 (the key), _41 (an entry of 1 taken to keep the axis: MONAI's Resize, side by side)."""
    from monai.transforms import Resize

    from monai_spacetx import SpaceError
    from monai_spacetx.transforms import SpaceResize
    from monai_spacetx.transforms.planning import int_entries, resize_shape

    got = int_entries(torch.tensor([4, 5, 6]), 3, "spatial_size", None)
    assert got.dtype == np.int64 and got.tolist() == [4, 5, 6]
    assert int_entries(np.float64(2.0), 3, "spatial_size", None).tolist() == [2, 2, 2]
    start = "spatial_size for key 'img' must "
    for value, error, message in (
        ([[1, 2], [3]], SpaceTypeError, "be 3 integers, got [[1, 2], [3]]"),
        ([1, 2, 3, 4], SpaceError, "have 3 entries (one per spatial axis of a 3-D image), got [1, 2, 3, 4] (is the channel "
                                   "axis missing? images are channel-first (C, *spatial))"),
        ([1, 2], SpaceError, "have 3 entries (one per spatial axis of a 3-D image), got [1, 2]"),
        (["a", "b", "c"], SpaceError, "have 3 entries (one per spatial axis of a 3-D image), got ['a', 'b', 'c']"),
        ([1.5, 2, 3], SpaceError, "be integers, got [1.5, 2, 3]"),
    ):
        with pytest.raises(error) as caught:
            int_entries(value, 3, "spatial_size", "img")
        assert str(caught.value) == start + message
    with pytest.raises(SpaceError) as caught:
        resize_shape(Space((4, 4, 4)), 0, "longest", key="img")
    assert str(caught.value) == "spatial_size for key 'img' must be one positive int with size_mode='longest', got 0"
    img = _odd_image()
    assert SpaceResize((1, -1, 4))(img).shape == Resize((1, -1, 4))(img).shape == (1, 1, 11, 4)


def test_spacing_rules_and_limits_against_monai():
    """spacing_target_6 (``min_pixdim`` dropped), _monai_spacing_grid_93, _94 (one voxel along an axis refused),
    _92, _95 (none refused, or without its message): MONAI's Spacing side by side, the message by hand."""
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    from monai_spacetx import SpaceError
    from monai_spacetx.transforms import SpaceSpacing

    affine = torch.tensor([[0.8, 0, 0, 10.0], [0, 0.9, 0, -5.0], [0, 0, 2.5, 37.5], [0, 0, 0, 1]], dtype=torch.float64)
    img = MetaTensor(torch.rand(1, 12, 10, 6, generator=torch.Generator().manual_seed(0)), affine=affine)
    for kwargs in (dict(pixdim=(0.4, 0.45, 5.0), min_pixdim=(0.5, 0.5, 2.0)),  # spacings above min_pixdim are kept
                   dict(pixdim=(9.6, 1.0, 1.0), scale_extent=True),  # one voxel along axis 0
                   dict(pixdim=(9.6, 1.0, 1.0), diagonal=True)):
        theirs, ours = Spacing(**kwargs)(img), SpaceSpacing(**kwargs)(img)
        assert ours.shape == theirs.shape, kwargs
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-12)
    assert SpaceSpacing(pixdim=(0.4, 0.45, 5.0), min_pixdim=(0.5, 0.5, 2.0))(img).shape != SpaceSpacing(pixdim=(0.4, 0.45, 5.0))(img).shape
    with pytest.raises(SpaceError) as caught:
        SpaceSpacing(pixdim=(40.0, 1.0, 1.0), scale_extent=True)(img)
    assert str(caught.value) == "pixdim [40.0, 1.0, 1.0] leaves no voxel along some axis of shape (12, 10, 6)"


def test_min_and_max_pixdim_read_as_monai_does_by_hand():
    """_bounds_5 .. _32 (tuples, None entries, tensors, the checks and messages), monai_spacing_4 .. _36 (the names and
    key passed on, the order check): spacings by hand from MONAI's documented rule (an input spacing inside
    ``[min(min_pixdim, p), max(max_pixdim, p)]`` is kept; ``None`` is no bound), messages by hand."""
    from monai_spacetx import SpaceError
    from monai_spacetx.transforms.planning import monai_spacing

    source = Space((8, 8, 8), spacing=(0.8, 0.9, 2.5))
    assert monai_spacing((0.5, 0.5, 1.0), source, None, (1.0, None, 3.0)).tolist() == [0.8, 0.5, 2.5]  # a tuple, None
    assert monai_spacing(1.0, source, (0.5, None, 2.0)).tolist() == [0.8, 1.0, 1.0]
    assert monai_spacing(1.0, source, torch.tensor([0.5, 0.5, 2.0])).tolist() == [0.8, 0.9, 1.0]  # a tensor
    assert monai_spacing(1.0, source, 0.0).tolist() == [0.8, 1.0, 1.0]  # one number: axis 0 only
    assert monai_spacing(1.0, source, None, (None, None, 3.0)).tolist() == [1.0, 1.0, 2.5]  # max bounds axis 2 only
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    img = MetaTensor(torch.zeros(1, 8, 8, 8), affine=torch.diag(torch.tensor([0.8, 0.9, 2.5, 1.0], dtype=torch.float64)))
    for kwargs in (dict(pixdim=(0.5, 0.5, 1.0), max_pixdim=(1.0, None, 3.0)), dict(pixdim=1.0, min_pixdim=(0.5, None, 2.0))):
        kept = np.sqrt((Spacing(**kwargs)(img).affine.numpy()[:3, :3] ** 2).sum(0))  # MONAI's own output spacing
        np.testing.assert_allclose(monai_spacing(kwargs.pop("pixdim"), source, **kwargs), kept, rtol=0, atol=1e-12)
    for kwargs, error, message in (
        (dict(min_pixdim=("a", 1.0)), SpaceTypeError, "min_pixdim for key 'img' must be numbers or None, got ('a', 1.0)"),
        (dict(max_pixdim=[[1.0, 2.0]]), SpaceError, "max_pixdim for key 'img' must be numbers (None for no bound), got [[1.0, 2.0]]"),
        (dict(min_pixdim=[-np.inf]), SpaceError, "min_pixdim for key 'img' must be numbers (None for no bound), got [-inf]"),
        (dict(min_pixdim=[]), SpaceError, "min_pixdim for key 'img' must be numbers (None for no bound), got []"),
        (dict(min_pixdim=-0.1), SpaceError, "min_pixdim for key 'img' must be >= 0 and <= max_pixdim, got -0.1 and None"),
        (dict(min_pixdim=2.0, max_pixdim=1.0), SpaceError, "min_pixdim for key 'img' must be >= 0 and <= max_pixdim, got 2.0 and 1.0"),
        (dict(), SpaceError, "pixdim for key 'img' must be finite numbers, got nan"),
    ):
        with pytest.raises(error) as caught:
            monai_spacing(np.nan if not kwargs else 1.0, source, key="img", **kwargs)
        assert str(caught.value) == message, kwargs


def test_pixdim_checks_and_2d_spacing_without_a_slice_position():
    """pixdim_values_13, _15 (the key, a 2-D pixdim let through), monai_spacing_39 (equal bounds refused):
    messages and spacings by hand, MONAI's Spacing side by side, a 3 x 3 affine and a 4 x 4 one."""
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    from monai_spacetx import SpaceError
    from monai_spacetx.transforms import SpaceSpacing
    from monai_spacetx.transforms.planning import monai_spacing, pixdim_values

    with pytest.raises(SpaceTypeError, match=r"^pixdim for key 'img' must be numbers, got 'abc'$"):
        pixdim_values("abc", "img")
    with pytest.raises(SpaceError, match=r"^pixdim for key 'img' must be finite numbers, got \[\[1\.0, 2\.0\]\]$"):
        pixdim_values([[1.0, 2.0]], "img")
    # min_pixdim == max_pixdim is a valid (one-point) range: axis 0 (1.0) is kept, the others resampled to 0.5
    assert monai_spacing(0.5, Space((4, 4, 4)), 1.0, 1.0).tolist() == [1.0, 0.5, 0.5]
    flat = MetaTensor(torch.rand(1, 12, 10, generator=torch.Generator().manual_seed(0)),
                      affine=torch.tensor([[0.8, 0, 3.0], [0, 0.9, 4.0], [0, 0, 1.0]], dtype=torch.float64))  # 3 x 3: no slice
    at_zero = MetaTensor(torch.rand(1, 12, 10, 6, generator=torch.Generator().manual_seed(0)),
                         affine=torch.diag(torch.tensor([0.8, 0.9, 2.5, 1.0], dtype=torch.float64)))
    for img, pixdim in ((flat, (0.5, 0.6)), (at_zero, (1.0, 1.0, 1.0))):
        theirs, ours = Spacing(pixdim, scale_extent=True)(img), SpaceSpacing(pixdim, scale_extent=True)(img)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.affine.numpy(), theirs.affine.numpy(), rtol=0, atol=1e-12)


def test_spacing_keeps_an_input_spacing_exactly_on_a_tolerance_bound():
    """monai_spacing_73, _74 (the bounds ``lo - AFFINE_TOL <= current <= hi + AFFINE_TOL`` made strict): an input
    spacing of exactly ``1.0 - 1e-3`` with ``min_pixdim=1.0`` and of exactly ``3.0 + 1e-3`` with ``max_pixdim=3.0``
    is kept on that axis by MONAI's Spacing (side by side: shape and affine), the other axes go to 2.0."""
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    from monai_spacetx.transforms import SpaceSpacing

    for spacing, bounds in ((1.0 - 1e-3, {"min_pixdim": 1.0}), (3.0 + 1e-3, {"max_pixdim": 3.0})):
        img = MetaTensor(torch.rand(1, 10, 10, 10, generator=torch.Generator().manual_seed(1)),
                         affine=torch.diag(torch.tensor([spacing, 1.0, 1.0, 1.0], dtype=torch.float64)))
        theirs, ours = Spacing(2.0, **bounds)(img), SpaceSpacing(2.0, **bounds)(img)
        assert theirs.shape == ours.shape == (1, 10, 6, 6)
        assert float(theirs.affine[0, 0]) == float(ours.affine[0, 0]) == spacing
        np.testing.assert_array_equal(ours.affine.numpy(), theirs.affine.numpy())


def test_scale_extent_with_a_source_edge_at_world_zero():
    """_monai_spacing_grid_88 (the edge-aligned origin divided by its sign instead of multiplied): the source's lowest
    edge at x = 0 exactly (first centre 0.5 mm, 1 mm voxels) makes that sign 0; MONAI's Spacing(scale_extent=True)
    puts the new origin's x at 0, side by side, every entry of the affine."""
    from monai.data import MetaTensor
    from monai.transforms import Spacing

    from monai_spacetx.transforms import SpaceSpacing

    affine = torch.tensor([[1.0, 0, 0, 0.5], [0, 1.0, 0, 3.0], [0, 0, 1.0, 4.0], [0, 0, 0, 1.0]], dtype=torch.float64)
    img = MetaTensor(torch.rand(1, 10, 10, 10, generator=torch.Generator().manual_seed(2)), affine=affine)
    theirs, ours = Spacing(2.0, scale_extent=True)(img), SpaceSpacing(2.0, scale_extent=True)(img)
    assert float(theirs.affine[0, 3]) == 0.0
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours.affine.numpy(), theirs.affine.numpy())


def test_pixdim_as_a_tensor_that_requires_grad_and_the_key_in_spacing_target():
    """pixdim_values_4 (a tensor read without ``detach``: torch refuses ``numpy()`` on a tensor that requires grad),
    spacing_target_8, _13 (the key not passed on: the message would not name it): values and message by hand."""
    from monai_spacetx.transforms.planning import pixdim_values, spacing_target

    assert pixdim_values(torch.tensor([2.0, 3.0], requires_grad=True)).tolist() == [2.0, 3.0]
    with pytest.raises(SpaceTypeError, match=r"^pixdim for key 'img' must be numbers, got 'abc'$"):
        spacing_target(Space((4, 4, 4)), "abc", key="img")
