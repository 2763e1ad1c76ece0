"""Label-aware resampling (``mode="label"``) whose cost does not grow with the number of classes.

Per-class linear interpolation followed by argmax gives a target voxel the class with the largest
summed linear weight among its ``2^D`` taps: every other class has weight 0 there. So the result
needs only the taps' labels and weights, whatever the number of classes ``K``:

1. gather the ``T = 2^D`` tap labels of every target voxel (separable path: index gathers per
   axis; general path: flat gathers), same taps and boundary rules as ``linear``;
2. where all taps agree (the interior of every region, most voxels), that is the label;
3. elsewhere (a compacted list), score each tap's label by the summed weight of the taps that
   share it, keep the best; exact ties (within ``WEIGHT_TOL``) go to the smaller label, as the
   per-class reference does. Outside the field of view with ``"zeros"`` padding: the fill label.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..geometry.tolerances import WEIGHT_TOL
from .box import Box
from .general import CHUNK_VOXELS, chunk_taps, general_chunks, mask_outside
from .options import WarpOptions
from .plan import WarpPlan
from .separable import separable_taps
from .taps import Taps

__all__ = ["run_label", "vote"]

#: Mixed voxels scored at once (bounds the ``(T, M)`` temporaries of :func:`vote`).
_VOTE_BLOCK = 1 << 18
#: Tap labels gathered at once on the separable path (``T`` per target voxel of a block).
_TAP_ELEMENTS = 1 << 22


def vote(labels: torch.Tensor, weights_at: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The winning label per voxel.

    Args:
        labels: ``(T, *shape)`` the taps' labels.
        weights_at: flat voxel indices (into ``shape``) → their ``(T, M)`` float64 tap weights;
            called only for voxels whose taps disagree.

    Returns:
        ``(*shape)``, ``labels``' dtype.
    """
    first = labels[0]
    mixed = torch.zeros_like(first, dtype=torch.bool)
    for other in labels[1:]:
        mixed |= other != first
    out = first.clone()
    where = torch.nonzero(mixed.view(-1)).squeeze(1)
    if where.numel() == 0:
        return out
    flat_labels, flat_out = labels.reshape(labels.shape[0], -1), out.view(-1)
    # the dtype's largest value marks "not a candidate": if the winner is that value, every candidate is it
    top = torch.inf if labels.dtype.is_floating_point else (True if labels.dtype == torch.bool else torch.iinfo(labels.dtype).max)
    largest = torch.tensor(top, dtype=labels.dtype, device=labels.device)
    for b0 in range(0, where.numel(), _VOTE_BLOCK):
        idx = where[b0 : b0 + _VOTE_BLOCK]
        tap_labels, tap_weights = flat_labels[:, idx], weights_at(idx)  # (T, M) each
        # score of each tap's class: the summed weight of the taps sharing its label (elementwise
        # passes only: reductions across the short tap axis are slow in torch)
        score = torch.zeros_like(tap_weights)
        for own_label, own_weight in zip(tap_labels, tap_weights):
            score.addcmul_(tap_labels == own_label, own_weight)
        # quantised so that round-off ties are ties; among the best, the smaller label
        score = torch.round(score / WEIGHT_TOL)
        best = score[0].clone()
        for row in score[1:]:
            torch.maximum(best, row, out=best)
        winner = torch.where(score[0] == best, tap_labels[0], largest)
        for row, row_labels in zip(score[1:], tap_labels[1:]):
            torch.minimum(winner, torch.where(row == best, row_labels, largest), out=winner)
        flat_out[idx] = winner
    return out


def _combos(taps: list[Taps]) -> list[tuple[int, ...]]:
    """Tap combinations in the order :func:`_gather_separable` stacks them (the last axis slowest)."""
    combos: list[tuple[int, ...]] = [()]
    for axis_taps in taps:
        combos = [c + (t,) for t in range(len(axis_taps)) for c in combos]
    return combos


def _weights_fn(taps: list[Taps], shape: tuple[int, ...], per_voxel: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """``weights_at`` for :func:`vote`: flat indices into ``shape`` = ``(N, *spatial)`` → ``(T, M)`` weights.

    ``per_voxel``: the taps' weights are shaped like the spatial chunk (general path); else they
    are 1-D per axis (separable path).
    """
    def weights_at(idx: torch.Tensor) -> torch.Tensor:
        spatial = idx % int(np.prod(shape[1:]))
        pos = [spatial] * len(taps) if per_voxel else list(torch.unravel_index(spatial, shape[1:]))
        # (taps of axis D-1, ..., taps of axis 0, M): the first axis varies fastest, as in _combos
        product = torch.ones((1, idx.numel()), dtype=torch.float64, device=idx.device)
        for k, axis_taps in enumerate(taps):
            per_tap = [torch.ones_like(product[0]) if w is None else w.reshape(-1)[pos[k]].to(torch.float64) for _, w in axis_taps]
            product = (torch.stack(per_tap).unsqueeze(1) * product.unsqueeze(0)).reshape(-1, idx.numel())
        return product

    return weights_at


def _flat_index(taps: list[Taps], combo: tuple[int, ...], strides: list[int]) -> torch.Tensor:
    """Flat source index (1-D) of the tap combination ``combo`` of every chunk voxel."""
    index = taps[0][combo[0]][0] * strides[0]
    for k in range(1, len(taps)):
        index = index + taps[k][combo[k]][0] * strides[k]
    return index.reshape(-1)


def _gather_separable(t: torch.Tensor, taps: list[Taps]) -> torch.Tensor:
    """``(T, N, *box)`` tap labels by one index gather per axis and tap."""
    stacked = t.unsqueeze(0)
    for k, axis_taps in enumerate(taps):
        stacked = torch.cat([stacked.index_select(2 + k, index) for index, _ in axis_taps])
    return stacked


def run_label(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> None:
    """Label-aware resample of ``img`` ``(N, *source)`` into ``dest`` ``(N, *box_shape)`` (separable or general plan)."""
    lead = img.shape[0]
    rows_of_box = [s.stop - s.start for s in box]
    per_row = lead * int(np.prod(rows_of_box[1:])) * 2 ** plan.ndim
    if plan.kind == "general":
        flat = img.reshape(lead, -1)
        strides = [int(np.prod(plan.source_shape[k + 1 :])) for k in range(plan.ndim)]
        for r0, r1 in general_chunks(box, max(1, CHUNK_VOXELS // (2 ** plan.ndim))):
            starts = (r0, *(s.start for s in box[1:]))
            shape = (r1 - r0, *rows_of_box[1:])
            taps = chunk_taps(plan, starts, shape, "label", options, img.device)
            labels = torch.stack([flat.index_select(1, _flat_index(taps, combo, strides)) for combo in _combos(taps)])
            labels = labels.view(-1, lead, *shape)
            values = vote(labels, _weights_fn(taps, (lead, *shape), per_voxel=True))
            if options.constant:
                mask_outside(plan, starts, values, options.fill)
            dest[:, r0 - box[0].start : r1 - box[0].start] = values
        return
    t, taps = separable_taps(img, plan, box, "label", options)
    step = max(1, _TAP_ELEMENTS // per_row)
    for j0 in range(0, rows_of_box[0], step):
        j1 = min(rows_of_box[0], j0 + step)
        block_taps = [[(i[j0:j1], None if w is None else w[j0:j1]) for i, w in taps[0]], *taps[1:]]
        labels = _gather_separable(t, block_taps)
        dest[:, j0:j1] = vote(labels, _weights_fn(block_taps, tuple(labels.shape[1:]), per_voxel=False))
