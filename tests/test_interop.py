"""Interop at the edge: SimpleITK (LPS world, ITK index order) and nibabel (RAS, file affine)."""

from __future__ import annotations

import numpy as np
import pytest

import nibabel as nib
import SimpleITK as sitk  # in the test extra: its absence fails the suite

from conftest import random_direction, random_space  # noqa: E402

from monai_spacetx import ShapeMismatchError, Space, SpaceError, SpaceTypeError  # noqa: E402
from monai_spacetx.interop import lps_ras_flip, space_from_nifti, space_from_sitk, to_nifti, to_sitk  # noqa: E402

RAS_TO_LPS = {2: np.array([-1.0, -1.0]), 3: np.array([-1.0, -1.0, 1.0])}


def _sitk_image(ndim: int, seed: int) -> "sitk.Image":
    """A SimpleITK image set up with SimpleITK's own API: oblique LPS direction, anisotropic spacing."""
    rng = np.random.default_rng(seed)
    size = [int(n) for n in rng.integers(5, 30, size=ndim)]
    img = sitk.Image(size, sitk.sitkFloat32)
    img.SetSpacing([float(s) for s in rng.uniform(0.3, 3.0, size=ndim)])
    img.SetOrigin([float(o) for o in rng.uniform(-1e4, 1e4, size=ndim)])
    img.SetDirection([float(d) for d in random_direction(rng, ndim, bool(seed % 2)).ravel()])
    return img


def _random_indices(rng, shape, n=20):
    """Continuous indices, some outside the grid."""
    return rng.uniform(-1.0, 1.0, size=(n, len(shape))) * np.array(shape)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_index_to_world_matches_sitk_continuous_index(ndim, seed):
    img = _sitk_image(ndim, seed)
    space = space_from_sitk(img)
    assert space.shape == tuple(img.GetSize())  # ITK index order
    rng = np.random.default_rng(seed)
    indices = _random_indices(rng, space.shape)
    ours_ras = space.index_to_world(indices)
    for index, world in zip(indices, ours_ras):
        lps = np.array(img.TransformContinuousIndexToPhysicalPoint(index.tolist()))
        np.testing.assert_allclose(world * RAS_TO_LPS[ndim], lps, rtol=0, atol=1e-9 * max(1.0, np.abs(lps).max()))
        back = np.array(img.TransformPhysicalPointToContinuousIndex(lps.tolist()))
        np.testing.assert_allclose(space.world_to_index(world), back, rtol=0, atol=1e-9)


@pytest.mark.parametrize("ndim", [2, 3])
def test_integer_index_matches_sitk(ndim):
    img = _sitk_image(ndim, 11)
    space = space_from_sitk(img)
    last = [n - 1 for n in img.GetSize()]
    for index in ([0] * ndim, last):
        lps = np.array(img.TransformIndexToPhysicalPoint(index))
        np.testing.assert_allclose(space.index_to_world(np.array(index)) * RAS_TO_LPS[ndim], lps, atol=1e-8)


def test_oblique_space_to_sitk_and_back(oblique_space):
    space = oblique_space
    data = np.arange(np.prod(space.shape), dtype=np.float32).reshape(space.shape)
    img = to_sitk(data, space)
    assert tuple(img.GetSize()) == space.shape
    # ITK index (i, j, k) is our index; GetArrayFromImage gives the reversed (k, j, i) layout
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img), data.T)
    back = space_from_sitk(img)
    np.testing.assert_allclose(back.affine, space.affine, rtol=0, atol=1e-9 * np.abs(space.affine).max())
    assert back == space
    index = np.array(space.shape) / 3.0
    lps = np.array(img.TransformContinuousIndexToPhysicalPoint(index.tolist()))
    np.testing.assert_allclose(space.index_to_world(index) * RAS_TO_LPS[space.ndim], lps, atol=1e-8)


def test_lps_ras_flip_is_its_own_inverse():
    for ndim in (2, 3):
        flip = lps_ras_flip(ndim)
        np.testing.assert_array_equal(flip @ flip, np.eye(ndim + 1))
        np.testing.assert_array_equal(np.diag(flip)[:ndim], RAS_TO_LPS[ndim])


