"""Lazy fusion: MONAI's pending spatial operations executed, with ours, as one resample by our engine.

MONAI's lazy mode (``Compose(lazy=True)`` or ``lazy=True`` on its spatial transforms) does not
touch pixels: each transform appends a *pending operation* to the MetaTensor, a record whose
``lazy_affine`` maps the transform's output voxel indices to its input voxel indices and
whose ``lazy_shape`` is its output shape. ``x.affine`` and ``x.shape`` stay those of the
data actually held (the *data grid*); ``x.peek_pending_affine()`` / ``peek_pending_shape()``
give the grid the data will lie on once everything pending is executed (the *pending grid*).
When MONAI executes them itself (``apply_pending``) it drops the per-transform ``mode``
(MONAI issue #6850: a nearest-resampled label comes back interpolated).

This module takes those operations instead:

- :func:`take_pending` reads the data grid, the pending grid and the operations of one
  MetaTensor; the Space transforms plan from the pending grid and warp from the data grid,
  so a run of MONAI lazy transforms followed by one of ours is **one** resample;
- :func:`fuse_options` decides the one mode a key is resampled with (rule below);
- :func:`with_applied` moves the operations onto ``applied_operations`` in order, exactly
  as MONAI's ``apply_pending`` does, so ``Invertd`` / ``Compose.inverse`` still undo them;
- :func:`~.functional.execute_pending` is the whole job for a MetaTensor whose
  chain ends with MONAI transforms: the sink :class:`~.sink.SpaceApplyPendingd` keeps the
  final execution ours.

**Mode rule** (per key). Only steps that interpolate vote: a step whose own index map is an
integer shift with axis flips/permutations (a crop, pad, flip, reorientation, an identity
respacing) copies voxels and has no say. If any voting step asked for a discrete mode
(MONAI's ``nearest``/``nearest-exact``/spline order 0, or our ``nearest``/``label``), the
key is resampled discretely: ``label`` when our step asked for it, else centre-consistent
``nearest``; a label map stays a label map, with its dtype. Otherwise the last voting step's
mode wins (MONAI's own rule for compatible operations): ``bilinear``/``trilinear``/``area``
→ ``linear``, ``bicubic``/spline orders ≥ 2 → ``cubic``. Padding (``padding_mode`` and the
fill) is that of our step, unless some fused step fills with a constant (MONAI's
``padding_mode="zeros"``, a ``constant`` pad, our ``zeros`` padding): the fused resample has
one boundary, the data grid's, and what lies beyond it was that constant (0) in the eager chain.
When the warp re-reads the input of an earlier lazy Space step (:func:`plan_step`), the data grid
is that step's input, and beyond it the earlier step's padding filled its output: the fused warp
pads with it (a ``border`` resample followed by a flip keeps its border values); a later step that
pads its own grid with a constant is applied beyond that grid (:attr:`FusedStep.limits`).

The pending grid may be sheared (MONAI's rotation of an anisotropic grid in index space, its
``shear_range``): a :class:`Space` holds any invertible affine. Only a singular pending affine
raises :class:`~monai_spacetx.errors.SpaceError`, naming the operations.
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from types import FrameType
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import LazyAttr, TraceKeys, convert_to_tensor

from ..engine import recent_plan, warp_image
from ..engine.options import Mode, WarpOptions
from ..errors import SpaceError, SpaceTypeError
from ..geometry.points import index_map, nearest_voxel
from ..geometry.space import Space
from ..geometry.tolerances import PLAN_TOL
from .meta import NATIVE_KEY, SPACE_KEY, cached_space, find_native_space, get_native_space, space_from_meta
from .records import read_record, square

__all__ = [
    "PendingRun",
    "pending_space",
    "take_pending",
    "recorded_mode",
    "op_votes",
    "pads_with_constant",
    "fuse_options",
    "FusedStep",
    "Replay",
    "plan_step",
    "remember",
    "forget",
    "Deferred",
    "defer",
    "realize",
    "output_dtype",
    "runs_lazily",
    "copies",
    "with_applied",
    "execute",
    "execute_fused",
    "run_step",
    "warp_as",
    "outside_grid",
    "pending_grids",
    "FUSED_KEY",
    "DATA_SOURCE_KEY",
    "landmark_grid",
]

_DISCRETE: tuple[Mode, ...] = ("nearest", "label")


def _op_names(ops: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(op.get(TraceKeys.CLASS_NAME, "?")) for op in ops]


def _data_space(img: MetaTensor) -> Space:
    """:meth:`Space.from_metatensor` of ``img``: the grid of the data it holds (recent grids from a cache)."""
    affine = getattr(img, "affine", None)
    return cached_space(affine, tuple(img.shape[1:]), lambda: Space.from_metatensor(img))


def pending_space(img: MetaTensor) -> Space:
    """The grid ``img`` lies on once its pending operations are executed (its own grid when none).

    Raises:
        SpaceError: the pending affine is singular (not a grid), naming the pending operations.
    """
    if not img.pending_operations:
        return _data_space(img)
    try:
        affine, shape = img.peek_pending_affine(), img.peek_pending_shape()
        return cached_space(affine, shape, lambda: Space.from_affine(affine, shape))
    except SpaceError as err:
        raise SpaceError(
            f"the pending operations {_op_names(img.pending_operations)} give a grid that is not a Space "
            f"(a singular affine), so they cannot be fused into one resample: {err}"
        ) from err


@dataclass(frozen=True)
class PendingRun:
    """What a MetaTensor holds and what is pending on it.

    Attributes:
        data: the pixels actually held, a plain tensor ``(C, *source.shape)``.
        source: the data grid (``x.affine``, ``x.shape[1:]``): where a fused warp reads from.
        grid: the pending grid: where the pending operations put the data (``source`` if none).
        ops: the pending operation records, oldest first (MONAI's dicts, not copied).
    """

    data: torch.Tensor
    source: Space
    grid: Space
    ops: tuple[dict[str, Any], ...]


def take_pending(img: MetaTensor, read: bool = True) -> PendingRun:
    """The data grid, pending grid and pending operations of ``img`` (never modified).

    ``read=False``: the caller reads an earlier step's input instead of these pixels, so a
    deferred output (:class:`Deferred`) is not computed for it.
    """
    ops = tuple(img.pending_operations)
    source = _data_space(img)
    data = img.as_tensor() if read else torch.Tensor.as_subclass(img, torch.Tensor)
    return PendingRun(data, source, pending_space(img) if ops else source, ops)


def recorded_mode(op: Mapping[str, Any]) -> Optional[Mode]:
    """The interpolation mode a MONAI operation was recorded with, as ours; ``None`` if it does not interpolate.

    Read by the one record reader (:func:`~.records.read_record`), which unwraps the random
    dictionary transforms' nested records and raises our error for a transform it does not know.
    """
    return read_record(op).mode


def pads_with_constant(op: Mapping[str, Any]) -> bool:
    """Whether a MONAI operation fills what lies outside its input with a constant (``zeros``/``constant``)."""
    return read_record(op).constant


def copies(source: Space, target: Space) -> bool:
    """Whether resampling ``source`` onto ``target`` only copies voxels (crop, pad, flip, permutation).

    The plan is the engine's for the pair (its cache of recent plans): the warp that follows plans the
    same pair, and a sample's keys share their grids, so it is made once."""
    return recent_plan(source, target).kind in ("identity", "index")


def _op_copies(op: Mapping[str, Any], ndim: int) -> bool:
    """Whether a pending operation's own index map is an integer shift with flips/permutations."""
    matrix = convert_to_tensor(op[LazyAttr.AFFINE], dtype=torch.float64, track_meta=False).cpu().numpy()
    rows = list(range(ndim)) + [matrix.shape[0] - 1]  # a 2-D op may come in MONAI's 4x4 form
    matrix = matrix[np.ix_(rows, rows)]
    rounded = np.round(matrix)
    integral = bool(np.abs(matrix - rounded).max() <= PLAN_TOL)
    axes = np.abs(rounded[:ndim, :ndim])
    return integral and bool((axes.sum(axis=0) == 1).all() and (axes.sum(axis=1) == 1).all())


def op_votes(ops: Sequence[Mapping[str, Any]], ndim: int = 3) -> list[Mode]:
    """The modes the interpolating operations among ``ops`` were recorded with, oldest first (the module's rule)."""
    votes: list[Mode] = []
    for op in ops:
        mode = read_record(op).mode
        if mode is not None and not _op_copies(op, ndim):
            votes.append(mode)
    return votes


def _decide(votes: Sequence[Mode], options: WarpOptions, own_vote: bool, constant: bool = False) -> WarpOptions:
    """The mode rule; ``constant``: some fused step fills with a constant, which then decides the padding."""
    mode: Mode = options.mode
    if votes and any(v in _DISCRETE for v in votes):
        mode = "label" if options.mode == "label" and own_vote else "nearest"
    elif votes:
        mode = votes[-1]
    if constant and not options.constant:
        return replace(options, mode=mode, padding_mode="zeros", fill=0.0)
    return replace(options, mode=mode)


def fuse_options(
    ops: Sequence[Mapping[str, Any]],
    options: WarpOptions,
    own_copies: bool = False,
    ndim: int = 3,
) -> WarpOptions:
    """The options one key's fused resample runs with (see the module's mode rule).

    Args:
        ops: the key's pending MONAI operations, oldest first.
        options: our step's options (mode, padding mode, fill); the padding is kept.
        own_copies: whether our step itself only copies (a crop): then its mode has no vote.
        ndim: spatial dimensions of the image.
    """
    votes = op_votes(ops, ndim) + ([] if own_copies else [options.mode])
    return _decide(votes, options, not own_copies, any(pads_with_constant(op) for op in ops))


@dataclass(frozen=True)
class Replay:
    """A step whose grid is filled outside ``inner`` from its own inside (a MONAI pad mode, e.g. ``Zoom``'s ``edge``).

    Attributes:
        grid: the step's output grid.
        inner: one slice per axis: the part of ``grid`` the step's warp computed.
        pad: ``(C, *grid.shape)`` pixels -> the same with everything outside ``inner`` filled from inside it.
    """

    grid: Space
    inner: tuple[slice, ...]
    pad: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class FusedStep:
    """One Space step with everything it executes: what to warp, from where, how.

    Attributes:
        data: the pixels the warp reads, ``(C, *source.shape)``.
        source: their grid: the data grid, or the input of an earlier lazy Space step whose
            untouched output this step received (consecutive Space transforms fuse).
        grid: the grid our step starts from (the pending grid; what its record says).
        options: the fused options of the one warp.
        votes: the modes of every interpolating step the warp covers (for the next step).
        fused: how many records before ours the warp covers (MONAI's pending operations,
            and an earlier step's records when re-fused); 0 when it is our step alone.
        has_pending: whether MONAI operations are pending on the input (to move them).
        limits: ``(grid, fill)`` for the grids the data passed through between ``source`` and
            the target (each pending operation's output, an earlier step's output) whose next
            step pads with a constant: the eager chain held data only inside each, so a target
            voxel beyond one of them is that step's fill, not data read further out.
        replays: the paddings that fill a step's grid from its own inside (MONAI's pad modes,
            ``edge``, ``symmetric``, ...: a kept-size zoom's), replayed by :func:`run_step`.
        pixels: ``(data, grid)``: the earlier step's computed output, when the warp only copies
            from it (a flip or crop after a Space step whose pixels were read): :func:`run_step`
            copies them instead of warping ``data`` again.
    """

    data: torch.Tensor
    source: Space
    grid: Space
    options: WarpOptions
    votes: tuple[Mode, ...]
    fused: int
    has_pending: bool
    limits: tuple[tuple[Space, float], ...] = ()
    replays: tuple["Replay", ...] = ()
    pixels: Optional[tuple[torch.Tensor, Space]] = None


@dataclass(frozen=True)
class _Base:
    """Kept for a lazy Space step's output: the input it was computed from, and how."""

    data: torch.Tensor
    source: Space
    votes: tuple[Mode, ...]
    records: int  # records from ``source`` up to and with the step's own
    record: Mapping[str, Any]  # the step's record (``extra_info``), checked by identity
    layout: tuple[Any, ...]  # (version, shape, stride, offset, dtype, device) of the output
    limits: tuple[tuple[Space, float], ...]  # FusedStep.limits of the step
    padding: tuple[str, float]  # (padding_mode, fill) its warp read beyond ``source`` with
    replays: tuple[Replay, ...]  # FusedStep.replays of the step


# untyped storage of a lazy Space step's output -> its input; an entry lives as long as some
# tensor uses that storage (a new tensor, e.g. after an intensity transform, has a new one)
_BASES: "weakref.WeakKeyDictionary[Any, _Base]" = weakref.WeakKeyDictionary()


def _layout(t: torch.Tensor) -> tuple[Any, ...]:
    return (t._version, tuple(t.shape), t.stride(), t.storage_offset(), t.dtype, t.device)


def _recall(img: MetaTensor) -> Optional[_Base]:
    """The input of the lazy Space step whose untouched output ``img`` is, if any."""
    base = _BASES.get(img.untyped_storage())
    if base is None or _layout(img) != base.layout or not img.applied_operations:
        return None
    last = img.applied_operations[-1].get(TraceKeys.EXTRA_INFO)
    return base if last is base.record else None


def pending_grids(run: PendingRun) -> tuple[Space, ...]:
    """The grid after each pending operation of ``run``, oldest first (the last is ``run.grid``)."""
    ndim, grids = run.source.ndim, []
    affine = run.source.affine
    for op in run.ops:
        affine = affine @ square(np.asarray(convert_to_tensor(op[LazyAttr.AFFINE], dtype=torch.float64, track_meta=False).cpu().numpy()), ndim)
        shape = [int(n) for n in op[LazyAttr.SHAPE]][:ndim]
        grids.append(cached_space(affine, shape, functools.partial(Space.from_affine, affine, shape)))
    return tuple(grids)


def _held_windows(first: Space, grids: Sequence[Space]) -> tuple[Space, ...]:
    """Each of ``grids`` (the grids the data passed through after ``first``, in order) as the window of voxels it
    holds, on the lattice of the grid that computed them: ``first`` or the last grid that interpolated.

    A crop, pad, flip or permutation moves voxels and decides no tie, so whether a target centre on a
    grid's edge lies beyond it is decided by the tie rule (:func:`~monai_spacetx.geometry.points.nearest_voxel`) in
    the frame of the voxels' own grid, the frame the fused warp's nearest reads in when it is the
    source: a flip's far edge is the near edge of what it flipped, and a chain gives the same voxels
    with or without it (a centre on a crop's edge read in a flipped frame took the voxel the crop
    removed; random chain 100653). The window has the same voxel boxes as the grid (``outside_grid``
    answers the same off the edges).
    """
    out: list[Space] = []
    frame = first
    for grid in grids:
        if copies(frame, grid):  # an integer map: the grid's voxels are a box of the frame's
            matrix = index_map(grid, frame)
            ndim = grid.ndim
            corners = np.array(np.meshgrid(*[(0.0, n - 1.0) for n in grid.shape], indexing="ij")).reshape(ndim, -1)
            mapped = np.round(matrix[:ndim, :ndim] @ corners + matrix[:ndim, ndim : ndim + 1]).astype(np.int64)
            grid = frame.crop(mapped.min(axis=1), mapped.max(axis=1) + 1)
        out.append(grid)
        frame = grid
    return tuple(out)


def plan_step(img: MetaTensor, options: WarpOptions, target: Space, override: bool = False, run: Optional[PendingRun] = None) -> FusedStep:
    """Everything one Space step onto ``target`` executes, with MONAI's pending operations fused in.

    When ``img`` is the untouched output of an earlier *lazy* Space step (same storage, same
    version, that step's record last), the warp reads that step's input instead, so that
    consecutive Space transforms are one resample too; except when that output's pixels were
    computed (something read them, :class:`Deferred`) and nothing after it interpolates: then
    they are copied (a flip or crop after a resample is no second resample pass).

    Args:
        img: the step's input.
        options: the step's own options (they vote when the step itself interpolates).
        target: the planned grid.
        override: use ``options`` as they are (the sink's ``mode`` given, as MONAI's ``overrides``).
        run: ``take_pending(img)`` with the pixels read, when the caller took it already (:func:`execute_fused`).
    """
    base = _recall(img)
    pending = run.grid if run is not None else pending_space(img)
    own = target is not pending and not copies(pending, target)  # the pending grid itself (the sink's target): a copy
    ndim = len(img.shape) - 1
    # the earlier step's pixels exist (something read them) and the rest only copies them: copy them; a later
    # step that interpolates still reads the earlier step's input (the step below keeps it)
    shortcut = base is not None and not own and img.untyped_storage() not in _PLANS
    shortcut = shortcut and all(_op_copies(op, ndim) for op in img.pending_operations)
    if run is None:  # (a run whose pixels were read serves a step that would not read them: they are there anyway)
        run = take_pending(img, read=base is None or shortcut)  # else the warp reads the earlier step's input: img's pixels may stay unmade
    new_votes = op_votes(run.ops, run.source.ndim)
    if own:
        new_votes.append(options.mode)
    steps = [read_record(op) for op in run.ops]
    constant = options.constant or any(step.constant for step in steps)
    # each grid the data passes through, and whether the step reading it pads with a constant (MONAI: 0)
    grids = ((run.source,) if base is not None else ()) + pending_grids(run)
    readers = [(step.constant, 0.0) for step in steps] + [(options.constant, options.fill)]
    owned = _held_windows(base.source if base is not None else run.source, grids)
    limits = tuple((grid, fill) for grid, (pads, fill) in zip(owned, readers[len(readers) - len(grids) :]) if pads)
    if base is None:
        votes, data, source, fused = tuple(new_votes), run.data, run.source, len(run.ops)
    else:
        votes, data, source = base.votes + tuple(new_votes), base.data, base.source
        fused = base.records + len(run.ops)
        limits = base.limits + limits
    if not override:
        options = _decide(votes, options, own, constant and base is None)
    if base is not None:  # beyond the data the earlier step read, its padding filled the grid the chain went on from
        options = replace(options, padding_mode=base.padding[0], fill=base.padding[1])  # type: ignore[arg-type]
    replays = base.replays if base is not None else ()
    pixels = (run.data, run.source) if shortcut else None
    return FusedStep(data, source, run.grid, options, votes, fused, bool(run.ops), limits, replays, pixels)


def remember(out: torch.Tensor, step: FusedStep, record: Mapping[str, Any]) -> None:
    """Keep ``step``'s input for a following lazy Space step (see :func:`plan_step`); ``out`` is its output."""
    _BASES[out.untyped_storage()] = _Base(
        step.data, step.source, step.votes, step.fused + 1, record, _layout(out), step.limits,
        (step.options.padding_mode, step.options.fill), step.replays,
    )


#: a deferred output's storage -> how to compute it (the step, its target, the computation dtype)
_PLANS: "weakref.WeakKeyDictionary[Any, tuple[FusedStep, Space, Optional[torch.dtype]]]" = weakref.WeakKeyDictionary()

#: what a deferred output answers without computing its pixels (its layout: shape, dtype, storage, ...)
_LAYOUT_ONLY = frozenset(
    [getattr(torch.Tensor, name).__get__ for name in ("shape", "dtype", "device", "ndim", "_version", "requires_grad", "is_cuda", "layout")]
    + [
        getattr(torch.Tensor, name)
        for name in ("size", "dim", "stride", "storage_offset", "untyped_storage", "numel", "element_size",
                     "is_floating_point", "is_complex", "is_contiguous", "__len__")
    ]
)


class Deferred(MetaTensor):
    """A lazy Space step's output whose pixels are computed when something first reads them.

    Under ``Compose(lazy=True)`` a Space step's output is usually read by nothing: the next Space
    step or the sink reads the step's *input* instead (:func:`plan_step`), so computing it would
    be a pass whose result is thrown away. The output is therefore a MetaTensor with its grid,
    dtype and metadata and an uninitialised storage; the first torch operation on it that reads
    values (any but its layout: shape, dtype, storage, ...), and ``as_tensor()`` (through which
    MONAI's transforms take the data), computes the pixels into that storage first, by the same
    one warp the step would have run (:func:`realize`). It is then an ordinary MetaTensor.
    """

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func not in _LAYOUT_ONLY and not _keeps_storage(func, args, kwargs or {}):
            for value in torch.utils._pytree.tree_leaves((args, kwargs or {})):
                if isinstance(value, Deferred):
                    realize(value)
        types = tuple(MetaTensor if issubclass(t, Deferred) else t for t in types)
        return MetaTensor.__torch_function__.__func__(MetaTensor, func, types, args, kwargs)  # type: ignore[attr-defined]

    def as_tensor(self) -> torch.Tensor:
        """The pixels as a plain tensor (computed first if they are not yet).

        Except for a MONAI transform that runs lazily: it takes the data through ``as_tensor()``
        only to wrap it in a new MetaTensor that carries one more pending operation, and reads no
        value. It gets a new, still deferred, MetaTensor on the same storage, so that a MONAI step
        between a Space step and the sink (``SpaceResampled -> RandAffined -> SpaceApplyPendingd``)
        costs no pass: the sink fuses them from the Space step's input. Whatever reads it later
        (MONAI's own flush included) computes the pixels first, as for this one.
        """
        if self.untyped_storage() in _PLANS and _called_by_lazy_monai():
            return _unread_view(self)  # fresh metadata, as MONAI's own as_tensor() + MetaTensor()
        realize(self)  # which makes it an ordinary MetaTensor
        return MetaTensor.as_tensor(self)


def _unread_view(img: torch.Tensor) -> MetaTensor:
    """A MetaTensor with fresh metadata on ``img``'s storage, read nowhere: a :class:`Deferred` when
    ``img`` is one, so that whatever reads it computes the pixels first."""
    view = MetaTensor(torch.Tensor.as_subclass(img, torch.Tensor))
    if isinstance(img, Deferred):
        setattr(view, "__class__", Deferred)
    return view


def _called_by_lazy_monai() -> bool:
    """Whether ``Deferred.as_tensor``'s caller is a MONAI transform's function running with ``lazy=True``.

    MONAI's lazy functions (``crop_func``, ``flip``, ``affine_func`` through ``_maybe_new_metatensor``, ...)
    call ``as_tensor()`` themselves and hold ``lazy`` as an argument, in that function or its caller. The walk
    up from here skips the frames of this module (``as_tensor``'s) and of forwarding wrappers outside MONAI (a
    function taking ``*args, **kwargs``: a decorator's wrapper, a mutation tool's trampoline), however many lie
    in between; of the frames left, the first must be in ``monai.transforms`` (anything else calling
    ``as_tensor()``, our other modules and the user's transforms included, gets the pixels) and hold
    ``lazy=True``, or the next frame left must, also in ``monai.transforms``. A MONAI that reads the data some
    other way only costs the pass this avoids: every read of the deferred view computes it.
    """
    frame = _outside(sys._getframe(1))
    for _ in range(2):
        if frame is None or not str(frame.f_globals.get("__name__", "")).startswith("monai.transforms."):
            return False
        if frame.f_locals.get("lazy") is True:
            return True
        frame = _outside(frame.f_back)
    return False


_FORWARDS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _outside(frame: Optional[FrameType]) -> Optional[FrameType]:
    """``frame`` or the first frame above it that is neither this module's nor a forwarding wrapper outside MONAI."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        wrapper = not module.startswith("monai.") and frame.f_code.co_flags & _FORWARDS == _FORWARDS
        if module != __name__ and not wrapper:
            return frame
        frame = frame.f_back
    return None


def _keeps_storage(func: Any, args: Any, kwargs: Mapping[str, Any]) -> bool:
    """Whether ``func`` is a ``Tensor.to`` that returns its input itself (same dtype and device,
    already contiguous, no copy): MONAI's ``convert_to_tensor`` calls one on what it wraps."""
    if func is not torch.Tensor.to or len(args) != 1 or kwargs.get("copy", False) or kwargs.get("non_blocking", False):
        return False
    (tensor,) = args
    fmt = kwargs.get("memory_format", torch.preserve_format)
    return (
        kwargs.get("dtype") in (None, tensor.dtype)
        and kwargs.get("device") in (None, tensor.device)
        and (fmt is torch.preserve_format or (fmt is torch.contiguous_format and tensor.is_contiguous()))
        and set(kwargs) <= {"dtype", "device", "memory_format", "copy", "non_blocking"}
    )


def output_dtype(data: torch.Tensor, source: Space, target: Space, options: WarpOptions) -> torch.dtype:
    """The dtype :func:`warp_as` returns: the input's where the warp copies values (a copy, nearest, label)
    or the input is floating, else float32 (an interpolated integer image), as the engine."""
    exact = copies(source, target) or options.mode in ("nearest", "label")
    return data.dtype if exact or data.dtype.is_floating_point or data.dtype.is_complex else torch.float32


def defer(step: FusedStep, target: Space, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """An uninitialised ``(C, *target.shape)`` tensor that :func:`realize` fills with ``run_step(step, target, dtype)``."""
    shape = (step.data.shape[0], *target.shape)
    out = torch.empty(shape, dtype=output_dtype(step.data, step.source, target, step.options), device=step.data.device)
    _PLANS[out.untyped_storage()] = (step, target, dtype)
    return out


def realize(img: torch.Tensor) -> None:
    """Compute a deferred output's pixels into its storage (nothing to do when they are there)."""
    storage = img.untyped_storage()
    plan = _PLANS.pop(storage, None)
    if plan is None:
        return
    pixels = run_step(*plan)
    with torch._C.DisableTorchFunctionSubclass():
        torch.Tensor.copy_(img, pixels.reshape(img.shape))
    base = _BASES.get(storage)
    if base is not None:  # writing bumped the version: still the step's untouched output
        _BASES[storage] = replace(base, layout=_layout(img))
    if type(img) is Deferred:
        setattr(img, "__class__", MetaTensor)  # an ordinary MetaTensor from now on


def forget(img: Any) -> None:
    """End the lazy run at ``img``: a following Space step reads ``img``'s own pixels, not the input it was computed from.

    A step that reads the data (a foreground or a sampling crop) ends a segment: what it read is
    what the chain goes on from, for every key it handles (one resample per key per segment).
    """
    if isinstance(img, torch.Tensor):
        _BASES.pop(img.untyped_storage(), None)


def outside_grid(target: Space, grid: Space) -> Optional[np.ndarray]:
    """Target voxels whose centre lies outside ``grid`` (nearest's voxel boxes); ``None``: none does.

    A grid that holds every target voxel centre (its corners suffice: the boxes are convex) costs
    nothing; otherwise the test runs per source axis by broadcasting, one boolean per voxel.
    """
    if target.shape == grid.shape and np.array_equal(target.affine, grid.affine):
        return None  # the grid itself (the sink's own padding limit): every centre is in its own voxel
    ndim = target.ndim
    matrix = index_map(target, grid)

    def inside(coords: np.ndarray, axis: int) -> np.ndarray:
        voxel = nearest_voxel(coords)  # the engine's nearest rule: [i - 0.5, i + 0.5)
        return np.asarray((voxel >= 0) & (voxel < grid.shape[axis]))

    corners = np.array(np.meshgrid(*[(0.0, n - 1.0) for n in target.shape], indexing="ij")).reshape(ndim, -1)
    mapped = matrix[:ndim, :ndim] @ corners + matrix[:ndim, ndim : ndim + 1]
    if all(inside(mapped[k], k).all() for k in range(ndim)):
        return None
    within = np.ones(target.shape, dtype=bool)
    for k, voxel in enumerate(_cells(target, matrix)):
        within &= (voxel >= 0) & (voxel < grid.shape[k])
    return ~within


def _cells(target: Space, matrix: np.ndarray) -> list[np.ndarray]:
    """Per axis of the grid ``matrix`` maps ``target``'s indices into, the voxel (nearest's boxes) each target centre falls in."""
    ndim = target.ndim
    cells = []
    for k in range(ndim):
        coords = np.full(target.shape, matrix[k, ndim])
        for j in range(ndim):
            view = [1] * ndim
            view[j] = -1
            coords = coords + matrix[k, j] * np.arange(target.shape[j], dtype=np.float64).reshape(view)
        cells.append(nearest_voxel(coords))
    return cells


def _in_pad(target: Space, replay: Replay) -> Optional[np.ndarray]:
    """Target voxels whose centre falls in ``replay.grid`` outside its computed part (nearest's voxel boxes); ``None``: none."""
    region = np.ones(target.shape, dtype=bool)
    computed = np.ones(target.shape, dtype=bool)
    for voxel, n, inner in zip(_cells(target, index_map(target, replay.grid)), replay.grid.shape, replay.inner):
        region &= (voxel >= 0) & (voxel < n)
        computed &= (voxel >= inner.start) & (voxel < inner.stop)
    region &= ~computed
    return region if region.any() else None


def run_step(step: FusedStep, target: Space, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Execute a fused step onto ``target``: one warp, then the padding beyond every grid the data passed through.

    Beyond such a grid the eager chain held no data, and the step reading it padded; where that
    step pads with a constant (a crop or pad after a crop, our ``zeros`` padding) the target voxel
    is that constant (:attr:`FusedStep.limits`); where it filled its grid from its own inside (a
    MONAI pad mode, :attr:`FusedStep.replays`) that padding is replayed. An engine ``border`` or
    ``reflection`` padding of an intermediate grid is not: the fused warp reads the data beyond it.
    """
    if step.pixels is not None:  # a copy of pixels that already hold every earlier step's padding
        out = warp_as(step.pixels[0], step.pixels[1], target, step.options, dtype)
    else:
        out = warp_as(step.data, step.source, target, step.options, dtype)
    own = []
    for replay in step.replays:
        if replay.grid == target:  # the step's own padding, on its own output: its last operation, applied last
            own.append(replay)
            continue
        region = _in_pad(target, replay) if step.pixels is None else None  # (copied pixels hold it already)
        if region is not None:  # voxels in that grid's padding: its pixels, padded, carried here
            padded = replay.pad(warp_as(step.data, step.source, replay.grid, step.options, dtype))
            where = torch.as_tensor(region, device=out.device)
            out[:, where] = warp_as(padded, replay.grid, target, step.options, dtype)[:, where]
    for grid, fill in step.limits:  # oldest first: beyond a later grid, the later step's padding is what is left
        mask = outside_grid(target, grid)
        if mask is not None:
            out[:, torch.as_tensor(mask, device=out.device)] = torch.as_tensor(fill, dtype=out.dtype)
    for replay in own:  # after the limits: beyond its input grid this step's own pad mode fills, not a constant
        out = replay.pad(out)
    return out


def warp_as(
    data: torch.Tensor, source: Space, target: Space, options: WarpOptions, dtype: Optional[torch.dtype] = None
) -> torch.Tensor:
    """One resample of ``data`` from ``source`` onto ``target`` by the engine.

    ``dtype`` (MONAI's computation dtype) applies to the interpolating modes only; the output
    keeps the input's floating dtype (float32 for integer input), as MONAI's transforms return.
    Nearest and label mode copy values, so they keep the input dtype bit for bit.
    """
    if dtype is None or options.mode in ("nearest", "label") or dtype == data.dtype:
        return warp_image(data, source, target, options=options)
    out_dtype = data.dtype if data.dtype.is_floating_point else torch.float32
    return warp_image(data.to(dtype), source, target, options=options).to(out_dtype)


def with_applied(img: MetaTensor) -> MetaTensor:
    """A MetaTensor sharing ``img``'s data and metadata, its pending operations moved onto ``applied_operations``.

    In order, the same records, as MONAI's ``apply_pending`` leaves them after executing them,
    so MONAI's ``Invertd`` / ``Compose.inverse`` undo each one. ``img`` is not modified.
    """
    out = _unread_view(img)  # not read here: a deferred output stays unmade
    out.copy_meta_from(img)  # copies the operation lists (shallowly): ``img``'s stay as they are
    ops = out.pending_operations
    out.clear_pending_operations()
    for op in ops:
        out.push_applied_operation(op)
    return out


#: Written on the newest MONAI record a sink executed when its warp also covered an earlier lazy
#: Space step (:func:`execute`): how many records before the run the warp covered, and the grid it
#: read from, so that the exact nearest map-back (:mod:`.chain`) counts one resample, not two.
FUSED_KEY, DATA_SOURCE_KEY = "spacetx_fused", "spacetx_data_source"


def execute(img: MetaTensor, options: Optional[WarpOptions] = None) -> torch.Tensor:
    """The pixels of ``img`` on its pending grid (a plain tensor): :func:`execute_fused` with the recorded modes deciding."""
    return execute_fused(img, options)[0]


def execute_fused(img: MetaTensor, options: Optional[WarpOptions] = None, override: bool = False) -> tuple[torch.Tensor, int, FusedStep]:
    """The pixels of ``img`` on its pending grid: its pending operations executed in one warp.

    When ``img`` is the untouched output of a lazy Space step, the warp reads that step's
    input instead (:func:`plan_step`): one resample for the whole run.

    Args:
        img: ``(C, *spatial)`` MetaTensor (never modified).
        options: the options for the key; their mode is a default that the recorded modes
            override (the module's rule; ``nearest`` when none records one) unless ``override``.
        override: use ``options`` as they are (like MONAI's ``overrides``).

    Returns:
        ``(pixels, covered, step)``: ``(C, *pending shape)`` pixels (``img``'s own data, not a
        copy, when nothing is pending), how many records before the pending run the warp
        also covered (an earlier lazy Space step's), and the fused step.
    """
    # with something pending on the untouched output of a lazy Space step the warp reads that step's input: img's pixels may stay unmade
    read = not img.pending_operations or _recall(img) is None
    run = take_pending(img, read=read)
    step = plan_step(img, options or WarpOptions("nearest"), run.grid, override=override and options is not None, run=run if read else None)
    if not run.ops:
        return run.data, 0, step
    return run_step(step, run.grid), step.fused - len(run.ops), step


def landmark_grid(img: MetaTensor) -> Space:
    """The grid whose voxel indices a sample's landmarks are in: where the last Space step left them.

    MONAI's own transforms do not move landmarks, so they stay on the grid of the last Space
    transform (``meta["spacetx_space"]``), or, before any, on the native grid; an in-memory
    image with no record of either is its own data grid.

    Raises:
        MetadataError: a recorded grid is corrupt (never replaced by the image's current grid).
        SpaceTypeError: the metadata is a collated batch's (one grid per sample): decollate first.
    """
    if SPACE_KEY in img.meta:
        recorded: Space | list[Space] | None = space_from_meta(img.meta[SPACE_KEY])
    else:
        recorded = get_native_space(img) if NATIVE_KEY in img.meta else find_native_space(img)
    if recorded is None:
        return Space.from_metatensor(img)
    if isinstance(recorded, list):
        raise SpaceTypeError(
            f"the landmarks' grid of a collated batch ({len(recorded)} samples) is one grid per sample; "
            "decollate the batch first (monai.data.decollate_batch)")
    return recorded


def runs_lazily(transform: Any, lazy: Optional[bool]) -> bool:
    """MONAI's rule: the call's ``lazy`` argument if given, else the transform's ``lazy`` property."""
    return bool(transform.lazy if lazy is None else lazy)
