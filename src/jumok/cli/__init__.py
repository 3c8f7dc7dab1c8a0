"""Command line: ``jumok train | predict | evaluate | average | data | attention | serve``. One module per command; each has
``register(subparsers)`` and ``run(args) -> exit code``."""

import argparse
import importlib
import sys
import traceback

from jumok.errors import JumokError
from jumok.parallel import current_world, end_with

COMMANDS = ("train", "predict", "evaluate", "average", "data", "attention", "serve")


def build_parser(argv=None):
    """The parser for `argv`: when it names a command, only that command's module is imported
    and its parser built (`jumok train` neither imports nor builds `serve`'s; the others stay
    as empty names, so that usage lines read as before); otherwise (no command, `--help`, a
    misspelt one) every command's, so that argparse lists them all with their help."""
    parser = argparse.ArgumentParser(prog="jumok", description="Sequence-to-sequence learning with attention.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    named = next((word for word in argv or () if not word.startswith("-")), None)
    for command in COMMANDS:
        if named not in COMMANDS or command == named:
            importlib.import_module(f"jumok.cli.{command}").register(sub)
        else:
            sub.add_parser(command)
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling TEXT ... at the first option: `predict RUN --beam 5 a b` leaves a, b over
    if args.command == "predict" and extra and not any(e.startswith("-") for e in extra):
        args.text = [*args.text, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.argv = argv  # to start the same command as --workers ranks
    try:
        return args.run(args)
    except JumokError as e:
        if args.debug and current_world().size == 1:
            raise
        if args.debug:
            traceback.print_exc()
        return end_with(f"jumok: error: {e}", 1)
    except KeyboardInterrupt:
        return end_with("jumok: interrupted", 130)
    except Exception:
        if current_world().size == 1:
            raise
        traceback.print_exc()  # a rank that ended normally would wait in MPI_Finalize for the others
        return end_with(None, 1)
