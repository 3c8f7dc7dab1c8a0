"""Scoring a model on data: validation after each epoch (`evaluate_dataset`, `validation_loss`);
after training, the test split (`score_test`) and the attention picture of a few validation
examples (`draw_examples`).

With several workers (`jumok.parallel`) every rank decodes its contiguous share of the
sources and the outputs are gathered in input order (`decode_shared`); rank 0 alone writes."""

import json
import time
from pathlib import Path

import numpy as np

from jumok.atomic import write_text
from jumok.backend import to_device
from jumok.data.batching import Dataset
from jumok.data.tasks import load_test_pairs
from jumok.data.tokens import detokenize, tokenize_pairs
from jumok.decoding import Hypothesis, Search, decode
from jumok.layers.base import evaluating
from jumok.maps import cross_attention
from jumok.metrics import group_references, multi_reference_score
from jumok.parallel import World
from jumok.rundir.files import TEST
from jumok.threads import usable_threads


def first_of_each(index):
    """The position of the first pair of each unique source, in order of first appearance,
    given `index` (pair → its source's number, as `jumok.metrics.group_references` numbers
    them)."""
    firsts = []
    for pair, source in enumerate(index):
        if source == len(firsts):
            firsts.append(pair)
    return firsts


def decode_shared(world, model, ids, pad_id, search):
    """`jumok.decoding.decode` of the sources `ids`, shared out among the ranks of `world`: each
    decodes its contiguous part, and every rank gets all the hypotheses back in input order,
    the same as one process decodes (no attention maps: scoring reads the tokens)."""
    mine = decode(model, world.shard(ids), pad_id, search)
    if world.size == 1:
        return mine
    sent = [[(h.tokens.tolist(), h.ended, h.log_prob, h.score) for h in hyps] for hyps in mine]
    return [[Hypothesis(np.asarray(tokens, dtype=np.int64), ended, log_prob, score)
             for tokens, ended, log_prob, score in hyps] for hyps in world.gather(sent)]


def evaluate_dataset(model, dataset, max_len, batch_size=256, beam=1, world=None):
    """Batched greedy (or beam) decoding of a Dataset → (metrics dict, outputs): each output
    the best hypothesis's tokens.

    Pairs that share a source are alternative references (`jumok.metrics.group_references`):
    each unique source is decoded once, in order of first appearance, and scored against all
    of its references (`jumok.metrics.multi_reference_score`); ``n`` and the outputs are
    one per unique source. With one pair per source this is plain single-reference scoring.
    The ranks of `world` share the decoding (`decode_shared`).
    """
    _, references, index = group_references([s for s, _ in dataset.pairs], [t for _, t in dataset.pairs])
    ids = [dataset.sources[pair] for pair in first_of_each(index)]
    vocab = dataset.tgt_vocab
    search = Search(vocab.bos_id, vocab.eos_id, max_len, beam, rows=batch_size, threads=usable_threads())
    hypotheses = decode_shared(world or World(), model, ids, dataset.src_vocab.pad_id, search)
    outputs = [vocab.decode(hyps[0].tokens) for hyps in hypotheses]
    return multi_reference_score(outputs, references), outputs


def validation_loss(model, dataset, batch_size=256, world=None):
    """The training loss on `dataset` with teacher forcing, dropout off: Σ over the batches of
    (mean cross-entropy of the batch's real target tokens × their count) ÷ all their count.

    The ranks of `world` take contiguous shares of the batches and add their sums up, so
    every rank gets the same number (up to float rounding, the one process's)."""
    world = world or World()
    total = tokens = 0.0
    with evaluating(model):
        for batch in world.shard(list(dataset.batches(batch_size))):
            count = int(batch.tgt_mask.sum())
            arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
            total += float(model.forward(*(to_device(a, model.xp) for a in arrays))) * count
            tokens += count
    total, tokens = world.sum([total, tokens])
    return total / max(tokens, 1)


def score_test(config, model, train_set, out_dir, log=print, world=None):
    """Score the task's test split once with `model` as it is (run_training has loaded the
    best parameters), decoding with beam `config.test_beam` (0: `config.beam`).

    Only task ``g2p`` has a test split; for the others, and with ``config.dev_only``, this
    does nothing and returns None.
    Writes ``out_dir/test.json``: ``n`` (unique words), ``pairs``, ``wer`` (= 1 − exact
    match), ``per`` (= token error rate: phone errors to the closest pronunciation over its
    length), ``exact_match``, ``token_error_rate``, ``beam`` and ``seconds``; logs the
    figures and returns them. The ranks of `world` share the decoding; rank 0 writes.
    """
    world = world or World()
    if config.dev_only:
        return None
    pairs = load_test_pairs(config)
    if pairs is None:
        return None
    tokens = tokenize_pairs(pairs, config.source_tokens, config.target_tokens, "test")
    test_set = Dataset(tokens, train_set.src_vocab, train_set.tgt_vocab, unknown="unk")
    beam = config.test_beam or config.beam
    start = time.perf_counter()
    metrics, _ = evaluate_dataset(model, test_set, config.max_output_length, beam=beam, world=world)
    result = {"n": metrics["n"], "pairs": len(test_set), "wer": 1 - metrics["exact_match"],
              "per": metrics["token_error_rate"], **metrics, "beam": beam,
              "seconds": round(world.max(time.perf_counter() - start), 1)}
    if not world.is_root:
        return result
    write_text(Path(out_dir) / TEST, json.dumps(result, indent=2) + "\n")
    log(f"test: {result['n']} words, WER {100 * result['wer']:.2f}%, PER {100 * result['per']:.2f}% "
        f"(beam {beam}, {result['seconds']:.0f} s); wrote {Path(out_dir) / TEST}")
    return result


def draw_examples(model, dataset, config, path, count=4):
    """The cross-attention (`jumok.maps.cross_attention`) of the first few validation
    examples, greedily decoded, in one picture."""
    from jumok import viz  # matplotlib is imported only when drawing

    vocab = dataset.tgt_vocab
    search = Search(vocab.bos_id, vocab.eos_id, config.max_output_length)
    hypotheses = decode(model, dataset.sources[:count], dataset.src_vocab.pad_id, search, maps=True)
    examples = []
    for (source, target), (best,) in zip(dataset.pairs[:count], hypotheses):
        tokens = vocab.decode(best.tokens)
        mark = "✓" if tokens == target else "✗"
        text = f"{detokenize(source, config.source_tokens)} → {detokenize(tokens, config.target_tokens)}"
        examples.append((cross_attention(best.maps), source, best.steps(vocab), f"{text} {mark}"))
    return viz.plot_attention_grid(examples, path)
