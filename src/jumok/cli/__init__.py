"""Command line: ``jumok train | predict | evaluate | data | attention | serve``. One module per command; each has
``register(subparsers)`` and ``run(args) -> exit code``."""

import argparse
import sys

from jumok.cli import attention, data, evaluate, predict, serve, train
from jumok.errors import JumokError

COMMANDS = (train, predict, evaluate, data, attention, serve)


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
    try:
        return args.run(args)
    except JumokError as e:
        if args.debug:
            raise
        print(f"jumok: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jumok: interrupted", file=sys.stderr)
        return 130
