"""How to sample: one frozen value (mode, padding mode, fill), parsed and validated once.

This is the only place where an interpolation mode or a padding mode is named, parsed or
checked. Transforms parse their arguments into :class:`WarpOptions` when they are built (so a
bad ``mode`` or ``padding_mode`` fails at construction, naming the key) and hand the value
down; the engine reads its fields and never re-validates.

Both dialects are accepted and mapped onto our four modes:

=====================  ============================================================
ours                   MONAI's names that mean it
=====================  ============================================================
``"nearest"``          ``"nearest"``, ``"nearest-exact"``, spline order ``0``
``"linear"``           ``"bilinear"``, ``"trilinear"``, ``"linear"``, order ``1``
``"cubic"``            ``"bicubic"``, spline order ``3``
``"label"``            (ours only: per-class linear, then argmax)
``"area"``             ``"area"`` (block average, as ``F.interpolate(mode="area")``)
=====================  ============================================================

Our ``nearest`` is always centre-consistent (a target voxel takes the source voxel whose box
contains its centre; exact ties go to the higher index): that is what ``"nearest-exact"``
means in torch, and what MONAI's ``"nearest"`` is meant to be.

Padding modes are MONAI's ``padding_mode`` values: ``"zeros"`` (a constant, ``fill``,
default 0; ``"constant"`` is accepted as a synonym), ``"border"`` and ``"reflection"``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Hashable, Literal, Optional, Sequence, Union

import numpy as np

from ..errors import ModeError

__all__ = ["Mode", "PaddingMode", "MODES", "THICK_AXIS_MODES", "PADDING_MODES", "WarpOptions", "parse_mode", "parse_padding_mode"]

Mode = Literal["nearest", "linear", "cubic", "label", "area"]
PaddingMode = Literal["zeros", "border", "reflection"]

#: Our canonical interpolation modes.
MODES: tuple[Mode, ...] = ("nearest", "linear", "cubic", "label", "area")
#: The modes a thick axis may use instead of ``mode`` (:attr:`WarpOptions.thick_axis_mode`).
THICK_AXIS_MODES: tuple[Mode, ...] = ("nearest", "linear")
#: Our canonical padding modes (MONAI's ``padding_mode`` names).
PADDING_MODES: tuple[PaddingMode, ...] = ("zeros", "border", "reflection")

_MODE_ALIASES: dict[Any, Mode] = {
    "nearest": "nearest",
    "nearest-exact": "nearest",
    "linear": "linear",
    "bilinear": "linear",
    "trilinear": "linear",
    "cubic": "cubic",
    "bicubic": "cubic",
    "label": "label",
    "area": "area",
    0: "nearest",
    1: "linear",
    3: "cubic",
}
_PADDING_ALIASES: dict[str, PaddingMode] = {
    "zeros": "zeros",
    "constant": "zeros",
    "border": "border",
    "edge": "border",
    "reflection": "reflection",
}
#: scipy's ``map_coordinates`` modes, which MONAI's ``Spacing`` takes with an integer ``mode``.
_SCIPY_PADDING = ("reflect", "grid-mirror", "grid-constant", "nearest", "mirror", "grid-wrap", "wrap")
#: What we record for MONAI (``applied_operations``), so ``Invertd(nearest_interp=True)``
#: and MONAI's own resampler read names they know.
_MONAI_MODE: dict[Mode, str] = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic", "label": "bilinear", "area": "area"}


def _where(key: Optional[Hashable]) -> str:
    return f" for key {key!r}" if key is not None else ""


def _checked_numbers(
    fill: Any, anti_aliasing: Any, sigma: Any, threshold: Any, key: Optional[Hashable]
) -> tuple[float, Union[float, tuple[float, ...], None], float]:
    """The numeric options checked once (errors name ``key``): ``fill``, the sigma, the threshold."""
    def finite(value: Any) -> bool:
        return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))

    if not finite(fill):
        raise ModeError(f"fill{_where(key)} must be a finite number, got {fill!r}")
    if not isinstance(anti_aliasing, bool):
        raise ModeError(f"anti_aliasing{_where(key)} must be True or False, got {anti_aliasing!r}")
    if not finite(threshold) or float(threshold) < 1.0:
        raise ModeError(f"anisotropy_threshold{_where(key)} must be a number >= 1, got {threshold!r}")
    if sigma is None:
        return float(fill), None, float(threshold)
    per_axis = isinstance(sigma, (Sequence, np.ndarray)) and not isinstance(sigma, str)
    values = list(sigma) if per_axis else [sigma]
    if not values or not all(finite(v) and float(v) >= 0 for v in values):
        raise ModeError(f"anti_aliasing_sigma{_where(key)} must be a non-negative number or one per axis, got {sigma!r}")
    floats = tuple(float(v) for v in values)
    return float(fill), (floats if per_axis else floats[0]), float(threshold)


def parse_mode(mode: Any, key: Optional[Hashable] = None) -> Mode:
    """Our canonical mode for ``mode`` in either dialect (see the module table).

    Args:
        mode: a mode name (case-insensitive) or a spline order ``0``, ``1`` or ``3``.
        key: the data key the mode belongs to, named in the error message.

    Raises:
        ModeError: unknown mode, naming the argument, the key and the value.

    >>> parse_mode("bilinear"), parse_mode(0), parse_mode("label")
    ('linear', 'nearest', 'label')
    """
    if isinstance(mode, bool):  # True == 1 would otherwise read as spline order 1
        lookup: Any = None
    elif isinstance(mode, numbers.Integral):
        lookup = int(mode)
    elif isinstance(mode, str):
        lookup = mode.lower()
    else:
        lookup = None
    parsed = _MODE_ALIASES.get(lookup) if lookup is not None else None
    if parsed is None:
        known = ", ".join(repr(m) for m in _MODE_ALIASES)
        why = ""
        if isinstance(lookup, int) and 0 <= lookup <= 5:  # MONAI's scipy spline orders
            why = " (spline orders 2, 4 and 5 are not supported: the engine interpolates with orders 0, 1 and Keys cubic for 3)"
        raise ModeError(f"mode{_where(key)} must be one of {known}, got {mode!r}{why}")
    return parsed


def parse_padding_mode(padding_mode: Any, key: Optional[Hashable] = None) -> PaddingMode:
    """Our canonical padding mode for MONAI's ``padding_mode`` names.

    >>> parse_padding_mode("constant"), parse_padding_mode("border")
    ('zeros', 'border')
    """
    parsed = _PADDING_ALIASES.get(padding_mode.lower()) if isinstance(padding_mode, str) else None
    if parsed is None:
        why = ""
        if isinstance(padding_mode, str) and padding_mode.lower() in _SCIPY_PADDING:
            why = (
                " (scipy's names, MONAI's spline-order path, are not taken: 'nearest' is 'border', "
                "'reflect'/'grid-mirror' is 'reflection', 'grid-constant' is 'zeros'; 'mirror' and 'wrap' have no counterpart)"
            )
        raise ModeError(
            f"padding_mode{_where(key)} must be one of {', '.join(repr(p) for p in _PADDING_ALIASES)}, got {padding_mode!r}{why}"
        )
    return parsed


@dataclass(frozen=True)
class WarpOptions:
    """How one resample samples the source: interpolation mode, padding mode, fill value.

    Attributes:
        mode: ``"nearest"`` (centre-consistent), ``"linear"``, ``"cubic"`` (Keys,
            ``A = -0.75``), ``"label"`` (per-class linear, then argmax) or ``"area"`` (the
            mean of the source voxels a target voxel's box overlaps, as ``F.interpolate``'s
            ``"area"`` / adaptive average pooling; axis-aligned resamples only).
        padding_mode: ``"zeros"``: target voxels whose centre lies outside the source field of
            view get ``fill`` (inside it, taps are clamped to the edge); ``"border"``: clamp
            to the edge; ``"reflection"``: reflect about the voxel edges ``-0.5``, ``n - 0.5``.
        fill: the constant of ``"zeros"`` padding (the fill label in ``"label"`` mode).
        anti_aliasing: MONAI ``Resize``'s name and default (``False``). When ``True``,
            ``linear`` and ``cubic`` sample a Gaussian-smoothed source along every source axis
            the resample shrinks: the smoothing kernel is folded into the 1-D interpolation
            weights on the axis-aligned paths, and applied to the read source window on the
            general path (taps at the edges follow ``padding_mode``: replicated for
            ``"zeros"``/``"border"``, mirrored for ``"reflection"``; the kernel sums to 1).
            ``nearest`` and ``label`` ignore it (smoothing a label map invents values).
        anti_aliasing_sigma: the Gaussian's standard deviation in source voxels, one value
            or one per source axis; ``None`` (default) is MONAI's and scikit-image's rule
            ``max(0, (s - 1) / 2)`` with ``s`` the shrink factor along the axis (source
            voxels per target voxel; on the general path, the norm of that source axis'
            row of the index map). The kernel is the voxel-integrated (erf) Gaussian truncated
            at 4 sigma, as MONAI's ``GaussianSmooth``.
        thick_axis_mode: nnU-Net's "separate z" resampling of anisotropic scans. ``None``
            (default): every axis uses ``mode``. ``"nearest"`` (nnU-Net's default) or
            ``"linear"``: on an axis-aligned resample of an anisotropic grid, ``linear``,
            ``cubic`` and ``label`` interpolate in-plane only and the thick axis uses this
            mode, so thick slices are not blended with cubic overshoot. The thick axis is the
            source's largest spacing when its spacing ratio (largest / smallest) exceeds
            ``anisotropy_threshold``, else the target's, else there is none (nnU-Net's rule).
            Oblique resamples (the general path) ignore it.
        anisotropy_threshold: the spacing ratio above which a grid is anisotropic (nnU-Net's
            ``3``).

    Build it with :meth:`parse`, which accepts MONAI's names; the constructor takes only the
    canonical values and checks them.
    """

    mode: Mode = "linear"
    padding_mode: PaddingMode = "zeros"
    fill: float = 0.0
    anti_aliasing: bool = False
    anti_aliasing_sigma: Union[float, tuple[float, ...], None] = None
    thick_axis_mode: Optional[Mode] = None
    anisotropy_threshold: float = 3.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModeError(f"mode must be one of {MODES} (use WarpOptions.parse for MONAI's names), got {self.mode!r}")
        if self.padding_mode not in PADDING_MODES:
            raise ModeError(f"padding_mode must be one of {PADDING_MODES}, got {self.padding_mode!r}")
        if self.thick_axis_mode not in (None, *THICK_AXIS_MODES):
            raise ModeError(f"thick_axis_mode must be None or one of {THICK_AXIS_MODES}, got {self.thick_axis_mode!r}")
        checked = _checked_numbers(self.fill, self.anti_aliasing, self.anti_aliasing_sigma, self.anisotropy_threshold, None)
        for name, value in zip(("fill", "anti_aliasing_sigma", "anisotropy_threshold"), checked):
            object.__setattr__(self, name, value)

    @classmethod
    def parse(
        cls,
        mode: Any = "linear",
        padding_mode: Any = "zeros",
        fill: Any = 0.0,
        *,
        key: Optional[Hashable] = None,
        anti_aliasing: Any = False,
        anti_aliasing_sigma: Any = None,
        thick_axis_mode: Any = None,
        anisotropy_threshold: Any = 3.0,
    ) -> "WarpOptions":
        """Validated options from user arguments in either dialect; ``key`` is named in errors.

        >>> WarpOptions.parse("bilinear", "border")  # doctest: +NORMALIZE_WHITESPACE
        WarpOptions(mode='linear', padding_mode='border', fill=0.0, anti_aliasing=False,
                    anti_aliasing_sigma=None, thick_axis_mode=None, anisotropy_threshold=3.0)
        """
        options_mode = parse_mode(mode, key)
        options_padding = parse_padding_mode(padding_mode, key)
        thick: Optional[Mode] = None
        if thick_axis_mode is not None:
            thick = parse_mode(thick_axis_mode, key)
            if thick not in THICK_AXIS_MODES:
                raise ModeError(f"thick_axis_mode{_where(key)} must be None, 'nearest' or 'linear', got {thick_axis_mode!r}")
        fill_value, sigma, threshold = _checked_numbers(fill, anti_aliasing, anti_aliasing_sigma, anisotropy_threshold, key)
        return cls(options_mode, options_padding, fill_value, anti_aliasing, sigma, thick, threshold)

    @property
    def constant(self) -> bool:
        """Whether voxels outside the source field of view take ``fill``."""
        return self.padding_mode == "zeros"

    @property
    def monai_mode(self) -> str:
        """The mode name to record for MONAI (``nearest``, ``bilinear`` or ``bicubic``)."""
        return _MONAI_MODE[self.mode]
