"""Config files: sections, precedence (defaults < file < flags < --set), strict checking,
the config.toml written to a run directory, and the shipped configs/."""

import dataclasses
import json
from pathlib import Path

import pytest
from checks import REPO

from jumok.cli import build_parser, main
from jumok.cli.train import settings_from_args
from jumok.config import (
    RUN_KEYS,
    SECTIONS,
    Config,
    load_toml,
    merge_layers,
    parse_assignment,
    section_of,
    to_toml,
)
from jumok.errors import ConfigError

CONFIGS = REPO / "configs"


def settings(*argv):
    """(Config, out) of a `jumok train` command line, without training."""
    return settings_from_args(build_parser().parse_args(["train", *map(str, argv)]))


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(capsys, *argv):
    """The one stderr line of a `jumok train` that must fail with exit code 1."""
    assert main(["train", *map(str, argv)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("jumok: error: ")
    return err.strip()[len("jumok: error: "):]


# --- sections -----------------------------------------------------------------------------

def test_every_field_is_in_exactly_one_section():
    placed = [key for keys in SECTIONS.values() for key in keys]
    assert sorted(placed) == sorted(f.name for f in dataclasses.fields(Config))
    assert len(placed) == len(set(placed))
    assert not set(RUN_KEYS) & set(placed)
    assert section_of("lr") == "train" and section_of("out") == "run"


# --- shipped configs --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["date", "addition", "smoke", "g2p", "g2p-transformer"])
def test_shipped_configs_load_and_validate(name):
    values = load_toml(CONFIGS / f"{name}.toml")
    Config(**{k: v for k, v in values.items() if k not in RUN_KEYS})


def test_date_config_is_the_default_run():
    config, out = settings(CONFIGS / "date.toml")
    assert config == Config() and out == "runs/date-attention"


def test_addition_config_has_the_chapter_settings():
    config, _ = settings(CONFIGS / "addition.toml")
    assert config == Config(task="addition", model="attention", reverse=True, embed_size=16, hidden_size=128,
                            batch_size=128, optimizer="adam", lr=1e-3, lr_decay=1.0, clip=5.0, epochs=25,
                            n_examples=50_000)


def test_smoke_config_trains_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    assert main(["train", str(CONFIGS / "smoke.toml"), "--out", str(out), "--quiet"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert len(history) == load_toml(CONFIGS / "smoke.toml")["epochs"]
    saved = json.loads((out / "config.json").read_text())
    assert saved.pop("format_version") == 1  # of the run directory, beside the settings
    assert saved["task"] == "addition" and saved["n_examples"] == 2000
    rerun, _ = settings(out / "config.toml")
    assert rerun == Config(**saved)  # both files hold the derived decoding limit


# --- precedence ---------------------------------------------------------------------------------

def test_precedence_defaults_file_flags_set(tmp_path):
    path = write(tmp_path / "c.toml", '[model]\nhidden_size = 64\nreverse = true\n'
                                      '[train]\nlr = 0.5\nepochs = 7\n[run]\nout = "runs/from-file"\n')
    config, out = settings(path)
    assert (config.hidden_size, config.reverse, config.lr, config.epochs, out) == (64, True, 0.5, 7, "runs/from-file")
    assert config.batch_size == Config().batch_size  # not in the file: the default
    config, out = settings(path, "--lr", "0.25", "--no-reverse", "--out", "runs/flag")
    assert (config.lr, config.reverse, config.epochs, out) == (0.25, False, 7, "runs/flag")  # flags not given keep the file's
    config, out = settings(path, "--lr", "0.25", "--set", "train.lr=0.125", "--set", "run.out=runs/set",
                           "--set", "model.bidirectional=true")
    assert (config.lr, config.bidirectional, out) == (0.125, True, "runs/set")
    assert settings()[1] == "runs/date-attention" and settings("--task", "addition")[1] == "runs/addition-attention"


def test_data_given_later_replaces_a_built_in_task(tmp_path):
    write(tmp_path / "pairs.tsv", "ab\tAB\n")
    path = write(tmp_path / "c.toml", '[data]\ntask = "addition"\n')
    assert settings(path, "--data", tmp_path / "pairs.tsv")[0].task == "tsv"
    assert settings(path, "--set", f"data.data={tmp_path / 'pairs.tsv'}")[0].task == "tsv"
    assert merge_layers({"task": "date"}, {"data": "x"}, {"task": "tsv"}) == {"task": "tsv", "data": "x"}


def test_built_in_task_with_data_in_one_layer_is_refused(tmp_path, capsys):
    path = write(tmp_path / "c.toml", '[data]\ntask = "date"\ndata = "pairs.tsv"\n')
    assert "task 'date' generates its own data" in error_of(capsys, path)
    assert error_of(capsys, "--set", "data.task=tsv") == "task 'tsv' needs data: the training file"


# --- --set values -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("train.lr=0.01", ("lr", 0.01)),
    ("train.lr=1", ("lr", 1.0)),
    ("model.bidirectional=true", ("bidirectional", True)),
    ('data.data="x y.tsv"', ("data", "x y.tsv")),
    ("data.data=x.tsv", ("data", "x.tsv")),
    ("data.data=2024-01-01", ("data", "2024-01-01")),  # a TOML date, but a file name is a string
    ("data.data=123", ("data", "123")),
    ("data.valid=", ("valid", None)),  # unsets a file's validation set
    ("model.attention = scaled-dot", ("attention", "scaled-dot")),
    ("run.out=runs/x", ("out", "runs/x")),
])
def test_set_values_are_toml_or_bare_strings(text, expected):
    key, value = parse_assignment(text)
    assert (key, value) == expected and type(value) is type(expected[1])


@pytest.mark.parametrize("text, message", [
    ("train.lr", "--set 'train.lr': expected SECTION.KEY=VALUE, e.g. --set train.lr=0.01"),
    ("lr=0.1", "--set 'lr=0.1': expected SECTION.KEY=VALUE, e.g. --set train.lr=0.01"),
    ("train.lr=fast", '--set train.lr: expected a number, got "fast" (a string)'),
    ("model.bidirectional=1", "--set model.bidirectional: expected true or false, got 1 (an integer)"),
    ("train.epochs=2.5", "--set train.epochs: expected an integer, got 2.5 (a number)"),
    ("trian.lr=0.1", "--set trian.lr: unknown section [trian]; did you mean [train]?"),
    ("model.lr=0.1", "--set model.lr: unknown key 'lr' in [model]; it belongs in [train]"),
    ("train.lrr=0.1", "--set train.lrr: unknown key 'lrr' in [train] (did you mean 'lr'?)"),
])
def test_bad_set_assignments(text, message, capsys):
    assert error_of(capsys, "--set", text) == message


# --- strict checking of files ---------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("[modle]\nlayers = 2\n", "unknown section [modle]; did you mean [model]?"),
    ("[xyz]\na = 1\n", "unknown section [xyz]; the sections are [data], [model], [train], [decode], [run]"),
    ("[model]\nhiden_size = 64\n", "unknown key 'hiden_size' in [model] (did you mean 'hidden_size'?)"),
    ("[model]\nhidden-size = 64\n", "unknown key 'hidden-size' in [model] (did you mean 'hidden_size'?)"),
    ("[model]\nlearning_rte = 0.1\n", "unknown key 'learning_rte' in [model]"),
    ("[train]\nhidden_size = 64\n", "unknown key 'hidden_size' in [train]; it belongs in [model]"),
    ("[model]\nbeem = 4\n", "unknown key 'beem' in [model] (did you mean [train] beam?)"),
    ("lr = 0.1\n", "'lr' must be inside a section: put it under [train]"),
    ("[train]\nlr = \"fast\"\n", '[train] lr: expected a number, got "fast" (a string)'),
    ("[model]\nlayers = true\n", "[model] layers: expected an integer, got true (a boolean)"),
    ("[model]\nreverse = 1\n", "[model] reverse: expected true or false, got 1 (an integer)"),
    ("[data]\ndata = 3\n", "[data] data: expected a string, got 3 (an integer)"),
    ("[train]\nlr = [1, 2]\n", "[train] lr: expected a number, got [1, 2] (an array)"),
    ("[run]\nout = false\n", "[run] out: expected a string, got false (a boolean)"),
    ("[train]\nlr = 0.1\nepochs 3\n", "invalid TOML: Expected '=' after a key in a key/value pair (at line 3, column 8)"),
])
def test_file_errors_name_the_file_and_the_key(tmp_path, capsys, text, message):
    path = write(tmp_path / "bad.toml", text)
    assert error_of(capsys, path) == f"{path}: {message}"


