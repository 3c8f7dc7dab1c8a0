"""The training state in last.npz: where training stands after an epoch (`Progress`) or
inside one (`Position`), and how it is saved and restored with the model, the optimizer and
every random generator, so that a resumed run goes on bit-exactly.

last.npz's "meta" document holds: epoch, history, best, the patience counters, optimizer
step and learning rate, the states of the batch-order generator and of the dropout
generators, and inside an epoch its position (batches done, running loss sums, seconds);
the epoch's batch order is the array "state.order".
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from jumok.errors import CheckpointError
from jumok.rundir.arrays import load_training_state, training_state_data
from jumok.rundir.files import LAST
from jumok.schedule import epochs_without_progress, plateau_count, score_key


@dataclass
class Position:
    """Where training stands inside an epoch: its batch order, the batches done, the running
    sums of its loss, and the training seconds spent on it before this process took it up."""

    order: np.ndarray  # the epoch's permutation of the training pairs
    batch: int = 0
    loss_sum: float = 0.0  # Σ loss × target tokens over the batches done
    tokens: int = 0
    seconds: float = 0.0

    def mean_loss(self):
        return self.loss_sum / max(self.tokens, 1)


@dataclass
class Progress:
    """Where training stands after an epoch: everything besides the arrays that resuming needs."""

    epoch: int = 0
    history: list = field(default_factory=list)
    best: dict | None = None  # {"epoch", "exact_match", "token_error_rate"} of params.npz
    bad_epochs: int = 0  # epochs in a row in which validation improved in no score (early stopping)
    lr_bad_epochs: int = 0  # epochs since the best one or the last decay (plateau schedule)
    lowest_token_error_rate: float | None = None  # the lowest validation token error rate so far
    lowest_valid_loss: float | None = None  # the lowest validation loss so far

    def record(self, entry, config=None):
        """Add an epoch's record; return True if it is the best so far.

        Better = higher validation exact match, ties broken by lower token error rate; the
        best epoch's parameters are the ones kept. The counters are the history's, as
        `jumok.schedule` reads it: `bad_epochs` for early stopping (epochs improving no
        score), `lr_bad_epochs` for the plateau schedule (started again after each decay when
        `config` says the schedule is ``plateau``)."""
        improved = self.best is None or score_key(entry) > (self.best["exact_match"], -self.best["token_error_rate"])
        self.epoch = entry["epoch"]
        self.history.append(entry)
        if improved:
            self.best = {"epoch": entry["epoch"], "exact_match": entry["valid_exact_match"],
                         "token_error_rate": entry["valid_token_error_rate"]}
        plateau = config is not None and config.lr_schedule == "plateau"
        self.bad_epochs = epochs_without_progress(self.history)
        self.lr_bad_epochs = plateau_count(self.history, config.lr_patience if plateau else None)[0]
        self.lowest_token_error_rate = min(e["valid_token_error_rate"] for e in self.history)
        losses = [e["valid_loss"] for e in self.history if e.get("valid_loss") is not None]
        self.lowest_valid_loss = min(losses) if losses else None
        return improved


def state_data(model, optimizer, rng, progress, position=None, seconds=0.0):
    """The bytes of last.npz: everything `restore_state` needs to go on exactly, after an epoch
    or, with `position`, inside one (`seconds`: training time spent on that epoch so far)."""
    meta = {**asdict(progress), "step": optimizer.step_count, "lr": optimizer.lr,
            "rng": rng.bit_generator.state, "dropout_rngs": [g.bit_generator.state for g in model.dropout_generators()],
            "position": None}
    arrays = {}
    if position is not None:
        meta["position"] = {"batch": position.batch, "loss_sum": float(position.loss_sum),
                            "tokens": position.tokens, "seconds": seconds}
        arrays["order"] = position.order
    return training_state_data(model, optimizer, meta, arrays)


def restore_state(out_dir, model, optimizer, rng):
    """Load last.npz into the model, the optimizer and the generators; return
    (Progress, Position inside the next epoch or None at an epoch's end)."""
    path = Path(out_dir) / LAST
    meta = load_training_state(path, model, optimizer)
    arrays = meta.pop("arrays")
    try:
        optimizer.step_count, optimizer.lr = meta.pop("step"), meta.pop("lr")
        rng.bit_generator.state = meta.pop("rng")
        for generator, state in zip(model.dropout_generators(), meta.pop("dropout_rngs"), strict=True):
            generator.bit_generator.state = state
        meta.pop("version")
        saved = meta.pop("position", None)  # version 1 states are all at an epoch's end
        position = None if saved is None else Position(arrays["order"], **saved)
        return Progress(**meta), position
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: the training state is incomplete or malformed "
                              f"({type(e).__name__}: {e})") from None
