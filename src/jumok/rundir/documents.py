"""JSON files of the run directory: the config (config.json, and config.toml to read and
re-run), both vocabularies (vocab.json), the history (history.json, one record per epoch).
A config.json carrying a format version newer than this jumok knows is refused."""

import json
from dataclasses import asdict
from pathlib import Path

from jumok.config import Config, to_toml
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError, ConfigError
from jumok.rundir import files
from jumok.rundir.files import CONFIG, CONFIG_TOML, HISTORY, RUN_FORMAT, VOCAB, check_format, read_json


def _json_data(document, **options):
    return (json.dumps(document, **options) + "\n").encode()


def setup_files(run_dir, config, src_vocab, tgt_vocab):
    """{name: bytes} of what never changes during a run: both vocabularies, the config as
    config.toml and (last, so that its presence means the others are there) config.json."""
    vocabs = {"source": src_vocab.to_dict(), "target": tgt_vocab.to_dict()}
    return {VOCAB: _json_data(vocabs, ensure_ascii=False, indent=1),
            CONFIG_TOML: to_toml(config, directory=run_dir).encode(),  # data paths relative to run_dir
            CONFIG: _json_data({"format_version": RUN_FORMAT, **asdict(config)}, indent=2)}


def save_setup(run_dir, config, src_vocab, tgt_vocab):
    """Write what never changes during a run: the config and both vocabularies."""
    files.write_files(run_dir, setup_files(run_dir, config, src_vocab, tgt_vocab))


def history_data(history):
    return _json_data(history, indent=2)


def save_history(run_dir, history):
    files.write_files(run_dir, {HISTORY: history_data(history)})


def read_history(run_dir):
    """The epoch records of ``run_dir/history.json``; [] when there is none yet."""
    path = Path(run_dir) / HISTORY
    return read_json(path) if path.is_file() else []


def load_vocabs(run_dir):
    """(source, target) vocabularies of a run directory."""
    path = Path(run_dir) / VOCAB
    vocabs = read_json(path)
    try:
        return Vocab.from_dict(vocabs["source"]), Vocab.from_dict(vocabs["target"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a jumok vocabulary file ({e})") from None


def load_config(run_dir):
    """The `Config` in ``run_dir/config.json`` (its format version checked, not its digest)."""
    path = Path(run_dir) / CONFIG
    values = read_json(path)
    if isinstance(values, dict):
        values = dict(values)
        check_format(path, values.pop("format_version", None))
    try:
        return Config.from_dict(values, where=str(path))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None
