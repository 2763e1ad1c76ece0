"""Sheared grids (MONAI's rotations of anisotropic scans, shear_range, sheared sforms): the exactness rules in index terms.

- copies stay copies and nearest is centre-consistent (against the brute-force oracle);
- a working grid whose every voxel lies inside one native voxel (``sum_j |M_ij| <= 1`` for the
  working -> native index map ``M``) maps a label back with 0 wrong voxels; landmarks return to
  1e-9 voxel;
- nibabel (sform with shear) and SimpleITK round trips;
- the issue's pipelines (``Spacingd → RandAffined(rotate_range) → SpaceResampled`` on a
  0.7 x 0.7 x 2.5 mm CT, eager and lazy; the README's augmentation pattern lazily) run, keep the
  label uint8 where MONAI does, give the brute-force one-resample result, and map back exactly.
"""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import Compose, Orientationd, RandAffined, RandRotated, Spacingd

import oracles
from monai_spacetx import Space, SpaceApplyPendingd, SpaceInvertd, SpaceResampled, warp_image
from monai_spacetx.interop import space_from_nifti, space_from_sitk, to_nifti, to_sitk


def _sheared_space(rng: np.random.Generator, ndim: int) -> Space:
    q, _ = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    linear = q @ np.diag(rng.uniform(0.5, 2.5, ndim)) @ (np.eye(ndim) + np.triu(rng.uniform(-0.6, 0.6, (ndim, ndim)), 1))
    affine = np.eye(ndim + 1)
    affine[:ndim, :ndim] = linear
    affine[:ndim, ndim] = rng.uniform(-300, 300, ndim)
    return Space.from_affine(affine, tuple(int(n) for n in rng.integers(6, 14, ndim)))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([2, 3]))
def test_copies_stay_copies_and_nearest_is_centre_consistent(seed, ndim):
    rng = np.random.default_rng(seed)
    native = _sheared_space(rng, ndim)
    assume(not native.is_orthogonal)
    values = torch.as_tensor(rng.integers(0, 250, (1, *native.shape)), dtype=torch.uint8)
    crop = native.crop([1] * ndim, [n - 1 for n in native.shape]).flip(0)
    copied = warp_image(values, native, crop, mode="linear")
    expected = values[(slice(None), *[slice(1, n - 1) for n in native.shape])].flip(1)
    assert torch.equal(copied, expected)  # a crop and a flip of a sheared grid: bit for bit, even with linear
    working = native.rotate(rng.uniform(-0.5, 0.5, 1 if ndim == 2 else 3)).zoom(1.3)
    out = warp_image(values, native, working, mode="nearest")
    reference = oracles.nearest(values[0].numpy(), native.affine, working.affine, working.shape)
    assert oracles.wrong(out[0], reference) == 0


def _projected_width(working: Space, native: Space) -> float:
    """Largest ``sum_j |M_ij|`` of the working -> native index map: the rule's width in native voxels."""
    m = np.linalg.solve(native.affine, working.affine)[: native.ndim, : native.ndim]
    return float(np.abs(m).sum(axis=1).max())


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from([2, 3]))
def test_a_finer_sheared_working_grid_maps_labels_back_exactly(seed, ndim):
    rng = np.random.default_rng(seed)
    native = _sheared_space(rng, ndim)
    turned = native.rotate(rng.uniform(-0.6, 0.6, 1 if ndim == 2 else 3))
    width = _projected_width(turned, native)
    finer = np.ceil(np.array(turned.shape) * width * rng.uniform(1.0, 1.3)).astype(int)
    working = turned.resize(finer)  # each working voxel inside one native voxel
    assert _projected_width(working, native) <= 1.0 + 1e-9
    label = torch.as_tensor(rng.integers(0, 4, (1, *native.shape)), dtype=torch.uint8)
    forward = warp_image(label, native, working, mode="nearest")
    back = warp_image(forward, working, native, mode="nearest", padding_mode="zeros", fill=255)
    reached = back != 255
    assert oracles.wrong(back[reached], label[reached]) == 0
    centres = np.indices(native.shape).reshape(ndim, -1).T
    inside = working.contains(native.index_to_world(centres)).reshape(native.shape)
    assert reached[0].numpy()[inside].all()  # every native voxel whose centre the working grid covers comes back
    points = rng.uniform(0, np.array(native.shape) - 1, (7, ndim))
    there = working.world_to_index(native.index_to_world(points))
    np.testing.assert_allclose(native.world_to_index(working.index_to_world(there)), points, rtol=0, atol=1e-9)


@pytest.mark.parametrize("ndim", [2, 3])
def test_nibabel_and_simpleitk_round_trips(ndim, tmp_path):
    space = _sheared_space(np.random.default_rng(ndim), ndim)
    data = np.arange(np.prod(space.shape), dtype=np.float32).reshape(space.shape)
    path = tmp_path / "sheared.nii.gz"
    nib.save(to_nifti(data, space), path)
    loaded = nib.load(path)
    read = space_from_nifti(loaded)  # the sform carries the shear as it is (in float32, NIfTI's precision)
    assert read.shape == space.shape and not read.is_orthogonal
    np.testing.assert_allclose(read.affine, space.affine.astype(np.float32), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(loaded.dataobj), data)
    image = to_sitk(data, space)
    assert space_from_sitk(image) == space  # ITK holds a non-orthogonal direction in memory
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image).T, data)


