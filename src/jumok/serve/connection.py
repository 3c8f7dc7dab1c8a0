"""One client connection of `jumok serve`'s front end (`jumok.serve.front`), as a state
machine run by the event loop: it reads a whole request within a deadline, hands it to a
worker thread, writes the answer, then waits for the next request or closes.

States: ``head`` (reading the request line and headers), ``body`` (reading the body the
head announced), ``busy`` (a worker has the request; reading paused), ``sending`` (the
answer waits for the client to take it), ``idle`` (kept alive, between requests),
``drain`` (reading and dropping a refused body before closing) and ``closed``.

Timing: a request must arrive whole (head and body) within `REQUEST_SECONDS` of its first
byte (of the connection's opening, for the first one), else 408 and the connection is
closed, however the bytes trickle in; a kept-alive connection waits `IDLE_SECONDS` for the
next request's first byte, then is closed without a word. Bytes: a connection holds at most
`FREE_BYTES` of a request on its own; more (a large head or body) is drawn from the front
end's shared budget as it arrives, and a request that finds the budget spent is refused
(503) and its connection closed at once.
"""

import asyncio

from jumok.serve import wire

REQUEST_SECONDS = 10.0  # a whole request (head and body) arrives within this, else 408
IDLE_SECONDS = 30.0  # a kept-alive connection with no request for this long is closed
SEND_SECONDS = 30.0  # an answer the client does not read within this: the connection is cut
DRAIN_BYTES = 16 << 20  # most of a refused body read (and dropped) after the answer
DRAIN_SECONDS = 2.0
FREE_BYTES = 8 << 10  # bytes of a request each connection may hold without the shared budget
MAX_HEAD_BYTES = 64 << 10  # request line and headers together; over it 431 (or 414)
RETRY_AFTER = ("Retry-After", "2")  # with a 503: seconds


