"""Reproduce the chapter's model comparisons on the generated data.

    python scripts/compare_models.py dates      # seq2seq / peeky / attention, 5 epochs
    python scripts/compare_models.py dates-chapter  # the same on the chapter's four date styles only
    python scripts/compare_models.py addition   # seq2seq (± reverse) / peeky / attention, 25 epochs
    python scripts/compare_models.py addition --tuned   # the same with Adam 3e-3, halved on plateau
    python scripts/compare_models.py dates-fixed-width  # dates padded with spaces to one width, as in the chapter
    python scripts/compare_models.py dates-chapter --seeds 0 1 2 --only attention   # the spread over seeds
    python scripts/compare_models.py dates-chapter --embed-scale 1   # unit-variance embeddings

Every variant uses the chapter's settings (embedding 16, batch 128, Adam 1e-3 constant,
clip 5, 50,000 examples split 45,000 / 5,000; hidden 256 for dates, 128 for addition).
The fixed-width preset writes the generated dates with every source padded with spaces to
the longest one (the chapter's date.txt layout) as a TSV file, and trains on that: the
spaces are real tokens, so reversing a source reverses its padding too, as in the chapter.

Writes one run directory per variant (and seed) under --out, then docs/comparison-TASK.png
(validation exact match per epoch) and docs/comparison-TASK.json (the histories), and
prints a Markdown table. With several --seeds every variant trains once per seed (the seed
draws the data, the split, the weights and the batches): the picture shows each variant's
median over the seeds with the lowest-to-highest range shaded, the table the median and
the range per epoch, and the JSON file {variant: {seed: history}}.
"""

import argparse
import json
from pathlib import Path

from jumok.atomic import write_text
from jumok.config import Config
from jumok.data.tasks import GENERATORS
from jumok.train import run_training
from jumok.viz import plot_comparison, seed_spread

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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=list(PRESETS))
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs"))
    parser.add_argument("--only", nargs="+", help="run only these variants (labels)")
    parser.add_argument("--tuned", action="store_true",
                        help="Adam from 3e-3, halved after 2 epochs without improvement, instead of a constant 1e-3")
    parser.add_argument("--embed-scale", type=float, default=0.01,
                        help="initial embeddings' standard deviation (the chapter's 0.01; 1 = unit variance)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="train every variant once per seed")
    parser.add_argument("--seed", type=int, help="one seed (the same as --seeds N)")
    parser.add_argument("--n-examples", type=int, default=CHAPTER["n_examples"], help=argparse.SUPPRESS)  # tests
    parser.add_argument("--hidden-size", type=int, help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    args.seeds = [args.seed] if args.seed is not None else args.seeds
    return args


def comparison_name(args):
    """docs/comparison-NAME.*: the preset and what differs from the chapter's settings."""
    suffix = ("-tuned" if args.tuned else "") + (f"-embed{args.embed_scale:g}" if args.embed_scale != 0.01 else "")
    return args.preset + suffix + (f"-seeds{len(args.seeds)}" if len(args.seeds) > 1 else "")


def spread_table(histories):
    """Markdown rows: per variant, validation exact match (%) per epoch as the median over
    seeds with the range (or the one seed's value), and the mean seconds per epoch."""
    runs = {label: list(by_seed.values()) for label, by_seed in histories.items()}
    epochs = max(len(history) for seeds in runs.values() for history in seeds)
    lines = ["| model | " + " | ".join(f"ep {e}" for e in range(1, epochs + 1)) + " | s/epoch |",
             "| --- |" + " --- |" * (epochs + 1)]
    for label, seeds in runs.items():
        cells = [f"{100 * median:.1f}" if len(seeds) == 1 else f"{100 * median:.1f} ({100 * low:.1f}–{100 * high:.1f})"
                 for _, median, low, high in seed_spread(seeds)]
        seconds = [r["seconds"] for history in seeds for r in history]
        lines.append(f"| {label} | " + " | ".join(cells + [""] * (epochs - len(cells)))
                     + f" | {sum(seconds) / len(seconds):.0f} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    task, hidden, epochs, variants = PRESETS[args.preset]
    settings = {**CHAPTER, "n_examples": args.n_examples, "embed_scale": args.embed_scale}
    if args.tuned:
        settings.update(lr=3e-3, lr_decay=0.5, lr_schedule="plateau", lr_patience=2)
    name = comparison_name(args)
    histories = {}
    for label, (model, reverse) in variants.items():
        if args.only and label not in args.only:
            continue
        for seed in args.seeds:
            data = {"task": task}
            if args.preset.endswith("fixed-width"):
                tsv = Path(args.out) / name / f"data-seed{seed}.tsv"
                tsv.parent.mkdir(parents=True, exist_ok=True)
                write_fixed_width(task, settings["n_examples"], seed, tsv)
                data = {"task": "tsv", "data": str(tsv)}
            config = Config(model=model, reverse=reverse, hidden_size=args.hidden_size or hidden,
                            epochs=args.epochs or epochs, seed=seed, **data, **settings)
            run_dir = Path(args.out) / name / label.replace(" + ", "-") / f"seed{seed}"
            histories.setdefault(label, {})[seed] = run_training(config, run_dir, progress=False)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    one_seed = len(args.seeds) == 1
    written = {label: by_seed[args.seeds[0]] if one_seed else by_seed for label, by_seed in histories.items()}
    write_text(docs / f"comparison-{name}.json", json.dumps(written, indent=2) + "\n")
    what = ("Adam 3e-3, halved on plateau" if args.tuned else "chapter settings") + (
        f", embeddings {args.embed_scale:g}·N(0, 1)" if args.embed_scale != 0.01 else "")
    seeds = "" if one_seed else f", seeds {', '.join(map(str, args.seeds))}"
    plot_comparison({label: list(by_seed.values()) for label, by_seed in histories.items()},
                    docs / f"comparison-{name}.png",
                    title=f"Generated {args.preset}: validation exact match ({what}{seeds})")
    print(spread_table(histories))


if __name__ == "__main__":
    main()
