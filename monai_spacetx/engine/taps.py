"""1-D interpolation taps shared by every path: which source voxels a coordinate reads, with which weights.

Boundary conventions (``x`` is the continuous source index of a target voxel's centre, already
snapped by the plan):

- ``"zeros"`` (constant) padding: a target voxel is inside when ``-0.5 <= x <= n - 0.5`` on
  every axis (the source field of view, edges included); inside, interpolation taps that fall
  off the grid are clamped to the edge voxel (edge voxels are not darkened, as in ITK);
  outside, the voxel is ``fill`` (the paths never compute it).
- ``"border"``: taps are clamped to ``[0, n - 1]``.
- ``"reflection"``: taps are reflected about the voxel edges ``-0.5`` and ``n - 0.5``
  (``grid_sample(..., align_corners=False)``); linear reflects the coordinate, cubic and
  nearest reflect each tap index.

Nearest takes source index ``floor(x + 0.5)``: voxel ``i`` owns ``[i - 0.5, i + 0.5)``, exact ties
go up. Cubic is Keys' cubic convolution with ``A = -0.75`` (torch's bicubic).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from ..geometry.tolerances import SNAP_TOL
from .options import WarpOptions

__all__ = ["Tap", "Taps", "CUBIC_A", "axis_taps", "cubic_weights", "wrap_index", "wrap_coord", "snap_half", "weight_of"]

#: One tap: int64 source indices and their weights (``None``: a unit weight, a pure gather).
Tap = Tuple[torch.Tensor, Optional[torch.Tensor]]
#: The taps of one axis, 1 (gather), 2 (linear) or 4 (cubic).
Taps = List[Tap]

#: Keys' parameter; torch's ``bicubic`` uses the same.
CUBIC_A = -0.75


def snap_half(x: torch.Tensor) -> torch.Tensor:
    """``x`` with values within ``SNAP_TOL`` of an integer or half-integer snapped to it.

    For per-voxel coordinates of the general path; axis-aligned plans come snapped
    (:meth:`~monai_spacetx.engine.WarpPlan.axis_coords`).
    """
    nearest = torch.round(2.0 * x) / 2.0
    return torch.where((x - nearest).abs() <= SNAP_TOL, nearest, x)


def wrap_index(i: torch.Tensor, n: int, options: WarpOptions) -> torch.Tensor:
    """Integer tap indices → valid indices (reflection about the voxel edges, else clamp)."""
    if options.padding_mode == "reflection":
        i = torch.remainder(i, 2 * n)
        i = torch.where(i >= n, 2 * n - 1 - i, i)
    return i.clamp(0, n - 1)


def wrap_coord(x: torch.Tensor, n: int, options: WarpOptions) -> torch.Tensor:
    """Continuous coordinates → ``[0, n - 1]`` (reflection about ``-0.5``/``n - 0.5``, else clamp)."""
    if options.padding_mode == "reflection":
        y = torch.remainder(x + 0.5, 2.0 * n)
        x = torch.where(y > n, 2.0 * n - y, y) - 0.5
    return x.clamp(0.0, n - 1.0)


def cubic_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """Keys weights for taps at ``floor(x) + (-1, 0, 1, 2)``, ``t = x - floor(x)`` in ``[0, 1)``."""
    a = CUBIC_A

    def near(d: torch.Tensor) -> torch.Tensor:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: torch.Tensor) -> torch.Tensor:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def axis_taps(x: torch.Tensor, n: int, mode: str, options: WarpOptions) -> Taps:
    """Interpolation taps ``[(index, weight), ...]`` for snapped source coordinates ``x`` along an axis of ``n`` voxels.

    A single unit tap (``weight is None``) for nearest and for linear at integral ``x``.
    """
    if mode == "nearest":
        return [(wrap_index(torch.floor(x + 0.5).long(), n, options), None)]
    if mode in ("linear", "label"):
        xw = wrap_coord(x, n, options)
        i0 = torch.floor(xw)
        w = xw - i0
        i0l = i0.long()
        if not bool((w != 0).any()):
            return [(i0l, None)]
        return [(i0l, 1.0 - w), ((i0l + 1).clamp(max=n - 1), w)]
    base = torch.floor(x)
    weights = cubic_weights(x - base)
    return [(wrap_index(base.long() + k - 1, n, options), weights[k]) for k in range(4)]


def weight_of(tap: Tap) -> torch.Tensor:
    """The weights of a tap that has them (every tap of a multi-tap axis does)."""
    assert tap[1] is not None
    return tap[1]
