"""Tests for jumok.metrics against hand-computed values and a naive recursive reference."""

import functools
import math
import random

import pytest

from jumok.metrics import (
    edit_distance,
    exact_match,
    per_position_accuracy,
    score,
    token_error_rate,
)


def naive_edit_distance(a, b):
    """Textbook recursive Levenshtein definition, memoised."""

    @functools.lru_cache(maxsize=None)
    def d(i, j):
        if i == 0:
            return j
        if j == 0:
            return i
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("kitten", "sitting", 3),
        ("", "x", 1),
        ("x", "", 1),
        ("", "", 0),
        ("abc", "abc", 0),
        ("flaw", "lawn", 2),
        ("abc", "cba", 2),
        ("abcd", "", 4),
        (["the", "cat"], ["the", "hat"], 1),
        (["<s>", "a"], ["a"], 1),
        ([1, 2, 3], (1, 2, 3), 0),
    ],
)
def test_edit_distance_hand_cases(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_edit_distance_matches_recursive_reference_and_metric_axioms():
    rng = random.Random(1234)
    for _ in range(300):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        c = "".join(rng.choice("abc") for _ in range(rng.randint(0, 7)))
        d_ab = edit_distance(a, b)
        assert d_ab == naive_edit_distance(a, b)
        assert d_ab == edit_distance(b, a)
        assert abs(len(a) - len(b)) <= d_ab <= max(len(a), len(b))
        assert (d_ab == 0) == (a == b)
        assert edit_distance(a, c) <= d_ab + edit_distance(b, c)
        assert edit_distance(list(a), list(b)) == d_ab


def test_exact_match():
    assert exact_match(["abc", "ab", "x"], ["abc", "abd", "x"]) == pytest.approx(2 / 3)
    assert exact_match([["a", "b"]], [("a", "b")]) == 1.0  # list vs tuple compare by tokens
    assert exact_match(["ab"], ["abc"]) == 0.0  # a prefix is not a match
    assert exact_match([], []) == 0.0


def test_length_mismatch_raises():
    for metric in (exact_match, token_error_rate, score, per_position_accuracy):
        with pytest.raises(ValueError, match="same length"):
            metric(["a", "b"], ["a"])


def test_token_error_rate_is_corpus_level():
    # distances 3 and 0 over reference lengths 7 and 3: 3 / 10, not mean(3/7, 0/3)
    assert token_error_rate(["kitten", "abc"], ["sitting", "abc"]) == pytest.approx(0.3)
    assert token_error_rate(["abc"], ["abc"]) == 0.0
    # predictions longer than references can push the rate above 1
    assert token_error_rate(["xxxx"], ["a"]) == pytest.approx(4.0)


def test_token_error_rate_with_empty_references():
    assert token_error_rate(["", ""], ["", ""]) == 0.0
    assert token_error_rate([[], ["a"]], [[], []]) == math.inf
    assert token_error_rate([], []) == 0.0


def test_score_keys_and_values():
    result = score(["abc", "abx"], ["abc", "abc"])
    assert set(result) == {"n", "exact_match", "token_error_rate"}
    assert result["n"] == 2
    assert result["exact_match"] == pytest.approx(0.5)
    assert result["token_error_rate"] == pytest.approx(1 / 6)


def test_per_position_accuracy():
    predictions = ["abc", "axc", "a", "abcd"]
    references = ["abc", "abc", "ab", "abcde"]
    # position 0: 4/4; 1: ref lengths >1 -> all 4, prediction has 'b' in 2 ("abc","abcd")
    # position 2: refs "abc","abc","abcde" -> preds "abc","axc","abcd" all have 'c' -> 3/3
    # position 3: ref "abcde" only, prediction "abcd" has 'd' -> 1/1
    # position 4: ref "abcde", prediction too short -> 0/1
    assert per_position_accuracy(predictions, references) == pytest.approx(
        [1.0, 0.5, 1.0, 1.0, 0.0]
    )
    assert per_position_accuracy([], []) == []
    assert per_position_accuracy(["abc"], [""]) == []
