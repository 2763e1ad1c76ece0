"""Tests written to kill the mutants mutmut left alive in ``transforms/chain.py`` (tests/mutation/run_mutmut.py).

Each test names the mutants it kills (``chain_<function>_<n>``: mutmut's ``x_<function>__mutmut_<n>``) and checks
against an outside oracle: the grids MONAI's own eager transforms leave after each step (read from their
affines), the nearest map-back by brute force from the raw affines (``oracles.nearest`` from each grid to the one
before it), grids and counts worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import (CastToTyped, Compose, Flipd, Orientationd, RandFlipd, Rotate90d, Rotated, Spacingd,
                              SpatialCropd, SpatialPadd, Zoomd)

import oracles
from monai_spacetx import MetadataError, Space, SpaceApplyPendingd, SpaceCropd, SpaceResampled
from monai_spacetx.transforms.chain import compose_nearest, interpolating_steps, map_back_nearest, recorded_grids

SHAPE = (9, 11, 7)


def _affine() -> np.ndarray:
    c, s = np.cos(0.3), np.sin(0.3)
    affine = np.eye(4)
    affine[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.2, 0.9, 1.7])
    affine[:3, 3] = (-25.0, 40.0, 90.0)
    return affine


def _label(seed: int = 3) -> MetaTensor:
    values = torch.randint(0, 5, (1, *SHAPE), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    affine = torch.as_tensor(_affine())
    return MetaTensor(values, affine=affine.clone(), meta={"original_affine": affine.clone(), "spatial_shape": np.array(SHAPE)})


STEPS = [
    lambda: Orientationd("label", axcodes="LPS"),
    lambda: Spacingd("label", pixdim=(0.8, 0.7, 1.1), mode="nearest"),
    lambda: RandFlipd("label", prob=0.0, spatial_axis=0),  # did not fire: no grid
    lambda: CastToTyped("label", dtype=np.uint8),  # non-spatial: no grid
    lambda: SpatialCropd("label", roi_start=(1, 2, 1), roi_end=(12, 14, 10)),
    lambda: Flipd("label", spatial_axis=1),
    lambda: SpaceResampled("label", pixdim=(0.6, 0.5, 0.9), mode="nearest"),
    lambda: Rotate90d("label", k=1, spatial_axes=(0, 2)),
    lambda: SpatialPadd("label", spatial_size=(30, 30, 30)),
]


def _eager_grids() -> tuple[MetaTensor, list[Space]]:
    """MONAI's (and our) eager transforms one at a time: the grid after each spatial step that ran, by its affine."""
    data = {"label": _label()}
    grids = [Space.from_affine(_affine(), SHAPE)]
    for index, make in enumerate(STEPS):
        data = make()(data)
        if index not in (2, 3):
            grids.append(Space.from_metatensor(data["label"]))
    return data["label"], grids


def test_recorded_grids_are_the_grids_monai_left_after_each_step():
    """chain_recorded_grids_* (the walk back through every record: each step's input grid, a random step that did
    not fire and a non-spatial one skipped, our own step's recorded source): the grids equal those MONAI's eager
    transforms left, step by step; ``interpolating_steps`` counts the two resamples (by hand: ``Spacingd`` and
    ``SpaceResampled``; reorientation, crop, flip, turn and pad copy)."""
    label, expected = _eager_grids()
    grids = recorded_grids(label)
    assert len(grids) == len(expected) == 8
    for got, want in zip(grids, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.affine, want.affine, rtol=0, atol=1e-6)
    assert interpolating_steps(grids) == 2
    assert interpolating_steps(grids[:2]) == 0 and interpolating_steps(grids[1:3]) == 1


