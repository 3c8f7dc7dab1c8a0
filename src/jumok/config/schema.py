"""The `Config` dataclass: every setting of a run with its section, its help text, its flag
and its choices, and the checks of their values.

Each field is made by `setting`, whose metadata is the one place that says where the field
lives in a config file, what it means and which flag sets it; `SECTIONS`, the flags of
`jumok train` and docs/config.md are generated from it. A setting with choices names the
registry that holds them (e.g. ``jumok.models.registry:MODELS``); the registry is imported
the first time a value is checked, so ``import jumok.config`` stays light.
"""

import dataclasses
import importlib
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields

from jumok.config.checking import checked, describe, suggestion
from jumok.errors import ConfigError

SECTION_HELP = {
    "data": "where the pairs come from and how their text splits into tokens",
    "model": "the network",
    "train": "the optimisation, validation and checkpoints",
    "decode": "decoding with the trained model",
    "run": "where the command writes the run (not a `Config` field)",
}
"""The sections of a config file, in order, each with one line for docs/config.md."""


def setting(default, section, help, *, flag, choices=None, flag_choices=None, negatable=True, metavar=None,
            toml_last=False, flag_type=None):
    """A `Config` field with what the config file, the command line and the docs say of it.

    section: its config-file section (a key of `SECTION_HELP`). help: one line; ``{key}`` in
    it names another setting, shown as that setting's flag in ``jumok train --help`` and as
    its key in docs/config.md. flag: its ``jumok train`` flag, or None for none (a config
    file or ``--set`` sets it). choices: ``"module:NAME"`` of the registry whose names are
    its values (a mapping or a tuple; an entry that is a string or has a ``help`` is shown
    with it); flag_choices: a registry of fewer names for the flag. negatable: a boolean flag
    has a ``--no-`` form (else it only switches on). metavar: the flag's value name.
    toml_last: written at the end of its section in config.toml, where it has always been.
    flag_type: the function that reads the flag's text, where the field's type does not (``auto``).
    """
    return dataclasses.field(default=default, metadata={
        "section": section, "help": help, "flag": flag, "choices": choices, "flag_choices": flag_choices,
        "negatable": negatable, "metavar": metavar, "toml_last": toml_last, "flag_type": flag_type})


def count_or_auto(text):
    """The value of ``--workers`` or ``--batch-size``: a number, or ``auto`` (stored as 0)."""
    return 0 if text == "auto" else int(text)


TASKS = "jumok.data.tasks:TASKS"
TOKEN_MODES = "jumok.data.tokens:TOKEN_MODES"


