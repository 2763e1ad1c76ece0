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
from . import functional as F
from .dictionary import _PointsMixin
from .lazy import DATA_SOURCE_KEY, FUSED_KEY, execute_fused, landmark_grid, pending_space, with_applied
from .meta import get_native_space

__all__ = ["execute_pending", "SpaceApplyPending", "SpaceApplyPendingd"]


def execute_pending(
    img: Any, options: Optional[WarpOptions] = None, key: Optional[Hashable] = None, override: Optional[bool] = None
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

    Returns:
        ``(C, *pending shape)`` MetaTensor on the pending grid, with the operations moved onto
        ``applied_operations`` and ``spacetx_space`` / ``spacetx_native`` written. Discrete
        modes keep the dtype (a ``uint8`` label stays ``uint8``).
    """
    if not isinstance(img, MetaTensor) or not img.pending_operations:
        return img
    image = F.as_image(img, key)
    grid, native = pending_space(image), get_native_space(image)
    assert isinstance(native, Space)  # one sample, not a collated batch
    pixels, covered, step = execute_fused(image, options, options is not None if override is None else override)
    applied = with_applied(image)
    if covered:  # the warp also covered an earlier lazy Space step: say so on the newest record (.chain reads it)
        newest = dict(applied.applied_operations[-1])
        newest.update({FUSED_KEY: covered, DATA_SOURCE_KEY: step.source.to_json()})
        applied.applied_operations[-1] = newest
    return F.write_geometry(pixels, applied, grid, native)


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


class SpaceApplyPendingd(MapTransform, LazyTransform, _PointsMixin):
    """Dictionary sink: execute each key's pending MONAI operations with our engine; landmarks follow.

    Args:
        keys: image keys.
        mode: per key, ``None`` (recorded modes decide) or a mode in either dialect overriding them.
        padding_mode, fill: per key, padding of the fused resample.
        point_keys: landmarks in voxel indices (of the grid the last Space transform left the
            first key on, see :func:`~.lazy.landmark_grid`), moved to its pending grid (``{point_key}_in_grid`` flags those inside it).
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mode: Any = None,
        padding_mode: Any = "zeros",
        fill: Any = 0.0,
        point_keys: Optional[KeysCollection] = None,
        allow_missing_keys: bool = False,
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
        self._init_points(point_keys, "index")

    def __call__(self, data: Mapping[Hashable, Any], lazy: Optional[bool] = None) -> dict[Hashable, Any]:
        """Each key with its pending operations executed; the first key's moves the landmarks."""
        d = self._as_dict(data)
        moved: Optional[tuple[Space, Space]] = None
        for key, (options, override) in self.key_iterator(d, self.options):
            if moved is None and isinstance(d[key], MetaTensor) and d[key].pending_operations:
                moved = (landmark_grid(d[key]), pending_space(d[key]))
            d[key] = execute_pending(d[key], options, key, override)
        if moved is not None:
            self._move_points(d, *moved)
        return d

