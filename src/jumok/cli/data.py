"""`jumok data`: write a built-in data set as a TSV file: generated dates or addition, or a
split of the CMU Pronouncing Dictionary (``jumok data g2p --split test``: ``word<TAB>phones``,
one line per pronunciation, exactly the pairs `jumok train --task g2p` uses)."""

import contextlib
import os
import sys

from jumok.data.addition import generate_addition
from jumok.data.g2p import SPLITS, g2p_splits
from jumok.data.tasks import GENERATORS
from jumok.data.tsv import format_tsv, write_tsv
from jumok.errors import ConfigError, JumokError

DEFAULT_N = 50_000
DEFAULT_MAX_DIGITS = 3


def generate(task, n, seed, max_digits=None):
    """The ``n`` pairs of a built-in ``task`` for ``seed``; bad settings raise `ConfigError`."""
    if n is None:
        n = DEFAULT_N
    if n < 1:
        raise ConfigError(f"--n must be a positive integer; got {n}")
    if max_digits is not None and task != "addition":
        raise ConfigError("--max-digits applies to addition only")
    try:
        if task == "addition":
            return generate_addition(n, seed=seed, max_digits=DEFAULT_MAX_DIGITS if max_digits is None else max_digits)
        return GENERATORS[task](n, seed=seed)
    except ValueError as e:  # too many problems asked for, max_digits < 1, ...
        raise ConfigError(f"{task}: {e}") from None


def g2p_split(args):
    """The pairs of the g2p split ``args.split``; options of the generated tasks are refused."""
    for flag, value in (("--n", args.n), ("--seed", args.seed), ("--max-digits", args.max_digits)):
        if value is not None:
            raise ConfigError(f"{flag} does not apply to g2p: its splits are fixed (choose one with --split)")
    args.split = args.split or "train"
    return g2p_splits(args.keep_stress, log=lambda msg: print(msg, file=sys.stderr))[args.split]


def run(args):
    if args.task == "g2p":
        pairs = g2p_split(args)
    else:
        if args.split is not None or args.keep_stress:
            raise ConfigError("--split and --keep-stress apply to g2p only")
        pairs = generate(args.task, args.n, 0 if args.seed is None else args.seed, args.max_digits)
    if args.out is None:
        _write_stdout(format_tsv(pairs))
        return 0
    if os.path.isdir(args.out):
        raise JumokError(f"{args.out}: is a directory, expected the path of the TSV file to write")
    try:
        write_tsv(args.out, pairs)
    except OSError as e:
        raise JumokError(f"{args.out}: cannot write ({e.strerror or e})") from None
    what = f"g2p {args.split}" if args.task == "g2p" else args.task
    print(f"wrote {len(pairs)} {what} pairs to {args.out}", file=sys.stderr)
    return 0


def _write_stdout(text):
    """Write to stdout; a reader that stops early (``| head``) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # keep the interpreter from complaining again when it flushes stdout at exit
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def register(sub):
    p = sub.add_parser("data", help="write a built-in generated data set as TSV",
                       description="Write the pairs that `jumok train --task TASK --n-examples N --seed S` "
                                   "generates (before its validation split) as source<TAB>target lines, "
                                   "to --out or to stdout; for g2p, the --split of the CMU Pronouncing "
                                   "Dictionary that `jumok train --task g2p` uses (word<TAB>phones).")
    p.add_argument("task", choices=[*GENERATORS, "g2p"], help="which built-in data set")
    p.add_argument("--n", type=int, help=f"number of pairs (default {DEFAULT_N})")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--max-digits", type=int,
                   help=f"addition only: digits per operand at most (default {DEFAULT_MAX_DIGITS})")
    p.add_argument("--split", choices=SPLITS, help="g2p only: which split to write (default train)")
    p.add_argument("--keep-stress", action="store_true", help="g2p only: keep the vowels' stress digits")
    p.add_argument("--out", help="TSV file to write, atomically (default: stdout)")
    p.set_defaults(run=run)
