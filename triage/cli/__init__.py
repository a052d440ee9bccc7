"""The ``triage`` command: one sub-command per module, each a thin layer over a library function."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from ..errors import TriageError

#: Sub-commands, each a module of this package defining ``add_parser(subparsers)`` and ``run(args) -> int``.
COMMANDS = ("train", "classify", "evaluate", "info", "batch", "report", "serve", "db", "review", "promote")
PROG = "triage"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every sub-command, or of ``only`` one: a command imports just what it needs, so
    ``triage classify`` starts without the training stack (scikit-learn, pandas)."""
    parser = argparse.ArgumentParser(prog=PROG, description="Route complaint letters by work-style category and unit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else (only,):
        importlib.import_module(f".{name}", __name__).add_parser(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``, if it is one of :data:`COMMANDS`."""
    name = next((a for a in argv if not a.startswith("-")), None)
    return name if name in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``triage COMMAND ...``. Returns the exit code (0 ok, 1 error, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command(argv))
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except TriageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `triage evaluate ... | head`: the reader left, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
