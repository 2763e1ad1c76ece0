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
from typing import Any, Hashable, Literal, Optional

from ..errors import ModeError

__all__ = ["Mode", "PaddingMode", "MODES", "PADDING_MODES", "WarpOptions", "parse_mode", "parse_padding_mode"]

Mode = Literal["nearest", "linear", "cubic", "label"]
PaddingMode = Literal["zeros", "border", "reflection"]

#: Our canonical interpolation modes.
MODES: tuple[Mode, ...] = ("nearest", "linear", "cubic", "label")
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
#: What we record for MONAI (``applied_operations``), so ``Invertd(nearest_interp=True)``
#: and MONAI's own resampler read names they know.
_MONAI_MODE: dict[Mode, str] = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic", "label": "bilinear"}


def _where(key: Optional[Hashable]) -> str:
    return f" for key {key!r}" if key is not None else ""


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
        raise ModeError(f"mode{_where(key)} must be one of {known}, got {mode!r}")
    return parsed


def parse_padding_mode(padding_mode: Any, key: Optional[Hashable] = None) -> PaddingMode:
    """Our canonical padding mode for MONAI's ``padding_mode`` names.

    >>> parse_padding_mode("constant"), parse_padding_mode("border")
    ('zeros', 'border')
    """
    parsed = _PADDING_ALIASES.get(padding_mode.lower()) if isinstance(padding_mode, str) else None
    if parsed is None:
        raise ModeError(
            f"padding_mode{_where(key)} must be one of {', '.join(repr(p) for p in _PADDING_ALIASES)}, got {padding_mode!r}"
        )
    return parsed


@dataclass(frozen=True)
class WarpOptions:
    """How one resample samples the source: interpolation mode, padding mode, fill value.

    Attributes:
        mode: ``"nearest"`` (centre-consistent), ``"linear"``, ``"cubic"`` (Keys,
            ``A = -0.75``) or ``"label"`` (per-class linear, then argmax).
        padding_mode: ``"zeros"``: target voxels whose centre lies outside the source field of
            view get ``fill`` (inside it, taps are clamped to the edge); ``"border"``: clamp
            to the edge; ``"reflection"``: reflect about the voxel edges ``-0.5``, ``n - 0.5``.
        fill: the constant of ``"zeros"`` padding (the fill label in ``"label"`` mode).

    Build it with :meth:`parse`, which accepts MONAI's names; the constructor takes only the
    canonical values and checks them.
    """

    mode: Mode = "linear"
    padding_mode: PaddingMode = "zeros"
    fill: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ModeError(f"mode must be one of {MODES} (use WarpOptions.parse for MONAI's names), got {self.mode!r}")
        if self.padding_mode not in PADDING_MODES:
            raise ModeError(f"padding_mode must be one of {PADDING_MODES}, got {self.padding_mode!r}")
        fill = self.fill
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real) or not math.isfinite(float(fill)):
            raise ModeError(f"fill must be a finite number, got {fill!r}")
        object.__setattr__(self, "fill", float(fill))

    @classmethod
    def parse(
        cls, mode: Any = "linear", padding_mode: Any = "zeros", fill: Any = 0.0, *, key: Optional[Hashable] = None
    ) -> "WarpOptions":
        """Validated options from user arguments in either dialect; ``key`` is named in errors.

        >>> WarpOptions.parse("bilinear", "border")
        WarpOptions(mode='linear', padding_mode='border', fill=0.0)
        """
        options_mode = parse_mode(mode, key)
        options_padding = parse_padding_mode(padding_mode, key)
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real) or not math.isfinite(float(fill)):
            raise ModeError(f"fill{_where(key)} must be a finite number, got {fill!r}")
        return cls(options_mode, options_padding, float(fill))

    @property
    def constant(self) -> bool:
        """Whether voxels outside the source field of view take ``fill``."""
        return self.padding_mode == "zeros"

    @property
    def monai_mode(self) -> str:
        """The mode name to record for MONAI (``nearest``, ``bilinear`` or ``bicubic``)."""
        return _MONAI_MODE[self.mode]
