"""Run configuration: one frozen dataclass, `Config`, recorded as config.json (and
config.toml) in the run directory, and the TOML config files that ``jumok train
CONFIG.toml`` reads. docs/config.md lists every setting: its section, flag, type, default,
meaning and choices.

- `jumok.config.schema`: the `Config` fields, each made by `setting` with its section,
  help, flag and the registry of its choices; the checks of their values; `SECTIONS`.
- `jumok.config.files`: reading config files and ``--set`` assignments strictly, merging
  the layers of settings (`merge_layers`), writing a `Config` as TOML (`to_toml`).
- `jumok.config.reference`: the help of each flag and docs/config.md
  (``python -m jumok.config docs/config.md``).

Settings are merged in layers, each overriding the ones before it (`merge_layers`):
defaults < the task's own (`Task.defaults`) < the model's own (its `defaults`), both by
`with_defaults` < config file <
command-line flags < ``--set SECTION.KEY=VALUE``. Giving ``data`` in a layer implies
``task = "tsv"`` in that layer unless the same layer sets ``task``.

Paths: a relative ``data`` or ``valid`` in a config file is relative to the file's own
directory, so a config can sit beside its data; ``out`` and every path given on the command
line (flags and ``--set``) are relative to the current directory.

Checking is strict: unknown sections and keys are errors (with the closest valid name
suggested), and every value is checked against the type annotation of its `Config` field
(an integer is accepted where a float is expected, a boolean never where a number is).
Choices are checked against the registries (`MODELS`, `SCORES`, `TASKS`, ...), which are
imported only when a `Config` is first made, so importing this package stays light.
"""

from jumok.config.checking import _unpack, describe
from jumok.config.files import load_toml, merge_layers, parse_assignment, to_toml, toml_value, with_defaults
from jumok.config.schema import (
    FILE_SECTIONS,
    PATH_KEYS,
    RUN_KEYS,
    SECTIONS,
    SETTINGS,
    Config,
    check_value,
    choices,
    field_types,
    key_types,
    registry,
    section_of,
    setting,
)

__all__ = [
    "FILE_SECTIONS", "PATH_KEYS", "RUN_KEYS", "SECTIONS", "SETTINGS", "Config", "_unpack", "check_value", "choices",
    "describe", "field_types", "key_types", "load_toml", "merge_layers", "parse_assignment", "registry",
    "section_of", "setting", "to_toml", "toml_value", "with_defaults",
]
