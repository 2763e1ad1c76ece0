"""Cross-checks against MONAI: the Space planned for an operation has MONAI's output affine and shape.

Each case builds a ``MetaTensor`` on an oblique, anisotropic grid (reflected directions,
origins far from zero), runs the MONAI transform, and compares the result's ``affine``
and spatial shape with the Space planned for the same operation.
"""

from __future__ import annotations

import math

import monai
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai.transforms import Compose, Flip, Orientation, Resize, SpatialCrop, SpatialPad, Spacing, Zoom
from monai.utils import version_leq

from monai_spacetx import Space

from conftest import random_direction

SHAPES = {2: (23, 17), 3: (21, 17, 13)}
SPACINGS = {2: (0.7, 1.9), 3: (0.7, 1.3, 2.4)}
ORIGINS = {2: (-120.25, 87.5), 3: (-120.25, 87.5, 1234.0)}


#: a 2-D slice taken from a volume: MONAI's third affine row holds its thickness and world z
SLICE_THICKNESS, SLICE_Z = 2.5, 57.5


def sheared(direction: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``direction`` with its columns mixed by a random shear (up to ~35 degrees), renormalised."""
    ndim = direction.shape[0]
    shear = np.eye(ndim) + np.triu(rng.uniform(-0.7, 0.7, (ndim, ndim)), 1)
    mixed = direction @ shear
    return mixed / np.linalg.norm(mixed, axis=0)


def _metatensor(
    ndim: int,
    seed: int = 0,
    reflect: bool = True,
    direction: np.ndarray | None = None,
    slice_of_volume: bool = False,
    shear: bool = False,
) -> MetaTensor:
    rng = np.random.default_rng(seed + 10 * ndim)
    direction = random_direction(rng, ndim, reflect) if direction is None else direction
    if shear:
        direction = sheared(direction, rng)
    affine = np.eye(4)
    affine[:ndim, :ndim] = direction * np.array(SPACINGS[ndim])
    affine[:ndim, 3] = ORIGINS[ndim]
    if slice_of_volume:
        affine[2, 2:] = SLICE_THICKNESS, SLICE_Z
    data = torch.rand((1, *SHAPES[ndim]), dtype=torch.float32, generator=torch.Generator().manual_seed(seed))
    return MetaTensor(data, affine=torch.as_tensor(affine, dtype=torch.float64))


def assert_same_geometry(out: MetaTensor, planned: Space) -> None:
    """``out`` (MONAI's result) has exactly ``planned``'s shape and, to round-off, its affine."""
    assert tuple(out.shape[1:]) == planned.shape
    monai_affine = out.affine.detach().cpu().double().numpy()
    assert monai_affine.shape == (4, 4)  # MONAI's 4x4 form, also in 2-D
    scale = max(1.0, float(np.max(np.abs(monai_affine))))
    np.testing.assert_allclose(planned.to_monai_affine(), monai_affine, rtol=0, atol=1e-10 * scale)
    assert Space.from_metatensor(out) == planned
    if planned.ndim == 2:  # the slice's thickness and position survive every op, bit for bit
        np.testing.assert_array_equal(planned.to_monai_affine()[2], monai_affine[2])
        np.testing.assert_array_equal(planned.to_monai_affine()[:, 2], monai_affine[:, 2])


@pytest.fixture(
    params=[
        (2, True, False, False),
        (2, False, False, False),
        (2, True, True, False),
        (3, True, False, False),
        (3, False, False, False),
        (2, True, True, True),
        (3, True, False, True),
        (3, False, False, True),
    ],
    ids=["2d-refl", "2d", "2d-slice-of-volume", "3d-refl", "3d", "2d-sheared", "3d-refl-sheared", "3d-sheared"],
)
def mt(request) -> MetaTensor:
    ndim, reflect, slice_of_volume, shear = request.param
    mt = _metatensor(ndim, seed=ndim, reflect=reflect, slice_of_volume=slice_of_volume, shear=shear)
    assert Space.from_metatensor(mt).is_orthogonal is not shear
    return mt


def test_from_metatensor_is_exact(mt):
    space = Space.from_metatensor(mt)
    assert space.shape == tuple(mt.shape[1:])
    assert np.array_equal(space.to_monai_affine(), mt.affine.numpy())


def test_spatial_crop_start_end(mt):
    space = Space.from_metatensor(mt)
    nd = space.ndim
    start, end = [3, 2, 5][:nd], [15, 11, 12][:nd]
    assert_same_geometry(SpatialCrop(roi_start=start, roi_end=end)(mt), space.crop(start, end))


def test_spatial_crop_center_size(mt):
    space = Space.from_metatensor(mt)
    nd = space.ndim
    center, size = np.array([10, 8, 6][:nd]), np.array([7, 6, 5][:nd])
    start = center - size // 2  # MONAI's rule: start = center - floor(size / 2)
    out = SpatialCrop(roi_center=center.tolist(), roi_size=size.tolist())(mt)
    assert_same_geometry(out, space.crop(start, start + size))


@pytest.mark.parametrize("grow", [(5, 4, 1), (1, 0, 6), (8, 3, 2)])
def test_spatial_pad_symmetric(mt, grow):
    space = Space.from_metatensor(mt)
    nd = space.ndim
    total = np.array(grow[:nd])
    before = total // 2  # MONAI's symmetric split puts the odd voxel at the end
    after = total - before
    out = SpatialPad(spatial_size=(np.array(space.shape) + total).tolist())(mt)
    assert_same_geometry(out, space.pad(before, after))


@pytest.mark.parametrize(
    "factor",
    [
        (1.0, 1.0, 1.0),  # same spacing
        (2.0, 0.5, 1.5),
        (1.37, 0.61, 2.9),  # does not divide the extent
        (0.33, 3.1, 0.77),
    ],
)
def test_spacing_default_is_respace_centers(mt, factor):
    space = Space.from_metatensor(mt)
    pixdim = space.spacing * np.array(factor[: space.ndim])
    out = Spacing(pixdim=pixdim.tolist())(mt)
    assert_same_geometry(out, space.respace(pixdim, align="centers"))


@pytest.mark.parametrize("ndim", [2, 3])
def test_spacing_on_flipped_axis_aligned_grid(ndim):
    direction = np.diag([-1.0, 1.0, -1.0][:ndim])[:, ::-1].copy()  # flipped and permuted
    mt = _metatensor(ndim, direction=direction)
    space = Space.from_metatensor(mt)
    pixdim = [1.1, 0.45, 3.3][:ndim]
    assert_same_geometry(Spacing(pixdim=pixdim)(mt), space.respace(pixdim, align="centers"))


@pytest.mark.parametrize("size", [(31, 9, 20), (12, 40, 13), (5, 5, 5)])
def test_resize_default_is_resize_edges(mt, size):
    space = Space.from_metatensor(mt)
    size = size[: space.ndim]
    assert_same_geometry(Resize(spatial_size=size)(mt), space.resize(size))
    assert_same_geometry(Resize(spatial_size=size)(mt), space.resize(size, align="edges"))


@pytest.mark.parametrize("size", [(31, 9, 20), (12, 40, 13)])
def test_resize_align_corners_is_resize_centers(mt, size):
    space = Space.from_metatensor(mt)
    size = size[: space.ndim]
    planned = space.resize(size, align="centers")
    # by hand: new voxel j sits at old index j (n - 1) / (m - 1), the first and last centres kept
    steps = [(n - 1) / (m - 1) for n, m in zip(space.shape, size)] + [1.0] * (4 - space.ndim)
    by_hand = mt.affine.double().numpy() @ np.diag(steps)
    np.testing.assert_allclose(planned.to_monai_affine(), by_hand, rtol=0, atol=1e-10 * max(1.0, float(np.max(np.abs(by_hand)))))
    # MONAI before 1.6 wrote another affine for align_corners=True (its values were right); 1.6 fixed it
    if version_leq("1.6", monai.__version__):
        out = Resize(spatial_size=size, mode="bilinear", align_corners=True)(mt)
        assert_same_geometry(out, planned)


@pytest.mark.parametrize("factor", [1.7, 0.6, (0.6, 1.3, 1.5), (2.0, 0.35, 1.0)])
def test_zoom_no_keep_size_is_zoom(mt, factor):
    space = Space.from_metatensor(mt)
    if not np.isscalar(factor):
        factor = factor[: space.ndim]
    out = Zoom(zoom=factor, keep_size=False)(mt)
    assert_same_geometry(out, space.zoom(factor))


def test_zoom_floors_like_monai_without_snapping():
    # 50 * 2.26 is 112.99999999999999 in float64: MONAI floors it to 112, and so do we
    x = MetaTensor(torch.zeros(1, 50, 50), affine=torch.eye(4, dtype=torch.float64))
    assert Space((50, 50)).zoom(2.26).shape == (112, 112)
    assert_same_geometry(Zoom(zoom=2.26, keep_size=False)(x), Space.from_metatensor(x).zoom(2.26))


@st.composite
def _size_and_factor(draw):
    """A size per axis and a zoom factor MONAI accepts (at least one voxel out), often a near-integer product."""
    size = draw(st.integers(1, 60))
    wanted = draw(st.integers(1, 240))
    factor = draw(
        st.one_of(
            st.floats(0.05, 6.0),
            st.just(wanted / size),  # n * f lands on an integer, or a hair either side of it
            st.just(round(wanted / size, 2)),
            st.just(math.nextafter(wanted / size, 0.0)),
        )
    )
    assume(0.0 < factor and math.floor(size * factor) >= 1)
    return size, factor


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_size_and_factor(), min_size=2, max_size=3),
    st.booleans(),
    st.integers(0, 2**31 - 1),
)
def test_zoom_matches_monai_zoom_for_every_size_and_factor(axes, align_corners, seed):
    """MONAI ``Zoom(keep_size=False)``, planned lazily (no pixels), on an oblique grid."""
    ndim = len(axes)
    shape = [n for n, _ in axes]
    factors = [f for _, f in axes]
    new_shape = [math.floor(n * f) for n, f in axes]
    if align_corners:
        assume(min(shape) >= 2 and min(new_shape) >= 2)  # MONAI collapses a 1-voxel axis to scale 0; we refuse it
    rng = np.random.default_rng(seed)
    native = Space(shape, spacing=rng.uniform(0.3, 3.0, ndim), origin=rng.uniform(-500, 500, ndim), direction=random_direction(rng, ndim))
    x = MetaTensor(torch.zeros(1, *shape), affine=torch.as_tensor(native.to_monai_affine()))
    zoomed = Zoom(zoom=factors, keep_size=False, align_corners=align_corners if align_corners else None, lazy=True)(x)
    planned = native.zoom(factors, align="centers" if align_corners else "edges")
    assert tuple(zoomed.peek_pending_shape()) == planned.shape
    monai_affine = zoomed.peek_pending_affine().double().numpy()
    if align_corners:  # by hand: new voxel j sits at old index j (n - 1) / (m - 1)
        steps = [(n - 1) / (m - 1) for n, m in zip(shape, new_shape)] + [1.0] * (4 - ndim)
        by_hand = native.to_monai_affine() @ np.diag(steps)
        np.testing.assert_allclose(planned.to_monai_affine(), by_hand, rtol=0, atol=1e-9 * max(1.0, np.abs(by_hand).max()))
        if not version_leq("1.6", monai.__version__):
            return  # MONAI before 1.6 wrote another affine for align_corners=True (fixed in 1.6)
    np.testing.assert_allclose(planned.to_monai_affine(), monai_affine, rtol=0, atol=1e-9 * max(1.0, np.abs(monai_affine).max()))


@pytest.mark.parametrize("axes", [[0], [1], [0, 1], [-1], None])
def test_flip(mt, axes):
    space = Space.from_metatensor(mt)
    planned = space.flip(list(range(space.ndim)) if axes is None else axes)
    assert_same_geometry(Flip(spatial_axis=axes)(mt), planned)


@pytest.mark.parametrize("shear", [False, True])
@pytest.mark.parametrize("codes", ["RAS", "LPS", "LAI", "SPL", "AIR", "IRP", "PSR"])
def test_orientation_3d(codes, shear):
    for seed in range(3):
        mt = _metatensor(3, seed=seed, reflect=bool(seed % 2), shear=shear)
        space = Space.from_metatensor(mt)
        assert_same_geometry(Orientation(axcodes=codes)(mt), space.orient(codes))


@pytest.mark.parametrize("shear", [False, True])
@pytest.mark.parametrize("codes", ["RA", "LP", "AR", "PL", "LA", "RP"])
def test_orientation_2d(codes, shear):
    for seed in range(3):
        mt = _metatensor(2, seed=seed, reflect=bool(seed % 2), slice_of_volume=seed == 2, shear=shear)
        space = Space.from_metatensor(mt)
        assert_same_geometry(Orientation(axcodes=codes)(mt), space.orient(codes))


@pytest.mark.filterwarnings("ignore:axcodes .* length is smaller:UserWarning")  # MONAI warns, then reads two
@pytest.mark.parametrize("codes", ["RAS", "LPS", "PLI"])
def test_orientation_2d_with_three_codes_uses_the_first_two(codes):
    # MONAI pipelines write Orientationd(axcodes="RAS") for 2-D images too; MONAI reads the first two codes
    mt = _metatensor(2, seed=5, reflect=True, slice_of_volume=True)
    assert_same_geometry(Orientation(axcodes=codes)(mt), Space.from_metatensor(mt).orient(codes))
    assert Space.from_metatensor(mt).orient(codes) == Space.from_metatensor(mt).orient(codes[:2])


@pytest.mark.parametrize("shear", [False, True])
@pytest.mark.parametrize("ndim, slice_of_volume", [(2, False), (2, True), (3, False)])
def test_chain_matches_monai_compose(ndim, slice_of_volume, shear):
    mt = _metatensor(ndim, seed=7, slice_of_volume=slice_of_volume, shear=shear)
    codes = "LPS"[:ndim]
    pixdim = [0.9, 1.7, 2.2][:ndim]
    respaced = Space.from_metatensor(mt).orient(codes).respace(pixdim, align="centers")
    start = [2, 3, 1][:ndim]
    end = np.minimum([14, 13, 6][:ndim], respaced.shape).tolist()  # inside the grid: MONAI clamps, Space pads
    size = [32, 24, 16][:ndim]
    chain = Compose(
        [
            Orientation(axcodes=codes),
            Spacing(pixdim=pixdim),
            SpatialCrop(roi_start=start, roi_end=end),
            Resize(spatial_size=size),
            Flip(spatial_axis=[0]),
            SpatialPad(spatial_size=[s + 3 for s in size]),
        ]
    )
    planned = (
        Space.from_metatensor(mt)
        .orient(codes)
        .respace(pixdim, align="centers")
        .crop(start, end)
        .resize(size)
        .flip(0)
        .pad(1, 2)
    )
    assert_same_geometry(chain(mt), planned)
