"""The material for docs/g2p.md from a finished `jumok train --task g2p` run.

    python scripts/g2p_report.py runs/g2p-attention [--out docs] [--beam 5]

Writes into --out (default docs/):

    g2p-curves.png      training loss, dev WER and dev PER per epoch
    g2p-attention.png   attention heatmaps of a few hard spellings (silent letters, "ough")

and prints markdown: the per-epoch table, the test figures (decoding the test split again
with the run's best parameters, which must give RUN/test.json's numbers), the commonest
phone errors on the test split and some wrong words. An error is one edit of the
alignment between a wrong prediction and its closest reference (least edit distance; see
`jumok.metrics.closest_reference`): a substitution ``ref → predicted``, a deletion (a
reference phone left out) or an insertion (a phone the reference does not have).
"""

import argparse
import json
import random
from collections import Counter
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from jumok import viz
from jumok.data.batching import Dataset
from jumok.data.g2p import split_of
from jumok.data.tasks import load_test_pairs
from jumok.data.tokens import tokenize_pairs
from jumok.decoding import Search, decode
from jumok.evaluation import evaluate_dataset
from jumok.maps import cross_attention
from jumok.metrics import closest_reference, group_references
from jumok.models import load_run
from jumok.rundir import TEST

WORDS = ["knight", "psychology", "island", "colonel", "through", "though", "thought", "rough"]  # silent letters, "ough"


def alignment(prediction, reference):
    """The edits of one least-cost alignment: ``("sub", ref, pred)``, ``("del", ref, None)``,
    ``("ins", None, pred)`` (matches left out), by backtracking the Levenshtein table."""
    rows, cols = len(reference) + 1, len(prediction) + 1
    table = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        table[i][0] = i
    for j in range(cols):
        table[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1,
                              table[i - 1][j - 1] + (reference[i - 1] != prediction[j - 1]))
    edits, i, j = [], len(reference), len(prediction)
    while i or j:
        if i and j and table[i][j] == table[i - 1][j - 1] + (reference[i - 1] != prediction[j - 1]):
            if reference[i - 1] != prediction[j - 1]:
                edits.append(("sub", reference[i - 1], prediction[j - 1]))
            i, j = i - 1, j - 1
        elif i and table[i][j] == table[i - 1][j] + 1:
            edits.append(("del", reference[i - 1], None))
            i -= 1
        else:
            edits.append(("ins", None, prediction[j - 1]))
            j -= 1
    return edits[::-1]


def plot_curves(history, path):
    """Three panels by epoch: training loss, dev WER (%), dev PER (%)."""
    epochs = [h["epoch"] for h in history]
    fig = Figure(figsize=(11, 3.4), layout="constrained")
    panels = [("training loss (per phone)", [h["train_loss"] for h in history]),
              ("dev WER (%)", [100 * (1 - h["valid_exact_match"]) for h in history]),
              ("dev PER (%)", [100 * h["valid_token_error_rate"] for h in history])]
    for ax, (label, values) in zip(fig.subplots(1, 3), panels):
        ax.plot(epochs, values, marker="o", markersize=3)
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def plot_words(run, words, path, beam):
    """Attention heatmaps of ``words`` (those the run can spell), in one grid; each title says
    which split the word is in (a train word was seen in training)."""
    words = [w for w in words if all(c in run.src_vocab for c in w)]
    ids = [run.src_vocab.encode(list(w)) for w in words]
    vocab = run.tgt_vocab
    search = Search(vocab.bos_id, vocab.eos_id, run.config.max_output_length, beam)
    found = decode(run.model, ids, run.src_vocab.pad_id, search, maps=True)
    examples = [(cross_attention(best.maps), list(w), best.steps(vocab),
                 f"{w} ({split_of(w)}) → {' '.join(vocab.decode(best.tokens))}")
                for w, (best, *_) in zip(words, found)]
    return viz.plot_attention_grid(examples, path, columns=4)


def test_errors(run, beam):
    """(metrics, [(word, prediction, references)] per unique test word) with the run's params."""
    pairs = load_test_pairs(run.config)
    tokens = tokenize_pairs(pairs, run.config.source_tokens, run.config.target_tokens, "test")
    dataset = Dataset(tokens, run.src_vocab, run.tgt_vocab, unknown="unk")
    metrics, outputs = evaluate_dataset(run.model, dataset, run.config.max_output_length, beam=beam)
    words, references, _ = group_references([w for w, _ in pairs], [t for _, t in tokens])
    return metrics, list(zip(words, outputs, references))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--out", default="docs", help="directory for the PNGs (default docs)")
    parser.add_argument("--beam", type=int, help="beam for the test split and heatmaps (default: test.json's)")
    parser.add_argument("--top", type=int, default=15, help="rows of the error tables (default 15)")
    args = parser.parse_args()
    run_dir, out = Path(args.run_dir), Path(args.out)
    run = load_run(run_dir)
    recorded = json.loads((run_dir / TEST).read_text()) if (run_dir / TEST).is_file() else None
    beam = args.beam or (recorded["beam"] if recorded else 5)

    print(f"![learning curves]({plot_curves(run.history, out / 'g2p-curves.png').name})\n")
    print(markdown_table(["epoch", "train loss", "dev WER %", "dev PER %", "s training", "lr"],
                         [(h["epoch"], f"{h['train_loss']:.4f}", f"{100 * (1 - h['valid_exact_match']):.2f}",
                           f"{100 * h['valid_token_error_rate']:.2f}", f"{h['seconds']:.0f}", f"{h['lr']:.2g}")
                          for h in run.history]))
    print(f"\n![attention]({plot_words(run, WORDS, out / 'g2p-attention.png', beam).name})\n")

    metrics, results = test_errors(run, beam)
    print(f"Test (beam {beam}): {metrics['n']} words, WER {100 * (1 - metrics['exact_match']):.2f} %, "
          f"PER {100 * metrics['token_error_rate']:.2f} %"
          + (f" (test.json: WER {100 * recorded['wer']:.2f} %, PER {100 * recorded['per']:.2f} %, beam "
             f"{recorded['beam']})" if recorded else "") + "\n")
    edits, wrong = Counter(), []
    for word, prediction, references in results:
        distance, reference = closest_reference(prediction, references)
        if distance:
            wrong.append((word, prediction, references))
            edits.update(alignment(prediction, reference))
    total = sum(edits.values())
    kinds = Counter(kind for kind, _, _ in edits.elements())
    print(f"{len(wrong)} wrong words, {total} phone errors: " + ", ".join(
        f"{kinds[k]} {name} ({100 * kinds[k] / max(total, 1):.0f} %)"
        for k, name in (("sub", "substitutions"), ("del", "deletions"), ("ins", "insertions"))) + "\n")
    for kind, title in (("sub", ["reference → predicted", "count"]), ("del", ["phone left out", "count"]),
                        ("ins", ["phone inserted", "count"])):
        top = [(edit, n) for edit, n in edits.most_common() if edit[0] == kind][: args.top]
        rows = [(f"{ref} → {pred}" if kind == "sub" else ref or pred, n) for (_, ref, pred), n in top]
        print(markdown_table(title, rows) + "\n")
    sample = random.Random(0).sample(wrong, min(20, len(wrong)))
    print(markdown_table(["word", "predicted", "reference(s)"],
                         [(w, " ".join(p), " / ".join(" ".join(r) for r in refs)) for w, p, refs in sample]))


if __name__ == "__main__":
    main()
