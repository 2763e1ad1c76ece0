"""Where a sample's geometry lives in MONAI metadata, and how to read it back.

Two entries are written to ``MetaTensor.meta`` by every Space transform:

- ``"spacetx_space"``: the sample's Space after the transform;
- ``"spacetx_native"``: the geometry the image was loaded with, the target of
  :class:`~monai_spacetx.transforms.SpaceInvertd`.

Both are JSON strings (:meth:`Space.to_json`). A custom object in ``meta`` breaks
``default_collate``; a string is collated into a list of strings by
``list_data_collate``, split back by ``decollate_batch``, pickles across DataLoader
workers, and keeps every float64 bit.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from .._recent import RecentValues
from ..errors import MetadataError, SpaceTxWarning, SpaceTypeError
from ..geometry.space import Space

__all__ = [
    "SPACE_KEY",
    "NATIVE_KEY",
    "get_space",
    "get_native_space",
    "native_space",
    "find_native_space",
    "space_to_meta",
    "space_from_meta",
]

SPACE_KEY = "spacetx_space"
NATIVE_KEY = "spacetx_native"


#: Spaces of recent grids, keyed by the spatial shape and the float64 affine's bytes: a sample's keys lie on the
#: same grids, and a cached volume comes back on the same data grid every epoch (``Space.from_affine`` checks
#: what it is given: about 60 us a call, a fifth of a sink's planning per key).
_SPACES: RecentValues[Space] = RecentValues(32)


def _space_key(affine: Any, shape: Any) -> Optional[tuple[Any, ...]]:
    """The cache key of a float64 affine (numpy, or a CPU tensor) and a sequence of integer sizes; ``None``: anything
    else (not cached)."""
    if isinstance(affine, torch.Tensor):
        if affine.dtype != torch.float64 or affine.device.type != "cpu":
            return None
        affine = torch.Tensor.numpy(affine.detach())
    elif not (isinstance(affine, np.ndarray) and affine.dtype == np.float64):
        return None
    if not isinstance(shape, (tuple, list)) or not all(isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) for n in shape):
        return None
    return tuple(int(n) for n in shape), affine.shape, affine.tobytes()


def cached_space(affine: Any, shape: Any, build: Callable[[], Space]) -> Space:
    """``build()``, the Space of ``affine`` and ``shape``, or the one built before for bit-equal ones (a Space is immutable);
    ``build``'s errors for anything the key does not cover or a grid that is not a Space (never kept)."""
    return _SPACES.get(_space_key(affine, shape), build)


def space_to_meta(space: Space) -> str:
    """The metadata form of a Space (a JSON string)."""
    return space.to_json()


def space_from_meta(value: Any, name: str = SPACE_KEY) -> Space | list[Space]:
    """Read a Space back from its metadata form; a collated batch (list of strings) gives a list."""
    if isinstance(value, Space):
        return value
    try:
        if isinstance(value, str):
            return Space.from_json(value)
        if isinstance(value, dict):
            return Space.from_dict(value)
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
            return [Space.from_json(v) for v in value]
    except (ValueError, TypeError) as err:  # our SpaceError/SpaceTypeError are both
        raise MetadataError(f"meta[{name!r}] is not a valid Space (corrupt metadata?): {err}") from err
    raise SpaceTypeError(f"meta[{name!r}] must be a Space JSON string, got {type(value).__name__}: {value!r}")


def _meta_of(x: Any) -> Mapping[str, Any]:
    if isinstance(x, Mapping):
        return x
    meta = getattr(x, "meta", None)
    if not isinstance(meta, Mapping):
        raise SpaceTypeError(f"expected a MONAI MetaTensor or a metadata dict, got {type(x).__name__}")
    return meta


def get_space(x: Any) -> Space | list[Space]:
    """The current Space of a sample.

    Args:
        x: a ``MetaTensor`` ``(C, *spatial)`` (its affine and spatial shape are the truth,
            also after MONAI's own spatial transforms), or a metadata dict holding
            ``"spacetx_space"`` (a collated batch gives a list of Spaces).
    """
    if not isinstance(x, Mapping) and getattr(x, "affine", None) is not None and hasattr(x, "shape"):
        if getattr(x, "is_batch", False):
            raise SpaceTypeError("get_space takes one sample; decollate the batch first (monai.data.decollate_batch)")
        return Space.from_metatensor(x)
    meta = _meta_of(x)
    if SPACE_KEY not in meta:
        raise MetadataError(f"metadata has no {SPACE_KEY!r}: no Space transform has been applied")
    return space_from_meta(meta[SPACE_KEY])


