"""Run configuration: one frozen dataclass, recorded as config.json (and config.toml) in the
run directory, and the TOML config files that `jumok train CONFIG.toml` reads.

Config files group the flat `Config` fields into the sections of `SECTIONS` (the one place
that says which field lives where), plus a ``[run]`` section whose only key, ``out``, names
the run directory::

    [data]    task data valid data_format source_tokens target_tokens max_length
              n_examples valid_fraction keep_stress
    [model]   model embed_size hidden_size attention layers bidirectional dropout reverse
    [train]   epochs batch_size bucket optimizer lr lr_decay lr_schedule lr_patience
              patience clip seed beam test_beam device checkpoint_every time_budget
    [decode]  max_output_length
    [run]     out

Settings are merged in layers, each overriding the ones before it (`merge_layers`):
defaults < config file < command-line flags < ``--set SECTION.KEY=VALUE``. Giving ``data``
in a layer implies ``task = "tsv"`` in that layer unless the same layer sets ``task``.

Paths: a relative ``data`` or ``valid`` in a config file is relative to the file's own
directory, so a config can sit beside its data; ``out`` and every path given on the command
line (flags and ``--set``) are relative to the current directory.

Checking is strict: unknown sections and keys are errors (with the closest valid name
suggested), and every value is checked against the type annotation of its `Config` field
(an integer is accepted where a float is expected, a boolean never where a number is).
"""

import dataclasses
import difflib
import json
import math
import numbers
import os
import tomllib
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from jumok.errors import ConfigError


