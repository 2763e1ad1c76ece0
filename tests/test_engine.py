"""warp_image: path selection, exact paths, separable vs general, dtypes, autograd, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import dataclasses
import warnings

from monai_spacetx import Space, index_map
from monai_spacetx.engine import WarpOptions, plan_warp, warp_image
from monai_spacetx.engine.box import target_box
from monai_spacetx.errors import ModeError, ShapeMismatchError, SpaceError, SpaceTypeError

import oracles
from conftest import random_space

MODES = ["nearest", "linear", "cubic", "label"]
#: (padding_mode, fill) pairs: constant fills 0 and -3, border, reflection
PADDINGS = [("zeros", 0.0), ("zeros", -3), ("border", 0.0), ("reflection", 0.0)]


def _general(source: Space, target: Space):
    """The plan of ``source -> target`` forced onto the general path."""
    return dataclasses.replace(plan_warp(source, target), kind="general")


def _expected_by_index(src: np.ndarray, source: Space, target: Space, fill) -> np.ndarray:
    """Reference for integer index maps: target voxel j takes src[M j] or ``fill``."""
    matrix = index_map(target, source)
    grid = np.indices(target.shape).reshape(target.ndim, -1)
    idx = np.rint(matrix[:-1, :-1] @ grid + matrix[:-1, -1:]).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < np.array(source.shape)[:, None]), axis=0)
    out = np.full(grid.shape[1], fill, dtype=src.dtype)
    out[inside] = src[tuple(idx[:, inside])]
    return out.reshape(target.shape)


def _index_targets(space: Space) -> dict[str, Space]:
    ndim = space.ndim
    return {
        "crop": space.crop([2] * ndim, [n - 1 for n in space.shape]),
        "pad": space.pad([3] * ndim, [1] * ndim),
        "crop_pad": space.crop([-2] + [1] * (ndim - 1), [n + 2 for n in space.shape]),
        "flip": space.flip(list(range(ndim))),
        "permute": space.permute(list(reversed(range(ndim)))),
        "flip_permute_crop": space.flip(0).permute([1, 0] + list(range(2, ndim))).crop([-1] * ndim, [5] * ndim),
        "orient": space.orient("LPI"),
        "outside": space.crop([100] * ndim, [103] * ndim),
    }


# ---------------------------------------------------------------------------- plans
def test_plan_kinds() -> None:
    space = Space((10, 12, 8), spacing=(0.8, 0.8, 2.0), origin=(1e5, -3e4, 7.0))
    assert plan_warp(space, space).kind == "identity"
    assert plan_warp(space, space.crop((1, 2, 3), (5, 9, 8))).kind == "index"
    assert plan_warp(space, space.flip(1).permute((2, 0, 1))).kind == "index"
    sep = plan_warp(space, space.crop((1, 2, 3), (5, 9, 8)).respace(1.5))
    assert sep.kind == "separable" and sep.axes == (0, 1, 2)
    assert plan_warp(space, space.permute((1, 0, 2)).resize((20, 7, 9))).kind == "separable"
    assert plan_warp(space, space.rotate((0.1, 0.0, 0.0))).kind == "general"


def test_plan_box_covers_only_the_overlap() -> None:
    native = Space((300, 280, 90), spacing=(0.7, 0.7, 2.5))
    work = native.crop((40, 50, 10), (200, 210, 60)).respace(1.3)
    box = target_box(plan_warp(work, native), WarpOptions())
    assert [(s.start, s.stop) for s in box] == [(40, 200), (50, 210), (10, 60)]
    border = WarpOptions(padding_mode="border")
    assert target_box(plan_warp(work, native), border) == tuple(slice(0, n) for n in native.shape)
    oblique = work.rotate((0.2, 0.1, -0.3))
    gbox = target_box(plan_warp(oblique, native), WarpOptions())
    assert all(b.stop - b.start < n for b, n in zip(gbox, native.shape))


# ---------------------------------------------------------------------------- exact paths
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8, bool])
@pytest.mark.parametrize("ndim", [2, 3])
def test_index_path_is_bitwise_exact(dtype, ndim: int) -> None:
    rng = np.random.default_rng(ndim)
    space = Space((9, 11, 7)[:ndim], spacing=(0.9, 1.3, 2.0)[:ndim], origin=(1e4, -20.0, 3.0)[:ndim])
    src = (rng.standard_normal(space.shape) * 100).astype(dtype)
    fill = 1 if dtype is bool else 7
    for name, target in _index_targets(space).items():
        assert plan_warp(space, target).kind == "index", name
        expected = _expected_by_index(src, space, target, fill)
        for mode in MODES:
            out = warp_image(src, space, target, mode=mode, fill=fill)
            assert out.dtype == src.dtype and np.array_equal(out, expected), (name, mode)
        out = warp_image(torch.from_numpy(src)[None, None], space, target, mode="nearest", fill=fill)
        assert np.array_equal(out[0, 0].numpy(), expected), name


def test_index_path_border_and_reflection() -> None:
    space = Space((6, 5))
    src = np.arange(30, dtype=np.int32).reshape(6, 5)
    target = space.crop((-3, -2), (9, 8))
    border = warp_image(src, space, target, "nearest", "border")
    assert np.array_equal(border, np.pad(src, ((3, 3), (2, 3)), mode="edge"))
    reflect = warp_image(src, space, target, "nearest", "reflection")
    assert np.array_equal(reflect, np.pad(src, ((3, 3), (2, 3)), mode="symmetric"))
    for path in ("separable", "general"):
        plan = dataclasses.replace(plan_warp(space, target), kind=path)
        assert np.array_equal(warp_image(src, space, target, "nearest", "reflection", plan=plan), reflect)


def test_identity_returns_a_copy() -> None:
    space = Space((5, 6))
    src = torch.arange(30.0).reshape(5, 6)
    out = warp_image(src, space, Space((5, 6)))
    assert torch.equal(out, src) and out.data_ptr() != src.data_ptr()


# ---------------------------------------------------------------------------- separable vs general
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("padding_mode, fill", PADDINGS)
@pytest.mark.parametrize("mode", MODES)
def test_separable_matches_general(ndim: int, padding_mode: str, fill: float, mode: str) -> None:
    rng = np.random.default_rng(7 + ndim)
    space = random_space(rng, ndim, shape_range=(6, 14), origin_scale=1e4)
    targets = [
        space.crop([2] * ndim, [n + 3 for n in space.shape]).respace(space.spacing * rng.uniform(0.4, 1.7, ndim)),
        space.flip(0).permute(list(reversed(range(ndim)))).resize([9, 5, 11][:ndim]),
        space.crop([-4] * ndim, [4] * ndim).zoom(2.3),
        # far outside: coordinates several fields of view away (reflection folds them back)
        space.crop([-2 * n for n in space.shape], [3 * n for n in space.shape]).respace(space.spacing * 1.9),
    ]
    src = rng.integers(0, 4, (2, *space.shape)) if mode == "label" else rng.standard_normal((2, *space.shape))
    for target in targets:
        assert plan_warp(space, target).kind == "separable"
        sep = warp_image(src, space, target, mode, padding_mode, fill)
        gen = warp_image(src, space, target, mode, padding_mode, fill, plan=_general(space, target))
        for channel in range(2):  # each path against the brute-force definition (tests/oracles.py)
            for out in (sep[channel], gen[channel]):
                if mode == "label":
                    assert oracles.label_vote_violations(out, src[channel], space.affine, target.affine, target.shape, padding_mode, fill) == 0
                elif mode == "nearest":
                    expected = oracles.nearest(src[channel], space.affine, target.affine, target.shape, fill, padding_mode)
                    assert np.array_equal(out, expected)
                else:
                    order = 1 if mode == "linear" else 3
                    expected = oracles.interpolate(src[channel], space.affine, target.affine, target.shape, order, padding_mode, fill)
                    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-10)
        if mode in ("nearest", "label"):
            assert np.array_equal(sep, gen)
        else:
            np.testing.assert_allclose(sep, gen, rtol=0, atol=1e-10)


@pytest.mark.parametrize("align", ["edges", "centers"])
@pytest.mark.parametrize("shape", [(29, 11), (7, 40), (13, 17)])
def test_cubic_is_torch_bicubic_on_the_separable_path(align: str, shape: tuple) -> None:
    """torch's ``bicubic`` is Keys' kernel with A = -0.75 and clamped taps: ours with ``border`` is the same
    function; ``align="edges"`` is ``align_corners=False``, ``"centers"`` is ``align_corners=True``."""
    rng = np.random.default_rng(17)
    space = Space((13, 17), spacing=(1.3, 0.7), origin=(5.0, -2.0))
    src = rng.standard_normal(space.shape)
    target = space.resize(shape, align=align)
    ours = warp_image(src, space, target, "cubic", "border")
    reference = torch.nn.functional.interpolate(
        torch.from_numpy(src)[None, None], size=shape, mode="bicubic", align_corners=align == "centers"
    )[0, 0].numpy()
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding_mode", ["border", "reflection"])
def test_cubic_is_torch_grid_sample_bicubic_on_the_general_path(padding_mode: str) -> None:
    """An oblique target through ``F.grid_sample(mode="bicubic", align_corners=False)`` on a grid made from the affines."""
    rng = np.random.default_rng(19)
    space = Space((15, 12), spacing=(0.9, 1.4), origin=(-3.0, 8.0))
    target = space.crop((-3, -2), (17, 15)).rotate(0.4).respace((0.8, 1.1))
    assert plan_warp(space, target).kind == "general"
    src = rng.standard_normal(space.shape)
    ours = warp_image(src, space, target, "cubic", padding_mode)
    x = oracles.source_coordinates(space.affine, target.affine, target.shape)  # (2, N) source indices
    normalised = (2.0 * x + 1.0) / np.array(space.shape)[:, None] - 1.0  # align_corners=False
    grid = torch.from_numpy(normalised[::-1].T.reshape(1, *target.shape, 2).copy())  # grid_sample wants (x, y) = (axis 1, axis 0)
    reference = torch.nn.functional.grid_sample(
        torch.from_numpy(src)[None, None], grid, mode="bicubic", padding_mode=padding_mode, align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-10)


# ---------------------------------------------------------------------------- anti-aliasing
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_anti_aliasing_is_smooth_then_sample_on_both_paths(mode: str, padding_mode: str) -> None:
    """Both paths (the Gaussian folded into the separable taps; the source window smoothed, then sampled)
    against the definition: the source smoothed by the voxel-integrated Gaussian of sigma (s - 1) / 2
    per shrinking axis (MONAI Resize's default), then sampled by the brute-force interpolator."""
    rng = np.random.default_rng(3)
    space = Space((23, 19, 11), spacing=(0.8, 1.1, 2.0))
    target = space.crop((2, -1, 0), (22, 19, 11)).respace((3.1, 2.2, 2.0))  # shrinks axes 0 and 1 only
    src = rng.standard_normal((2, *space.shape))
    options = WarpOptions.parse(mode, padding_mode, anti_aliasing=True)
    sep = warp_image(src, space, target, options=options)
    gen = warp_image(src, space, target, options=options, plan=_general(space, target))
    sigmas = [(3.1 / 0.8 - 1) / 2, (2.2 / 1.1 - 1) / 2, 0.0]  # by hand: target over source spacing
    order = 1 if mode == "linear" else 3
    expected = np.stack([oracles.interpolate(oracles.gaussian_smoothed(c, sigmas, padding_mode), space.affine, target.affine,
                                             target.shape, order, padding_mode) for c in src])
    np.testing.assert_allclose(sep, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gen, expected, rtol=0, atol=1e-5)  # the general path's linear runs in float32
    plain = warp_image(src, space, target, mode, padding_mode)
    assert np.abs(sep).std() < 0.8 * np.abs(plain).std()  # white noise shrunk 3x is damped
    constant = np.full(space.shape, 7.0)
    np.testing.assert_allclose(warp_image(constant, space, target, options=options), 7.0, atol=1e-9)


def test_anti_aliasing_smooths_only_what_shrinks_and_only_interpolating_modes() -> None:
    from monai_spacetx.engine.taps import anti_aliasing_sigmas

    on = WarpOptions.parse("linear", anti_aliasing=True)
    assert anti_aliasing_sigmas(on, [3.0, 1.0, 0.5]) == [1.0, 0.0, 0.0]  # MONAI's max(0, (s - 1) / 2)
    assert anti_aliasing_sigmas(on, [1.0, 0.5, 0.5]) == [0.0] * 3  # nothing shrinks: nothing smoothed
    assert anti_aliasing_sigmas(WarpOptions.parse("linear", anti_aliasing=True, anti_aliasing_sigma=0.7), [2.0, 1.0]) == [0.7, 0.7]
    for mode in ("nearest", "label"):
        assert anti_aliasing_sigmas(WarpOptions.parse(mode, anti_aliasing=True), [4.0, 4.0]) == [0.0, 0.0]
    with pytest.raises(ModeError, match="anti_aliasing_sigma has 2 values for a 3-D image"):
        anti_aliasing_sigmas(WarpOptions.parse("linear", anti_aliasing=True, anti_aliasing_sigma=(1.0, 2.0)), [2.0] * 3)
    labels = np.random.default_rng(0).integers(0, 3, (12, 12)).astype(np.uint8)
    space = Space((12, 12))
    same = [warp_image(labels, space, space.resize((4, 4)), options=WarpOptions.parse("nearest", anti_aliasing=aa)) for aa in (False, True)]
    assert np.array_equal(*same)


# ---------------------------------------------------------------------------- nnU-Net's separate z
@pytest.mark.parametrize("mode", ["linear", "cubic", "label"])
@pytest.mark.parametrize("thick_axis_mode", ["nearest", "linear"])
def test_thick_axis_is_resampled_apart_from_the_plane(mode: str, thick_axis_mode: str) -> None:
    """In-plane ``mode``, then ``thick_axis_mode`` along the 5 mm axis: two warps, each along its own axes."""
    rng = np.random.default_rng(5)
    source = Space((14, 12, 7), spacing=(0.9, 1.0, 5.0), origin=(3.0, -2.0, 10.0))
    target = source.respace((0.6, 0.7, 1.3))
    plane = Space((target.shape[0], target.shape[1], source.shape[2]), spacing=(0.6, 0.7, 5.0),
                  origin=(*target.origin[:2], source.origin[2]))  # the target's plane on the source's slices
    src = rng.integers(0, 4, (2, *source.shape)) if mode == "label" else rng.standard_normal((2, *source.shape))
    options = WarpOptions.parse(mode, "border", thick_axis_mode=thick_axis_mode)
    assert plan_warp(source, target).thick_source_axis(options.anisotropy_threshold) == 2
    out = warp_image(src, source, target, options=options)
    # the oracle: brute force from the raw affines, in-plane onto ``plane`` then along the thick axis
    a, p, b = source.affine, plane.affine, target.affine

    def sample(values: np.ndarray, how: str, s, t, shape) -> np.ndarray:
        if how == "label":
            return oracles.label_vote(values, s, t, shape, "border")
        if how == "nearest":
            return oracles.nearest(values, s, t, shape, padding="border")
        return oracles.interpolate(values, s, t, shape, 1 if how == "linear" else 3, "border")

    for c in range(2):
        if mode == "label" and thick_axis_mode == "linear":  # label taps are linear on every axis already: one vote
            assert oracles.label_vote_violations(out[c], src[c], a, b, target.shape, "border") == 0
            continue
        in_plane = sample(src[c], mode, a, p, plane.shape)
        expected = sample(in_plane, thick_axis_mode, p, b, target.shape)
        if mode == "label":  # the vote is in-plane, then the nearest slice: a label map stays one
            # an in-plane voxel whose best classes are within float64 round-off may go either way: left out
            classes = np.unique(src[c])
            probs = np.stack([oracles.interpolate(src[c] == k, a, p, plane.shape, 1, "border") for k in classes])
            ordered = np.sort(probs, axis=0)
            ambiguous = oracles.nearest((ordered[-1] - ordered[-2] < 1e-9).astype(np.uint8), p, b, target.shape, padding="border")
            assert ambiguous.mean() < 0.2 and np.array_equal(out[c][ambiguous == 0], expected[ambiguous == 0])
        else:
            np.testing.assert_allclose(out[c], expected, rtol=0, atol=1e-9)
            if (mode, thick_axis_mode) != ("linear", "linear"):  # and it is not the plain 3-D resample
                assert not np.allclose(out[c], sample(src[c], mode, a, b, target.shape), atol=1e-3)


def test_thick_axis_mode_needs_an_anisotropic_grid() -> None:
    src = np.random.default_rng(0).standard_normal((10, 9, 8))
    source, target = Space((10, 9, 8), spacing=(1.0, 1.0, 2.9)), Space((10, 9, 8), spacing=(1.0, 1.0, 2.9)).respace(0.7)
    options = WarpOptions.parse("linear", thick_axis_mode="nearest")
    assert plan_warp(source, target).thick_source_axis(3.0) is None  # 2.9 < 3: isotropic enough
    assert np.array_equal(warp_image(src, source, target, options=options), warp_image(src, source, target))
    # the target's thick axis counts too (nnU-Net checks the source first, then the target)
    coarse_z = source.respace((0.5, 0.5, 2.9))
    assert plan_warp(Space((10, 9, 8)), Space((10, 9, 8)).respace((1.0, 0.5, 4.0))).thick_source_axis(3.0) == 2
    assert plan_warp(source, coarse_z).thick_source_axis(3.0) == 2


def test_general_path_is_relative_to_origins() -> None:
    """A huge common world offset must not change the result (float64 relative grid)."""
    rng = np.random.default_rng(3)
    near = random_space(rng, 3, shape_range=(8, 12), origin_scale=1.0)
    target = near.rotate((0.3, -0.2, 0.1)).respace(0.7)
    shift = np.eye(4)
    shift[:3, 3] = [2e6, -3e6, 5e6]
    far, far_target = (Space.from_affine(shift @ s.affine, s.shape) for s in (near, target))
    src = torch.rand(near.shape)
    np.testing.assert_allclose(warp_image(src, far, far_target), warp_image(src, near, target), atol=2e-6)


# ---------------------------------------------------------------------------- label mode
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_label_mode_matches_the_per_class_definition_on_every_path(ndim: int, padding_mode: str) -> None:
    rng = np.random.default_rng(40 + ndim)
    space = random_space(rng, ndim, shape_range=(7, 12), origin_scale=100.0)
    targets = [
        space.crop([-2] * ndim, [n + 1 for n in space.shape]).respace(space.spacing * rng.uniform(0.3, 1.6, ndim)),
        space.flip(0).resize([13, 6, 9][:ndim]),
        space.rotate((0.3, -0.2, 0.4)[: 1 if ndim == 2 else 3]).respace(space.spacing * 0.7),
    ]
    for classes in (2, 5, 40):
        # blocky label maps (regions several voxels wide) plus salt noise: uniform and mixed taps
        coarse = rng.integers(0, classes, [n // 3 + 1 for n in space.shape])
        labels = np.kron(coarse, np.ones([3] * ndim, dtype=np.int64))[tuple(slice(0, n) for n in space.shape)]
        labels = np.where(rng.random(space.shape) < 0.1, rng.integers(0, classes, space.shape), labels).astype(np.int16) * 3 - 7
        for target in targets:
            plan = plan_warp(space, target)
            for forced in {plan.kind, "general"}:
                run = dataclasses.replace(plan, kind=forced)
                ours = warp_image(labels, space, target, "label", padding_mode, 99, plan=run)
                assert ours.dtype == labels.dtype
                violations = oracles.label_vote_violations(ours, labels, space.affine, target.affine, target.shape, padding_mode, 99)
                assert violations == 0, (classes, forced)


@pytest.mark.parametrize("padding_mode", ["zeros", "reflection"])
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_general_path_tiles_give_the_same_answer(monkeypatch: pytest.MonkeyPatch, ndim: int, mode: str, padding_mode: str) -> None:
    """The general path computes a rotated target tile by tile: tiles of a few voxels (uneven at
    the box's end, every axis split) give what one tile gives, the fill or the mirrored edge
    included. (The torch path: the compiled kernels on CPU work row by row, see tests/test_kernels.py.)"""
    import monai_spacetx.engine.general as general_engine
    from monai_spacetx.engine import compiled

    monkeypatch.setattr(compiled._state, "off", True, raising=False)  # the torch path, in this thread

    rng = np.random.default_rng(11 + ndim)
    space = random_space(rng, ndim, shape_range=(7, 12), origin_scale=1e3)
    target = space.crop([-4] * ndim, [n + 3 for n in space.shape]).rotate(np.radians([20.0, -10.0, 5.0][: 1 if ndim == 2 else 3]))
    src = rng.integers(0, 5, (2, *space.shape)) if mode == "label" else rng.standard_normal((2, *space.shape)).astype(np.float32)
    assert plan_warp(space, target).kind == "general"
    whole = warp_image(src, space, target, mode, padding_mode, -3)
    tiles = []
    tiler = general_engine.general_tiles

    def small_tiles(box, chunk=0):
        found = list(tiler(box, 23))
        tiles.append(len(found))
        return iter(found)

    monkeypatch.setattr(general_engine, "general_tiles", small_tiles)  # every mode's tiles, label's included
    tiled = warp_image(src, space, target, mode, padding_mode, -3)
    assert tiles and tiles[0] > 2 ** ndim
    if mode in ("nearest", "label"):
        assert np.array_equal(tiled, whole)
    else:  # coordinates are built from each tile's first voxel: round-off differs
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)
    assert (np.asarray(tiled) == -3).any() == (padding_mode == "zeros")


def test_label_mode_separable_spreads_cells_over_every_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """The separable path works per source cell: check it where cells reach many voxels (x3.3
    upsampling), one or none (shrinking), on a flipped axis, with two channels, and with the
    list of mixed cells split into blocks of a few cells."""
    import monai_spacetx.engine.label as label_engine

    monkeypatch.setattr(label_engine, "_SPREAD_BLOCK", 50)  # a few cells per block
    rng = np.random.default_rng(3)
    space = Space((9, 11, 8), spacing=(1.0, 0.8, 2.0))
    coarse = rng.integers(0, 6, (2, 5, 6, 4))
    labels = np.kron(coarse, np.ones((1, 2, 2, 2), dtype=np.int64))[:, :9, :11, :8]
    labels = np.where(rng.random(labels.shape) < 0.05, rng.integers(0, 6, labels.shape), labels).astype(np.int32)
    target = space.flip(1).respace((0.3, 1.7, 0.45))
    plan = plan_warp(space, target)
    assert plan.kind == "separable"
    ours = warp_image(labels, space, target, "label", "zeros", -1)
    for channel in range(2):
        assert oracles.label_vote_violations(ours[channel], labels[channel], space.affine, target.affine, target.shape, "zeros", -1) == 0


def test_label_mode_keeps_any_label_dtype() -> None:
    space = Space((9, 8, 7))
    labels = torch.randint(0, 200, space.shape)
    target = space.respace(0.6)
    expected = warp_image(labels, space, target, "label")
    for dtype in (torch.uint8, torch.int32, torch.float32, torch.float64, torch.uint16):
        out = warp_image(labels.to(dtype), space, target, "label")
        assert out.dtype == dtype and torch.equal(out.long(), expected)


# ---------------------------------------------------------------------------- dtypes, containers
def test_dtypes_and_containers() -> None:
    space = Space((8, 9, 7))
    target = space.respace(0.6).rotate((0.0, 0.2, 0.0))
    lab = torch.randint(0, 3, space.shape, dtype=torch.int16)
    assert warp_image(lab, space, target, "nearest").dtype == torch.int16
    assert warp_image(lab, space, target, "label").dtype == torch.int16
    assert warp_image(lab, space, target, "linear").dtype == torch.float32
    assert warp_image(lab > 0, space, target, "nearest").dtype == torch.bool
    assert warp_image(lab.double(), space, target, "cubic").dtype == torch.float64
    out = warp_image(lab.numpy(), space, target, "nearest")
    assert isinstance(out, np.ndarray) and out.dtype == np.int16 and out.shape == target.shape
    batch = torch.rand(2, 3, *space.shape)
    assert warp_image(batch, space, target).shape == (2, 3, *target.shape)
    flipped = np.flip(lab.numpy(), 0)  # negative strides are accepted
    assert warp_image(flipped, space, space.crop((1, 1, 1), (5, 5, 5)), "nearest").shape == (4, 4, 4)


def test_metatensor_is_treated_as_plain_tensor() -> None:
    from monai.data import MetaTensor

    space = Space((6, 7))
    x = MetaTensor(torch.rand(1, 6, 7, dtype=torch.float64), affine=torch.diag(torch.tensor([3.0, 5.0, 1.0, 1.0])))
    target = space.resize((4, 9))
    out = warp_image(x, space, target)
    assert type(out) is torch.Tensor and out.shape == (1, 4, 9)
    # the MetaTensor's own affine is ignored: the Spaces given decide
    expected = oracles.interpolate(x.as_tensor()[0].numpy(), space.affine, target.affine, target.shape, 1, "zeros")
    np.testing.assert_allclose(out[0].numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path", [None, "general"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_differentiable(mode: str, path) -> None:
    space = Space((5, 6), spacing=(1.0, 1.4))
    target = space.crop((-1, 1), (6, 6)).resize((7, 4))
    img = torch.rand(1, *space.shape, dtype=torch.float64, requires_grad=True)
    plan = dataclasses.replace(plan_warp(space, target), kind=path) if path else None
    assert torch.autograd.gradcheck(lambda x: warp_image(x, space, target, mode, fill=0.5, plan=plan), (img,))


def test_input_is_not_mutated() -> None:
    space = Space((6, 6))
    src = np.random.default_rng(0).random((6, 6))
    before = src.copy()
    for mode in MODES[:3]:
        warp_image(src, space, space.rotate(0.3), mode)
    assert np.array_equal(src, before)


# ---------------------------------------------------------------------------- bad input
def test_bad_input_messages() -> None:
    space = Space((6, 7))
    img = torch.rand(6, 7)
    with pytest.raises(ShapeMismatchError, match=r"spatial shape \(7, 6\) does not match source.shape \(6, 7\)"):
        warp_image(torch.rand(7, 6), space, space)
    with pytest.raises(ShapeMismatchError, match=r"\(B, C, \*spatial\) for a 2-D source space .*got shape \(1, 1, 1, 6, 7\)"):
        warp_image(torch.rand(1, 1, 1, 6, 7), space, space)
    with pytest.raises(ShapeMismatchError, match=r"got shape \(6,\)"):
        warp_image(torch.rand(6), space, space)
    with pytest.raises(ModeError, match=r"mode must be one of .*got 'bilinar'"):
        warp_image(img, space, space, mode="bilinar")
    with pytest.raises(ModeError, match=r"padding_mode must be one of .*got 'wrap'"):
        warp_image(img, space, space, padding_mode="wrap")
    with pytest.raises(ModeError, match=r"padding_mode must be .*got None"):
        warp_image(img, space, space, padding_mode=None)
    with pytest.raises(ModeError, match=r"fill must be a finite number, got 'zeros'"):
        warp_image(img, space, space, fill="zeros")
    with pytest.raises(ModeError, match=r"fill=0.5 cannot be stored in an output of dtype torch.int64"):
        warp_image(torch.zeros(6, 7, dtype=torch.long), space, space.pad(1), "nearest", fill=0.5)
    with pytest.raises(ModeError, match=r"fill=2.0 cannot be stored in an output of dtype torch.bool"):
        warp_image(torch.zeros(6, 7, dtype=torch.bool), space, space.pad(1), "nearest", fill=2)
    with pytest.raises(ShapeMismatchError, match=r"plan maps \(6, 7\) -> \(8, 9\), but source.shape is \(6, 7\) and target.shape is \(6, 7\)"):
        warp_image(img, space, space, plan=plan_warp(space, space.pad(1)))
    with pytest.raises(SpaceTypeError, match=r"image must be a torch.Tensor or a numpy.ndarray, got list"):
        warp_image([[0.0] * 7] * 6, space, space)
    with pytest.raises(SpaceTypeError, match=r"numeric or bool dtype, got numpy dtype object"):
        warp_image(np.empty((6, 7), dtype=object), space, space)
    with pytest.raises(SpaceTypeError, match=r"target must be a monai_spacetx.Space, got ndarray"):
        warp_image(img, space, np.eye(3))
    with pytest.raises(SpaceError, match=r"same dimensionality, got source 2-D \(6, 7\) and target 3-D \(6, 7, 2\)"):
        warp_image(img, space, Space((6, 7, 2)))
    with pytest.raises(SpaceError, match=r"spacing must be finite"):
        warp_image(img, space, Space((6, 7), spacing=(1.0, float("nan"))))


def test_numpy_arrays_torch_cannot_wrap_are_converted() -> None:
    """nibabel's dataobj hands out big-endian arrays; np.longdouble becomes float64."""
    space = Space((6, 7))
    target = space.crop((1, 1), (5, 6)).resize((7, 9))
    native = np.random.default_rng(1).random((6, 7))
    expected = warp_image(native, space, target)
    big = native.astype(">f8")
    np.testing.assert_array_equal(warp_image(big, space, target), expected)
    assert warp_image(big, space, target).dtype == np.float64
    labels = (native * 5).astype(">i2")
    out = warp_image(labels, space, target, "nearest")
    assert out.dtype == np.int16 and np.array_equal(out, warp_image(labels.astype(np.int16), space, target, "nearest"))
    wide = warp_image(native.astype(np.longdouble), space, target)
    assert wide.dtype == np.float64 and np.array_equal(wide, expected)
    assert big.dtype == ">f8"  # the input is not touched
    frozen = native.copy()
    frozen.flags.writeable = False  # a read-only memory map: no warning, no copy needed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(warp_image(frozen, space, target), expected)


@pytest.mark.parametrize("mode", ["linear", "cubic", "nearest"])
def test_complex_input_is_resampled_per_part(mode: str) -> None:
    rng = np.random.default_rng(2)
    space = Space((7, 8), spacing=(1.0, 1.3))
    src = rng.random((2, 7, 8)) + 1j * rng.random((2, 7, 8))
    for target in (space.respace(0.7), space.rotate(0.3), space.crop((1, 2), (5, 7))):
        out = warp_image(src, space, target, mode, fill=-2.0)
        assert out.dtype == np.complex128
        np.testing.assert_allclose(out.real, warp_image(src.real.copy(), space, target, mode, fill=-2.0), atol=1e-12)
        # the fill is the complex number fill + 0j
        np.testing.assert_allclose(out.imag, warp_image(src.imag.copy(), space, target, mode, fill=0.0), atol=1e-12)


def test_label_mode_refuses_what_is_not_a_label_map() -> None:
    space = Space((6, 7))
    target = space.respace(0.6)
    probs = torch.linspace(0, 1, 42).reshape(6, 7)
    with pytest.raises(ModeError, match=r"mode 'label' needs integer class values, got a torch.float32 image with 42 distinct"):
        warp_image(probs, space, target, "label")
    with pytest.raises(SpaceTypeError, match=r"mode 'label' needs real-valued labels, got dtype torch.complex64"):
        warp_image(torch.zeros(6, 7, dtype=torch.complex64), space, target, "label")
    float_labels = torch.randint(0, 4, (6, 7)).float()  # MONAI loads label maps as float32: accepted
    out = warp_image(float_labels, space, target, "label")
    assert out.dtype == torch.float32 and set(out.unique().tolist()) <= {0.0, 1.0, 2.0, 3.0}


def test_repeated_calls_keep_each_calls_own_options() -> None:
    """Calls with the same mode and padding but another fill (``-0.0`` against ``0.0`` too: other bits)
    or another mode each get their own: the outside voxels hold that call's fill, bit for bit."""
    space = Space((6, 7))
    target = space.crop((-2, -2), (8, 9)).rotate(0.3)
    image = torch.rand(1, *space.shape)
    outside = torch.from_numpy(np.asarray(oracles.interpolate(np.ones(space.shape), space.affine, target.affine, target.shape, 0, "zeros", 0.0)) == 0)
    assert bool(outside.any())
    for fill in (0.0, -0.0, 2.5, 0.0, -0.0):
        for mode in ("nearest", "linear", "nearest"):
            out = warp_image(image, space, target, mode, "zeros", fill)[0]
            values = out[outside]
            assert bool((values == fill).all()) and bool((torch.signbit(values) == (math.copysign(1.0, fill) < 0)).all()), (fill, mode)


def test_engine_uses_only_the_free_cpus(monkeypatch) -> None:
    from monai_spacetx.engine import threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        cpu = torch.device("cpu")
        monkeypatch.setattr(threads, "PROBE_SECONDS", 0.0)  # each call counts again (the patched counts)
        monkeypatch.setattr(threads, "_usable_cpus", lambda: 2)
        monkeypatch.setattr(threads, "other_running_tasks", lambda: 1.0)  # one core busy elsewhere
        with threads.engine_threads(cpu) as used:
            assert used == 1 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2  # restored
        with threads.engine_threads(torch.device("meta")) as used:  # not CPU work: untouched
            assert used == 2
        monkeypatch.setattr(threads, "other_running_tasks", lambda: 7.0)
        assert threads.free_cpus() == 1  # never fewer than one
        monkeypatch.setattr(threads, "other_running_tasks", lambda: 0.0)
        with threads.engine_threads(cpu) as used:
            assert used == 2 and torch.get_num_threads() == 2
        space = Space((6, 7))
        monkeypatch.setattr(threads, "other_running_tasks", lambda: 1.0)
        out = warp_image(torch.rand(6, 7), space, space.respace(0.5))
        assert out.shape == (12, 14) and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_count_of_the_free_cpus_stands_for_probe_seconds(monkeypatch) -> None:
    """Calls within ``PROBE_SECONDS`` of a count use it without reading ``/proc`` again; an older count is read again."""
    from monai_spacetx.engine import threads

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    reads = []
    clock = [100.0]
    monkeypatch.setattr(threads, "_last_count", (-float("inf"), 1))
    monkeypatch.setattr(threads, "_usable_cpus", lambda: 2)
    monkeypatch.setattr(threads, "other_running_tasks", lambda: reads.append(1) or (1.0 if len(reads) == 1 else 0.0))
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    try:
        used = []
        for now in (100.0, 100.0 + threads.PROBE_SECONDS / 2, 100.0 + threads.PROBE_SECONDS * 1.01, 100.0 + threads.PROBE_SECONDS * 1.5):
            clock[0] = now
            with threads.engine_threads(torch.device("cpu")) as count:
                used.append(count)
        assert used == [1, 1, 2, 2] and len(reads) == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("loadavg, others, free", [("0.52 0.40 0.31 3/250 12345\n", 2.0, 2), ("0.00 0.01 0.05 1/97 4242\n", 0.0, 4), ("9.0 9.0 9.0 12/300 1\n", 11.0, 1)])
def test_other_running_tasks_reads_the_running_count(monkeypatch, loadavg: str, others: float, free: int) -> None:
    """``/proc/loadavg``'s 4th field ``running/total``: the others are ``running - 1`` (the caller itself runs)."""
    import io

    from monai_spacetx.engine import threads

    opened = []

    def fake_open(path, *args, **kwargs):
        opened.append(path)
        return io.StringIO(loadavg)

    monkeypatch.setattr(threads, "open", fake_open, raising=False)
    monkeypatch.setattr(threads, "_usable_cpus", lambda: 4)
    assert threads.other_running_tasks() == others
    assert threads.free_cpus() == free
    assert opened and opened[0] == "/proc/loadavg"


# ---------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("mode", MODES)
def test_cuda_matches_cpu(mode: str) -> None:
    rng = np.random.default_rng(11)
    space = random_space(rng, 3, shape_range=(10, 16))
    src = torch.from_numpy(rng.integers(0, 3, (2, *space.shape)) if mode == "label" else rng.random((2, *space.shape)))
    for target in (space.crop((2, 2, 2), (9, 9, 9)), space.respace(0.7), space.rotate((0.2, 0.1, 0.3))):
        for padding_mode in ("zeros", "border", "reflection"):
            cpu = warp_image(src, space, target, mode, padding_mode)
            gpu = warp_image(src.cuda(), space, target, mode, padding_mode)
            assert gpu.device.type == "cuda" and gpu.dtype == cpu.dtype
            torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-6)


@pytest.mark.parametrize("padding_mode, fill", PADDINGS)
def test_periodic_innermost_lerp_matches_general(padding_mode: str, fill: float) -> None:
    """Rational scales (2.0 -> 1.5 mm: 4/3 and 3/4) take the strided-lerp shortcut on inner
    and outer axes, whose clamped edges are gathered; it must equal the brute-force interpolator
    from the raw affines (and so must the general path)."""
    space = Space((36, 5, 40), spacing=(2.0, 1.0, 2.0), origin=(3.0, -2.0, 50.0))
    src = torch.rand(2, *space.shape, dtype=torch.float64)

    def expected(values: torch.Tensor, source: Space, target: Space) -> np.ndarray:
        return np.stack([oracles.interpolate(c, source.affine, target.affine, target.shape, 1, padding_mode, fill) for c in values.numpy()])

    for target in (
        space.crop((-2, 0, -3), (37, 5, 44)).respace((1.5, 1.0, 1.5)),
        space.respace((2.5 * 2.0, 1.0, 2.5 * 2.0)),
        space.permute((2, 1, 0)).respace((0.8, 1.0, 1.6)),
    ):
        fine = warp_image(src, space, target, "linear", padding_mode, fill)
        assert plan_warp(space, target).kind == "separable"
        np.testing.assert_allclose(fine, expected(src, space, target), rtol=0, atol=1e-12)
        general = warp_image(src, space, target, "linear", padding_mode, fill, plan=_general(space, target))
        np.testing.assert_allclose(general, expected(src, space, target), rtol=0, atol=1e-12)
        back = warp_image(fine, target, space, "linear", padding_mode, fill)
        np.testing.assert_allclose(back, expected(fine, target, space), rtol=0, atol=1e-12)


def test_float32_affines_keep_the_fast_exact_paths():
    """NIfTI stores affines in float32: couplings of ~1e-8 per voxel must not force the general path."""
    from monai_spacetx.engine.plan import plan_warp
    from monai_spacetx.geometry.tolerances import PLAN_TOL

    angle = 0.35
    direction = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1.0]])
    exact = Space((256, 256, 120), spacing=(0.78125, 0.78125, 2.5), direction=direction)
    rounded = Space.from_affine(exact.affine.astype(np.float32).astype(np.float64), exact.shape)
    working = Space.from_affine(exact.respace((0.6, 0.57, 1.6)).affine, exact.respace((0.6, 0.57, 1.6)).shape)
    assert plan_warp(working, rounded).kind == "separable"
    shifted = Space.from_affine(rounded.crop((3, 4, 5), (200, 180, 100)).affine.astype(np.float32), (197, 176, 95))
    assert plan_warp(rounded, shifted).kind == "index"
    # a real (non-negligible) rotation still goes the general way
    assert plan_warp(exact, exact.rotate((0.0, 0.0, 10 * PLAN_TOL / 256))).kind == "general"


