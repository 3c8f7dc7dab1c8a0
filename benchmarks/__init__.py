"""Speed benchmarks for jumok (run `python -m benchmarks --help`). Not part of the package."""
