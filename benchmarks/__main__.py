"""`python -m benchmarks`: the training step and greedy decoding (benchmarks/step.py)."""

import sys

from benchmarks.step import main

sys.exit(main())
