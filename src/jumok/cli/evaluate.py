"""`jumok evaluate`: score a trained model on a TSV file."""

import json

from jumok.checkpoint import load_run
from jumok.cli.common import add_beam_argument, predict_texts
from jumok.data.tokens import tokenize
from jumok.data.tsv import read_tsv
from jumok.metrics import score


def run(args):
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


def register(sub):
    p = sub.add_parser("evaluate", help="score a model on a TSV file")
    p.add_argument("run_dir")
    p.add_argument("--data", required=True, help="TSV file of source<TAB>target lines")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    add_beam_argument(p)
    p.set_defaults(run=run)
