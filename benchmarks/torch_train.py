"""The PyTorch model trained as `jumok train` trains: jumok's data, batches, validation and
bookkeeping around the twin of benchmarks/torch_model.py. Only imported when torch is installed.

Everything but the network is jumok's: the files are read, tokenised and encoded by
`jumok.data.prepare` (vocabularies, datasets, the decoding limit); batches come from
`Dataset.batches_in`, in one permutation per epoch of a NumPy generator seeded with the run
seed; validation decodes greedily each unique source and scores it against all its
references as `jumok.evaluation.evaluate_dataset` does; `jumok.rundir.state.Progress` keeps
the best epoch, the learning-rate schedule and the stopping rule. The step is
`TorchTrainer`'s (torch.optim.Adam, clip_grad_norm_).

The network keeps PyTorch's defaults (it is built after ``torch.manual_seed(seed)``, no jumok
weights are loaded): its own initialisation, two LSTM bias vectors and Adam's ε outside the
bias correction; see docs/results.md#why-pytorch-learns-faster-on-the-same-maths. The
encoder reads a packed sequence, so it never reads padding, as jumok's masked LSTM does not;
it reads both ways when the config says so.
"""

import time

import numpy as np
import torch

from benchmarks.torch_model import TorchAttentionSeq2seq, TorchTrainer
from benchmarks.torch_transformer import TorchTransformer
from jumok.data.batching import pad
from jumok.data.prepare import prepare
from jumok.evaluation import first_of_each
from jumok.layers.stack import reversal_index
from jumok.metrics import group_references, multi_reference_score
from jumok.models.transformer import TransformerSeq2seq
from jumok.rundir.state import Progress
from jumok.schedule import next_lr, step_lr


def train_torch(config, seed, target=None, log=print, name=""):
    """Train the PyTorch model on the data of the jumok `config` (any task), as `config` says;
    stop after the first epoch at the validation exact match `target` if one is given.
    Returns (history as jumok's history.json, stopped at the target?)."""
    config, train_set, valid_set = prepare(config, log=lambda *_: None)
    torch.manual_seed(seed)
    model = twin_of(config, len(train_set.src_vocab), len(train_set.tgt_vocab))
    trainer = TorchTrainer(model, lr=config.lr, clip=config.clip, beta2=config.beta2)
    progress, lr = Progress(), config.lr  # jumok's validation bookkeeping: best, schedule, patience
    rng = np.random.default_rng(seed)
    for epoch in range(1, config.epochs + 1):
        start, loss_sum, tokens = time.perf_counter(), 0.0, 0
        model.train()
        for batch in train_set.batches_in(rng.permutation(len(train_set)), config.batch_size):
            trainer.set_lr(step_lr(trainer.t + 1, lr, config))  # the warm-up, as jumok's trainer
            loss, _ = trainer.step(batch_inputs(batch, config.reverse))
            n = int(batch.tgt_mask.sum())
            loss_sum, tokens = loss_sum + float(loss.detach()) * n, tokens + n
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        model.eval()
        metrics = validate(model, valid_set, config.max_output_length, config.reverse)
        progress.record({"epoch": epoch, "train_loss": loss_sum / max(tokens, 1),
                         "valid_exact_match": metrics["exact_match"],
                         "valid_token_error_rate": metrics["token_error_rate"],
                         "valid_loss": validation_loss(model, valid_set, config.reverse), "seconds": seconds,
                         "eval_seconds": time.perf_counter() - start, "lr": lr}, config)
        log(f"{name} epoch {epoch}: loss {loss_sum / max(tokens, 1):.4f}, "
            f"exact match {100 * metrics['exact_match']:.2f}% ({seconds:.1f} s training, lr {lr:g})")
        if target is not None and metrics["exact_match"] >= target:
            return progress.history, True
        if config.patience and progress.bad_epochs >= config.patience:
            log(f"  stopping early: no improvement for {progress.bad_epochs} epochs")
            break
        lr = next_lr(progress.history, lr, config)
        trainer.set_lr(lr)
    return progress.history, False


def twin_of(config, src_vocab_size, tgt_vocab_size):
    """The PyTorch twin of the model `config` describes, at PyTorch's own initialisation: the
    attention LSTM (one layer, no dropout, dot score) or the Transformer
    (benchmarks/torch_transformer.py, dropout included; no label smoothing)."""
    if config.model == "transformer" and not config.label_smoothing:
        return TorchTransformer(src_vocab_size, tgt_vocab_size, TransformerSeq2seq.sizes_of(config))
    if config.layers != 1 or config.dropout or config.model != "attention" or config.attention != "dot":
        raise ValueError("the PyTorch model has one layer, no dropout and dot attention (or is the Transformer "
                         "without label smoothing)")
    return TorchAttentionSeq2seq(src_vocab_size, tgt_vocab_size, config.embed_size, config.hidden_size, packed=True,
                                 bidirectional=config.bidirectional)


def source_arrays(src, src_mask, reverse):
    """Padded sources (N, S) and mask (N, S) as torch tensors, each source reversed within its
    real length when ``reverse`` (jumok's ``--reverse``: `jumok.layers.stack.reversal_index`)."""
    if reverse:
        src = np.take_along_axis(src, reversal_index(src_mask), axis=1)
    return torch.from_numpy(src), torch.from_numpy(src_mask)


def batch_inputs(batch, reverse):
    """A jumok `Batch` as the PyTorch model's inputs (src, src_mask, tgt_in, tgt_out, tgt_mask)."""
    src, src_mask = source_arrays(batch.src, batch.src_mask, reverse)
    tgt_mask = torch.from_numpy(batch.tgt_mask).to(torch.float32)
    return src, src_mask, torch.from_numpy(batch.tgt_in), torch.from_numpy(batch.tgt_out), tgt_mask


def validate(model, dataset, max_len, reverse, batch_size=256):
    """Greedy decoding of each unique validation source, scored against all its references
    (as `jumok.evaluation.evaluate_dataset`): {"n", "exact_match", "token_error_rate"}."""
    _, references, index = group_references([s for s, _ in dataset.pairs], [t for _, t in dataset.pairs])
    ids = [dataset.sources[pair] for pair in first_of_each(index)]
    vocab, predictions = dataset.tgt_vocab, []
    for start in range(0, len(ids), batch_size):
        src, src_mask = source_arrays(*pad(ids[start:start + batch_size], dataset.src_vocab.pad_id), reverse)
        out = model.greedy(src, src_mask, vocab.bos_id, vocab.eos_id, max_len)  # (N, ≤ max_len)
        predictions.extend(vocab.decode(row) for row in out.numpy())  # up to the first end token
    return multi_reference_score(predictions, references)


def validation_loss(model, dataset, reverse, batch_size=256):
    """Mean cross-entropy per real target token over `dataset`, teacher-forced (as
    `jumok.evaluation.validation_loss`)."""
    total = tokens = 0.0
    with torch.no_grad():
        for batch in dataset.batches(batch_size):
            loss = model(*batch_inputs(batch, reverse))
            count = int(batch.tgt_mask.sum())
            total, tokens = total + float(loss) * count, tokens + count
    return total / max(tokens, 1)
