"""Hostile clients against a server on loopback, in a process of their own (so that they do
not share a GIL with the well-behaved client that measures the server meanwhile):

    python -m benchmarks.serve_hostile PORT MODE:COUNT [MODE:COUNT ...] [--seconds S]

Each MODE holds COUNT connections open at once for S seconds, opening a new one a second
after the server closes one (as a slowloris does), except ``burst``:

- ``stalled``: the head of a ``POST /api/predict`` with ``Content-Length: 100000`` and the
  first bytes of the body, then nothing;
- ``trickle``: the same bytes, one a second;
- ``idle``: a whole ``GET /api/run``, its answer read, then the connection kept open;
- ``burst``: COUNT connections opened as fast as they can be, each kept open with nothing
  sent, none opened again;
- ``bodies``: the head of a POST with ``Content-Length: 1048576`` and 1 MiB − 1 byte of body;
- ``heads``: a request line of 8 KiB and headers up to 64 KiB − 64 bytes in all, no end.

Printed: one JSON object, for each mode: connections opened, connects that failed, how the
server ended them (the status of its answer, ``reset``, or ``closed`` without one; ``open``:
still open at the end), and how long it held those it ended (p50, p99, max seconds).
"""

import argparse
import asyncio
import json
import time

HOST = "127.0.0.1"
PREDICT_HEAD = (b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n")
PARTIAL = PREDICT_HEAD % 100000 + b'{"inputs": ["'
BODY_BYTES = 1 << 20
REOPEN_SECONDS = 1.0
HEAD_LIMIT = 64 << 10


def big_head():
    """A request line of 8 KiB and headers to 64 B short of 64 KiB in all, with no blank line."""
    head = b"GET /" + b"a" * 8192 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    n = 0
    while len(head) < HEAD_LIMIT - 700:
        head += b"X-Pad-%02d: %s\r\n" % (n, b"b" * 600)
        n += 1
    return head + b"X-Last: " + b"c" * (HEAD_LIMIT - 64 - len(head) - 10) + b"\r\n"


async def send(mode, writer):
    """Send what ``mode`` sends before it waits for the server."""
    if mode in ("stalled", "bodies", "heads"):
        writer.write({"stalled": PARTIAL, "heads": big_head(),
                      "bodies": PREDICT_HEAD % BODY_BYTES + b" " * (BODY_BYTES - 1)}[mode])
        await writer.drain()
    elif mode == "idle":
        writer.write(b"GET /api/run HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()


async def trickle(writer):
    for n in range(len(PARTIAL)):
        writer.write(PARTIAL[n : n + 1])
        await writer.drain()
        await asyncio.sleep(1.0)
    await asyncio.sleep(3600)


async def status(reader):
    """The status of the server's next answer, and its Content-Length (0 if none)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = head.split(b"Content-Length:")[1].split(b"\r\n")[0] if b"Content-Length:" in head else b"0"
    return head.split()[1].decode(), int(length)


async def ending(mode, reader):
    """How the server ends a connection of ``mode``: the status of its answer (``idle``: of its
    answer after the first, whole request's), ``closed`` without one, ``reset`` without one."""
    code = "closed"
    try:
        code, length = await status(reader)
        if mode == "idle" and code == "200":
            await reader.readexactly(length)
            code = "200, then closed idle"
            code, _ = await status(reader)
        await reader.read()
    except asyncio.IncompleteReadError:
        pass
    except OSError:
        return "reset" if code == "closed" else code
    return code


async def one(mode, port, deadline, record):
    """Open one connection, send ``mode``'s bytes, and note how the server ends it."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(max(0.0, deadline - start)):
            reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
    except (OSError, TimeoutError):
        record["connect failed"] += 1
        return
    record["opened"] += 1
    sender = asyncio.ensure_future(trickle(writer) if mode == "trickle" else send(mode, writer))
    sender.add_done_callback(lambda task: task.cancelled() or task.exception())  # a reset is no news
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            how = await ending(mode, reader)
    except TimeoutError:
        how = "open"
    finally:
        sender.cancel()
        writer.transport.abort()
    record["ended"][how] = record["ended"].get(how, 0) + 1
    if how != "open":
        record["held"].append(time.monotonic() - start)


async def slot(mode, port, deadline, record):
    """Keep one connection of ``mode`` open until ``deadline``, opening another after each."""
    while time.monotonic() < deadline:
        await one(mode, port, deadline, record)
        if mode == "burst":
            return
        await asyncio.sleep(REOPEN_SECONDS)


def summary(record):
    held = sorted(record.pop("held"))
    pick = (lambda q: round(held[min(len(held) - 1, round(q * (len(held) - 1)))], 2)) if held else (lambda q: None)
    return {**record, "held_s": {"p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)}}


async def attack(port, modes, seconds):
    deadline = time.monotonic() + seconds
    records = {mode: {"count": count, "opened": 0, "connect failed": 0, "ended": {}, "held": []} for mode, count in modes}
    await asyncio.gather(*(slot(mode, port, deadline, records[mode]) for mode, count in modes for _ in range(count)))
    return {mode: summary(record) for mode, record in records.items()}


def raise_file_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv=None):
    p = argparse.ArgumentParser(description="Hostile clients against a server on 127.0.0.1.")
    p.add_argument("port", type=int)
    p.add_argument("modes", nargs="+", help="MODE:COUNT, MODE one of stalled trickle idle burst bodies heads")
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args(argv)
    modes = [(mode, int(count)) for mode, count in (m.split(":") for m in args.modes)]
    raise_file_limit()
    print(json.dumps(asyncio.run(attack(args.port, modes, args.seconds))), flush=True)


if __name__ == "__main__":
    main()
