"""Train a small Transformer on the built-in dates and draw what each cross-attention head
looks at: docs/transformer-heads.png, the picture of docs/transformer.md section 10.

    PYTHONPATH=src python scripts/transformer_heads.py

The model: width 64, 4 heads, 2 layers per stack, feed-forward width 128, dropout 0.1
(`jumok.models.transformer.TransformerSeq2seq`), trained by `Trainer.for_model` on 10,000
generated dates (`jumok.data.prepare.prepare`; 9,000 to train, 1,000 to validate) for 10
epochs: batches of 64, Adam at 2e-3 after a linear warm-up over 200 steps, halved after an
epoch that does not improve validation (the `Config` defaults otherwise); how long it
took is in docs/transformer.md. After the epochs the best epoch's parameters (by validation
exact match) are put back, one source is decoded greedily with ``maps=True``, and every
``cross/L/H`` map is drawn in one grid, a row per layer and a column per head. The script
prints the time each epoch took, the validation exact match it reached, what the model wrote
for the drawn source and, for each head, the source character that each written character
weighted most. One seed: the picture is one model's, not a finding about Transformers.
"""

import argparse
import time
from pathlib import Path

import numpy as np

from jumok import viz
from jumok.config import Config
from jumok.data.prepare import prepare
from jumok.data.tokens import detokenize
from jumok.decoding import Search, decode
from jumok.models.transformer import Sizes, TransformerSeq2seq
from jumok.train import Trainer

SIZES = Sizes(width=64, heads=4, ff_width=128, layers=2, dropout=0.1, max_len=64)
SOURCE = "27 September 1994"  # day, month and year each in a different place than in the output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-examples", type=int, default=10_000,
                        help="generated dates, before the 10%% validation split")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--source", default=SOURCE, help="the date whose attention is drawn")
    parser.add_argument("--out", type=Path, default=Path("docs/transformer-heads.png"))
    args = parser.parse_args()

    config, train_set, valid_set = prepare(Config(task="date", n_examples=args.n_examples, seed=args.seed,
                                                  batch_size=args.batch_size, lr=args.lr, epochs=args.epochs,
                                                  warmup_steps=args.warmup_steps))
    src_vocab, tgt_vocab = train_set.src_vocab, train_set.tgt_vocab
    model = TransformerSeq2seq(len(src_vocab), len(tgt_vocab), SIZES, rng=np.random.default_rng(args.seed))
    trainer = Trainer.for_model(model, config, train_set, valid_set)
    print(f"{len(train_set)} training pairs, {len(valid_set)} validation pairs; {SIZES}")

    started, best = time.perf_counter(), 0.0
    for epoch in range(1, config.epochs + 1):
        loss, seconds = trainer.train_epoch(epoch)
        exact_match, _ = trainer.validate(epoch, loss, seconds)
        best = max(best, exact_match)
        print(f"epoch {epoch}: loss {loss:.4f}, validation exact match {100 * exact_match:.2f}% "
              f"({seconds:.1f} s training, {time.perf_counter() - started:.0f} s in all)")
    print(f"trained {config.epochs} epochs in {time.perf_counter() - started:.0f} s; "
          f"best validation exact match {100 * best:.2f}% (seed {args.seed})")
    model.load_state_dict(trainer.best)

    source = list(args.source)  # character tokens, as the date task's
    ids = src_vocab.encode(source)
    search = Search(tgt_vocab.bos_id, tgt_vocab.eos_id, config.max_output_length)
    (hypothesis,) = decode(model, [ids], src_vocab.pad_id, search, maps=True)[0]
    written = detokenize(tgt_vocab.decode(hypothesis.tokens), config.target_tokens)
    print(f"{args.source!r} → {written!r}")
    steps = hypothesis.steps(tgt_vocab)
    shown = [viz.display_token(token) for token in source]
    for name in model.map_names:  # written ← source character #position (from 0) with the step's largest weight
        weights = hypothesis.maps[name]  # (steps, S)
        looks = "  ".join(f"{viz.display_token(step)}←{shown[s]}#{s} {weights[t, s]:.2f}"
                         for t, (step, s) in enumerate(zip(steps, weights.argmax(axis=1))))
        print(f"{name}: {looks}")
    examples = [(hypothesis.maps[name], source, steps, f"layer {name.split('/')[1]}, head {name.split('/')[2]}")
                for name in model.map_names]
    title = f"cross-attention of every layer and head: {args.source} → {written}"
    figure = viz.attention_grid_figure(examples, columns=SIZES.heads, title=title)
    print(f"wrote {viz.save_figure(figure, args.out)}")


if __name__ == "__main__":
    main()
