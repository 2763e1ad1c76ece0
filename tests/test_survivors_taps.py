"""Tests written to kill the mutants of ``engine/taps.py`` that mutmut left alive (tests/mutation/run_mutmut.py).

Each test names the mutants it kills and checks against an outside oracle: MONAI's own Gaussian
(``monai.networks.layers.convutils.gaussian_1d``), torch's ``adaptive_avg_pool1d`` (the windows of
``F.interpolate(mode="area")``), numpy's ``np.pad`` edge/symmetric, or values by hand. Survivors shown
equivalent are listed with their reasons in the mutation notes. Small 1-D tensors: milliseconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monai_spacetx.engine import WarpOptions
from monai_spacetx.engine.taps import gaussian_kernel, kernel_radius


@pytest.mark.parametrize("sigma", [0.05, 0.1, 0.124, 0.126, 0.3, 0.5, 0.62, 0.63, 1.0, 1.37, 2.5])
def test_gaussian_kernel_is_monais_erf_gaussian(sigma: float):
    """kernel_radius and gaussian_kernel against MONAI's ``gaussian_1d(sigma, truncated=4, "erf", normalize=True)``
    (MONAI's GaussianSmooth, which MONAI's Resize(anti_aliasing=True) uses): the same length (its tail is
    ``int(max(4 sigma, 0.5) + 0.5)``, sigmas either side of the rounding points 0.125 and 0.625), the same
    values to MONAI's float32."""
    from monai.networks.layers.convutils import gaussian_1d

    theirs = gaussian_1d(torch.tensor(sigma), truncated=4.0, approx="erf", normalize=True).double()
    ours = gaussian_kernel(sigma, torch.device("cpu"))
    assert ours.dtype == torch.float64
    assert ours.numel() == theirs.numel() == 2 * kernel_radius(sigma) + 1
    torch.testing.assert_close(ours, theirs, rtol=0, atol=2e-7)
    assert float(ours.sum()) == pytest.approx(1.0, abs=1e-15)


def test_no_smoothing_has_radius_zero():
    """kernel_radius(0) (and below): no kernel."""
    assert kernel_radius(0.0) == 0 and kernel_radius(-1.0) == 0


def _apply(taps, values: torch.Tensor) -> torch.Tensor:
    """A 1-D signal sampled through taps: sum of values[index] * weight (a unit tap without weights)."""
    return sum(values[i] * (1.0 if w is None else w) for i, w in taps)


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_area_taps_are_adaptive_average_pooling(padding_mode: str):
    """area_taps: resizing n voxels to m (edges kept: centre x = (j + 0.5) n / m - 0.5, width n / m) takes the
    windows and equal weights of torch's ``adaptive_avg_pool1d`` (``F.interpolate(mode="area")``), shrinking,
    growing and keeping, for every n, m up to 13; a window never leaves the axis, whatever the padding."""
    from monai_spacetx.engine.taps import area_taps

    options = WarpOptions(mode="area", padding_mode=padding_mode)
    for n in range(1, 14):
        values = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(n))
        for m in range(1, 14):
            x = (torch.arange(m, dtype=torch.float64) + 0.5) * (n / m) - 0.5
            ours = _apply(area_taps(x, n, n / m, options), values)
            theirs = torch.nn.functional.adaptive_avg_pool1d(values[None, None], m)[0, 0]
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12, msg=f"{n} -> {m}")


@pytest.mark.parametrize("padding_mode, numpy_mode", [("zeros", "edge"), ("border", "edge"), ("reflection", "symmetric")])
def test_wrap_index_is_numpys_edge_and_symmetric_padding(padding_mode: str, numpy_mode: str):
    """wrap_index: a tap index off the grid reads what ``np.pad`` puts there (``edge``: the edge voxel; ``symmetric``:
    the mirror image about the voxel edges, repeating), for axes of 1 to 5 voxels and taps up to three lengths out."""
    from monai_spacetx.engine.taps import pad_by_rule, wrap_index

    options = WarpOptions(padding_mode=padding_mode)
    for n in range(1, 6):
        reach = 3 * n + 2
        expected = np.pad(np.arange(n), reach, mode=numpy_mode)
        got = wrap_index(torch.arange(-reach, n + reach), n, options)
        assert got.tolist() == expected.tolist(), n
        values = torch.arange(n, dtype=torch.float64)[None] * 10.0
        padded = pad_by_rule(values, 1, reach, 2, options)
        assert padded[0].tolist() == (np.pad(np.arange(n) * 10.0, (reach, 2), mode=numpy_mode)).tolist(), n


