"""The metrics (the package's one copy) and the MONAI-vs-ours harness."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from monai_spacetx import Space
from monai_spacetx.compare import (
    LabelScore,
    dice,
    example_scan,
    landmark_error_mm,
    score_labels,
    to_numpy,
    working_grid_mask,
    wrong_voxels,
)
from monai_spacetx.errors import ShapeMismatchError, SpaceError


def test_wrong_voxels_counts_differences_anywhere_or_under_a_mask():
    truth = np.zeros((4, 5), np.uint8)
    pred = truth.copy()
    pred[0, 0], pred[3, 4] = 1, 2
    assert wrong_voxels(pred, truth) == 2
    mask = np.zeros_like(truth, bool)
    mask[:2] = True
    assert wrong_voxels(pred, truth, mask) == 1 and wrong_voxels(pred, truth, ~mask) == 1
    # a channel axis on one side, torch on the other
    assert wrong_voxels(torch.from_numpy(pred)[None], truth) == 2
    with pytest.raises(ShapeMismatchError, match=r"same shape, got \(4, 5\) and \(5, 4\)"):
        wrong_voxels(pred, truth.T)


def test_dice_by_hand():
    truth = np.array([0, 1, 1, 1, 2, 2, 0, 0])
    pred = np.array([0, 1, 1, 0, 2, 0, 2, 0])
    # class 1: 2*2/(2+3) = 0.8; class 2: 2*1/(2+2) = 0.5
    assert dice(pred, truth) == pytest.approx(0.65)
    assert dice(pred, truth, classes=[1]) == pytest.approx(0.8)
    assert dice(pred, truth, classes=[7]) == 1.0  # absent from both: agree
    assert dice(np.zeros(3), np.zeros(3)) == 1.0
    assert dice(pred, truth, where=np.arange(8) < 4) == pytest.approx(0.8)  # class 2 absent there


def test_working_grid_mask_of_a_crop_is_the_box():
    native = Space((10, 8, 6), spacing=(1.0, 2.0, 3.0), origin=(5.0, -3.0, 2.0))
    mask = working_grid_mask(native, native.crop((2, 1, 0), (7, 8, 4)))
    expected = np.zeros(native.shape, bool)
    expected[2:7, 1:8, 0:4] = True
    np.testing.assert_array_equal(mask, expected)


def test_working_grid_mask_oblique_matches_a_point_test(oblique_space):
    working = oblique_space.rotate([0.3] * (1 if oblique_space.ndim == 2 else 3)).resize(
        tuple(max(2, n // 2) for n in oblique_space.shape))
    mask = working_grid_mask(oblique_space, working)
    index = np.stack(np.meshgrid(*[np.arange(n) for n in oblique_space.shape], indexing="ij"), -1).reshape(-1, oblique_space.ndim)
    inside = working.world_to_index(oblique_space.index_to_world(index.astype(float)))
    expected = np.all((inside >= -0.5) & (inside <= np.array(working.shape) - 0.5), axis=1)
    np.testing.assert_array_equal(mask.reshape(-1), expected)
    assert 0 < mask.sum() < mask.size
    with pytest.raises(SpaceError, match="working: expected a"):
        working_grid_mask(oblique_space, Space((4,) * (5 - oblique_space.ndim)))


def test_working_grid_mask_chunks_give_the_same_answer(monkeypatch):
    import monai_spacetx.compare as compare

    native = Space((9, 7, 5), spacing=(1.0, 1.5, 2.0))
    working = native.rotate([0.2, 0.1, 0.4]).resize((6, 6, 6))
    whole = working_grid_mask(native, working)
    monkeypatch.setattr(compare, "_MASK_CHUNK_VOXELS", 17)
    np.testing.assert_array_equal(working_grid_mask(native, working), whole)


def test_score_labels_splits_inside_and_outside():
    truth = np.zeros((6, 6), np.uint8)
    truth[1:5, 1:5] = 1
    pred = truth.copy()
    pred[1, 1] = 0  # inside
    pred[5, 5] = 1  # outside
    inside = np.zeros_like(truth, bool)
    inside[:4, :4] = True
    score = score_labels(pred, truth, inside)
    assert isinstance(score, LabelScore)
    assert (score.wrong_inside, score.wrong_outside, score.wrong, score.inside_voxels) == (1, 1, 2, 16)
    assert score.dice_inside == pytest.approx(2 * 8 / (8 + 9))
    assert score.dice == pytest.approx(2 * 15 / (16 + 16))
    assert score_labels(truth, truth).wrong == 0


def test_landmark_error_in_world_units():
    space = Space((5, 5, 5), spacing=(1.0, 2.0, 4.0))
    a = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    b = np.array([[2.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(landmark_error_mm(a, b, space), [1.0, 4.0])
    np.testing.assert_allclose(landmark_error_mm(a, b, space.affine), [1.0, 4.0])
    flat = Space((5, 5), spacing=(3.0, 1.0))
    np.testing.assert_allclose(landmark_error_mm([[1.0, 0.0]], [[0.0, 0.0]], flat.to_monai_affine()), [3.0])
    with pytest.raises(ShapeMismatchError):
        landmark_error_mm(a, b[:1], space)


def test_to_numpy_accepts_metatensors_and_tensors():
    from monai.data import MetaTensor

    values = np.arange(6.0).reshape(2, 3)
    for x in (values, torch.from_numpy(values), MetaTensor(torch.from_numpy(values)), values.tolist()):
        out = to_numpy(x)
        assert type(out) is np.ndarray
        np.testing.assert_array_equal(out, values)


def test_example_scan_uses_no_test_helpers():
    for module in [m for m in sys.modules if m.startswith("nibabel.testing") or m.startswith("nibabel.tests")]:
        del sys.modules[module]
    path = example_scan()
    assert path.name == "anatomical.nii" and path.is_file()
    assert example_scan("example4d.nii.gz").is_file()
    assert not any(m.startswith(("nibabel.testing", "nibabel.tests")) for m in sys.modules)
    with pytest.raises(FileNotFoundError, match="no example scan 'missing.nii'"):
        example_scan("missing.nii")


# ----------------------------------------------------------------------------- the harness
def _loaded(shape=(20, 16, 10), spacing=(1.2, 1.0, 2.5)):
    from monai.data import MetaTensor

    space = Space(shape, spacing=spacing, origin=(3.0, -4.0, 10.0)).rotate([0.2, 0.0, 0.3])
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    label = ((((grid - np.array(shape) / 2) / (np.array(shape) / 3)) ** 2).sum(-1) <= 1).astype(np.uint8)
    meta = {"affine": torch.from_numpy(space.affine.copy())}
    image = MetaTensor(torch.from_numpy(label * 100.0).float()[None], meta=dict(meta))
    return {"image": image, "label": MetaTensor(torch.from_numpy(label)[None], meta=dict(meta))}, label


def test_compare_roundtrip_finer_grid_is_exact_for_ours():
    from monai_spacetx.compare import compare_roundtrip

    data, label = _loaded()
    before = {k: v.clone() for k, v in data.items()}
    steps = []
    report = compare_roundtrip(data, crop={"start": (2, 2, 0), "end": (18, 14, 10)}, spacing=(0.6, 0.5, 1.25), progress=steps.append)
    ours, theirs = report.results
    assert ours.name == "monai-spacetx" and theirs.name == "MONAI"
    assert ours.score.wrong_inside == 0 and ours.score.dice_inside == 1.0
    outside = np.count_nonzero(label) - np.count_nonzero(label[2:18, 2:14, :])
    assert ours.score.wrong_outside == outside
    assert theirs.score.wrong >= ours.score.wrong
    assert ours.working_shape == theirs.working_shape and ours.native_shape == label.shape
    assert len(steps) == 6 and steps[0].startswith("monai-spacetx") and steps[-1].startswith("MONAI")
    for key in data:  # inputs untouched
        assert torch.equal(data[key], before[key])


def test_compare_roundtrip_landmarks_and_without_monai():
    from monai_spacetx.compare import compare_roundtrip

    data, _ = _loaded()
    native = Space.from_metatensor(data["image"])
    world = native.index_to_world(np.array([[9.3, 7.1, 4.4], [2.0, 3.5, 6.0]]))
    report = compare_roundtrip(data, crop={"threshold": 50.0, "margin": 1}, size=(30, 30, 20), landmarks_world=world, with_monai=False)
    (ours,) = report.results
    assert ours.landmark_mm.max() < 1e-9
    assert ours.landmarks_outside == 1  # (2, 3.5, 6) lies outside the foreground box: kept, flagged, mapped back exactly
    assert ours.score.wrong_inside == 0
    with pytest.raises(SpaceError, match=r"size: expected 3 values for a 3-D image, got \[4, 4\]"):
        compare_roundtrip(data, size=(4, 4))
    with pytest.raises(SpaceError, match="exactly one of spacing and size"):
        compare_roundtrip(data)
