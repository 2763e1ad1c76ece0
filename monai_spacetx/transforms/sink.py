"""The sink of a lazy chain: MONAI's pending operations executed by our engine, not MONAI's resampler.

A Space transform takes every MONAI operation pending before it into its own single resample
(:mod:`.lazy`). MONAI lazy transforms *after* the last Space transform stay pending, and
``Compose`` would hand them to MONAI's own resampler at the end (which drops the per-transform
mode, MONAI issue #6850). End such a chain with :class:`SpaceApplyPendingd`:

.. code-block:: python

    Compose([..., SpaceResampled(keys, pixdim=1.0), RandAffined(keys, ..., mode=("bilinear", "nearest")),
             SpaceApplyPendingd(keys, point_keys="landmarks")], lazy=True)

It records nothing of its own (like MONAI's ``ApplyPendingd``): the executed operations move
onto ``applied_operations``, so ``Invertd`` / ``Compose.inverse`` undo them.
"""

from __future__ import annotations

from typing import Any, Hashable, Mapping, Optional

from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LazyTransform, MapTransform
from monai.utils import ensure_tuple_rep

from ..engine.options import WarpOptions
from ..geometry.space import Space
from .dictionary import _NamedKeys, _PointsMixin
from .functional import execute_pending
from .lazy import landmark_grid, pending_space

__all__ = ["execute_pending", "SpaceApplyPending", "SpaceApplyPendingd"]


class SpaceApplyPending(LazyTransform):
    """Execute an image's pending MONAI operations with our engine, in one resample (array form).

    Args:
        mode: ``None`` (the recorded modes decide, see :mod:`.lazy`) or a mode in either
            dialect that overrides them (like MONAI's ``overrides``).
        padding_mode, fill: padding of the fused resample (MONAI's ``padding_mode`` names).

    It is a ``LazyTrait`` that does not require current data, so MONAI's ``Compose`` hands it
    the operations still pending instead of executing them itself first.
    """

    def __init__(self, mode: Any = None, padding_mode: Any = "zeros", fill: float = 0.0) -> None:
        LazyTransform.__init__(self, lazy=True)
        self.options = WarpOptions.parse("nearest" if mode is None else mode, padding_mode, fill)
        self.override = mode is not None

    def __call__(self, img: Any, lazy: Optional[bool] = None) -> Any:
        """``img`` ``(C, *spatial)`` with its pending operations executed (``lazy`` is MONAI's, ignored: this runs)."""
        return execute_pending(img, self.options, override=self.override)


class SpaceApplyPendingd(_NamedKeys, LazyTransform, _PointsMixin):
    """Dictionary sink: execute each key's pending MONAI operations with our engine; landmarks follow.

    Args:
        keys: image keys.
        mode: per key, ``None`` (recorded modes decide) or a mode in either dialect overriding them.
        padding_mode, fill: per key, padding of the fused resample.
        point_keys: landmarks in voxel indices (of the grid the last Space transform left the
            first key on, see :func:`~.lazy.landmark_grid`), moved to its pending grid (``{point_key}_in_grid`` flags those inside it).
        allow_missing_keys: skip absent keys.
        box_keys, box_mode, box_format: ours, keyword-only: boxes (MONAI's ``box_mode``, voxel ``i``
            spanning ``[i, i + 1)``) on the same grid as the landmarks, moved with them as regions
            (``{box_key}_in_grid``; see :mod:`monai_spacetx.geometry.boxes`).
    """

    def __init__(
        self,
        keys: KeysCollection,
        mode: Any = None,
        padding_mode: Any = "zeros",
        fill: Any = 0.0,
        point_keys: Optional[KeysCollection] = None,
        allow_missing_keys: bool = False,
        *,
        box_keys: Optional[KeysCollection] = None,
        box_mode: Any = None,
        box_format: str = "boxes",
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        LazyTransform.__init__(self, lazy=True)
        count = len(self.keys)
        per_key = [
            tuple(ensure_tuple_rep(v, count)) if isinstance(v, (list, tuple)) else (v,) * count
            for v in (mode, padding_mode, fill)
        ]
        # the padding applies with or without a mode; a mode given overrides the recorded ones
        self.options = tuple(
            (WarpOptions.parse("nearest" if m is None else m, p, f, key=k), m is not None)
            for m, p, f, k in zip(*per_key, self.keys)
        )
        self._init_points(point_keys, "index", box_keys, box_mode, "index", box_format)

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        """Each key with its pending operations executed; the first key's moves the landmarks."""
        d = self._as_dict(data)
        moved: Optional[tuple[Space, Space]] = None
        carried = bool(self.point_keys or self.box_keys)  # the grids are read only for landmarks or boxes to move
        for key, (options, override) in self.key_iterator(d, self.options):
            if carried and moved is None and isinstance(d[key], MetaTensor) and d[key].pending_operations:
                moved = (landmark_grid(d[key]), pending_space(d[key]))
            d[key] = execute_pending(d[key], options, key, override)
        if moved is not None:
            self._move_points(d, *moved)
        return d

