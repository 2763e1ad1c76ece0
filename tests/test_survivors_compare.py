"""Tests that kill mutmut's survivors of ``monai_spacetx/compare.py`` (``tests/mutation/run_mutmut.py``).

Each test names the mutants it kills. The oracles are outside the package: counts and Dice worked out by
hand or by numpy slicing of the label, distances from the raw affine by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_spacetx import Space
from monai_spacetx.compare import compare_roundtrip
from monai_spacetx.errors import SpaceError, SpaceTypeError


def _case(shape: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[dict[str, object], np.ndarray]:
    """An oblique grid holding a label of the classes 0, 3 and 7 (not 0..K-1: the class lookup shows) and an
    image of the label's class times 10."""
    from monai.data import MetaTensor

    space = Space(shape, spacing=spacing, origin=(3.0, -4.0, 10.0)[: len(shape)]).rotate([0.2, 0.0, 0.3][: 3 if len(shape) == 3 else 1])
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    radius = (((grid - np.array(shape) / 2) / (np.array(shape) / 3)) ** 2).sum(-1)
    label = np.where(radius <= 0.4, 7, np.where(radius <= 1.0, 3, 0)).astype(np.uint8)
    meta = {"affine": torch.from_numpy(space.to_monai_affine())}  # 4x4 as LoadImaged gives it, 2-D included
    image = MetaTensor(torch.from_numpy(label * 10.0).float()[None], meta=dict(meta))
    return {"image": image, "label": MetaTensor(torch.from_numpy(label)[None], meta=dict(meta))}, label


def _dice_by_hand(back: np.ndarray, label: np.ndarray) -> float:
    """Mean Dice over the non-zero classes of either map, from counts."""
    scores = []
    for k in sorted((set(np.unique(back)) | set(np.unique(label))) - {0}):
        a, b = back == k, label == k
        scores.append(2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))
    return float(np.mean(scores))


@pytest.mark.parametrize("shape, spacing, box", [((20, 16, 10), (1.2, 1.0, 2.5), ((5, 4, 2), (17, 14, 9))),
                                                 ((18, 14), (1.0, 1.5), ((1, 2), (15, 13)))])
