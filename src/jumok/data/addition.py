"""A seeded generator of addition problems: ``"a+b"`` -> ``str(a + b)``.

Each operand first draws its number of digits uniformly from ``1..max_digits``, then a
value uniformly among the numbers with that many digits (one digit: 0..9), so short
operands are as common as long ones. Problems are unique; ``"3+5"`` and ``"5+3"`` are
different problems.
"""

import numpy as np


def _digit_counts(values):
    """Number of decimal digits of each non-negative integer (0 has one)."""
    return np.maximum(1, np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1)


def _operand_weights(max_digits):
    """Probability of each operand value 0 .. 10**max_digits - 1 under the digit-first draw."""
    values = np.arange(10**max_digits)
    digits = _digit_counts(values)
    numbers_with_digits = np.where(digits == 1, 10, 9 * 10 ** (digits - 1))
    return 1.0 / (max_digits * numbers_with_digits)  # (10**max_digits,)


def _draw_operands(rng, size, max_digits):
    """``size`` operands: digit count uniform in 1..max_digits, then a uniform value."""
    digits = rng.integers(1, max_digits + 1, size=size)  # (size,)
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    return rng.integers(low, 10**digits)  # (size,)


def generate_addition(n: int, seed: int, max_digits: int = 3) -> list[tuple[str, str]]:
    """``n`` unique pairs ``("a+b", "sum")`` fixed by ``seed``; see the module docstring.

    Raises ValueError if ``n`` exceeds the ``10**(2 * max_digits)`` distinct problems.
    """
    if max_digits < 1:
        raise ValueError(f"max_digits must be at least 1, got {max_digits}")
    total = 10 ** (2 * max_digits)
    if not 0 <= n <= total:
        raise ValueError(f"n={n}: there are only {total} distinct problems with "
                         f"operands of at most {max_digits} digits")
    rng = np.random.default_rng(seed)
    if total <= 1 << 22:
        a, b = _sample_exhaustively(rng, n, max_digits)
    else:
        a, b = _sample_by_rejection(rng, n, max_digits, total)
    return [(f"{x}+{y}", str(x + y)) for x, y in zip(a.tolist(), b.tolist())]


def _sample_exhaustively(rng, n, max_digits):
    """Weighted draw without replacement over all problems (Efraimidis-Spirakis keys).

    Same law as drawing with the digit-first rule and discarding repeats, but it stays
    fast when ``n`` is close to the number of problems.
    """
    w = _operand_weights(max_digits)
    weights = np.outer(w, w).ravel()  # (total,) problem a*10**D + b
    keys = rng.exponential(size=weights.size) / weights
    chosen = np.argsort(keys, kind="stable")[:n]  # (n,) smallest keys first = draw order
    return np.divmod(chosen, 10**max_digits)


def _sample_by_rejection(rng, n, max_digits, total):
    """Draw problems with the digit-first rule, dropping repeats (for large ``total``)."""
    if n > total // 2:
        raise ValueError(f"n={n} is too close to the {total} distinct problems; lower n")
    seen, order = set(), []
    while len(order) < n:
        chunk = max(1024, 2 * (n - len(order)))
        a = _draw_operands(rng, chunk, max_digits)  # (chunk,)
        b = _draw_operands(rng, chunk, max_digits)  # (chunk,)
        codes = a * 10**max_digits + b
        for code in codes.tolist():
            if code not in seen:
                seen.add(code)
                order.append(code)
                if len(order) == n:
                    break
    return np.divmod(np.array(order, dtype=np.int64), 10**max_digits)
