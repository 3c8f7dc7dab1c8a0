"""Sequence metrics for seq2seq outputs.

A *sequence* is any indexable sequence of hashable tokens: a list of token strings or ids,
a tuple, or a plain string (one token per character).

Definitions
-----------
edit distance (Levenshtein)
    The least number of single-token insertions, deletions and substitutions (each of cost
    1) that turn ``a`` into ``b``.
exact match
    The fraction of pairs whose prediction equals its reference token for token.
token error rate (corpus level)
    ``sum(edit_distance(p, r)) / sum(len(r))`` over all pairs; it can exceed 1 when
    predictions are longer than references. When every reference is empty the rate is
    ``0.0`` if every prediction is empty too and ``inf`` otherwise.
per-position accuracy
    For position ``i`` (0-based, up to the longest reference): among references longer
    than ``i``, the fraction whose prediction has the same token at ``i`` (a prediction
    too short to have position ``i`` counts as wrong).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "edit_distance",
    "exact_match",
    "token_error_rate",
    "score",
    "per_position_accuracy",
    "report",
]


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between ``a`` and ``b`` (insert, delete, substitute: cost 1).

    Dynamic programme over one row of length ``len(b) + 1``: ``row[j]`` holds the distance
    between the prefix of ``a`` handled so far and ``b[:j]``. Time O(len(a) * len(b)),
    memory O(len(b)).
    """
    if len(a) < len(b):  # keep the row short; the distance is symmetric
        a, b = b, a
    if not b:
        return len(a)
    row = list(range(len(b) + 1))
    for i, token_a in enumerate(a, start=1):
        diagonal = row[0]  # distance(a[:i-1], b[:j-1]) for j = 1
        row[0] = i
        for j, token_b in enumerate(b, start=1):
            above = row[j]  # distance(a[:i-1], b[:j])
            row[j] = min(
                above + 1,  # delete token_a
                row[j - 1] + 1,  # insert token_b
                diagonal + (token_a != token_b),  # substitute (free when equal)
            )
            diagonal = above
    return row[-1]


def _check_pairs(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"predictions and references must have the same length, "
            f"got {len(predictions)} predictions and {len(references)} references"
        )


def _same(prediction: Sequence, reference: Sequence) -> bool:
    """Token-for-token equality that treats a list and a tuple (or string) alike."""
    return len(prediction) == len(reference) and all(
        p == r for p, r in zip(prediction, reference)
    )


def exact_match(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Fraction (0..1) of predictions equal to their reference; 0.0 for no pairs."""
    _check_pairs(predictions, references)
    if not references:
        return 0.0
    hits = sum(_same(p, r) for p, r in zip(predictions, references))
    return hits / len(references)


def token_error_rate(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> float:
    """Corpus-level token error rate: total edit distance over total reference length.

    When the references hold no tokens at all the rate is ``0.0`` if the predictions hold
    none either, and ``float('inf')`` otherwise (there is nothing to normalise by).
    """
    _check_pairs(predictions, references)
    errors = sum(edit_distance(p, r) for p, r in zip(predictions, references))
    total = sum(len(r) for r in references)
    if total == 0:
        return 0.0 if errors == 0 else float("inf")
    return errors / total


def score(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> dict:
    """All headline metrics at once: ``{"n", "exact_match", "token_error_rate"}``."""
    _check_pairs(predictions, references)
    return {
        "n": len(references),
        "exact_match": exact_match(predictions, references),
        "token_error_rate": token_error_rate(predictions, references),
    }


def per_position_accuracy(
    predictions: Sequence[Sequence], references: Sequence[Sequence]
) -> list[float]:
    """Accuracy at each position ``i`` in ``range(max reference length)``.

    Entry ``i`` is the fraction of references with ``len > i`` whose prediction has the
    same token at ``i``; a prediction shorter than ``i + 1`` counts as wrong there.
    """
    _check_pairs(predictions, references)
    longest = max((len(r) for r in references), default=0)
    hits = [0] * longest
    counts = [0] * longest
    for prediction, reference in zip(predictions, references):
        for i, token in enumerate(reference):
            counts[i] += 1
            if i < len(prediction) and prediction[i] == token:
                hits[i] += 1
    return [h / c for h, c in zip(hits, counts)]


def report(predictions: Sequence[Sequence], references: Sequence[Sequence]) -> dict:
    """`score` plus ``"per_position_accuracy"`` (a list, see `per_position_accuracy`) and
    ``"wrong"``, the number of predictions that differ from their reference."""
    result = score(predictions, references)
    result["per_position_accuracy"] = per_position_accuracy(predictions, references)
    result["wrong"] = sum(not _same(p, r) for p, r in zip(predictions, references))
    return result