def test_missing_config_file(tmp_path, capsys):
    assert error_of(capsys, tmp_path / "nope.toml") == f"{tmp_path / 'nope.toml'}: no such config file"


def test_values_out_of_range_are_refused_after_merging(tmp_path, capsys):
    path = write(tmp_path / "c.toml", "[model]\nbidirectional = true\nhidden_size = 33\n")
    assert error_of(capsys, path) == "a bidirectional encoder needs an even hidden_size; got 33"
    assert settings(path, "--hidden-size", "34")[0].hidden_size == 34


@pytest.mark.parametrize("text, message", [
    ("[train]\nlr = nan\n", "lr must be a finite number; got nan"),
    ("[train]\nclip = inf\n", "clip must be a finite number; got inf"),
    ("[train]\ntime_budget = -inf\n", "time_budget must be a finite number; got -inf"),
    ("[train]\nlr_decay = 0\n", "lr_decay must be in (0, 1] (1 = constant learning rate); got 0.0"),
    ("[train]\nseed = -3\n", "seed must be 0 or a positive integer; got -3"),
])
def test_each_range_error_names_one_key(tmp_path, capsys, text, message):
    assert error_of(capsys, write(tmp_path / "c.toml", text)) == message


def test_a_config_file_that_is_not_utf8_names_line_and_byte(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_bytes(b"[model]\nhidden_size = 8\n# caf\xe9\n")
    assert error_of(capsys, path) == f"{path}:3: invalid UTF-8 (byte 6 of the line), expected UTF-8 text"


def test_ints_are_floats_where_floats_are_expected(tmp_path):
    config, _ = settings(write(tmp_path / "c.toml", "[train]\nlr = 1\nlr_decay = 1\n"))
    assert type(config.lr) is float and config.lr_decay == 1.0


# --- paths ------------------------------------------------------------------------------------

def test_relative_data_paths_are_relative_to_the_file(tmp_path, monkeypatch):
    write(tmp_path / "proj" / "d" / "train.tsv", "ab\tAB\n")
    path = write(tmp_path / "proj" / "c.toml", f'[data]\ndata = "d/train.tsv"\nvalid = "{tmp_path}/v.tsv"\n')
    monkeypatch.chdir(tmp_path)
    config, _ = settings("proj/c.toml")
    assert config.task == "tsv" and Path(config.data).resolve() == (tmp_path / "proj/d/train.tsv").resolve()
    assert config.valid == f"{tmp_path}/v.tsv"  # absolute paths stay as they are
    assert settings(path, "--data", "here.tsv")[0].data == "here.tsv"  # flags: relative to the current directory


def test_run_config_toml_points_at_the_same_data(tmp_path, monkeypatch):
    write(tmp_path / "pairs.tsv", "ab\tAB\n")
    config = Config(task="tsv", data="pairs.tsv", hidden_size=24)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "runs" / "r" / "config.toml", to_toml(config, directory="runs/r"))
    monkeypatch.chdir(tmp_path / "runs")  # read from anywhere
    again, _ = settings("r/config.toml")
    assert Path(again.data).resolve() == (tmp_path / "pairs.tsv").resolve()
    assert again.replace(data="pairs.tsv") == config


