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
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jumok.atomic import atomic_open, write_text
from jumok.config import Config, to_toml
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError, ConfigError
from jumok.models import build_model

CONFIG, VOCAB, PARAMS, HISTORY, LAST = "config.json", "vocab.json", "params.npz", "history.json", "last.npz"
CONFIG_TOML = "config.toml"  # the same settings in sections, to re-run with `jumok train RUN/config.toml`
STATE_VERSION = 1


def save_params(path, model):
    with atomic_open(path, "wb") as f:
        np.savez(f, **model.state_dict())


def _read_npz(path):
    """Every array of the ``.npz`` file ``path`` by name, read with ``allow_pickle=False``.

    Anything else (a truncated or corrupt archive, a lone ``.npy`` array, a pickle, an
    entry holding a pickled object array) raises `CheckpointError` naming the file.
    """
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(f"{path}: holds pickled data, which jumok refuses to load "
                                  f"(allow_pickle=False); expected a .npz archive of arrays") from None
        raise CheckpointError(f"{path}: cannot read it as a jumok .npz file ({e})") from None
    except unreadable as e:
        raise CheckpointError(f"{path}: cannot read it as a jumok .npz file, it is truncated or corrupt "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path}: holds a single array, expected a .npz archive of named arrays")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as e:
                if "allow_pickle" in str(e):
                    raise CheckpointError(f"{path}: entry {name!r} is a pickled object array, which jumok "
                                          f"refuses to load (allow_pickle=False)") from None
                raise CheckpointError(f"{path}: entry {name!r} cannot be read ({e})") from None
            except unreadable as e:
                raise CheckpointError(f"{path}: entry {name!r} cannot be read, the file is truncated or "
                                      f"corrupt ({type(e).__name__}: {e})") from None
    return arrays


def _first_mismatch(arrays, expected):
    """Describe the first way ``arrays`` differ from the model's parameters ``expected``
    (name -> array, in model order), or return None when every name, shape and kind fits."""
    for name, param in expected.items():
        if name not in arrays:
            return f"has no parameter {name!r}, which the model needs with shape {param.shape}"
        got = arrays[name]
        if got.shape != param.shape:
            return f"parameter {name!r} has shape {got.shape}, the model needs {param.shape}"
        if got.dtype.kind not in "fiu":
            return f"parameter {name!r} holds {got.dtype} values, expected numbers"
    extra = [name for name in arrays if name not in expected]
    if extra:
        return f"has parameter {extra[0]!r}, which the model does not have"
    return None


def load_params(path, model, described_by="its config"):
    """Load the parameters saved at ``path`` into ``model`` in place.

    Names, shapes and dtypes are checked first; a mismatch raises `CheckpointError` naming
    the file and the first mismatching parameter. ``described_by`` says, for that message,
    where the model's architecture came from.
    """
    arrays = _read_npz(path)
    problem = _first_mismatch(arrays, model.state_dict())
    if problem:
        raise CheckpointError(f"{path}: does not match the model of {described_by}: {problem}")
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model of {described_by}: {e}") from None


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
    write_text(run_dir / CONFIG_TOML, to_toml(config, directory=run_dir))  # data paths relative to run_dir
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


def _architecture(config, src_vocab, tgt_vocab):
    """A short account of the settings that decide parameter shapes, for error messages."""
    parts = [f"model {config.model}", f"embed_size {config.embed_size}", f"hidden_size {config.hidden_size}",
             f"layers {config.layers}"]
    if config.bidirectional:
        parts.append("bidirectional")
    if config.model == "attention" and config.attention != "dot":
        parts.append(f"attention {config.attention}")
    parts.append(f"vocabularies {len(src_vocab)}/{len(tgt_vocab)} tokens")
    return ", ".join(parts)


def load_run(run_dir):
    """Rebuild the model of a run directory and load its parameters.

    Every problem raises `CheckpointError` with a one-line message naming the directory or
    file at fault: a missing directory, a missing file, unreadable JSON, a corrupt or
    pickled ``params.npz``, or parameters that do not fit the model the config describes.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"{run_dir}: no such run directory")
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: is a file, expected a run directory (the --out of jumok train)")
    missing = [name for name in (CONFIG, VOCAB, PARAMS) if not (run_dir / name).is_file()]
    if missing:
        hint = ("; training writes params.npz after its first epoch" if missing == [PARAMS] else "")
        raise CheckpointError(f"{run_dir}: incomplete run directory, missing {', '.join(missing)}{hint}")
    config = load_config(run_dir)
    src_vocab, tgt_vocab = load_vocabs(run_dir)
    model = build_model(config, len(src_vocab), len(tgt_vocab), np.random.default_rng(config.seed))
    described_by = f"{run_dir / CONFIG} and {VOCAB} ({_architecture(config, src_vocab, tgt_vocab)})"
    load_params(run_dir / PARAMS, model, described_by)
    history = _read_json(run_dir / HISTORY) if (run_dir / HISTORY).is_file() else []
    return Run(config, src_vocab, tgt_vocab, model, history)