@pytest.mark.parametrize("padding_mode", ["border", "reflection"])
def test_wrap_coord_is_grid_samples_padding(padding_mode: str):
    """wrap_coord: torch's ``grid_sample(..., align_corners=False)`` samples a ramp (value = index) at the coordinate
    its padding rule gives, clamped to ``[0, n - 1]``; so linear interpolation of the ramp at x equals wrap_coord(x)."""
    from monai_spacetx.engine.taps import wrap_coord

    options = WarpOptions(padding_mode=padding_mode)
    for n in range(1, 6):
        x = torch.linspace(-3.0 * n - 0.75, 4.0 * n + 0.75, 97, dtype=torch.float64)
        ramp = torch.arange(n, dtype=torch.float64).reshape(1, 1, 1, n)
        grid = torch.stack([(2.0 * x + 1.0) / n - 1.0, torch.zeros_like(x)], dim=-1).reshape(1, 1, -1, 2)
        theirs = torch.nn.functional.grid_sample(ramp, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
        torch.testing.assert_close(wrap_coord(x, n, options), theirs.reshape(-1), rtol=0, atol=1e-12, msg=str(n))
    # clamp=False (reflection only): reflected into [-0.5, n - 0.5] and no further, by hand for n = 4 (period 8 in x + 0.5)
    x = torch.tensor([-0.75, -0.5, 3.75, 5.0, 9.0, -4.5, 3.5, 0.25], dtype=torch.float64)
    reflected = wrap_coord(x, 4, WarpOptions(padding_mode="reflection"), clamp=False)
    assert reflected.tolist() == [-0.25, -0.5, 3.25, 2.0, 1.0, 3.5, 3.5, 0.25]
    assert wrap_coord(x, 4, WarpOptions(padding_mode="border"), clamp=False).tolist() == x.tolist()  # nothing to reflect


def test_snap_half_by_hand():
    """snap_half (_14): values within SNAP_TOL = 1e-9 of an integer or a half-integer become it, others stay."""
    from monai_spacetx.engine.taps import snap_half

    x = torch.tensor([0.5 + 5e-10, 0.5 + 3e-9, 2.0 - 8e-10, 2.25, -1.5 - 9e-10, -0.7, 3.0 + 1.5e-9], dtype=torch.float64)
    assert snap_half(x).tolist() == [0.5, 0.5 + 3e-9, 2.0, 2.25, -1.5, -0.7, 3.0 + 1.5e-9]
    # snap_half_14 (``<`` for ``<=``): the bound is included, as in geometry.points.snap (1e-9 from 0 is exactly SNAP_TOL)
    assert snap_half(torch.tensor([1e-9, -1e-9, 1.1e-9], dtype=torch.float64)).tolist() == [0.0, 0.0, 1.1e-9]


def test_anti_aliasing_sigmas_by_monais_rule():
    """anti_aliasing_sigmas (_9, _10, _12): MONAI Resize's ``max(0, (s - 1) / 2)`` per shrinking axis (0 where an axis grows),
    area smoothed like linear and cubic, a per-axis sigma kept per axis, nothing when no axis shrinks."""
    from monai_spacetx.engine.taps import anti_aliasing_sigmas

    for mode in ("linear", "cubic", "area"):
        on = WarpOptions(mode=mode, anti_aliasing=True)
        assert anti_aliasing_sigmas(on, [5.0, 0.25, 1.0]) == [2.0, 0.0, 0.0], mode
        assert anti_aliasing_sigmas(on, [1.0, 1.0]) == [0.0, 0.0] and anti_aliasing_sigmas(on, [1.5]) == [0.25]
        per_axis = WarpOptions(mode=mode, anti_aliasing=True, anti_aliasing_sigma=(0.5, 0.0, 1.5))
        assert anti_aliasing_sigmas(per_axis, [2.0, 0.5, 1.0]) == [0.5, 0.0, 1.5]
        assert anti_aliasing_sigmas(WarpOptions(mode=mode, anti_aliasing=True, anti_aliasing_sigma=0.3), [0.5, 2.0]) == [0.3, 0.3]
    assert anti_aliasing_sigmas(WarpOptions(mode="linear", anti_aliasing=False), [4.0, 4.0]) == [0.0, 0.0]
    # _12 (``<`` for ``<=``): MONAI's Resize smooths only when some axis shrinks; an axis kept (s = 1) is no shrink,
    # even with a sigma given
    assert anti_aliasing_sigmas(WarpOptions(anti_aliasing=True, anti_aliasing_sigma=0.3), [1.0, 1.0]) == [0.0, 0.0]
    from monai_spacetx.errors import ModeError

    with pytest.raises(ModeError, match=r"^anti_aliasing_sigma has 3 values for a 2-D image, got \(0\.5, 0\.0, 1\.5\)$"):
        anti_aliasing_sigmas(WarpOptions(anti_aliasing=True, anti_aliasing_sigma=(0.5, 0.0, 1.5)), [2.0, 2.0])


def test_anti_aliasing_of_a_float32_image_on_the_general_path():
    """smooth_2 (the kernel left in float64 for a float32 window): a float32 image shrunk with anti-aliasing on the
    general path equals the brute-force definition (the source smoothed by the erf Gaussian of sigma (s - 1) / 2 per
    shrinking axis, then sampled linearly; tests/oracles.py) to float32 round-off, and stays float32."""
    import dataclasses

    import oracles
    from monai_spacetx import Space
    from monai_spacetx.engine import plan_warp, warp_image

    space = Space((21, 17), spacing=(0.8, 1.1))
    target = space.respace((2.4, 1.1))  # shrinks axis 0 three times: sigma (3 - 1) / 2 = 1
    src = np.random.default_rng(5).standard_normal(space.shape).astype(np.float32)
    plan = dataclasses.replace(plan_warp(space, target), kind="general")
    out = warp_image(src, space, target, options=WarpOptions(anti_aliasing=True, padding_mode="border"), plan=plan)
    assert out.dtype == np.float32
    expected = oracles.interpolate(oracles.gaussian_smoothed(src, [1.0, 0.0], "border"), space.affine, target.affine,
                                   target.shape, 1, "border")
    np.testing.assert_allclose(out, expected, rtol=0, atol=2e-6)


def test_area_taps_of_no_coordinates_is_one_empty_unit_tap():
    """area_taps_34 (``count.max()`` of an empty tensor), _36 (two taps): an empty run of target voxels (a chunk or a
    box with nothing in it) gives one unit tap with no indices, as for any window of one voxel."""
    from monai_spacetx.engine.taps import area_taps

    taps = area_taps(torch.empty(0, dtype=torch.float64), 5, 2.0, WarpOptions(mode="area"))
    assert len(taps) == 1 and taps[0][1] is None and taps[0][0].numel() == 0 and taps[0][0].dtype == torch.int64


@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_area_with_anti_aliasing_is_smooth_then_block_mean(padding_mode: str):
    """area_taps_44..48 (the smoothed area taps never tested): area with anti-aliasing is the source smoothed by the
    erf Gaussian of sigma (s - 1) / 2 per shrinking axis (tests/oracles.py, scipy; edges replicated, or mirrored for
    reflection), then torch's ``adaptive_avg_pool2d``. 12 x 10 -> 4 x 5: s = 3 and 2, sigma = 1 and 0.5."""
    import oracles
    from monai_spacetx import Space
    from monai_spacetx.engine import warp_image

    space = Space((12, 10), spacing=(0.7, 1.2))
    src = np.random.default_rng(11).standard_normal(space.shape)
    ours = warp_image(src, space, space.resize((4, 5)), options=WarpOptions(mode="area", padding_mode=padding_mode, anti_aliasing=True))
    smoothed = torch.from_numpy(oracles.gaussian_smoothed(src, [1.0, 0.5], padding_mode))
    expected = torch.nn.functional.adaptive_avg_pool2d(smoothed[None, None], (4, 5))[0, 0].numpy()
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)


