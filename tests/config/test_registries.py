"""Registries drive the configuration: the choices of every setting come from the registry
that defines them (`TASKS`, `MODELS`, `SCORES`, ...), and each `Config` field's metadata
(section, help, flag) is the one source of `SECTIONS`, the `jumok train` flags and
docs/config.md. A new task, model or score appears everywhere with no other edit."""

import argparse
import dataclasses
import string
import subprocess
import sys

import pytest
from checks import REPO

from jumok.cli import build_parser, main
from jumok.cli.train import RESUME_CHANGES, RESUME_RULE, settings_from_args
from jumok.config import SECTIONS, SETTINGS, Config, choices, registry
from jumok.config.reference import reference_markdown
from jumok.config.schema import SECTION_HELP
from jumok.data import tasks
from jumok.data.tasks import BUILT_IN_TASKS, TASKS, Task, load_pairs
from jumok.errors import ConfigError

DOCS = REPO / "docs" / "config.md"


def subcommand(name):
    """The argparse parser of `jumok NAME`."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def flags_of(parser):
    """{option string: action} of a parser."""
    return {option: action for action in parser._actions for option in action.option_strings}


# --- the metadata ----------------------------------------------------------------------------

def test_every_field_has_a_section_help_and_flag():
    for name, meta in SETTINGS.items():
        assert meta["section"] in SECTION_HELP and meta["section"] != "run", name
        assert meta["help"] and meta["help"] == meta["help"].strip() and "\n" not in meta["help"], name
        assert meta["flag"] is None or meta["flag"].startswith("--"), name
        referenced = {field for _, field, _, _ in string.Formatter().parse(meta["help"]) if field}
        assert referenced <= set(SETTINGS), name  # {key} names another setting
    flags = [meta["flag"] for meta in SETTINGS.values() if meta["flag"]]
    assert len(flags) == len(set(flags))
    assert [name for name, meta in SETTINGS.items() if not meta["flag"]] == ["valid_fraction", "max_output_length"]


def test_sections_come_from_the_fields_in_config_toml_order():
    assert SECTIONS == {
        "data": ("task", "data", "valid", "data_format", "source_tokens", "target_tokens", "max_length",
                 "n_examples", "valid_fraction", "keep_stress"),
        "model": ("model", "embed_size", "hidden_size", "attention", "layers", "bidirectional", "dropout",
                  "embed_scale", "lstm_init", "heads", "ff_size", "attention_dropout", "reverse"),
        "train": ("epochs", "batch_size", "bucket", "optimizer", "lr", "lr_decay", "lr_schedule", "lr_patience",
                  "patience", "clip", "seed", "beam", "test_beam", "device", "checkpoint_every", "workers",
                  "dev_only", "label_smoothing", "keep_epochs", "warmup_steps", "beta2", "threads", "time_budget"),
        "decode": ("max_output_length",),
    }


def test_config_json_keeps_its_fields_and_order():
    assert list(dataclasses.asdict(Config())) == [
        "task", "data", "valid", "data_format", "source_tokens", "target_tokens", "max_length", "model", "epochs",
        "batch_size", "bucket", "embed_size", "hidden_size", "optimizer", "lr", "lr_decay", "lr_schedule",
        "lr_patience", "patience", "time_budget", "clip", "reverse", "attention", "layers", "bidirectional",
        "dropout", "seed", "n_examples", "valid_fraction", "max_output_length", "beam", "test_beam", "keep_stress",
        "device", "checkpoint_every", "workers", "embed_scale", "dev_only", "lstm_init", "label_smoothing", "keep_epochs",
        "warmup_steps", "heads", "ff_size", "attention_dropout", "beta2", "threads"]


# --- flags and docs agree with the metadata ---------------------------------------------------

def test_train_flags_are_the_fields_flags():
    flags = flags_of(subcommand("train"))
    for name, meta in SETTINGS.items():
        if meta["flag"] is None:
            assert not any(action.dest == name for action in flags.values()), name
            continue
        action = flags[meta["flag"]]
        assert action.dest == name
        if meta["choices"]:
            assert list(action.choices) == list(choices(name, flag=True))
    assert {"--set", "--out", "--resume", "--quiet"} <= set(flags)


def test_the_train_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for meta in SETTINGS.values():
        if meta["flag"]:
            assert meta["flag"] in text
    for section, names in SECTIONS.items():
        if any(SETTINGS[name]["flag"] for name in names):  # [decode] has none
            assert f"[{section}] settings:" in text


def test_docs_config_md_is_what_the_generator_writes():
    assert DOCS.read_text(encoding="utf-8") == reference_markdown(), \
        "docs/config.md is stale: run  python -m jumok.config docs/config.md"


def test_python_m_jumok_config_prints_the_reference():
    done = subprocess.run([sys.executable, "-m", "jumok.config"], capture_output=True, timeout=60, check=True)
    assert done.stdout.decode("utf-8") == reference_markdown()


def test_docs_have_one_row_per_setting_with_its_flag_and_section():
    text = reference_markdown()
    for section, names in SECTIONS.items():
        body = text.split(f"## [{section}]")[1].split("\n## ")[0]
        for name in names:
            flag = SETTINGS[name]["flag"]
            assert f"| `{name}` | {f'`{flag}`' if flag else '—'} |" in body, name
    assert "| `out` | `--out` |" in text.split("## [run]")[1]


def test_the_resume_rule_names_the_flags():
    assert RESUME_RULE == "only --epochs, --lr, --clip, --checkpoint-every, --device, --workers and --keep-epochs may change"
    assert all(SETTINGS[key]["flag"] for key in RESUME_CHANGES)


def test_resume_names_the_flag_given_not_the_field(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path), "--format", "dlfs2"]) == 1
    assert capsys.readouterr().err.strip().endswith("(got --format)")


# --- choices come from the registries ---------------------------------------------------------

@pytest.mark.parametrize("name, where", [
    ("task", "jumok.data.tasks:TASKS"), ("model", "jumok.models.registry:MODELS"),
    ("attention", "jumok.layers.scores:SCORES"), ("optimizer", "jumok.optim:OPTIMIZERS"),
    ("lr_schedule", "jumok.optim:LR_SCHEDULES"), ("data_format", "jumok.data.tasks:READERS"),
    ("source_tokens", "jumok.data.tokens:TOKEN_MODES"), ("target_tokens", "jumok.data.tokens:TOKEN_MODES"),
    ("device", "jumok.backend:DEVICES"),
])
def test_choices_are_the_registry_names(name, where):
    assert SETTINGS[name]["choices"] == where
    assert choices(name) == tuple(registry(name))
    for choice in choices(name):
        needs = {"data": "x.tsv"} if (name, choice) == ("task", "tsv") else {}
        Config(**{name: choice, **needs})  # every name is a valid value
    with pytest.raises(ConfigError, match=f"^{name} must be one of {', '.join(choices(name))}; got 'nope'$"):
        Config(**{name: "nope"})


def test_import_jumok_config_stays_light():
    done = subprocess.run([sys.executable, "-c", "import sys, jumok.config; "
                           "print(sorted(m for m in ('numpy', 'jumok.models', 'jumok.data', 'argparse') "
                           "if m in sys.modules))"], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module", ["jumok.data.tasks", "jumok.models.seq2seq", "jumok.layers.scores", "jumok.optim",
                                    "jumok.backend", "jumok.data.tokens", "jumok.models", "jumok.cli"])
def test_each_registry_imports_first_without_a_cycle(module):
    """Whichever module a program imports first, a Config can then be made and checked."""
    code = f"import {module}; from jumok.config import Config; Config(model='seq2seq', task='g2p')"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=True)


def new_task(monkeypatch, task):
    """Register `task` as a source's data module would, in its registry entry only."""
    monkeypatch.setitem(TASKS, task.name, task)
    monkeypatch.setitem(BUILT_IN_TASKS, task.name, task)


