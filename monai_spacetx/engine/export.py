"""Export a K-channel prediction as a label map: interpolate every channel, then argmax, in bounded memory.

:func:`warp_argmax` gives the same label map as "resample all ``K`` channels of probabilities or
logits onto the target, then ``argmax`` over the channels", without ever holding ``K`` values per
target voxel: the target box is processed in tiles, and the ``(1, *target)`` label map (the
smallest integer dtype that holds ``K``) is the only full-size output (plus, with
``keep_prob=True``, the winning channel's interpolated value).

**Linear** (the default, and what nnU-Net and MONAI's ``Invertd`` use for logits) needs almost no
per-class work, because linear weights are non-negative:

1. One pass over the working grid: each source voxel's first-maximum channel ``a1`` (``K``
   reads per voxel; this pass is the whole dependence on ``K``). A *cell* is the ``2^D`` source
   voxels a target voxel interpolates between; a cell whose corners share their ``a1`` is
   *pure*: that class is ``>=`` every other class at every corner, so it is ``>=`` it at every
   convex combination of the corners, and wins everywhere in the cell (ties included: it is
   the first maximum at every corner). Most cells of a segmentation are pure.
2. Per tile of the target box, every voxel takes its cell's class by index gathers (as
   ``nearest`` does); only voxels in mixed cells are scored.
3. A mixed cell whose corners hold two classes ``lo < hi`` is certified once for all its voxels
   (:meth:`_Pruned._certify_cells`): a class that is nobody's first maximum is at most, at each
   corner, that corner's runner-up value (its third when the runner-up is ``lo`` or ``hi``), so
   at most the largest of those anywhere in the cell, while the better of ``lo`` and ``hi`` is at
   least ``max(min x_lo, min x_hi)`` over the corners. When the first is below the second, the
   cell's voxels compare only ``lo`` and ``hi``, in float64, each by its ``2^D`` weighted taps.
4. The voxels of the other mixed cells score their corners' classes and check the same bound
   against their own best value; where it fails (noise, near-ties) they are scored over all
   ``K`` channels.

On CPU (float32/float64 channels without NaN) steps 1 to 4 run in compiled kernels
(:func:`~.compiled.export_first_pass`, :func:`~.compiled.export_certify`,
:func:`~.compiled.export_argmax`), which keep every source voxel's runner-up and third value and
walk the target row by row; the torch tiles below are the reference and run elsewhere (CUDA).

**Cubic** (negative weights) and anti-aliased or thick-axis sampling have no such bound: they
resample the channels tile by tile with :func:`~monai_spacetx.engine.warp_image` and keep a
running maximum and its index (``K`` times the work of one channel, still bounded memory).

**Tie rule:** the smallest class index among the maxima wins, as ``torch.argmax`` (its first
maximum) on the fully resampled channels. Ties are decided on the float64 scores (linear) or the
float values of the input's dtype (cubic); classes whose scores differ only by rounding are ties
in that sense, and may differ from another implementation's rounding.

**Outside** the source field of view with ``"zeros"`` padding a voxel is the fill label
(``options.fill``, a whole number) and its probability is 0; with ``"border"``/``"reflection"``
every voxel is computed.

Memory beyond the input and the outputs: about 15 bytes per source voxel (its first-maximum
class, its cell's code and certified pair, the runner-up class and values for the corners of
mixed cells), plus per-tile temporaries bounded by the tile (``TILE_VOXELS``) and the scoring
block (``SCORE_BLOCK``), whatever the target's size.
Imports torch and the geometry core, never MONAI.
"""

from __future__ import annotations

import itertools
from typing import Callable, Optional, Tuple

import numpy as np
import torch

from ..errors import ModeError, ShapeMismatchError, SpaceTypeError
from ..geometry.space import Space
from . import compiled
from .box import Box, inside_runs, target_box
from .general import chunk_coords, general_tiles
from .options import WarpOptions
from .plan import WarpPlan, plan_warp
from .taps import snap_half, wrap_coord
from .threads import engine_threads
from .warp import warp_image

__all__ = ["warp_argmax", "label_dtype", "TILE_VOXELS", "SCORE_BLOCK"]

