"""One reader for MONAI's transform records: what a recorded step did to the grid, and how it sampled.

MONAI writes a record for every invertible transform, on ``applied_operations`` (executed) or
``pending_operations`` (lazy). The records differ per transform, and this module is the one
place that reads them:

- the random dictionary transforms nest the array transform's record in ``extra_info``, one or
  two levels deep (``RandRotated`` → ``RandRotate`` → ``Rotate``): :func:`read_record` unwraps to
  the innermost record (the *kind*), keeping the outermost name for messages;
- a random transform that did not fire records ``do_transforms=False``: an identity step;
- ``Flip`` records ``axes`` as an int, a sequence or ``None`` (every axis); ``Rotate90`` its
  ``k`` and ``axes``; crops ``cropped`` (before/after per axis, channel axis left out); pads
  ``padded`` (channel axis first) and their numpy ``mode`` (the padding, not an interpolation);
  ``CropForeground`` and ``ResizeWithPadOrCrop`` nest a pad (and a crop) record; ``Zoom`` with
  ``keep_size`` nests a ``ResizeWithPadOrCrop``;
- interpolation modes are MONAI names (``bilinear``, ``nearest-exact``, ``area``, ...) or spline
  orders (ints), read by :func:`parse_recorded_mode`.

Geometry: :func:`index_map` gives a record's ``(D+1, D+1)`` map from its output voxel indices to
its input voxel indices: the recorded ``lazy_affine`` when the step ran lazily, else derived from
the record's own entries (checked against MONAI's ``lazy_affine`` for every kind in the tests).
:func:`input_grid` is then the grid before the step.

A record of a transform not listed here raises :class:`~monai_spacetx.errors.MetadataError`
naming it: guessing what an unknown transform did to the grid would silently break the exact
map-back or the fused resample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import torch
from monai.utils import LazyAttr, TraceKeys, convert_to_tensor

from ..engine.options import Mode, parse_mode
from ..errors import MetadataError, ModeError, SpaceTxError
from ..geometry.space import Space

__all__ = [
    "RecordedStep",
    "read_record",
    "parse_recorded_mode",
    "index_map",
    "input_grid",
    "is_ours",
    "square",
    "KNOWN_KINDS",
    "NON_SPATIAL",
]

#: Kinds that resample (their record names an interpolation mode).
_INTERPOLATING = ("SpatialResample", "ResampleToMatch", "Resize", "Zoom", "Rotate", "Affine", "RandAffine")
#: Kinds that move voxels by an integer map (never interpolate).
_COPYING = ("Orientation", "Flip", "Rotate90", "ResizeWithPadOrCrop")
#: Transforms that record on an image but leave its grid and values' positions alone; ``"intensity"`` is the
#: kind of every record of MONAI's intensity transforms (see :func:`_is_intensity`).
NON_SPATIAL = ("ToTensor", "ToTensord", "ToMetaTensord", "FromMetaTensord", "ToNumpy", "ToNumpyd", "CastToType", "CastToTyped",
               "intensity")
#: Every kind this module reads (crops and pads are also recognised by their ``cropped`` / ``padded`` entries).
KNOWN_KINDS = _INTERPOLATING + _COPYING + NON_SPATIAL + ("crop", "pad")


@dataclass(frozen=True)
class RecordedStep:
    """What one MONAI record says, read once.

    Attributes:
        name: the class that wrote the record (the outermost one: what the user put in the pipeline).
        kind: the innermost class (``"Flip"``, ``"Rotate"``, ...), ``"crop"`` or ``"pad"`` for the
            crop and pad families, ``"spacetx"`` for our own steps, ``"identity"`` for a random
            transform that did not fire.
        applied: ``do_transforms`` (a random transform that did not fire is an identity step).
        mode: the interpolation mode it sampled with, in our names (``None``: it does not
            interpolate, or recorded none).
        constant: it fills what lies outside its input with a constant (``zeros`` / ``constant``).
        extra: the innermost ``extra_info``.
        in_shape: its input spatial shape (``orig_size``).
        out_shape: its output spatial shape, where the record says it (``lazy_shape``), else ``None``.
        lazy_affine: the recorded output→input index map (lazy records), else ``None``.
    """

    name: str
    kind: str
    applied: bool
    mode: Optional[Mode]
    constant: bool
    extra: Mapping[str, Any]
    in_shape: tuple[int, ...]
    out_shape: Optional[tuple[int, ...]]
    lazy_affine: Optional[np.ndarray]


def _matrix(value: Any) -> np.ndarray:
    return np.asarray(convert_to_tensor(value, dtype=torch.float64, track_meta=False).cpu().numpy(), dtype=np.float64)


def square(matrix: np.ndarray, ndim: int) -> np.ndarray:
    """A ``(ndim+1, ndim+1)`` homogeneous matrix from MONAI's ``(ndim+1)`` or ``4x4`` form (a 2-D op may use either)."""
    if matrix.shape == (ndim + 1, ndim + 1):
        return matrix
    if matrix.shape == (4, 4) and ndim == 2:
        return matrix[np.ix_([0, 1, 3], [0, 1, 3])]
    raise MetadataError(f"a recorded matrix of shape {matrix.shape} does not fit a {ndim}-D image")


