"""The compiled axis-aligned label kernel (``engine/compiled/label.py``): decided cells, exact ties, both passes.

The kernel gives a voxel whose source cell is uniform, or split across one axis by a plane with that
axis' side decided (the larger weight clearly above one half), the label at the winning side's taps
without scoring it; every other voxel votes. These tests pick grids whose upper-tap weights are exact
(dyadic scales and offsets): some never tie (1/4, 3/4), some tie everywhere (1/2: the smaller label
wins, whichever side holds it), some mix both, on block maps whose cells are faces (two classes),
edges and corners (up to 8 classes). The reference is the torch separable path (the engine's
reference, bit for bit), and, where the best class is clear, a brute-force per-class interpolation
from the raw affines.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_spacetx import Space
from monai_spacetx.engine import compiled, plan_warp, warp_image
from monai_spacetx.engine.compiled import label as label_kernels

#: (scale, offset) per axis: source index x = scale * j + offset for target index j.
NEVER_TIES = (0.5, -0.25)  # upper weights 3/4, 1/4
ALWAYS_TIES = (1.0, 0.5)  # a half-voxel shift: every weight 1/2
SOMETIMES = (0.5, 0.0)  # weights 0 and 1/2
THIRDS = (0.75, 0.125)  # a 4/3 upsampling: weights 1/8, 7/8, 5/8, 3/8


def _target(source: Space, axes: list[tuple[float, float]], shape: tuple[int, ...]) -> Space:
    """The grid whose voxel ``j`` lies at source index ``scale * j + offset`` per axis."""
    ndim = source.ndim
    step = np.eye(ndim + 1)
    for k, (scale, offset) in enumerate(axes):
        step[k, k], step[k, ndim] = scale, offset
    return Space.from_affine(source.affine @ step, shape)


def _per_class(labels: np.ndarray, axes: list[tuple[float, float]], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Brute force: every class's linear interpolation (taps ``floor(x)`` and ``min(floor(x) + 1, n - 1)``,
    ``x`` clamped to ``[0, n - 1]``), then per voxel the smallest class whose score is within 1e-12 of the
    best (exact ties to the smaller label), and whether no other class lies in the doubtful band
    (1e-12, 1e-9) below the best (where round-off could decide)."""
    classes = np.unique(labels)
    scores = np.zeros((len(classes), *shape))
    grids = np.meshgrid(*[np.arange(m, dtype=np.float64) for m in shape], indexing="ij")
    taps = []
    for k, ((scale, offset), n) in enumerate(zip(axes, labels.shape)):
        x = np.clip(scale * grids[k] + offset, 0.0, n - 1.0)
        lower = np.floor(x).astype(np.int64)
        taps.append((lower, np.minimum(lower + 1, n - 1), x - lower))
    for corner in np.ndindex(*(2,) * labels.ndim):
        index = tuple(taps[k][c] for k, c in enumerate(corner))
        weight = np.prod([taps[k][2] if c else 1.0 - taps[k][2] for k, c in enumerate(corner)], axis=0)
        for i, value in enumerate(classes):
            scores[i] += weight * (labels[index] == value)
    below = scores.max(axis=0) - scores
    expected = classes[np.argmax(below <= 1e-12, axis=0)]  # the first (smallest) class tied with the best
    doubtful = ((below > 1e-12) & (below < 1e-9)).any(axis=0)
    return expected, ~doubtful


