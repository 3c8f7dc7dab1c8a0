"""Going on with a run: reading it back for --resume (`start_resume`), step checkpoints
inside an epoch (`StepCheckpoints`), and clearing the directory before a run (temporary
files of interrupted writes, an earlier run's checkpoint)."""

import time

from jumok.atomic import temporary_files
from jumok.errors import CheckpointError, TrainingError
from jumok.rundir import files
from jumok.rundir.documents import load_vocabs, read_history
from jumok.rundir.files import (
    ATTENTION,
    AVERAGE,
    CONFIG,
    CURVES,
    EPOCH_PARAMS,
    HISTORY,
    LAST,
    MANIFEST,
    PARAMS,
    TEST,
    VOCAB,
    VOUCHED,
    adopt,
    kept_epochs,
    read_manifest,
    verify_files,
)
from jumok.rundir.state import Progress, restore_state, state_data


def check_same_vocab(out_dir, train_set):
    saved = load_vocabs(out_dir)
    if saved != (train_set.src_vocab, train_set.tgt_vocab):
        raise CheckpointError(f"{out_dir}: the training data no longer give the vocabulary this run was "
                              "started with; resume needs the same data")


def check_finite(model, epoch, batch, steps):
    """Refuse to checkpoint parameters that are no longer finite (finite gradients can still
    overflow them)."""
    if not all(bool(model.xp.isfinite(p).all()) for _, p, _ in model.named_parameters()):
        raise TrainingError(f"epoch {epoch}, batch {batch} of {steps}: the parameters are no longer finite; "
                            "nothing was saved from this state; resume with a smaller --lr or --clip")


def start_resume(out_dir, model, optimizer, rng, train_set, log):
    """Read the run in `out_dir` back for --resume: (Progress, Position or None), or a fresh
    start when it stopped before its first checkpoint (then nothing else is there to keep).

    Every file is checked against the manifest; a run directory without manifest.json
    (older jumok) gets one for its files.
    """
    verify_files(out_dir, CONFIG)
    if not (out_dir / LAST).is_file():
        if read_history(out_dir):
            raise CheckpointError(f"{out_dir / LAST}: missing, but {HISTORY} records finished "
                                  "epochs; without the training state the run cannot go on")
        log(f"{out_dir}: no checkpoint yet (the run stopped before its first one); starting from the beginning")
        return Progress(), None
    check_same_vocab(out_dir, train_set)
    verify_files(out_dir, VOCAB, PARAMS)
    state, position = restore_state(out_dir, model, optimizer, rng)
    if position is not None and len(position.order) != len(train_set):
        raise CheckpointError(f"{out_dir / LAST}: its batch order covers {len(position.order)} "
                              f"training pairs, the data give {len(train_set)}; resume needs the same data")
    if read_manifest(out_dir) is None:
        log(f"{out_dir}: no {MANIFEST} (written by an older jumok); vouching for "
            + ", ".join(adopt(out_dir)) + " as they are")
    where = (f"batch {position.batch} of epoch {state.epoch + 1}" if position else f"epoch {state.epoch}")
    best = f"best so far: epoch {state.best['epoch']}" if state.best else "no epoch finished yet"
    log(f"resuming after {where} (optimizer step {optimizer.step_count}; {best})")
    return state, position


class StepCheckpoints:
    """The `after_step` of `train_epoch` in a run: writes last.npz every
    ``config.checkpoint_every`` optimizer steps inside an epoch (not after its last batch:
    the epoch's end writes its own), and keeps `saved`, where the latest checkpoint stands."""

    def __init__(self, out_dir, model, optimizer, rng, config, steps):
        self.out_dir, self.model, self.optimizer, self.rng = out_dir, model, optimizer, rng
        self.every, self.steps = config.checkpoint_every, steps
        self.saved = None  # e.g. "epoch 2, batch 40" or "end of epoch 1"; None before the first checkpoint
        self.epoch, self.progress, self.start = 0, None, 0.0

    def start_epoch(self, epoch, progress):
        """Note the epoch about to run and the Progress before it; return its start time."""
        self.epoch, self.progress, self.start = epoch, progress, time.perf_counter()
        return self.start

    def __call__(self, position):
        if not self.every or self.optimizer.step_count % self.every or position.batch == self.steps:
            return
        check_finite(self.model, self.epoch, position.batch, self.steps)
        seconds = position.seconds + time.perf_counter() - self.start
        files.write_files(self.out_dir, {LAST: state_data(self.model, self.optimizer, self.rng, self.progress, position,
                                                    seconds)})
        self.saved = f"epoch {self.epoch}, batch {position.batch}"


def remove_temporary_files(out_dir, log):
    """Remove the temporary files that writers killed mid-write left in the run directory."""
    for name in (*VOUCHED, AVERAGE, MANIFEST, TEST, CURVES, ATTENTION):
        for stale in temporary_files(out_dir / name):
            try:
                stale.unlink()
            except OSError as e:
                raise CheckpointError(f"cannot remove {stale}, left by an interrupted write: {e.strerror}") from None
            log(f"removed {stale}, left by an interrupted write")


def remove_earlier_run(out_dir, log):
    """Before a new run in `out_dir`, remove an earlier run's checkpoint there, config.json
    first: killed half-way, the directory has no config.json, which --resume refuses, rather
    than the earlier run's training state beside the new run's config."""
    names = [name for name in (CONFIG, LAST, PARAMS, HISTORY, AVERAGE)
             if (out_dir / name).is_file()] + [EPOCH_PARAMS.format(epoch) for epoch in kept_epochs(out_dir)]
    for name in names:
        try:
            (out_dir / name).unlink()
        except OSError as e:
            raise CheckpointError(f"cannot remove {out_dir / name} of the earlier run there: {e.strerror}") from None
    if names:
        log(f"{out_dir}: removed {', '.join(names)} of an earlier run in this directory")