def test_probabilities_map_back_exactly_on_a_twice_finer_crop(shape: tuple[int, ...], spacing: tuple[float, ...],
                                                             box: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    """A working grid twice as fine as a crop (corner centres kept: native voxel i is working voxel 2i): the
    one-hot resampled linearly (upsampling: no anti-aliasing) and mapped back linearly at the even working
    voxels is the one-hot again, so argmax gives the label exactly inside the crop, and the fill (index 0,
    class 0) outside. The scores by hand from numpy slicing. Kills ``_ours_probabilities``' mutants that lose
    the classes, the one-hot, the argmax or the score."""
    data, label = _case(shape, spacing)
    start, end = box
    region = tuple(slice(a, b) for a, b in zip(start, end))
    back = np.zeros_like(label)
    back[region] = label[region]
    said: list[str] = []
    report = compare_roundtrip(data, crop={"start": start, "end": end}, spacing=tuple(s / 2 for s in spacing),
                               with_monai=False, probabilities=True, progress=said.append)
    assert said == ["monai-spacetx: crop + resample the label into the working grid",
                    "monai-spacetx: map the prediction back (nearest)",
                    "scoring: which native voxels the working grid covers",
                    "monai-spacetx: map the prediction back (mode='label')",
                    "monai-spacetx: map soft probabilities back (argmax=True)"]
    (ours,) = report.results
    score = ours.probabilities
    assert score is not None
    inside_voxels = int(np.prod(np.subtract(end, start)))
    assert score.inside_voxels == inside_voxels
    assert score.wrong_inside == 0 and score.dice_inside == 1.0
    assert score.wrong_outside == np.count_nonzero(label) - np.count_nonzero(label[region]) > 0
    assert score.dice == pytest.approx(_dice_by_hand(back, label), abs=1e-12)
    assert ours.working_shape == tuple(2 * (b - a - 1) + 1 for a, b in zip(start, end))
    for nearest in (ours.score, ours.label_mode):  # nearest and mode="label" map the finer crop back exactly too
        assert nearest is not None
        assert (nearest.wrong_inside, nearest.wrong_outside, nearest.inside_voxels) == (0, score.wrong_outside, inside_voxels)
        assert nearest.dice_inside == 1.0 and nearest.dice == pytest.approx(_dice_by_hand(back, label), abs=1e-12)


def _world(affine: np.ndarray, index: np.ndarray) -> np.ndarray:
    """World points of ``(N, D)`` index points, from MONAI's 4x4 affine by hand."""
    d = index.shape[1]
    return index @ affine[:d, :d].T + affine[:d, 3]


def _monai_by_hand(data: dict[str, object], steps: list[object]) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """MONAI's own pipeline run here: the label mapped back by ``Invertd(nearest_interp=True)``, the working affine
    and shape."""
    import copy

    from monai.data import MetaTensor
    from monai.transforms import Compose, Invertd

    pipeline = Compose(steps)
    out = pipeline(copy.deepcopy(data))
    affine = np.asarray(out["label"].affine, dtype=np.float64)
    shape = tuple(int(n) for n in out["label"].shape[1:])
    out["pred"] = MetaTensor(out["label"].as_tensor())
    back = Invertd(keys="pred", transform=pipeline, orig_keys="label", nearest_interp=True)(out)["pred"]
    return np.asarray(back)[0], affine, shape


def _outside(affine: np.ndarray, shape: tuple[int, ...], world: np.ndarray) -> int:
    """How many world points lie outside the grid of ``affine`` (voxel boxes -0.5 .. n - 0.5), by hand."""
    d = world.shape[1]
    index = np.linalg.solve(affine[:d, :d], (world - affine[:d, 3]).T).T
    return int(np.count_nonzero(~np.all((index >= -0.5) & (index <= np.array(shape) - 0.5), axis=1)))


@pytest.mark.parametrize("ndim", [3, 2])
def test_monais_pipeline_side_by_side_with_landmarks(ndim: int) -> None:
    """MONAI's half of the harness against MONAI's own transforms run in the test: a foreground crop above 50
    (only class 7; ``image > 0`` would keep class 3 too) grown by a margin, then ``Resized`` (3-D), or an index
    box then ``Spacingd`` (2-D: the 4x4 affine's translation column); the mapped-back label bit for bit, the
    working shape, the steps, the scores by hand from it, and the landmarks: each round trip exact for both
    pipelines, and the points outside each working grid counted from MONAI's affine by hand (one far outside,
    one in the class-7 core, one outside the crop box but inside the native grid). Kills ``_monai``'s mutants of
    the threshold, the size, the landmark matrix and the outside count, and the progress texts."""
    from monai.transforms import CropForegroundd, Resized, Spacingd, SpatialCropd

    if ndim == 3:
        shape, spacing = (20, 16, 10), (1.2, 1.0, 2.5)
        crop: dict[str, object] = {"threshold": 50.0, "margin": 1}
        grid = {"size": (9, 11, 6)}
        steps = [CropForegroundd(keys=["label"], source_key="image", select_fn=lambda x: x > 50.0, margin=1),
                 Resized(keys=["label"], spatial_size=(9, 11, 6), mode="nearest")]
        names = "CropForegroundd + Resized + Invertd"
        points = np.array([[-4.0, 3.0, 2.0], [10.2, 7.6, 5.1], [2.0, 1.0, 1.0]])
    else:
        shape, spacing = (18, 14), (1.0, 1.5)
        crop = {"start": (5, 4), "end": (15, 12)}
        grid = {"spacing": (0.7, 1.1)}
        steps = [SpatialCropd(keys=["label"], roi_start=(5, 4), roi_end=(15, 12)),
                 Spacingd(keys=["label"], pixdim=(0.7, 1.1), mode="nearest")]
        names = "SpatialCropd + Spacingd + Invertd"
        points = np.array([[-4.0, 3.0], [9.2, 7.6], [2.0, 1.0]])
    data, label = _case(shape, spacing)
    affine = np.asarray(data["image"].affine, dtype=np.float64)
    world = _world(affine, points)
    expected, working_affine, working_shape = _monai_by_hand(data, steps)
    assert _outside(working_affine, working_shape, world) == 2  # the far point and the corner one
    said: list[str] = []
    report = compare_roundtrip(data, crop=crop, landmarks_world=world, progress=said.append, **grid)
    ours, theirs = report.results
    assert theirs.name == "MONAI" and theirs.steps == names and theirs.note == ""
    assert theirs.working_shape == working_shape and theirs.native_shape == label.shape
    np.testing.assert_array_equal(theirs.back, expected)
    assert theirs.score is not None
    assert theirs.score.wrong == np.count_nonzero(expected != label)
    assert theirs.landmark_mm.shape == (3,) and theirs.landmark_mm.max() < 1e-9
    assert theirs.landmarks_outside == 2
    assert ours.name == "monai-spacetx" and ours.steps == names.replace("Invertd", "SpaceInvertd").replace(
        "CropForegroundd", "SpaceCropForegroundd").replace("SpatialCropd", "SpaceCropd").replace("Resized", "SpaceResampled").replace(
        "Spacingd", "SpaceResampled")
    assert ours.working_shape == working_shape and ours.native_shape == label.shape  # MONAI's working grid
    if ndim == 3:  # our crop: the box of image > 50 (class 7) grown by 1, by numpy; nothing predicted outside it
        where = np.argwhere(label == 7)
        box = tuple(slice(max(a - 1, 0), min(b + 2, n)) for a, b, n in zip(where.min(0), where.max(0), shape))
    else:
        box = (slice(5, 15), slice(4, 12))
    assert ours.score is not None and ours.score.inside_voxels == label[box].size
    assert ours.score.wrong_outside == np.count_nonzero(label) - np.count_nonzero(label[box]) > 0
    assert ours.landmark_mm.shape == (3,) and ours.landmark_mm.max() < 1e-9
    assert ours.landmarks_outside == 2
    assert said == ["monai-spacetx: crop + resample the label into the working grid",
                    "monai-spacetx: map the prediction back (nearest)",
                    "scoring: which native voxels the working grid covers",
                    "monai-spacetx: map the prediction back (mode='label')",
                    "MONAI: crop + resample the label into the working grid",
                    "MONAI: map the prediction back (Invertd, nearest_interp=True)"]


def test_a_working_grid_whose_faces_pass_through_native_centres() -> None:
    """The working voxels' boxes end exactly on native voxel centres (working spacing 2 and 3, origins 1 and
    1.5 on an identity native grid: the field of view is world 0 .. 6 on both axes), and a centre on the boundary
    counts as inside: native voxels 0..6 along both axes, by hand. Kills ``working_grid_mask``'s mutants of the
    tolerance's sign and of ``<=`` / ``>=``."""
    from monai_spacetx.compare import working_grid_mask

    native = Space((9, 8))
    working = Space((3, 2), spacing=(2.0, 3.0), origin=(1.0, 1.5))
    expected = np.zeros((9, 8), dtype=bool)
    expected[0:7, 0:7] = True
    np.testing.assert_array_equal(working_grid_mask(native, working), expected)
    # and the same faces one working voxel in from each side along axis 0: world 2 .. 4
    np.testing.assert_array_equal(working_grid_mask(native, Space((1, 2), spacing=(2.0, 3.0), origin=(3.0, 1.5))),
                                  np.pad(np.ones((3, 7), bool), ((2, 4), (0, 1))))


_DATA_MESSAGE = ("data must be {'image': MetaTensor, 'label': MetaTensor}, each (1, *spatial) with 2 or 3 spatial axes, as "
                 "LoadImaged(ensure_channel_first=True) returns them; got ")


def _bad_data() -> list[tuple[object, str]]:
    from monai.data import MetaTensor

    good = MetaTensor(torch.zeros(1, 4, 4, 4))
    return [
        ({}, "dict {}"),
        ([1, 2], "list [1, 2]"),
        ({"image": good}, "dict {'image': 'MetaTensor'}"),
        ({"image": good, "label": torch.zeros(1, 4, 4, 4)}, "dict {'image': 'MetaTensor', 'label': 'Tensor'}"),  # no affine
        ({"image": MetaTensor(torch.zeros(1, 1, 4, 4, 4)), "label": good}, "dict {'image': 'MetaTensor', 'label': 'MetaTensor'}"),  # 4 axes
        ({"image": good, "label": MetaTensor(torch.zeros(4, 4))}, "dict {'image': 'MetaTensor', 'label': 'MetaTensor'}"),  # 1 axis
        ("x" * 100, "str '" + "x" * 79),  # the repr cut at 80 characters: the quote and 79 x
    ]


def test_compare_roundtrip_refuses_what_is_not_a_loaded_pair_in_full() -> None:
    """The whole message, by hand, for each kind of bad ``data`` (not a dict, a key missing, no affine, 1 or 4
    spatial axes), and the grid's three refusals. Kills ``compare_roundtrip``'s and ``_grid_args``' message and
    check mutants."""
    from monai.data import MetaTensor

    for data, got in _bad_data():
        with pytest.raises(SpaceTypeError) as caught:
            compare_roundtrip(data, size=(3, 3, 3))
        assert str(caught.value) == _DATA_MESSAGE + got
    good = MetaTensor(torch.zeros(1, 4, 4, 4))
    data = {"image": good, "label": good}
    for grid, message in [
        ({"spacing": (1, 1, 1), "size": (2, 2, 2)}, "give exactly one of spacing and size, got spacing=(1, 1, 1), size=(2, 2, 2)"),
        ({}, "give exactly one of spacing and size, got spacing=None, size=None"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing: values must be positive and finite, got [1.0, 0.0, 1.0]"),
        ({"spacing": (1.0, -2.0, 1.0)}, "spacing: values must be positive and finite, got [1.0, -2.0, 1.0]"),
        ({"size": (2, float("inf"), 2)}, "size: values must be positive and finite, got [2, inf, 2]"),
        ({"size": (2, float("nan"), 2)}, "size: values must be positive and finite, got [2, nan, 2]"),
        ({"spacing": (1.0, 1.0)}, "spacing: expected 3 values for a 3-D image, got [1.0, 1.0]"),
        ({"size": [5, 5, 5, 5]}, "size: expected 3 values for a 3-D image, got [5, 5, 5, 5]"),
    ]:
        with pytest.raises(SpaceError) as refused:
            compare_roundtrip(data, **grid)
        assert type(refused.value) is SpaceError and str(refused.value) == message


def test_landmarks_on_the_working_grids_faces_count_as_inside() -> None:
    """An identity grid cropped to rows 0..8 and resampled at its own spacing: the working grid's faces lie at
    index -0.5 and 8.5 (rows), -0.5 and 9.5 (columns), exactly representable, so MONAI's working index of each
    point is exact. Four points on the faces are inside, two 1e-7 beyond them outside, one in the middle inside:
    2 outside, by hand, for both pipelines, each mapped back exactly. Kills ``_monai``'s mutants of the outside
    test's bounds (``>``, ``<``, ``shape - 1.5``)."""
    from monai.data import MetaTensor

    label = np.zeros((12, 10), np.uint8)
    label[3:8, 2:7] = 2
    meta = {"affine": torch.eye(4, dtype=torch.float64)}
    data = {"image": MetaTensor(torch.from_numpy(label * 10.0).float()[None], meta=dict(meta)),
            "label": MetaTensor(torch.from_numpy(label)[None], meta=dict(meta))}
    world = np.array([[-0.5, 3.0], [8.5, 2.0], [3.0, 9.5], [2.0, -0.5], [-0.5000001, 3.0], [8.5000001, 3.0], [4.0, 4.0]])
    report = compare_roundtrip(data, crop={"start": (0, 0), "end": (9, 10)}, spacing=(1.0, 1.0), landmarks_world=world)
    for result in report.results:
        assert result.working_shape == (9, 10)
        assert result.landmarks_outside == 2, result.name
        np.testing.assert_allclose(result.landmark_mm, np.zeros(7), atol=1e-12)
        assert result.score is not None and (result.score.wrong, result.score.inside_voxels) == (0, 90)


def test_masks_given_as_zeros_and_ones_are_masks() -> None:
    """Masks given as 0/1 integers (not bool) mean the same voxels; a class only outside the mask scores 1
    inside it (absent from both there). By hand on 8 voxels: inside (the first 4) pred 0 1 1 2, truth 0 1 2 2:
    one wrong, Dice of class 1 = 2*1/3, class 2 = 2*1/3, class 3 (only outside) 1 -> 7/9; outside 3 wrong; over
    all: class 1 2*2/6, class 2 2*1/5, class 3 0 -> 16/45. Kills the metrics' mask-dtype mutants and
    ``score_labels``' classes/mask argument mutants."""
    from monai_spacetx.compare import dice, score_labels, wrong_voxels

    pred = np.array([0, 1, 1, 2, 2, 3, 1, 2])
    truth = np.array([0, 1, 2, 2, 0, 0, 1, 1])
    where = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    assert wrong_voxels(pred, truth, where) == 1 and wrong_voxels(pred, truth, 1 - where) == 3
    assert dice(pred, truth, where=where) == pytest.approx(2 / 3, abs=1e-15)  # classes 1 and 2 inside
    assert dice(pred, truth, classes=[1, 2, 3], where=where) == pytest.approx(7 / 9, abs=1e-15)
    score = score_labels(pred, truth, where)
    assert (score.wrong_inside, score.wrong_outside, score.inside_voxels, score.wrong) == (1, 3, 4, 4)
    assert score.dice_inside == pytest.approx(7 / 9, abs=1e-15) and score.dice == pytest.approx(16 / 45, abs=1e-15)
    everywhere = score_labels(pred, truth)
    assert (everywhere.wrong_inside, everywhere.wrong_outside, everywhere.inside_voxels) == (4, 0, 8)
    assert everywhere.dice_inside == everywhere.dice == pytest.approx(16 / 45, abs=1e-15)


def test_a_prediction_that_requires_grad_is_read() -> None:
    """A model's output still attached to its graph (``requires_grad``, a tensor or a MetaTensor) is read, not
    refused by numpy: the values by hand. Kills ``to_numpy``'s ``detach`` mutant (``np.asarray`` of such a tensor
    raises)."""
    from monai.data import MetaTensor

    from monai_spacetx.compare import to_numpy, wrong_voxels

    plain = torch.tensor([[1.5, 2.0], [0.0, 3.0]], requires_grad=True)
    meta = MetaTensor(torch.tensor([[1.5, 2.0], [0.0, 3.0]]), affine=torch.eye(4)).requires_grad_(True)
    for x in (plain, meta * 1):
        got = to_numpy(x)
        assert type(got) is np.ndarray and got.dtype == np.float32
        np.testing.assert_array_equal(got, [[1.5, 2.0], [0.0, 3.0]])
    assert wrong_voxels(plain, np.array([[1.5, 2.0], [1.0, 3.0]])) == 1


def test_a_single_point_given_as_d_coordinates() -> None:
    """One point given as ``(D,)`` (the package's point convention: ``(D,)``, ``(N, D)``) is one distance; 3
    coordinates on a 3-D grid of spacing 2, 3, 0.5: sqrt(4 + 9 + 0.25), by hand; with the 4x4 affine's
    translation ignored. Kills ``landmark_error_mm``'s ``pts.shape[+1]`` mutant (the coordinates are the last
    axis, not the second)."""
    from monai_spacetx.compare import landmark_error_mm

    affine = np.diag([2.0, 3.0, 0.5, 1.0])
    affine[:3, 3] = (10.0, -4.0, 7.0)
    got = landmark_error_mm(np.array([1.0, 1.0, 1.0]), np.zeros(3), affine)
    assert got.shape == (1,) and got[0] == pytest.approx(np.sqrt(13.25), abs=1e-12)


def test_the_foreground_threshold_is_strictly_above() -> None:
    """``crop={"threshold": t}`` keeps ``image > t`` (MONAI's ``select_fn`` form): with t = 30, the value of
    class 3 in the image, only class 7 (70) is foreground, for both pipelines; the box of class 7 by numpy
    (margin 0), nothing predicted outside it. Kills ``_Above.__call__``'s ``>=`` mutant."""
    data, label = _case((20, 16, 10), (1.2, 1.0, 2.5))
    where = np.argwhere(label == 7)
    box = tuple(slice(a, b + 1) for a, b in zip(where.min(0), where.max(0)))
    outside = np.count_nonzero(label) - np.count_nonzero(label[box])
    report = compare_roundtrip(data, crop={"threshold": 30.0, "margin": 0}, size=(6, 6, 4))
    for result in report.results:
        assert result.score is not None, result.name
        assert result.score.wrong_outside == outside > 0, result.name
    assert report.results[0].score is not None and report.results[0].score.inside_voxels == label[box].size


def _gaussian_weights(sigma: float) -> tuple[int, np.ndarray]:
    """The anti-aliasing Gaussian as MONAI's (integrated over each voxel with erf, cut at 4 sigma, sum 1)."""
    from math import erf, sqrt

    radius = int(max(4 * sigma, 0.5) + 0.5)
    weights = np.diff([0.5 * erf((k - 0.5) / (sigma * sqrt(2))) for k in range(-radius, radius + 2)])
    return radius, weights / weights.sum()


def _smooth(a: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    """Gaussian smoothing along ``axis``, the edge voxel repeated beyond the grid (border), by brute force."""
    radius, weights = _gaussian_weights(sigma)
    n = a.shape[axis]
    return sum(w * np.take(a, np.clip(np.arange(n) + k, 0, n - 1), axis=axis) for k, w in zip(range(-radius, radius + 1), weights))


def _lerp(a: np.ndarray, axis: int, coords: np.ndarray, border: bool) -> np.ndarray:
    """Linear samples of ``a`` along ``axis`` at index ``coords``; beyond the grid the edge voxel (border) or 0."""
    n = a.shape[axis]
    shape = [1] * a.ndim
    shape[axis] = len(coords)
    low = np.floor(coords).astype(int)
    t = (coords - low).reshape(shape)

    def at(i: np.ndarray) -> np.ndarray:
        values = np.take(a, np.clip(i, 0, n - 1), axis=axis)
        return values if border else values * ((i >= 0) & (i < n)).reshape(shape)

    return at(low) * (1 - t) + at(low + 1) * t


def test_probabilities_on_a_coarser_grid_by_brute_force() -> None:
    """A 16 x 12 label of thin structures (five classes) and a working grid of 8 x 6 (edges kept, ``size``): the
    soft prediction is each class's one-hot smoothed with MONAI's anti-aliasing Gaussian (sigma (2 - 1) / 2 per
    axis, edge voxels repeated) and sampled linearly at the working centres (border); mapped back linearly at the
    native centres (zeros beyond the working centres scale every class alike), argmax, ties to the smaller class.
    All in numpy from the definitions; the wrong voxels and Dice of that label by hand (the smallest winning margin
    is 5e-4, far above float32 round-off). Kills ``_ours_probabilities``' mutants that drop the anti-aliasing, the
    border padding or the options."""
    from monai.data import MetaTensor

    shape, size = (16, 12), (8, 6)
    label = np.zeros(shape, np.uint8)
    label[2:9, 3:5] = 2
    label[5:14, 6:7] = 5
    label[9:15, 8:11] = 3
    label[3, 0:12] = 4
    affine = torch.diag(torch.tensor([1.0, 1.5, 1.0, 1.0], dtype=torch.float64))
    data = {"image": MetaTensor(torch.from_numpy(label * 10.0).float()[None], affine=affine),
            "label": MetaTensor(torch.from_numpy(label)[None], affine=affine)}
    classes = np.unique(label)
    soft = (label[None] == classes.reshape(-1, 1, 1)).astype(np.float64)
    for axis, (n, m) in enumerate(zip(shape, size)):
        scale = n / m
        soft = _lerp(_smooth(soft, axis + 1, (scale - 1) / 2), axis + 1, (np.arange(m) + 0.5) * scale - 0.5, border=True)
    back = soft
    for axis, (n, m) in enumerate(zip(shape, size)):
        back = _lerp(back, axis + 1, (np.arange(n) + 0.5) * m / n - 0.5, border=False)
    expected = classes[back.argmax(0)]
    report = compare_roundtrip(data, size=size, with_monai=False, probabilities=True)
    score = report.results[0].probabilities
    assert score is not None
    assert (score.wrong_inside, score.wrong_outside, score.inside_voxels) == (np.count_nonzero(expected != label), 0, 192)
    assert score.wrong_inside == 32  # the oracle's count, kept here so a change of the oracle shows
    assert score.dice == score.dice_inside == pytest.approx(_dice_by_hand(expected, label), abs=1e-12)
