"""Turning text into token lists and back.

Two modes: ``"char"`` (every character is a token, the default for dates and addition)
and ``"space"`` (whitespace-separated tokens, e.g. words or phonemes ``AH T EH N SH AH N``).
"""

from jumok.data.vocab import SPECIALS
from jumok.errors import DataError

TOKEN_MODES = {"char": "every character a token", "space": "split at whitespace"}
"""The token modes by name (`Config.source_tokens`, `Config.target_tokens`)."""


def _check_mode(mode):
    if mode not in TOKEN_MODES:
        raise ValueError(f"unknown token mode {mode!r}, expected one of {tuple(TOKEN_MODES)}")


def tokenize(text: str, mode: str = "char") -> list[str]:
    """Split ``text`` into tokens: characters (``"char"``) or whitespace words (``"space"``)."""
    _check_mode(mode)
    return list(text) if mode == "char" else text.split()


def detokenize(tokens, mode: str = "char") -> str:
    """Join tokens back into text: without a separator (``"char"``) or with spaces (``"space"``)."""
    _check_mode(mode)
    return ("" if mode == "char" else " ").join(tokens)


def tokenize_side(text: str, mode: str, what: str) -> list[str]:
    """Tokens of one side of a training pair, checked for use in a vocabulary.

    Raises `DataError` if there is no token (an empty text, or only whitespace in space
    mode) or if a token is one of the reserved special names (``<pad>``, ``<s>``, ...),
    which only space mode can produce. ``what`` starts the message, e.g.
    ``"train.tsv:3: target"``.
    """
    tokens = tokenize(text, mode)
    if not tokens:
        if not text:
            raise DataError(f"{what} is empty")
        raise DataError(f"{what} is only whitespace, which gives no tokens in {mode} mode")
    reserved = [token for token in tokens if token in SPECIALS]
    if reserved:
        raise DataError(f"{what} has the token {reserved[0]!r}, a name reserved for the vocabulary's "
                        f"special tokens ({' '.join(SPECIALS)})")
    return tokens


def tokenize_pairs(pairs, source_mode: str = "char", target_mode: str = "char", name: str = "training"):
    """Token-list pairs of text ``pairs``: sources split in ``source_mode``, targets in ``target_mode``.

    Each side is checked by `tokenize_side`; a message names the pair as
    ``"{name} pair {number}"`` (counted from 1). Pairs read from files were already
    checked with their file and line, so this matters for generated or hand-made pairs.
    """
    return [(tokenize_side(source, source_mode, f"{name} pair {number}: source"),
             tokenize_side(target, target_mode, f"{name} pair {number}: target"))
            for number, (source, target) in enumerate(pairs, start=1)]
