"""`jumok predict`: one prediction per input, from arguments or streamed from stdin."""

import sys

from jumok.checkpoint import load_run
from jumok.cli.common import add_beam_argument, predict_texts, read_inputs
from jumok.data.tokens import detokenize


def run(args):
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


def register(sub):
    p = sub.add_parser("predict", help="print one prediction per input line")
    p.add_argument("run_dir")
    p.add_argument("text", nargs="*", help="inputs (default: read lines from stdin)")
    add_beam_argument(p)
    p.add_argument("--nbest", type=int, default=1,
                   help="print the N best outputs of the beam, each as output<TAB>score, and an empty line "
                        "after each input")
    p.set_defaults(run=run)
