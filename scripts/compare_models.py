"""Reproduce the chapter's comparison: seq2seq, peeky and attention on the generated dates.

Chapter settings: embedding 16, hidden 256, batch 128, Adam 1e-3, clip 5, reversed input,
5 epochs each. Writes one run directory per model under --out, then docs/comparison.png
(validation exact match per epoch) and docs/comparison.json (the three histories).

    python scripts/compare_models.py --out runs/compare
"""

import argparse
import json
from pathlib import Path

from jumok.config import Config
from jumok.train import run_training
from jumok.viz import plot_comparison

# (label, model, reverse): the chapter's three, plus attention reading the source in order
VARIANTS = {"seq2seq": ("seq2seq", True), "peeky": ("peeky", True), "attention": ("attention", True),
            "attention-in-order": ("attention", False)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--docs", default=str(Path(__file__).resolve().parent.parent / "docs"))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    histories = {}
    for label in args.variants:
        model, reverse = VARIANTS[label]
        config = Config(model=model, epochs=args.epochs, embed_size=16, hidden_size=256, batch_size=128,
                        lr=1e-3, clip=5.0, reverse=reverse)
        histories[label] = run_training(config, Path(args.out) / label, progress=False)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "comparison.json").write_text(json.dumps(histories, indent=2) + "\n")
    plot_comparison(histories, docs / "comparison.png",
                    title="Generated dates: validation exact match (chapter settings)")
    for name, history in histories.items():
        cells = " | ".join(f"{100 * r['valid_exact_match']:.1f}" for r in history)
        seconds = sum(r["seconds"] for r in history) / len(history)
        print(f"| {name} | {cells} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
