"""Tests written to kill the mutants of ``engine/options.py`` that mutmut left alive (tests/mutation/run_mutmut.py).

Each test names the mutants it kills and checks by hand against the module's table (MONAI's names, torch's and
scipy's spline orders), MONAI's own enums where it has them, and the documented messages, in full. Survivors shown
equivalent are listed with their reasons in the mutation notes. Pure Python: a few milliseconds in all.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from monai_spacetx.engine.options import WarpOptions, parse_mode, parse_padding_mode
from monai_spacetx.errors import ModeError

#: the module table, by hand: every name MONAI (or torch, or scipy's spline orders) uses, and ours
MODE_TABLE = {
    "nearest": "nearest", "nearest-exact": "nearest", 0: "nearest",
    "linear": "linear", "bilinear": "linear", "trilinear": "linear", 1: "linear",
    "cubic": "cubic", "bicubic": "cubic", 3: "cubic",
    "label": "label", "area": "area",
}
PADDING_TABLE = {"zeros": "zeros", "constant": "zeros", "border": "border", "edge": "border", "reflection": "reflection"}
KNOWN_MODES = "'nearest', 'nearest-exact', 'linear', 'bilinear', 'trilinear', 'cubic', 'bicubic', 'label', 'area', 0, 1, 3"
KNOWN_PADDINGS = "'zeros', 'constant', 'border', 'edge', 'reflection'"
SCIPY_WHY = (" (scipy's names, MONAI's spline-order path, are not taken: 'nearest' is 'border', "
             "'reflect'/'grid-mirror' is 'reflection', 'grid-constant' is 'zeros'; 'mirror' and 'wrap' have no counterpart)")
ORDER_WHY = " (spline orders 2, 4 and 5 are not supported: the engine interpolates with orders 0, 1 and Keys cubic for 3)"


def _raises(message: str):
    return pytest.raises(ModeError, match="^" + re.escape(message) + "$")


def test_every_name_of_the_table_in_any_case_and_integer_type():
    """parse_mode's and parse_padding_mode's lookups (lower-casing, integer orders of any integer type)."""
    from monai.utils import GridSampleMode, InterpolateMode

    for name, ours in MODE_TABLE.items():
        assert parse_mode(name) == ours, name
        if isinstance(name, str):
            assert parse_mode(name.upper()) == ours, name
        else:
            assert parse_mode(np.int64(name)) == ours and parse_mode(np.uint8(name)) == ours, name
    for name, ours in PADDING_TABLE.items():
        assert parse_padding_mode(name) == ours and parse_padding_mode(name.upper()) == ours, name
    # MONAI's own names for the modes we take: every one of them is in the table
    assert {m.value for m in GridSampleMode} <= set(MODE_TABLE)
    assert {m.value for m in InterpolateMode} <= set(MODE_TABLE)


def test_unknown_modes_are_refused_with_the_whole_message():
    """parse_mode's refusal: bools (True == 1), floats, other orders (2, 4, 5 with the reason, others without)."""
    for bad in (True, False, 1.0, None, [1], "lanczos"):
        with _raises(f"mode must be one of {KNOWN_MODES}, got {bad!r}"):
            parse_mode(bad)
    for order in (2, 4, 5, np.int32(4)):
        with _raises(f"mode for key 'img' must be one of {KNOWN_MODES}, got {order!r}{ORDER_WHY}"):
            parse_mode(order, "img")
    for order in (6, -1, 7):
        with _raises(f"mode for key 3 must be one of {KNOWN_MODES}, got {order!r}"):
            parse_mode(order, 3)


def test_unknown_padding_modes_are_refused_with_the_whole_message():
    """parse_padding_mode's refusal: scipy's names (any case) with the reason, others and non-strings without."""
    for name in ("reflect", "grid-mirror", "grid-constant", "nearest", "mirror", "grid-wrap", "wrap", "WRAP"):
        with _raises(f"padding_mode for key 'x' must be one of {KNOWN_PADDINGS}, got {name!r}{SCIPY_WHY}"):
            parse_padding_mode(name, "x")
    for bad in ("circular", None, 0, b"zeros"):
        with _raises(f"padding_mode must be one of {KNOWN_PADDINGS}, got {bad!r}"):
            parse_padding_mode(bad)


def test_parse_fills_every_field_by_hand():
    """WarpOptions.parse passes each argument to its own field, parsed (MONAI's names in, ours out)."""
    got = WarpOptions.parse("bicubic", "edge", 2, anti_aliasing=True, anti_aliasing_sigma=[1, 0.5], thick_axis_mode=0,
                            anisotropy_threshold=4, key="k")
    assert (got.mode, got.padding_mode, got.fill, got.anti_aliasing, got.anti_aliasing_sigma, got.thick_axis_mode,
            got.anisotropy_threshold) == ("cubic", "border", 2.0, True, (1.0, 0.5), "nearest", 4.0)
    assert type(got.fill) is float and type(got.anisotropy_threshold) is float
    assert all(type(s) is float for s in got.anti_aliasing_sigma)
    default = WarpOptions.parse()
    assert default == WarpOptions() == WarpOptions("linear", "zeros", 0.0, False, None, None, 3.0)
    assert WarpOptions.parse("nearest", thick_axis_mode="bilinear").thick_axis_mode == "linear"
    assert WarpOptions.parse(anti_aliasing_sigma=np.float32(0.25)).anti_aliasing_sigma == 0.25
    assert WarpOptions.parse(anti_aliasing_sigma=np.array([0.0, 2.0])).anti_aliasing_sigma == (0.0, 2.0)
    assert WarpOptions.parse(anti_aliasing_sigma=3).anti_aliasing_sigma == 3.0
    assert WarpOptions.parse(anisotropy_threshold=1).anisotropy_threshold == 1.0  # the bound itself is allowed


