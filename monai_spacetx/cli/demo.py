"""``monai-spacetx demo``: plan the seed's crop + resample on a Space and map a landmark back."""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

NAME = "demo"
HELP = "plan a crop + resample on a Space and map a landmark there and back (no files needed)"
DESCRIPTION = (
    "Plan the seed experiment's crop [10:25, 10:25] of a 35x35 image and its resize to 32x32 on a\n"
    "Space, map a landmark to the working grid and back, and print the round-trip error.\n"
    "No pixels are touched: planning is geometry only."
)
EXAMPLES = ("",)


def configure(parser: argparse.ArgumentParser) -> None:
    """``demo`` takes no arguments."""


def run(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """Print the plan and the landmark's round trip; exit status 1 if it is not exact."""
    from ..geometry.points import map_points
    from ..geometry.space import Space

    native = Space((35, 35))
    start, end, size = (10, 10), (25, 25), (32, 32)
    working = native.crop(start, end).resize(size)  # align="edges": pixels as areas
    landmark = np.array([[17.0, 17.0]])
    forward = map_points(landmark, native, working)
    back = map_points(forward, working, native)
    error = float(np.linalg.norm(back - landmark))
    print("monai-spacetx demo: plan crop + resample on a Space, map a landmark there and back")
    print(f"native grid     : {native}")
    print(f"plan            : crop [{start[0]}:{end[0]}, {start[1]}:{end[1]}] -> resize to {size[0]}x{size[1]} (field-of-view edges kept)")
    print(f"working grid    : {working}")
    print(f"landmark        : native index {landmark[0].tolist()} -> working index {forward[0].tolist()}")
    print(f"mapped back     : native index {back[0].tolist()}")
    print(f"round-trip error: {error:.3g} px")
    print("No pixels were touched: executing the plan is one resample from native to working grid.")
    return 0 if error <= 1e-9 else 1