class Connection(asyncio.BufferedProtocol):
    """One connection: see the module docstring. ``front`` is the `jumok.serve.front.Front`
    that accepted it: its loop, bounds, shared budget, workers and tally."""

    def __init__(self, front):
        self.front, self.loop = front, front.loop
        self.buffer = bytearray()  # bytes read and not yet handed on
        self.state = "head"
        self.held = 0  # bytes drawn from the front's budget
        self.need = 0  # head and body bytes of the request being read, once its head is in
        self.unread = 0  # bytes of a refused body to read and drop before closing
        self.eof = self.writing_paused = False
        self.transport = self.timer = None

    # -- asyncio's calls ---------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.peer = transport.get_extra_info("peername") or ("-", 0)
        if self.front.admit(self):
            self.expect_request(self.loop.time())

    def get_buffer(self, sizehint):
        if self.state == "drain":
            return self.front.scratch
        room = (self.need if self.state == "body" else MAX_HEAD_BYTES + 1) - len(self.buffer)
        return self.front.scratch[: max(1, min(room, len(self.front.scratch)))]

    def buffer_updated(self, nbytes):
        if self.state == "drain":
            self.unread -= nbytes
            if self.unread <= 0:
                self.finish()
            return
        if self.state not in ("head", "body", "idle"):
            return
        self.front.spare.pop(self, None)
        if self.state == "idle":
            self.expect_request(self.loop.time())
        start = len(self.buffer)
        self.buffer += self.front.scratch[:nbytes]
        if not self.account(len(self.buffer)):
            self.refuse(503, "the server holds too many request bytes now; try again", "503-bytes", [RETRY_AFTER])
        else:
            self.advance(start)

    def eof_received(self):
        """The client will send no more: what it sent is its request (the handler says what
        is missing), else the connection closes."""
        self.eof = True
        if self.state in ("head", "body") and self.buffer:
            self.dispatch(len(self.buffer))
            return True
        return self.state in ("busy", "sending")

    def connection_lost(self, exc):
        self.state = "closed"
        self.cancel_timer()
        self.account(0)
        self.front.forget(self)

    def pause_writing(self):
        self.writing_paused = True

    def resume_writing(self):
        self.writing_paused = False
        if self.state == "sending":
            self.next_request()

    # -- reading a request -------------------------------------------------------------

    def expect_request(self, since):
        """Wait for a whole request, due `REQUEST_SECONDS` after ``since``."""
        self.state = "head"
        self.set_timer(since + REQUEST_SECONDS, self.timed_out)

    def advance(self, start=0):
        """Look at the bytes read so far (new ones from ``start``): the head's end, then
        whether the body is in."""
        if self.state == "head":
            end = wire.head_end(self.buffer, start)
            if end is None:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.refuse_head()
                return
            framing = wire.framing(bytes(self.buffer[:end]))
            self.need, self.unread = end + framing.read, framing.unread
            self.state = "body"
            if framing.expect and len(self.buffer) < self.need:
                self.transport.write(wire.CONTINUE)
        if self.state == "body" and len(self.buffer) >= self.need:
            self.dispatch(self.need)

    def refuse_head(self):
        """414 or 431, then read and drop the rest (the client is likely still sending)."""
        self.unread = DRAIN_BYTES
        if b"\n" not in self.buffer[: wire.MAX_REQUEST_LINE + 1]:
            self.refuse(414, "Request-URI Too Long", "414")  # http.server's own words
        else:
            self.refuse(431, f"the request line and headers have more than {MAX_HEAD_BYTES:,} bytes; at most "
                             f"{MAX_HEAD_BYTES:,}", "431")

    def timed_out(self):
        self.refuse(408, f"the request did not arrive in full within {REQUEST_SECONDS:g} s", "408")

    def dispatch(self, length):
        """Hand the first ``length`` bytes read (one request) to a worker; read no more until
        it answers."""
        raw = bytes(self.buffer[:length])
        del self.buffer[:length]
        self.state = "busy"
        self.cancel_timer()
        if not self.eof:
            self.transport.pause_reading()
        self.front.submit(self, raw)

    # -- answering ---------------------------------------------------------------------

    def answered(self, answer, close):
        """The worker's answer (bytes) to the request, and whether to close afterwards."""
        if self.state != "busy":
            return
        self.transport.write(answer)
        self.need = 0
        if close or self.eof:
            self.unread = max(0, min(self.unread, DRAIN_BYTES) - len(self.buffer))
            self.buffer.clear()
            return self.drain() if self.unread else self.finish()
        self.account(len(self.buffer))
        if self.writing_paused:
            self.state = "sending"
            self.set_timer(self.loop.time() + SEND_SECONDS, self.transport.abort)
        else:
            self.next_request()

    def next_request(self):
        """Keep the connection: go on with bytes already read, else wait `IDLE_SECONDS`."""
        if self.eof:
            return self.finish()
        self.transport.resume_reading()
        if self.buffer:
            self.expect_request(self.loop.time())
            self.advance()
        else:
            self.state = "idle"
            self.front.spare[self] = None
            self.set_timer(self.loop.time() + IDLE_SECONDS, self.finish)

    def drain(self):
        """Read and drop what arrives of a refused body (a socket closed on unread bytes
        resets the connection, and the client could lose the answer), for `DRAIN_SECONDS`."""
        self.state = "drain"
        self.transport.resume_reading()
        self.set_timer(self.loop.time() + DRAIN_SECONDS, self.finish)

    def refuse(self, status, message, event, headers=()):
        """Answer ``status`` with ``message`` ourselves, count it, and close (after reading and
        dropping ``unread`` bytes, if any: a 503 drops nothing, it sheds load)."""
        self.front.tally.add(event)
        self.transport.write(wire.refusal(status, message, headers))
        self.buffer.clear()
        self.account(0)
        self.drain() if self.unread and status != 503 else self.finish()

    def finish(self):
        """Close once the answer is written (cut after `SEND_SECONDS` if the client does not
        take it)."""
        self.front.spare.pop(self, None)
        if self.state == "closed":
            return
        self.state = "closing"
        self.transport.close()
        self.set_timer(self.loop.time() + SEND_SECONDS, self.transport.abort)

    # -- helpers -----------------------------------------------------------------------

    def account(self, size):
        """Hold ``size`` bytes of request: what is over `FREE_BYTES` comes from the front's
        budget. False (and nothing changed) when the budget cannot give it."""
        wanted = max(0, size - FREE_BYTES)
        if wanted > self.held and not self.front.reserve(wanted - self.held):
            return False
        if wanted < self.held:
            self.front.release(self.held - wanted)
        self.held = wanted
        return True

    def set_timer(self, when, callback):
        self.cancel_timer()
        self.timer = self.loop.call_at(when, callback)

    def cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
