"""Training: `Trainer.run` is the whole loop — set up the run directory (or resume it), then
epoch after epoch train, validate and checkpoint until the epochs, the patience or the time
budget run out, then finish (the mean of the last epochs if it is better, the best parameters
back, the test split, the pictures). Each stage is one method below it.

With several workers (`jumok.parallel`) every rank runs this loop on its slice of each
batch; rank 0 alone writes the run directory, logs and draws the progress bar. When to stop
and how the learning rate moves are pure functions of the history (`jumok.schedule`)."""

import json
import math
import time
from pathlib import Path

import numpy as np

from jumok.average import RecentEpochs
from jumok.backend import device_module, to_device
from jumok.data.prepare import check_positions, prepare
from jumok.errors import ConfigError, TrainingError
from jumok.maps import cross_names
from jumok.errors import CheckpointError
from jumok.evaluation import draw_examples, evaluate_dataset, score_test, validation_loss
from jumok.layers.dropout import set_rows
from jumok.models import build_model
from jumok.optim import clip_grad_norm, optimizer_for
from jumok.parallel import GradientSum, World, get_world
from jumok.progress import progress_bar
from jumok.rundir.arrays import load_params, params_data
from jumok.rundir.documents import history_data, setup_files
from jumok.rundir.files import ATTENTION, AVERAGE, CURVES, EPOCH_PARAMS, HISTORY, LAST, PARAMS, RunWriter, kept_epochs
from jumok.rundir.resume import StepCheckpoints, check_finite, remove_earlier_run, remove_temporary_files, start_resume
from jumok.rundir.state import Position, Progress, state_data
from jumok.schedule import next_lr, out_of_time, planned_epochs, step_lr
from jumok.threads import StepThreads, usable_threads


class NonFiniteError(TrainingError):
    """A step whose loss or gradient norm is NaN or infinite (raised before the optimizer step)."""

    def __init__(self, batch, loss, norm):
        self.batch, self.loss, self.norm = batch, loss, norm
        self.what = f"the loss is {loss}" if not math.isfinite(loss) else f"the gradient norm is {norm}"
        super().__init__(f"batch {batch}: {self.what}")


def run_training(config, out_dir, progress=True, log=print, resume=False, resume_lr=None):
    """Train as `config` says, writing everything into `out_dir`; with `resume`, continue the
    run saved there (its config, with `config.epochs` as the new total) from its latest
    checkpoint, with learning rate `resume_lr` if given. Returns the history (see `Trainer`)."""
    return Trainer(config, out_dir, log, progress).run(resume, resume_lr)


