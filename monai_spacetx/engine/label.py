"""Label-aware resampling (``mode="label"``) whose cost does not grow with the number of classes.

Per-class linear interpolation followed by argmax gives a target voxel the class with the largest
summed linear weight among its ``2^D`` taps: every other class has weight 0 there. So the result
needs only the taps' labels and weights, whatever the number of classes ``K``. Exact ties (within
``WEIGHT_TOL``) go to the smaller label, as the per-class reference's argmax does; outside the
field of view with ``"zeros"`` padding a voxel is the fill label.

- General path (:func:`vote`, per chunk): gather the ``T`` tap labels of every target voxel
  (fixed offsets in the chunk's tap window); where they agree (the interior of every region,
  most voxels), that is the label; elsewhere (a compacted list) score the candidates.
- Separable path (:func:`_run_label_separable`): the taps of a target voxel are a source cell, so
  the work is per source cell: every voxel takes its cell's first label by index gathers (as
  ``nearest``), and only the cells holding several labels are interpolated onto the voxels that
  read them.
- Scoring: a voxel reading two classes (most boundary voxels) needs the weight of one of them; with
  more classes, each tap's class is scored by the summed weight of the taps sharing it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from ..geometry.tolerances import WEIGHT_TOL
from . import compiled
from .box import Box
from .general import chunk_coords, fill_tiles, gather_columns, source_window, tap_window
from .options import WarpOptions
from .plan import WarpPlan
from .separable import run_steps, separable_taps, step_order
from .taps import snap_half, weight_of, wrap_coord

__all__ = ["run_label", "vote"]

#: Mixed voxels scored at once (bounds the ``(T, M)`` temporaries of :func:`vote`).
_VOTE_BLOCK = 1 << 18
#: Target voxels (reader slots) scored at once on the separable path.
_SPREAD_BLOCK = 1 << 18


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
    flat_labels, flat_out = labels.reshape(labels.shape[0], -1), out.view(-1)
    for b0 in range(0, where.numel(), _VOTE_BLOCK):
        idx = where[b0 : b0 + _VOTE_BLOCK]
        flat_out[idx] = _winner(flat_labels[:, idx], list(weights_at(idx)))
    return out


def _winner(tap_labels: torch.Tensor, tap_weights: list[torch.Tensor]) -> torch.Tensor:
    """``(M,)`` the class with the largest summed weight among ``(T, M)`` taps (``T`` weights of
    ``(M,)`` each); exact ties (within ``WEIGHT_TOL``) to the smaller label.

    Most voxels on a boundary read two classes: the smallest and the largest tap label, each
    scored in one pass over the taps. Voxels with more classes are scored in full.
    """
    low, high = _extremes(tap_labels)
    score_high = torch.zeros_like(tap_weights[0])
    for row, weight in zip(tap_labels, tap_weights):
        score_high.addcmul_(row == high, weight)
    more = _between(tap_labels, low, high)
    winner = _of_two(score_high, low, high)
    many = torch.nonzero(more).squeeze(1)
    if many.numel():
        winner[many] = _winner_of_many(tap_labels[:, many], torch.stack([w[many] for w in tap_weights]))
    return winner


def _extremes(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest and the largest of ``(T, M)`` labels per column (running over the short axis)."""
    low, high = rows[0].clone(), rows[0].clone()
    for row in rows[1:]:
        torch.minimum(low, row, out=low)
        torch.maximum(high, row, out=high)
    return low, high


