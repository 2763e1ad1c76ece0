"""The index path: crop / pad / flip / permute with constant fill, by slicing and one copy (bitwise exact)."""

from __future__ import annotations

import torch

from .box import Box
from .plan import WarpPlan

__all__ = ["run_index"]


def run_index(img: torch.Tensor, plan: WarpPlan, box: Box, dest: torch.Tensor) -> None:
    """Copy the source voxels of an integer signed-permutation plan into ``dest``.

    Args:
        img: ``(N, *source)``.
        plan: an ``"index"`` plan.
        box: :func:`~monai_spacetx.engine.box.target_box`'s (every box voxel reads a real source voxel).
        dest: ``(N, *box_shape)`` view of the output.
    """
    assert plan.axes is not None and plan.scale is not None and plan.offset is not None
    src: list[slice] = [slice(None)] * plan.ndim
    flips: list[int] = []
    for k, (axis, s, b) in enumerate(zip(plan.axes, plan.scale, plan.offset)):
        lo, hi, shift = box[k].start, box[k].stop, int(b)
        if s > 0:  # target j reads source j + shift
            src[axis] = slice(shift + lo, shift + hi)
        else:  # target j reads source shift - j
            src[axis] = slice(shift - hi + 1, shift - lo + 1)
            flips.append(1 + axis)
    view = img[(slice(None), *src)]
    if flips:
        view = torch.flip(view, flips)
    dest.copy_(view.permute(0, *(1 + a for a in plan.axes)))
