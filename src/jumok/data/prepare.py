"""From a `Config` to what training reads: text pairs → tokens → vocabularies and encoded
datasets, and the decoding length limit when the config leaves it to the data."""

from jumok.data.batching import Dataset
from jumok.data.tasks import drop_long_pairs, load_pairs
from jumok.data.tokens import tokenize_pairs
from jumok.data.vocab import Vocab
from jumok.errors import DataError
from jumok.metrics import group_references


def prepare(config, log=print):
    """Text pairs → vocabularies and encoded datasets; fixes the decoding length limit and,
    with ``batch_size`` auto (0), the batch size.

    Sources are tokenised in `config.source_tokens` mode, targets in `config.target_tokens`
    mode (training and validation alike). With `config.max_length`, training pairs with more
    tokens than that on either side are dropped before the vocabularies are built; `log`
    reports how many. Validation pairs are never dropped; `log` also says how many unique
    sources they have when sources repeat (alternative references, see
    `jumok.evaluation.evaluate_dataset`).
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
    if not config.batch_size:
        config = config.replace(batch_size=auto_batch_size(len(train_set)))
    return config, train_set, valid_set


AUTO_BATCH = 128  # the chapter's batch, for training sets of 8,192 pairs or more
MIN_STEPS = 64  # a smaller set gets smaller batches: at least this many steps an epoch


def auto_batch_size(pairs):
    """``batch_size = auto``: the largest power of two ≤ pairs / `MIN_STEPS`, between 8 and
    `AUTO_BATCH` (3,000 pairs → 32, 94 steps an epoch). On 3,000 digits → words pairs batches
    of 128 (24 steps an epoch) left 4 of 5 seeds one to four pairs short of 100 %; batches of
    32 reached it (docs/results.md#defaults-for-a-users-file)."""
    size = 8
    while size * 2 <= min(AUTO_BATCH, pairs / MIN_STEPS):
        size *= 2
    return size


def check_positions(limit, train_set, valid_set, model="model"):
    """`DataError` (one line) for the first pair a model with `limit` positions cannot read
    (None: no limit): a source of more than `limit` tokens, or a target of more than
    `limit` − 1 (teacher forcing feeds the start token first). Training pairs come first,
    with the --max-length that drops them; validation pairs are never dropped."""
    if limit is None:
        return
    for name, dataset, fix in (("training", train_set, f"--max-length {limit - 1} drops longer training pairs"),
                               ("validation", valid_set, "validation pairs are never dropped: shorten or remove it")):
        for side, lengths, most, reads in (("source", dataset.source_lengths, limit, "reads"),
                                           ("target", dataset.target_lengths, limit - 1, "writes")):
            over = (lengths > most).nonzero()[0]
            if over.size:
                first, count = int(over[0]), int(lengths[over[0]])
                why = "its positions" if side == "source" else f"its {limit:,} positions, one for the start token"
                raise DataError(f"{name} pair {first + 1:,} of {len(dataset):,} has a {side} of {count:,} tokens; "
                                f"this {model} {reads} at most {most:,} ({why}): {fix}")