def _between(rows: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """``(M,)`` whether some of the ``(T, M)`` labels lie strictly between ``low`` and ``high``."""
    found = torch.zeros_like(low, dtype=torch.bool)
    for row in rows:
        found |= (row > low) & (row < high)
    return found


def _of_two(score_high: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """The winner of two classes whose weights sum to 1, ``high`` scoring ``score_high``: scores are
    quantised so that round-off ties are ties, which go to the smaller label."""
    return torch.where(torch.round(score_high / WEIGHT_TOL) > torch.round((1.0 - score_high) / WEIGHT_TOL), high, low)


def _winner_of_many(tap_labels: torch.Tensor, tap_weights: torch.Tensor) -> torch.Tensor:
    """:func:`_winner` for ``(T, M)`` taps and weights with any number of classes."""
    # score of each tap's class: the summed weight of the taps sharing its label (elementwise
    # passes only: reductions across the short tap axis are slow in torch)
    score = torch.zeros_like(tap_weights)
    for own_label, own_weight in zip(tap_labels, tap_weights):
        score.addcmul_(tap_labels == own_label, own_weight)
    return _best(tap_labels, score)


def _best(candidates: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """``(M,)`` the candidate of ``(T, M)`` with the best ``(T, M)`` score; scores within ``WEIGHT_TOL``
    are ties, which go to the smaller label."""
    # the dtype's largest value marks "not a candidate": if the winner is that value, every candidate is it
    top = torch.inf if candidates.dtype.is_floating_point else (True if candidates.dtype == torch.bool else torch.iinfo(candidates.dtype).max)
    largest = torch.tensor(top, dtype=candidates.dtype, device=candidates.device)
    score = torch.round(score / WEIGHT_TOL)
    best = score[0].clone()
    for row in score[1:]:
        torch.maximum(best, row, out=best)
    winner = torch.where(score[0] == best, candidates[0], largest)
    for row, row_labels in zip(score[1:], candidates[1:]):
        torch.minimum(winner, torch.where(row == best, row_labels, largest), out=winner)
    return winner


def run_label(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> None:
    """Label-aware resample of ``img`` ``(N, *source)`` into ``dest`` ``(N, *box_shape)`` (separable or general plan)."""
    if plan.kind != "general":
        # CPU: the compiled axis-aligned kernel (the general rows' taps and vote from per-axis tables)
        if not compiled.label_axes_kernel(img, plan, box, options, dest):
            _run_label_separable(img, plan, box, options, dest)
        return
    src, local = source_window(img, plan, box, options)
    if compiled.label_kernel(src, local, plan, box, options, dest):  # CPU: the same vote, compiled
        return
    fill_tiles(plan, box, options, dest, lambda starts, shape: _label_tile(src, local, starts, shape, options))


def _label_tile(src: torch.Tensor, matrix: np.ndarray, starts: tuple[int, ...], shape: tuple[int, ...], options: WarpOptions) -> torch.Tensor:
    """``(N, *shape)`` labels of a general-path chunk from ``src`` ``(N, *sizes)`` (a source window;
    ``matrix`` maps the target index to it): the taps' labels by fixed-offset gathers from the
    chunk's tap window, then :func:`vote`."""
    uppers, firsts = [], []
    for x, n in zip(chunk_coords(matrix, starts, shape, torch.float64, src.device), src.shape[1:]):
        x = wrap_coord(snap_half(x), n, options)  # the linear taps' rule (see taps.axis_taps)
        first = torch.floor(x)
        uppers.append(x.sub_(first).view(-1))  # the upper tap's weight
        firsts.append(first.long())
    flat, base, strides = tap_window(src, firsts, 0, 1, options)
    combos = list(np.ndindex(*(2,) * len(shape)))
    labels = torch.stack([gather_columns(flat.narrow(1, d, flat.shape[1] - d), base) for d in (int(np.dot(c, strides)) for c in combos)])
    voxels = int(np.prod(shape))

    def weights_at(idx: torch.Tensor) -> torch.Tensor:
        spatial = idx % voxels
        per_axis = [upper.index_select(0, spatial) for upper in uppers]
        weights = []
        for combo in combos:
            weight = torch.ones_like(per_axis[0])
            for c, upper in zip(combo, per_axis):
                weight *= upper if c else 1.0 - upper
            weights.append(weight)
        return torch.stack(weights)

    return vote(labels.view(len(combos), src.shape[0], *shape), weights_at)


def _cell_uniform(t: torch.Tensor, paired: list[bool]) -> torch.Tensor:
    """``(N, *S)`` bool: one label on the whole source cell at each voxel, the cell being ``{i, i + 1}``
    along every ``paired`` spatial axis (the last voxel pairs with itself), ``{i}`` along the others.

    Built axis by axis: the cell over axes ``<= k`` is uniform when the cells over axes ``< k`` at
    ``i`` and ``i + 1`` are, and their first labels agree.
    """
    uniform = torch.ones(t.shape, dtype=torch.bool, device=t.device)
    for k, pair in enumerate(paired):
        n = t.shape[1 + k]
        if pair and n > 1:
            head, tail = (slice(None),) * (1 + k) + (slice(0, n - 1),), (slice(None),) * (1 + k) + (slice(1, n),)
            uniform[head] &= uniform[tail] & (t[head] == t[tail])
    return uniform


def _run_label_separable(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> None:
    """The separable label path, per source cell rather than per target voxel.

    A linear axis' taps are ``i`` and ``i + 1`` (clamped at the end, with upper weight 0), so a
    target voxel reads the source cell at its first taps, with per-axis weights ``1 - w`` and
    ``w``. Every target voxel first takes its cell's first label by pure index gathers (as
    ``nearest``): right wherever the cell holds one label. Only the cells holding several labels
    (a few percent, on region boundaries) are listed and spread over the target voxels that read
    them (:func:`_spread`), which are then scored: first every listed cell as a two-class one
    (one score: the larger label's weight), then the few with three or more classes again, with
    their candidates' scores.
    """
    t, taps = separable_taps(img, plan, box, "label", options)
    first = [axis_taps[0][0] for axis_taps in taps]
    order = step_order([(box[k].stop - box[k].start) / t.shape[1 + k] for k in range(plan.ndim)])
    run_steps(t, [[(index, None)] for index in first], order, dest)
    paired = [k for k, axis_taps in enumerate(taps) if len(axis_taps) == 2]
    if not paired:
        return
    readers = [_readers(index, t.shape[1 + k], weight_of(taps[k][1]).to(torch.float64) if k in paired else None) for k, index in enumerate(first)]
    per_cell = int(np.prod([r.position.shape[0] for r in readers]))  # reader slots (see _spread)
    strides = [int(np.prod(t.shape[1 + k :])) for k in range(plan.ndim + 1)]
    # a clamped upper tap (weight 0) may read one voxel on: pad the flat source so it stays in range
    flat = t.reshape(-1)
    source = torch.cat([flat, flat[:1].expand(sum(strides[1 + k] for k in paired))])
    # spread along the axes with the fewest reader slots first: each axis multiplies the field by its slots
    axes = sorted(range(plan.ndim), key=lambda k: readers[k].position.shape[0])
    spread_paired = [k for k in axes if k in paired]
    corners = [sum(e * strides[1 + k] for e, k in zip(combo, spread_paired)) for combo in np.ndindex(*(2,) * len(paired))]
    # dest is a strided view of the output: a flat view over its storage takes scattered writes
    storage = dest.as_strided((int(sum((n - 1) * s for n, s in zip(dest.shape, dest.stride()))) + 1,), (1,))
    mixed = ~_cell_uniform(t, [k in paired for k in range(plan.ndim)])
    for k, (count, _, _) in enumerate(readers):
        if not bool((count > 0).all()):  # a shrinking axis skips source voxels: no target voxel reads their cells
            mixed &= (count > 0).view((-1,) + (1,) * (plan.ndim - 1 - k))
    all_cells = torch.nonzero(mixed, as_tuple=True)  # 1 + D of (L,): channel, then the first tap per axis
    block = max(1, _SPREAD_BLOCK // per_cell)
    for c0 in range(0, all_cells[0].numel(), block):
        cells = [c[c0 : c0 + block] for c in all_cells]
        base = cells[0] * strides[0]  # flat index of the cells' first corner
        for k in range(plan.ndim):
            base.add_(cells[1 + k], alpha=strides[1 + k])
        labels = torch.stack([source.narrow(0, d, source.numel() - d).index_select(0, base) for d in corners])  # (2^P, L)
        low, high = _extremes(labels)
        more = _between(labels, low, high)
        # every cell as if it held two classes (most do); those with more are rewritten below
        score, offset = _spread((labels == high).unsqueeze(0).to(torch.float64), cells, axes, readers, list(dest.stride()))
        storage.index_copy_(0, offset, _of_two(score[0], low.repeat(per_cell), high.repeat(per_cell)))
        pick = torch.nonzero(more).squeeze(1)
        if not pick.numel():
            continue
        # three or more classes: the candidates are the corners' labels, in a 2x2x2 cell at most 8 but
        # nearly always 3 or 4: the smallest, the largest and the extremes of those in between
        corner_labels, low, high = labels.index_select(1, pick), low.index_select(0, pick), high.index_select(0, pick)
        mid_low, mid_high = high.clone(), low.clone()
        for row in corner_labels:
            torch.minimum(mid_low, torch.where(row > low, row, high), out=mid_low)
            torch.maximum(mid_high, torch.where(row < high, row, low), out=mid_high)
        beyond = _between(corner_labels, mid_low, mid_high)
        for subset, candidates in ((~beyond, torch.stack([low, mid_low, mid_high, high])), (beyond, corner_labels)):
            part = torch.nonzero(subset).squeeze(1)
            if part.numel():
                candidates, corners_of = candidates.index_select(1, part), corner_labels.index_select(1, part)
                field = (corners_of.unsqueeze(0) == candidates.unsqueeze(1)).to(torch.float64)  # (C, 2^P, L)
                some_cells = [c.index_select(0, pick.index_select(0, part)) for c in cells]
                score, offset = _spread(field, some_cells, axes, readers, list(dest.stride()))
                storage.index_copy_(0, offset, _best(candidates.repeat(1, per_cell), score))


class _Readers(NamedTuple):
    """Which target positions along one axis read each source index ``i`` as their first tap."""

    n_readers: torch.Tensor  #: ``(n,)`` how many
    position: torch.Tensor  #: ``(c, n)`` which, ``c`` the most any index has; short columns repeat their last reader
    upper: torch.Tensor | None  #: ``(c, n)`` float64 upper-tap weight at those positions (paired axes only)


def _readers(first: torch.Tensor, n: int, upper: torch.Tensor | None) -> _Readers:
    """:class:`_Readers` of one axis from each target position's first tap ``first`` and upper-tap weight ``upper``."""
    count = torch.bincount(first, minlength=n)
    start = torch.cumsum(count, 0) - count
    slots = torch.arange(max(1, int(count.max())), device=first.device).unsqueeze(1)
    slot = torch.minimum(slots, (count - 1).clamp(min=0))  # a repeated reader rewrites the same value
    readers_in_order = torch.argsort(first, stable=True)
    at = (start + slot).clamp(max=first.numel() - 1)
    position = readers_in_order.index_select(0, at.reshape(-1)).view(at.shape)
    return _Readers(count, position, None if upper is None else upper.index_select(0, position.reshape(-1)).view(at.shape))


def _lookup(table: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """``table[:, at]`` for a ``(c, n)`` table with few rows (row by row: 1-D gathers are the fast ones)."""
    return torch.stack([row.index_select(0, at) for row in table])


def _spread(field: torch.Tensor, cells: list[torch.Tensor], axes: list[int], readers: list[_Readers], dest_strides: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate per-cell corner values at the target voxels reading each cell.

    Args:
        field: ``(C, 2^P, L)`` ``C`` values at the corners of ``L`` cells, the ``P`` paired axes'
            corners in C order, taking the paired axes in the order of ``axes`` (the first slowest).
        cells: ``1 + D`` of ``(L,)``: the cells' channel, then their first tap per axis.
        axes: the order in which to spread along the axes.
        readers: per axis, :func:`_readers`.
        dest_strides: the strides of ``dest``, channel first.

    Returns:
        ``(C, S * L)`` the values interpolated at ``S`` reader slots per cell (entry ``e`` belongs
        to cell ``e % L``), and the ``(S * L,)`` flat offsets of those voxels in ``dest``'s storage.

    The readers of a cell are the product of its readers along each axis, so every cell gets the
    same dense block of ``S`` slots, filled axis by axis by broadcasting (the cells last: long
    inner loops); a paired axis is interpolated out of ``field`` (a lerp: the same arithmetic as
    the per-class linear resample). A slot beyond an axis' reader count repeats the last reader:
    the same value to the same voxel.
    """
    candidates, n_cells = field.shape[0], field.shape[-1]
    field = field.view(candidates, *(2,) * sum(readers[k].upper is not None for k in axes), n_cells)
    offset = (cells[0] * dest_strides[0]).view(*(1,) * len(axes), n_cells)
    for done, k in enumerate(axes):
        at, dim = cells[1 + k], 1 + done
        slots = readers[k].position.shape[0]
        slot_shape = [1] * len(axes) + [n_cells]
        slot_shape[done] = slots
        offset = offset + _lookup(readers[k].position, at).view(slot_shape) * dest_strides[1 + k]
        upper = readers[k].upper
        if upper is None:
            field = field.unsqueeze(dim)
            continue
        weight = _lookup(upper, at).view(*(1,) * dim, slots, *(1,) * (field.dim() - dim - 2), n_cells)
        field = torch.lerp(field.select(dim, 0).unsqueeze(dim), field.select(dim, 1).unsqueeze(dim), weight)
    return field.expand(candidates, *offset.shape).reshape(candidates, -1), offset.reshape(-1)