class Trainer:
    """One training run, from the data to the pictures.

    last.npz is written at every epoch's end and, with ``config.checkpoint_every``, every that
    many optimizer steps inside an epoch; killed at any moment, the run resumes bit-exactly.
    A loss or gradient that is not finite raises `TrainingError` and writes nothing more.

    Started as several ranks (`jumok.parallel.get_world`), each runs this on its slices;
    only rank 0 logs and writes (`RunWriter`); the others read the run back on --resume once
    rank 0 has checked it. The epoch's seconds are the slowest rank's.
    """

    def __init__(self, config, out_dir, log=print, progress=True):
        self.out_dir, self.world = Path(out_dir), get_world()
        if self.world.size > 1 and config.device != "cpu":
            raise ConfigError(f"--workers runs on the CPU: --device {config.device} trains with one worker")
        if not self.world.is_root:
            log, progress = (lambda *_: None), False
        self.log, self.progress = log, progress
        xp = device_module(config.device)  # numpy, or cupy for "gpu" (a clear error if it cannot be had)
        # config.json records how many ranks, and threads in each, trained
        threads = 1 if self.world.size > 1 or config.device != "cpu" else config.threads or usable_threads()
        self.config, self.train_set, self.valid_set = prepare(config.replace(workers=self.world.size, threads=threads),
                                                              log)
        config, train_set = self.config, self.train_set
        log(f"data: {len(train_set)} training pairs, {len(self.valid_set)} validation pairs; "
            f"vocabulary {len(train_set.src_vocab)} source / {len(train_set.tgt_vocab)} target tokens")
        self.rng = np.random.default_rng(config.seed)
        self.model = build_model(config, len(train_set.src_vocab), len(train_set.tgt_vocab), self.rng).to(xp)
        check_positions(getattr(self.model, "max_positions", None), train_set, self.valid_set, config.model)
        self.optimizer = optimizer_for(config, self.model)
        self._bookkeeping(self.out_dir, self.world.is_root)

    @classmethod
    def for_model(cls, model, config, train_set, valid_set=None, out_dir=None, rng=None):
        """A trainer of a model built elsewhere, in one process, with the optimizer `config`
        names and no log or progress bar: for tests and experiments that call `train_epoch`
        (or `validate`). It writes into `out_dir` only when one is given."""
        self = cls.__new__(cls)
        self.out_dir, self.world, self.log, self.progress = out_dir and Path(out_dir), World(), lambda *_: None, False
        self.config, self.train_set, self.valid_set, self.model = config, train_set, valid_set, model
        self.rng = rng if rng is not None else np.random.default_rng(config.seed)
        self.optimizer = optimizer_for(config, model)
        self._bookkeeping(self.out_dir, out_dir is not None)
        return self

    def _bookkeeping(self, out_dir, writes):
        """What a run keeps beside its model: the gradient sum over the ranks, where training
        stands, the best and the last epochs' parameters, the checkpoints and the writer."""
        config = self.config
        self.gradient_sum = GradientSum(self.model, self.world)
        self.threads = StepThreads(self.model, config.threads) if config.threads > 1 else None
        self.state, self.position = Progress(), None
        self.best = None  # the best parameters once this process has seen them; else params.npz holds them
        self.recent = RecentEpochs(config.keep_epochs)  # the last epochs' parameters, for their mean at the end
        self.steps = -(-len(self.train_set) // config.batch_size)
        self.checkpoints = StepCheckpoints(out_dir, self.model, self.optimizer, self.rng, config, self.steps)
        self.writer = RunWriter(out_dir, writes)

    def run(self, resume=False, resume_lr=None):
        """Set up (or resume), train epoch after epoch until it is time to stop, finish; → the history."""
        self.start(resume, resume_lr)
        for epoch in range(self.state.epoch + 1, self.config.epochs + 1):
            if self.time_to_stop():
                break
            train_loss, seconds = self.train_epoch(epoch)
            exact_match, improved = self.validate(epoch, train_loss, seconds)
            self.checkpoint(epoch, improved)
            self.log(f"epoch {epoch}: loss {train_loss:.4f}, validation exact match {100 * exact_match:.2f}% "
                     f"({seconds:.1f} s training){' — best so far' if improved else ''}")
            if self.out_of_patience():
                self.log(f"stopping early: no improvement for {self.state.bad_epochs} epochs")
        self.finish()
        return self.state.history

    # ------------------------------------------------------------------ set-up and resume

    def start(self, resume, resume_lr):
        """Clear what an interrupted or earlier run left, read the run back on --resume, and
        write the run's set-up files (config, vocabularies, history)."""
        setup = setup_files(self.out_dir, self.config, self.train_set.src_vocab, self.train_set.tgt_vocab)
        if self.out_dir.is_dir() and self.world.is_root:
            remove_temporary_files(self.out_dir, self.log)
            if not resume:
                remove_earlier_run(self.out_dir, self.log)
        if resume:
            self.resume(resume_lr)
            if self.state.epoch or self.position:
                setup[HISTORY] = history_data(self.state.history)  # may lag behind last.npz
        self.writer.write(setup)

    def resume(self, resume_lr):
        """Read the training state back: rank 0 checks the run (and may adopt it) first, then
        the others read it."""
        for root_turn in (True, False):
            if self.world.is_root == root_turn:
                self.state, self.position = start_resume(self.out_dir, self.model, self.optimizer, self.rng,
                                                         self.train_set, self.log)
                self.recent.reload(self.out_dir, self.model, self.state.epoch)
            self.world.barrier()
        if resume_lr is not None and resume_lr != self.optimizer.lr:
            self.log(f"learning rate {self.optimizer.lr:g} → {resume_lr:g} (--lr)")
            self.optimizer.lr = resume_lr
        if self.state.epoch or self.position:
            self.checkpoints.saved = (f"epoch {self.state.epoch + 1}, batch {self.position.batch}" if self.position
                                      else f"end of epoch {self.state.epoch}")

    def out_of_patience(self):
        """Early stopping: as many epochs in a row as ``config.patience`` improved no score."""
        return bool(self.config.patience) and self.state.bad_epochs >= self.config.patience

    def time_to_stop(self):
        """Before an epoch: True when patience has run out, or the time budget would."""
        config, history = self.config, self.state.history
        if self.out_of_patience():
            return True
        if out_of_time(history, config.time_budget):
            self.log(f"stopping: another epoch would take training past its {config.time_budget:g}-minute budget")
            return True
        return False

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, epoch):
        """One pass over the training data (or the rest of an interrupted one); → (mean loss
        per target token, training seconds: the slowest rank's)."""
        position = self.position or Position(self.batch_order())
        with progress_bar(self.steps, position.batch, f"epoch {epoch}/{self.config.epochs}", self.progress) as bar:
            start = self.checkpoints.start_epoch(epoch, self.state)
            try:
                for batch in self.train_set.batches_in(position.order, self.config.batch_size, position.batch):
                    self.step(batch, position)
                    bar.update(1)
                    bar.set_postfix(loss=f"{position.mean_loss():.4f}", **examples_per_second(bar, self.config,
                                                                                              self.world))
                    if self.writer.active:
                        self.checkpoints(position)
            except NonFiniteError as e:
                raise TrainingError(non_finite_message(e, self, epoch)) from None
            seconds = self.world.max(position.seconds + time.perf_counter() - start)
        self.position = None
        return position.mean_loss(), seconds

    def batch_order(self):
        """A fresh random order of the training pairs (batched by length with ``config.bucket``,
        see `Dataset.bucketed_order`)."""
        config = self.config
        return (self.train_set.bucketed_order(self.rng, config.batch_size) if config.bucket
                else self.rng.permutation(len(self.train_set)))

    def step(self, batch, position):
        """One optimizer step on `batch` (copied to the model's device), counted in `position`.

        In a world of several workers each takes its rows of the batch (`World.rows`) and tells
        the dropout layers so (each gets its rows of the whole batch's masks),
        divides its loss by the whole batch's target tokens, and the gradients are summed
        before clipping, so every rank clips, checks and steps with the same numbers. A loss or
        gradient norm that is not finite raises `NonFiniteError` before the optimizer step."""
        model, world = self.model, self.world
        rows = world.rows(batch.size)  # this worker's slice: all of the batch for one process
        tokens = int(batch.tgt_mask.sum())
        arrays = tuple(to_device(a[rows], model.xp) for a in
                       (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask))
        if self.threads:  # one process's threads share the batch as workers do (`StepThreads`)
            loss = self.threads.forward_backward(arrays, tokens)
        else:
            set_rows(model, (batch.size, rows.start, rows.stop))
            loss = model.forward(*arrays, count=tokens)
            model.zero_grad()
            model.backward()
        self.gradient_sum()
        loss = world.sum([loss])[0]
        norm = clip_grad_norm([(name, g) for name, _, g in model.named_parameters()],
                              self.config.clip)  # the norm before clipping: NaN/inf if any gradient is
        if not (math.isfinite(loss) and math.isfinite(norm)):
            raise NonFiniteError(position.batch + 1, loss, norm)
        self.optimizer.step(self.rate(self.optimizer.step_count + 1))
        position.loss_sum += loss * tokens
        position.tokens += tokens
        position.batch += 1

    def rate(self, step):
        """The learning rate of optimizer step `step` of the run (`jumok.schedule.step_lr`)."""
        planned_steps = planned_epochs(self.state.history, self.config) * self.steps
        return step_lr(step, self.optimizer.lr, self.config, planned_steps)

    # ------------------------------------------------------------------ after an epoch

    def validate(self, epoch, train_loss, seconds):
        """Score the epoch on validation, record it in the history, keep its parameters if it
        is the best so far, and set the next epoch's learning rate; → (exact match, improved)."""
        model, world, config = self.model, self.world, self.config
        check_finite(model, epoch, self.steps, self.steps)
        world.agree([p for _, p, _ in model.named_parameters()])
        start = time.perf_counter()
        metrics, _ = evaluate_dataset(model, self.valid_set, config.max_output_length, beam=config.beam, world=world)
        improved = self.state.record({
            "epoch": epoch, "train_loss": train_loss, "valid_exact_match": metrics["exact_match"],
            "valid_token_error_rate": metrics["token_error_rate"],
            "valid_loss": validation_loss(model, self.valid_set, world=world), "seconds": seconds,
            "eval_seconds": world.max(time.perf_counter() - start),
            "lr": self.rate(self.optimizer.step_count)}, config)  # the epoch's last step's
        if improved:
            self.best = {name: p.copy() for name, p in model.state_dict().items()}
        self.recent.add(epoch, model)
        self.optimizer.lr = next_lr(self.state.history, self.optimizer.lr, config)
        return metrics["exact_match"], improved

    def checkpoint(self, epoch, improved):
        """Write the epoch's files (`epoch_files`); with --keep-epochs remove the kept epochs
        older than the last K (a resumed run may find older ones too)."""
        self.writer.write(lambda: self.epoch_files(epoch, improved))
        if self.config.keep_epochs and self.writer.active:
            self.writer.remove([EPOCH_PARAMS.format(e) for e in kept_epochs(self.out_dir)
                                if e <= epoch - self.config.keep_epochs])
        self.checkpoints.saved = f"end of epoch {epoch}"

    def epoch_files(self, epoch, improved):
        """params.npz if the epoch is the best, epoch-N.npz with --keep-epochs, last.npz and
        history.json — params.npz first, so a last.npz that counts this epoch never goes with
        an older best."""
        params = params_data(self.model)
        written = {PARAMS: params} if improved else {}
        if self.config.keep_epochs:
            written[EPOCH_PARAMS.format(epoch)] = params
        written[LAST] = state_data(self.model, self.optimizer, self.rng, self.state)
        written[HISTORY] = history_data(self.state.history)
        return written

    # ------------------------------------------------------------------ the end

    def finish(self):
        """After the last epoch: the mean of the kept epochs if validation prefers it, the best
        parameters back in the model, the test split and the pictures."""
        state, log = self.state, self.log
        if state.history and state.bad_epochs == 0:
            log(f"note: validation still improved in epoch {state.epoch}, the last; more epochs may help "
                f"(jumok train --resume {self.out_dir} --epochs {2 * state.epoch})")
        chosen = f"epoch {state.best['epoch']}, validation exact match {100 * state.best['exact_match']:.2f}%"
        averaged = self.recent.mean()
        if averaged and state.best:
            mean, score = keep_mean_if_better(*averaged, self)
            if mean is not None:
                self.best, chosen = mean, f"the mean of epochs {averaged[0][0]}–{averaged[0][-1]}, {score}"
        self.world.barrier()  # rank 0 has written params.npz
        if self.best is None:  # resumed after the best epoch: params.npz holds it
            load_params(self.out_dir / PARAMS, self.model)
        else:
            self.model.load_state_dict(self.best)
        written = self.score_and_draw()
        log(f"best: {chosen}; wrote " + ", ".join(str(p) for p in [self.out_dir / PARAMS, *written]))

    def score_and_draw(self):
        """With the chosen parameters loaded: score the test split (the ranks share it), draw the
        learning curves and, for a model with cross-attention, a few validation examples'
        attention (rank 0 alone draws); → the pictures' paths. A failed write is a one-line
        `CheckpointError`."""
        from jumok import viz  # matplotlib is imported only when drawing

        try:
            score_test(self.config, self.model, self.train_set, self.out_dir, self.log, self.world)
            if not self.world.is_root:
                return []
            written = [viz.plot_learning_curves(self.state.history, self.out_dir / CURVES)]
            if cross_names(self.model.map_names):
                written.append(draw_examples(self.model, self.valid_set, self.config, self.out_dir / ATTENTION))
        except OSError as e:
            raise CheckpointError(f"cannot write {e.filename or self.out_dir}: {e.strerror or e} (the checkpoints "
                                  "are complete)") from None
        return written


