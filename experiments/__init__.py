"""Finished investigations, each with the records its figures in docs/*.md come from
(experiments/results/). Not part of the package; the speed benchmarks, and the library these
share with them, are in benchmarks/.

    python -m experiments.oracle             why PyTorch learned faster on the same maths
    python -m experiments.robustness         does jumok learn files written elsewhere, every seed
    python -m experiments.robustness_oracle  the same tasks and seeds through the PyTorch model
    python -m experiments.g2p_baselines      Phonetisaurus on jumok's G2P split
    python -m experiments.g2p_paired         jumok against Phonetisaurus, word by word

Each takes --help; `python -m experiments` prints this list.
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
