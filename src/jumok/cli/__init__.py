"""Command line: ``jumok train | predict | evaluate | average | data | attention | serve``. One module per command; each has
``register(subparsers)`` and ``run(args) -> exit code``."""

import argparse
import sys
import traceback

from jumok.cli import attention, average, data, evaluate, predict, serve, train
from jumok.errors import JumokError
from jumok.parallel import current_world, end_with

COMMANDS = (train, predict, evaluate, average, data, attention, serve)


def build_parser():
    parser = argparse.ArgumentParser(prog="jumok", description="Sequence-to-sequence learning with attention.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling TEXT ... at the first option: `predict RUN --beam 5 a b` leaves a, b over
    if args.command == "predict" and extra and not any(e.startswith("-") for e in extra):
        args.text = [*args.text, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to start the same command as --workers ranks
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
