"""Building models: the one a `Config` describes (`build_model`), or the trained one a run
directory holds (`load_run`)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jumok.config import Config
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError
from jumok.models.registry import MODELS
from jumok.rundir.arrays import load_params
from jumok.rundir.documents import load_config, load_vocabs, read_history
from jumok.rundir.files import CONFIG, HISTORY, PARAMS, VOCAB, verify_files


def build_model(config, src_vocab_size, tgt_vocab_size, rng):
    """The model a `Config` describes (its MODELS entry's `from_config`), its parameters drawn
    from `rng`."""
    return MODELS[config.model].from_config(config, src_vocab_size, tgt_vocab_size, rng)


@dataclass
class Run:
    """A trained model read back from its run directory."""

    config: Config
    src_vocab: Vocab
    tgt_vocab: Vocab
    model: object
    history: list


def architecture(config, src_vocab, tgt_vocab):
    """A short account of the settings that decide parameter shapes, for error messages."""
    parts = [f"model {config.model}", *MODELS[config.model].describe(config),
             f"vocabularies {len(src_vocab)}/{len(tgt_vocab)} tokens"]
    return ", ".join(parts)


def load_run(run_dir):
    """Rebuild the model of a run directory and load its parameters.

    Every problem raises `CheckpointError` with a one-line message naming the directory or
    file at fault: a missing directory, a missing file, unreadable JSON, a corrupt or
    pickled ``params.npz``, parameters that do not fit the model the config describes, or a
    file whose SHA-256 differs from what manifest.json vouches for.
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
    described_by = f"{run_dir / CONFIG} and {VOCAB} ({architecture(config, src_vocab, tgt_vocab)})"
    load_params(run_dir / PARAMS, model, described_by)
    history = read_history(run_dir)
    verify_files(run_dir, CONFIG, VOCAB, HISTORY)
    return Run(config, src_vocab, tgt_vocab, model, history)
