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

from ..errors import ModeError
from ..geometry.tolerances import SNAP_TOL
from .options import WarpOptions

__all__ = ["Tap", "Taps", "CUBIC_A", "axis_taps", "area_taps", "kernel_radius", "gaussian_kernel", "anti_aliasing_sigmas", "pad_by_rule", "smooth", "cubic_weights", "wrap_index", "wrap_coord", "snap_half", "weight_of"]

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


def wrap_coord(x: torch.Tensor, n: int, options: WarpOptions, clamp: bool = True) -> torch.Tensor:
    """Continuous coordinates → ``[0, n - 1]`` (reflection about ``-0.5``/``n - 0.5``, else clamp).

    ``clamp=False`` (reflection only): reflected into ``[-0.5, n - 0.5]``, not clamped further.
    """
    if options.padding_mode == "reflection":
        y = torch.remainder(x + 0.5, 2.0 * n)
        x = torch.where(y > n, 2.0 * n - y, y) - 0.5
    return x.clamp(0.0, n - 1.0) if clamp else x


def cubic_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """Keys weights for taps at ``floor(x) + (-1, 0, 1, 2)``, ``t = x - floor(x)`` in ``[0, 1)``."""
    a = CUBIC_A

    def near(d: torch.Tensor) -> torch.Tensor:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: torch.Tensor) -> torch.Tensor:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def kernel_radius(sigma: float) -> int:
    """Half-width of :func:`gaussian_kernel` in voxels (MONAI's truncation at 4 sigma); 0 for no smoothing."""
    return int(max(4.0 * sigma, 0.5) + 0.5) if sigma > 0 else 0


def gaussian_kernel(sigma: float, device: torch.device) -> torch.Tensor:
    """The voxel-integrated Gaussian (erf differences, as MONAI's ``GaussianFilter``), truncated at
    4 sigma like MONAI's, normalised to sum 1 (so a constant stays constant); float64, length
    ``2 * kernel_radius(sigma) + 1``."""
    radius = kernel_radius(sigma)
    edges = (torch.arange(-radius, radius + 2, dtype=torch.float64, device=device) - 0.5) / (sigma * 2.0**0.5)
    kernel = torch.diff(0.5 * torch.erf(edges))
    return kernel / kernel.sum()


def area_taps(x: torch.Tensor, n: int, width: float, options: WarpOptions, sigma: float = 0.0) -> Taps:
    """Block-average taps: target voxel ``j`` (centre ``x[j]``, ``width`` source voxels wide) is the
    plain mean of the source voxels its box ``[x - width / 2, x + width / 2]`` overlaps.

    In voxel-edge coordinates the box is ``[lo, hi) = [x + 0.5 - width / 2, x + 0.5 + width / 2)``
    and the voxels are ``floor(lo) .. ceil(hi) - 1`` (``lo``, ``hi`` snapped to integers within
    ``SNAP_TOL``): for a resize of ``n`` voxels to ``m`` (``width = n / m``, edges kept) that is
    ``floor(j * n / m) .. ceil((j + 1) * n / m) - 1``, the window of ``F.adaptive_avg_pool`` and so
    of ``F.interpolate(mode="area")``, equal weights included. Taps off the grid follow the tap
    rule (:func:`wrap_index`); outputs with fewer voxels than the widest get zero-weight taps.
    ``sigma > 0`` folds the anti-aliasing Gaussian into the weights, as for linear.
    """
    def snapped(v: torch.Tensor) -> torch.Tensor:
        r = torch.round(v)
        return torch.where((v - r).abs() <= SNAP_TOL, r, v)

    lo = torch.floor(snapped(x + 0.5 - 0.5 * width)).long()
    hi = torch.ceil(snapped(x + 0.5 + 0.5 * width)).long()
    count = (hi - lo).clamp(min=1)
    widest = int(count.max()) if count.numel() else 1
    weights = [(k < count).to(torch.float64) / count.to(torch.float64) for k in range(widest)]
    if sigma > 0.0:
        return _smoothed(lo, weights, n, options, sigma)
    if widest == 1:
        return [(wrap_index(lo, n, options), None)]
    return [(wrap_index(torch.minimum(lo + k, hi - 1), n, options), weights[k]) for k in range(widest)]


