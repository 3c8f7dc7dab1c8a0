"""The training loop: batches, backward, clipping, the optimizer, evaluation, the run directory."""

import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jumok import checkpoint, viz
from jumok.atomic import temporary_files
from jumok.backend import device_module, to_device
from jumok.data.batching import Dataset
from jumok.data.tasks import drop_long_pairs, load_pairs
from jumok.data.tokens import tokenize_pairs
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError, TrainingError
from jumok.evaluation import TEST, draw_attention, evaluate_dataset, score_test
from jumok.metrics import group_references
from jumok.models import build_model
from jumok.optim import OPTIMIZERS, clip_grad_norm

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


class NonFiniteError(TrainingError):
    """A step whose loss or gradient norm is NaN or infinite (raised before the optimizer step)."""

    def __init__(self, batch, loss, norm):
        self.batch, self.loss, self.norm = batch, loss, norm
        self.what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {norm}"
        super().__init__(f"batch {batch}: {self.what}")


def train_epoch(model, optimizer, dataset, config, rng, bar, position=None, after_step=None):
    """One pass over the data in a fresh random order (batched by length with ``config.bucket``,
    see `Dataset.bucketed_order`), each batch copied to the model's device;
    returns the mean loss per target token.

    With `position` it continues an interrupted epoch instead: its saved order, from its next
    batch, with its running loss sums. The position is brought up to date after every step,
    then `after_step(position)` is called (`run_training` writes checkpoints there). A loss or
    gradient norm that is not finite raises `NonFiniteError` before the optimizer step, so the
    parameters stay as the previous step left them.
    """
    if position is None:
        order = dataset.bucketed_order(rng, config.batch_size) if config.bucket else rng.permutation(len(dataset))
        position = Position(order)
    named_grads = [(name, g) for name, _, g in model.named_parameters()]
    xp = model.xp
    for batch in dataset.batches_in(position.order, config.batch_size, position.batch):
        arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
        loss = model.forward(*(to_device(a, xp) for a in arrays))
        model.zero_grad()
        model.backward()
        norm = clip_grad_norm(named_grads, config.clip)  # the norm before clipping: NaN/inf if any gradient is
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise NonFiniteError(position.batch + 1, loss, norm)
        optimizer.step()
        tokens = int(batch.tgt_mask.sum())
        position.loss_sum += loss * tokens
        position.tokens += tokens
        position.batch += 1
        bar.update(1)
        bar.set_postfix(loss=f"{position.mean_loss():.4f}")
        if after_step is not None:
            after_step(position)
    return position.mean_loss()


