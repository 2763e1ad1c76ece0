"""Which target voxels read the source: the box to compute, and on the general path, per row, the inside run.

With ``"zeros"`` padding a target voxel is inside when its (snapped) source coordinate satisfies
``-0.5 <= x <= n - 0.5`` on every axis; voxels outside are ``fill`` and never computed.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
import torch

from ..geometry.tolerances import SNAP_TOL
from .options import WarpOptions
from .plan import WarpPlan

__all__ = ["Box", "target_box", "inside_runs"]

#: One ``slice`` per target axis.
Box = Tuple[slice, ...]


def target_box(plan: WarpPlan, options: WarpOptions) -> Optional[Box]:
    """The target index box that must be computed; ``None`` when every target voxel is fill.

    With ``"border"``/``"reflection"`` padding every voxel reads the source. With ``"zeros"``
    padding, axis-aligned plans give the exact box of voxels whose centres lie in the source
    field of view (the map is monotone per axis); the general path gets the bounding box of
    the mapped field of view (its rows are then trimmed by :func:`inside_runs`).
    """
    if not options.constant:
        return tuple(slice(0, m) for m in plan.target_shape)
    ndim, box = plan.ndim, []
    if plan.kind != "general":
        assert plan.axes is not None
        for k in range(ndim):
            x = plan.axis_coords(k)
            valid = np.flatnonzero((x >= -0.5) & (x <= plan.source_shape[plan.axes[k]] - 0.5))
            if valid.size == 0:
                return None
            box.append(slice(int(valid[0]), int(valid[-1]) + 1))
        return tuple(box)
    to_target = np.linalg.inv(plan.matrix)
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in plan.source_shape], indexing="ij")).reshape(ndim, -1)
    mapped = to_target[:ndim, :ndim] @ corners + to_target[:ndim, ndim : ndim + 1]
    for k, m in enumerate(plan.target_shape):
        lo = max(0, int(math.floor(mapped[k].min())) - 1)
        hi = min(m, int(math.ceil(mapped[k].max())) + 2)
        if hi <= lo:
            return None
        box.append(slice(lo, hi))
    return tuple(box)


def inside_runs(plan: WarpPlan, starts: tuple[int, ...], shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target row (a line along the last axis), the run ``[lo, hi)`` of voxels inside the source field of view.

    Args:
        plan: any plan (its ``matrix`` is used).
        starts: target index of the block's first voxel, one per axis.
        shape: the block's shape.

    Returns:
        ``(lo, hi)``, int64 tensors shaped ``shape[:-1]``, in block coordinates along the last
        axis (``0 <= lo``, ``hi <= shape[-1]``; ``lo >= hi`` for an empty row). Computed in
        float64 from the matrix: a coordinate within ``SNAP_TOL`` of the field-of-view edge
        counts as on it, as the plan's snapping does on the axis-aligned paths.
    """
    ndim = plan.ndim
    linear, shift = plan.matrix[:ndim, :ndim], plan.matrix[:ndim, ndim]
    rows = np.meshgrid(*[np.arange(s, s + n, dtype=np.float64) for s, n in zip(starts[:-1], shape[:-1])], indexing="ij")
    lo = np.zeros(shape[:-1], dtype=np.float64)
    hi = np.full(shape[:-1], float(shape[-1]), dtype=np.float64)
    for k, n in enumerate(plan.source_shape):
        # x_k(j) = base + slope * j along the row, j counted from the block's start
        base = shift[k] + linear[k, -1] * starts[-1] + sum(linear[k, a] * rows[a] for a in range(ndim - 1))
        slope = linear[k, -1]
        low, high = -0.5 - SNAP_TOL, n - 0.5 + SNAP_TOL
        if slope == 0.0:
            outside = (base < low) | (base > high)
            hi = np.where(outside, 0.0, hi)
            continue
        first, last = (low - base) / slope, (high - base) / slope
        if slope < 0:
            first, last = last, first
        lo = np.maximum(lo, np.ceil(first))
        hi = np.minimum(hi, np.floor(last) + 1.0)
    lo = np.clip(lo, 0.0, shape[-1])
    hi = np.clip(hi, lo, shape[-1])
    return torch.from_numpy(lo.astype(np.int64)), torch.from_numpy(hi.astype(np.int64))