def test_interpolating_steps_by_hand():
    """chain_interpolating_steps_* on hand-made grids: crops, flips and permutations copy; a respacing or a
    rotation resamples."""
    native = Space((6, 5, 4), spacing=(1.0, 2.0, 3.0))
    cropped = native.crop((1, 0, 0), (5, 5, 4))
    flipped = cropped.flip(0)
    respaced = flipped.respace(0.5)
    turned = respaced.rotate((0.2, 0.0, 0.0))
    assert interpolating_steps([native]) == 0
    assert interpolating_steps([native, cropped, flipped]) == 0
    assert interpolating_steps([native, cropped, flipped, respaced]) == 1
    assert interpolating_steps([native, cropped, flipped, respaced, turned, turned.crop((0, 0, 0), (3, 3, 3))]) == 2


def _brute_map_back(values: np.ndarray, grids: list[Space], fill) -> np.ndarray:
    """Nearest from each grid to the one before it, last to first, by brute force from the raw affines (a voxel
    outside a grid takes the fill, which then travels on)."""
    for later, earlier in zip(grids[::-1][:-1], grids[::-1][1:]):
        values = oracles.nearest(values, later.affine, earlier.affine, earlier.shape, fill=fill)
    return values


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 20])
def test_compose_nearest_in_chunks_is_the_brute_force_map_back(chunk):
    """chain_compose_nearest_39 (each chunk from 0), _26, _28 (``valid`` not bool), and the chunked loop: on
    every chunk size, the composed index read from the last grid equals the nearest map-back by brute force."""
    _, grids = _eager_grids()
    rotated = grids[-1].rotate((0.25, -0.1, 0.15))  # an oblique last step: no axis-aligned shortcut
    grids = [*grids, rotated]
    values = np.arange(int(np.prod(rotated.shape)), dtype=np.int64).reshape(rotated.shape) + 1
    index, valid = compose_nearest(grids, chunk=chunk)
    assert index.shape == (int(np.prod(SHAPE)), 3) and index.dtype == np.int64
    assert valid.shape == (int(np.prod(SHAPE)),) and valid.dtype == np.bool_  # as documented: (N,) bool
    got = np.where(valid, values[tuple(np.where(valid[:, None], index, 0).T)], 0).reshape(SHAPE)
    expected = _brute_map_back(values, grids, 0)
    assert 0.2 < valid.mean() < 1.0
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("oblique", [False, True], ids=["axis-aligned", "oblique"])
def test_map_back_nearest_is_the_brute_force_map_back_with_the_fill(oblique):
    """chain_map_back_nearest_*, chain__separable_flat_index_* (the gather, the fill where a step left its grid,
    the dtype kept): the eager chain's label, turned or not, mapped back to the native grid equals the brute-force
    map-back from the raw affines, the fill (9) where some step left its grid."""
    data = {"label": _label()}
    chain = [make() for make in STEPS]
    if oblique:
        chain.insert(7, Rotated("label", angle=(0.3, 0.0, 0.2), mode="nearest", padding_mode="zeros"))
    for transform in chain:
        data = transform(data)
    label = data["label"]
    current = torch.as_tensor(label.as_tensor(), dtype=torch.int16) * 3 + 1
    native = Space.from_affine(_affine(), SHAPE)
    out = map_back_nearest(current, label, native, fill=9)
    assert out is not None and out.dtype == torch.int16 and tuple(out.shape) == (1, *SHAPE)
    grids = recorded_grids(label)
    expected = _brute_map_back(current[0].numpy(), [native, *grids[1:]], 9)
    assert (expected == 9).any() and (expected != 9).mean() > 0.3
    np.testing.assert_array_equal(out[0].numpy(), expected)