@dataclass(frozen=True)
class Config:
    """Everything that defines a training run (docs/config.md describes every field).

    The defaults train the attention model on the built-in dates for three epochs (what they
    reach: docs/results.md#the-default-run). They differ from the chapter's settings (Adam 1e-3,
    constant; reversed input; 50,000 examples) in three ways, each measured in docs/results.md:
    reversed input traps attention in a positional shortcut on unpadded data
    (docs/results.md#why-reversing-the-source-hurts-attention-here), so it is off; the learning
    rate starts at 3e-3 and halves whenever an epoch brings no improvement; and 100,000 dates
    are generated, as the 29 formats have more rare cases to learn. A user's file (task tsv)
    trains on its own defaults instead, `jumok.data.tasks.FILE_DEFAULTS`: until validation
    stops improving, from unit-variance embeddings and PyTorch's LSTM initialisation
    (docs/results.md#defaults-for-a-users-file).
    """

    task: str = setting("date", "data", "built-in data set to train on; giving {data} sets it to tsv",
                        flag="--task", choices=TASKS, flag_choices="jumok.data.tasks:BUILT_IN_TASKS")
    data: str | None = setting(None, "data", "training pairs: source<TAB>target lines (or {data_format} dlfs2)",
                               flag="--data")
    valid: str | None = setting(None, "data", "validation pairs, in the same format; unset: {valid_fraction} of "
                                "{data} is held out, seeded", flag="--valid")
    data_format: str = setting("tsv", "data", "format of the pair files: tsv, source<TAB>target lines; dlfs2, the "
                               "course's fixed-width question_answer lines", flag="--format",
                               choices="jumok.data.tasks:READERS")
    source_tokens: str = setting("char", "data", "how a source splits into tokens", flag="--source-tokens",
                                 choices=TOKEN_MODES)
    target_tokens: str = setting("char", "data", "the same for targets; a task with its own tokens (g2p) sets "
                                 "both", flag="--target-tokens", choices=TOKEN_MODES)
    max_length: int = setting(0, "data", "drop training pairs with more tokens than this on either side; "
                              "0 = keep all", flag="--max-length")
    model: str = setting("attention", "model", "the encoder–decoder architecture", flag="--model",
                         choices="jumok.models.registry:MODELS")
    epochs: int = setting(3, "train", "training epochs (resuming: the total to reach)", flag="--epochs")
    batch_size: int = setting(128, "train", "pairs per batch; auto (0 in a file): 128, or fewer for a small "
                              "training set so that an epoch has about 64 steps or more (config.json records the "
                              "number)", flag="--batch-size", metavar="N|auto", flag_type=count_or_auto)
    bucket: bool = setting(False, "train", "batch pairs of similar length together (sorted in windows of 50 "
                           "batches, the batches shuffled): less padding, faster epochs on data of mixed lengths",
                           flag="--bucket")
    embed_size: int = setting(16, "model", "width of the token embeddings", flag="--embed-size")
    hidden_size: int = setting(256, "model", "width of the LSTMs (a bidirectional encoder's two directions "
                               "share it), or the Transformer's model width", flag="--hidden-size")
    optimizer: str = setting("adam", "train", "the optimizer", flag="--optimizer", choices="jumok.optim:OPTIMIZERS")
    lr: float = setting(3e-3, "train", "learning rate", flag="--lr")
    lr_decay: float = setting(0.5, "train", "factor the schedule applies to the learning rate; 1 = constant",
                              flag="--lr-decay")
    lr_schedule: str = setting("plateau", "train", "when the learning rate decays", flag="--lr-schedule",
                               choices="jumok.optim:LR_SCHEDULES")
    lr_patience: int = setting(1, "train", "plateau schedule: epochs without a better validation score before "
                               "a decay (stall schedule: epochs without any progress)", flag="--lr-patience")
    patience: int = setting(0, "train", "stop after this many epochs in a row in which validation improved in no "
                            "score: not the best exact match, no token error rate below its lowest, no loss 1 % "
                            "below its lowest while a pair is wrong; 0 = never", flag="--patience")
    time_budget: float = setting(0.0, "train", "minutes of training at most: no epoch starts that would end past "
                                 "them; 0 = no limit", flag="--time-budget", metavar="MINUTES", toml_last=True)
    clip: float = setting(5.0, "train", "global gradient-norm limit; 0 = no clipping", flag="--clip")
    reverse: bool = setting(False, "model", "feed the source backwards (within its real length)", flag="--reverse",
                            toml_last=True)
    attention: str = setting("dot", "model", "attention score of the attention model", flag="--attention",
                             choices="jumok.layers.scores:SCORES")
    layers: int = setting(1, "model", "stacked layers in the encoder and in the decoder: LSTMs, or Transformer "
                          "blocks", flag="--layers")
    bidirectional: bool = setting(False, "model", "the encoder reads the source both ways (each direction "
                                  "{hidden_size} / 2)", flag="--bidirectional")
    dropout: float = setting(0.0, "model", "dropout rate on the embeddings, between stacked layers and into the "
                             "decoder's output layer (Transformer: on the embeddings, every sub-layer's output and "
                             "the feed-forward's hidden layer)", flag="--dropout")
    seed: int = setting(0, "train", "random seed of the generated data, the split, the initial parameters, the "
                        "batch order and dropout", flag="--seed")
    n_examples: int = setting(100_000, "data", "size of a generated data set, before the validation split",
                              flag="--n-examples")
    valid_fraction: float = setting(0.1, "data", "share of the training pairs held out for validation when "
                                    "{valid} is not given", flag=None)
    max_output_length: int = setting(0, "decode", "decoding limit in tokens; 0 = derived from the training "
                                     "targets", flag=None)
    beam: int = setting(1, "train", "beam size for the validation decoding after each epoch; 1 = greedy",
                        flag="--beam")
    test_beam: int = setting(0, "train", "beam size for scoring a task's test split once after training (g2p); "
                             "0 = {beam}", flag="--test-beam")
    keep_stress: bool = setting(False, "data", "g2p: keep the vowels' stress digits (AH0, AH1, AH2) instead of "
                                "stripping them", flag="--keep-stress", negatable=False)
    device: str = setting("cpu", "train", "where training runs", flag="--device", choices="jumok.backend:DEVICES")
    checkpoint_every: int = setting(0, "train", "also save the training state every this many optimizer steps, "
                                    "not only at epoch ends; 0 = at epoch ends only", flag="--checkpoint-every",
                                    metavar="STEPS")
    workers: int = setting(1, "train", "data-parallel worker processes on this machine, one per core, over MPI "
                           "(pip install \".[mpi]\"); auto (0 in a file): every core this process may use; a run "
                           "resumes bit-exactly with the number it was trained with", flag="--workers",
                           metavar="N|auto", flag_type=count_or_auto)
    embed_scale: float = setting(0.01, "model", "standard deviation of the initial embeddings: the chapter's 0.01, "
                                 "or 1.0, which gives the LSTMs inputs of unit variance and learns in fewer epochs "
                                 "(docs/results.md#why-pytorch-learns-faster-on-the-same-maths)", flag="--embed-scale")
    dev_only: bool = setting(False, "train", "develop on the dev split alone: a task's test split (g2p) is never "
                             "decoded or scored, so every figure of the run is a dev figure", flag="--dev-only",
                             negatable=False)
    lstm_init: str = setting("chapter", "model", "how the LSTM weights are drawn: the chapter's (Wx N(0, 1)/√D, "
                             "Wh N(0, 1)/√H, b 0) or uniform, PyTorch's U(±1/√H) for all, whose smaller input "
                             "weights learn a small file in fewer epochs (docs/results.md#defaults-for-a-users-file)",
                             flag="--lstm-init", choices="jumok.layers.lstm:LSTM_INITS")
    label_smoothing: float = setting(0.0, "train", "label smoothing ε: train towards (1 − ε) on the target and ε "
                                     "spread over the vocabulary (the loss, validation's included); 0 = the "
                                     "chapter's cross-entropy", flag="--label-smoothing")
    keep_epochs: int = setting(0, "train", "keep the parameters of the last K epochs (epoch-N.npz); after training "
                               "their mean is scored on validation and becomes params.npz if it beats the best epoch "
                               "(average.json says how it did; `jumok average` makes the mean of any kept epochs); "
                               "0 = none", flag="--keep-epochs", metavar="K")
    warmup_steps: int = setting(0, "train", "raise the learning rate linearly from 0 over this many optimizer steps "
                                "(a warm-up); 0 = none", flag="--warmup-steps")
    heads: int = setting(4, "model", "Transformer: attention heads of every attention layer; {hidden_size} must "
                         "be a multiple of it", flag="--heads")
    ff_size: int = setting(0, "model", "Transformer: width of the feed-forward layer inside each block; 0 = 4 × "
                           "{hidden_size}", flag="--ff-size")
    attention_dropout: float = setting(0.0, "model", "Transformer: dropout rate on the attention weights",
                                       flag="--attention-dropout")
    beta2: float = setting(0.999, "train", "Adam's β2, how slowly its mean of squared gradients forgets (0.98 is "
                           "usual for a Transformer)", flag="--beta2")
    threads: int = setting(1, "train", "threads of one training process: each runs forward and backward on its "
                           "share of every batch with one BLAS thread, and the gradients add (docs/speed.md"
                           "#training-in-threads); auto (0 in a file): every core, at most 4; with --workers or "
                           "--device gpu, 1; a run resumes bit-exactly with the number it was trained with",
                           flag="--threads", metavar="N|auto", flag_type=count_or_auto)

    def __post_init__(self):
        for name, annotation in field_types().items():  # types first: the checks below compare values
            object.__setattr__(self, name, check_value(name, getattr(self, name), annotation))
        for name in CHOICES:
            allowed = choices(name)
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        task = registry("task")[self.task]
        for name, value in task.fixed.items():  # e.g. g2p: a word's letters in, space-separated phones out
            object.__setattr__(self, name, value)
        for key in ("data", "valid"):
            if getattr(self, key) == "":
                raise ConfigError(f"{key} must be a file path, not an empty string")
        if self.data is not None and task.built_in:
            raise ConfigError(f"task {self.task!r} generates its own data, so it cannot be combined with "
                              f"data {self.data!r}; use task 'tsv' (implied when data is given) or drop data")
        if self.data is None and not task.built_in:
            raise ConfigError(f"task {self.task!r} needs data: the training file")
        self._check_ranges()
        importlib.import_module("jumok.models.registry").check_config(self)

    def _check_ranges(self):
        """A ConfigError for the first value outside its field's range."""
        if self.batch_size < 0:
            raise ConfigError(f"batch_size must be a number of pairs, or 0 for auto; got {self.batch_size}")
        for key in ("epochs", "embed_size", "hidden_size", "n_examples", "layers", "lr_patience", "beam", "heads"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be a positive integer; got {getattr(self, key)}")
        for key, annotation in field_types().items():  # nan and inf are valid TOML, never a valid setting
            if annotation is float and not math.isfinite(getattr(self, key)):
                raise ConfigError(f"{key} must be a finite number; got {getattr(self, key)}")
        if self.embed_scale <= 0:
            raise ConfigError(f"embed_scale must be a positive number; got {self.embed_scale}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be a positive number; got {self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1] (1 = constant learning rate); got {self.lr_decay}")
        if self.seed < 0:
            raise ConfigError(f"seed must be 0 or a positive integer; got {self.seed}")
        for key in ("patience", "max_length", "max_output_length", "test_beam", "checkpoint_every", "time_budget",
                    "clip", "keep_epochs", "warmup_steps", "ff_size"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be 0 (off) or positive; got {getattr(self, key)}")
        if self.workers < 0:
            raise ConfigError(f"workers must be a number of processes, or 0 for auto; got {self.workers}")
        if self.threads < 0:
            raise ConfigError(f"threads must be a number of threads, or 0 for auto; got {self.threads}")
        for key in ("dropout", "attention_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"{key} must be in [0, 1); got {getattr(self, key)}")
        if not 0 <= self.beta2 < 1:
            raise ConfigError(f"beta2 must be in [0, 1); got {self.beta2}")
        if self.beta2 != Config.beta2 and self.optimizer != "adam":
            raise ConfigError(f"beta2 (--beta2) is a setting of Adam, not of {self.optimizer}; leave it unset")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1); got {self.label_smoothing}")
        if self.bidirectional and self.hidden_size % 2:
            raise ConfigError(f"a bidirectional encoder needs an even hidden_size; got {self.hidden_size}")
        if not 0 < self.valid_fraction < 1:
            raise ConfigError(f"valid_fraction must be between 0 and 1; got {self.valid_fraction}")

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, values, where="config"):
        """A `Config` from a flat mapping of field names (a run's config.json), strictly
        checked: unknown keys and values of the wrong type are errors that start with
        `where`. Missing keys take their defaults."""
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: expected a mapping of settings, got {describe(values)}")
        checked_values = {}
        for key, value in values.items():
            if key not in field_types():
                raise ConfigError(f"{where}: unknown key {key!r}{suggestion(key, field_types())}")
            checked_values[key] = check_value(key, value, label=f"{where}: {key}")
        try:
            return cls(**checked_values)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None


SETTINGS = {f.name: f.metadata for f in fields(Config)}
"""{field name: its metadata (see `setting`)}, in the order of the fields (and of config.json)."""

CHOICES = tuple(name for name, meta in SETTINGS.items() if meta["choices"])
"""The fields whose values are the names in a registry."""

SECTIONS = {section: tuple(sorted((name for name, meta in SETTINGS.items() if meta["section"] == section),
                                  key=lambda name: SETTINGS[name]["toml_last"]))
            for section in SECTION_HELP if section != "run"}
"""Which section of a config file holds each `Config` field (every field in exactly one), in
the order config.toml writes them."""

RUN_KEYS = {"out": str}
"""Keys of the ``[run]`` section: settings of the command, not of the `Config`."""
RUN_HELP = {"out": "the run directory; unset: runs/TASK-MODEL, from the task and model settings"}

FILE_SECTIONS = {**SECTIONS, "run": tuple(RUN_KEYS)}
PATH_KEYS = ("data", "valid")  # resolved relative to the config file that gives them


def registry(name, flag=False):
    """The registry that the choices of the field `name` come from (for its flag, with
    `flag`), imported now if it was not yet."""
    meta = SETTINGS[name]
    module, attribute = ((flag and meta["flag_choices"]) or meta["choices"]).split(":")
    return getattr(importlib.import_module(module), attribute)


def choices(name, flag=False):
    """The names the field `name` may take (for its flag, with `flag`), in registry order."""
    return tuple(registry(name, flag))


def choice_help(name, choice):
    """The help of one choice of the field `name`: its registry entry if that is a string, or
    the entry's ``help``; None if it has neither."""
    found = registry(name)
    entry = found[choice] if isinstance(found, Mapping) else None
    return entry if isinstance(entry, str) else getattr(entry, "help", None)


def field_types():
    """{field name: its type annotation}, read from the `Config` dataclass."""
    global _FIELD_TYPES
    if _FIELD_TYPES is None:
        hints = typing.get_type_hints(Config)
        _FIELD_TYPES = {f.name: hints[f.name] for f in fields(Config)}
    return _FIELD_TYPES


_FIELD_TYPES = None


def key_types():
    """{key: type annotation} for every key a config file may hold ([run] out included)."""
    return {**field_types(), **RUN_KEYS}


def section_of(key):
    """The config-file section that holds `key` (a `Config` field or ``out``)."""
    for section, keys in FILE_SECTIONS.items():
        if key in keys:
            return section
    raise KeyError(key)


def check_value(key, value, annotation=None, label=None):
    """`value` if it fits the type of `key` (an int made a float where a float is expected);
    otherwise a ConfigError naming `label` (default: the key), the type and the value."""
    return checked(value, key_types()[key] if annotation is None else annotation, label or key)
