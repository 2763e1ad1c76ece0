"""warp_image against SimpleITK, and the exactness contract (docs/conventions.md section 4, rules 3-6) end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_direction
from monai_spacetx import Space, map_points
from monai_spacetx.compare import dice
from monai_spacetx.engine import plan_warp, warp_image

import SimpleITK as sitk  # the outside oracle: a test dependency (pyproject's test extra), never skipped

import oracles
from monai_spacetx.interop import to_sitk


def _oblique_pair(seed: int, ndim: int) -> tuple[Space, Space]:
    """A random oblique anisotropic source and a differently oblique target over its centre."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(14, 22, ndim))
    source = Space(shape, rng.uniform(0.5, 2.5, ndim), rng.uniform(-300, 300, ndim), random_direction(rng, ndim))
    centre = source.index_to_world((np.array(shape) - 1) / 2.0)
    spacing = rng.uniform(0.4, 2.0, ndim)
    tshape = np.array(rng.integers(14, 24, ndim))
    direction = random_direction(rng, ndim)
    origin = centre - direction @ (spacing * (tshape - 1) / 2.0)
    return source, Space(tuple(int(n) for n in tshape), spacing, origin, direction)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_matches_simpleitk(seed: int, ndim: int, mode: str) -> None:
    source, target = _oblique_pair(seed, ndim)
    assert plan_warp(source, target).kind == "general"
    rng = np.random.default_rng(seed)
    image = rng.random(source.shape).astype(np.float32)
    reference = sitk.GetArrayFromImage(
        sitk.Resample(
            to_sitk(image, source),
            to_sitk(np.zeros(target.shape, np.float32), target),
            sitk.Transform(),
            sitk.sitkLinear if mode == "linear" else sitk.sitkNearestNeighbor,
            -1.0,
        )
    ).T
    ours = warp_image(image, source, target, mode, fill=-1.0)
    # interior: every source coordinate inside [0, n-1], and for nearest away from ties
    grid = np.indices(target.shape).reshape(ndim, -1).T
    x = map_points(grid, target, source)
    keep = np.all((x >= 0) & (x <= np.array(source.shape) - 1), axis=1)
    if mode == "nearest":
        frac = (x + 0.5) % 1.0
        keep &= np.all(np.minimum(frac, 1 - frac) > 1e-6, axis=1)
    keep = keep.reshape(target.shape)
    assert keep.sum() > 100
    np.testing.assert_allclose(ours[keep], reference[keep], rtol=0, atol=1e-5)
    # and outside the source field of view both fill
    outside = ~np.all((x >= -0.5 + 1e-6) & (x <= np.array(source.shape) - 0.5 - 1e-6), axis=1).reshape(target.shape)
    np.testing.assert_array_equal(ours[outside], -1.0)


# ---------------------------------------------------------------------------- conventions rule 5 (docs/conventions.md)
def _fine_chain(draw, space: Space) -> Space:
    """A random chain of steps that never coarsen and never cut the field of view."""
    ndim = space.ndim
    respaced = False
    for _ in range(draw(st.integers(1, 4))):
        step = draw(st.sampled_from(["pad", "flip", "permute", "resize", "respace"]))
        if step == "pad":
            space = space.pad(draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim)),
                              draw(st.lists(st.integers(0, 3), min_size=ndim, max_size=ndim)))
        elif step == "flip":
            space = space.flip(draw(st.lists(st.integers(0, ndim - 1), max_size=ndim, unique=True)))
        elif step == "permute":
            space = space.permute(draw(st.permutations(list(range(ndim)))))
        elif step == "resize":
            space = space.resize([draw(st.integers(n, 3 * n)) for n in space.shape])
        elif not respaced:  # one respace at most: each may move the edges inward by <= s'/4
            respaced = True
            factor = draw(st.lists(st.floats(0.3, 0.95), min_size=ndim, max_size=ndim))
            space = space.respace(space.spacing * np.array(factor))
    return space


@st.composite
def _label_chains(draw):
    ndim = draw(st.sampled_from([2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = tuple(draw(st.lists(st.integers(2, 9), min_size=ndim, max_size=ndim)))
    source = Space(shape, rng.uniform(0.3, 3.0, ndim), rng.uniform(-1e4, 1e4, ndim), random_direction(rng, ndim))
    labels = rng.integers(0, 5, shape).astype(draw(st.sampled_from([np.uint8, np.int16, np.int64])))
    return source, _fine_chain(draw, source), labels


@settings(max_examples=60, deadline=None)
@given(_label_chains())
def test_nearest_forward_back_is_lossless_on_finer_grids(case) -> None:
    source, target, labels = case
    forward = warp_image(labels, source, target, "nearest")
    back = warp_image(forward, target, source, "nearest")
    assert back.dtype == labels.dtype
    np.testing.assert_array_equal(back, labels)


# ---------------------------------------------------------------------------- the seed's 2-D case
def test_seed_case_maps_back_exactly() -> None:
    img = np.zeros((35, 35), dtype=np.float32)
    img[13:22, 13:22] = 1.0
    img[17, 17] = 5.0
    native = Space((35, 35))
    working = native.crop((10, 10), (25, 25)).resize((32, 32))
    resampled = warp_image(torch.from_numpy(img), native, working, "linear")
    mask = (resampled >= 0.5).to(torch.uint8)
    keypoint = torch.nonzero(resampled >= 3).double().mean(0).numpy()
    mask_back = warp_image(mask, working, native, "nearest")
    assert mask_back.dtype == torch.uint8
    assert int((mask_back.numpy() != (img >= 0.5)).sum()) == 0
    np.testing.assert_allclose(map_points(keypoint, working, native), [17.0, 17.0], atol=1e-9)


# ---------------------------------------------------------------------------- label mode
def test_label_mode_beats_nearest_mapping_back_a_coarse_prediction() -> None:
    native = Space((48, 44, 40), spacing=(1.0, 1.0, 1.2), origin=(-20.0, 5.0, 100.0))
    centre = np.array([23.3, 21.7, 19.4])
    r = np.linalg.norm((np.indices(native.shape).T - centre).T * native.spacing[:, None, None, None], axis=0)
    truth = np.where(r < 8, 2, np.where(r < 16, 1, 0)).astype(np.uint8)
    working = native.crop((4, 4, 4), (44, 40, 36)).respace(3.5)
    # the ideal coarse prediction: the truth sampled at the working voxel centres (brute force, tests/oracles.py)
    prediction = oracles.nearest(truth, native.affine, working.affine, working.shape)
    by_nearest = warp_image(prediction, working, native, "nearest")
    by_label = warp_image(prediction, working, native, "label")
    assert by_label.dtype == np.uint8
    np.testing.assert_array_equal(by_nearest, oracles.nearest(prediction, working.affine, native.affine, native.shape))
    assert oracles.label_vote_violations(by_label, prediction, working.affine, native.affine, native.shape, "zeros", 0) == 0
    assert dice(by_label, truth, (1, 2)) > dice(by_nearest, truth, (1, 2))


def test_label_mode_fill_and_ties() -> None:
    source = Space((2, 1))
    labels = np.array([[3], [7]], dtype=np.int32)
    target = source.resize((3, 1))  # the middle voxel sits exactly between the two classes
    out = warp_image(labels, source, target, "label")
    np.testing.assert_array_equal(out[:, 0], [3, 3, 7])  # tie -> smaller label
    padded = warp_image(labels, source, source.pad((2, 0)).resize((12, 1)), "label", fill=9)
    assert padded[0, 0] == 9 and padded[-1, 0] == 9 and set(np.unique(padded)) == {3, 7, 9}
