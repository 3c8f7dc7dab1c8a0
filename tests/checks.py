"""Helpers shared by the tests: gradient-check assertions, tiny data sets and runs, paths."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the repository root (src/, docs/, configs/ ...)

GRADIENT_TOLERANCE = 1e-6  # float64 central differences agree to ~1e-8 when backward is right


def assert_gradients_close(errors, tol=GRADIENT_TOLERANCE):
    """`errors` is gradcheck's {name: relative error}; name the worst one if it is too large."""
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{worst}: relative error {errors[worst]:.2e}"


def train_uppercase_run(root, seed, train_args):
    """Train a tiny char-level run in ROOT/run that upper-cases ~80 random a..f words
    (written to ROOT/train.tsv); return the run directory."""
    import numpy as np

    from jumok.cli import main
    from jumok.data.tsv import write_tsv

    rng = np.random.default_rng(seed)
    words = {"".join(rng.choice(list("abcdef"), rng.integers(2, 5))) for _ in range(80)}
    write_tsv(root / "train.tsv", [(w, w.upper()) for w in sorted(words)])
    assert main(["train", "--data", str(root / "train.tsv"), "--out", str(root / "run"), *train_args]) == 0
    return root / "run"


def write_reversal_tsv(path, seed, letters, count, lengths):
    """A TSV of distinct random words (`count` draws over `letters`, length in `lengths`)
    paired with their reversals: a tiny task any model learns. Returns `path`."""
    import numpy as np

    from jumok.data.tsv import write_tsv

    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list(letters), rng.integers(*lengths))) for _ in range(count)})
    write_tsv(path, [(w, w[::-1]) for w in words])
    return path
