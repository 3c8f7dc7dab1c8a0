"""Command line: ``jumok train | predict | evaluate``."""

import argparse
import json
import sys

from jumok.checkpoint import load_config, load_run
from jumok.config import Config
from jumok.data.tokens import detokenize, tokenize
from jumok.data.tsv import read_tsv
from jumok.errors import ConfigError, JumokError
from jumok.metrics import score
from jumok.translate import predict_ids

DEFAULTS = Config()


def add_train_arguments(p):
    p.add_argument("--task", choices=["date", "addition"], help=f"built-in data set (default {DEFAULTS.task})")
    p.add_argument("--data", help="training pairs, a TSV file of source<TAB>target lines")
    p.add_argument("--valid", help="validation TSV (default: hold out 10%% of --data, seeded)")
    p.add_argument("--model", choices=["attention", "seq2seq", "peeky"], help=f"default {DEFAULTS.model}")
    p.add_argument("--epochs", type=int, help=f"default {DEFAULTS.epochs}")
    p.add_argument("--batch-size", type=int, help=f"default {DEFAULTS.batch_size}")
    p.add_argument("--embed-size", type=int, help=f"default {DEFAULTS.embed_size}")
    p.add_argument("--hidden-size", type=int, help=f"default {DEFAULTS.hidden_size}")
    p.add_argument("--attention", choices=["dot", "scaled-dot", "general", "additive"],
                   help=f"attention score (default {DEFAULTS.attention})")
    p.add_argument("--layers", type=int, help=f"stacked LSTM layers (default {DEFAULTS.layers})")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="encoder reads the source both ways (default off)")
    p.add_argument("--dropout", type=float, help=f"on embeddings and between layers (default {DEFAULTS.dropout})")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help=f"default {DEFAULTS.optimizer}")
    p.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULTS.lr})")
    p.add_argument("--lr-decay", type=float,
                   help=f"factor the schedule applies to the learning rate (default {DEFAULTS.lr_decay})")
    p.add_argument("--lr-schedule", choices=["epoch", "plateau"],
                   help="epoch: decay after every epoch; plateau: after --lr-patience epochs without improvement")
    p.add_argument("--lr-patience", type=int, help=f"default {DEFAULTS.lr_patience}")
    p.add_argument("--patience", type=int, help="stop after this many epochs without improvement (default 0 = never)")
    p.add_argument("--clip", type=float, help=f"gradient-norm limit, 0 = off (default {DEFAULTS.clip})")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction,
                   help="feed the source backwards (default off)")
    p.add_argument("--seed", type=int, help=f"default {DEFAULTS.seed}")
    p.add_argument("--n-examples", type=int, help=f"size of a generated data set (default {DEFAULTS.n_examples})")
    p.add_argument("--out", help="run directory (default runs/TASK-MODEL)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run saved in RUN_DIR up to --epochs in total (other settings come from its config)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args):
    changes = {key: value for key, value in vars(args).items()
               if key in Config.__dataclass_fields__ and value is not None}
    if args.data:
        changes["task"] = "tsv"
    return Config(**changes)


def cmd_train(args):
    from jumok.train import run_training  # imports matplotlib/tqdm only when training

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.resume:
        changed = [key for key, value in vars(args).items()
                   if value not in (None, False) and key not in ("resume", "epochs", "quiet", "debug", "command", "run")]
        if changed:
            raise ConfigError(f"--resume takes its settings from {args.resume}/config.json; only --epochs may "
                              f"change (got --{changed[0].replace('_', '-')})")
        config = load_config(args.resume)
        if args.epochs:
            config = config.replace(epochs=args.epochs)
        log(f"resuming {args.resume} up to epoch {config.epochs}")
        run_training(config, args.resume, progress=not args.quiet, log=log, resume=True)
        return 0
    config = config_from_args(args)
    out = args.out or f"runs/{config.task}-{config.model}"
    log(f"training {config.model} on {config.data or config.task} → {out}")
    run_training(config, out, progress=not args.quiet, log=log)
    return 0


def read_inputs(texts):
    """The TEXT arguments, or else stdin lines as they arrive."""
    if texts:
        yield from texts
    else:
        for line in sys.stdin:
            yield line.rstrip("\r\n")


def predict_texts(run, texts, unknown="error", beam=1, nbest=1):
    if "" in texts:
        raise JumokError("an input is empty: there is nothing to translate")
    if beam < 1 or not 1 <= nbest <= beam:
        raise ConfigError(f"need --beam >= 1 and 1 <= --nbest <= --beam; got beam {beam}, nbest {nbest}")
    sources = [run.src_vocab.encode(tokenize(t), unknown, where=f"input {t!r}") for t in texts]
    return predict_ids(run.model, sources, run.src_vocab, run.tgt_vocab, run.config.max_output_length,
                       beam_size=beam, nbest=nbest)


def cmd_predict(args):
    run = load_run(args.run_dir)
    stream = read_inputs(args.text)
    batch_size = len(args.text) if args.text else (1 if sys.stdin.isatty() else 256)
    while chunk := [t for _, t in zip(range(batch_size), stream)]:
        for prediction in predict_texts(run, chunk, beam=args.beam, nbest=args.nbest):
            if args.nbest == 1:
                print(detokenize(prediction.tokens))
            else:
                for tokens, score in prediction.alternatives:
                    print(f"{detokenize(tokens)}\t{score:.4f}")
                print()
        sys.stdout.flush()
    return 0


def cmd_evaluate(args):
    run = load_run(args.run_dir)
    pairs = read_tsv(args.data)
    predictions = predict_texts(run, [s for s, _ in pairs], unknown="unk", beam=args.beam)
    result = score([p.tokens for p in predictions], [tokenize(t) for _, t in pairs])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"n {result['n']}  exact match {100 * result['exact_match']:.2f}%  "
              f"token error rate {100 * result['token_error_rate']:.2f}%")
    return 0


def add_beam_argument(p):
    p.add_argument("--beam", type=int, default=1, help="beam size; 1 = greedy (default)")


def build_parser():
    parser = argparse.ArgumentParser(prog="jumok", description="Sequence-to-sequence learning with attention.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model")
    add_train_arguments(train)
    train.set_defaults(run=cmd_train)
    predict = sub.add_parser("predict", help="print one prediction per input line")
    predict.add_argument("run_dir")
    predict.add_argument("text", nargs="*", help="inputs (default: read lines from stdin)")
    add_beam_argument(predict)
    predict.add_argument("--nbest", type=int, default=1,
                         help="print the N best outputs of the beam, each as output<TAB>score, "
                              "and an empty line after each input")
    predict.set_defaults(run=cmd_predict)
    evaluate = sub.add_parser("evaluate", help="score a model on a TSV file")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--data", required=True, help="TSV file of source<TAB>target lines")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_beam_argument(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling TEXT ... at the first option: `predict RUN --beam 5 a b` leaves a, b over
    if args.command == "predict" and extra and not any(e.startswith("-") for e in extra):
        args.text = [*args.text, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.run(args)
    except JumokError as e:
        if args.debug:
            raise
        print(f"jumok: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jumok: interrupted", file=sys.stderr)
        return 130