def test_a_new_task_reaches_config_cli_data_and_docs(monkeypatch, tmp_path, capsys):
    def generate_copies(n, seed):
        return [(f"{seed}-{i}", f"{i}-{seed}") for i in range(n)]

    new_task(monkeypatch, Task("copy", "numbered pairs, for this test", generate=generate_copies))
    config = Config(task="copy", n_examples=20, seed=3)
    train, valid = load_pairs(config)
    assert sorted(train + valid) == sorted(generate_copies(20, 3)) and len(valid) == 2
    assert "copy" in flags_of(subcommand("train"))["--task"].choices
    assert "`copy`: numbered pairs, for this test" in reference_markdown()
    assert main(["data", "copy", "--n", "4", "--seed", "1"]) == 0
    assert capsys.readouterr().out == "".join(f"1-{i}\t{i}-1\n" for i in range(4))
    assert main(["data", "copy", "--max-digits", "2"]) == 1
    assert capsys.readouterr().err.strip() == "jumok: error: --max-digits applies to addition only"


def test_a_tasks_own_settings_come_below_the_file_and_flags(monkeypatch, tmp_path):
    new_task(monkeypatch, Task("wide", "dates with a wider model", generate=tasks.GENERATORS["date"],
                               defaults={"hidden_size": 64, "layers": 2}))
    config, _ = settings_from_args(subcommand("train").parse_args(["--task", "wide", "--layers", "3"]))
    assert (config.hidden_size, config.layers) == (64, 3)
    path = tmp_path / "c.toml"
    path.write_text('[data]\ntask = "wide"\n[model]\nhidden_size = 32\n')
    config, _ = settings_from_args(subcommand("train").parse_args([str(path)]))
    assert (config.hidden_size, config.layers) == (32, 2)
    assert settings_from_args(subcommand("train").parse_args([]))[0] == Config()  # the date task has none
    assert "wide: `hidden_size = 64`, `layers = 2`" in reference_markdown()
    assert "tsv: `epochs = 100`, `patience = 3`, `lr_schedule = \"stall\"`" in DOCS.read_text(encoding="utf-8")
    with pytest.raises(ConfigError, match="^task must be one of "):
        settings_from_args(subcommand("train").parse_args(["--set", "data.task=nope"]))