def test_the_constructor_takes_only_canonical_values_and_normalises_numbers():
    """__post_init__: our names only (MONAI's refused, naming WarpOptions.parse), numbers made floats, per-axis
    sigmas made a tuple of floats."""
    with _raises("mode must be one of ('nearest', 'linear', 'cubic', 'label', 'area') (use WarpOptions.parse for "
                 "MONAI's names), got 'bilinear'"):
        WarpOptions(mode="bilinear")
    with _raises("padding_mode must be one of ('zeros', 'border', 'reflection'), got 'constant'"):
        WarpOptions(padding_mode="constant")
    with _raises("thick_axis_mode must be None or one of ('nearest', 'linear'), got 'cubic'"):
        WarpOptions(thick_axis_mode="cubic")
    with _raises("fill must be a finite number, got inf"):
        WarpOptions(fill=float("inf"))
    options = WarpOptions(fill=3, anti_aliasing_sigma=[1, 2], anisotropy_threshold=5, thick_axis_mode="nearest")
    assert (options.fill, options.anti_aliasing_sigma, options.anisotropy_threshold) == (3.0, (1.0, 2.0), 5.0)
    assert type(options.fill) is float and type(options.anisotropy_threshold) is float
    assert type(options.anti_aliasing_sigma) is tuple and all(type(s) is float for s in options.anti_aliasing_sigma)
    assert WarpOptions(anti_aliasing_sigma=2).anti_aliasing_sigma == 2.0 and type(WarpOptions(anti_aliasing_sigma=2).anti_aliasing_sigma) is float


def test_numeric_options_are_refused_naming_the_key_and_the_value():
    """_checked_numbers: finite real numbers only (bools, strings, NaN, inf refused), anti_aliasing a real bool,
    the threshold >= 1, the sigma non-negative, one value or a non-empty sequence (a string is not a sequence)."""
    for fill in (True, "0", float("nan"), float("-inf"), None, 1 + 2j):
        with _raises(f"fill for key 'k' must be a finite number, got {fill!r}"):
            WarpOptions.parse(fill=fill, key="k")
    assert WarpOptions.parse(fill=np.float32(-1.5)).fill == -1.5 and WarpOptions.parse(fill=np.int16(4)).fill == 4.0
    for flag in (1, "yes", np.bool_(True), None):
        with _raises(f"anti_aliasing for key 'k' must be True or False, got {flag!r}"):
            WarpOptions.parse(anti_aliasing=flag, key="k")
    for threshold in (0.999, 0, -3, float("nan"), float("inf"), True, "3"):
        with _raises(f"anisotropy_threshold for key 'k' must be a number >= 1, got {threshold!r}"):
            WarpOptions.parse(anisotropy_threshold=threshold, key="k")
    for sigma in (-0.1, [1.0, -1.0], [], (), "1", ["1"], float("nan"), [float("inf")], True, [True, 1.0]):
        with _raises(f"anti_aliasing_sigma for key 'k' must be a non-negative number or one per axis, got {sigma!r}"):
            WarpOptions.parse(anti_aliasing_sigma=sigma, key="k")
    assert WarpOptions.parse(anti_aliasing_sigma=0).anti_aliasing_sigma == 0.0  # zero is non-negative
    assert WarpOptions.parse(anti_aliasing_sigma=[0, 0.0]).anti_aliasing_sigma == (0.0, 0.0)
    with _raises("fill must be a finite number, got 'zeros'"):  # no key: no " for key"
        WarpOptions.parse(fill="zeros")


def test_thick_axis_mode_parsed_then_checked_naming_the_key():
    """parse's thick-axis check: MONAI's names read first, then only nearest and linear kept."""
    for thick in ("bicubic", 3, "label", "area"):
        with _raises(f"thick_axis_mode for key 'seg' must be None, 'nearest' or 'linear', got {thick!r}"):
            WarpOptions.parse("linear", thick_axis_mode=thick, key="seg")
    with _raises(f"mode for key 'seg' must be one of {KNOWN_MODES}, got 'z'"):
        WarpOptions.parse("linear", thick_axis_mode="z", key="seg")
    with _raises("thick_axis_mode must be None, 'nearest' or 'linear', got 'cubic'"):
        WarpOptions.parse("linear", thick_axis_mode="cubic")


def test_constant_and_the_names_recorded_for_monai():
    """constant (zeros only) and monai_mode: the names MONAI's resampler and Invertd(nearest_interp=True) read."""
    from monai.utils import GridSampleMode, InterpolateMode

    assert [WarpOptions(padding_mode=p).constant for p in ("zeros", "border", "reflection")] == [True, False, False]
    recorded = {m: WarpOptions(mode=m).monai_mode for m in ("nearest", "linear", "cubic", "label", "area")}
    assert recorded == {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic", "label": "bilinear", "area": "area"}
    monai_names = {m.value for m in GridSampleMode} | {m.value for m in InterpolateMode}
    assert set(recorded.values()) <= monai_names