def examples_per_second(bar, config, world):
    """With several workers, the progress bar's postfix also shows the whole job's training
    pairs per second (tqdm's rate of batches × the batch size)."""
    rate = getattr(bar, "format_dict", {}).get("rate") if world.size > 1 else None
    return {"pairs/s": f"{rate * config.batch_size:,.0f}"} if rate else {}


def non_finite_message(error, trainer, epoch):
    """The one-line account of a NaN/inf step: where, what was kept, how to go on."""
    out_dir, optimizer, config, saved = trainer.out_dir, trainer.optimizer, trainer.config, trainer.checkpoints.saved
    kept = (f"{out_dir / LAST} keeps the last good checkpoint ({saved})" if saved
            else "no checkpoint was written yet (--resume starts over)")
    clip = f"a smaller --clip (now {config.clip:g})" if config.clip else "--clip 5 (clipping is off)"
    return (f"epoch {epoch}, batch {error.batch} of {trainer.steps} (optimizer step {optimizer.step_count + 1}): "
            f"{error.what}; stopped without saving this state, {kept}; "
            f"resume with `jumok train --resume {out_dir} --lr <below {optimizer.lr:g}>` or {clip}")


def keep_mean_if_better(epochs, mean, trainer):
    """Score θ̄, the mean of the last `epochs`' parameters (`jumok.average`), on validation as
    an epoch is scored; rank 0 records it in average.json and, if it beats the best epoch
    (exact match, then token error rate), writes it as params.npz. Returns (θ̄ if it is
    kept else None, its score in words); the model is left holding θ̄."""
    model, config, best = trainer.model, trainer.config, trainer.state.best
    model.load_state_dict(mean)
    metrics, _ = evaluate_dataset(model, trainer.valid_set, config.max_output_length, beam=config.beam,
                                  world=trainer.world)
    better = (metrics["exact_match"], -metrics["token_error_rate"]) > (best["exact_match"], -best["token_error_rate"])
    score = f"validation exact match {100 * metrics['exact_match']:.2f}%"
    trainer.log(f"the mean of epochs {epochs[0]}–{epochs[-1]}: {score}, against epoch {best['epoch']}'s "
                f"{100 * best['exact_match']:.2f}% — {'kept as ' + PARAMS if better else 'not kept'}")
    record = {"epochs": epochs, "valid_exact_match": metrics["exact_match"],
              "valid_token_error_rate": metrics["token_error_rate"], "best_epoch": best["epoch"], "kept": better}
    trainer.writer.write(lambda: {**({PARAMS: params_data(model)} if better else {}),
                                  AVERAGE: (json.dumps(record, indent=2) + "\n").encode()})
    return (mean if better else None), score


__all__ = ["NonFiniteError", "Trainer", "World", "run_training"]
