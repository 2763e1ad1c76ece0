"""MONAI's pad modes for the part of a crop (or a kept-size zoom) that lies outside the image.

MONAI pads with numpy's modes (``constant``, ``edge``, ``linear_ramp``, ``maximum``, ``mean``,
``median``, ``minimum``, ``reflect``, ``symmetric``, ``wrap``, ``empty``) and torch's
(``constant``, ``reflect``, ``replicate``, ``circular``), computed from the part it kept. Two
of them are what the engine's padding does exactly, for any box: ``constant`` (our ``zeros``
with the constant as ``fill``) and ``edge``/``replicate`` (our ``border``); those stay engine
paddings, so they fuse with MONAI's pending operations like any other step. Every other mode
depends on the kept values in ways a resample's boundary rule does not express (a statistic,
a ramp, a period of the kept part rather than of the image), so it is applied as MONAI does:
the engine copies the kept part (one resample, as always) and :func:`pad_outside` fills the
rest from it with MONAI's own ``pad_nd`` (torch's ``F.pad`` where it applies, else ``np.pad``),
bit for bit. Our own names ``zeros``, ``border`` and ``reflection`` keep their engine meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Hashable, Mapping, Optional

import numpy as np
import torch
from monai.data.meta_tensor import MetaTensor
from monai.transforms.croppad.functional import pad_nd

from ..engine.options import PADDING_MODES, WarpOptions
from ..errors import EmptyBoxError, ModeError
from ..geometry.space import Space
from . import functional as F
from .lazy import Replay
from .planning import inner_box

__all__ = ["NUMPY_PAD_MODES", "TORCH_PAD_MODES", "PadMode", "parse_pad_mode", "pad_outside", "resample_padded", "crop_padding"]

#: numpy's ``np.pad`` modes, as MONAI's ``NumpyPadMode``.
NUMPY_PAD_MODES = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum", "reflect", "symmetric", "wrap", "empty")
#: torch's ``F.pad`` modes, as MONAI's ``PytorchPadMode``.
TORCH_PAD_MODES = ("constant", "reflect", "replicate", "circular")
#: MONAI pad modes the engine's padding reproduces exactly for every box.
_ENGINE_EXACT = {"constant": "zeros", "edge": "border", "replicate": "border"}
#: The keyword arguments ``np.pad`` / ``F.pad`` take besides the mode.
_PAD_KWARGS = ("constant_values", "value", "stat_length", "reflect_type", "end_values")


def _where(key: Optional[Hashable]) -> str:
    return f" for key {key!r}" if key is not None else ""


@dataclass(frozen=True)
class PadMode:
    """One key's padding: an engine padding (``engine`` set) or a MONAI pad mode applied after the copy.

    Attributes:
        mode: the name as given (lower case).
        engine: our padding mode when the engine pads exactly so, else ``None``.
        fill: the engine's constant (``constant_values``/``value``, default 0).
        kwargs: what ``pad_nd`` gets besides the mode (a tuple of items, so the value is hashable).
    """

    mode: str
    engine: Optional[str]
    fill: float = 0.0
    kwargs: tuple[tuple[str, Any], ...] = ()

    def options(self) -> WarpOptions:
        """The engine options of the copy (nearest; the MONAI pad modes copy with zeros and pad afterwards)."""
        return WarpOptions.parse("nearest", self.engine or "zeros", self.fill)


def parse_pad_mode(
    mode: Any,
    pad_kwargs: Optional[Mapping[str, Any]] = None,
    *,
    name: str = "mode",
    key: Optional[Hashable] = None,
    engine_modes: tuple[str, ...] = ("constant", "edge", "replicate"),
) -> PadMode:
    """Read a MONAI pad mode (``name`` is the argument the user wrote, named in errors).

    Args:
        mode: a numpy or torch pad mode, or ours (``zeros``, ``border``, ``reflection``).
        pad_kwargs: ``np.pad``/``F.pad`` keyword arguments (``constant_values``, ``stat_length``, ...).
        engine_modes: the MONAI modes the caller may hand to the engine (a zoom keeps only
            ``constant``: MONAI's ``edge`` repeats the *zoomed* edge voxel there).

    Raises:
        ModeError: unknown mode or keyword, naming ``name`` and ``key``.
    """
    kwargs = dict(pad_kwargs or {})
    unknown = sorted(set(kwargs) - set(_PAD_KWARGS))
    if unknown:
        raise ModeError(f"pad keyword arguments{_where(key)} must be among {list(_PAD_KWARGS)}, got {unknown}")
    text = mode.value if hasattr(mode, "value") and isinstance(mode.value, str) else mode  # MONAI's StrEnums
    if not isinstance(text, str) or text.lower() not in (*NUMPY_PAD_MODES, *TORCH_PAD_MODES, *PADDING_MODES):
        known = ", ".join(repr(m) for m in dict.fromkeys((*NUMPY_PAD_MODES, *TORCH_PAD_MODES, *PADDING_MODES)))
        raise ModeError(f"{name}{_where(key)} must be a pad mode, one of {known}; got {mode!r}")
    text = text.lower()
    constant = kwargs.get("constant_values", kwargs.get("value", 0.0))
    simple = set(kwargs) <= {"constant_values", "value"} and isinstance(constant, (int, float, np.number)) and not isinstance(constant, bool)
    if text in PADDING_MODES:  # ours: one number at most (the constant of "zeros"), never np.pad's other arguments
        if not simple:
            raise ModeError(
                f"{name}{_where(key)} {text!r} is our engine padding: its only pad keyword argument is one number "
                f"(constant_values or value, the fill of 'zeros'), got {kwargs!r}; use a numpy pad mode for np.pad's arguments"
            )
        return PadMode(text, text, float(constant))
    if text in engine_modes and simple:
        return PadMode(text, _ENGINE_EXACT[text], float(constant) if text == "constant" else 0.0)
    return PadMode(text, None, 0.0, tuple(sorted(kwargs.items())))


def pad_outside(data: torch.Tensor, inner: tuple[slice, ...], pad: PadMode, key: Optional[Hashable] = None) -> torch.Tensor:
    """``data`` ``(C, *box)`` with everything outside ``inner`` (one slice per axis, what was copied
    from the image) replaced by MONAI's padding of ``data[:, *inner]`` with ``pad``; a new tensor.

    Raises:
        EmptyBoxError: the box does not overlap the image, so there is nothing to pad from.
    """
    widths = [(0, 0)] + [(s.start, n - s.stop) for s, n in zip(inner, data.shape[1:])]
    if not any(w for pair in widths for w in pair):
        return data
    if any(s.stop <= s.start for s in inner):
        raise EmptyBoxError(
            f"mode {pad.mode!r}{_where(key)} pads from the image's values, but the box does not overlap the image"
        )
    kept = data[(slice(None), *inner)]
    padded = pad_nd(kept, widths, pad.mode, **dict(pad.kwargs))
    return torch.as_tensor(padded).to(device=data.device, dtype=data.dtype)


def resample_padded(
    image: MetaTensor,
    target: Space,
    options: WarpOptions,
    pad: PadMode,
    start: Any,
    extent: Any,
    transform_info: Mapping[str, Any],
    key: Optional[Hashable] = None,
    dtype: Optional[torch.dtype] = None,
    lazy: bool = False,
) -> torch.Tensor:
    """:func:`.functional.resample` onto ``target``, padded per ``pad`` where ``target`` leaves the grid
    it was cut from (``target``'s voxel 0 is voxel ``start`` of a grid of shape ``extent``: the
    input for a crop, the zoomed grid for a kept-size zoom).

    An engine padding is the resample's own (``options``). A MONAI pad mode fills the outside from
    the warped inside with :func:`pad_outside`, in the step's own warp and, lazily, again in the
    fused warp of a later step (:class:`~.lazy.Replay`): inside this step's grid that warp reads
    the data once, in its padding it carries this step's padded pixels on. Both fuse as any step.
    """
    if pad.engine is not None:
        return F.resample(image, target, options, transform_info, key=key, dtype=dtype, lazy=lazy)
    inner = inner_box(start, target.shape, extent)
    if any(s.stop <= s.start for s in inner):
        pad_outside(torch.zeros((1, *target.shape)), inner, pad, key)  # raises EmptyBoxError, naming the key
    replay = Replay(target, inner, partial(pad_outside, inner=inner, pad=pad, key=key))
    return F.resample(image, target, options, transform_info, key=key, dtype=dtype, lazy=lazy, replay=replay)


def crop_padding(padding_mode: Any, fill: Any = 0.0, name: str = "padding_mode", key: Optional[Hashable] = None) -> PadMode:
    """A crop's ``padding_mode`` (any MONAI pad mode, or ours) with our ``fill`` as the constant of
    ``zeros``/``constant`` padding."""
    pad = parse_pad_mode(padding_mode, None, name=name, key=key)
    return replace(pad, fill=fill) if pad.engine == "zeros" else pad
