"""Config files and ``--set`` assignments: reading them strictly, merging the layers of
settings, and writing a `Config` back as a sectioned TOML file."""

import dataclasses
import difflib
import importlib
import os
import tomllib
from pathlib import Path

from jumok.config.checking import _unpack
from jumok.config.schema import (
    FILE_SECTIONS,
    PATH_KEYS,
    SECTIONS,
    Config,
    check_value,
    key_types,
    registry,
    section_of,
)
from jumok.errors import ConfigError


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


def with_defaults(settings):
    """`settings` (merged layers) over the own settings of the task and of the model they name
    (the defaults if none): `Task.defaults`, then the model's `defaults` (`jumok.models.
    interface`), each replacing what comes before it, and everything given replacing them. The
    task's settings that describe other models than the chosen one are left out.
    ``jumok train`` applies them; ``Config(task=..., model=...)`` alone does not."""
    task = registry("task").get(settings.get("task", Config.task))  # an unknown task or model: Config says so
    model = registry("model").get(settings.get("model", Config.model))
    task_defaults = task.defaults if task else {}
    if model:  # a task's choice for another kind of model (a user's file's bidirectional LSTM) does not apply
        others = importlib.import_module("jumok.models.registry").foreign_settings(model)
        task_defaults = {key: value for key, value in task_defaults.items() if key not in others}
    return {**task_defaults, **(model.defaults if model else {}), **settings}


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
