"""The training loop: batches, backward, clipping, the optimizer, one epoch after another,
with validation after each and a checkpoint in the run directory (`jumok.rundir`).

With several workers (`jumok.parallel`) every rank runs this loop on its slice of each
batch; rank 0 alone writes the run directory, logs and draws the progress bar."""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jumok.average import RecentEpochs
from jumok.backend import device_module, to_device
from jumok.data.prepare import prepare
from jumok.errors import ConfigError, TrainingError
from jumok.evaluation import evaluate_dataset, finish, validation_loss
from jumok.layers.dropout import set_rows
from jumok.models import build_model
from jumok.optim import OPTIMIZERS, clip_grad_norm
from jumok.parallel import GradientSum, World, get_world
from jumok.rundir import files
from jumok.rundir.arrays import load_params, params_data
from jumok.rundir.documents import history_data, setup_files
from jumok.rundir.files import AVERAGE, EPOCH_PARAMS, HISTORY, LAST, PARAMS, kept_epochs
from jumok.rundir.resume import StepCheckpoints, check_finite, remove_earlier_run, remove_temporary_files, start_resume
from jumok.rundir.state import Position, Progress, state_data


class NonFiniteError(TrainingError):
    """A step whose loss or gradient norm is NaN or infinite (raised before the optimizer step)."""

    def __init__(self, batch, loss, norm):
        self.batch, self.loss, self.norm = batch, loss, norm
        self.what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {norm}"
        super().__init__(f"batch {batch}: {self.what}")


def train_epoch(model, optimizer, dataset, config, rng, bar, position=None, after_step=None, world=None,
                gradient_sum=None):
    """One pass over the data in a fresh random order (batched by length with ``config.bucket``,
    see `Dataset.bucketed_order`), each batch copied to the model's device;
    returns the mean loss per target token.

    With `position` it continues an interrupted epoch instead: its saved order, from its next
    batch, with its running loss sums. The position is brought up to date after every step,
    then `after_step(position)` is called (`run_training` writes checkpoints there). A loss or
    gradient norm that is not finite raises `NonFiniteError` before the optimizer step, so the
    parameters stay as the previous step left them.

    In a `world` of several workers each takes its rows of every batch (`World.rows`), draws
    dropout for the whole batch and divides its loss by the whole batch's target tokens;
    `gradient_sum` (a `jumok.parallel.GradientSum`) adds the gradients up before clipping, so
    every rank clips, checks and steps with the same numbers and all stop together.
    """
    world = world or World()
    if position is None:
        order = dataset.bucketed_order(rng, config.batch_size) if config.bucket else rng.permutation(len(dataset))
        position = Position(order)
    named_grads = [(name, g) for name, _, g in model.named_parameters()]
    xp = model.xp
    for batch in dataset.batches_in(position.order, config.batch_size, position.batch):
        rows = world.rows(batch.size)  # this worker's slice: all of the batch for one process
        set_rows(model, (batch.size, rows.start, rows.stop))
        tokens = int(batch.tgt_mask.sum())
        arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
        loss = model.forward(*(to_device(a[rows], xp) for a in arrays), count=tokens)
        model.zero_grad()
        model.backward()
        if gradient_sum is not None:
            gradient_sum()
        loss = world.sum([loss])[0]
        norm = clip_grad_norm(named_grads, config.clip)  # the norm before clipping: NaN/inf if any gradient is
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise NonFiniteError(position.batch + 1, loss, norm)
        optimizer.step()
        position.loss_sum += loss * tokens
        position.tokens += tokens
        position.batch += 1
        bar.update(1)
        bar.set_postfix(loss=f"{position.mean_loss():.4f}", **examples_per_second(bar, config, world))
        if after_step is not None:
            after_step(position)
    return position.mean_loss()


def examples_per_second(bar, config, world):
    """With several workers, the progress bar's postfix also shows the whole job's training
    pairs per second (tqdm's rate of batches × the batch size)."""
    rate = getattr(bar, "format_dict", {}).get("rate") if world.size > 1 else None
    return {"pairs/s": f"{rate * config.batch_size:,.0f}"} if rate else {}


