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
- :func:`~.sink.execute_pending` (in :mod:`.sink`) is the whole job for a MetaTensor whose
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
fill) is that of our step: the fused resample has one boundary, the data grid's.

Limits: the pending grid must be a :class:`Space` (orthonormal direction times spacing). A
MONAI affine with shear, or a rotation of an anisotropic grid in index space, is not one and
raises :class:`~monai_spacetx.errors.SpaceError` naming the operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.utils import LazyAttr, TraceKeys, convert_to_tensor

from ..engine import warp_image
from ..engine.options import Mode, WarpOptions, parse_mode
from ..engine.plan import plan_warp
from ..errors import MetadataError, ModeError, SpaceError
from ..geometry.space import Space
from ..geometry.tolerances import PLAN_TOL
from .meta import SPACE_KEY, get_native_space, space_from_meta

__all__ = [
    "PendingRun",
    "pending_space",
    "take_pending",
    "recorded_mode",
    "fuse_options",
    "copies",
    "with_applied",
    "execute",
    "landmark_grid",
]

_DISCRETE: tuple[Mode, ...] = ("nearest", "label")


def _op_names(ops: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(op.get(TraceKeys.CLASS_NAME, "?")) for op in ops]


def pending_space(img: MetaTensor) -> Space:
    """The grid ``img`` lies on once its pending operations are executed (its own grid when none).

    Raises:
        SpaceError: the pending affine is not a Space (shear, or an index-space rotation of an
            anisotropic grid), naming the pending operations.
    """
    if not img.pending_operations:
        return Space.from_metatensor(img)
    try:
        return Space.from_affine(img.peek_pending_affine(), img.peek_pending_shape())
    except SpaceError as err:
        raise SpaceError(
            f"the pending operations {_op_names(img.pending_operations)} give a grid that is not a Space "
            f"(orthonormal direction times spacing), so they cannot be fused into one resample: {err}"
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
    ops: tuple[dict, ...]


def take_pending(img: MetaTensor) -> PendingRun:
    """The data grid, pending grid and pending operations of ``img`` (never modified)."""
    ops = tuple(img.pending_operations)
    source = Space.from_metatensor(img)
    return PendingRun(img.as_tensor(), source, pending_space(img) if ops else source, ops)


def recorded_mode(op: Mapping[str, Any]) -> Optional[Mode]:
    """The interpolation mode a MONAI pending operation was recorded with, as ours; ``None`` if it has none.

    MONAI keeps it in ``lazy_interpolation_mode``, or in ``extra_info["mode"]`` (``Spacing``,
    ``Resize``, ``Zoom``, ``Rotate``), nested one level for the random dictionary transforms
    (``RandAffined`` records ``RandAffine``'s record as its ``extra_info``).
    """
    value = op.get(LazyAttr.INTERP_MODE)
    extra = op.get(TraceKeys.EXTRA_INFO)
    for _ in range(2):
        if value is not None or not isinstance(extra, Mapping):
            break
        value = extra.get("mode")
        extra = extra.get(TraceKeys.EXTRA_INFO)
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    name = str(value).lower() if not isinstance(value, int) else value
    if name == "area":  # F.interpolate's box filter: an interpolating mode, never a label-preserving one
        return "linear"
    if isinstance(name, int) and name >= 2:
        return "cubic"  # spline orders 2, 4, 5: the smooth kernel we have
    try:
        return parse_mode(name)
    except ModeError:
        return "linear"


def copies(source: Space, target: Space) -> bool:
    """Whether resampling ``source`` onto ``target`` only copies voxels (crop, pad, flip, permutation)."""
    return plan_warp(source, target).kind in ("identity", "index")


def _op_copies(op: Mapping[str, Any], ndim: int) -> bool:
    """Whether a pending operation's own index map is an integer shift with flips/permutations."""
    matrix = convert_to_tensor(op[LazyAttr.AFFINE], dtype=torch.float64, track_meta=False).cpu().numpy()
    rows = list(range(ndim)) + [matrix.shape[0] - 1]  # a 2-D op may come in MONAI's 4x4 form
    matrix = matrix[np.ix_(rows, rows)]
    rounded = np.round(matrix)
    integral = bool(np.abs(matrix - rounded).max() <= PLAN_TOL)
    axes = np.abs(rounded[:ndim, :ndim])
    return integral and bool((axes.sum(axis=0) == 1).all() and (axes.sum(axis=1) == 1).all())


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
    votes: list[Mode] = []
    for op in ops:
        mode = recorded_mode(op)
        if mode is not None and not _op_copies(op, ndim):
            votes.append(mode)
    if not own_copies:
        votes.append(options.mode)
    if not votes:
        return options
    if any(v in _DISCRETE for v in votes):
        mode: Mode = "label" if options.mode == "label" and not own_copies else "nearest"
    else:
        mode = votes[-1]
    return WarpOptions(mode, options.padding_mode, options.fill)


def with_applied(img: MetaTensor) -> MetaTensor:
    """A MetaTensor sharing ``img``'s data and metadata, its pending operations moved onto ``applied_operations``.

    In order, the same records, as MONAI's ``apply_pending`` leaves them after executing them,
    so MONAI's ``Invertd`` / ``Compose.inverse`` undo each one. ``img`` is not modified.
    """
    out = MetaTensor(img.as_tensor())
    out.copy_meta_from(img)  # copies the operation lists (shallowly): ``img``'s stay as they are
    ops = out.pending_operations
    out.clear_pending_operations()
    for op in ops:
        out.push_applied_operation(op)
    return out


def execute(img: MetaTensor, options: Optional[WarpOptions] = None) -> torch.Tensor:
    """The pixels of ``img`` on its pending grid: its pending operations executed in one warp (a plain tensor).

    Args:
        img: ``(C, *spatial)`` MetaTensor (never modified).
        options: the user's options for the key, used as they are (like MONAI's ``overrides``);
            ``None``: the recorded modes decide (module rule), ``nearest`` when none records
            one, constant 0 padding.

    Returns:
        ``(C, *pending shape)`` tensor; ``img``'s own data (not a copy) when nothing is pending.
    """
    run = take_pending(img)
    if not run.ops:
        return run.data
    if options is None:
        options = fuse_options(run.ops, WarpOptions("nearest"), own_copies=True, ndim=run.source.ndim)
    out: torch.Tensor = warp_image(run.data, run.source, run.grid, options=options)
    return out


def landmark_grid(img: MetaTensor) -> Space:
    """The grid whose voxel indices a sample's landmarks are in: where the last Space step left them.

    MONAI's own transforms do not move landmarks, so they stay on the grid of the last Space
    transform (``meta["spacetx_space"]``), or, before any, on the native grid; an in-memory
    image without that record is its own data grid.
    """
    if SPACE_KEY in img.meta:
        recorded = space_from_meta(img.meta[SPACE_KEY])
        if isinstance(recorded, Space):
            return recorded
    try:
        native = get_native_space(img)
    except MetadataError:
        return Space.from_metatensor(img)
    return native if isinstance(native, Space) else Space.from_metatensor(img)
