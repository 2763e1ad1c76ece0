"""Tests that kill mutmut's survivors of ``monai_spacetx/engine/label.py`` (``tests/mutation/run_mutmut.py``).

On CPU the label mode runs in the compiled kernels (``engine/compiled/label.py``); ``engine/label.py`` is the
torch path (CUDA tensors, numba missing, and the permuting axis-aligned plans the compiled axis kernel
refuses). These tests run that torch path (``compiled.disabled()``) against the definition of the mode,
independent of the package: every class interpolated by the brute-force multilinear oracle from the raw
affines (``oracles.label_vote_violations``), argmax, exact ties to the smaller label, ``fill`` outside.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import oracles

from monai_spacetx import Space
from monai_spacetx.engine import compiled, plan_warp, warp_image


def _maps(rng: np.random.Generator, shape: tuple[int, ...], classes: int, channels: int, dtype) -> np.ndarray:
    """``channels`` label maps: blocks two voxels wide (faces, edges, corners of cells) with 15% salt noise
    (cells holding three to eight labels), labels ``3 c - 7`` (negative, not consecutive; ``3 c + 1`` unsigned)."""
    coarse = rng.integers(0, classes, (channels, *[-(-n // 2) for n in shape]))
    maps = np.kron(coarse, np.ones((1, *(2,) * len(shape)), dtype=np.int64))[(slice(None), *(slice(0, n) for n in shape))]
    maps = np.where(rng.random(maps.shape) < 0.15, rng.integers(0, classes, maps.shape), maps)
    return (maps * 3 + (1 if np.dtype(dtype).kind == "u" else -7)).astype(dtype)


def _shifted(source: Space, scales: tuple[float, ...], offsets: tuple[float, ...], shape: tuple[int, ...]) -> Space:
    """The grid whose voxel ``j`` lies at source index ``scales * j + offsets`` (exact dyadic weights)."""
    ndim = source.ndim
    step = np.eye(ndim + 1)
    for k in range(ndim):
        step[k, k], step[k, ndim] = scales[k], offsets[k]
    return Space.from_affine(source.affine @ step, shape)


def _targets(source: Space) -> dict[str, Space]:
    ndim = source.ndim
    return {
        "up-flipped": source.flip(0).respace(source.spacing * np.array([0.3, 0.45, 0.6][:ndim])),  # cells reach many voxels
        "down": source.crop([-2] * ndim, [n + 1 for n in source.shape]).respace(source.spacing * np.array([1.7, 1.3, 2.2][:ndim])),
        "permuted": source.permute(list(reversed(range(ndim)))).resize([13, 6, 9][:ndim]),
        "half-voxel": _shifted(source, (1.0,) * ndim, (0.5,) * ndim, tuple(n - 1 for n in source.shape)),  # every weight 1/2: ties
        "quarter": _shifted(source, (0.5,) * ndim, (0.25, 0.0, -0.25)[:ndim], tuple(2 * n - 1 for n in source.shape)),
        "rotated": source.rotate((0.3, -0.2, 0.4)[: 1 if ndim == 2 else 3]).respace(source.spacing * 0.7),
    }


@pytest.mark.parametrize(
    "ndim, padding, fill, dtype",
    [(2, "zeros", 99, np.int16), (2, "border", 0, np.float32), (2, "reflection", 0, np.uint8), (3, "zeros", 99, np.int16), (3, "reflection", 0, np.float32)],
)
def test_torch_label_path_is_the_per_class_definition(monkeypatch: pytest.MonkeyPatch, ndim: int, padding: str, fill: int, dtype) -> None:
    """Both torch paths (separable per source cell, general per target voxel), 2 and 40 classes, 2 channels,
    up- and down-sampling, a permuted axis order, exact half-voxel ties, small blocks of cells and voxels, integer
    and float32 label maps (MONAI loads label maps as float32).

    In ``engine/label.py``'s selection from its first run: with the oracle tests of test_label_axes.py it kills the
    torch path's mutants (the vote, the two-class and many-class scores, the separable spreading, the readers);
    the float32 maps kill ``vote_5`` (the mixed mask made in the labels' dtype: a float32 mask cannot be or-ed)."""
    import monai_spacetx.engine.label as label_engine

    monkeypatch.setattr(label_engine, "_SPREAD_BLOCK", 3000)  # a few dozen cells per block, several blocks
    monkeypatch.setattr(label_engine, "_VOTE_BLOCK", 301)
    rng = np.random.default_rng(5 + ndim)
    source = Space((9, 8, 7)[:ndim], spacing=(1.1, 0.8, 1.3)[:ndim], origin=(4.0, -3.0, 2.0)[:ndim])
    with compiled.disabled():
        for classes in (2, 40):
            maps = _maps(rng, source.shape, classes, 2, dtype)
            for name, target in _targets(source).items():
                plan = plan_warp(source, target)
                for kind in {plan.kind, "general"}:
                    ours = warp_image(maps, source, target, "label", padding, fill, plan=dataclasses.replace(plan, kind=kind))
                    assert ours.dtype == maps.dtype and ours.shape == (2, *target.shape)
                    for c in range(2):
                        bad = oracles.label_vote_violations(ours[c], maps[c], source.affine, target.affine, target.shape, padding, fill)
                        assert bad == 0, (name, kind, classes, c)
