"""Data: tokens, vocabularies, batches, pair files, the built-in generated tasks and the CMU
dictionary's grapheme-to-phoneme pairs; `TASKS` is the registry of tasks (`jumok.data.tasks`)."""

from jumok.data.addition import generate_addition
from jumok.data.batching import Batch, Dataset, make_batch, pad, split_holdout
from jumok.data.dates import (
    CASE_STYLES,
    CHAPTER_FORMATS,
    DATE_FORMATS,
    TWO_DIGIT_YEAR_PIVOT,
    expand_two_digit_year,
    format_date,
    generate_chapter_dates,
    generate_dates,
)
from jumok.data.g2p import g2p_splits, parse_cmudict, split_of
from jumok.data.tasks import TASKS, Task, load_pairs, load_test_pairs
from jumok.data.tokens import TOKEN_MODES, detokenize, tokenize
from jumok.data.tsv import read_tsv, write_tsv
from jumok.data.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "BOS", "CASE_STYLES", "CHAPTER_FORMATS", "DATE_FORMATS", "EOS", "PAD", "SPECIALS", "TASKS", "TOKEN_MODES",
    "TWO_DIGIT_YEAR_PIVOT", "UNK", "Batch", "Dataset", "Task", "Vocab", "detokenize",
    "expand_two_digit_year", "format_date", "g2p_splits", "generate_addition", "generate_chapter_dates",
    "generate_dates", "load_pairs", "load_test_pairs",
    "make_batch", "pad", "parse_cmudict", "read_tsv", "split_holdout", "split_of", "tokenize", "write_tsv",
]