# ---------------------------------------------------------------------------- tie rules, by hand
@pytest.mark.parametrize("path", ["separable", "general"])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_nearest_ties_go_to_the_higher_index(ndim: int, path: str) -> None:
    """Shrinking 4 -> 2 voxels puts each target centre exactly on a source voxel boundary
    (x = 0.5 and 2.5): the tie rule (docs/conventions.md, rule 3) picks voxels 1 and 3."""
    shape = (4, 4, 4)[:ndim] if ndim > 1 else (4, 1)
    space = Space(shape, spacing=(0.7, 1.3, 2.0)[: len(shape)], origin=(5.0, -3.0, 11.0)[: len(shape)])
    target = space.resize(tuple(2 if n == 4 else n for n in shape))
    src = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    plan = plan_warp(space, target)
    assert plan.kind == "separable"
    out = warp_image(src, space, target, "nearest", plan=dataclasses.replace(plan, kind=path))
    expected = src[tuple(slice(1, None, 2) if n == 4 else slice(None) for n in shape)]
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("grouped", [False, True], ids=["one-pass", "grouped"])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_argmax_export_ties_go_to_the_smaller_class(monkeypatch, mode: str, grouped: bool) -> None:
    """``warp_argmax``: identical channels tie exactly, and the smallest class index wins (torch.argmax's rule).
    A 2x upsampling has dyadic weights (t = 1/4, 3/4), so every interpolated value below is exact.
    ``grouped``: a tiny memory budget makes the dense (cubic) path score the channels in groups of 4,
    so the tie between classes 0 and 4 is decided across groups by its running maximum."""
    import monai_spacetx.engine.export as export
    from monai_spacetx.engine.export import warp_argmax

    if grouped:
        monkeypatch.setattr(export, "_DENSE_BYTES", 16)

    space = Space((6, 8))
    target = space.resize((12, 16))
    base = torch.from_numpy(np.random.default_rng(5).integers(0, 8, (6, 8)).astype(np.float64) / 8)
    bump = torch.zeros(6, 8, dtype=torch.float64)
    bump[2:4, 3:6] = 0.5
    # classes 0, 2 and 4 are the same map; class 1 is higher on the block; class 3 always lower
    image = torch.stack([base, base + bump, base, base - 1.0, base])
    labels, _ = warp_argmax(image, space, target, WarpOptions.parse(mode, "border"))
    lifted = oracles.interpolate(bump.numpy(), space.affine, target.affine, target.shape, 1 if mode == "linear" else 3, "border")
    expected = np.where(lifted > 0, 1, 0)  # lifted <= 0: classes 0, 2, 4 tie at the top (or 1 falls below): class 0
    assert (expected == 1).any() and (expected == 0).any()
    np.testing.assert_array_equal(labels[0].numpy(), expected)
    # two classes meeting half-way: shrinking 6 -> 3 rows samples x = 0.5, 2.5, 4.5, and at 2.5 the
    # classes (rows < 3, rows >= 3) weigh 1/2 each, linear and cubic alike (Keys' weights are symmetric)
    rows = torch.arange(6, dtype=torch.float64)[:, None].expand(6, 8)
    halves = torch.stack([(rows < 3).double(), (rows >= 3).double()])
    labels, _ = warp_argmax(halves, space, space.resize((3, 4)), WarpOptions.parse(mode, "border"))
    np.testing.assert_array_equal(labels[0].numpy(), np.array([[0] * 4, [0] * 4, [1] * 4]))
    # an oblique target: the three identical channels tie at every voxel
    oblique = space.rotate(0.3).respace(0.7)
    labels, _ = warp_argmax(torch.stack([base, base, base - 1.0, base]), space, oblique, WarpOptions.parse(mode, "border"))
    assert int(labels.count_nonzero()) == 0
