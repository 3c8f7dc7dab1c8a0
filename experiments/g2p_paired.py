"""Two G2P systems on the same words, compared word by word: jumok (the wrong words of
``jumok evaluate --errors``) against Phonetisaurus (the predictions `experiments.g2p_baselines`
keeps), both scored against the split's references as jumok scores them (a word is right
when its prediction equals any of its pronunciations) — or against another jumok model (its
own ``--errors`` file).

    PYTHONPATH=src python -m experiments.g2p_paired --split test --jumok-errors wrong.tsv \\
        --phonetisaurus runs/g2p-baselines/o11/test-words.predictions.tsv [--out FILE]
    PYTHONPATH=src python -m experiments.g2p_paired --split test --jumok-errors wrong.tsv \\
        --other-errors other-wrong.tsv [--out FILE]

With n words, b of them right for jumok alone and c right for Phonetisaurus alone, the
difference of the word error rates is WER_jumok − WER_phonetisaurus = (c − b) / n. Its
paired standard error is sqrt((b + c) / n − ((c − b) / n)²) / sqrt(n) (the words both get
right or both get wrong cancel), and McNemar's exact test asks how likely a split of the
b + c discordant words at least this uneven is when each is a fair coin:
p = min(1, 2 Σ_{k ≤ min(b, c)} C(b + c, k) / 2^(b + c)), computed in integers.
"""

import argparse
import datetime
import math
import sys
from pathlib import Path

from benchmarks.common import write_record
from experiments import RESULTS
from experiments.g2p_baselines import parse_apply_output
from jumok.data.g2p import g2p_splits
from jumok.data.tokens import tokenize_pairs
from jumok.metrics import group_references


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value for b and c discordant pairs."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)


def paired(jumok_right, other_right):
    """The paired comparison of two lists of per-word booleans (right / wrong)."""
    n = len(jumok_right)
    b = sum(j and not o for j, o in zip(jumok_right, other_right))
    c = sum(o and not j for j, o in zip(jumok_right, other_right))
    difference = (c - b) / n
    return {"n": n, "jumok_wer": 1 - sum(jumok_right) / n, "other_wer": 1 - sum(other_right) / n,
            "jumok_only_right": b, "other_only_right": c, "wer_difference": difference,
            "wer_difference_standard_error": math.sqrt(max((b + c) / n - difference ** 2, 0.0) / n),
            "mcnemar_p": mcnemar_exact(b, c)}


def words_and_references(pairs):
    """(the distinct words in order, their lists of references as phone lists)."""
    tokens = tokenize_pairs(pairs, "char", "space", "split")
    sources, references, _ = group_references([s for s, _ in tokens], [t for _, t in tokens])
    return ["".join(source) for source in sources], references


def wrong_words(errors_path, words):
    """The words of a ``jumok evaluate --errors`` file (source<TAB>reference<TAB>prediction)."""
    known, wrong = set(words), set()
    for number, line in enumerate(Path(errors_path).read_text(encoding="utf-8").splitlines(), start=1):
        word = line.split("\t", 1)[0]
        if word not in known:
            sys.exit(f"{errors_path}, line {number}: {word!r} is not a word of this split")
        wrong.add(word)
    return wrong


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--jumok-errors", required=True, help="the --errors file of jumok evaluate on the split")
    other = parser.add_mutually_exclusive_group(required=True)
    other.add_argument("--phonetisaurus", help="phonetisaurus-apply's output on the split's words")
    other.add_argument("--other-errors", help="another jumok model's --errors file on the split")
    parser.add_argument("--out", help="the JSON record (default experiments/results/g2p-paired-SPLIT-DATE.json)")
    args = parser.parse_args(argv)
    words, references = words_and_references(g2p_splits(log=print)[args.split])
    wrong = wrong_words(args.jumok_errors, words)
    if args.other_errors:
        name, other_wrong = "the other", wrong_words(args.other_errors, words)
        other_right = [word not in other_wrong for word in words]
    else:
        name, predictions = "Phonetisaurus", parse_apply_output(Path(args.phonetisaurus).read_text(encoding="utf-8"))
        other_right = [predictions.get(word, []) in refs for word, refs in zip(words, references)]
    result = paired([word not in wrong for word in words], other_right)
    print(f"{result['n']:,} {args.split} words: WER jumok {100 * result['jumok_wer']:.2f} %, "
          f"{name} {100 * result['other_wer']:.2f} %; difference {100 * result['wer_difference']:+.2f} "
          f"points (paired standard error {100 * result['wer_difference_standard_error']:.2f}); right for one "
          f"alone: jumok {result['jumok_only_right']}, {name} {result['other_only_right']}; "
          f"McNemar exact p = {result['mcnemar_p']:.2g}")
    record = {"split": args.split, **result, "jumok_errors": args.jumok_errors,
              **({"other_errors": args.other_errors} if args.other_errors else {"phonetisaurus": args.phonetisaurus}),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_record(record, args.out or RESULTS / f"g2p-paired-{args.split}-{datetime.date.today().isoformat()}.json")


if __name__ == "__main__":
    main()
