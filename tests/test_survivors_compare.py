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


def _case(shape: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[dict[str, object], np.ndarray]:
    """An oblique grid holding a label of the classes 0, 3 and 7 (not 0..K-1: the class lookup shows) and an
    image of the label's class times 10."""
    from monai.data import MetaTensor

    space = Space(shape, spacing=spacing, origin=(3.0, -4.0, 10.0)[: len(shape)]).rotate([0.2, 0.0, 0.3][: 3 if len(shape) == 3 else 1])
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    radius = (((grid - np.array(shape) / 2) / (np.array(shape) / 3)) ** 2).sum(-1)
    label = np.where(radius <= 0.4, 7, np.where(radius <= 1.0, 3, 0)).astype(np.uint8)
    meta = {"affine": torch.from_numpy(space.affine.copy())}
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
def test_probabilities_map_back_exactly_on_a_twice_finer_crop(shape, spacing, box) -> None:
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
    report = compare_roundtrip(data, crop={"start": start, "end": end}, spacing=tuple(s / 2 for s in spacing),
                               with_monai=False, probabilities=True)
    (ours,) = report.results
    score = ours.probabilities
    assert score is not None
    inside_voxels = int(np.prod(np.subtract(end, start)))
    assert score.inside_voxels == inside_voxels
    assert score.wrong_inside == 0 and score.dice_inside == 1.0
    assert score.wrong_outside == np.count_nonzero(label) - np.count_nonzero(label[region]) > 0
    assert score.dice == pytest.approx(_dice_by_hand(back, label), abs=1e-12)
    assert ours.working_shape == tuple(2 * (b - a - 1) + 1 for a, b in zip(start, end))