def _blocks(rng: np.random.Generator, shape: tuple[int, ...], size: int, classes: int) -> np.ndarray:
    """Blocks of ``size`` voxels per axis with random classes: cells on faces, edges and corners."""
    coarse = rng.integers(0, classes, [-(-n // size) for n in shape])
    return np.kron(coarse, np.ones((size,) * len(shape), dtype=np.int64))[tuple(slice(0, n) for n in shape)]


@pytest.mark.parametrize("classes", [2, 40])
@pytest.mark.parametrize(
    "axes",
    [
        [NEVER_TIES, NEVER_TIES, NEVER_TIES],
        [ALWAYS_TIES, NEVER_TIES, THIRDS],
        [SOMETIMES, ALWAYS_TIES, NEVER_TIES],
        [THIRDS, SOMETIMES, SOMETIMES],
    ],
)
def test_axis_aligned_label_kernel_on_exact_weights(axes: list[tuple[float, float]], classes: int, monkeypatch) -> None:
    """Upsampling (the two-pass kernel: counted) and downsampling (the one-pass kernel) of block maps:
    bit for bit the torch path's labels, and the brute-force best class wherever it is clear."""
    runs: list[str] = []
    real = label_kernels._run
    monkeypatch.setattr(label_kernels, "_run", lambda name, *args: (runs.append(name), real(name, *args))[1])
    rng = np.random.default_rng(classes)
    source = Space((13, 12, 11), spacing=(1.2, 0.9, 1.1), origin=(4.0, -3.0, 2.0))
    labels = _blocks(rng, source.shape, 3, classes)
    image = torch.from_numpy(labels.astype(np.uint8))
    for factor, kernels in ((1, {"label_cells", "label_mixed"}), (3, {"label_axes"})):  # x1 up, x3 coarser
        scaled = [(scale * factor, offset) for scale, offset in axes]
        shape = tuple(int((n - 1 - offset) // scale) + 1 for n, (scale, offset) in zip(source.shape, scaled))
        target = _target(source, scaled, shape)
        assert plan_warp(source, target).kind == "separable"
        runs.clear()
        ours = warp_image(image, source, target, "label", "border")
        assert set(runs) == kernels, runs
        with compiled.disabled():
            reference = warp_image(image, source, target, "label", "border")
        assert torch.equal(ours, reference), (factor, axes)
        expected, decidable = _per_class(labels, scaled, shape)
        assert decidable.mean() > 0.99
        wrong = (ours.numpy() != expected) & decidable
        assert not wrong.any(), f"{int(wrong.sum())} voxels differ from the per-class brute force"


def test_sure_sides_decide_as_the_two_class_rule() -> None:
    """The side table agrees with the two-class rule at the weights it decides, on both sides of one half
    (a face of the larger label above, then below), and leaves the near-ties undecided."""
    threshold = label_kernels.TWO_CLASS_AT
    assert 0.5 < threshold < 0.5 + 1e-12
    weights = np.array([0.0, 0.25, 0.5 - 1e-11, 0.5 - 1e-13, 0.5, 0.5 + 1e-13, 0.5 + 1e-11, 0.75, 1.0])
    sides = label_kernels._sure_sides(weights[None])[0]
    assert sides.tolist() == [0, 0, 0, -1, -1, -1, 1, 1, 1]
    for u, side in zip(weights, sides):
        if side < 0:
            continue
        rule = lambda score: np.rint(score / 1e-12) > np.rint((1.0 - score) / 1e-12)  # noqa: E731 (label._of_two, by hand)
        upper_wins_holding_larger = rule(u)  # the larger label above: it scores u
        upper_wins_holding_smaller = not rule(1.0 - u)  # the larger label below: it scores 1 - u
        assert upper_wins_holding_larger == upper_wins_holding_smaller == bool(side == 1), u


@pytest.mark.parametrize("shift", [0.0, 4e-10, 1.5e-9, 2.5e-9, 1e-7, -1.5e-9])
def test_general_label_kernel_decides_faces_near_a_tie(shift: float) -> None:
    """The general (oblique) kernel decides a face cell from the weight before snapping, with a margin of
    twice SNAP_TOL: targets half a voxel off the source, then ``shift`` more (snapped to the tie within
    SNAP_TOL = 1e-9, not beyond), forced onto the general path: bit for bit the torch path's labels, and
    the per-class brute force's (ties to the smaller label) where it is unambiguous."""
    import dataclasses

    source = Space((12, 11, 10), spacing=(1.1, 0.8, 1.3))
    labels = _blocks(np.random.default_rng(3), source.shape, 3, 40)
    image = torch.from_numpy(labels.astype(np.uint8))
    axes = [(1.0, 0.5 + shift), (0.5, -0.25), (1.0, 0.5 - shift)]
    shape = tuple(int((n - 1 - offset) // scale) + 1 for n, (scale, offset) in zip(source.shape, axes))
    target = _target(source, axes, shape)
    forced = dataclasses.replace(plan_warp(source, target), kind="general")
    ours = warp_image(image, source, target, "label", "border", plan=forced)
    with compiled.disabled():
        reference = warp_image(image, source, target, "label", "border", plan=forced)
    assert torch.equal(ours, reference)
    if abs(shift) > 2e-9 or shift == 0.0:  # the brute force does not snap: compare where both mean the same
        expected, decidable = _per_class(labels, axes, shape)
        assert not ((ours.numpy() != expected) & decidable).any()