#: Target voxels per tile (its int64 flat indices and gathered codes: about 10 bytes per voxel).
TILE_VOXELS = 1 << 18
#: Mixed voxels scored at once: ``(T, 2^D, M)`` float64 tap values, 2 MiB for 2 classes in 3-D.
SCORE_BLOCK = 1 << 14
#: Values (voxels x classes) scored at once where the certificate fails: 4 MiB of float64.
_FULL_BLOCK = 1 << 19
#: Bytes of one tile's resampled channels on the cubic (dense) path.
_DENSE_BYTES = 64 << 20
#: Source voxels per chunk of the first-maximum pass (times ``K`` values read per voxel).
_SOURCE_CHUNK = 1 << 16

#: Flat tile voxel indices -> ``(2^D, M)`` flat source indices and float64 weights of their cell corners.
_CornerFn = Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]


def label_dtype(num_classes: int, fill: float = 0.0) -> torch.dtype:
    """The smallest integer dtype that holds the labels ``0 .. num_classes - 1`` and the fill label.

    ``uint8`` up to 256 classes, then ``int16``, ``int32``, ``int64`` (torch has few kernels for
    ``uint16``/``uint32``).
    """
    low, high = min(0, int(fill)), max(num_classes - 1, int(fill))
    for dtype in (torch.uint8, torch.int16, torch.int32, torch.int64):
        info = torch.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return dtype
    raise ModeError(f"fill label {fill!r} does not fit in int64")


