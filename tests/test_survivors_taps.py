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