def non_finite_message(error, out_dir, epoch, steps, optimizer, config, saved):
    """The one-line account of a NaN/inf step: where, what was kept, how to go on."""
    kept = (f"{out_dir / LAST} keeps the last good checkpoint ({saved})" if saved
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


def keep_mean_if_better(epochs, mean, model, best, valid_set, config, out_dir, log, world):
    """Score θ̄, the mean of the last `epochs`' parameters (`jumok.average`), on validation as
    an epoch is scored; rank 0 records it in average.json and, if it beats the `best` epoch
    (exact match, then token error rate), writes it as params.npz. Returns (θ̄ if it is
    kept else None, its score in words); the model is left holding θ̄."""
    model.load_state_dict(mean)
    metrics, _ = evaluate_dataset(model, valid_set, config.max_output_length, beam=config.beam, world=world)
    better = (metrics["exact_match"], -metrics["token_error_rate"]) > (best["exact_match"], -best["token_error_rate"])
    score = f"validation exact match {100 * metrics['exact_match']:.2f}%"
    log(f"the mean of epochs {epochs[0]}–{epochs[-1]}: {score}, against epoch {best['epoch']}'s "
        f"{100 * best['exact_match']:.2f}% — {'kept as ' + PARAMS if better else 'not kept'}")
    if world.is_root:
        record = {"epochs": epochs, "valid_exact_match": metrics["exact_match"],
                  "valid_token_error_rate": metrics["token_error_rate"], "best_epoch": best["epoch"], "kept": better}
        written = {PARAMS: params_data(model)} if better else {}
        written[AVERAGE] = (json.dumps(record, indent=2) + "\n").encode()
        files.write_files(out_dir, written)
    return (mean if better else None), score


def run_training(config, out_dir, progress=True, log=print, resume=False, resume_lr=None):
    """Train as `config` says, writing everything into `out_dir`; with `resume`, continue the
    run saved there (its config, with `config.epochs` as the new total) from its latest
    checkpoint, with learning rate `resume_lr` if given. Returns the history.

    last.npz is written at every epoch's end and, with ``config.checkpoint_every``, every that
    many optimizer steps inside an epoch; killed at any moment, the run resumes bit-exactly.
    A loss or gradient that is not finite raises `TrainingError` and writes nothing more.

    Started as several ranks (`jumok.parallel.get_world`), each runs this on its slices;
    only rank 0 logs and writes; the others read the run back on --resume once rank 0 has
    checked it. The epoch's seconds are the slowest rank's.
    """
    out_dir = Path(out_dir)
    world = get_world()
    if world.size > 1 and config.device != "cpu":
        raise ConfigError(f"--workers runs on the CPU: --device {config.device} trains with one worker")
    if not world.is_root:
        log, progress = (lambda *_: None), False
    config = config.replace(workers=world.size)  # config.json records how many ranks trained
    xp = device_module(config.device)  # numpy, or cupy for "gpu" (a clear error if it cannot be had)
    config, train_set, valid_set = prepare(config, log)
    log(f"data: {len(train_set)} training pairs, {len(valid_set)} validation pairs; "
        f"vocabulary {len(train_set.src_vocab)} source / {len(train_set.tgt_vocab)} target tokens")
    rng = np.random.default_rng(config.seed)
    model = build_model(config, len(train_set.src_vocab), len(train_set.tgt_vocab), rng).to(xp)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    gradient_sum = GradientSum(model, world)
    state, position, best = Progress(), None, None
    recent = RecentEpochs(config.keep_epochs)  # the last epochs' parameters, for their mean at the end
    steps = -(-len(train_set) // config.batch_size)
    checkpoints = StepCheckpoints(out_dir, model, optimizer, rng, config, steps)
    setup = setup_files(out_dir, config, train_set.src_vocab, train_set.tgt_vocab)
    if out_dir.is_dir() and world.is_root:
        remove_temporary_files(out_dir, log)
        if not resume:
            remove_earlier_run(out_dir, log)
    if resume:
        for root_turn in (True, False):  # rank 0 checks the run (and may adopt it) first, then the others read it
            if world.is_root == root_turn:
                state, position = start_resume(out_dir, model, optimizer, rng, train_set, log)
                recent.reload(out_dir, model, state.epoch)
            world.barrier()
        if resume_lr is not None and resume_lr != optimizer.lr:
            log(f"learning rate {optimizer.lr:g} → {resume_lr:g} (--lr)")
            optimizer.lr = resume_lr
        if state.epoch or position:
            checkpoints.saved = (f"epoch {state.epoch + 1}, batch {position.batch}" if position
                                 else f"end of epoch {state.epoch}")
            setup[HISTORY] = history_data(state.history)  # may lag behind last.npz
    if world.is_root:
        files.write_files(out_dir, setup)
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
                train_loss = train_epoch(model, optimizer, train_set, config, rng, bar, position,
                                         checkpoints if world.is_root else None, world, gradient_sum)
            except NonFiniteError as e:
                raise TrainingError(non_finite_message(e, out_dir, epoch, steps, optimizer, config,
                                                       checkpoints.saved)) from None
            seconds = world.max((position.seconds if position else 0.0) + time.perf_counter() - start)
        position = None
        check_finite(model, epoch, steps, steps)
        world.agree([p for _, p, _ in model.named_parameters()])
        start = time.perf_counter()
        metrics, _ = evaluate_dataset(model, valid_set, config.max_output_length, beam=config.beam, world=world)
        improved = state.record({"epoch": epoch, "train_loss": train_loss, "valid_exact_match": metrics["exact_match"],
                                 "valid_token_error_rate": metrics["token_error_rate"],
                                 "valid_loss": validation_loss(model, valid_set, world=world), "seconds": seconds,
                                 "eval_seconds": world.max(time.perf_counter() - start), "lr": optimizer.lr})
        if improved and not world.is_root:  # the others keep the best in memory, not reading rank 0's file
            best = {name: p.copy() for name, p in model.state_dict().items()}
        recent.add(epoch, model)
        optimizer.lr = state.next_lr(optimizer.lr, config)
        if world.is_root:  # params.npz before last.npz: a last.npz that counts this epoch never goes with older best
            params = params_data(model)
            written = {PARAMS: params} if improved else {}
            if config.keep_epochs:
                written[EPOCH_PARAMS.format(epoch)] = params
            written[LAST] = state_data(model, optimizer, rng, state)
            written[HISTORY] = history_data(state.history)
            files.write_files(out_dir, written)
            if config.keep_epochs:  # keep the last K (a resumed run may find older ones too)
                files.remove_files(out_dir, [EPOCH_PARAMS.format(e) for e in kept_epochs(out_dir)
                                             if e <= epoch - config.keep_epochs])
        checkpoints.saved = f"end of epoch {epoch}"
        log(f"epoch {epoch}: loss {train_loss:.4f}, validation exact match {100 * metrics['exact_match']:.2f}% "
            f"({seconds:.1f} s training){' — best so far' if improved else ''}")
        if config.patience and state.bad_epochs >= config.patience:
            log(f"stopping early: no improvement for {state.bad_epochs} epochs")
    if state.history and state.bad_epochs == 0:
        log(f"note: validation still improved in epoch {state.epoch}, the last; more epochs may help "
            f"(jumok train --resume {out_dir} --epochs {2 * state.epoch})")
    chosen = f"epoch {state.best['epoch']}, validation exact match {100 * state.best['exact_match']:.2f}%"
    averaged = recent.mean()
    if averaged and state.best:
        mean, score = keep_mean_if_better(*averaged, model, state.best, valid_set, config, out_dir, log, world)
        if mean is not None:
            best, chosen = mean, f"the mean of epochs {averaged[0][0]}–{averaged[0][-1]}, {score}"
    world.barrier()  # rank 0 has written params.npz
    if best is None:  # rank 0, or another rank resumed after the best epoch (from the run's shared file system)
        load_params(out_dir / PARAMS, model)  # draw with the best model
    else:
        model.load_state_dict(best)
    written = finish(config, model, state.history, train_set, valid_set, out_dir, log, world)
    log(f"best: {chosen}; wrote " + ", ".join(str(p) for p in [out_dir / PARAMS, *written]))
    return state.history
