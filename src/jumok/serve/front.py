"""`jumok serve`'s front end: one asyncio event loop accepts the connections and reads each
request whole (`jumok.serve.connection.Connection`) before a worker thread
(`jumok.serve.workers.Workers`) hands it to the handler, so that no thread ever waits on a
client's socket and a stalled or trickling client costs a few kilobytes, not a thread.

Bounds: at most `MAX_CONNECTIONS` open connections (fewer if the open-file limit, raised to
its hard limit at start, leaves less room: asyncio accepts up to a backlog's worth of
connections at once before those refused are closed, so the bound keeps that many files, and
`FD_RESERVE` more, under the limit); a connection beyond it takes the place of the
longest-idle one (kept alive between requests, or open with nothing sent yet), or when none
is idle is answered 503 with ``Retry-After`` and closed at once. At most `HELD_BYTES` of
requests are held beyond each connection's own `connection.FREE_BYTES`; a request that
finds them spent is refused (503). What these refusals and the deadlines cost is counted in a
`jumok.serve.tally.Tally`, a line every 10 s at most.
"""

import asyncio
import socket
import sys
import threading
import traceback

from jumok.serve import wire
from jumok.serve.connection import RETRY_AFTER, Connection
from jumok.serve.tally import Tally
from jumok.serve.workers import Workers

MAX_CONNECTIONS = 4000  # open at once; beyond it the longest-idle one is closed, else 503
HELD_BYTES = 32 << 20  # bytes of requests held beyond each connection's FREE_BYTES, all together
BACKLOG = 1024  # connections the kernel queues before they are accepted (capped by somaxconn and
# by a quarter of the open-file limit); also the most asyncio accepts at once
WORKERS = 32  # threads running handlers: requests decoded together in one batch, at most
FD_RESERVE = 64  # open files kept for everything but connections
READ_BYTES = 64 << 10  # most bytes read from a socket at once
INTERNAL_ERROR = wire.refusal(500, "internal server error (the server's log has the traceback)")


def raise_file_limit():
    """Raise this process's soft limit on open files to its hard limit; the limit now."""
    try:
        import resource
    except ImportError:  # not on Unix: what select() can watch
        return 512
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + FD_RESERVE if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def listening(address, backlog):
    """A TCP socket bound to ``address`` and listening (OSError if the address cannot be had).
    Made as IPPROTO_TCP, so that asyncio sets TCP_NODELAY on the connections it accepts."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait for TIME_WAIT
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


class Front:
    """Listens on ``address`` (bound here: an address in use raises OSError at once) and
    answers each whole request with ``handle(raw, peer)`` → (answer bytes, close?), run in a
    worker thread. ``log``: a text stream for the `Tally` line and tracebacks, or None."""

    def __init__(self, address, handle, log):
        limit = raise_file_limit()
        self.backlog = min(BACKLOG, max(8, limit // 4))
        self.bound = max(1, min(MAX_CONNECTIONS, limit - self.backlog - FD_RESERVE))
        self.sock = listening(address, self.backlog)
        self.address = self.sock.getsockname()
        self.handle, self.log = handle, log
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self.tally = Tally(log, self.loop)
        self.connections, self.spare = set(), {}  # spare: idle ones, oldest first
        self.held = 0
        self.scratch = memoryview(bytearray(READ_BYTES))  # every read lands here first
        self.workers = Workers(WORKERS)
        self.server = None
        self.starting = None  # the task that starts `server`, in the loop's first pass
        self.stopped = threading.Event()
        self.stopped.set()  # not serving yet

    # -- running -----------------------------------------------------------------------

    def serve_forever(self):
        """Answer until `shutdown` (from another thread) or an exception (Ctrl-C, SIGTERM)."""
        self.stopped.clear()
        try:
            if self.server is None and (self.starting is None or self.starting.done()):
                self.starting = self.loop.create_task(self._listen())  # inside run_forever, so that a
                # `stop_soon` at any moment leaves nothing half-run (see `_close_connections`)
            self.loop.run_forever()
        finally:
            self._close_connections()
            self.stopped.set()

    async def _listen(self):
        """Start listening on `sock` (the loop's first pass)."""
        self.server = await self.loop.create_server(lambda: Connection(self), sock=self.sock, backlog=self.backlog)

    def stop_soon(self):
        """Ask `serve_forever` to return, without waiting for it: safe from a signal handler
        that runs in the thread serving (SIGTERM), where `shutdown` would wait forever."""
        self.loop.call_soon_threadsafe(self.loop.stop)

    def shutdown(self):
        """Stop `serve_forever` and wait until it has returned."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.stopped.wait()

    def close(self):
        """Close the listening socket and the loop, once `serve_forever` has returned (it closes
        the connections itself, in its own thread: this one may run another event loop)."""
        if self.loop.is_closed():
            return
        self.tally.flush()
        self.loop.close()
        self.sock.close()
        self.workers.stop()

    def _close_connections(self):
        """Stop listening and cut every connection (in the thread that ran the loop)."""
        if not self.starting.done():
            self.starting.cancel()  # stopped before it listened: the pass below ends the task
        if self.server is not None:
            self.server.close()
        for connection in list(self.connections):
            connection.transport.abort()
        # one pass of the loop runs their connection_lost calls (scheduled by abort) and ends
        # a cancelled start. Not run_until_complete: a stop asked for before it would end the
        # pass before its future and raise.
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()

    # -- what connections ask of it ----------------------------------------------------

    def admit(self, connection):
        """Take a new connection in, making room by closing the longest-idle one if the bound
        is reached; False (the connection answered 503 and closing) when none is idle."""
        if len(self.connections) >= self.bound:
            if not self.spare:
                connection.refuse(503, "the server has too many connections open; try again",
                                  "503-connections", [RETRY_AFTER])
                return False
            next(iter(self.spare)).finish()
        self.connections.add(connection)
        self.spare[connection] = None
        return True

    def forget(self, connection):
        self.connections.discard(connection)
        self.spare.pop(connection, None)

    def reserve(self, size):
        if self.held + size > HELD_BYTES:
            return False
        self.held += size
        return True

    def release(self, size):
        self.held -= size

    def submit(self, connection, raw):
        """Have a worker answer the request ``raw``; the answer goes back to ``connection`` in
        the loop's thread."""
        self.workers.submit(self._answer, connection, raw)

    def _answer(self, connection, raw):
        try:
            answer, close = self.handle(raw, connection.peer)
        except Exception:  # a bug: a traceback in the log, 500 to the client, the server goes on
            traceback.print_exc(file=self.log or sys.stderr)
            answer, close = INTERNAL_ERROR, True
        try:
            self.loop.call_soon_threadsafe(connection.answered, answer, close)
        except RuntimeError:  # the loop is closed: the server has stopped
            pass

    def _loop_error(self, loop, context):
        """A socket error the loop met (a failed accept, at the open-file limit, say) is
        counted; anything else is a bug, and gets asyncio's report with its traceback."""
        if isinstance(context.get("exception"), OSError):
            self.tally.add("accept" if "accept" in context.get("message", "") else "socket")
        else:
            loop.default_exception_handler(context)