def axis_taps(x: torch.Tensor, n: int, mode: str, options: WarpOptions, sigma: float = 0.0, width: float = 1.0) -> Taps:
    """Interpolation taps ``[(index, weight), ...]`` for snapped source coordinates ``x`` along an axis of ``n`` voxels.

    A single unit tap (``weight is None``) for nearest and for linear at integral ``x``.
    ``sigma > 0`` (anti-aliasing, linear, cubic and area): the taps sample the source smoothed by
    :func:`gaussian_kernel` — the kernel is folded into the weights (linear: ``2 * radius`` more
    taps; cubic: ``2 * radius + 1`` per cubic tap). ``width`` (source voxels per target voxel)
    is read by ``"area"`` only (:func:`area_taps`).
    """
    if mode == "area":
        return area_taps(x, n, width, options, sigma)
    if mode == "nearest":
        return [(wrap_index(torch.floor(x + 0.5).long(), n, options), None)]
    if mode in ("linear", "label"):
        xw = wrap_coord(x, n, options)
        i0 = torch.floor(xw)
        w = xw - i0
        i0l = i0.long()
        if sigma > 0.0:
            return _smoothed(i0l, [1.0 - w, w], n, options, sigma)
        if not bool((w != 0).any()):
            return [(i0l, None)]
        return [(i0l, 1.0 - w), ((i0l + 1).clamp(max=n - 1), w)]
    base = torch.floor(x)
    weights = cubic_weights(x - base)
    taps: Taps = [(wrap_index(base.long() + k - 1, n, options), weights[k]) for k in range(4)]
    if sigma > 0.0:
        # cubic taps reach past the edge, where they read the padded *smoothed* source: spread each
        # wrapped tap over the kernel (merging by offset, as for linear, would smooth the padding)
        kernel, radius = gaussian_kernel(sigma, x.device).tolist(), kernel_radius(sigma)
        return [(wrap_index(i + e - radius, n, options), weight_of((i, w)) * k) for i, w in taps for e, k in enumerate(kernel)]
    return taps


def _smoothed(first: torch.Tensor, weights: list[torch.Tensor], n: int, options: WarpOptions, sigma: float) -> Taps:
    """Linear taps ``first + c`` (``weights[c]``) convolved with the Gaussian: tap ``first - radius + e``
    weighs ``sum_c weights[c] * kernel[e - c]``; indices wrapped per ``options`` (replicate or mirror).
    Exact because linear taps never leave the axis with a non-zero weight."""
    kernel, radius = gaussian_kernel(sigma, first.device).tolist(), kernel_radius(sigma)
    taps: Taps = []
    for e in range(len(weights) + 2 * radius):
        terms = [weights[c] * kernel[e - c] for c in range(len(weights)) if 0 <= e - c < len(kernel)]
        taps.append((wrap_index(first - radius + e, n, options), torch.stack(terms).sum(0)))
    return taps


def weight_of(tap: Tap) -> torch.Tensor:
    """The weights of a tap that has them (every tap of a multi-tap axis does)."""
    assert tap[1] is not None
    return tap[1]


def anti_aliasing_sigmas(options: WarpOptions, shrink: list[float]) -> list[float]:
    """Gaussian sigma per source axis (source voxels) for ``options``; all 0 when nothing is smoothed.

    ``shrink[k]``: source voxels per target voxel along source axis ``k``. As MONAI ``Resize``,
    nothing is smoothed unless some axis shrinks; the default sigma is ``max(0, (s - 1) / 2)``.
    """
    if not options.anti_aliasing or options.mode not in ("linear", "cubic", "area") or all(s <= 1.0 for s in shrink):
        return [0.0] * len(shrink)
    sigma = options.anti_aliasing_sigma
    if sigma is None:
        return [max(0.0, (s - 1.0) / 2.0) for s in shrink]
    if isinstance(sigma, tuple):
        if len(sigma) != len(shrink):
            raise ModeError(f"anti_aliasing_sigma has {len(sigma)} values for a {len(shrink)}-D image, got {sigma!r}")
        return list(sigma)
    return [sigma] * len(shrink)


def pad_by_rule(t: torch.Tensor, dim: int, before: int, after: int, options: WarpOptions) -> torch.Tensor:
    """``t`` extended along ``dim`` by ``before`` / ``after`` voxels with the tap rule's values
    (:func:`wrap_index`: the edge voxel, or the mirror image for reflection)."""
    n = t.shape[dim]
    return t.index_select(dim, wrap_index(torch.arange(-before, n + after, device=t.device), n, options))


def smooth(t: torch.Tensor, dim: int, sigma: float, options: WarpOptions) -> torch.Tensor:
    """``t`` convolved along ``dim`` with :func:`gaussian_kernel`, edges per ``options`` (replicate or mirror)."""
    kernel, radius = gaussian_kernel(sigma, t.device).to(t.dtype), kernel_radius(sigma)
    n = t.shape[dim]
    rows = pad_by_rule(t, dim, radius, radius, options).movedim(dim, -1)
    shape = rows.shape
    out = torch.nn.functional.conv1d(rows.reshape(-1, 1, shape[-1]), kernel.view(1, 1, -1))
    return out.reshape(*shape[:-1], n).movedim(-1, dim)
