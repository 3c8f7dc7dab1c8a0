"""Where a run's (source, target) text pairs come from: the task registry `TASKS`, which
`Config.task`, `jumok train --task` and `jumok data` all read, and the pair-file readers.

A task is one `Task` record. It makes its pairs in one of three ways:

* it generates them (`Task.generate`, e.g. dates): ``n_examples`` pairs from ``seed``,
  split into training and validation pairs like a file;
* it reads fixed splits (`Task.read_splits`, e.g. g2p): its ``"train"`` split trains, its
  ``"dev"`` split validates (unless ``valid`` is given) and a ``"test"`` split, if it has
  one, is scored once after training;
* it has neither (``tsv``): the pairs are read from the files ``data`` and ``valid``.

Adding a task: write its data module, add its record to `TASKS`; the configuration, the
command line and docs/config.md take their choices from here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from jumok.data.addition import generate_addition
from jumok.data.batching import split_holdout
from jumok.data.dates import generate_chapter_dates, generate_dates
from jumok.data.dlfs2 import read_dlfs2
from jumok.data.g2p import SPLITS, read_g2p_splits
from jumok.data.tsv import read_tsv
from jumok.errors import DataError


@dataclass(frozen=True)
class Task:
    """A named source of (source, target) text pairs; see the module docstring."""

    name: str
    help: str  # one line for `jumok train --help`, `jumok data --help` and docs/config.md
    generate: Callable | None = None  # (n, seed=..., **options) -> pairs
    options: tuple[str, ...] = ()  # keyword options of `generate` that `jumok data` offers (max_digits)
    read_splits: Callable | None = None  # (config, log=None) -> {split name: pairs}
    splits: tuple[str, ...] = ()  # the names read_splits gives: "train", "dev" and perhaps "test"
    fixed: dict = field(default_factory=dict)  # settings the task sets whatever the config says
    defaults: dict = field(default_factory=dict)  # its own settings for `jumok train`, below the config file's

    @property
    def built_in(self):
        """Whether the task makes its own pairs (else they come from the data file)."""
        return self.generate is not None or self.read_splits is not None

    @property
    def has_test(self):
        """Whether the task has a test split, scored once after training."""
        return "test" in self.splits


FILE_DEFAULTS = {"epochs": 100, "patience": 3, "lr_schedule": "stall", "batch_size": 0, "embed_scale": 1.0,
                 "lstm_init": "uniform", "bidirectional": True}
"""How a user's file trains (docs/results.md#defaults-for-a-users-file): until validation stops
improving in every score (at most 100 epochs), the learning rate halved only when it stalls,
in batches suited to the file's size (batch_size 0 = auto), from embeddings of unit variance
and LSTM weights U(±1/√H), with an encoder that reads each source both ways. The built-in
tasks keep the chapter's model, its 0.01 embeddings and their fixed three epochs."""

TASKS = {task.name: task for task in (
    Task("date", "human-written English dates in 29 formats → ISO YYYY-MM-DD", generate=generate_dates),
    Task("date-chapter", "only the chapter's four month-first date styles", generate=generate_chapter_dates),
    Task("addition", "a+b → the sum, each operand up to 3 digits", generate=generate_addition,
         options=("max_digits",)),
    Task("g2p", "the CMU Pronouncing Dictionary's words → phones (pip install \".[g2p]\"), its test split "
                "scored once at the end", read_splits=read_g2p_splits, splits=SPLITS,
         fixed={"source_tokens": "char", "target_tokens": "space"}),  # a word's letters in, its phones out
    Task("tsv", "the pairs of the data file (and of the valid file), in data_format", defaults=FILE_DEFAULTS),
)}
"""Every task by name; `Config.task` is one of them."""

BUILT_IN_TASKS = {name: task for name, task in TASKS.items() if task.built_in}
"""The tasks that make their own pairs: the choices of ``jumok train --task`` and ``jumok data``."""

GENERATORS = {name: task.generate for name, task in TASKS.items() if task.generate is not None}
"""{name: generator(n, seed=...)} of the generated tasks."""

READERS = {"tsv": read_tsv, "dlfs2": read_dlfs2}  # by Config.data_format


def read_pairs(path, data_format: str = "tsv", source_tokens: str = "char", target_tokens: str = "char"):
    """Text pairs of the file ``path`` in ``data_format`` (``"tsv"`` or ``"dlfs2"``).

    The token modes let the reader reject, with the file and line, a side that would give
    no tokens or a reserved token name.
    """
    if data_format not in READERS:
        raise ValueError(f"unknown data format {data_format!r}, expected one of {tuple(READERS)}")
    return READERS[data_format](path, source_tokens=source_tokens, target_tokens=target_tokens)


def load_pairs(config, log=None):
    """(train_pairs, valid_pairs) of text for a `Config`.

    With `data` set, it is read in `data_format`; `valid` is read too (same format), or else
    `valid_fraction` of the data is held out by a seeded shuffle. A task with fixed splits
    (g2p) gives its train split and its dev split (or `valid`), `log` hearing what it
    read. Otherwise `n_examples` pairs of the task are generated from `seed` and split the
    same way as a file.
    """
    def read(path):
        return read_pairs(path, config.data_format, config.source_tokens, config.target_tokens)

    task = TASKS[config.task]
    if task.read_splits is not None:
        splits = task.read_splits(config, log)
        return splits["train"], read(config.valid) if config.valid else splits["dev"]
    if config.data:
        pairs = read(config.data)
    else:
        pairs = task.generate(config.n_examples, seed=config.seed)
    if config.valid:
        return pairs, read(config.valid)
    return split_holdout(pairs, config.valid_fraction, seed=config.seed)


def load_test_pairs(config):
    """The pairs to score once after training: the task's test split, or None if it has none."""
    task = TASKS[config.task]
    return task.read_splits(config)["test"] if task.has_test else None


def drop_long_pairs(token_pairs, max_length: int):
    """The token-list pairs whose source and target both have at most ``max_length`` tokens.

    Raises `DataError` if that leaves none, saying how short the shortest pair is.
    """
    kept = [(source, target) for source, target in token_pairs
            if len(source) <= max_length and len(target) <= max_length]
    if not kept and token_pairs:
        shortest = min(max(len(source), len(target)) for source, target in token_pairs)
        raise DataError(f"max_length {max_length} drops all {len(token_pairs)} training pairs: the shortest has "
                        f"{shortest} tokens on its longer side")
    return kept