def test_sitk_errors():
    with pytest.raises(SpaceTypeError, match="expected a SimpleITK.Image, got ndarray"):
        space_from_sitk(np.zeros((3, 3)))
    with pytest.raises(ShapeMismatchError, match="only 2-D and 3-D SimpleITK images have a Space, got a 4-D"):
        space_from_sitk(sitk.Image([2, 2, 2, 2], sitk.sitkUInt8))
    with pytest.raises(ShapeMismatchError, match=r"data of shape \(4, 5\) does not match the space's shape \(5, 4\)"):
        to_sitk(np.zeros((4, 5)), Space((5, 4)))


# ---------------------------------------------------------------------------- nibabel


def _nifti_affine(ndim_world: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    affine = np.eye(4)
    affine[:3, :3] = random_direction(rng, 3, bool(seed % 2)) * rng.uniform(0.4, 2.5, size=3)
    affine[:3, 3] = rng.uniform(-300, 300, size=3)
    return affine


@pytest.mark.parametrize("seed", range(3))
def test_from_nifti_and_back_is_the_files_affine(tmp_path, seed):
    affine = _nifti_affine(seed=seed)
    data = np.random.default_rng(seed).random((9, 7, 5)).astype(np.float32)
    img = nib.Nifti1Image(data, affine)
    space = space_from_nifti(img)
    assert space.shape == (9, 7, 5)
    assert np.array_equal(space.affine, img.affine)
    assert np.array_equal(to_nifti(data, space).affine, img.affine)

    # through a file: the header stores float32, the loaded affine is what we must reproduce
    path = tmp_path / "a.nii.gz"
    nib.save(img, path)
    loaded = nib.load(path)
    space_loaded = space_from_nifti(loaded)
    assert np.array_equal(space_loaded.affine, loaded.affine)
    written = to_nifti(np.asarray(loaded.dataobj), space_loaded)
    assert np.array_equal(written.affine, loaded.affine)
    path2 = tmp_path / "b.nii.gz"
    nib.save(written, path2)
    reloaded = nib.load(path2)
    assert np.array_equal(reloaded.affine, loaded.affine)
    assert space_from_nifti(reloaded) == space_loaded
    # index -> world agrees with nibabel's own apply_affine
    ijk = np.array([[0.0, 0.0, 0.0], [8.0, 6.0, 4.0], [1.5, -0.5, 3.25]])
    np.testing.assert_allclose(
        space_loaded.index_to_world(ijk), nib.affines.apply_affine(loaded.affine, ijk), rtol=0, atol=1e-9
    )


def test_from_nifti_matches_monai_loadimage(tmp_path):
    from monai.transforms import LoadImage

    affine = _nifti_affine(seed=5)
    data = np.random.default_rng(5).random((8, 6, 4)).astype(np.float32)
    path = tmp_path / "scan.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), path)
    x = LoadImage(image_only=True, ensure_channel_first=True)(str(path))
    assert Space.from_metatensor(x) == space_from_nifti(nib.load(path))
    assert np.array_equal(Space.from_metatensor(x).affine, nib.load(path).affine)


def test_from_nifti_2d_and_4d(tmp_path):
    affine = np.diag([0.5, 0.75, 1.0, 1.0])
    affine[:2, 3] = [10.0, -4.0]
    img2 = nib.Nifti1Image(np.zeros((6, 5), np.float32), affine)
    space2 = space_from_nifti(img2)
    assert space2.shape == (6, 5) and space2.ndim == 2
    np.testing.assert_array_equal(space2.to_monai_affine(), affine)
    path = tmp_path / "two_d.nii"
    nib.save(to_nifti(np.zeros((6, 5), np.float32), space2), path)
    assert np.array_equal(nib.load(path).affine, affine)

    sliced = affine.copy()
    sliced[2, 2:] = 2.5, 57.5  # a slice taken from a volume keeps its thickness and z through a crop
    cropped = space_from_nifti(nib.Nifti1Image(np.zeros((6, 5), np.float32), sliced)).crop((1, 1), (4, 4))
    assert cropped.through_plane == (2.5, 57.5)
    np.testing.assert_array_equal(to_nifti(np.zeros((3, 3), np.float32), cropped).affine[2], [0.0, 0.0, 2.5, 57.5])

    img4 = nib.Nifti1Image(np.zeros((6, 5, 4, 3), np.float32), _nifti_affine(seed=2))
    assert space_from_nifti(img4).shape == (6, 5, 4)


def test_nifti_errors():
    with pytest.raises(SpaceTypeError, match="expected a nibabel image with .affine and .shape, got list"):
        space_from_nifti([1, 2, 3])
    with pytest.raises(ShapeMismatchError, match=r"data of shape \(3, 3\) does not start with the space's shape \(4, 3\)"):
        to_nifti(np.zeros((3, 3)), Space((4, 3)))
    img1 = nib.Nifti1Image(np.zeros((5,), np.float32), np.eye(4))
    with pytest.raises(SpaceError, match="shape must have 2 or 3 entries"):
        space_from_nifti(img1)


def test_random_space_nifti_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    for ndim in (2, 3):
        space = random_space(rng, ndim)
        img = to_nifti(np.zeros(space.shape, np.int16), space)
        assert np.array_equal(space_from_nifti(img).affine, space.affine)


def test_interop_bad_inputs_and_foreign_byte_order():
    space = Space((4, 5), spacing=(0.5, 2.0))
    for write in (to_nifti, to_sitk):
        with pytest.raises(SpaceTypeError, match=r"space must be a Space, got ndarray"):
            write(np.zeros((4, 5)), np.eye(3))
    with pytest.raises(SpaceTypeError, match=r"data must be a numeric array, got ndarray of dtype object"):
        to_sitk(np.array([[None] * 5] * 4), space)
    for bad in (1, 4, True, "3"):
        with pytest.raises(SpaceError, match=r"ndim must be 2 or 3, got"):
            lps_ras_flip(bad)
    # nibabel hands out big-endian arrays; SimpleITK refuses them, so they are converted on the way
    big = np.arange(20, dtype=">f4").reshape(4, 5)
    img = to_sitk(big, space)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img).T, big)
    assert space_from_sitk(img) == space
    np.testing.assert_array_equal(np.asarray(to_nifti(big, space).dataobj), big)
    assert space_from_nifti(nib.Nifti1Image(big, space.to_monai_affine())) == space


