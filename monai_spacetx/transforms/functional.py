"""Functional Space transforms on MetaTensors: plan given, one warp, one record, metadata written.

In the style of MONAI's ``monai/transforms/spatial/functional.py``: the array and dictionary
transforms parse their arguments once (into :class:`~monai_spacetx.engine.options.WarpOptions`)
and plan a target :class:`Space`; the functions here do everything that touches the sample:

- :func:`source_of` takes the data and the grid it lies on from a MetaTensor. It is the one
  place where that happens, so a lazy caller can substitute "data grid + pending operations";
- :func:`resample` executes one warp onto the planned target, records the step on MONAI's
  ``applied_operations`` (through ``track_transform_meta``, so ``Invertd`` and
  ``Compose.inverse`` can undo it) and writes the metadata (:func:`write_geometry`);
- :func:`invert` undoes one such record, :func:`map_back` maps a prediction from the working
  grid straight to the native grid (never a chain of per-step inverses).

Conventions: images are channel-first ``(C, *spatial)`` with 2 or 3 spatial axes; the Space of
a MetaTensor ``x`` is ``x.affine`` and ``x.shape[1:]``. The mode recorded for MONAI uses
MONAI's names (``"nearest"``, ``"bilinear"``, ``"bicubic"``), which is what
``Invertd(nearest_interp=True)`` rewrites to ``"nearest"``.
"""

from __future__ import annotations

from dataclasses import replace
from os import PathLike
from typing import Any, Hashable, Mapping, Optional

import numpy as np
import torch
from monai.data import MetaTensor
from monai.data.meta_obj import get_track_meta
from monai.transforms.inverse import TraceableTransform
from monai.utils import TraceKeys

from ..engine.export import warp_argmax
from ..engine.options import WarpOptions
from ..engine.warp import _as_tensor as engine_tensor
from ..errors import ShapeMismatchError, SpaceTypeError
from ..geometry.space import Space
from .chain import map_back_nearest
from .lazy import DATA_SOURCE_KEY, FUSED_KEY, Deferred, Replay, defer, execute_fused, forget, plan_step, remember, run_step, warp_as, with_applied
from .meta import NATIVE_KEY, SPACE_KEY, find_native_space, get_native_space, native_space

__all__ = ["as_image", "source_of", "resample", "execute_pending", "pop_record", "invert", "map_back", "write_geometry", "record_options"]


def as_image(img: Any, key: Optional[Hashable] = None, name: str = "image") -> MetaTensor:
    """``img`` as a channel-first MetaTensor ``(C, *spatial)`` with 2 or 3 spatial axes.

    The one place where the transforms accept an image: a numpy array or plain tensor gets
    MONAI's default (identity) affine, numpy arrays torch cannot wrap are converted as
    :func:`~monai_spacetx.engine.warp_image` converts them (big-endian to native byte order);
    ``img`` is never modified. ``name`` and ``key`` are named in the error message.

    Raises:
        SpaceTypeError: ``img`` is not an array or tensor (``None``, a file path, ...) or has
            no numeric dtype.
        ShapeMismatchError: when ``img`` has not 3 or 4 dimensions.
    """
    where = f" (key {key!r})" if key is not None else ""
    if isinstance(img, MetaTensor):
        out = img
    else:
        if isinstance(img, (list, tuple)):  # nested sequences of numbers, as MONAI converts them
            img = np.asarray(img)
        if not isinstance(img, (torch.Tensor, np.ndarray)):
            hint = " (a file path? load it first, e.g. with MONAI's LoadImage(d))" if isinstance(img, (str, PathLike)) else ""
            raise SpaceTypeError(f"{name}{where} must be a tensor or numpy array, got {type(img).__name__} {img!r:.60}{hint}")
        try:
            tensor, _ = engine_tensor(img)
        except SpaceTypeError as err:
            raise SpaceTypeError(f"{name}{where}: {err}") from None
        out = MetaTensor(tensor)
    if out.ndim not in (3, 4):
        raise ShapeMismatchError(
            f"{name}{where} must be channel-first (C, H, W) or (C, H, W, D), got shape {tuple(out.shape)}"
        )
    return out


def source_of(img: MetaTensor) -> tuple[torch.Tensor, Space]:
    """The data of ``img`` as a plain tensor ``(C, *spatial)`` and the Space it lies on.

    The only place where a transform reads its source grid and data from a MetaTensor.
    """
    return img.as_tensor(), Space.from_metatensor(img)