def test_map_back_nearest_returns_none_for_one_resample_and_refuses_a_chain_that_does_not_lead_back():
    """chain_map_back_nearest_* (fewer than two resamples: ``None``, one resample back is then exact; a native
    grid the records do not lead to is refused, naming the records and both grids)."""
    data = Compose([Orientationd("label", axcodes="LPS"), Spacingd("label", pixdim=0.8, mode="nearest"),
                    Flipd("label", spatial_axis=0)])({"label": _label()})
    native = Space.from_affine(_affine(), SHAPE)
    assert map_back_nearest(data["label"].as_tensor(), data["label"], native) is None
    label, _ = _eager_grids()
    other = Space.from_affine(_affine() @ np.diag([1.0, 1.0, 1.0, 1.0]) + np.array([[0, 0, 0, 2.0]] * 3 + [[0, 0, 0, 0]]), SHAPE)
    with pytest.raises(MetadataError, match=r"^the recorded chain \['Orientation', 'SpatialResample', 'RandFlip"):
        map_back_nearest(label.as_tensor(), label, other)
    wrong_shape = Space.from_affine(_affine(), (9, 11, 8))
    with pytest.raises(MetadataError, match=r"does not lead back to the native grid \(it arrives at Space.*the native grid is Space") as caught:
        map_back_nearest(label.as_tensor(), label, wrong_shape)
    # chain_map_back_nearest_28: the grid the records arrive at is the native one (9, 11, 7), named first
    assert f"it arrives at {Space.from_affine(_affine(), SHAPE)!r}, the native grid is {wrong_shape!r}" in str(caught.value)