def _ct_sample() -> dict:
    """A 0.7 x 0.7 x 2.5 mm CT-like volume, its 3-class uint8 label: what a rotation in index space shears."""
    rng = np.random.default_rng(0)
    affine = np.diag([0.7, 0.7, 2.5, 1.0])
    affine[:3, 3] = (-20.0, 15.0, 40.0)
    grid = np.indices((48, 44, 14)).astype(np.float64)
    image = np.sin(0.3 * grid[0]) + np.cos(0.25 * grid[1]) + 0.2 * grid[2] + 0.05 * rng.random(grid.shape[1:])
    label = ((grid[0] > 20).astype(np.uint8) + (grid[1] > 25)).astype(np.uint8)
    meta = {"original_affine": torch.as_tensor(affine), "spatial_shape": np.array(label.shape)}
    return {
        "image": MetaTensor(torch.as_tensor(image[None], dtype=torch.float32), affine=torch.as_tensor(affine), meta=dict(meta)),
        "label": MetaTensor(torch.as_tensor(label[None]), affine=torch.as_tensor(affine), meta=dict(meta)),
    }


KEYS = ["image", "label"]
PIPELINES = {
    "classic": lambda: [
        Orientationd(KEYS, axcodes="RAS"),
        Spacingd(KEYS, pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandAffined(KEYS, prob=1.0, rotate_range=0.3, mode=("bilinear", "nearest"), padding_mode="zeros"),
        SpaceResampled(KEYS, pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest"), padding_mode="zeros"),
    ],
    "rand_rotate": lambda: [
        RandRotated(KEYS, range_x=0.4, range_y=0.2, prob=1.0, mode=("bilinear", "nearest"), padding_mode="zeros"),
        SpaceResampled(KEYS, pixdim=(1.0, 1.0, 1.0), mode=("bilinear", "nearest"), padding_mode="zeros"),
    ],
    "readme_augmentation": lambda: [
        SpaceResampled(KEYS, pixdim=(1.5, 1.5, 2.0), mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandAffined(KEYS, prob=1.0, rotate_range=0.3, scale_range=0.1, shear_range=0.1, mode=("bilinear", "nearest"), padding_mode="zeros"),
        SpaceApplyPendingd(KEYS),
    ],
}


@pytest.mark.parametrize("name", list(PIPELINES))
def test_the_issues_pipelines_run_eager_and_lazy(name):
    eager_chain, lazy_chain = Compose(PIPELINES[name]()), Compose(PIPELINES[name](), lazy=True)
    eager_chain.set_random_state(3)
    lazy_chain.set_random_state(3)
    eager, lazy = eager_chain(_ct_sample()), lazy_chain(_ct_sample())
    for key in KEYS:
        assert lazy[key].shape == eager[key].shape
        np.testing.assert_allclose(lazy[key].affine.numpy(), eager[key].affine.numpy(), rtol=0, atol=1e-9)
    assert lazy["label"].dtype == torch.uint8  # MONAI's eager RandAffined returns float32; lazily ours keeps uint8
    source, target = _ct_sample(), lazy["image"]
    # one resample from the loaded data (brute force), zero beyond the grids the eager chain passed through
    label = oracles.nearest(source["label"][0].numpy(), source["label"].affine, target.affine, target.shape[1:])
    grids = [Compose(PIPELINES[name]()[:k]) for k in range(1, len(PIPELINES[name]()))]
    beyond = np.zeros(target.shape[1:], dtype=bool)
    for partial in grids:
        partial.set_random_state(3)
        step = partial(_ct_sample())["image"]
        voxel = np.floor(oracles.source_coordinates(step.affine, target.affine, target.shape[1:]) + 0.5)
        beyond |= ~np.all((voxel >= 0) & (voxel < np.array(step.shape[1:])[:, None]), axis=0).reshape(target.shape[1:])
    label[beyond] = 0
    assert oracles.wrong(lazy["label"][0], label) == 0
    image = oracles.interpolate(source["image"][0].numpy(), source["image"].affine, target.affine, target.shape[1:], order=1)
    x = oracles.source_coordinates(source["image"].affine, target.affine, target.shape[1:])
    interior = np.all((x >= 0) & (x <= np.array(source["image"].shape[1:])[:, None] - 1), axis=0).reshape(target.shape[1:]) & ~beyond
    assert interior.mean() > 0.2
    np.testing.assert_allclose(lazy["image"][0].numpy()[interior], image[interior], rtol=0, atol=2e-5)


def test_a_sheared_lazy_pipeline_on_a_finer_grid_maps_back_exactly():
    """RandAffined (rotation + fine scale) on the anisotropic CT, then the sink: nearest back, 0 wrong where reached."""
    chain = Compose(
        [
            RandAffined(KEYS, prob=1.0, rotate_range=0.3, scale_range=((-0.6, -0.55), (-0.6, -0.55), (-0.8, -0.75)), spatial_size=(96, 88, 56), mode=("bilinear", "nearest")),
            SpaceApplyPendingd(KEYS),
        ],
        lazy=True,
    )
    chain.set_random_state(1)
    sample = _ct_sample()
    forward = chain(_ct_sample())
    assert not Space.from_metatensor(forward["label"]).is_orthogonal  # really sheared
    back = SpaceInvertd("label", mode="nearest", fill=255)(forward)["label"]
    reached = back.as_tensor() != 255
    assert reached.float().mean() > 0.5
    assert oracles.wrong(back.as_tensor()[reached], sample["label"].as_tensor()[reached]) == 0
