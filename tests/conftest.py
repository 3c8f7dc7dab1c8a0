"""Fixtures shared by the whole suite (pytest finds them here; no import needed).

- `rng`, `mask`: the seeded generator and the (N=3, S=5) source mask of the attention and
  score tests.
- `uppercase_run(seed, train_args)`: a tiny trained char-level run (checks.train_uppercase_run),
  trained once per session for each distinct (seed, train_args) and shared by every module
  that asks for the same pair. It is shared read-only: a test that changes a run directory
  works on a copy (`shutil.copytree`).
"""

import numpy as np
import pytest
from checks import train_uppercase_run


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def mask():
    return np.arange(5)[None, :] < np.array([5, 2, 4])[:, None]  # (N, S) = (3, 5)


@pytest.fixture(scope="session")
def uppercase_run(tmp_path_factory):
    """uppercase_run(seed, train_args) -> the run directory (its train.tsv lies beside it)."""
    runs = {}  # (seed, train_args) -> run directory

    def get(seed, train_args):
        key = (seed, tuple(train_args))
        if key not in runs:
            runs[key] = train_uppercase_run(tmp_path_factory.mktemp(f"uppercase-{seed}"), seed, list(train_args))
        return runs[key]

    return get
