"""What several commands share: the note on inputs with unseen tokens, the decoding flags,
and reading stdin in batches that never wait for input that has not arrived yet. (Tokenising,
encoding and decoding inputs is `jumok.api.Model`'s.)
"""

import os
import select
import sys
from collections import deque

from jumok import api
from jumok.data.tsv import MAX_LINE_CHARS
from jumok.data.vocab import UNK
from jumok.errors import ConfigError, DataError, JumokError

STDIN_CHUNK = 1 << 16  # bytes asked of os.read at a time
MAX_LINE_BYTES = 4 * MAX_LINE_CHARS + 1  # UTF-8 of the longest line, and a CR: more cannot be a valid line


class UnseenTally:
    """Counts inputs that held tokens the source vocabulary lacks, and which tokens."""

    def __init__(self):
        self.lines = 0
        self.tokens = set()

    def add(self, unseen):
        if unseen:
            self.lines += 1
            self.tokens.update(unseen)

    def report(self, total=None, file=None):
        """One line on stderr (or ``file``) when any input had unseen tokens; nothing otherwise."""
        if not self.lines:
            return
        shown = sorted(self.tokens)
        listed = " ".join(repr(t) for t in shown[:10]) + (" …" if len(shown) > 10 else "")
        plural = "s" if total is not None and total != 1 or self.lines != 1 else ""
        of_total = f" of {total}" if total is not None else ""
        print(f"jumok: note: {self.lines}{of_total} input line{plural} had tokens "
              f"never seen in training, mapped to {UNK}: {listed}", file=file or sys.stderr)


def check_decoding(beam, nbest=1, length_penalty=1.0):
    """Raise `ConfigError` unless --beam >= 1, 1 <= --nbest <= --beam and --length-penalty >= 0
    (`jumok.api.check_decoding`)."""
    api.check_decoding(beam, nbest, flag="--", length_penalty=length_penalty)


def add_beam_argument(p):
    p.add_argument("--beam", type=int, default=1, help="beam size; 1 = greedy (default)")


def add_ensemble_argument(p):
    p.add_argument("--ensemble", nargs="+", default=[], metavar="RUN",
                   help="decode with these runs too, as one model: at every step the mean of the runs' "
                        "log-probabilities (they must share run_dir's vocabularies; no attention is drawn). "
                        "It takes every name after it: put texts to predict before it")


def load_model(args):
    """`args.run_dir` as a `jumok.api.Model`, joined by the `--ensemble` runs when there are any."""
    return api.load_ensemble([args.run_dir, *args.ensemble]) if args.ensemble else api.load(args.run_dir)


def add_length_penalty_argument(p):
    p.add_argument("--length-penalty", type=float, default=1.0, metavar="ALPHA",
                   help="beam search ranks finished outputs by log p / length^ALPHA: 1 = the mean per token "
                        "(default), 0 = the raw sum, which favours short outputs")


def add_unk_argument(p):
    p.add_argument("--unk", action="store_true",
                   help=f"map tokens never seen in training to {UNK} instead of refusing the input")


# ----------------------------------------------------------------------------------------
# Reading stdin without waiting for input that has not been written yet
# ----------------------------------------------------------------------------------------


def line_batches(stream, max_lines):
    """Batches of ``(line number, text)`` from ``stream``, as soon as lines arrive.

    A batch holds at most ``max_lines`` lines and never waits for more than one: it is
    whatever complete lines are available now. So a batch is big when input is piped in
    from a file, and a single line when a program writes one line and waits for its answer
    before writing the next (no deadlock). Line numbers count from 1; line endings (LF or
    CRLF) are removed; a last line without a newline counts.

    On POSIX with a real file descriptor the bytes are read with ``os.read`` and
    ``select`` tells whether more are already there; they are decoded as UTF-8 (a leading
    BOM is dropped), and a line that grows past what `MAX_LINE_CHARS` characters can take
    without a newline raises `DataError` after the lines before it, so memory stays bounded
    whatever arrives. Anywhere else (no file descriptor, e.g. an ``io.StringIO``, or no
    ``select`` on pipes, i.e. Windows) lines come one at a time from ``stream.readline``.
    """
    if max_lines < 1:
        raise ConfigError(f"--batch-size must be at least 1; got {max_lines}")
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        fd = None
    if fd is None or os.name != "posix":
        for number, line in enumerate(iter(stream.readline, ""), start=1):
            yield [(number, line.rstrip("\r\n"))]
        return
    yield from _fd_line_batches(fd, max_lines, "stdin")


def _fd_line_batches(fd, max_lines, name):
    """`line_batches` on a POSIX file descriptor (see there)."""
    complete = deque()  # raw lines, newline removed, not yet handed out
    state = {"partial": b"", "eof": False, "first": True, "too_long": False}

    def read_once():
        """One os.read: it blocks only when nothing at all is available."""
        chunk = os.read(fd, STDIN_CHUNK)
        if state["first"] and chunk:
            state["first"] = False
            chunk = chunk.removeprefix(b"\xef\xbb\xbf")  # BOM (split across reads: not handled)
        if not chunk:
            state["eof"] = True
            if state["partial"]:
                complete.append(state["partial"])
                state["partial"] = b""
            return
        *lines, state["partial"] = (state["partial"] + chunk).split(b"\n")
        complete.extend(lines)
        state["too_long"] = len(state["partial"]) > MAX_LINE_BYTES  # stop reading: the line can only fail

    def done_reading():
        return state["eof"] or state["too_long"]

    def more_is_waiting():
        return bool(select.select([fd], [], [], 0)[0])

    number = 0
    while True:
        while not complete and not done_reading():
            read_once()
        if not complete:
            if state["too_long"]:
                raise DataError(f"{name} line {number + 1} has more than {MAX_LINE_BYTES:,} bytes without a "
                                f"newline, expected at most {MAX_LINE_CHARS:,} characters")
            return
        while len(complete) < max_lines and not done_reading() and more_is_waiting():
            read_once()
        batch = []
        for _ in range(min(max_lines, len(complete))):
            number += 1
            raw = complete.popleft().removesuffix(b"\r")
            try:
                batch.append((number, raw.decode("utf-8")))
            except UnicodeDecodeError as e:
                if batch:
                    yield batch  # answer the good lines before this one first
                raise JumokError(f"{name} line {number}: invalid UTF-8 (byte {e.start + 1} of the line), "
                                 f"expected UTF-8 text") from None
        yield batch
