"""`jumok evaluate`: score a trained model on a TSV file of source<TAB>reference pairs.

Sources are tokenised as the run's sources were and references as its targets were
(config.json's source_tokens / target_tokens); the metrics compare output and reference
token lists (see `jumok.metrics`). Source tokens never seen in training become ``<unk>``,
and stderr says how many lines had some.

Printed: a summary line and the per-position accuracy, or with ``--json`` one JSON object
with ``n``, ``exact_match``, ``token_error_rate`` (fractions; null if not finite),
``per_position_accuracy`` (a list, position 1 first), ``wrong``, ``unseen_source_lines``,
``beam`` and ``data``. ``--errors FILE`` writes every wrong prediction as a
``source<TAB>reference<TAB>prediction`` line.
"""

import json
import math
import sys
from pathlib import Path

from jumok.atomic import write_text
from jumok.checkpoint import load_run
from jumok.cli.common import (
    UnseenTally,
    add_beam_argument,
    check_decoding,
    decode,
    encode_source,
    output_text,
    target_tokens,
)
from jumok.data.tsv import read_tsv
from jumok.errors import JumokError
from jumok.metrics import report

POSITIONS_SHOWN = 30  # per-position accuracies in the human-readable output


def format_report(result):
    """The human-readable lines of an evaluation result."""
    summary = (f"n {result['n']}  exact match {100 * result['exact_match']:.2f}%  "
               f"token error rate {_percent(result['token_error_rate'])}  wrong {result['wrong']}  "
               f"beam {result['beam']}")
    lines = [summary]
    accuracy = result["per_position_accuracy"]
    shown = "  ".join(f"{i}:{100 * a:.1f}" for i, a in enumerate(accuracy[:POSITIONS_SHOWN], start=1))
    more = f"  … ({len(accuracy)} positions, --json lists all)" if len(accuracy) > POSITIONS_SHOWN else ""
    lines.append(f"accuracy by output position (%)  {shown}{more}")
    return lines


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.2f}%"


def write_errors(path, rows):
    """Write ``(source, reference, prediction)`` rows as TSV lines, atomically."""
    write_text(path, "".join(f"{source}\t{reference}\t{prediction}\n" for source, reference, prediction in rows))


def run(args):
    check_decoding(args.beam)
    if args.errors and Path(args.errors).resolve() == Path(args.data).resolve():
        raise JumokError(f"--errors {args.errors} is the --data file; choose another path")
    run = load_run(args.run_dir)
    pairs = read_tsv(args.data, run.config.source_tokens, run.config.target_tokens)
    tally = UnseenTally()
    sources = [encode_source(run, source, f"{args.data} pair {number}", "unk", tally)
               for number, (source, _) in enumerate(pairs, start=1)]
    references = [target_tokens(run, target, f"{args.data} pair {number}: target")
                  for number, (_, target) in enumerate(pairs, start=1)]
    predictions = decode(run, sources, args.beam)
    outputs = [p.tokens for p in predictions]

    result = report(outputs, references)
    if not math.isfinite(result["token_error_rate"]):
        result["token_error_rate"] = None
    result.update(unseen_source_lines=tally.lines, beam=args.beam, data=str(args.data))
    tally.report(total=len(pairs))

    if args.errors:
        rows = [(source, reference, output_text(run, output))
                for (source, reference), output, tokens in zip(pairs, outputs, references) if output != tokens]
        write_errors(args.errors, rows)
        print(f"jumok: wrote {len(rows)} wrong prediction{'s' if len(rows) != 1 else ''} to {args.errors}",
              file=sys.stderr)

    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(format_report(result)))
    return 0


def register(sub):
    p = sub.add_parser("evaluate", help="score a model on a TSV file",
                       description="Predict every source of a TSV file and compare with its reference: "
                                   "exact match, token error rate, accuracy by output position.")
    p.add_argument("run_dir")
    p.add_argument("--data", required=True, help="TSV file of source<TAB>reference lines")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--errors", metavar="FILE",
                   help="write every wrong prediction to FILE as source<TAB>reference<TAB>prediction")
    add_beam_argument(p)
    p.set_defaults(run=run)