def get_native_space(x: Any) -> Space | list[Space]:
    """The native Space of a sample: the geometry it was loaded with.

    Looked up, in order, in ``meta["spacetx_native"]`` (written by the Space transforms; a
    collated batch gives a list), then in what MONAI recorded (see :func:`find_native_space`).

    Raises:
        MetadataError: when none of these is available, or the entry is corrupt.
    """
    meta = _meta_of(x)
    if NATIVE_KEY in meta:
        return space_from_meta(meta[NATIVE_KEY], NATIVE_KEY)
    native = find_native_space(x)
    if native is None:
        raise MetadataError(
            "cannot tell the native geometry: metadata has neither 'spacetx_native' nor MONAI's "
            "'original_affine' + 'spatial_shape', and transforms were already applied"
        )
    return native


def native_space(x: Any) -> Space:
    """:func:`get_native_space` of one sample (a single Space; a batch is refused)."""
    native = get_native_space(x)
    if isinstance(native, list):
        raise SpaceTypeError("expected one sample, got a collated batch; decollate it first (monai.data.decollate_batch)")
    return native


def find_native_space(x: Any) -> Space | None:
    """The native Space from what MONAI recorded, or ``None`` when it cannot be told.

    - ``original_affine`` + ``spatial_shape`` (NIfTI, ITK, DICOM loaders; a 2-D slice keeps
      the 4x4 affine, its slice position included);
    - ``spatial_shape`` without ``original_affine``: MONAI gave the image its default identity
      affine. Exact for MONAI's ``PILReader`` (PNG/JPG: its header ``format``, ``mode``, ``width``,
      ``height``); for any other metadata a :class:`~monai_spacetx.errors.SpaceTxWarning` says so, once;
    - a MetaTensor to which no transform was applied yet is its own native Space.
    """
    meta = _meta_of(x)
    shape_value = meta.get("spatial_shape")
    if shape_value is not None:
        shape = _spatial_shape(shape_value)
        if len(shape) in (2, 3):
            affine = _original_affine(meta, shape)
            try:
                return cached_space(affine, shape, lambda: Space.from_affine(affine, shape))
            except (ValueError, TypeError) as err:
                raise MetadataError(f"meta['original_affine'] does not describe a {len(shape)}-D grid {shape}: {err}") from err
    if not isinstance(x, Mapping) and hasattr(x, "affine") and not getattr(x, "applied_operations", None):
        return Space.from_metatensor(x)
    return None


#: MONAI's ``PILReader`` header: its images have no affine of their own; MONAI gives them the identity.
_PIL_HEADER = ("format", "mode", "width", "height")
#: The causes already warned about in this process (:class:`SpaceTxWarning` is given once each).
_WARNED: set[str] = set()


def _original_affine(meta: Mapping[str, Any], shape: list[int]) -> np.ndarray:
    """``meta['original_affine']``, or MONAI's identity default, with a word when that is a guess."""
    original = meta.get("original_affine")
    if original is not None:
        return _numbers(original, "original_affine")
    if not all(key in meta for key in _PIL_HEADER) and "original_affine" not in _WARNED:
        _WARNED.add("original_affine")
        warnings.warn(
            f"metadata has spatial_shape {shape} but no 'original_affine' (keys present: {sorted(map(str, meta))[:12]}): "
            "the native grid is taken as MONAI's default identity affine (1 mm voxels at the origin); "
            "load with a reader that records the affine, or set meta['original_affine']",
            SpaceTxWarning,
            stacklevel=3,
        )
    return np.eye(4)


def _as_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _numbers(value: Any, name: str) -> np.ndarray:
    """``meta[name]`` as float64 numbers, or :class:`MetadataError` naming the entry and the value."""
    try:
        values: np.ndarray = _as_numpy(value)
    except (TypeError, ValueError) as err:
        raise MetadataError(f"meta[{name!r}] must be numbers, got {value!r:.80} (corrupt metadata?)") from err
    if not np.all(np.isfinite(values)):
        raise MetadataError(f"meta[{name!r}] must be finite numbers, got {value!r:.80} (corrupt metadata?)")
    return values


def _spatial_shape(value: Any) -> list[int]:
    """MONAI's ``spatial_shape`` entry as whole numbers of voxels (sizes are checked by :class:`Space`)."""
    values = _numbers(value, "spatial_shape").reshape(-1)
    if not np.all(np.mod(values, 1) == 0):
        raise MetadataError(f"meta['spatial_shape'] must be whole numbers of voxels, got {value!r:.80} (corrupt metadata?)")
    return [int(v) for v in values]
