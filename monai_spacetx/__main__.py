"""Command line: ``python -m monai_spacetx <command>``.

Commands are registered in :data:`COMMANDS` (name -> (help, add_arguments, run)), so new
ones (the tutorials' main job, benchmarks, ...) are added without touching :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

import numpy as np

__all__ = ["main", "demo", "COMMANDS"]


def demo(args: argparse.Namespace) -> int:
    """Plan the seed's crop + resample on a Space and map a landmark there and back."""
    from . import Space, map_points

    native = Space((35, 35))
    start, end, size = (10, 10), (25, 25), (32, 32)
    working = native.crop(start, end).resize(size)  # align="edges": pixels as areas
    landmark = np.array([[17.0, 17.0]])
    forward = map_points(landmark, native, working)
    back = map_points(forward, working, native)
    error = float(np.linalg.norm(back - landmark))

    print("monai-spacetx demo: plan crop + resample on a Space, map a landmark there and back")
    print(f"native grid   : {native}")
    print(f"plan          : crop [{start[0]}:{end[0]}, {start[1]}:{end[1]}] -> resize to {size[0]}x{size[1]} (field-of-view edges kept)")
    print(f"working grid  : {working}")
    print(f"landmark      : native index {landmark[0].tolist()} -> working index {forward[0].tolist()}")
    print(f"mapped back   : native index {back[0].tolist()}")
    print(f"round-trip error: {error:.3g} px")
    print("No pixels were touched: executing the plan is one resample from native to working grid.")
    return 0 if error <= 1e-9 else 1


#: name -> (help, add_arguments(parser), run(args) -> exit code)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo": ("plan the seed's crop + resample on a Space and map a landmark back", lambda parser: None, demo),
}


def _check(args: argparse.Namespace) -> int:
    from . import check

    return check.run(args)


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    from . import check

    check.configure_parser(parser)


COMMANDS["check"] = ("round-trip accuracy on your own NIfTI: monai-spacetx next to MONAI", _check_arguments, _check)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m monai_spacetx", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(command)
        command.set_defaults(run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m monai_spacetx`` and the ``monai-spacetx`` script."""
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
