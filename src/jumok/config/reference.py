"""What ``jumok train --help`` and docs/config.md say about each setting, written from the
metadata of the `Config` fields (`jumok.config.schema.setting`) and from the registries
that hold their choices. ``python -m jumok.config docs/config.md`` rewrites the reference.
"""

import dataclasses

from jumok.config.checking import _unpack
from jumok.config.files import toml_value
from jumok.config.schema import (
    RUN_HELP,
    RUN_KEYS,
    SECTION_HELP,
    SECTIONS,
    SETTINGS,
    Config,
    choice_help,
    choices,
    field_types,
    registry,
    section_of,
)

DEFAULTS = {f.name: f.default for f in dataclasses.fields(Config)}
_KINDS = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _key_text(name, style):
    """How help text names the setting `name`: its flag (or SECTION.KEY for --set when it has
    none) on the command line, its key in the docs."""
    if style == "docs":
        return f"`{name}`"
    return SETTINGS[name]["flag"] or f"{section_of(name)}.{name}"


def help_text(name, style="flag"):
    """The help of the field `name`, other settings named as on the command line (``"flag"``)
    or in a config file (``"docs"``)."""
    return SETTINGS[name]["help"].format_map({key: _key_text(key, style) for key in SETTINGS})


def _described_choices(name, flag=False, style="flag"):
    """``"name: help"`` for each choice of the field `name` whose registry entry has a help."""
    if not SETTINGS[name]["choices"]:
        return []
    quote = "`" if style == "docs" else ""
    return [f"{quote}{choice}{quote}: {text}" for choice in choices(name, flag) if (text := choice_help(name, choice))]


def flag_help(name):
    """The argparse help of the flag of the field `name`: its help, its default and the help
    of each of the flag's choices (``%`` escaped for argparse)."""
    text = help_text(name)
    default = DEFAULTS[name]
    if default is not None:
        shown = ("on" if default else "off") if isinstance(default, bool) else default
        text += f" (default {shown})"
    text = "; ".join([text, *_described_choices(name, flag=True)])
    return text.replace("%", "%%")


def _cell(text):
    """`text` safe inside a Markdown table cell."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _row(name):
    kind, optional = _unpack(field_types()[name])
    default = DEFAULTS[name]
    meaning = help_text(name, "docs")
    flag = SETTINGS[name]["flag"]
    if SETTINGS[name]["choices"]:
        described = _described_choices(name, style="docs")
        meaning += ". Choices: " + ("; ".join(described) if described else ", ".join(f"`{c}`" for c in choices(name)))
        if left_out := [f"`{c}`" for c in choices(name) if c not in choices(name, flag=True)]:
            meaning += f" (`{flag}` takes all but {', '.join(left_out)})"
    cells = [f"`{name}`", f"`{flag}`" if flag else "—", _KINDS[kind] + (" or unset" if optional else ""),
             "unset" if default is None else f"`{toml_value(default)}`", _cell(meaning)]
    return "| " + " | ".join(cells) + " |"


INTRO = """\
# Configuration reference

<!-- Written by `python -m jumok.config docs/config.md` from the `Config` fields
(src/jumok/config/schema.py) and the registries of their choices; edit those, not this file. -->

Every setting of a run, by the section of a config file that holds it. `jumok train
CONFIG.toml` reads such a file; a run directory's `config.toml` is one. Settings are merged
in layers, each overriding the ones before: these defaults < the task's own settings
({task_defaults}) < the model's own ({model_defaults}) < the config file < the flags of
`jumok train` < `--set SECTION.KEY=VALUE`. config.json records the values a run used.
Giving `data` in a layer implies `task = "tsv"` in that layer unless the same layer sets
`task`. A relative `data` or `valid` in a config file is relative to the file's own
directory; `out` and the paths on the command line are relative to the current directory.
A setting without a flag is set in the file or with `--set`. Unknown sections and keys are
errors, and every value must have the setting's type.
"""


def _own_defaults(kind):
    """Which tasks (or models) have settings of their own, and what they are, for the
    introduction."""
    own = [f"{name}: " + ", ".join(f"`{key} = {toml_value(value)}`" for key, value in entry.defaults.items())
           for name, entry in registry(kind).items() if entry.defaults]
    return "; ".join(own) if own else f"no {kind} has any yet"


def reference_markdown():
    """The text of docs/config.md."""
    lines = [INTRO.format(task_defaults=_own_defaults("task"), model_defaults=_own_defaults("model"))]
    for section, keys in {**SECTIONS, "run": tuple(RUN_KEYS)}.items():
        lines += [f"## [{section}]: {SECTION_HELP[section]}", "",
                  "| Key | Flag | Type | Default | Meaning |", "|---|---|---|---|---|"]
        if section == "run":
            lines += [f"| `{key}` | `--{key}` | string | unset | {_cell(RUN_HELP[key])} |" for key in keys]
        else:
            lines += [_row(name) for name in keys]
        lines.append("")
    return "\n".join(lines)
