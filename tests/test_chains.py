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
