"""Turning text into token lists and back.

Two modes: ``"char"`` (every character is a token, the default for dates and addition)
and ``"space"`` (whitespace-separated words).
"""

TOKEN_MODES = ("char", "space")


def _check_mode(mode):
    if mode not in TOKEN_MODES:
        raise ValueError(f"unknown token mode {mode!r}, expected one of {TOKEN_MODES}")


def tokenize(text: str, mode: str = "char") -> list[str]:
    """Split ``text`` into tokens: characters (``"char"``) or whitespace words (``"space"``)."""
    _check_mode(mode)
    return list(text) if mode == "char" else text.split()


def detokenize(tokens, mode: str = "char") -> str:
    """Join tokens back into text: without a separator (``"char"``) or with spaces (``"space"``)."""
    _check_mode(mode)
    return ("" if mode == "char" else " ").join(tokens)
