#!/bin/sh
# The G2P ensemble of docs/g2p.md#results in one command: two runs of configs/g2p.toml
# (seeds 0 and 1, 29 minutes of training each, every core), then the two decoded as one
# model on the test split with a beam of 5. Neither run looks at the test split itself
# (--dev-only); the one test scoring is the ensemble's, printed as JSON and kept in
# PREFIX-test.json with the wrong words in PREFIX-test-wrong.tsv.
#
#   sh scripts/g2p_ensemble.sh [PREFIX]          # PREFIX defaults to runs/g2p
set -e
prefix=${1:-runs/g2p}
for seed in 0 1; do
    jumok train configs/g2p.toml --dev-only --seed "$seed" --out "$prefix-seed$seed"
done
jumok data g2p --split test --out "$prefix-test.tsv"
jumok evaluate "$prefix-seed0" --ensemble "$prefix-seed1" --data "$prefix-test.tsv" --beam 5 --workers auto \
    --json --errors "$prefix-test-wrong.tsv" > "$prefix-test.json"
cat "$prefix-test.json"
