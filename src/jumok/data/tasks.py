"""Where a run's (source, target) text pairs come from: a generated task or TSV files."""

from jumok.data.addition import generate_addition
from jumok.data.batching import split_holdout
from jumok.data.dates import generate_dates
from jumok.data.tsv import read_tsv

GENERATORS = {"date": generate_dates, "addition": generate_addition}


def load_pairs(config):
    """(train_pairs, valid_pairs) of text for a `Config`.

    With `data` set, it is read as TSV; `valid` is read too, or else `valid_fraction` of the
    data is held out by a seeded shuffle. Otherwise `n_examples` pairs of the built-in task
    are generated from `seed` and split the same way.
    """
    if config.data:
        pairs = read_tsv(config.data)
    else:
        pairs = GENERATORS[config.task](config.n_examples, seed=config.seed)
    if config.valid:
        return pairs, read_tsv(config.valid)
    return split_holdout(pairs, config.valid_fraction, seed=config.seed)
