"""Torch execution kernels for the three non-trivial paths of :mod:`.plan`.

Every kernel takes a source tensor laid out ``(N, *source_spatial)`` (leading dims
flattened) and returns ``(region, values)``: the target index box that was computed, as one
``slice`` per spatial axis, and the values on it, ``(N, *region_shape)``. Target voxels
outside the box are fill; :func:`monai_spacetx.warp_image` allocates and fills the output.
``None`` means no target voxel reads the source.

Boundary conventions (``x`` is the continuous source index of a target voxel's centre):

- constant padding: a target voxel is inside when ``-0.5 <= x <= n - 0.5`` on every axis
  (the source field of view, edges included, after snapping); inside, interpolation taps
  that fall off the grid are clamped to the edge voxel (so edge voxels are not darkened,
  as ITK); outside, the voxel is fill.
- ``"border"``: the coordinate is clamped to ``[0, n - 1]``.
- ``"reflection"``: the coordinate is reflected about the voxel edges ``-0.5`` and
  ``n - 0.5`` (``grid_sample(..., align_corners=False)``), then clamped; cubic reflects
  each tap, nearest reflects the chosen index.

Nearest takes source index ``floor(snap(x + 0.5))``: a voxel's box is ``[i - 0.5, i + 0.5)``
and exact ties go up. Cubic is Keys' cubic convolution with ``A = -0.75`` (torch's bicubic).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from ..points import SNAP_TOL
from .plan import WarpPlan

__all__ = ["run_index", "run_separable", "run_general", "Region"]

Region = Optional[Tuple[Tuple[slice, ...], torch.Tensor]]

#: Target voxels per chunk in the general path: bounds the float64 grid (24 MiB in 3-D).
_CHUNK_VOXELS = 1 << 20
_CUBIC_A = -0.75


# ---------------------------------------------------------------------------- coordinates
def _snap(x: torch.Tensor) -> torch.Tensor:
    nearest = torch.round(x)
    return torch.where((x - nearest).abs() <= SNAP_TOL, nearest, x)


def _wrap_index(i: torch.Tensor, n: int, padding: str | float) -> torch.Tensor:
    """Integer tap indices → valid indices (reflection about voxel edges, else clamp)."""
    if padding == "reflection":
        i = torch.remainder(i, 2 * n)
        i = torch.where(i >= n, 2 * n - 1 - i, i)
    return i.clamp(0, n - 1)


def _wrap_coord(x: torch.Tensor, n: int, padding: str | float) -> torch.Tensor:
    """Continuous coordinates → ``[0, n - 1]`` (reflection about ``-0.5``/``n - 0.5``, else clamp)."""
    if padding == "reflection":
        y = torch.remainder(x + 0.5, 2.0 * n)
        x = torch.where(y > n, 2.0 * n - y, y) - 0.5
    return x.clamp(0.0, n - 1.0)


def _inside(x: torch.Tensor, n: int) -> torch.Tensor:
    return (x >= -0.5) & (x <= n - 0.5)


def _cubic_weights(t: torch.Tensor) -> list[torch.Tensor]:
    """Keys weights for taps at ``floor(x) + (-1, 0, 1, 2)``, ``t = x - floor(x)``."""
    a = _CUBIC_A

    def near(d: torch.Tensor) -> torch.Tensor:  # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d: torch.Tensor) -> torch.Tensor:  # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(x: torch.Tensor, n: int, mode: str, padding: str | float) -> list[tuple[torch.Tensor, Optional[torch.Tensor]]]:
    """Interpolation taps ``[(index, weight), ...]`` for source coordinates ``x`` (float64).

    ``weight`` is ``None`` for a single unit tap (nearest, or ``x`` integral).
    """
    constant = not isinstance(padding, str)
    if mode == "nearest":
        return [(_wrap_index(torch.floor(_snap(x + 0.5)).long(), n, padding), None)]
    if mode == "linear":
        xw = _wrap_coord(_snap(x), n, padding)
        i0 = torch.floor(xw)
        w = xw - i0
        i0l = i0.long()
        if not bool((w != 0).any()):
            return [(i0l, None)]
        return [(i0l, 1.0 - w), ((i0l + 1).clamp(max=n - 1), w)]
    xs = _snap(x)
    base = torch.floor(xs)
    weights = _cubic_weights(xs - base)
    pad = "border" if constant else padding
    return [(_wrap_index(base.long() + k - 1, n, pad), weights[k]) for k in range(4)]


# ---------------------------------------------------------------------------- index path
def run_index(img: torch.Tensor, plan: WarpPlan) -> Region:
    """Crop / pad / flip / permute with constant fill: slicing and one copy, bitwise exact."""
    assert plan.axes is not None and plan.scale is not None and plan.offset is not None
    src_slices: list[slice] = [slice(None)] * plan.ndim
    region: list[slice] = []
    flips: list[int] = []
    for k, (axis, s, b) in enumerate(zip(plan.axes, plan.scale, plan.offset)):
        n, m, b = plan.source_shape[axis], plan.target_shape[k], int(b)
        # target j reads source s * j + b; keep the j whose source index is in [0, n)
        lo, hi = (max(0, -b), min(m, n - b)) if s > 0 else (max(0, b - n + 1), min(m, b + 1))
        if hi <= lo:
            return None
        region.append(slice(lo, hi))
        if s > 0:
            src_slices[axis] = slice(b + lo, b + hi)
        else:
            src_slices[axis] = slice(b - hi + 1, b - lo + 1)
            flips.append(1 + axis)
    view = img[(slice(None), *src_slices)]
    if flips:
        view = torch.flip(view, flips)
    view = view.permute(0, *(1 + a for a in plan.axes))
    return tuple(region), view


# ---------------------------------------------------------------------------- separable path
def _gather_axis(t: torch.Tensor, dim: int, taps: list[tuple[torch.Tensor, Optional[torch.Tensor]]]) -> torch.Tensor:
    """1-D interpolation of ``t`` along ``dim`` from ``taps`` (weights broadcast along ``dim``)."""

    def pick(index: torch.Tensor) -> torch.Tensor:
        first, count = int(index[0]), index.numel()
        if count > 0 and int(index[-1]) - first == count - 1 and bool((index.diff() == 1).all()):
            return t.narrow(dim, first, count)  # a contiguous run: a view, no copy
        return t.index_select(dim, index)

    shape = [1] * t.dim()
    shape[dim] = -1
    if len(taps) == 1:
        return pick(taps[0][0])
    if len(taps) == 2:
        (i0, _), (i1, w1) = taps
        assert w1 is not None
        return torch.lerp(pick(i0), pick(i1), w1.to(t.dtype).view(shape))
    out: Optional[torch.Tensor] = None
    for index, weight in taps:
        assert weight is not None
        term = pick(index) * weight.to(t.dtype).view(shape)
        out = term if out is None else out + term
    assert out is not None
    return out


def run_separable(img: torch.Tensor, plan: WarpPlan, mode: str, padding: str | float) -> Region:
    """Axis-aligned resample as successive 1-D gathers (never a D-dimensional grid_sample)."""
    assert plan.axes is not None and plan.scale is not None and plan.offset is not None
    constant = not isinstance(padding, str)
    t = img.permute(0, *(1 + a for a in plan.axes))  # spatial dim k now feeds target axis k
    coords: list[torch.Tensor] = []
    region: list[slice] = []
    for k in range(plan.ndim):
        n, m = plan.source_shape[plan.axes[k]], plan.target_shape[k]
        x = torch.arange(m, dtype=torch.float64) * plan.scale[k] + plan.offset[k]
        lo, hi = 0, m
        if constant:
            valid = torch.nonzero(_inside(_snap(x), n)).flatten()
            if valid.numel() == 0:
                return None
            lo, hi = int(valid[0]), int(valid[-1]) + 1  # the map is monotone: one run
        region.append(slice(lo, hi))
        coords.append(x[lo:hi])
    # shrinking axes first keeps the intermediates (and the work) small
    order = sorted(range(plan.ndim), key=lambda k: coords[k].numel() / t.shape[1 + k])
    for k in order:
        n = t.shape[1 + k]
        index_mode = "nearest" if abs(plan.scale[k]) == 1.0 and plan.offset[k] == round(plan.offset[k]) else mode
        taps = [(i.to(t.device), None if w is None else w.to(t.device)) for i, w in _taps(coords[k], n, index_mode, padding)]
        t = _gather_axis(t, 1 + k, taps)
    return tuple(region), t


# ---------------------------------------------------------------------------- general path
def _target_box(plan: WarpPlan) -> Optional[list[slice]]:
    """Bounding box of the target voxels whose centres can fall inside the source field of view."""
    ndim = plan.ndim
    to_target = np.linalg.inv(plan.matrix)
    edges = [(-0.5, n - 0.5) for n in plan.source_shape]
    corners = np.array(np.meshgrid(*edges, indexing="ij")).reshape(ndim, -1)
    mapped = to_target[:ndim, :ndim] @ corners + to_target[:ndim, ndim : ndim + 1]
    box = []
    for k, m in enumerate(plan.target_shape):
        lo = max(0, int(math.floor(mapped[k].min())) - 1)
        hi = min(m, int(math.ceil(mapped[k].max())) + 2)
        if hi <= lo:
            return None
        box.append(slice(lo, hi))
    return box


def run_general(
    img: torch.Tensor, plan: WarpPlan, mode: str, padding: str | float, fill: float, *, chunk: int = _CHUNK_VOXELS
) -> Region:
    """Arbitrary affine resample in one pass, chunked along the first target axis.

    The sampling grid is built in float64 from ``plan.matrix`` (already relative to both
    origins) and cast to the image dtype only for ``grid_sample``. Nearest and cubic gather
    taps themselves (our tie rule; cubic in 3-D has no grid_sample).
    """
    ndim, constant = plan.ndim, not isinstance(padding, str)
    box = _target_box(plan) if constant else [slice(0, m) for m in plan.target_shape]
    if box is None:
        return None
    device, dtype = img.device, img.dtype
    n_src = plan.source_shape
    linear = torch.as_tensor(plan.matrix[:ndim, :ndim], dtype=torch.float64, device=device)
    shift = torch.as_tensor(plan.matrix[:ndim, ndim], dtype=torch.float64, device=device)
    rest = [s.stop - s.start for s in box[1:]]
    rows_per_chunk = max(1, chunk // max(1, int(np.prod(rest))))
    strides = [int(np.prod(n_src[k + 1 :])) for k in range(ndim)]
    flat = img.reshape(img.shape[0], -1)
    pieces = []
    for r0 in range(box[0].start, box[0].stop, rows_per_chunk):
        r1 = min(box[0].stop, r0 + rows_per_chunk)
        axes = [torch.arange(r0, r1, dtype=torch.float64, device=device)]
        axes += [torch.arange(s.start, s.stop, dtype=torch.float64, device=device) for s in box[1:]]
        j = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
        x = j @ linear.T + shift  # (*chunk, D) source indices, float64
        out_shape = (img.shape[0], *x.shape[:-1])
        if mode == "linear":
            xw = torch.stack([_wrap_coord(_snap(x[..., k]), n_src[k], padding) for k in range(ndim)], dim=-1)
            size = torch.tensor(n_src, dtype=torch.float64, device=device)
            grid = ((2.0 * xw + 1.0) / size - 1.0).flip(-1)  # grid_sample wants (x, y[, z]) = reversed axes
            vals = F.grid_sample(
                img.unsqueeze(0), grid.unsqueeze(0).to(dtype), mode="bilinear", padding_mode="border", align_corners=False
            )[0]
        else:
            taps_per_axis = [_taps(x[..., k], n_src[k], mode, padding) for k in range(ndim)]
            vals = None
            for combo in np.ndindex(*(len(t) for t in taps_per_axis)):
                index = sum(taps_per_axis[k][c][0] * strides[k] for k, c in enumerate(combo))
                term = flat.index_select(1, index.reshape(-1)).reshape(out_shape)
                weight = None
                for k, c in enumerate(combo):
                    w = taps_per_axis[k][c][1]
                    if w is not None:
                        weight = w if weight is None else weight * w
                if weight is not None:
                    term = term * weight.to(dtype)
                vals = term if vals is None else vals + term
            assert vals is not None
        if constant:
            xs = _snap(x)
            inside = torch.stack([_inside(xs[..., k], n_src[k]) for k in range(ndim)], dim=-1).all(-1)
            vals = torch.where(inside, vals, torch.tensor(fill, dtype=vals.dtype, device=device))
        pieces.append(vals)
    return tuple(box), torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]

