"""`jumok evaluate`: score a trained model on a TSV file of source<TAB>reference pairs.

Sources are tokenised as the run's sources were and references as its targets were
(config.json's source_tokens / target_tokens); the metrics compare output and reference
token lists (see `jumok.metrics`). Source tokens never seen in training become ``<unk>``,
and stderr says how many lines had some.

Lines that share a source (the same source tokens) are alternative references, e.g. the
pronunciations of a word: each unique source is decoded once, in order of first
appearance, and scored against all its references (`jumok.metrics.multi_reference_report`):
exact match means equal to any reference, the token error rate uses the closest one, and
``n`` counts unique sources. With one line per source this is plain single-reference scoring.

Printed: a summary line and the per-position accuracy, or with ``--json`` one JSON object
with ``n`` (unique sources), ``lines``, ``exact_match``, ``token_error_rate`` (fractions;
null if not finite), ``wer`` (= 1 − exact_match) and ``per`` (= token_error_rate) — the
word and phone error rates of grapheme-to-phoneme conversion, given for every run so
scripts can rely on them —, ``per_position_accuracy`` (a list, position 1 first, against
the closest references), ``wrong`` (sources matching no reference), ``unseen_source_lines``,
``beam`` and ``data``. ``--errors FILE`` writes every wrong prediction as
``source<TAB>reference<TAB>prediction`` lines, one for each line of the data with its
source (so every reference is listed).

``--workers N`` (or ``mpiexec -n N jumok evaluate ...``) shares the decoding out among N
processes, each its contiguous part of the sources, gathered in input order: the output is
the same as one process's.
"""

import json
import math
import sys
from pathlib import Path

from jumok.atomic import write_text
from jumok.cli.common import (UnseenTally, add_beam_argument, add_ensemble_argument, add_length_penalty_argument,
                              check_decoding, load_model)
from jumok.config.schema import count_or_auto
from jumok.data.tokens import tokenize, tokenize_side
from jumok.data.tsv import read_tsv
from jumok.errors import JumokError
from jumok.evaluation import first_of_each
from jumok.launch import relaunch, workers_wanted
from jumok.metrics import group_references, multi_reference_report
from jumok.parallel import get_world
from jumok.ranks import started_by_mpiexec

POSITIONS_SHOWN = 30  # per-position accuracies in the human-readable output


def format_report(result):
    """The human-readable lines of an evaluation result."""
    summary = (f"n {result['n']}  exact match {100 * result['exact_match']:.2f}%  "
               f"token error rate {_percent(result['token_error_rate'])}  wrong {result['wrong']}  "
               f"beam {result['beam']}")
    if result["lines"] != result["n"]:
        summary += f"  ({result['lines']} lines: sources with several references are counted once)"
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
    check_decoding(args.beam, length_penalty=args.length_penalty)
    if args.errors and Path(args.errors).resolve() == Path(args.data).resolve():
        raise JumokError(f"--errors {args.errors} is the --data file; choose another path")
    if not started_by_mpiexec() and (count := workers_wanted(args.workers or "auto")) > 1:
        return relaunch(count, args.argv, "the evaluation")
    world = get_world()
    model = load_model(args)
    config = model.config
    pairs = read_tsv(args.data, config.source_tokens, config.target_tokens)
    tally = UnseenTally()
    encoded = [model.encode(source, f"{args.data} pair {number}", unk=True)
               for number, (source, _) in enumerate(pairs, start=1)]
    for source in encoded:
        tally.add(source.unseen)
    references = [tokenize_side(target, config.target_tokens, f"{args.data} pair {number}: target")
                  for number, (_, target) in enumerate(pairs, start=1)]
    source_tokens = [tokenize(source, config.source_tokens) for source, _ in pairs]
    _, grouped, index = group_references(source_tokens, references)
    mine = model.decode(world.shard([encoded[line] for line in first_of_each(index)]), args.beam,
                        length_penalty=args.length_penalty, maps=False)
    decoded = world.gather([(p.tokens, p.text) for p in mine])  # every rank's part, in input order
    if not world.is_root:
        return 0
    outputs = [tokens for tokens, _ in decoded]

    result = multi_reference_report(outputs, grouped)
    if not math.isfinite(result["token_error_rate"]):
        result["token_error_rate"] = None
    result["wer"] = 1 - result["exact_match"]
    result["per"] = result["token_error_rate"]
    result.update(lines=len(pairs), unseen_source_lines=tally.lines, beam=args.beam,
                  length_penalty=args.length_penalty, data=str(args.data))
    tally.report(total=len(pairs))

    if args.errors:
        wrong = {source for source, output in enumerate(outputs) if not any(output == r for r in grouped[source])}
        rows = [(source, reference, decoded[index[line]][1])
                for line, (source, reference) in enumerate(pairs) if index[line] in wrong]
        write_errors(args.errors, rows)
        print(f"jumok: wrote {len(wrong)} wrong prediction{'s' if len(wrong) != 1 else ''} to {args.errors}",
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
    add_length_penalty_argument(p)
    add_ensemble_argument(p)
    p.add_argument("--workers", type=count_or_auto, default=1, metavar="N|auto",
                   help="decode in N processes, one per core (MPI: pip install \".[mpi]\"); auto: every core "
                        "this process may use (default 1)")
    p.set_defaults(run=run)