def test_writers_store_dtypes_their_formats_lack():
    """bool masks, float16, int64 labels and torch tensors are written losslessly, not refused by nibabel/SimpleITK."""
    import torch

    space = Space((4, 5), spacing=(0.5, 2.0))
    mask = np.zeros((4, 5), bool)
    mask[1:3, 2:4] = True
    half = np.linspace(0, 1, 20, dtype=np.float16).reshape(4, 5)
    labels = np.arange(20, dtype=np.int64).reshape(4, 5)
    nifti = {name: np.asanyarray(to_nifti(v, space).dataobj) for name, v in (("mask", mask), ("half", half), ("labels", labels))}
    assert nifti["mask"].dtype == np.uint8 and np.array_equal(nifti["mask"], mask)
    assert nifti["half"].dtype == np.float32 and np.array_equal(nifti["half"], half.astype(np.float32))
    assert nifti["labels"].dtype == np.int32 and np.array_equal(nifti["labels"], labels)
    wide = labels * 2**40  # does not fit int32: kept as int64
    assert to_nifti(wide, space).get_data_dtype() == np.int64
    assert np.array_equal(np.asanyarray(to_nifti(torch.from_numpy(labels), space).dataobj), labels)
    for value, dtype in ((mask, np.uint8), (half, np.float32), (torch.from_numpy(half), np.float32)):
        image = to_sitk(value, space)
        array = sitk.GetArrayFromImage(image).T
        assert array.dtype == dtype and np.array_equal(array, np.asarray(value).astype(dtype))
        assert space_from_sitk(image) == space


def test_interop_docstring_examples_run():
    import doctest

    import monai_spacetx.interop as interop

    result = doctest.testmod(interop, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 1
