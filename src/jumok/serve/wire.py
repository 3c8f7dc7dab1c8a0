"""The bytes of HTTP/1.1 that `jumok serve`'s front end reads and writes itself: where a
request's head (request line and headers) ends, how many body bytes follow it, and the few
answers the front end sends without a handler (408, 414, 431, 503).

Everything else about a request (its method, path, headers, body and every error message)
is the handler's, `jumok.serve.app.Handler`; the front end only needs to know when a request
has arrived whole, so that a handler never waits on a socket.
"""

import http.client
import io
import json
import re
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from jumok.serve import protocol

SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:",  # no CDN, ever
                    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
MAX_REQUEST_LINE = 65536  # as the standard library's http.server: a longer request line is 414
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_HEAD_END = re.compile(rb"\n\r?\n")


def head_end(buffer, start=0):
    """The length of the head at the start of ``buffer`` (through its blank line), or None
    while it is incomplete; a request that starts with a blank line is a head of that line
    alone (the handler closes the connection without an answer, as http.server does).
    ``start``: where new bytes begin, so that a trickled head is not searched again."""
    if buffer[:1] == b"\n" or buffer[:2] == b"\r\n":
        return 1 if buffer[:1] == b"\n" else 2
    match = _HEAD_END.search(buffer, max(0, start - 3))
    return match.end() if match else None


def content_length(text):
    """The number a Content-Length header's ``text`` states, or None if it states none (the
    handler refuses such a request with today's message). ASCII digits only: ``'²'.isdigit()``."""
    return int(text) if text is not None and text.isascii() and text.isdigit() else None


@dataclass(frozen=True)
class Framing:
    """What follows a head: ``read`` body bytes belong to this request (read before the
    handler runs), ``unread`` of a refused body are read and dropped after the answer, and
    ``expect`` says the client waits for ``100 Continue`` before sending its body."""

    read: int = 0
    unread: int = 0
    expect: bool = False


def framing(head):
    """The `Framing` of a request whose head is ``head`` (bytes). A body the handler will
    refuse unread (over `protocol.MAX_BODY_BYTES`) is ``unread``; a chunked body, or a
    Content-Length that is not a number, has no length the front end can trust: it reads
    none, and the handler refuses the request and closes the connection."""
    line, _, rest = head.partition(b"\n")
    try:
        headers = http.client.parse_headers(io.BytesIO(rest))
    except http.client.HTTPException:  # too many headers: the handler answers 431
        return Framing()
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return Framing()
    length = content_length(headers.get("Content-Length"))
    if not length:
        return Framing()
    if length > protocol.MAX_BODY_BYTES:
        return Framing(unread=length)
    expect = line.split()[-1:] == [b"HTTP/1.1"] and headers.get("Expect", "").lower() == "100-continue"
    return Framing(read=length, expect=expect)


def refusal(status, message, headers=()):
    """The bytes of an answer the front end sends itself: ``{"error": message}`` as JSON, the
    server's security headers, ``Connection: close``."""
    body = json.dumps({"error": message}, ensure_ascii=False).encode("utf-8")
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Server: jumok", f"Date: {formatdate(usegmt=True)}",
             "Content-Type: application/json", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in (*SECURITY_HEADERS.items(), *headers)), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