@dataclass(frozen=True)
class Config:
    """Everything that defines a training run.

    The defaults train the attention model on the built-in dates to ≥ 99.9 % in three epochs.
    They differ from the chapter's settings (Adam 1e-3, constant; reversed input; 50,000
    examples) in three measured ways: reversed input traps attention in a positional shortcut
    on unpadded data, so it is off; the learning rate starts at 3e-3 and halves whenever an epoch
    brings no improvement;
    and 100,000 dates are generated, as the 29 formats have more rare cases to learn.
    """

    task: str = "date"  # date | date-chapter | addition | g2p | tsv (set when --data is given)
    data: str | None = None  # training file
    valid: str | None = None  # validation file; None = hold out valid_fraction of data
    data_format: str = "tsv"  # tsv: source<TAB>target | dlfs2: the course's fixed-width question_answer lines
    source_tokens: str = "char"  # char: every character a token | space: whitespace-separated tokens
    target_tokens: str = "char"
    max_length: int = 0  # drop training pairs with more tokens than this on either side; 0 = keep all
    model: str = "attention"  # attention | seq2seq | peeky
    epochs: int = 3
    batch_size: int = 128
    bucket: bool = False  # batch pairs of similar length together (Dataset.bucketed_order): less padding
    embed_size: int = 16
    hidden_size: int = 256
    optimizer: str = "adam"  # adam | sgd
    lr: float = 3e-3
    lr_decay: float = 0.5  # factor applied to the learning rate by the schedule (1 = constant)
    lr_schedule: str = "plateau"  # plateau: decay after lr_patience epochs without improvement | epoch: every epoch
    lr_patience: int = 1  # plateau: epochs without a better validation score before a decay
    patience: int = 0  # early stopping after this many epochs without improvement; 0 = never
    time_budget: float = 0.0  # minutes of training at most: no epoch starts that would end past it; 0 = none
    clip: float = 5.0  # global gradient-norm limit; 0 = no clipping
    reverse: bool = False  # feed the source backwards (within its real length)
    attention: str = "dot"  # score: dot | scaled-dot | general | additive
    layers: int = 1  # stacked LSTM layers in the encoder and in the decoder
    bidirectional: bool = False  # encoder reads both ways (each direction hidden_size / 2)
    dropout: float = 0.0  # on embeddings, between stacked layers and into the decoder's output layer
    seed: int = 0
    n_examples: int = 100_000  # size of a generated task (date, addition) before the split
    valid_fraction: float = 0.1
    max_output_length: int = 0  # decoding limit; 0 = derived from the training targets
    beam: int = 1  # beam size for the validation decoding during training; 1 = greedy
    test_beam: int = 0  # beam size for scoring a task's test split once after training (g2p); 0 = beam
    keep_stress: bool = False  # g2p: keep the stress digits of the vowels (AH0, AH1, AH2) instead of AH
    device: str = "cpu"  # where training runs: cpu (NumPy) | gpu (CuPy on a CUDA GPU, pip install ".[gpu]")
    checkpoint_every: int = 0  # also write last.npz every this many optimizer steps; 0 = at epoch ends only

    def __post_init__(self):
        for name, annotation in field_types().items():  # types first: the checks below compare values
            object.__setattr__(self, name, check_value(name, getattr(self, name), annotation))
        choices = {"task": ("date", "date-chapter", "addition", "g2p", "tsv"),
                   "model": ("attention", "seq2seq", "peeky"),
                   "optimizer": ("adam", "sgd"), "attention": ("dot", "scaled-dot", "general", "additive"),
                   "lr_schedule": ("epoch", "plateau"), "data_format": ("tsv", "dlfs2"),
                   "source_tokens": ("char", "space"), "target_tokens": ("char", "space"),
                   "device": ("cpu", "gpu")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {getattr(self, key)!r}")
        if self.task == "g2p":  # the task fixes its tokens: a word's letters in, space-separated phones out
            object.__setattr__(self, "source_tokens", "char")
            object.__setattr__(self, "target_tokens", "space")
        for key in ("data", "valid"):
            if getattr(self, key) == "":
                raise ConfigError(f"{key} must be a file path, not an empty string")
        if self.data is not None and self.task != "tsv":
            raise ConfigError(f"task {self.task!r} generates its own data, so it cannot be combined with "
                              f"data {self.data!r}; use task 'tsv' (implied when data is given) or drop data")
        if self.task == "tsv" and self.data is None:
            raise ConfigError("task 'tsv' needs data: the training file")
        for key in ("epochs", "batch_size", "embed_size", "hidden_size", "n_examples", "layers", "lr_patience", "beam"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{key} must be a positive integer; got {getattr(self, key)}")
        for key, annotation in field_types().items():  # nan and inf are valid TOML, never a valid setting
            if annotation is float and not math.isfinite(getattr(self, key)):
                raise ConfigError(f"{key} must be a finite number; got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be a positive number; got {self.lr}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1] (1 = constant learning rate); got {self.lr_decay}")
        if self.seed < 0:
            raise ConfigError(f"seed must be 0 or a positive integer; got {self.seed}")
        for key in ("patience", "max_length", "max_output_length", "test_beam", "checkpoint_every", "time_budget",
                    "clip"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be 0 (off) or positive; got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1); got {self.dropout}")
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
        checked = {}
        for key, value in values.items():
            if key not in field_types():
                raise ConfigError(f"{where}: unknown key {key!r}{_suggestion(key, field_types())}")
            checked[key] = check_value(key, value, label=f"{where}: {key}")
        try:
            return cls(**checked)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None


# ---------------------------------------------------------------------------------------
# Sections of a config file

SECTIONS = {
    "data": ("task", "data", "valid", "data_format", "source_tokens", "target_tokens", "max_length",
             "n_examples", "valid_fraction", "keep_stress"),
    "model": ("model", "embed_size", "hidden_size", "attention", "layers", "bidirectional", "dropout", "reverse"),
    "train": ("epochs", "batch_size", "bucket", "optimizer", "lr", "lr_decay", "lr_schedule", "lr_patience", "patience",
              "clip", "seed", "beam", "test_beam", "device", "checkpoint_every", "time_budget"),
    "decode": ("max_output_length",),
}
"""Which section of a config file holds each `Config` field (every field in exactly one)."""

RUN_KEYS = {"out": str}
"""Keys of the ``[run]`` section: settings of the command, not of the `Config`."""

FILE_SECTIONS = {**SECTIONS, "run": tuple(RUN_KEYS)}
PATH_KEYS = ("data", "valid")  # resolved relative to the config file that gives them


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


# ---------------------------------------------------------------------------------------
# Type checking, derived from the annotations

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _unpack(annotation):
    """(the one non-None type of `annotation`, whether None is allowed)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    base = [m for m in members if m is not type(None)]
    if len(base) != 1 or base[0] not in _TYPE_NAMES:
        raise TypeError(f"config fields must be bool, int, float or str (optionally | None), not {annotation}")
    return base[0], len(base) < len(members)


def describe(value):
    """A value as a user should see it in an error message, with its kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"{json.dumps(value, ensure_ascii=False)} (a string)"
    kind = ("an integer" if isinstance(value, numbers.Integral) else "a number" if isinstance(value, numbers.Real)
            else "a table" if isinstance(value, dict) else "an array" if isinstance(value, list)
            else f"a {type(value).__name__}")
    shown = repr(value)
    return f"{shown[:57] + '...' if len(shown) > 60 else shown} ({kind})"


def check_value(key, value, annotation=None, label=None):
    """`value` if it fits the type of `key` (an int made a float where a float is expected);
    otherwise a ConfigError naming `label` (default: the key), the type and the value."""
    annotation = key_types()[key] if annotation is None else annotation
    kind, optional = _unpack(annotation)
    if value is None and optional:
        return None
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if kind is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{label or key}: expected {_TYPE_NAMES[kind]}, got {describe(value)}")


def _suggestion(name, candidates):
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_key(section, key, where):
    """Raise a ConfigError unless `key` may stand in `section`; suggest the closest valid name."""
    if section not in FILE_SECTIONS:
        close = difflib.get_close_matches(section, list(FILE_SECTIONS), n=1)
        hint = f"did you mean [{close[0]}]?" if close else \
            "the sections are " + ", ".join(f"[{s}]" for s in FILE_SECTIONS)
        raise ConfigError(f"{where}: unknown section [{section}]; {hint}")
    if key in FILE_SECTIONS[section]:
        return
    if key in key_types():
        hint = f"; it belongs in [{section_of(key)}]"
    elif close := difflib.get_close_matches(key, FILE_SECTIONS[section], n=1):
        hint = f" (did you mean {close[0]!r}?)"
    elif close := difflib.get_close_matches(key, list(key_types()), n=1):
        hint = f" (did you mean [{section_of(close[0])}] {close[0]}?)"
    else:
        hint = ""
    raise ConfigError(f"{where}: unknown key {key!r} in [{section}]{hint}")


# ---------------------------------------------------------------------------------------
# Reading config files and --set assignments

def load_toml(path):
    """The flat settings {key: value} of the config file `path` (`Config` fields and ``out``),
    strictly checked, with relative data paths made relative to the file's directory."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = data.count(b"\n", 0, e.start) + 1, e.start - data.rfind(b"\n", 0, e.start)
        raise ConfigError(f"{path}:{line}: invalid UTF-8 (byte {column} of the line), expected UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    settings = {}
    for section, table in document.items():
        if not isinstance(table, dict):  # a key above the first [section]
            key = section
            if key in key_types():
                raise ConfigError(f"{path}: {key!r} must be inside a section: put it under [{section_of(key)}]")
            close = difflib.get_close_matches(key, list(key_types()), n=1)
            hint = f" (did you mean [{section_of(close[0])}] {close[0]}?)" if close else ""
            raise ConfigError(f"{path}: unknown key {key!r} outside any section{hint}")
        for key, value in table.items():
            _check_key(section, key, path)
            settings[key] = check_value(key, value, label=f"{path}: [{section}] {key}")
    for key in PATH_KEYS:
        if settings.get(key):  # an empty path stays empty, for Config to refuse
            settings[key] = os.path.expanduser(settings[key])
            if not os.path.isabs(settings[key]):
                settings[key] = str(path.parent / settings[key])
    return settings


def parse_assignment(text):
    """(key, value) of a ``--set SECTION.KEY=VALUE`` assignment.

    VALUE is read as a TOML value where it is one (``0.01``, ``true``, ``"x.tsv"``); otherwise,
    and always for a string key unless VALUE is a quoted TOML string, it is taken as the bare
    text. An empty VALUE for a key that may be unset (``data``, ``valid``) unsets it.
    """
    name, equals, raw = text.partition("=")
    section, dot, key = name.strip().partition(".")
    if not equals or not dot or not section or not key:
        raise ConfigError(f"--set {text!r}: expected SECTION.KEY=VALUE, e.g. --set train.lr=0.01")
    _check_key(section, key, f"--set {name.strip()}")
    kind, optional = _unpack(key_types()[key])
    raw = raw.strip()
    if raw == "" and optional:
        return key, None
    value = raw
    if "\n" not in raw:
        try:
            value = tomllib.loads(f"value = {raw}")["value"]
        except tomllib.TOMLDecodeError:
            pass
    if kind is str and not isinstance(value, str):
        value = raw  # e.g. --set data.data=2024-01-01 is a file name, not a TOML date
    return key, check_value(key, value, label=f"--set {section}.{key}")


def merge_layers(*layers):
    """One flat settings dict from `layers` (dicts of explicit settings), later layers winning.

    A layer that gives ``data`` but no ``task`` also sets ``task = "tsv"``, so data given on
    the command line replaces a config file's built-in task.
    """
    merged = {}
    for layer in layers:
        layer = dict(layer)
        if layer.get("data") is not None and "task" not in layer:
            layer["task"] = "tsv"
        merged.update(layer)
    return merged


# ---------------------------------------------------------------------------------------
# Writing config files

def _toml_string(text):
    escapes = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    return '"' + "".join(escapes.get(c, c if c >= " " and c != "\x7f" else f"\\u{ord(c):04x}")
                         for c in text) + '"'


def toml_value(value):
    """A scalar as a TOML value (bool, int, float or string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 0.003, 1e-05, 1.0, inf and nan are all valid TOML
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot write {value!r} as a TOML scalar")


def _path_from(value, directory):
    """`value` (relative to the current directory) made relative to `directory`."""
    target = Path(value).expanduser().resolve()
    try:
        return os.path.relpath(target, Path(directory).resolve())
    except ValueError:  # another drive on Windows
        return str(target)


def to_toml(config, directory=None, out=None):
    """`config` as a sectioned TOML config file; None values are left out.

    With `directory` (where the file will be written), relative data paths are rewritten
    relative to it, as `load_toml` reads them. `out`, if given, goes in ``[run]``.
    """
    lines = ["# jumok configuration: every setting of the run, by section.",
             "# Train again with:  jumok train THIS_FILE --out NEW_RUN_DIR",
             "# Relative data/valid paths are relative to this file's directory."]
    values = dataclasses.asdict(config)
    if directory is not None:
        for key in PATH_KEYS:
            if values[key] is not None and not os.path.isabs(os.path.expanduser(values[key])):
                values[key] = _path_from(values[key], directory)
    sections = {section: {key: values[key] for key in keys} for section, keys in SECTIONS.items()}
    if out is not None:
        sections["run"] = {"out": str(out)}
    for section, table in sections.items():
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items() if value is not None]
    return "\n".join(lines) + "\n"
