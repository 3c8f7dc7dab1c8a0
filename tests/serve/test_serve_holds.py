"""`jumok serve` against slow, stalled, trickling, idle and greedy clients: a request must
arrive whole within its deadline (else 408 and the connection closed), heads and bodies are
bounded, connections beyond the bound make room or get 503, and none of it writes a
traceback or more than a line per 10 s. Deadlines are shortened here (the module constants
are read when used); the full-size attacks are benchmarks/serve_load.py's ``--hostile``
modes (docs/serve.md)."""

import io
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from checks import REPO
from serve_checks import predict, serving
from test_serve_api import start_command, wait_or_show_threads

from jumok.serve import connection, front, make_server, tally, wire

PREDICT = b'{"inputs": ["abc"]}'
HEAD = b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


@pytest.fixture
def server(char_run, model, monkeypatch):
    monkeypatch.setattr(connection, "REQUEST_SECONDS", 1.0)
    with serving(char_run, model=model) as server:
        yield server


def connect(server, sent=b""):
    s = socket.create_connection(server.server_address[:2], timeout=30)
    s.sendall(sent)
    return s


def sent_all(s):
    """``s``, its sending side shut (the server, reading to drop the rest, then closes)."""
    s.shutdown(socket.SHUT_WR)
    return s


def reply(s):
    """Everything the server sends until it closes the connection."""
    with s, s.makefile("rb") as f:
        return f.read()


def status_and_error(answer):
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), json.loads(body)["error"]


# ---------------------------------------------------------------------------------------
# Reading a request


