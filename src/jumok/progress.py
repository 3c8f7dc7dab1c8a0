"""Progress of a loop, drawn for a terminal or written as lines a log file can hold.

A tqdm bar redraws itself after every update with a carriage return. On a terminal that is
one line that moves; written to a file (``2> log``, nohup, CI) every redraw stays, and a few
short epochs leave tens of kilobytes of them. `progress_bar` gives tqdm's bar when the stream
is a terminal, and otherwise a `LineProgress`, which writes whole lines, seldom.
"""

import sys
import time

from tqdm import tqdm

UNIT = "batch"  # what one step of the loop is called
EVERY_SECONDS = 60.0  # how often a LineProgress writes a line while its loop runs


def progress_bar(total, initial=0, desc="", enabled=True, stream=None, every=EVERY_SECONDS):
    """A progress bar over `total` steps, `initial` of them done already, labelled `desc`.

    `stream` (default: sys.stderr at the time of the call) a terminal: tqdm's bar, as
    ``tqdm(total, initial, desc, unit="batch", file=stream, dynamic_ncols=True, leave=True)``.
    Anything else, a file or a pipe: a `LineProgress` writing lines to it. `enabled` False:
    a `LineProgress` that writes nothing. Either way the object has ``update(n)``,
    ``set_postfix(**figures)``, ``n``, ``format_dict["rate"]`` and ``close()``, and is a
    context manager that closes it.
    """
    stream = sys.stderr if stream is None else stream
    if enabled and is_terminal(stream):
        return tqdm(total=total, initial=initial, desc=desc, unit=UNIT, file=stream, dynamic_ncols=True, leave=True)
    return LineProgress(total, initial, desc, stream if enabled else None, every)


def is_terminal(stream):
    """True if `stream` says it is a terminal (a closed or odd stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class LineProgress:
    """Progress as whole lines, no carriage return: one line when the loop ends (`close`, or
    leaving the ``with`` block, also on an exception), and while it runs one line each time
    `every` seconds have passed since the last line. A loop shorter than 2 × `every` seconds
    (two minutes by default) thus writes at most 2 lines, and a quick one exactly one. A line
    holds tqdm's figures without the bar::

        epoch 2/5: 100% 29/29 batch [00:03, 8.47 batch/s] loss=1.7410, pairs/s=540

    that is `desc`, the share done, steps done / `total`, the time since the start, the mean
    rate since the start (steps of this run over its seconds: a resumed loop counts from
    `initial`), then the figures of the last `set_postfix`. With `stream` None it writes
    nothing (a rank other than 0, or --quiet).
    """

    def __init__(self, total, initial=0, desc="", stream=None, every=EVERY_SECONDS):
        self.total, self.initial, self.n = total, initial, initial
        self.desc, self.stream, self.every = desc, stream, every
        self.postfix = {}
        self.start = self.last_line = time.perf_counter()
        self.closed = False
        self.written = None  # the last line written

    @property
    def format_dict(self):
        """tqdm's figures that the trainer reads: ``rate``, steps per second (None before any)."""
        elapsed = time.perf_counter() - self.start
        done = self.n - self.initial
        return {"n": self.n, "total": self.total, "elapsed": elapsed,
                "rate": done / elapsed if done and elapsed > 0 else None}

    def update(self, n=1):
        self.n += n
        if self.stream is not None and time.perf_counter() - self.last_line >= self.every:
            self.write_line()

    def set_postfix(self, **figures):
        """Figures to show after the counts, ``name=value`` in name order (as tqdm does)."""
        self.postfix = {name: figures[name] for name in sorted(figures)}

    def line(self):
        figures = self.format_dict
        share = f"{100 * self.n / self.total:.0f}% " if self.total else ""
        rate = f"{figures['rate']:.2f} {UNIT}/s" if figures["rate"] else f"? {UNIT}/s"
        counts = f"{share}{self.n}/{self.total} {UNIT} [{clock(figures['elapsed'])}, {rate}]"
        postfix = ", ".join(f"{name}={value}" for name, value in self.postfix.items())
        return " ".join(part for part in (f"{self.desc}:" if self.desc else "", counts, postfix) if part)

    def write_line(self):
        self.written = self.line()
        self.stream.write(self.written + "\n")
        self.stream.flush()
        self.last_line = time.perf_counter()

    def close(self):
        """Write the last line (unless the line just written says the same), once."""
        if not self.closed and self.stream is not None and self.line() != self.written:
            self.write_line()
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def clock(seconds):
    """Seconds as tqdm writes them: mm:ss, or h:mm:ss from an hour on."""
    minutes, s = divmod(int(seconds), 60)
    h, m = divmod(minutes, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"
