"""The training loop: batches, backward, clipping, the optimizer, evaluation, the run directory."""

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jumok import checkpoint, viz
from jumok.data.batching import Dataset
from jumok.data.tasks import drop_long_pairs, load_pairs
from jumok.data.tokens import detokenize, tokenize_pairs
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError
from jumok.layers.dropout import Dropout
from jumok.metrics import score
from jumok.models import build_model
from jumok.optim import OPTIMIZERS, clip_grad_norm
from jumok.translate import predict_ids


def evaluate_dataset(model, dataset, max_len, batch_size=256, beam=1):
    """Batched greedy (or beam) decoding of a Dataset → (metrics dict, predictions)."""
    predictions = predict_ids(model, dataset.sources, dataset.src_vocab, dataset.tgt_vocab, max_len, batch_size,
                              beam_size=beam)
    references = [target for _, target in dataset.pairs]
    return score([p.tokens for p in predictions], references), predictions


def train_epoch(model, optimizer, dataset, config, rng, bar):
    """One pass over the data in a fresh random order; returns the mean loss per target token."""
    total_loss, total_tokens = 0.0, 0
    named_grads = [(name, g) for name, _, g in model.named_parameters()]
    for batch in dataset.batches(config.batch_size, rng):
        loss = model.forward(batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
        model.zero_grad()
        model.backward()
        clip_grad_norm(named_grads, config.clip)
        optimizer.step()
        tokens = int(batch.tgt_mask.sum())
        total_loss += loss * tokens
        total_tokens += tokens
        bar.update(1)
        bar.set_postfix(loss=f"{total_loss / total_tokens:.4f}")
    return total_loss / max(total_tokens, 1)


def prepare(config, log=print):
    """Text pairs → vocabularies and encoded datasets; fixes the decoding length limit.

    Sources are tokenised in `config.source_tokens` mode, targets in `config.target_tokens`
    mode (training and validation alike). With `config.max_length`, training pairs with more
    tokens than that on either side are dropped before the vocabularies are built; `log`
    reports how many. Validation pairs are never dropped.
    """
    train_pairs, valid_pairs = load_pairs(config)
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
    if not config.max_output_length:
        longest = max(len(t) for _, t in train_tokens)
        config = config.replace(max_output_length=longest + max(2, longest // 2))
    return config, train_set, valid_set


def draw_attention(model, dataset, config, path, count=4):
    """Heatmaps of the first few validation examples, in one picture."""
    subset = dataset.sources[:count]
    predictions = predict_ids(model, subset, dataset.src_vocab, dataset.tgt_vocab, config.max_output_length)
    examples = []
    for (source, target), pred in zip(dataset.pairs[:count], predictions):
        mark = "✓" if pred.tokens == target else "✗"
        text = f"{detokenize(source, config.source_tokens)} → {detokenize(pred.tokens, config.target_tokens)}"
        examples.append((pred.weights, source, pred.steps, f"{text} {mark}"))
    return viz.plot_attention_grid(examples, path)


def dropout_generators(model):
    """The random generators of the model's Dropout layers, each once, in a fixed order."""
    found = {}

    def walk(module):
        if isinstance(module, Dropout):
            found.setdefault(id(module.rng), module.rng)
        for _, child in module.children():
            walk(child)

    walk(model)
    return list(found.values())


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


def save_state(out_dir, model, optimizer, rng, progress):
    meta = {**asdict(progress), "step": optimizer.step_count, "lr": optimizer.lr,
            "rng": rng.bit_generator.state, "dropout_rngs": [g.bit_generator.state for g in dropout_generators(model)]}
    checkpoint.save_training_state(out_dir / checkpoint.LAST, model, optimizer, meta)


def restore_state(out_dir, model, optimizer, rng):
    meta = checkpoint.load_training_state(out_dir / checkpoint.LAST, model, optimizer)
    optimizer.step_count, optimizer.lr = meta.pop("step"), meta.pop("lr")
    rng.bit_generator.state = meta.pop("rng")
    for generator, state in zip(dropout_generators(model), meta.pop("dropout_rngs"), strict=True):
        generator.bit_generator.state = state
    meta.pop("version")
    return Progress(**meta)


def check_same_vocab(out_dir, train_set):
    saved = checkpoint.load_vocabs(out_dir)
    if saved != (train_set.src_vocab, train_set.tgt_vocab):
        raise CheckpointError(f"{out_dir}: the training data no longer give the vocabulary this run was "
                              "started with; resume needs the same data")


def run_training(config, out_dir, progress=True, log=print, resume=False):
    """Train as `config` says, writing everything into `out_dir`; with `resume`, continue the
    run saved there (its config, with `config.epochs` as the new total). Returns the history."""
    out_dir = Path(out_dir)
    config, train_set, valid_set = prepare(config, log)
    log(f"data: {len(train_set)} training pairs, {len(valid_set)} validation pairs; "
        f"vocabulary {len(train_set.src_vocab)} source / {len(train_set.tgt_vocab)} target tokens")
    rng = np.random.default_rng(config.seed)
    model = build_model(config, len(train_set.src_vocab), len(train_set.tgt_vocab), rng)
    optimizer = OPTIMIZERS[config.optimizer](model, lr=config.lr)
    if resume:
        check_same_vocab(out_dir, train_set)
        state = restore_state(out_dir, model, optimizer, rng)
        checkpoint.save_setup(out_dir, config, train_set.src_vocab, train_set.tgt_vocab)
        log(f"resuming after epoch {state.epoch} (best so far: epoch {state.best['epoch']})")
    else:
        state = Progress()
        checkpoint.save_setup(out_dir, config, train_set.src_vocab, train_set.tgt_vocab)
    steps = -(-len(train_set) // config.batch_size)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if config.patience and state.bad_epochs >= config.patience:
            break
        with tqdm(total=steps, desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=not progress,
                  file=sys.stderr, dynamic_ncols=True, leave=True) as bar:
            start = time.perf_counter()
            train_loss = train_epoch(model, optimizer, train_set, config, rng, bar)
            seconds = time.perf_counter() - start
        start = time.perf_counter()
        metrics, _ = evaluate_dataset(model, valid_set, config.max_output_length, beam=config.beam)
        improved = state.record({"epoch": epoch, "train_loss": train_loss, "valid_exact_match": metrics["exact_match"],
                                 "valid_token_error_rate": metrics["token_error_rate"], "seconds": seconds,
                                 "eval_seconds": time.perf_counter() - start, "lr": optimizer.lr})
        if improved:
            checkpoint.save_params(out_dir / checkpoint.PARAMS, model)
        optimizer.lr = state.next_lr(optimizer.lr, config)
        save_state(out_dir, model, optimizer, rng, state)
        checkpoint.save_history(out_dir, state.history)
        log(f"epoch {epoch}: loss {train_loss:.4f}, validation exact match {100 * metrics['exact_match']:.2f}% "
            f"({seconds:.1f} s training){' — best so far' if improved else ''}")
        if config.patience and state.bad_epochs >= config.patience:
            log(f"stopping early: no improvement for {state.bad_epochs} epochs")
    checkpoint.load_params(out_dir / checkpoint.PARAMS, model)  # draw with the best model
    written = [viz.plot_learning_curves(state.history, out_dir / "curves.png")]
    if config.model == "attention":
        written.append(draw_attention(model, valid_set, config, out_dir / "attention.png"))
    log(f"best: epoch {state.best['epoch']}, validation exact match {100 * state.best['exact_match']:.2f}%; wrote "
        + ", ".join(str(p) for p in [out_dir / checkpoint.PARAMS, *written]))
    return state.history
