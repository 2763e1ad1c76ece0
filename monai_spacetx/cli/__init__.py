"""The ``monai-spacetx`` command line (also ``python -m monai_spacetx``).

Thin: each command is a module with ``NAME``, ``HELP``, ``DESCRIPTION``, ``EXAMPLES``,
``configure(parser)`` and ``run(args, fail) -> int``, registered once in :data:`COMMANDS`.
The work itself lives in the package (:mod:`monai_spacetx.compare` for ``check``).

Every error is one line, ``<prog> <command>: error: <message>``, exit status 2, whether
argparse or the command found it. An unexpected exception (a bug) is one line too, exit status
1; ``MONAI_SPACETX_TRACEBACK=1`` shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import NoReturn, Optional, Sequence

from . import check, demo, migrate
from .text import CliError

__all__ = ["main", "build_parser", "COMMANDS", "CliError"]

#: The registered commands, in the order ``--help`` lists them.
COMMANDS: tuple[ModuleType, ...] = (check, demo, migrate)

SCRIPT = "monai-spacetx"

#: Set this environment variable to see the traceback of an unexpected error instead of one line.
TRACEBACK_VARIABLE = "MONAI_SPACETX_TRACEBACK"

_EPILOG = """\
examples:
  {prog} check scan.nii.gz --size 96 96 64
  {prog} check scan.nii.gz --label seg.nii.gz --crop-foreground 100 --spacing 0.7
  {prog} check --example anatomical.nii --roi 4 4 4 28 36 20 --spacing 1.5
  {prog} demo
  {prog} migrate configs/inference.json -o configs/inference_spacetx.json

Run '{prog} <command> --help' for a command's options."""


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors (no usage dump): ``<prog>: error: <message>``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(prog: str = SCRIPT) -> argparse.ArgumentParser:
    """The full parser; ``prog`` is how the user called us (script name or ``python -m ...``)."""
    parser = _Parser(
        prog=prog,
        description="Exact crop / resample / map-back for MONAI pipelines: tools on your own scans.",
        epilog=_EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="command", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS:
        child = sub.add_parser(
            command.NAME,
            help=command.HELP,
            description=command.DESCRIPTION,
            epilog="examples:\n" + "\n".join(f"  {prog} {command.NAME} {line}".rstrip() for line in command.EXAMPLES),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(child)
        child.set_defaults(run=command.run, parser=child)
    return parser


def main(argv: Optional[Sequence[str]] = None, prog: str = SCRIPT) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command; returns the exit status."""
    args = build_parser(prog).parse_args(argv)
    parser: argparse.ArgumentParser = args.parser

    def fail(message: str) -> int:
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2

    try:
        return int(args.run(args, fail))
    except CliError as err:
        return fail(str(err))
    except BrokenPipeError:  # `... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"\n{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not bad input: still one line, and the traceback on request
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        first = next((line.strip() for line in str(err).splitlines() if line.strip()), "")
        print(f"{parser.prog}: internal error: {type(err).__name__}: {first[:300]} "
              f"(a bug: please report it; {TRACEBACK_VARIABLE}=1 shows the traceback)", file=sys.stderr)
        return 1
