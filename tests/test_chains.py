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


@pytest.mark.parametrize("seed", [100178, 100653])
def test_chains_that_failed_once(seed):
    """Chains a long run found: 100178 (SpaceZoomd -> SpaceZoomd -> ResizeWithPadOrCropd -> SpaceCropd ->
    RandRotated): a crop that copied an earlier step's computed pixels became the base of the rotation
    after it, which then resampled twice. 100653 (SpaceCropd -> Orientationd -> Zoomd -> Resized ->
    SpatialPadd, nearest): six target centres fell exactly on the crop's far edge, which the
    reorientation made the near edge of the grid Zoomd read; the fused warp's tie (in the input's frame)
    took the row the crop had removed."""
    assert check_chain(seed) == []


@pytest.mark.parametrize("crop", ["monai", "ours"])
@pytest.mark.parametrize("shift", [0.5, -0.5])
def test_centre_on_a_flipped_crops_edge(crop, shift):
    """A crop to rows [0, 6) of 8, a flip, then a half-voxel nearest shift (zeros padding), lazy: every target
    centre is a tie. By hand: one nearest read of the input at ``floor(x + 0.5)`` (the higher row), 0 where
    that row is not in the crop: the flip moves voxels and decides no tie, so the crop's edges are where
    they are without it. (The fused warp read row 6, which the crop removed, when the centre sat on
    the flipped grid's near edge, and dropped row 0 on its far edge.)"""
    import numpy as np
    import torch
    from monai.data import MetaTensor
    from monai.transforms import Affined, Compose, Flipd, SpatialCropd

    from monai_spacetx import SpaceApplyPendingd, SpaceCropd

    keys = ["image", "label"]
    values = np.arange(32).reshape(8, 4) + 1
    data = {
        key: MetaTensor(torch.as_tensor(values[None]).to(dtype), affine=torch.eye(4))
        for key, dtype in (("image", torch.float32), ("label", torch.uint8))
    }
    cropper = SpatialCropd if crop == "monai" else SpaceCropd
    out = Compose(
        [
            cropper(keys, roi_start=[0, 0], roi_end=[6, 4]),
            Flipd(keys, spatial_axis=0),
            Affined(keys, translate_params=[shift, 0.0], mode="nearest", padding_mode="zeros"),
            SpaceApplyPendingd(keys),
        ],
        lazy=True,
    )(data)
    affine = out["label"].affine.numpy()
    rows = np.floor(affine[0, 0] * np.arange(6) + affine[0, 3] + 0.5).astype(int)  # identity input: world = index
    assert sorted(np.abs(affine[0, 0] * np.arange(6) + affine[0, 3]) % 1) == [0.5] * 6  # every centre is a tie
    expected = np.zeros((6, 4))
    kept = (rows >= 0) & (rows < 6)
    expected[kept] = values[rows[kept]]
    for key in keys:
        np.testing.assert_array_equal(out[key][0].numpy().astype(np.float64), expected, err_msg=key)