def _pixdim(value: Any, spacing: np.ndarray) -> np.ndarray:
    """MONAI's ``pixdim`` (``[qfac, s_0, s_1, ...]``, any length) with the new spacing written in."""
    host = value.detach().cpu() if isinstance(value, torch.Tensor) else value
    pixdim = np.array(host, dtype=np.float64, copy=True).reshape(-1)
    if pixdim.size < 1 + spacing.size:  # e.g. MONAI's own tests use pixdim=[1.0, 1.0]
        pixdim = np.concatenate([pixdim, np.ones(1 + spacing.size - pixdim.size)])
    pixdim[1 : 1 + spacing.size] = spacing
    return pixdim


def write_geometry(data: torch.Tensor, like: Any, space: Space, native: Optional[Space]) -> MetaTensor:
    """Wrap ``data`` ``(C, *space.shape)`` as a MetaTensor with ``like``'s metadata re-pointed at ``space``.

    Writes ``affine`` (MONAI's 4x4 form, also for 2-D), ``pixdim`` (if present), and our
    ``spacetx_space`` / ``spacetx_native`` entries (:mod:`.meta`). ``like`` is never modified.
    """
    out = MetaTensor(data)
    out.copy_meta_from(like)  # copies the meta dict and the operation stacks
    affine = space.to_monai_affine()
    given = getattr(like, "meta", {}).get("affine")  # ``like`` may be MONAI's MetaObj record, which has no .affine
    if space.ndim == 2 and given is not None and tuple(given.shape) == (3, 3):  # MONAI keeps a 2-D image's 3x3 affine 3x3
        affine = np.array(space.affine)  # a writable copy
    out.affine = torch.as_tensor(affine, dtype=torch.float64)
    if out.meta.get("pixdim") is not None:
        out.meta["pixdim"] = _pixdim(out.meta["pixdim"], space.spacing)
    out.meta[SPACE_KEY] = space.to_json()
    if native is not None:
        out.meta[NATIVE_KEY] = native.to_json()
    return out


def record_options(options: WarpOptions) -> dict[str, Any]:
    """How a step sampled, in the form recorded on ``applied_operations`` (MONAI's mode names)."""
    return {
        "mode": options.monai_mode,
        "label_aware": options.mode == "label",
        "padding_mode": options.padding_mode,
        "fill": options.fill,
    }


def _options_of(extra: Mapping[str, Any]) -> WarpOptions:
    """The options a recorded step is undone with; ``Invertd(nearest_interp=True)`` rewrites ``mode`` to nearest."""
    mode = extra["mode"]
    if mode != "nearest" and extra.get("label_aware"):
        mode = "label"
    return WarpOptions.parse(mode, extra["padding_mode"], extra["fill"])


def _native_or_none(image: MetaTensor) -> Optional[Space]:
    """The native Space if it can be told; forward transforms do not need it (only mapping back does)."""
    return native_space(image) if NATIVE_KEY in image.meta else find_native_space(image)