def test_a_lazily_executed_run_is_one_step_from_its_first_input():
    """chain_recorded_grids_* (a run of MONAI operations executed lazily, by our sink: one step, whose input grid
    is the first operation's; the sink's warp covering an earlier Space step): the grids by hand from MONAI's
    eager grids of the same steps."""
    steps = [Orientationd("label", axcodes="LPS"), Spacingd("label", pixdim=(0.8, 0.7, 1.1), mode="nearest"),
             Flipd("label", spatial_axis=1), Zoomd("label", zoom=1.3, mode="nearest", keep_size=False)]
    eager = {"label": _label()}
    after = []
    for step in steps:
        eager = step(eager)
        after.append(Space.from_metatensor(eager["label"]))
    lazy = Compose([*steps, SpaceApplyPendingd("label")], lazy=True)({"label": _label()})
    grids = recorded_grids(lazy["label"])
    assert len(grids) == 2
    np.testing.assert_allclose(grids[0].affine, _affine(), rtol=0, atol=1e-9)
    assert grids[0].shape == SHAPE
    np.testing.assert_allclose(grids[1].affine, after[-1].affine, rtol=0, atol=1e-6)
    # a Space step, MONAI ops pending after it, the sink: the sink's warp covered the Space step too: one step
    covered = Compose([SpaceCropd("label", roi_start=(1, 1, 1), roi_end=(8, 10, 6)), Flipd("label", spatial_axis=0),
                       Spacingd("label", pixdim=0.9, mode="nearest"), SpaceApplyPendingd("label")], lazy=True)({"label": _label()})
    assert covered["label"].applied_operations[-1]["spacetx_fused"] == 1
    grids = recorded_grids(covered["label"])
    assert [g.shape for g in grids][0] == SHAPE and len(grids) == 2
    np.testing.assert_allclose(grids[0].affine, _affine(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(grids[-1].affine, covered["label"].affine.numpy(), rtol=0, atol=1e-9)


def test_separable_flat_indices_stay_inside_a_last_grid_one_voxel_thick():
    """chain__separable_flat_index_100 (a voxel that left the grid given index 1 on that axis, not 0): the flat
    indices point into ``grids[-1]`` everywhere (the gather reads them all before the fill), which a last grid one
    voxel thick along its slowest axis tells; where valid, they are the brute-force map-back from the raw affines."""
    from monai_spacetx.transforms.chain import _separable_flat_index

    native = Space((6, 5, 4), spacing=(1.0, 2.0, 3.0), origin=(4.0, -2.0, 7.0))
    respaced = native.respace(0.5)
    last = respaced.crop((3, 0, 0), (4, respaced.shape[1], respaced.shape[2]))
    grids = [native, respaced, last]
    assert last.shape[0] == 1
    flat, valid = _separable_flat_index(grids)
    size = int(np.prod(last.shape))
    assert flat.min() >= 0 and flat.max() < size  # every entry is an index into the last grid
    values = np.arange(size, dtype=np.int64).reshape(last.shape) + 1
    expected = _brute_map_back(values, grids, 0).reshape(-1)
    assert valid.any() and not valid.all()
    np.testing.assert_array_equal(np.where(valid, values.reshape(-1)[flat], 0), expected)


def test_a_space_step_that_fused_monai_operations_is_one_step_from_its_data_source():
    """chain_recorded_grids_9, _10 (our record not recognised: the MONAI records it fused read again as steps of
    their own), _23, _27, _28 (``data_source`` not read: the step starts from the grid MONAI's operations left,
    not the data it read). ``Orientationd`` and ``Spacingd`` pending, fused into ``SpaceResampled``: one resample
    from the native grid to the eager chain's last grid (MONAI's eager ``Orientationd`` + ``Spacingd``, then
    ours)."""
    steps = [Orientationd("label", axcodes="LPS"), Spacingd("label", pixdim=0.8, mode="nearest"),
             SpaceResampled("label", pixdim=0.6, mode="nearest")]
    lazy = Compose(steps, lazy=True)({"label": _label()})["label"]
    eager = Compose(steps)({"label": _label()})["label"]
    assert [op["class"] for op in lazy.applied_operations] == ["Orientation", "SpatialResample", "SpaceResample"]
    assert lazy.applied_operations[-1]["extra_info"]["fused"] == 2
    grids = recorded_grids(lazy)
    assert len(grids) == 2 and grids[0].shape == SHAPE and grids[1].shape == tuple(eager.shape[1:])
    np.testing.assert_allclose(grids[0].affine, _affine(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(grids[1].affine, eager.affine.numpy(), rtol=0, atol=1e-6)
    assert interpolating_steps(grids) == 1


def test_map_back_nearest_default_fill_and_the_native_grids_tolerance():
    """chain_map_back_nearest_1 (default fill 1.0), _14 (numpy's default ``allclose`` tolerances instead of the
    documented 1e-4 absolute, ``AFFINE_MATCH_ATOL``): the default fill is 0 where a step left its grid (brute
    force); a native grid 5e-5 off in its linear part is the recorded one (within 1e-4; numpy's defaults allow
    1e-5 relative there), one 2e-3 mm off in its translation (90 mm: 1e-4 + 1e-5 * 90 allowed) is not."""
    label, _ = _eager_grids()
    current = torch.as_tensor(label.as_tensor(), dtype=torch.int16) + 1
    native = Space.from_affine(_affine(), SHAPE)
    out = map_back_nearest(current, label, native)
    expected = _brute_map_back(current[0].numpy(), [native, *recorded_grids(label)[1:]], 0)
    assert (expected == 0).any()
    np.testing.assert_array_equal(out[0].numpy(), expected)
    near = _affine()
    near[:3, :3] += 5e-5
    assert torch.equal(map_back_nearest(current, label, Space.from_affine(near, SHAPE)), out)
    far = _affine()
    far[2, 3] += 2e-3
    with pytest.raises(MetadataError, match=r"does not lead back to the native grid"):
        map_back_nearest(current, label, Space.from_affine(far, SHAPE))


def test_a_lazily_executed_run_starts_on_its_oldest_operations_input_shape():
    """chain_recorded_grids_80 (the run's input shape read from its second-oldest operation): a lazy ``Spacingd``
    (which changes the shape) then ``Flipd``, executed by our sink, is one step from the loaded grid, the shape
    the label had before ``Spacingd``, not the one ``Flipd`` received (MONAI's eager ``Spacingd`` gives that)."""
    resampled = Spacingd("label", pixdim=(0.8, 0.7, 1.1), mode="nearest")({"label": _label()})["label"]
    assert tuple(resampled.shape[1:]) != SHAPE  # the two shapes the mutant would confuse differ
    lazy = Compose([Spacingd("label", pixdim=(0.8, 0.7, 1.1), mode="nearest"), Flipd("label", spatial_axis=1),
                    SpaceApplyPendingd("label")], lazy=True)({"label": _label()})
    grids = recorded_grids(lazy["label"])
    assert len(grids) == 2 and grids[0].shape == SHAPE
    np.testing.assert_allclose(grids[0].affine, _affine(), rtol=0, atol=1e-9)
