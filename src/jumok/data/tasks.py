"""Where a run's (source, target) text pairs come from: a generated task or pair files."""

from jumok.data.addition import generate_addition
from jumok.data.batching import split_holdout
from jumok.data.dates import generate_chapter_dates, generate_dates
from jumok.data.dlfs2 import read_dlfs2
from jumok.data.g2p import g2p_splits
from jumok.data.tsv import read_tsv
from jumok.errors import DataError

GENERATORS = {"date": generate_dates, "date-chapter": generate_chapter_dates, "addition": generate_addition}
READERS = {"tsv": read_tsv, "dlfs2": read_dlfs2}  # by Config.data_format


def read_pairs(path, data_format: str = "tsv", source_tokens: str = "char", target_tokens: str = "char"):
    """Text pairs of the file ``path`` in ``data_format`` (``"tsv"`` or ``"dlfs2"``).

    The token modes let the reader reject, with the file and line, a side that would give
    no tokens or a reserved token name.
    """
    if data_format not in READERS:
        raise ValueError(f"unknown data format {data_format!r}, expected one of {tuple(READERS)}")
    return READERS[data_format](path, source_tokens=source_tokens, target_tokens=target_tokens)


def load_pairs(config, log=None):
    """(train_pairs, valid_pairs) of text for a `Config`.

    With `data` set, it is read in `data_format`; `valid` is read too (same format), or else
    `valid_fraction` of the data is held out by a seeded shuffle. Task ``g2p`` takes the
    CMU dictionary's fixed train split and its dev split (or `valid`; see `jumok.data.g2p`),
    `log` hearing the counts. Otherwise `n_examples` pairs of the built-in task are
    generated from `seed` and split the same way as a file.
    """
    def read(path):
        return read_pairs(path, config.data_format, config.source_tokens, config.target_tokens)

    if config.task == "g2p":
        splits = g2p_splits(config.keep_stress, log)
        return splits["train"], read(config.valid) if config.valid else splits["dev"]
    if config.data:
        pairs = read(config.data)
    else:
        pairs = GENERATORS[config.task](config.n_examples, seed=config.seed)
    if config.valid:
        return pairs, read(config.valid)
    return split_holdout(pairs, config.valid_fraction, seed=config.seed)


def load_test_pairs(config):
    """The pairs to score once after training: the test split for task ``g2p``, else None."""
    if config.task == "g2p":
        return g2p_splits(config.keep_stress)["test"]
    return None


def drop_long_pairs(token_pairs, max_length: int):
    """The token-list pairs whose source and target both have at most ``max_length`` tokens.

    Raises `DataError` if that leaves none, saying how short the shortest pair is.
    """
    kept = [(source, target) for source, target in token_pairs
            if len(source) <= max_length and len(target) <= max_length]
    if not kept and token_pairs:
        shortest = min(max(len(source), len(target)) for source, target in token_pairs)
        raise DataError(f"max_length {max_length} drops all {len(token_pairs)} training pairs: the shortest has "
                        f"{shortest} tokens on its longer side")
    return kept
