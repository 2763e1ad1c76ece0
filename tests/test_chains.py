"""Seeded random chains of MONAI's lazy transforms and ours: no refusal, eager grid, one-resample values.

The chains, the checks and a command line that runs thousands of them are in ``tests/chains.py``.
"""

from __future__ import annotations

import pytest

from chains import check_chain


@pytest.mark.parametrize("block", range(8))
def test_random_chains(block):
    """300 chains (8 blocks), 2-D and 3-D, images, uint8 labels and landmarks: every check holds."""
    failures = [f"seed {seed}: {f}" for seed in range(block * 38, (block + 1) * 38) for f in check_chain(seed)]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("block", range(4))
def test_random_sampling_chains(block):
    """200 chains (4 blocks) with a crop that reads the data (our foreground crop, or one of the three
    sampling crops with several samples) after pending MONAI steps and ours, then copies and an
    interpolating step: float16/32/64 and int16 images, uint8/int16/bool labels. Each sample is one
    resample per segment (brute force), dtypes kept, landmarks at their world points, MONAI's
    resampler never called."""
    from chains import check_sampling_chain

    failures = [f"seed {seed}: {f}" for seed in range(block * 50, (block + 1) * 50) for f in check_sampling_chain(seed)]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("seed", [100178])
def test_chains_that_failed_once(seed):
    """Chains a long run found: 100178 (SpaceZoomd -> SpaceZoomd -> ResizeWithPadOrCropd -> SpaceCropd ->
    RandRotated): a crop that copied an earlier step's computed pixels became the base of the rotation
    after it, which then resampled twice."""
    assert check_chain(seed) == []
