"""The run directory. No pickle anywhere.

    config.json    the full configuration            vocab.json   both vocabularies
    params.npz     the best parameters so far        history.json one record per epoch
    last.npz       the full training state after the latest epoch, for --resume:
                   parameters ("param.<name>"), optimizer moments ("optim.<name>") and a
                   JSON document ("meta": epoch, optimizer step, learning rate, RNG states,
                   best score, patience counters, history)

Arrays are named ``.npz`` entries (dtype kept), loaded with ``allow_pickle=False`` and
checked name by name and shape by shape against the model the config describes. Every file
is written atomically (temporary file + rename), so a crash never leaves a torn checkpoint;
the training state is one file, so it is never half old and half new.
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

CONFIG, VOCAB, PARAMS, HISTORY, LAST = "config.json", "vocab.json", "params.npz", "history.json", "last.npz"
STATE_VERSION = 1


def save_params(path, model):
    with atomic_open(path, "wb") as f:
        np.savez(f, **model.state_dict())


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path}: cannot read it as a jumok .npz file ({e})") from None


def load_params(path, model):
    try:
        model.load_state_dict(_read_npz(path))
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model in its config: {e}") from None


def save_training_state(path, model, optimizer, meta):
    """One atomic file with everything needed to continue training exactly."""
    arrays = {f"param.{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optim.{k}": v for k, v in optimizer.state().items()})
    arrays["meta"] = np.array(json.dumps({"version": STATE_VERSION, **meta}))
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def load_training_state(path, model, optimizer):
    """Restore parameters and optimizer moments in place; return the meta document."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no training state to resume from")
    arrays = _read_npz(path)
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: has no readable training state") from None
    if meta.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: training state version {meta.get('version')}, expected {STATE_VERSION}")
    split = {"param.": {}, "optim.": {}}
    for name, a in arrays.items():
        prefix = name[: name.index(".") + 1] if "." in name else name
        if prefix not in split:
            raise CheckpointError(f"{path}: unexpected entry {name!r}")
        split[prefix][name[len(prefix):]] = a
    try:
        model.load_state_dict(split["param."])
        optimizer.load_state(split["optim."])
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model in its config: {e}") from None
    return meta


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
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror})") from None


def load_vocabs(run_dir):
    """(source, target) vocabularies of a run directory."""
    path = Path(run_dir) / VOCAB
    vocabs = _read_json(path)
    try:
        return Vocab.from_dict(vocabs["source"]), Vocab.from_dict(vocabs["target"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a jumok vocabulary file ({e})") from None


def load_config(run_dir):
    path = Path(run_dir) / CONFIG
    try:
        return Config.from_dict(_read_json(path), where=str(path))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def load_run(run_dir):
    """Rebuild the model of a run directory and load its parameters."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: no such run directory")
    missing = [name for name in (CONFIG, VOCAB, PARAMS) if not (run_dir / name).is_file()]
    if missing:
        raise CheckpointError(f"{run_dir}: incomplete run directory, missing {', '.join(missing)}")
    config = load_config(run_dir)
    src_vocab, tgt_vocab = load_vocabs(run_dir)
    model = build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(config.seed))
    load_params(run_dir / PARAMS, model)
    history = _read_json(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else []
    return Run(config, src_vocab, tgt_vocab, model, history)