def warp_argmax(
    image: torch.Tensor,
    source: Space,
    target: Space,
    options: Optional[WarpOptions] = None,
    *,
    keep_prob: bool = False,
    plan: Optional[WarpPlan] = None,
) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The argmax over channels of ``image`` resampled onto ``target``, without the ``K x target`` intermediate.

    Args:
        image: ``(K, *source.shape)`` probabilities or logits (any real dtype; a MONAI
            ``MetaTensor`` is read as a plain tensor), CPU or CUDA. Never modified.
        source, target: the grids ``image`` lies on and the one to map it to.
        options: how each channel would be sampled: ``mode`` ``"linear"`` (default) or
            ``"cubic"``, ``padding_mode``, ``fill`` (the fill label outside the source field of
            view with ``"zeros"`` padding: a whole number, default 0). ``"nearest"`` and
            ``"label"`` are refused: the argmax of nearest samples is the nearest sample of
            the argmax (take ``image.argmax(0)`` and warp that), and ``"label"`` is for maps
            that are already labels.
        keep_prob: also return the winning channel's interpolated value (its probability when
            ``image`` holds probabilities, its logit for logits); 0 outside the field of view.
        plan: a plan for ``source -> target`` to execute instead of planning again.

    Returns:
        ``(labels, prob)``: ``labels`` ``(1, *target.shape)`` in :func:`label_dtype` of ``K``;
        ``prob`` ``(1, *target.shape)`` float32 (float64 for float64 input) or ``None``.

    Raises:
        SpaceTypeError: ``image`` is not a real-valued tensor, or the spaces are not Spaces.
        ShapeMismatchError: ``image`` is not ``(K, *source.shape)``.
        ModeError: mode ``"nearest"``/``"label"``, or a fill label that is not a whole number.
    """
    if options is None:
        options = WarpOptions()
    if not isinstance(image, torch.Tensor):
        raise SpaceTypeError(f"image must be a torch.Tensor (K, *spatial), got {type(image).__name__}")
    as_tensor = getattr(image, "as_tensor", None)
    x: torch.Tensor = as_tensor() if callable(as_tensor) else image
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise SpaceTypeError(f"argmax needs real-valued probabilities or logits, got dtype {x.dtype}")
    if options.mode not in ("linear", "cubic"):
        raise ModeError(
            f"argmax=True interpolates every channel and needs mode 'linear' (or 'bilinear', 'cubic'), got mode "
            f"{options.mode!r}: for a nearest export warp the argmax instead, mode 'label' is for label maps"
        )
    fill = options.fill
    if fill != int(fill):
        raise ModeError(f"fill is the fill label with argmax=True and must be a whole number, got {fill!r}")
    if plan is None:
        plan = plan_warp(source, target)
    if x.dim() != source.ndim + 1 or tuple(x.shape[1:]) != source.shape or x.shape[0] < 1:
        raise ShapeMismatchError(
            f"argmax needs (K, *spatial) channels on the source grid {source.shape}, got shape {tuple(x.shape)}"
        )
    num_classes = int(x.shape[0])
    out_dtype = label_dtype(num_classes, fill)
    prob_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    labels = torch.full((1, *target.shape), int(fill), dtype=out_dtype, device=x.device)
    prob = torch.zeros((1, *target.shape), dtype=prob_dtype, device=x.device) if keep_prob else None
    box = target_box(plan, options)
    if box is None:
        return labels, prob
    with engine_threads(x.device), torch.no_grad():
        pruned = options.mode == "linear" and not options.anti_aliasing and options.thick_axis_mode is None
        if pruned:
            _Pruned(x.contiguous(), plan, options).run(box, labels[0], None if prob is None else prob[0])
        else:
            _dense(x, source, target, plan, box, options, labels[0], None if prob is None else prob[0])
    return labels, prob


def _dense(
    x: torch.Tensor,
    source: Space,
    target: Space,
    plan: WarpPlan,
    box: Box,
    options: WarpOptions,
    labels: torch.Tensor,
    prob: Optional[torch.Tensor],
) -> None:
    """Cubic (and smoothed) sampling: per tile, the channels in groups, a running maximum and its index."""
    num_classes = x.shape[0]
    tile_voxels = max(1, min(TILE_VOXELS, _DENSE_BYTES // (4 * num_classes)))
    group = max(1, _DENSE_BYTES // (4 * tile_voxels))
    for tile in general_tiles(box, tile_voxels):
        starts, stops = [s.start for s in tile], [s.stop for s in tile]
        space = target.crop(starts, stops)
        best: Optional[torch.Tensor] = None
        index: Optional[torch.Tensor] = None
        for g0 in range(0, num_classes, group):
            values = warp_image(x[g0 : g0 + group], source, space, options=options)
            top, arg = values.max(0)
            if best is None or index is None:
                best, index = top, arg
            else:
                better = top > best  # strictly: an earlier class keeps a tie
                best = torch.where(better, top, best)
                index = torch.where(better, arg + g0, index)
        assert best is not None and index is not None
        out = index.to(labels.dtype)
        if options.constant and plan.kind == "general":
            inside = _inside(plan, tuple(starts), tuple(out.shape), out.device)
            out = torch.where(inside, out, torch.full_like(out, int(options.fill)))
            best = torch.where(inside, best, torch.zeros_like(best))
        labels[tile] = out
        if prob is not None:
            prob[tile] = best.to(prob.dtype)


def _inside(plan: WarpPlan, starts: tuple[int, ...], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """Bool ``shape``: the tile voxels whose centre lies in the source field of view (general plans)."""
    lo, hi = inside_runs(plan, starts, shape)
    j = torch.arange(shape[-1], device=device)
    return (j >= lo.to(device).unsqueeze(-1)) & (j < hi.to(device).unsqueeze(-1))


class _Pruned:
    """Linear argmax through the source's first-maximum classes (see the module docstring)."""

    def __init__(self, x: torch.Tensor, plan: WarpPlan, options: WarpOptions) -> None:
        self.plan, self.options = plan, options
        self.num_classes = int(x.shape[0])
        self.source_shape = tuple(int(n) for n in x.shape[1:])
        self.ndim = len(self.source_shape)
        self.flat = x.view(self.num_classes, -1)
        count = self.flat.shape[1]
        self.strides = [int(np.prod(self.source_shape[k + 1 :])) for k in range(self.ndim)]
        # first-maximum class per source voxel (torch.max returns the first maximal index); on CPU one
        # compiled pass also keeps every voxel's runner-up and third value for the certificate
        first = torch.empty(count, dtype=torch.int64 if self.num_classes > 32766 else torch.int16, device=x.device)
        self.second = torch.full((count,), float("inf"), dtype=torch.float32, device=x.device)
        self.second_class = torch.full((count,), -1, dtype=first.dtype, device=x.device)
        self.third = torch.full((count,), float("inf"), dtype=torch.float32, device=x.device)
        # (not with NaN: torch's NaN rules are the reference)
        self.compiled = compiled.export_first_pass(x, first, self.second, self.second_class, self.third)
        if not self.compiled:
            for c0 in range(0, count, _SOURCE_CHUNK):
                first[c0 : c0 + _SOURCE_CHUNK] = self.flat[:, c0 : c0 + _SOURCE_CHUNK].max(0).indices
        self.first = first
        code_dtype = torch.uint8 if self.num_classes <= 254 else first.dtype
        pair_dtype = torch.uint8 if self.num_classes <= 256 else first.dtype
        self.cell_low = torch.zeros(count, dtype=pair_dtype, device=x.device)
        self.cell_high = torch.zeros(count, dtype=pair_dtype, device=x.device)
        if self.compiled:  # codes and certificate in one compiled pass, no full-size temporaries
            self.code = torch.empty(self.source_shape, dtype=code_dtype, device=x.device)
            self.compiled = compiled.export_certify(x, self.code, first, self.second, self.second_class, self.third,
                                                    self.cell_low, self.cell_high)
        if not self.compiled:
            self._torch_codes(code_dtype)

    def _torch_codes(self, code_dtype: torch.dtype) -> None:
        """The cell codes, the runners-up at mixed cells' corners and the certificate, by torch ops."""
        first = self.first
        grid = first.view(self.source_shape)
        mixed = torch.zeros(self.source_shape, dtype=torch.bool, device=first.device)
        for corner in itertools.product((0, 1), repeat=self.ndim):
            if any(corner):  # cell at its lowest corner c; corners past the upper edge are clamped onto c's
                low = tuple(slice(0, n - s) for n, s in zip(self.source_shape, corner))
                high = tuple(slice(s, n) for n, s in zip(self.source_shape, corner))
                mixed[low] |= grid[low] != grid[high]
        # the code a tile gathers: the cell's class, or K + 1 for a mixed cell (K once certified below)
        self.code = torch.where(mixed, torch.full_like(grid, self.num_classes + 1), grid).to(code_dtype)
        self._runners_up(mixed)
        self._certify_cells()

    def _runners_up(self, mixed: torch.Tensor) -> None:
        """The runners-up at every corner of a mixed cell, for the certificate: second value and
        class, third value (+inf elsewhere: never read)."""
        corners = mixed.clone()
        for corner in itertools.product((0, 1), repeat=self.ndim):
            if any(corner):
                low = tuple(slice(0, n - s) for n, s in zip(self.source_shape, corner))
                high = tuple(slice(s, n) for n, s in zip(self.source_shape, corner))
                corners[high] |= mixed[low]
        where = torch.nonzero(corners.view(-1)).squeeze(1)
        del corners
        ranks = min(2, self.num_classes - 1)
        block = max(1, (_SOURCE_CHUNK * 16) // self.num_classes)
        for b0 in range(0, where.numel() if self.num_classes > 1 else 0, block):
            idx = where[b0 : b0 + block]
            # the runner-up is the best class other than the voxel's first maximum: topk's order among
            # tied values is not the first maximum's, so that class is masked out, not topk's first
            values = self.flat.index_select(1, idx).to(torch.float64)
            values.scatter_(0, self.first.index_select(0, idx).long().unsqueeze(0), float("-inf"))
            top = values.topk(ranks, dim=0)
            self.second[idx] = top.values[0].to(torch.float32)
            self.second_class[idx] = top.indices[0].to(self.first.dtype)
            self.third[idx] = top.values[1].to(torch.float32) if ranks == 2 else float("-inf")

    def _certify_cells(self) -> None:
        """Per mixed cell whose corners hold two classes ``lo < hi``: when every other class stays
        below both candidates everywhere in the cell (the largest corner bound of the others is
        below ``max(min x_lo, min x_hi)`` over the corners), its voxels only compare ``lo`` with
        ``hi``. Such cells get code K and their pair in ``cell_low``/``cell_high``."""
        code = self.code.view(-1)
        cells = torch.nonzero(code == self.num_classes + 1).squeeze(1)
        for b0 in range(0, cells.numel(), SCORE_BLOCK):
            cell = cells[b0 : b0 + SCORE_BLOCK]
            parts, rest = [], cell
            for n in reversed(self.source_shape):
                parts.append(rest % n)
                rest = rest // n
            parts.reverse()
            highs = [(p + 1).clamp(max=n - 1) for p, n in zip(parts, self.source_shape)]
            taps, _ = _corners(parts, highs, [torch.zeros(cell.shape, dtype=torch.float64, device=cell.device)] * self.ndim, self.strides)
            flat_taps = taps.reshape(-1)
            corner_classes = self.first.index_select(0, flat_taps).view(taps.shape).long()
            low, high = corner_classes[0].clone(), corner_classes[0].clone()
            for row in corner_classes[1:]:
                torch.minimum(low, row, out=low)
                torch.maximum(high, row, out=high)
            two = ((corner_classes == low) | (corner_classes == high)).all(0)
            count = self.flat.shape[1]
            source = self.flat.view(-1)
            least = torch.maximum(
                source.index_select(0, (low.unsqueeze(0) * count + taps).view(-1)).view(taps.shape).amin(0),
                source.index_select(0, (high.unsqueeze(0) * count + taps).view(-1)).view(taps.shape).amin(0),
            ).to(torch.float64)
            runner_up = self.second_class.index_select(0, flat_taps).view(taps.shape).long()
            taken = (runner_up == low) | (runner_up == high)
            bound = torch.where(taken, self.third.index_select(0, flat_taps).view(taps.shape), self.second.index_select(0, flat_taps).view(taps.shape))
            sure = two & (bound.to(torch.float64).amax(0) < least)
            done = cell[sure]
            code.index_fill_(0, done, self.num_classes)
            self.cell_low.index_copy_(0, done, low[sure].to(self.cell_low.dtype))
            self.cell_high.index_copy_(0, done, high[sure].to(self.cell_high.dtype))

    # -- per tile -------------------------------------------------------------------------------

    def run(self, box: Box, labels: torch.Tensor, prob: Optional[torch.Tensor]) -> None:
        x = self.flat.view(self.num_classes, *self.source_shape)
        if self.compiled and compiled.export_argmax(
            x, self.code, self.first, self.second, self.second_class, self.third, self.cell_low, self.cell_high,
            self.plan, box, self.options, labels[box], None if prob is None else prob[box],
        ):
            return
        for tile in general_tiles(box, TILE_VOXELS):
            shape = tuple(s.stop - s.start for s in tile)
            starts = tuple(s.start for s in tile)
            if self.plan.kind == "general":
                geometry = self._general_geometry(starts, shape)
            else:
                geometry = self._separable_geometry(tile)
            code, inside, corner_of = geometry
            fill = int(self.options.fill)
            out = code.to(labels.dtype)  # mixed voxels hold K or K + 1 here, overwritten below
            todo = code >= self.num_classes
            pure = ~todo
            if inside is not None:
                todo &= inside
                pure &= inside
            flat_out = out.view(-1)
            best_all: Optional[torch.Tensor] = None
            if prob is not None:
                best_all = torch.zeros(shape, dtype=prob.dtype, device=labels.device).view(-1)
            for kind, score_fn in ((self.num_classes, self._score_pair), (self.num_classes + 1, self._score)):
                mixed = torch.nonzero((todo & (code == kind)).view(-1)).squeeze(1)
                for b0 in range(0, mixed.numel(), SCORE_BLOCK):
                    idx = mixed[b0 : b0 + SCORE_BLOCK]
                    taps, weights = corner_of(idx)
                    winner, score = score_fn(taps, weights)
                    flat_out.index_copy_(0, idx, winner.to(labels.dtype))
                    if best_all is not None:
                        best_all[idx] = score.to(best_all.dtype)
            if best_all is not None:  # the pure voxels' winning value: their class at their taps
                where = torch.nonzero(pure.view(-1)).squeeze(1)
                for b0 in range(0, where.numel(), SCORE_BLOCK * 4):
                    idx = where[b0 : b0 + SCORE_BLOCK * 4]
                    taps, weights = corner_of(idx)
                    classes = code.view(-1).index_select(0, idx).long().unsqueeze(0)
                    best_all[idx] = self._values(classes, taps, weights)[0].to(best_all.dtype)
            if inside is not None:
                out = torch.where(inside, out, torch.full_like(out, fill))
                if best_all is not None:
                    best_all = torch.where(inside.view(-1), best_all, torch.zeros_like(best_all))
            labels[tile] = out
            if prob is not None and best_all is not None:
                prob[tile] = best_all.view(shape)

    def _separable_geometry(self, tile: tuple[slice, ...]) -> tuple[torch.Tensor, Optional[torch.Tensor], _CornerFn]:
        """Axis-aligned plan: per target axis the lower tap, upper tap and weight; codes by per-axis gathers."""
        plan = self.plan
        assert plan.axes is not None
        device = self.code.device
        lows, highs, fracs = [], [], []
        for k, axis in enumerate(plan.axes):
            n = self.source_shape[axis]
            x = torch.from_numpy(plan.axis_coords(k, tile[k].start, tile[k].stop)).to(device)
            xw = wrap_coord(x, n, self.options)
            low = torch.floor(xw)
            fracs.append(xw - low)
            lows.append(low.long())
            highs.append((low.long() + 1).clamp(max=n - 1))
        # the codes by one gather per axis, innermost first: the element-wise gather runs on the
        # smallest array, the outer axes then copy whole rows
        code = self.code.permute(*plan.axes)
        rows = []
        for k in range(self.ndim):  # the tile's source window first (views)
            lo, hi = int(lows[k].min()), int(lows[k].max())
            code = code.narrow(k, lo, hi - lo + 1)
            rows.append(lows[k] - lo)
        for k in reversed(range(self.ndim)):
            if rows[k].numel() == code.shape[k] and bool((rows[k].diff() == 1).all()):
                continue  # one ascending run: already the window
            if k == self.ndim - 1:
                code = code.contiguous()
                code = code.view(-1, code.shape[-1]).index_select(1, rows[k]).view(*code.shape[:-1], -1)
            else:
                code = code.index_select(k, rows[k])
        strides = [self.strides[a] for a in plan.axes]
        shape = tuple(s.stop - s.start for s in tile)

        def corner_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            parts, rest = [], idx
            for m in reversed(shape):
                parts.append(rest % m)
                rest = rest // m
            parts.reverse()
            return _corners(
                [lo.index_select(0, p) for lo, p in zip(lows, parts)],
                [hi.index_select(0, p) for hi, p in zip(highs, parts)],
                [f.index_select(0, p) for f, p in zip(fracs, parts)],
                strides,
            )

        return code.contiguous(), None, corner_of

    def _general_geometry(
        self, starts: tuple[int, ...], shape: tuple[int, ...]
    ) -> tuple[torch.Tensor, Optional[torch.Tensor], _CornerFn]:
        """Any affine plan: float64 coordinates of the tile's voxels, lower-corner flat index, one gather."""
        device = self.code.device
        coords = [snap_half(c) for c in chunk_coords(self.plan.matrix, starts, shape, torch.float64, device)]
        lows, highs, fracs = [], [], []
        flat: Optional[torch.Tensor] = None
        for k, n in enumerate(self.source_shape):
            xw = wrap_coord(coords[k], n, self.options)
            low = torch.floor(xw)
            fracs.append((xw - low).view(-1))
            lows.append(low.long().view(-1))
            highs.append((lows[-1] + 1).clamp(max=n - 1))
            flat = lows[-1] * self.strides[k] if flat is None else flat + lows[-1] * self.strides[k]
        assert flat is not None
        code = self.code.view(-1).index_select(0, flat).view(shape)
        inside = _inside(self.plan, starts, shape, device) if self.options.constant else None

        def corner_of(idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            pick = [t.index_select(0, idx) for t in (*lows, *highs, *fracs)]
            ndim = len(lows)
            return _corners(pick[:ndim], pick[ndim : 2 * ndim], pick[2 * ndim :], self.strides)

        return code, inside, corner_of

    # -- scoring ----------------------------------------------------------------------------------

    def _values(self, classes: torch.Tensor, taps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``(T, M)`` float64 interpolated values of ``classes`` ``(T, M)`` at voxels with ``taps``/``weights`` ``(S, M)``."""
        count = self.flat.shape[1]
        source = self.flat.view(-1)
        index = classes.unsqueeze(1) * count + taps.unsqueeze(0)  # (T, S, M)
        values = source.index_select(0, index.view(-1)).view(index.shape).to(torch.float64)
        return (values * weights.unsqueeze(0)).sum(1)

    def _score_pair(self, taps: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Voxels of certified two-class cells (:meth:`_certify_cells`): ``lo`` against ``hi``, ties to ``lo``."""
        cell = taps[0]  # the lower corner is the cell's index
        low = self.cell_low.index_select(0, cell).long()
        high = self.cell_high.index_select(0, cell).long()
        values = self._values(torch.stack([low, high]), taps, weights)
        return torch.where(values[1] > values[0], high, low), torch.maximum(values[0], values[1])

    def _score(self, taps: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Winner and its value for mixed voxels with ``taps``/``weights`` ``(S, M)``."""
        shape = taps.shape
        flat_taps = taps.reshape(-1)
        corner_classes = self.first.index_select(0, flat_taps).view(shape).long()
        low, high = corner_classes[0].clone(), corner_classes[0].clone()
        for row in corner_classes[1:]:  # elementwise: a reduction over the short leading dim is slower
            torch.minimum(low, row, out=low)
            torch.maximum(high, row, out=high)
        # every voxel scored as two-class (low, high): exact ties go to the smaller class
        values = self._values(torch.stack([low, high]), taps, weights)
        winner = torch.where(values[1] > values[0], high, low)
        score = torch.maximum(values[0], values[1])
        runner_up = self.second_class.index_select(0, flat_taps).view(shape).long()
        taken = (runner_up == low) | (runner_up == high)
        many = torch.nonzero(~((corner_classes == low) | (corner_classes == high)).all(0)).squeeze(1)
        if many.numel():  # 3 or more classes among the corners: each corner's class, ascending
            cand = corner_classes.index_select(1, many).sort(0).values
            top, pick = self._values(cand, taps.index_select(1, many), weights.index_select(1, many)).max(0)
            winner.index_copy_(0, many, cand.gather(0, pick.unsqueeze(0))[0])
            score.index_copy_(0, many, top)
            taken.index_copy_(1, many, (runner_up.index_select(1, many).unsqueeze(1) == cand.unsqueeze(0)).any(1))
        # certificate: a class that is no candidate is at most, at each corner, its second value
        # (its third when the second belongs to a candidate), so at most the largest of those over
        # the corners with a weight; where that bound reaches the best candidate, score every class
        bound = torch.where(taken, self.third.index_select(0, flat_taps).view(shape), self.second.index_select(0, flat_taps).view(shape))
        bound = torch.where(weights > 0, bound.to(torch.float64), float("-inf")).amax(0)
        doubt = torch.nonzero(~(bound < score)).squeeze(1)
        block = max(1, _FULL_BLOCK // self.num_classes)
        for b0 in range(0, doubt.numel(), block):
            part = doubt[b0 : b0 + block]
            part_taps, part_weights = taps.index_select(1, part), weights.index_select(1, part)
            full = torch.zeros((self.num_classes, part.numel()), dtype=torch.float64, device=taps.device)
            for s in range(shape[0]):
                full.addcmul_(self.flat.index_select(1, part_taps[s]).to(torch.float64), part_weights[s])
            top, pick = full.max(0)
            winner.index_copy_(0, part, pick)
            score.index_copy_(0, part, top)
        return winner, score


def _corners(
    lows: list[torch.Tensor], highs: list[torch.Tensor], fracs: list[torch.Tensor], strides: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(2^D, M)`` flat source indices and float64 weights of the cell corners of ``M`` voxels."""
    taps, weights = [], []
    for corner in itertools.product((0, 1), repeat=len(lows)):
        index: Optional[torch.Tensor] = None
        weight: Optional[torch.Tensor] = None
        for k, s in enumerate(corner):
            i = (highs[k] if s else lows[k]) * strides[k]
            w = fracs[k] if s else 1.0 - fracs[k]
            index = i if index is None else index + i
            weight = w if weight is None else weight * w
        assert index is not None and weight is not None
        taps.append(index)
        weights.append(weight.to(torch.float64))
    return torch.stack(taps), torch.stack(weights)
