#!/bin/sh
# G2P in one hour on two cores (docs/g2p.md#the-hour-with-the-transformer): two models trained
# side by side, each a single process on one core for 58 minutes, then decoded as one model
# on the test split with a beam of 5. Neither run looks at the test split (--dev-only); the
# one test scoring is the ensemble's, printed as JSON and kept in PREFIX-test.json with the
# wrong words in PREFIX-test-wrong.tsv. Each run's log is PREFIX-NAME.log.
#
#   sh scripts/g2p_hour.sh [PREFIX]          # PREFIX defaults to runs/g2p-hour
#
# The members, one line each: name, config, seed (chosen on dev, docs/g2p.md).
set -e
prefix=${1:-runs/g2p-hour}
minutes=${MINUTES:-58}  # of training, each member (MINUTES=1: one epoch each, about 4 minutes in all)
members="transformer configs/g2p-transformer.toml 0
lstm configs/g2p.toml 0"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1  # one core each: one BLAS thread a process
pids=""
runs=""
while read -r name config seed; do
    jumok train "$config" --dev-only --workers 1 --time-budget "$minutes" --seed "$seed" --quiet \
        --out "$prefix-$name" > "$prefix-$name.log" 2>&1 &
    pids="$pids $!"
    runs="$runs $prefix-$name"
done <<MEMBERS
$members
MEMBERS
for pid in $pids; do
    wait "$pid" || { echo "a member's training failed: see $prefix-*.log" >&2; exit 1; }
done
unset OPENBLAS_NUM_THREADS OMP_NUM_THREADS
set -- $runs
first=$1
shift
jumok data g2p --split test --out "$prefix-test.tsv"
jumok evaluate "$first" --ensemble "$@" --data "$prefix-test.tsv" --beam 5 --workers auto \
    --json --errors "$prefix-test-wrong.tsv" > "$prefix-test.json"
cat "$prefix-test.json"