def test_a_task_with_fixed_splits_and_tokens(monkeypatch):
    splits = {"train": [("ab", "A B")], "dev": [("b", "B")], "test": [("a", "A")]}
    new_task(monkeypatch, Task("spell", "letters to upper-case letters", read_splits=lambda config, log=None: splits,
                               splits=tuple(splits), fixed={"source_tokens": "char", "target_tokens": "space"}))
    config = Config(task="spell", target_tokens="char")
    assert config.target_tokens == "space"
    assert load_pairs(config) == (splits["train"], splits["dev"])
    assert tasks.load_test_pairs(config) == splits["test"]
    with pytest.raises(ConfigError, match="^task 'spell' generates its own data"):
        Config(task="spell", data="x.tsv")


def test_every_task_record_is_consistent():
    assert list(TASKS) == ["date", "date-chapter", "addition", "g2p", "tsv"]
    assert list(BUILT_IN_TASKS) == ["date", "date-chapter", "addition", "g2p"]
    for task in TASKS.values():
        assert task.help and not (task.generate and task.read_splits), task.name
        assert not task.splits or {"train", "dev"} <= set(task.splits), task.name
        for key, value in task.fixed.items():
            assert value in choices(key), (task.name, key)
    assert TASKS["g2p"].has_test and not TASKS["date"].has_test and not TASKS["tsv"].built_in
    assert Config(task="g2p", source_tokens="space").source_tokens == "char"


def echo_model(defaults):
    """A stand-in MODELS entry that reads the LSTM models' settings and has `defaults`."""
    from jumok.models.seq2seq import Seq2seqModel

    return type("Echo", (), {"name": "echo", "defaults": defaults, "settings": Seq2seqModel.settings,
                             "check_config": classmethod(lambda cls, config: None)})


def test_a_new_score_or_model_reaches_config_and_flags(monkeypatch):
    import jumok.layers.scores
    import jumok.models.registry

    monkeypatch.setattr(jumok.layers.scores, "SCORES", (*jumok.layers.scores.SCORES, "cosine"))
    monkeypatch.setitem(jumok.models.registry.MODELS, "echo", echo_model({}))
    assert Config(attention="cosine", model="echo").attention == "cosine"
    flags = flags_of(subcommand("train"))
    assert "cosine" in flags["--attention"].choices and "echo" in flags["--model"].choices
    assert "`cosine`" in reference_markdown() and "`echo`" in reference_markdown()


def test_a_models_own_defaults_sit_between_the_tasks_and_the_users(monkeypatch, tmp_path):
    import jumok.models.registry
    from jumok.cli import build_parser
    from jumok.cli.train import settings_from_args

    own = {"lr": 0.0005, "patience": 7, "warmup_steps": 40}
    monkeypatch.setitem(jumok.models.registry.MODELS, "echo", echo_model(own))

    def config(*argv):
        return settings_from_args(build_parser().parse_args(["train", *argv]))[0]

    mine = config("--model", "echo", "--data", "x.tsv")
    assert (mine.lr, mine.patience, mine.warmup_steps) == (0.0005, 7, 40)  # over Config's and the tsv task's own
    assert mine.epochs == 100  # the task's own where the model has none
    (tmp_path / "c.toml").write_text('[train]\nlr = 0.01\n')
    assert config(str(tmp_path / "c.toml"), "--model", "echo").lr == 0.01  # a config file wins
    assert config("--model", "echo", "--lr", "0.02").lr == 0.02  # and so does a flag
    assert config("--lr", "0.02").warmup_steps == 0  # another model has none of them
    assert "echo: `lr = 0.0005`" in reference_markdown()