# --- writing TOML -------------------------------------------------------------------------------

def test_to_toml_round_trips(tmp_path):
    config = Config(task="tsv", data='/tmp/a "quoted"\\ name\twith tab é.tsv', lr=1e-5, lr_decay=1.0, clip=0.0,
                    bidirectional=True, max_output_length=40, beam=3)
    text = to_toml(config, out="runs/x")
    assert "valid =" not in text  # None is left out
    values = load_toml(write(tmp_path / "c.toml", text))
    assert values.pop("out") == "runs/x"
    assert Config(**values) == config


# --- config.json through Config.from_dict ------------------------------------------------------

def test_from_dict_checks_types_and_keys():
    assert Config.from_dict({"lr": 1, "layers": 2}).lr == 1.0
    with pytest.raises(ConfigError, match=r"^run/config.json: layers: expected an integer, got true \(a boolean\)$"):
        Config.from_dict({"layers": True}, where="run/config.json")
    with pytest.raises(ConfigError, match=r"^config: hidden_size: expected an integer, got null$"):
        Config.from_dict({"hidden_size": None})
    with pytest.raises(ConfigError, match=r"^config: unknown key 'hiden_size' \(did you mean 'hidden_size'\?\)$"):
        Config.from_dict({"hiden_size": 3})
    with pytest.raises(ConfigError, match="expected a mapping"):
        Config.from_dict([1, 2])


def test_a_broken_config_json_stops_resume(tmp_path, capsys):
    write(tmp_path / "config.json", json.dumps({**dataclasses.asdict(Config()), "epochs": "3"}))
    message = error_of(capsys, "--resume", tmp_path)
    assert 'epochs: expected an integer, got "3" (a string)' in message


# --- resume -------------------------------------------------------------------------------------

def test_resume_refuses_a_config_file_and_set(tmp_path, capsys):
    path = write(tmp_path / "c.toml", "[train]\nepochs = 4\n")
    message = error_of(capsys, path, "--resume", tmp_path)
    assert message.startswith(f"a config file ({path}) cannot be combined with --resume")
    assert message.endswith("only --epochs, --lr, --clip, --checkpoint-every, --device, --workers and --keep-epochs may change")
    assert error_of(capsys, "--resume", tmp_path, "--set", "train.epochs=4").startswith(
        "--set cannot be combined with --resume")
