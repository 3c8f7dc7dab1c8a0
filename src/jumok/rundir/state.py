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
from jumok.rundir import files
from jumok.rundir.arrays import load_training_state, training_state_data
from jumok.rundir.files import LAST


LOSS_GAIN = 0.01
"""How much lower than its lowest (a fraction of it) the validation loss must be to count as
progress: a loss that creeps down by less is not a reason to go on."""


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

    def record(self, entry):
        """Add an epoch's record; return True if it is the best so far.

        Better = higher validation exact match, ties broken by lower token error rate; the
        best epoch's parameters are the ones kept. Early stopping (and the ``stall``
        schedule) counts the epochs in which validation improved in no score: not the best,
        no token error rate below its lowest, and no validation loss `LOSS_GAIN` below its
        lowest while any validation pair is still wrong. So a run at 0 % exact match whose
        tokens, or whose probabilities, are getting right is still learning, and one that
        is right on every pair stops once nothing else improves.
        """
        self.epoch = entry["epoch"]
        self.history.append(entry)
        token_error, loss = entry["valid_token_error_rate"], entry.get("valid_loss")
        fewer_token_errors = self.lowest_token_error_rate is None or token_error < self.lowest_token_error_rate
        if fewer_token_errors:
            self.lowest_token_error_rate = token_error
        lower_loss = loss is not None and (self.lowest_valid_loss is None
                                           or loss < self.lowest_valid_loss * (1 - LOSS_GAIN))
        if loss is not None and (self.lowest_valid_loss is None or loss < self.lowest_valid_loss):
            self.lowest_valid_loss = loss
        key = (entry["valid_exact_match"], -token_error)
        best = self.best is None or key > (self.best["exact_match"], -self.best["token_error_rate"])
        learning = lower_loss and entry["valid_exact_match"] < 1
        self.bad_epochs = 0 if best or fewer_token_errors or learning else self.bad_epochs + 1
        if best:
            self.best = {"epoch": entry["epoch"], "exact_match": key[0], "token_error_rate": -key[1]}
            self.lr_bad_epochs = 0
            return True
        self.lr_bad_epochs += 1
        return False

    def next_lr(self, lr, config):
        """The learning rate for the next epoch under the configured schedule."""
        if config.lr_schedule == "epoch":
            return lr * config.lr_decay
        if config.lr_schedule == "stall":  # every lr_patience epochs in a row without any progress
            stalled = self.bad_epochs and self.bad_epochs % config.lr_patience == 0
            return lr * config.lr_decay if stalled else lr
        if self.lr_bad_epochs >= config.lr_patience:
            self.lr_bad_epochs = 0
            return lr * config.lr_decay
        return lr


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


def save_state(out_dir, model, optimizer, rng, progress, position=None, seconds=0.0):
    files.write_files(out_dir, {LAST: state_data(model, optimizer, rng, progress, position, seconds)})


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
