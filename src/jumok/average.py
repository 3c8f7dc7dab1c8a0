"""The mean of a run's parameters over its last epochs.

With ``keep_epochs`` K (``--keep-epochs K``) training keeps the parameters θ_e at the end of
each of the last K epochs, as epoch-e.npz in the run directory and in memory. Their mean,
parameter by parameter,

    θ̄ = (1/K) Σ_{e ∈ E} θ_e          (E: the K epochs, |E| = K)

is often a better model than any one of them: late in training each epoch's steps leave the
parameters somewhere around a low region of the loss, and the mean lands nearer its middle
(checkpoint averaging; Polyak and Juditsky, 1992, for the averaged iterate). Nothing is
trained: θ̄ is summed in float64 and stored in the parameters' own dtype.

After the last epoch, training scores θ̄ on the validation set like an epoch
(`RecentEpochs`); it becomes params.npz only if it beats the best epoch, so the choice is
made on validation. ``jumok average RUN --last K --out NEW`` (`average_epochs`) writes the
mean of any kept epochs as a run directory of its own, e.g. to compare several K on dev.
"""

from collections import deque
from pathlib import Path

import numpy as np

from jumok.errors import CheckpointError
from jumok.models import load_run
from jumok.rundir import files
from jumok.rundir.arrays import params_data, read_params
from jumok.rundir.documents import history_data, setup_files
from jumok.rundir.files import CONFIG, EPOCH_PARAMS, HISTORY, PARAMS, kept_epochs


def mean_parameters(snapshots):
    """θ̄ of a list of {name: array} snapshots: summed in float64, in the first one's dtypes."""
    first = snapshots[0]
    return {name: (sum(s[name].astype(np.float64) for s in snapshots) / len(snapshots)).astype(p.dtype)
            for name, p in first.items()}


def read_epochs(run_dir, epochs, expected):
    """The snapshots epoch-e.npz of `run_dir` for `epochs`, each checked against `expected`
    (a model's `state_dict`) and the manifest; a clear error for an epoch it does not keep."""
    run_dir = Path(run_dir)
    kept = kept_epochs(run_dir)
    missing = sorted(set(epochs) - set(kept))
    if missing:
        have = f"epochs {', '.join(map(str, kept))}" if kept else "none (train with --keep-epochs K)"
        raise CheckpointError(f"{run_dir}: keeps no parameters for epoch {', '.join(map(str, missing))}; "
                              f"it keeps {have}")
    return [read_params(run_dir / EPOCH_PARAMS.format(e), expected, str(run_dir / CONFIG)) for e in epochs]


class RecentEpochs:
    """The parameters at the end of the last `count` epochs, kept in memory by every rank
    (so a rank on another machine needs no file of rank 0's to average them)."""

    def __init__(self, count):
        self.count = count
        self.kept = deque(maxlen=max(count, 1))  # (epoch, {name: array}), oldest first

    def add(self, epoch, model):
        if self.count:
            self.kept.append((epoch, {name: p.copy() for name, p in model.state_dict().items()}))

    def reload(self, run_dir, model, last_epoch):
        """On --resume: the kept epochs up to `last_epoch` read back from the run directory."""
        if self.count:
            epochs = [e for e in kept_epochs(run_dir) if e <= last_epoch][-self.count:]
            self.kept.extend(zip(epochs, read_epochs(run_dir, epochs, model.state_dict())))

    def mean(self):
        """(the epochs, θ̄ over them), or None with fewer than two epochs kept."""
        if len(self.kept) < 2:
            return None
        return [epoch for epoch, _ in self.kept], mean_parameters([snapshot for _, snapshot in self.kept])


def last_epochs(run_dir, count):
    """The `count` latest epochs `run_dir` keeps parameters for."""
    kept = kept_epochs(run_dir)
    if count > len(kept):
        raise CheckpointError(f"{run_dir}: keeps the parameters of {len(kept)} epoch{'s' * (len(kept) != 1)}, "
                              f"fewer than --last {count} (train with --keep-epochs {count} or more)")
    return kept[-count:]


def average_epochs(run_dir, epochs, out_dir):
    """Write into `out_dir` a run directory whose params.npz is θ̄ of `run_dir`'s kept
    `epochs` (its config, vocabularies and history are the source's). Returns the `Run` of
    the source, holding θ̄."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.resolve() == run_dir.resolve():
        raise CheckpointError(f"{out_dir}: is the run being averaged; write the mean into a new directory")
    if (out_dir / CONFIG).exists():
        raise CheckpointError(f"{out_dir}: holds a run already; choose a new directory for the mean")
    run = load_run(run_dir)
    run.model.load_state_dict(mean_parameters(read_epochs(run_dir, epochs, run.model.state_dict())))
    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_files(out_dir, {PARAMS: params_data(run.model), HISTORY: history_data(run.history),
                                **setup_files(out_dir, run.config, run.src_vocab, run.tgt_vocab)})
    return run