def parse_recorded_mode(value: Any) -> Optional[Mode]:
    """A recorded interpolation mode (MONAI name or spline order) as ours; ``None`` for none.

    ``area`` (``F.interpolate``'s box filter) is an interpolating mode, never a label-preserving
    one: ``linear``. Spline orders 0 → ``nearest``, 1 → ``linear``, 2 and up → ``cubic``.

    Raises:
        ModeError: a value that is no interpolation mode MONAI records.
    """
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return "nearest" if value == 0 else "linear" if value == 1 else "cubic"
    name = str(getattr(value, "value", value)).lower()  # MONAI's enums (InterpolateMode.AREA)
    if name == "area":
        return "linear"
    return parse_mode(name)


def _innermost(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The array transform's record nested in a (random) dictionary transform's record."""
    while isinstance(record.get(TraceKeys.EXTRA_INFO), Mapping) and TraceKeys.CLASS_NAME in record[TraceKeys.EXTRA_INFO]:
        record = record[TraceKeys.EXTRA_INFO]
    return record


def is_ours(record: Mapping[str, Any]) -> bool:
    """Whether a record was written by one of our Space transforms."""
    extra = record.get(TraceKeys.EXTRA_INFO)
    return isinstance(extra, Mapping) and "source" in extra and "target" in extra


def _kind(inner: Mapping[str, Any]) -> str:
    name = str(inner.get(TraceKeys.CLASS_NAME, "?"))
    extra = inner.get(TraceKeys.EXTRA_INFO) or {}
    if name in KNOWN_KINDS:
        return name
    if isinstance(extra, Mapping) and "cropped" in extra:
        return "crop"  # SpatialCrop, CenterSpatialCrop, RandSpatialCrop, CropForeground, RandWeightedCrop, ...
    if isinstance(extra, Mapping) and "padded" in extra:
        return "pad"  # SpatialPad, BorderPad, DivisiblePad, Pad
    if _is_intensity(name, inner):
        return "intensity"
    return name


def _is_intensity(name: str, inner: Mapping[str, Any]) -> bool:
    """Whether a record is one of MONAI's intensity transforms, which change values and never the grid.

    MONAI 1.7 records invertible intensity transforms (``NormalizeIntensity``: its statistics) on
    ``applied_operations``. MONAI itself marks them: they live in ``monai.transforms.intensity``.
    A record that carries a grid change (a lazy affine or shape) is never taken for one.
    """
    import monai.transforms

    cls = getattr(monai.transforms, name, None)
    module = str(getattr(cls, "__module__", ""))
    return module.startswith("monai.transforms.intensity.") and LazyAttr.AFFINE not in inner and LazyAttr.SHAPE not in inner


def _padding_constant(value: Any) -> bool:
    return str(getattr(value, "value", value)).lower() in ("zeros", "constant")


def _pad_constant(extra: Mapping[str, Any]) -> bool:
    """Whether the pads nested in a crop/pad/zoom record fill with a constant and pad anything."""
    pad = extra.get("pad_info") or (extra.get("padcrop") or {}).get(TraceKeys.EXTRA_INFO, {}).get("pad_info")
    if isinstance(pad, Mapping):
        inner = pad.get(TraceKeys.EXTRA_INFO, {})
        return _padding_constant(inner.get("mode")) and any(any(p) for p in inner.get("padded", ()))
    return False


# what a record MONAI never writes (hand-made, corrupted) makes Python or numpy raise on the way: a missing
# entry, a wrong type or length, a singular matrix (numpy's LinAlgError is a ValueError)
_MALFORMED = (KeyError, TypeError, IndexError, ValueError, AttributeError)


def read_record(record: Mapping[str, Any]) -> RecordedStep:
    """Read one MONAI record (applied or pending).

    Raises:
        MetadataError: the record's transform is not one this module knows (named in the message), or the
            record is not one MONAI writes (an entry missing or of the wrong type).
    """
    name = str(record.get(TraceKeys.CLASS_NAME, "?")) if isinstance(record, Mapping) else "?"
    try:
        return _read_record(record, name)
    except SpaceTxError:
        raise
    except _MALFORMED as err:
        raise MetadataError(f"the record of {name!r} is not one MONAI writes: {err!r}") from err


def _read_record(record: Mapping[str, Any], name: str) -> RecordedStep:
    inner = _innermost(record)
    in_shape = tuple(int(s) for s in inner.get(TraceKeys.ORIG_SIZE, record.get(TraceKeys.ORIG_SIZE, ())))
    lazy_shape = record.get(LazyAttr.SHAPE)
    lazy_affine = record.get(LazyAttr.AFFINE)
    common = dict(
        name=name,
        applied=bool(inner.get(TraceKeys.DO_TRANSFORM, True)) and bool(record.get(TraceKeys.DO_TRANSFORM, True)),
        in_shape=in_shape,
        out_shape=None if lazy_shape is None else tuple(int(s) for s in lazy_shape),
        lazy_affine=None if lazy_affine is None else _matrix(lazy_affine),
    )
    if is_ours(record):
        extra = record[TraceKeys.EXTRA_INFO]
        return RecordedStep(kind="spacetx", mode=None, constant=_padding_constant(extra.get("padding_mode")), extra=extra, **common)  # type: ignore[arg-type]
    extra = inner.get(TraceKeys.EXTRA_INFO) or {}
    if not common["applied"]:  # a random transform that did not fire: an identity step, whatever its class
        return RecordedStep(kind="identity", mode=None, constant=False, extra={}, **common)  # type: ignore[arg-type]
    kind = _kind(inner)
    if kind not in KNOWN_KINDS or not isinstance(extra, Mapping):
        raise MetadataError(
            f"monai-spacetx cannot read the record of {name!r} (innermost {inner.get(TraceKeys.CLASS_NAME)!r}): it does "
            f"not know what that transform does to the grid. Known: {', '.join(sorted(KNOWN_KINDS))} and our Space "
            "transforms. Execute it outside the Space chain, or map back with one resample (mode='linear')"
        )
    mode: Optional[Mode] = None
    if kind in _INTERPOLATING:
        try:
            mode = parse_recorded_mode(record.get(LazyAttr.INTERP_MODE, extra.get("mode")))
        except ModeError as err:
            raise MetadataError(f"{name!r} recorded an interpolation mode monai-spacetx does not know: {err}") from err
    if kind == "pad":
        constant = _padding_constant(extra.get("mode")) and any(any(p) for p in extra.get("padded", ()))
    elif kind in ("crop", "ResizeWithPadOrCrop", "Zoom"):  # MONAI's Zoom pads through its nested ``padcrop`` record
        constant = _pad_constant(extra)
    else:
        constant = _padding_constant(record.get(LazyAttr.PADDING_MODE, extra.get("padding_mode")))
    return RecordedStep(kind=kind, mode=mode, constant=constant, extra=extra, **common)  # type: ignore[arg-type]


def _shift(start: Sequence[float], ndim: int) -> np.ndarray:
    """Output index ``j`` is input index ``j + start``."""
    matrix = np.eye(ndim + 1)
    matrix[:ndim, ndim] = np.asarray(start, dtype=np.float64)[:ndim]
    return matrix


def _pad_map(extra: Mapping[str, Any], ndim: int) -> np.ndarray:
    before = [float(p[0]) for p in list(extra["padded"])[-ndim:]]  # MONAI lists the channel axis first
    return _shift([-b for b in before], ndim)


def _crop_map(extra: Mapping[str, Any], ndim: int) -> np.ndarray:
    return _shift([float(c) for c in list(extra["cropped"])[0::2]], ndim)


def _nested_map(extra: Mapping[str, Any], name: str, ndim: int) -> np.ndarray:
    nested = extra.get(name)
    if not isinstance(nested, Mapping):
        return np.eye(ndim + 1)
    inner = nested.get(TraceKeys.EXTRA_INFO, {})
    return _pad_map(inner, ndim) if "padded" in inner else _crop_map(inner, ndim)


def _flip_map(axes: Any, shape: Sequence[int]) -> np.ndarray:
    ndim = len(shape)
    listed = range(ndim) if axes is None else [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    matrix = np.eye(ndim + 1)
    for axis in (int(a) % ndim for a in listed):
        matrix[axis, axis] = -1.0
        matrix[axis, ndim] = shape[axis] - 1
    return matrix


def _rot90_map(k: int, axes: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """``np.rot90(x, k, axes)``: each quarter turn flips ``axes[1]`` then swaps the two axes."""
    ndim = len(shape)
    first, second = (int(a) % ndim for a in axes)
    matrix, current = np.eye(ndim + 1), list(shape)
    for _ in range(int(k) % 4):
        turn = _flip_map(second, current)
        swap = np.eye(ndim + 1)
        swap[[first, second]] = swap[[second, first]]
        matrix = matrix @ turn @ swap
        current[first], current[second] = current[second], current[first]
    return matrix


def _scale_map(in_shape: Sequence[int], out_shape: Sequence[int], align_corners: Any) -> np.ndarray:
    """``Resize`` / ``Zoom``: MONAI's affine is the edges-kept scale, or the centres-kept one for ``align_corners=True``."""
    grid = Space(tuple(in_shape)).resize(tuple(out_shape), align="centers" if align_corners is True else "edges")
    return np.asarray(grid.affine)


def _centred(linear: np.ndarray, in_shape: Sequence[int], out_shape: Sequence[int]) -> np.ndarray:
    """MONAI ``Affine``: the recorded matrix acts about the grid centres, ``(shape - 1) / 2`` of each side."""
    ndim = len(in_shape)
    matrix = np.eye(ndim + 1)
    matrix[:ndim, :ndim] = linear[:ndim, :ndim]
    matrix[:ndim, ndim] = (np.asarray(in_shape) - 1) / 2.0 - linear[:ndim, :ndim] @ ((np.asarray(out_shape) - 1) / 2.0)
    return matrix


def index_map(step: RecordedStep, out: Space) -> np.ndarray:
    """The step's ``(D+1, D+1)`` map from its output voxel indices (grid ``out``) to its input voxel indices.

    Raises:
        MetadataError: the step is one of ours (its grids are recorded instead) or lacks an entry its kind needs.
    """
    ndim, extra, in_shape = out.ndim, step.extra, step.in_shape[: out.ndim]
    if step.lazy_affine is not None:
        return square(step.lazy_affine, ndim)
    if step.kind == "identity" or step.kind in NON_SPATIAL:
        return np.eye(ndim + 1)
    try:
        if step.kind in ("SpatialResample", "ResampleToMatch"):
            return np.linalg.solve(square(_matrix(extra["src_affine"]), ndim), out.affine)
        if step.kind == "Orientation":
            return np.linalg.solve(square(_matrix(extra["original_affine"]), ndim), out.affine)
        if step.kind == "Flip":
            return _flip_map(extra["axes"], in_shape)
        if step.kind == "Rotate90":
            return _rot90_map(extra["k"], extra["axes"], in_shape)
        if step.kind == "crop":
            cropped: np.ndarray = _crop_map(extra, ndim) @ _nested_map(extra, "pad_info", ndim)  # CropForeground pads after cropping
            return cropped
        if step.kind == "pad":
            return _pad_map(extra, ndim)
        if step.kind == "ResizeWithPadOrCrop":  # crops first, then pads
            padcropped: np.ndarray = _nested_map(extra, "crop_info", ndim) @ _nested_map(extra, "pad_info", ndim)
            return padcropped
        if step.kind in ("Resize", "Zoom"):
            padcrop = extra.get("padcrop") if extra.get("do_padcrop") else None
            zoomed = tuple(out.shape) if not isinstance(padcrop, Mapping) else tuple(int(s) for s in padcrop[TraceKeys.ORIG_SIZE])[:ndim]
            scale = _scale_map(in_shape, zoomed, extra.get("align_corners"))
            if isinstance(padcrop, Mapping):
                inner = padcrop.get(TraceKeys.EXTRA_INFO, {})
                scale = scale @ _nested_map(inner, "crop_info", ndim) @ _nested_map(inner, "pad_info", ndim)
            return scale
        if step.kind == "Rotate":
            return square(_matrix(extra["rot_mat"]), ndim)
        if step.kind in ("Affine", "RandAffine"):
            return _centred(square(_matrix(extra["affine"]), ndim), in_shape, out.shape)
    except SpaceTxError:
        raise
    except _MALFORMED as err:
        raise MetadataError(f"the record of {step.name!r} lacks what its kind {step.kind!r} needs: {err!r}") from err
    raise MetadataError(f"the record of {step.name!r} ({step.kind}) has no index map of its own")


def input_grid(step: RecordedStep, out: Space) -> Space:
    """The grid the step read from, given the grid it wrote (``out``)."""
    if step.kind == "spacetx":
        return Space.from_json(step.extra["source"])
    matrix = index_map(step, out)
    return Space.from_affine(out.affine @ np.linalg.inv(matrix), list(step.in_shape)[: out.ndim])