def prepare(config, log=print):
    """Text pairs → vocabularies and encoded datasets; fixes the decoding length limit.

    Sources are tokenised in `config.source_tokens` mode, targets in `config.target_tokens`
    mode (training and validation alike). With `config.max_length`, training pairs with more
    tokens than that on either side are dropped before the vocabularies are built; `log`
    reports how many. Validation pairs are never dropped; `log` also says how many unique
    sources they have when sources repeat (alternative references, see `evaluate_dataset`).
    """
    train_pairs, valid_pairs = load_pairs(config, log)
    train_tokens = tokenize_pairs(train_pairs, config.source_tokens, config.target_tokens, "training")
    valid_tokens = tokenize_pairs(valid_pairs, config.source_tokens, config.target_tokens, "validation")
    if config.max_length:
        kept = drop_long_pairs(train_tokens, config.max_length)
        log(f"max_length {config.max_length}: dropped {len(train_tokens) - len(kept)} of {len(train_tokens)} "
            f"training pairs with more than {config.max_length} tokens on a side (validation pairs are all kept)")
        train_tokens = kept
    src_vocab = Vocab.build(s for s, _ in train_tokens)
    tgt_vocab = Vocab.build(t for _, t in train_tokens)
    train_set = Dataset(train_tokens, src_vocab, tgt_vocab)
    valid_set = Dataset(valid_tokens, src_vocab, tgt_vocab, unknown="unk")
    sources = len(group_references([s for s, _ in valid_tokens], [t for _, t in valid_tokens])[0])
    if sources < len(valid_tokens):
        log(f"validation: {len(valid_tokens)} pairs of {sources} unique sources; pairs that share a source are "
            "alternative references, each source is scored once")
    if not config.max_output_length:
        longest = max(len(t) for _, t in train_tokens)
        config = config.replace(max_output_length=longest + max(2, longest // 2))
    return config, train_set, valid_set


@dataclass
class Progress:
    """Where training stands after an epoch: everything besides the arrays that resuming needs."""

    epoch: int = 0
    history: list = field(default_factory=list)
    best: dict | None = None  # {"epoch", "exact_match", "token_error_rate"} of params.npz
    bad_epochs: int = 0  # epochs since the best one (early stopping)
    lr_bad_epochs: int = 0  # epochs since the best one or the last decay (plateau schedule)

    def record(self, entry):
        """Add an epoch's record; return True if it is the best so far.

        Better = higher validation exact match, ties broken by lower token error rate.
        """
        self.epoch = entry["epoch"]
        self.history.append(entry)
        key = (entry["valid_exact_match"], -entry["valid_token_error_rate"])
        if self.best is None or key > (self.best["exact_match"], -self.best["token_error_rate"]):
            self.best = {"epoch": entry["epoch"], "exact_match": key[0], "token_error_rate": -key[1]}
            self.bad_epochs = self.lr_bad_epochs = 0
            return True
        self.bad_epochs += 1
        self.lr_bad_epochs += 1
        return False

    def next_lr(self, lr, config):
        """The learning rate for the next epoch under the configured schedule."""
        if config.lr_schedule == "epoch":
            return lr * config.lr_decay
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
    return checkpoint.training_state_data(model, optimizer, meta, arrays)


def save_state(out_dir, model, optimizer, rng, progress, position=None, seconds=0.0):
    checkpoint.write_files(out_dir, {checkpoint.LAST: state_data(model, optimizer, rng, progress, position, seconds)})


def restore_state(out_dir, model, optimizer, rng):
    """Load last.npz into the model, the optimizer and the generators; return
    (Progress, Position inside the next epoch or None at an epoch's end)."""
    path = Path(out_dir) / checkpoint.LAST
    meta = checkpoint.load_training_state(path, model, optimizer)
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


def check_same_vocab(out_dir, train_set):
    saved = checkpoint.load_vocabs(out_dir)
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
    checkpoint.verify_files(out_dir, checkpoint.CONFIG)
    if not (out_dir / checkpoint.LAST).is_file():
        if checkpoint.read_history(out_dir):
            raise CheckpointError(f"{out_dir / checkpoint.LAST}: missing, but {checkpoint.HISTORY} records finished "
                                  "epochs; without the training state the run cannot go on")
        log(f"{out_dir}: no checkpoint yet (the run stopped before its first one); starting from the beginning")
        return Progress(), None
    check_same_vocab(out_dir, train_set)
    checkpoint.verify_files(out_dir, checkpoint.VOCAB, checkpoint.PARAMS)
    state, position = restore_state(out_dir, model, optimizer, rng)
    if position is not None and len(position.order) != len(train_set):
        raise CheckpointError(f"{out_dir / checkpoint.LAST}: its batch order covers {len(position.order)} "
                              f"training pairs, the data give {len(train_set)}; resume needs the same data")
    if checkpoint.read_manifest(out_dir) is None:
        log(f"{out_dir}: no {checkpoint.MANIFEST} (written by an older jumok); vouching for "
            + ", ".join(checkpoint.adopt(out_dir)) + " as they are")
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
        save_state(self.out_dir, self.model, self.optimizer, self.rng, self.progress, position, seconds)
        self.saved = f"epoch {self.epoch}, batch {position.batch}"


def remove_temporary_files(out_dir, log):
    """Remove the temporary files that writers killed mid-write left in the run directory."""
    for name in (*checkpoint.VOUCHED, checkpoint.MANIFEST, TEST, "curves.png", "attention.png"):
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
    names = [name for name in (checkpoint.CONFIG, checkpoint.LAST, checkpoint.PARAMS, checkpoint.HISTORY)
             if (out_dir / name).is_file()]
    for name in names:
        try:
            (out_dir / name).unlink()
        except OSError as e:
            raise CheckpointError(f"cannot remove {out_dir / name} of the earlier run there: {e.strerror}") from None
    if names:
        log(f"{out_dir}: removed {', '.join(names)} of an earlier run in this directory")


def non_finite_message(error, out_dir, epoch, steps, optimizer, config, saved):
    """The one-line account of a NaN/inf step: where, what was kept, how to go on."""
    kept = (f"{out_dir / checkpoint.LAST} keeps the last good checkpoint ({saved})" if saved
            else "no checkpoint was written yet (--resume starts over)")
    clip = f"a smaller --clip (now {config.clip:g})" if config.clip else "--clip 5 (clipping is off)"
    return (f"epoch {epoch}, batch {error.batch} of {steps} (optimizer step {optimizer.step_count + 1}): "
            f"{error.what}; stopped without saving this state, {kept}; "
            f"resume with `jumok train --resume {out_dir} --lr <below {optimizer.lr:g}>` or {clip}")


def out_of_time(history, budget_minutes):
    """True if one more epoch, as long as the longest so far, would end past the budget.

    Counts training seconds only (as recorded in the history), not validation."""
    if not budget_minutes or not history:
        return False
    spent = sum(entry["seconds"] for entry in history)
    return spent + max(entry["seconds"] for entry in history) > 60 * budget_minutes


def run_training(config, out_dir, progress=True, log=print, resume=False, resume_lr=None):
    """Train as `config` says, writing everything into `out_dir`; with `resume`, continue the
    run saved there (its config, with `config.epochs` as the new total) from its latest
    checkpoint, with learning rate `resume_lr` if given. Returns the history.

    last.npz is written at every epoch's end and, with ``config.checkpoint_every``, every that
    many optimizer steps inside an epoch; killed at any moment, the run resumes bit-exactly.
    A loss or gradient that is not finite raises `TrainingError` and writes nothing more.
    """
    out_dir = Path(out_dir)
    xp = device_module(config.device)  # numpy, or cupy for "gpu" (a clear error if it cannot be had)
    config, train_set, valid_set = prepare(config, log)
    log(f"data: {len(train_set)} training pairs, {len(valid_set)} validation pairs; "
        f"vocabulary {len(train_set.src_vocab)} source / {len(train_set.tgt_vocab)} target tokens")
    rng = np.random.default_rng(config.seed)
    model = build_model(config, len(train_set.src_vocab), len(train_set.tgt_vocab), rng).to(xp)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    state, position = Progress(), None
    steps = -(-len(train_set) // config.batch_size)
    checkpoints = StepCheckpoints(out_dir, model, optimizer, rng, config, steps)
    files = checkpoint.setup_files(out_dir, config, train_set.src_vocab, train_set.tgt_vocab)
    if out_dir.is_dir():
        remove_temporary_files(out_dir, log)
        if not resume:
            remove_earlier_run(out_dir, log)
    if resume:
        state, position = start_resume(out_dir, model, optimizer, rng, train_set, log)
        if resume_lr is not None and resume_lr != optimizer.lr:
            log(f"learning rate {optimizer.lr:g} → {resume_lr:g} (--lr)")
            optimizer.lr = resume_lr
        if state.epoch or position:
            checkpoints.saved = (f"epoch {state.epoch + 1}, batch {position.batch}" if position
                                 else f"end of epoch {state.epoch}")
            files[checkpoint.HISTORY] = checkpoint.history_data(state.history)  # may lag behind last.npz
    checkpoint.write_files(out_dir, files)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if config.patience and state.bad_epochs >= config.patience:
            break
        if out_of_time(state.history, config.time_budget):
            log(f"stopping: another epoch would take training past its {config.time_budget:g}-minute budget")
            break
        with tqdm(total=steps, initial=position.batch if position else 0, desc=f"epoch {epoch}/{config.epochs}",
                  unit="batch", disable=not progress, file=sys.stderr, dynamic_ncols=True, leave=True) as bar:
            start = checkpoints.start_epoch(epoch, state)
            try:
                train_loss = train_epoch(model, optimizer, train_set, config, rng, bar, position, checkpoints)
            except NonFiniteError as e:
                raise TrainingError(non_finite_message(e, out_dir, epoch, steps, optimizer, config,
                                                       checkpoints.saved)) from None
            seconds = (position.seconds if position else 0.0) + time.perf_counter() - start
        position = None
        check_finite(model, epoch, steps, steps)
        start = time.perf_counter()
        metrics, _ = evaluate_dataset(model, valid_set, config.max_output_length, beam=config.beam)
        improved = state.record({"epoch": epoch, "train_loss": train_loss, "valid_exact_match": metrics["exact_match"],
                                 "valid_token_error_rate": metrics["token_error_rate"], "seconds": seconds,
                                 "eval_seconds": time.perf_counter() - start, "lr": optimizer.lr})
        files = {checkpoint.PARAMS: checkpoint.params_data(model)} if improved else {}
        optimizer.lr = state.next_lr(optimizer.lr, config)
        # params.npz before last.npz: a last.npz that counts this epoch never goes with older best parameters
        files[checkpoint.LAST] = state_data(model, optimizer, rng, state)
        files[checkpoint.HISTORY] = checkpoint.history_data(state.history)
        checkpoint.write_files(out_dir, files)
        checkpoints.saved = f"end of epoch {epoch}"
        log(f"epoch {epoch}: loss {train_loss:.4f}, validation exact match {100 * metrics['exact_match']:.2f}% "
            f"({seconds:.1f} s training){' — best so far' if improved else ''}")
        if config.patience and state.bad_epochs >= config.patience:
            log(f"stopping early: no improvement for {state.bad_epochs} epochs")
    checkpoint.load_params(out_dir / checkpoint.PARAMS, model)  # draw with the best model
    try:
        score_test(config, model, train_set, out_dir, log)
        written = [viz.plot_learning_curves(state.history, out_dir / "curves.png")]
        if model.has_attention:
            written.append(draw_attention(model, valid_set, config, out_dir / "attention.png"))
    except OSError as e:
        raise CheckpointError(f"cannot write {e.filename or out_dir}: {e.strerror or e} (the checkpoints "
                              "are complete)") from None
    log(f"best: epoch {state.best['epoch']}, validation exact match {100 * state.best['exact_match']:.2f}%; wrote "
        + ", ".join(str(p) for p in [out_dir / checkpoint.PARAMS, *written]))
    return state.history
