"""The run directory: config.json, vocab.json, params.npz, history.json. No pickle anywhere.

Parameters are a named ``.npz`` (dtype kept), loaded with ``allow_pickle=False`` and checked
name by name and shape by shape against the model the config describes. Every file is
written atomically (temporary file + rename), so a crash never leaves a torn checkpoint.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jumok.atomic import atomic_open, write_text
from jumok.config import Config
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError, ConfigError
from jumok.models import build_model

CONFIG, VOCAB, PARAMS, HISTORY = "config.json", "vocab.json", "params.npz", "history.json"


def save_params(path, model):
    with atomic_open(path, "wb") as f:
        np.savez(f, **model.state_dict())


def load_params(path, model):
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: cannot read parameters ({e})") from None
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model in its config: {e}") from None


def save_setup(run_dir, config, src_vocab, tgt_vocab):
    """Write what never changes during a run: the config and both vocabularies."""
    run_dir = Path(run_dir)
    write_text(run_dir / CONFIG, config.to_json())
    vocabs = {"source": src_vocab.to_dict(), "target": tgt_vocab.to_dict()}
    write_text(run_dir / VOCAB, json.dumps(vocabs, ensure_ascii=False, indent=1) + "\n")


def save_history(run_dir, history):
    write_text(Path(run_dir) / HISTORY, json.dumps(history, indent=2) + "\n")


@dataclass
class Run:
    """A trained model read back from its run directory."""

    config: Config
    src_vocab: Vocab
    tgt_vocab: Vocab
    model: object
    history: list


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


def load_run(run_dir):
    """Rebuild the model of a run directory and load its parameters."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    missing = [name for name in (CONFIG, VOCAB, PARAMS) if not (run_dir / name).is_file()]
    if missing:
        raise CheckpointError(f"{run_dir}: incomplete run directory, missing {', '.join(missing)}")
    try:
        config = Config.from_dict(_read_json(run_dir / CONFIG), where=str(run_dir / CONFIG))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{run_dir / CONFIG}: {e}") from None
    vocabs = _read_json(run_dir / VOCAB)
    try:
        src_vocab, tgt_vocab = Vocab.from_dict(vocabs["source"]), Vocab.from_dict(vocabs["target"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{run_dir / VOCAB}: not a jumok vocabulary file ({e})") from None
    model = build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(config.seed))
    load_params(run_dir / PARAMS, model)
    history = _read_json(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else []
    return Run(config, src_vocab, tgt_vocab, model, history)
