"""Does the step benchmark predict a real epoch? One `jumok train` epoch at the chapter's
settings, timed, next to the time the benchmark's step measurements predict for it.

    PYTHONPATH=src python -m benchmarks.epoch [--n-examples 50000] [--out PATH.json]

The chapter's settings: attention model, embedding 16, hidden 256, batch 128, Adam 1e-3,
clip 5, reversed input, generated dates (50,000 pairs, 10 % held out: 45,000 to train on).

Prediction: the epoch's batches are formed exactly as training forms them (same data, same
seed, same order), giving each batch's shape (rows N, padded source length S, padded target
length T). A training step is timed for each distinct shape with synthetic batches, as in
`python -m benchmarks`, and the prediction is the sum over the batches. Measurement: the
`seconds` that `jumok train` records for the epoch (training only, validation excluded).
"""

import argparse
import datetime
import tempfile
from collections import Counter

import numpy as np

from benchmarks.common import jumok_step_seconds, machine, write_record
from jumok.config import Config
from jumok.data.prepare import prepare
from jumok.train import run_training

CHAPTER = dict(task="date", model="attention", embed_size=16, hidden_size=256, batch_size=128, lr=1e-3, clip=5.0,
               reverse=True, epochs=1, lr_decay=1.0, seed=0)


def epoch_shapes(config):
    """Counter of (N, S, T) over the batches of the first training epoch, in training's order."""
    config, train_set, _ = prepare(config, log=lambda *_: None)
    rng = np.random.default_rng(config.seed)  # batch shapes barely depend on the order; counts never do
    shapes = Counter((b.src.shape[0], b.src.shape[1], b.tgt_in.shape[1]) for b in train_set.batches(128, rng))
    return shapes, len(train_set.src_vocab), len(train_set.tgt_vocab)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-examples", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per distinct batch shape")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/epoch-<host>-<date>.json)")
    args = parser.parse_args(argv)
    config = Config(**CHAPTER, n_examples=args.n_examples)

    shapes, src_vocab, tgt_vocab = epoch_shapes(config)
    sizes = CHAPTER["embed_size"], CHAPTER["hidden_size"]
    per_shape = {shape: jumok_step_seconds(*shape, src_vocab, tgt_vocab, *sizes, warmup=2, repeats=args.repeats)
                 for shape in shapes}
    predicted = sum(count * per_shape[shape] for shape, count in shapes.items())
    print(f"{sum(shapes.values())} batches in {len(shapes)} shapes (N, S, T): "
          + ", ".join(f"{s}×{c}" for s, c in shapes.most_common(6)) + (" …" if len(shapes) > 6 else ""))
    print(f"predicted epoch: {predicted:.1f} s", flush=True)

    with tempfile.TemporaryDirectory() as run_dir:
        history = run_training(config, run_dir, progress=False, log=lambda *_: None)
    measured = history[0]["seconds"]
    print(f"measured epoch (jumok train, history.json seconds): {measured:.1f} s; "
          f"measured ÷ predicted = {measured / predicted:.3f}")

    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), "config": CHAPTER,
              "n_examples": args.n_examples, "batches": sum(shapes.values()),
              "shapes": [{"N": s[0], "S": s[1], "T": s[2], "batches": c, "step_s": per_shape[s]}
                         for s, c in shapes.most_common()],
              "predicted_epoch_s": predicted, "measured_epoch_s": measured, "measured_over_predicted": measured / predicted,
              "valid_exact_match_after_epoch": history[0]["valid_exact_match"]}
    write_record(record, args.out, kind="epoch")


if __name__ == "__main__":
    main()
