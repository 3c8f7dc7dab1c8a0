"""Reproduce the chapter's model comparisons on the generated data.

    python scripts/compare_models.py dates      # seq2seq / peeky / attention, 5 epochs
    python scripts/compare_models.py dates-chapter  # the same on the chapter's four date styles only
    python scripts/compare_models.py addition   # seq2seq (± reverse) / peeky / attention, 25 epochs
    python scripts/compare_models.py addition --tuned   # the same with Adam 3e-3, halved on plateau
    python scripts/compare_models.py dates-fixed-width  # dates padded with spaces to one width, as in the chapter

Every variant uses the chapter's settings (embedding 16, batch 128, Adam 1e-3 constant,
clip 5, 50,000 examples split 45,000 / 5,000; hidden 256 for dates, 128 for addition).
The fixed-width preset writes the generated dates with every source padded with spaces to
the longest one (the chapter's date.txt layout) as a TSV file, and trains on that: the
spaces are real tokens, so reversing a source reverses its padding too, as in the chapter.

Writes one run directory per variant under --out, then docs/comparison-TASK.png
(validation exact match per epoch) and docs/comparison-TASK.json (the histories), and
prints a Markdown table.
"""

import argparse
import json
from pathlib import Path

from jumok.atomic import write_text
from jumok.config import Config
from jumok.data.tasks import GENERATORS
from jumok.train import run_training
from jumok.viz import plot_comparison

CHAPTER = dict(embed_size=16, batch_size=128, optimizer="adam", lr=1e-3, lr_decay=1.0, clip=5.0,
               n_examples=50_000, valid_fraction=0.1)

# {label: (model, reverse)} of the date comparisons
DATE_VARIANTS = {"seq2seq + reverse": ("seq2seq", True), "peeky + reverse": ("peeky", True),
                 "attention + reverse": ("attention", True), "attention": ("attention", False)}

# preset: (task, hidden size, epochs, {label: (model, reverse)})
PRESETS = {
    "dates": ("date", 256, 5, DATE_VARIANTS),
    "dates-chapter": ("date-chapter", 256, 5, DATE_VARIANTS),
    "addition": ("addition", 128, 25, {"seq2seq": ("seq2seq", False), "seq2seq + reverse": ("seq2seq", True),
                                       "peeky + reverse": ("peeky", True),
                                       "attention + reverse": ("attention", True)}),
    "dates-fixed-width": ("date", 256, 5, {"attention + reverse": ("attention", True),
                                           "peeky + reverse": ("peeky", True), "seq2seq + reverse": ("seq2seq", True)}),
}


def write_fixed_width(task, n_examples, seed, path):
    """The task's generated pairs as a TSV file, every source padded with spaces to the longest."""
    pairs = GENERATORS[task](n_examples, seed=seed)
    width = max(len(source) for source, _ in pairs)
    write_text(path, "".join(f"{source.ljust(width)}\t{target}\n" for source, target in pairs))
    return width


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=list(PRESETS))
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs"))
    parser.add_argument("--only", nargs="+", help="run only these variants (labels)")
    parser.add_argument("--tuned", action="store_true",
                        help="Adam from 3e-3, halved after 2 epochs without improvement, instead of a constant 1e-3")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    task, hidden, epochs, variants = PRESETS[args.preset]
    settings = {**CHAPTER, "seed": args.seed}
    if args.tuned:
        settings.update(lr=3e-3, lr_decay=0.5, lr_schedule="plateau", lr_patience=2)
    name = args.preset + ("-tuned" if args.tuned else "")
    histories = {}
    for label, (model, reverse) in variants.items():
        if args.only and label not in args.only:
            continue
        data = {"task": task}
        if args.preset.endswith("fixed-width"):
            tsv = Path(args.out) / name / "data.tsv"
            tsv.parent.mkdir(parents=True, exist_ok=True)
            write_fixed_width(task, settings["n_examples"], settings["seed"], tsv)
            data = {"task": "tsv", "data": str(tsv)}
        config = Config(model=model, reverse=reverse, hidden_size=hidden, epochs=args.epochs or epochs, **data,
                        **settings)
        run_dir = Path(args.out) / name / label.replace(" + ", "-")
        histories[label] = run_training(config, run_dir, progress=False)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / f"comparison-{name}.json").write_text(json.dumps(histories, indent=2) + "\n")
    what = "Adam 3e-3, halved on plateau" if args.tuned else "chapter settings"
    plot_comparison(histories, docs / f"comparison-{name}.png",
                    title=f"Generated {args.preset}: validation exact match ({what})")
    print("| model | " + " | ".join(f"ep {r['epoch']}" for r in next(iter(histories.values()))) + " | s/epoch |")
    for label, history in histories.items():
        cells = " | ".join(f"{100 * r['valid_exact_match']:.1f}" for r in history)
        seconds = sum(r["seconds"] for r in history) / len(history)
        print(f"| {label} | {cells} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
