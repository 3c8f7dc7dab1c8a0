"""`jumok predict`: one prediction per input, from arguments or streamed from stdin.

Output: one line per input, the output text joined as the run's targets are tokenised.
With ``--nbest K`` each input gets up to K lines ``output<TAB>score`` (best first) and then
an empty line.

Inputs are tokenised as the run's sources were. Reading stdin, each batch is what has
already arrived (at most ``--batch-size`` lines), and its answers are flushed at once, so
the command can sit in a pipe between a program that writes a line and waits for its answer.
An input that cannot be translated (empty, longer than 10,000 characters, or holding tokens
never seen in training without ``--unk``) stops the command with an error naming the
argument or line; every input before it has been answered by then.

Memory does not grow with the number of inputs: a batch is decoded, printed and dropped
before the next is read, and a batch of long inputs is decoded in pieces within
`jumok.api.DECODE_BUDGET` bytes (what the model's `row_cost` says each piece holds), so a
million lines stream in the memory of one batch.
"""

import os
import sys

from jumok.cli.common import (UnseenTally, add_beam_argument, add_ensemble_argument, add_length_penalty_argument,
                              add_unk_argument, check_decoding, line_batches, load_model)
from jumok.data.vocab import UNK
from jumok.errors import ConfigError, JumokError, UnknownTokenError


def print_outputs(outputs, nbest):
    for output in outputs:
        if nbest == 1:
            print(output.text)
        else:
            for alternative in output.alternatives:
                print(f"{alternative.text}\t{alternative.score:.4f}")
            print()


def answer(model, batch, label, args, tally):
    """Predict and print every input of ``batch`` (pairs of number, text) up to the first that
    cannot be encoded; then raise that one's error."""
    sources, failure = [], None
    for number, text in batch:
        try:
            source = model.encode(text, f"{label} {number}", args.unk)
        except UnknownTokenError as e:
            failure = JumokError(f"{e} (--unk maps them to {UNK})")
            break
        except JumokError as e:
            failure = e
            break
        tally.add(source.unseen)
        sources.append(source)
    print_outputs(model.decode(sources, args.beam, args.nbest, length_penalty=args.length_penalty, maps=False),
                  args.nbest)
    sys.stdout.flush()
    if failure:
        raise failure


def run(args):
    check_decoding(args.beam, args.nbest, args.length_penalty)
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1; got {args.batch_size}")
    model = load_model(args)
    if args.text:
        batches, label = [list(enumerate(args.text, start=1))], "argument"
    else:
        batches, label = line_batches(sys.stdin, args.batch_size), "stdin line"
    tally = UnseenTally()
    try:
        for batch in batches:
            answer(model, batch, label, args, tally)
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (e.g. `| head`): stop quietly
    finally:
        tally.report()
    return 0


def _silence_stdout():
    """Point stdout at /dev/null so the interpreter's final flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def register(sub):
    p = sub.add_parser("predict", help="print one prediction per input",
                       description="Translate each TEXT argument, or else each line of stdin as it arrives, "
                                   "and print one output line per input.")
    p.add_argument("run_dir")
    p.add_argument("text", nargs="*", help="inputs (default: read lines from stdin)")
    add_beam_argument(p)
    add_length_penalty_argument(p)
    add_ensemble_argument(p)
    p.add_argument("--nbest", type=int, default=1,
                   help="print the N best outputs of the beam, each as output<TAB>score, and an empty line "
                        "after each input")
    add_unk_argument(p)
    p.add_argument("--batch-size", type=int, default=256,
                   help="most stdin lines decoded together (default 256); a batch never waits for lines "
                        "that have not arrived yet")
    p.set_defaults(run=run)