def test_axis_taps_defaults_are_no_smoothing_and_one_voxel_wide():
    """axis_taps_1, _2, _62, _63, _64 (the defaults ``sigma=0``, ``width=1`` changed): by hand, linear at x = 0 and 1.5 on 4 voxels is
    voxel 0 whole and half of voxels 1 and 2; area at integral x on 3 voxels is each voxel itself."""
    from monai_spacetx.engine.taps import axis_taps

    linear = axis_taps(torch.tensor([0.0, 1.5], dtype=torch.float64), 4, "linear", WarpOptions())
    assert [(i.tolist(), w.tolist()) for i, w in linear] == [([0, 1], [1.0, 0.5]), ([1, 2], [0.0, 0.5])]
    # axis_taps_62..64: the first tap's weight is 1 - w (the separable path's lerp reads only w, so only the taps tell);
    # at integral x one unit tap, as documented
    integral = axis_taps(torch.tensor([0.0, 2.0, 3.0], dtype=torch.float64), 4, "linear", WarpOptions())
    assert len(integral) == 1 and integral[0][0].tolist() == [0, 2, 3] and integral[0][1] is None
    area = axis_taps(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 3, "area", WarpOptions(mode="area"))
    assert len(area) == 1 and area[0][0].tolist() == [0, 1, 2] and area[0][1] is None
