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

Several references per source
-----------------------------
When a source has more than one correct output (a word with two pronunciations), pairs
that share a source are grouped (`group_references`) and each unique source is scored once
against its list of references:

closest reference
    The reference with the least edit distance to the prediction; among equally close
    ones the longest, so the choice never depends on the order of the references.
exact match
    The fraction of sources whose prediction equals *any* of their references.
token error rate
    ``sum(distance to the closest reference) / sum(len(closest reference))`` over sources.
per-position accuracy
    As above, against each source's closest reference.

With one reference per source these are exactly the single-reference metrics. In
grapheme-to-phoneme conversion, ``1 - exact match`` is the *word error rate* (WER) and the
token error rate over phones is the *phone error rate* (PER).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "closest_reference",
    "edit_distance",
    "exact_match",
    "group_references",
    "multi_reference_report",
    "multi_reference_score",
    "per_position_accuracy",
    "report",
    "score",
    "token_error_rate",
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
    return _rate(errors, sum(len(r) for r in references))


def _rate(errors: int, total: int) -> float:
    """errors / total, with ``0.0`` (no errors) or ``inf`` when there are no reference tokens."""
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


# ---------------------------------------------------------------------------------------
# Several references per source


def group_references(sources: Sequence[Sequence], references: Sequence[Sequence]):
    """Group ``(source, reference)`` pairs by source.

    Returns ``(unique_sources, references_per_source, index)``: the distinct sources in
    order of first appearance, for each the list of its distinct references (in order of
    appearance), and for every pair the position of its source in ``unique_sources``.
    Sources and references are compared token for token (a list equals the tuple or
    string with the same tokens).
    """
    _check_pairs(sources, references)
    positions, unique_sources, grouped, index = {}, [], [], []
    for source, reference in zip(sources, references):
        key = tuple(source)
        if key not in positions:
            positions[key] = len(unique_sources)
            unique_sources.append(source)
            grouped.append([])
        where = positions[key]
        if not any(_same(reference, seen) for seen in grouped[where]):
            grouped[where].append(reference)
        index.append(where)
    return unique_sources, grouped, index


def closest_reference(prediction: Sequence, references: Sequence[Sequence]):
    """``(distance, reference)``: the reference with the least edit distance to
    ``prediction``, the longest among equally close ones (the first of those if several
    have the same length). ``references`` must not be empty."""
    if not references:
        raise ValueError("a source needs at least one reference")
    best = None
    for reference in references:
        key = (edit_distance(prediction, reference), -len(reference))
        if best is None or key < best[0]:
            best = (key, reference)
    return best[0][0], best[1]


def multi_reference_score(predictions: Sequence[Sequence], references: Sequence[Sequence[Sequence]]) -> dict:
    """``{"n", "exact_match", "token_error_rate"}`` with a list of references per prediction.

    ``references[i]`` holds the correct outputs for the source of ``predictions[i]`` (one
    prediction per unique source; see `group_references`). ``n`` counts sources. Exact
    match: the prediction equals any reference. Token error rate: the summed distances to
    the closest references over the summed lengths of those references (``0.0`` / ``inf``
    as in `token_error_rate` when those lengths are all zero).
    """
    _check_pairs(predictions, references)
    return _closest_score([closest_reference(p, refs) for p, refs in zip(predictions, references)])


def _closest_score(closest) -> dict:
    """The headline metrics from each prediction's ``(distance, closest reference)``."""
    rate = _rate(sum(distance for distance, _ in closest), sum(len(reference) for _, reference in closest))
    hits = sum(distance == 0 for distance, _ in closest)
    return {"n": len(closest), "exact_match": hits / len(closest) if closest else 0.0, "token_error_rate": rate}


def multi_reference_report(predictions: Sequence[Sequence], references: Sequence[Sequence[Sequence]]) -> dict:
    """`multi_reference_score` plus ``"per_position_accuracy"`` (against each prediction's
    closest reference) and ``"wrong"``, the number of predictions that match no reference."""
    _check_pairs(predictions, references)
    closest = [closest_reference(p, refs) for p, refs in zip(predictions, references)]
    result = _closest_score(closest)
    result["per_position_accuracy"] = per_position_accuracy(predictions, [reference for _, reference in closest])
    result["wrong"] = sum(distance > 0 for distance, _ in closest)
    return result