def resample(
    img: Any,
    target: Space,
    options: WarpOptions,
    transform_info: Mapping[str, Any],
    extra_info: Optional[Mapping[str, Any]] = None,
    key: Optional[Hashable] = None,
    dtype: Optional[torch.dtype] = None,
    lazy: bool = False,
    replay: Optional[Replay] = None,
) -> torch.Tensor:
    """Resample ``img`` ``(C, *spatial)`` onto ``target`` in one warp and record the step.

    MONAI operations pending on ``img`` (lazy mode) are executed in the same warp, from the
    data's grid straight to ``target`` (see :mod:`.lazy`): ``target`` is planned on the pending
    grid (:func:`~.lazy.pending_space`), the key's mode is fused by :func:`~.lazy.fuse_options`,
    and the records move onto ``applied_operations`` before ours.

    Args:
        img: channel-first image (MetaTensor, tensor or numpy array).
        target: the planned Space.
        options: how to sample (already parsed).
        transform_info: ``transform.get_transform_info()`` of the array transform that will
            undo the step (its ``inverse`` pops this record).
        extra_info: more entries for the record.
        key: the data key, named in errors.
        dtype: floating dtype the interpolation computes in (``None``: the input's).
        replay: a MONAI pad mode filling part of ``target`` from the rest (a kept-size zoom's
            ``edge``), applied after the warp and replayed by later fused warps.
        lazy: the transform runs lazily: its output remembers its input (while the output's
            storage lives), so that a following lazy Space step resamples once from that input
            (:func:`~.lazy.plan_step`). The result itself is always computed.

    Returns:
        ``(C, *target.shape)``: a MetaTensor with the target affine, or a plain tensor when
        MONAI's ``set_track_meta(False)`` is in effect (as MONAI's transforms return).
    """
    image = as_image(img, key)
    # MONAI's pending operations (lazy mode) are fused into this one warp: it reads the data on
    # its own grid, our step starts from the pending grid (``source``, what the record says)
    step = plan_step(image, options, target)
    if replay is not None:  # a MONAI pad mode fills part of our grid from the rest (padding.resample_padded)
        step = replace(step, replays=step.replays + (replay,))
    source = step.grid
    native = _native_or_none(image)
    record = {"source": source.to_json(), "target": target.to_json(), **record_options(options), **(extra_info or {})}
    if step.has_pending:
        image = with_applied(image)  # MONAI's records first, in order, ours after them
    if step.fused:  # what was really executed, for an exact nearest map-back through the chain (.chain)
        record.update(fused=step.fused, data_source=step.source.to_json())
    meta_info = TraceableTransform.track_transform_meta(
        image,
        sp_size=target.shape,
        extra_info=record,
        orig_size=source.shape,
        transform_info=transform_info,
        lazy=False,
    )
    if lazy and get_track_meta():
        # a following lazy Space step (or the sink) reads our input instead: the pixels are computed only
        # if something else reads them (lazy.Deferred), by the same one warp
        warped = defer(step, target, dtype)
        remember(warped, step, record)
        out = write_geometry(warped, meta_info, target, native)
        setattr(out, "__class__", Deferred)  # its pixels are computed when first read
        return out
    # one warp; padding beyond every grid the data passed through. Nothing to remember for a later lazy step
    # when lazy: without metadata (set_track_meta(False)) no record can name this output as ours
    warped = run_step(step, target, dtype)
    if not get_track_meta():
        return warped
    return write_geometry(warped, meta_info, target, native)


def pop_record(transform: TraceableTransform, img: MetaTensor) -> tuple[dict[str, Any], bool]:
    """Pop ``transform``'s newest record from ``img`` (MONAI's ``pop_transform``) and every record above it.

    MONAI's ``Compose.inverse`` skips the transforms that cannot invert (its multi-sample crops,
    ``RandSpatialCropSamplesd``), and MONAI's ``pop_transform`` then finds ours below their records.
    The data lies on the grid after those records too: they are dropped with ours, and the
    second value says so (:func:`invert` then maps from the image's own grid).
    """
    before = list(img.applied_operations)
    # ours by its id (MONAI before 1.6 looks at the newest record only); else MONAI's own matching
    # (a transform rebuilt in another process) and its error when there is none
    index = next((i for i in range(len(before) - 1, -1, -1) if before[i].get(TraceKeys.ID) == id(transform)), None)
    if index is None:
        record = transform.pop_transform(img)
        index = next((i for i in range(len(before) - 1, -1, -1) if before[i] is record), len(before) - 1)
    img.applied_operations = before[:index]
    return before[index], index < len(before) - 1


def invert(img: Any, record: Mapping[str, Any], from_data_grid: bool = False) -> torch.Tensor:
    """Undo one recorded Space step (MONAI ``inverse``): one resample from its target back to its source.

    Args:
        img: ``(C, *target.shape)`` image the step produced (or a prediction on that grid).
        record: the step's entry popped from ``applied_operations``.
        from_data_grid: map from ``img``'s own grid (its affine and shape), not the recorded
            target: records above the step's were dropped with it (:func:`pop_record`).
    """
    extra = record[TraceKeys.EXTRA_INFO]
    source, target = Space.from_json(extra["source"]), Space.from_json(extra["target"])
    image = as_image(img)
    data, current = source_of(image)
    if from_data_grid:
        target = current
    if current.shape != target.shape:
        raise ShapeMismatchError(
            f"cannot invert {record.get(TraceKeys.CLASS_NAME)}: image has spatial shape {current.shape}, "
            f"the transform produced {target.shape}"
        )
    warped = warp_as(data, target, source, _options_of(extra))
    if not get_track_meta():
        return warped
    native = native_space(image) if NATIVE_KEY in image.meta else source
    return write_geometry(warped, image, source, native)


