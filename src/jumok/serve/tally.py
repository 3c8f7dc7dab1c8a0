"""The log of what slow, stalled or hostile clients cost `jumok serve`: counted, and written
as one summary line at most every `PERIOD` seconds, never a line (or a traceback) per
connection, so that an attack cannot fill the disk through the server's log.

Ordinary requests keep their line each in the request log (`jumok.serve.app.Handler`); what
is counted here happens below them: a request that did not arrive in time (408), a head too
large (414, 431), a connection refused for the bounds (503), a failed accept.
"""

import time
from collections import Counter

PERIOD = 10.0  # seconds between two summary lines, at least

EVENTS = {  # what each counted event is called in the summary line
    "408": "requests not in full in time (408)",
    "414": "request lines too long (414)",
    "431": "heads too large (431)",
    "503-connections": "connections refused at the bound (503)",
    "503-bytes": "requests refused for the bytes held (503)",
    "accept": "accepts that failed",
    "socket": "other socket errors",
}


class Tally:
    """Counts events (keys of `EVENTS`) in the event loop's thread and writes a line to
    ``log`` (a text stream, or None for none) when `PERIOD` has passed since the last one;
    events within the period wait for a line written by a timer on ``loop``."""

    def __init__(self, log, loop):
        self.log, self.loop = log, loop
        self.counts = Counter()
        self.last = -PERIOD
        self.timer = None

    def add(self, event, count=1):
        if self.log is None:
            return
        self.counts[event] += count
        due = self.last + PERIOD
        if time.monotonic() >= due:
            self.flush()
        elif self.timer is None:
            self.timer = self.loop.call_at(self.loop.time() + due - time.monotonic(), self.flush)

    def flush(self):
        """Write the line of what was counted since the last one (nothing if nothing was)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.counts:
            parts = ", ".join(f"{n:,} {EVENTS[event]}" for event, n in self.counts.items())
            print(f"jumok: clients held off (a line every {PERIOD:g} s at most): {parts}", file=self.log, flush=True)
            self.counts.clear()
            self.last = time.monotonic()