def test_head_end_and_framing():
    assert wire.head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") is None
    assert wire.head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody") == 27
    assert wire.head_end(b"GET / HTTP/1.1\nHost: x\n\n") == 24 and wire.head_end(b"\r\nGET") == 2
    assert wire.framing(HEAD % 19) == wire.Framing(read=19)
    assert wire.framing(HEAD % (2 << 20)) == wire.Framing(unread=2 << 20)  # refused (413), then drained
    assert wire.framing(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n") == wire.Framing()
    assert wire.framing(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") == wire.Framing()
    assert wire.framing(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").expect
    assert wire.content_length("\u00b2") is None and wire.content_length("12") == 12


def test_a_stalled_request_gets_408_and_the_connection_closes(server):
    start = time.monotonic()
    answer = reply(connect(server, HEAD % 100000 + b'{"inputs": ["'))
    status, head, error = status_and_error(answer)
    assert status == 408 and "Connection: close" in head and error == "the request did not arrive in full within 1 s"
    assert 0.9 < time.monotonic() - start < 10
    assert predict(server, {"inputs": ["abc"]})[0] == 200


def test_a_trickling_request_is_cut_at_the_deadline_too(server):
    s = connect(server)
    start = time.monotonic()
    for byte in (HEAD % len(PREDICT))[:12]:
        try:
            s.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
    assert status_and_error(reply(s))[0] == 408 and time.monotonic() - start < 10


def test_a_connection_that_sends_nothing_gets_408(server):
    assert status_and_error(reply(connect(server)))[0] == 408


def test_a_head_over_the_limit_is_431_and_a_long_request_line_414(server):
    big = b"GET / HTTP/1.1\r\n" + b"X-Pad: " + b"a" * connection.MAX_HEAD_BYTES + b"\r\n\r\n"
    status, _, error = status_and_error(reply(sent_all(connect(server, big))))
    assert status == 431 and error == "the request line and headers have more than 65,536 bytes; at most 65,536"
    long_line = b"GET /" + b"a" * wire.MAX_REQUEST_LINE + b" HTTP/1.1\r\n\r\n"
    assert status_and_error(reply(sent_all(connect(server, long_line))))[:3:2] == (414, "Request-URI Too Long")


def test_more_than_100_headers_is_431_as_before(server):
    head = b"GET /api/run HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(101)) + b"\r\n"
    assert status_and_error(reply(connect(server, head)))[:3:2] == (431, "Too many headers")


def test_a_content_length_in_unicode_digits_is_400_not_a_traceback(server):
    s = connect(server, b"POST /api/predict HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n")
    status, _, error = status_and_error(reply(s))
    assert status == 400 and error == "Content-Length must be a number of bytes, got '\u00b2'"


def test_expect_100_continue_and_pipelined_requests(server):
    s = connect(server, b"POST /api/predict HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                % len(PREDICT))
    assert s.recv(100) == wire.CONTINUE
    s.sendall(PREDICT + HEAD % len(PREDICT) + PREDICT + b"GET /nothing HTTP/1.1\r\n\r\n")
    answers = reply(s).split(b"HTTP/1.1 ")[1:]
    assert [a[:3] for a in answers] == [b"200", b"200", b"404"]


def test_a_body_cut_short_by_the_client_is_400(server):
    s = connect(server, HEAD % 100 + b'{"inputs"')
    s.shutdown(socket.SHUT_WR)
    status, _, error = status_and_error(reply(s))
    assert status == 400 and error == "the body ended after 9 of 100 bytes"


def test_an_idle_kept_alive_connection_is_closed_without_a_word(server, monkeypatch):
    monkeypatch.setattr(connection, "IDLE_SECONDS", 0.5)
    s = connect(server, HEAD % len(PREDICT) + PREDICT)
    answer = reply(s)
    assert answer.startswith(b"HTTP/1.1 200") and answer.count(b"HTTP/1.1") == 1


# ---------------------------------------------------------------------------------------
# Bounds


def test_beyond_the_bound_an_idle_connection_makes_room_else_503(server, monkeypatch):
    monkeypatch.setattr(connection, "REQUEST_SECONDS", 10.0)
    server.front.bound = 2
    idle = connect(server, b"GET /api/run HTTP/1.1\r\n\r\n")
    assert idle.recv(12) == b"HTTP/1.1 200"
    busy = connect(server, b"GET /api/run HTTP/1.1\r\n")  # a request under way
    time.sleep(0.2)
    newcomer = connect(server, b"GET /api/run HTTP/1.1\r\nConnection: close\r\n")  # takes the idle one's place
    assert reply(idle).endswith(b"}")  # the rest of its answer, then closed
    status, head, error = status_and_error(reply(connect(server)))
    assert status == 503 and "Retry-After: 2" in head and error == "the server has too many connections open; try again"
    newcomer.sendall(b"\r\n")
    assert reply(newcomer).startswith(b"HTTP/1.1 200")
    busy.close()


def test_request_bytes_beyond_the_budget_get_503(server, monkeypatch):
    monkeypatch.setattr(front, "HELD_BYTES", 100 << 10)
    first = connect(server, HEAD % 200000 + b" " * (90 << 10))  # held: under the budget
    time.sleep(0.3)
    second = connect(server, HEAD % 200000 + b" " * (30 << 10))  # all read: the 503 is not lost to a reset
    status, head, error = status_and_error(reply(second))
    assert status == 503 and "Retry-After" in head and "too many request bytes" in error
    first.close()
    time.sleep(0.3)
    assert predict(server, {"inputs": ["abc"]})[0] == 200 and server.front.held == 0


# ---------------------------------------------------------------------------------------
# The log; a quick attack


def test_an_attack_is_one_log_line_a_period_and_no_traceback(char_run, model, monkeypatch):
    monkeypatch.setattr(connection, "REQUEST_SECONDS", 0.5)
    monkeypatch.setattr(tally, "PERIOD", 60)
    log = io.StringIO()
    server = make_server(char_run, "127.0.0.1", 0, log=log, model=model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sockets = [connect(server, b"POST /api/predict HTTP/1.1\r\n") for _ in range(30)]
        for s in sockets:
            reply(s)
        reset = connect(server, HEAD % 100)
        reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        reset.close()  # an abort: RST
        assert predict(server, {"inputs": ["abc"]})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    lines = log.getvalue().splitlines()
    notes = [line for line in lines if line.startswith("jumok: clients held off")]
    assert "Traceback" not in log.getvalue() and len(notes) <= 2 and "requests not in full in time (408)" in notes[0]
    assert sum(int(n.split(" requests not in full")[0].split()[-1]) for n in notes) == 30
    assert len(lines) == len(notes) + 1  # and the one request's line


def test_quick_attack_stalled_and_trickling_while_a_client_is_answered(server, monkeypatch):
    """The default suite's form of the hostile benchmark: 100 stalled and 100 trickling
    connections for 6 s (1-s deadline, reopened as the server closes them), while one client
    sends the fixed request."""
    records, stop = [], threading.Event()

    def client():
        while not stop.wait(0.1):
            start = time.monotonic()
            try:
                records.append((predict(server, {"inputs": ["abc"]})[0], time.monotonic() - start))
            except OSError as e:
                records.append((repr(e), time.monotonic() - start))

    thread = threading.Thread(target=client)
    thread.start()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    attack = subprocess.run([sys.executable, "-m", "benchmarks.serve_hostile", str(server.server_address[1]),
                             "stalled:100", "trickle:100", "--seconds", "6"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    stop.set()
    thread.join(timeout=60)
    assert attack.returncode == 0, attack.stderr
    report = json.loads(attack.stdout)
    for mode in ("stalled", "trickle"):
        ended = report[mode]["ended"]
        assert set(ended) <= {"408", "open"} and ended["408"] >= 100, report
        assert report[mode]["held_s"]["max"] < 5, report  # the deadline is 1 s
    assert records and all(status == 200 for status, _ in records), records
    assert predict(server, {"inputs": ["abc"]})[0] == 200 and server.front.held == 0


# ---------------------------------------------------------------------------------------
# Stopping with connections open


def test_sigterm_with_2000_connections_open_exits_at_once(char_run):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(2000, (hard if hard != resource.RLIM_INFINITY else 4096) - 200)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, count + 200)), hard))
    process = start_command(char_run, "--port", "0", "--quiet")
    sockets = []
    try:
        port = int(process.stdout.readline().split("http://127.0.0.1:")[1].split("/")[0])
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
        for s in sockets:
            s.sendall(HEAD % 100000)
        time.sleep(1)
        start = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert wait_or_show_threads(process) == 0 and process.stderr.read() == ""
        assert time.monotonic() - start < 10  # 0.1 s or so: the figure is the benchmark's, not this test's
    finally:
        for s in sockets:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        process.kill()
        process.communicate()