def map_back(
    pred: Any, ref: MetaTensor, current: Space, native: Space, options: WarpOptions, *, argmax: bool = False, keep_prob: bool = False
) -> Any:
    """Map a prediction from the working grid ``current`` to ``native`` in **one** resample.

    With ``argmax=True`` the ``K`` channels (probabilities or logits) are interpolated with
    ``options`` and the result is their argmax, ``(1, *native.shape)`` in the smallest integer
    dtype that holds ``K``, computed in tiles without the ``K x native`` intermediate
    (:func:`~monai_spacetx.engine.export.warp_argmax`); ``keep_prob=True`` then returns
    ``(labels, prob)``, ``prob`` the winning channel's interpolated value.

    In ``nearest`` mode with constant padding, when ``ref``'s recorded chain resampled more
    than once, the prediction is instead read through the composition of the steps' nearest
    index maps (one gather, no interpolation; see :mod:`.chain`), which undoes the chain exactly.

    Args:
        pred: ``(C, *current.shape)`` prediction (tensor, MetaTensor or numpy array).
        ref: the MetaTensor whose metadata (file name etc.) the output carries.
        current, native: the working and native Spaces, already read from ``ref``.
        options: how to sample.

    Returns:
        ``(C, *native.shape)`` MetaTensor with the native affine and an empty
        ``applied_operations`` (a plain tensor under ``set_track_meta(False)``).
    """
    data = as_image(pred, name="prediction").as_tensor()
    if data.ndim != current.ndim + 1 or tuple(data.shape[1:]) != current.shape:
        raise ShapeMismatchError(
            f"prediction of shape {tuple(data.shape)} does not lie on the working grid {current.shape} "
            "(expected (C, *working))"
        )
    if argmax:
        labels, prob = warp_argmax(data, current, native, options, keep_prob=keep_prob)
        outs: list[torch.Tensor] = [labels] if prob is None else [labels, prob]
        if get_track_meta():
            metas = [write_geometry(o, ref, native, native) for o in outs]
            for m in metas:
                m.applied_operations = []
            outs = list(metas)
        return (outs[0], outs[1]) if keep_prob else outs[0]
    warped = None
    if options.mode == "nearest" and options.constant:
        # a chain that resampled more than once is undone exactly only step by step: one gather
        # through the recorded steps' composed nearest maps (None: it resampled at most once; a record
        # it does not understand, or a chain that does not lead back to native, raises MetadataError)
        warped = map_back_nearest(data, ref, native, options.fill)
    if warped is None:
        warped = warp_as(data, current, native, options)
    if not get_track_meta():
        return warped
    out = write_geometry(warped, ref, native, native)
    out.applied_operations = []
    return out


def execute_pending(
    img: Any,
    options: Optional[WarpOptions] = None,
    key: Optional[Hashable] = None,
    override: Optional[bool] = None,
    end_segment: bool = False,
) -> Any:
    """Execute the operations pending on ``img`` as one resample by our engine.

    When ``img`` is the untouched output of a lazy Space step (the README's
    ``SpaceResampled → RandAffined → SpaceApplyPendingd``), the warp reads that step's input:
    one resample for the Space step and the MONAI operations after it.

    Args:
        img: a ``(C, *spatial)`` MetaTensor. Anything else, or one with nothing pending, is
            returned as it is.
        options: the options for this key: their padding applies; their mode is used as it is
            when ``override`` (like MONAI's ``overrides``), else the recorded modes decide
            (:func:`~.lazy.fuse_options`; ``nearest`` when no interpolating operation records one).
        key: the data key, named in errors.
        override: the user named a mode (default: whether ``options`` are given).
        end_segment: a step reads the result: a following Space step goes on from these pixels
            (:func:`~.lazy.forget`), not from an earlier step's input.

    Returns:
        ``(C, *pending shape)`` MetaTensor on the pending grid, with the operations moved onto
        ``applied_operations`` and ``spacetx_space`` / ``spacetx_native`` written. Discrete
        modes keep the dtype (a ``uint8`` label stays ``uint8``).
    """
    if not isinstance(img, MetaTensor) or not img.pending_operations:
        if end_segment:
            forget(img)
        return img
    image = as_image(img, key)
    native = get_native_space(image)
    assert isinstance(native, Space)  # one sample, not a collated batch
    pixels, covered, step = execute_fused(image, options, options is not None if override is None else override)
    grid = step.grid  # the pending grid (``pending_space(image)``), as the step planned it
    applied = with_applied(image)
    if covered:  # the warp also covered an earlier lazy Space step: say so on the newest record (.chain reads it)
        newest = dict(applied.applied_operations[-1])
        newest.update({FUSED_KEY: covered, DATA_SOURCE_KEY: step.source.to_json()})
        applied.applied_operations[-1] = newest
    return write_geometry(pixels, applied, grid, native)
