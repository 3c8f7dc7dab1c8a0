"""`jumok data`: write the pairs of a built-in task as a TSV file: generated dates or addition,
or a fixed split of a task that has splits (``jumok data g2p --split test``: ``word<TAB>phones``,
one line per pronunciation, exactly the pairs `jumok train --task g2p` uses). The tasks and
their options come from `jumok.data.tasks.TASKS`."""

import contextlib
import os
import sys

from jumok.config import Config
from jumok.data.tasks import BUILT_IN_TASKS, TASKS
from jumok.data.tsv import format_tsv, write_tsv
from jumok.errors import ConfigError, JumokError

DEFAULT_N = 50_000
DEFAULT_MAX_DIGITS = 3
GENERATOR_FLAGS = {"n": "--n", "seed": "--seed", "max_digits": "--max-digits"}  # what a task with splits refuses


def _names(having):
    """The names of the tasks for which `having(task)` holds, for a message: ``"g2p"``."""
    return ", ".join(name for name, task in BUILT_IN_TASKS.items() if having(task))


SPLIT_TASKS = _names(lambda task: task.splits)
MAX_DIGITS_TASKS = _names(lambda task: "max_digits" in task.options)


def generate(task, n, seed, max_digits=None):
    """The ``n`` pairs of a generated ``task`` for ``seed``; bad settings raise `ConfigError`."""
    if n is None:
        n = DEFAULT_N
    if n < 1:
        raise ConfigError(f"--n must be a positive integer; got {n}")
    options = TASKS[task].options
    if max_digits is not None and "max_digits" not in options:
        raise ConfigError(f"--max-digits applies to {MAX_DIGITS_TASKS} only")
    if "max_digits" in options:
        options = {"max_digits": DEFAULT_MAX_DIGITS if max_digits is None else max_digits}
    else:
        options = {}
    try:
        return TASKS[task].generate(n, seed=seed, **options)
    except ValueError as e:  # too many problems asked for, max_digits < 1, ...
        raise ConfigError(f"{task}: {e}") from None


def split_pairs(task, args):
    """The pairs of the split ``args.split`` of a task with fixed splits; options of the
    generated tasks are refused."""
    for option, flag in GENERATOR_FLAGS.items():
        if getattr(args, option) is not None:
            raise ConfigError(f"{flag} does not apply to {task.name}: its splits are fixed (choose one with --split)")
    args.split = args.split or "train"
    if args.split not in task.splits:
        raise ConfigError(f"--split {args.split}: {task.name} has the splits {', '.join(task.splits)}")
    config = Config(task=task.name, keep_stress=args.keep_stress)
    return task.read_splits(config, log=lambda msg: print(msg, file=sys.stderr))[args.split]


def run(args):
    task = TASKS[args.task]
    if task.read_splits is not None:
        pairs, what = split_pairs(task, args), f"{task.name} {args.split}"
    else:
        if args.split is not None or args.keep_stress:
            raise ConfigError(f"--split and --keep-stress apply to {SPLIT_TASKS} only")
        pairs, what = generate(task.name, args.n, 0 if args.seed is None else args.seed, args.max_digits), task.name
    if args.out is None:
        _write_stdout(format_tsv(pairs))
        return 0
    if os.path.isdir(args.out):
        raise JumokError(f"{args.out}: is a directory, expected the path of the TSV file to write")
    try:
        write_tsv(args.out, pairs)
    except OSError as e:
        raise JumokError(f"{args.out}: cannot write ({e.strerror or e})") from None
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
    splits = tuple(dict.fromkeys(split for task in BUILT_IN_TASKS.values() for split in task.splits))
    p = sub.add_parser("data", help="write a built-in generated data set as TSV",
                       description="Write the pairs that `jumok train --task TASK --n-examples N --seed S` "
                                   "generates (before its validation split) as source<TAB>target lines, "
                                   f"to --out or to stdout; for a task with fixed splits ({SPLIT_TASKS}), the "
                                   "--split that `jumok train --task TASK` uses.")
    p.add_argument("task", choices=list(BUILT_IN_TASKS), help="which built-in data set")
    p.add_argument("--n", type=int, help=f"number of pairs (default {DEFAULT_N})")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument("--max-digits", type=int,
                   help=f"{MAX_DIGITS_TASKS} only: digits per operand at most (default {DEFAULT_MAX_DIGITS})")
    p.add_argument("--split", choices=splits, help=f"{SPLIT_TASKS} only: which split to write (default train)")
    p.add_argument("--keep-stress", action="store_true", help="g2p only: keep the vowels' stress digits")
    p.add_argument("--out", help="TSV file to write, atomically (default: stdout)")
    p.set_defaults(run=run)
