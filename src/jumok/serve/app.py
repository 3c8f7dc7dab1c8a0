"""The HTTP side of `jumok serve`: one process; an asyncio front end (`jumok.serve.front`)
reads each request whole, within a deadline and bounds, and a worker thread answers it with
the standard library's `BaseHTTPRequestHandler` over the request's bytes in memory (HTTP/1.1,
keep-alive).

Routes: ``GET /`` the page, ``GET /static/NAME`` its assets (read once from the package's
``static`` folder), ``GET /api/run`` and ``POST /api/predict`` (see `jumok.serve.protocol`).
An unknown path is 404, a known one with the wrong method 405 (with ``Allow``). Every error
the server sends, its own or the HTTP parser's (a malformed request line, too many headers),
is JSON ``{"error": "..."}``; an unexpected exception in a handler is logged with its
traceback and answered 500, and the server goes on.

Decoding happens in one thread (`jumok.serve.batching.Decoder`), which decodes requests that
wait together as one batch; a request waits at most `QUEUE_SECONDS` for it (then 503), and
one still decoding after `DECODE_SECONDS` is refused with 422.
"""

import contextlib
import io
import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from importlib import resources

from jumok.errors import JumokError
from jumok.serve import protocol, wire
from jumok.serve.batching import Decoder
from jumok.serve.front import Front
from jumok.serve.protocol import RequestError

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
BIG_BODY_BYTES = 64 << 10  # a body over this is parsed as JSON by at most BIG_PARSES threads at once
BIG_PARSES = threading.BoundedSemaphore(2)  # 1 MiB of JSON can take ~25 MB as Python objects


def static_files():
    """{URL path: (bytes, content type)} of every asset shipped in the package's static folder;
    ``/`` is index.html."""
    files = {}
    for entry in resources.files("jumok.serve").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in CONTENT_TYPES:
            files[f"/static/{entry.name}"] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    files["/"] = files["/static/index.html"]
    return files


class ExplorerServer:
    """Serves one `jumok.api.Model` on ``address``. ``log`` (a text stream or None) gets one
    line a request, and a line every 10 s at most about clients held off (`jumok.serve.tally`).
    Run it with `serve_forever`; `shutdown` (from another thread) stops it, `stop_soon` (from
    a signal handler) asks it to stop, `server_close` releases the address and the decoding
    thread."""

    def __init__(self, model, address, log=sys.stderr):
        self.model = model
        self.log = log
        self.files = static_files()
        self.run_info = json.dumps(protocol.run_json(model), allow_nan=False).encode("utf-8")
        self.front = Front(address, self.answer, log)  # OSError here when the address cannot be had
        self.server_address = self.front.address
        self.decoder = Decoder(model)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def serve_forever(self):
        self.front.serve_forever()

    def shutdown(self):
        self.front.shutdown()

    def stop_soon(self):
        self.front.stop_soon()

    def server_close(self):
        self.front.close()
        self.decoder.stop()

    def answer(self, raw, peer):
        """(answer bytes, close the connection?) for one whole request ``raw`` from ``peer``."""
        handler = Handler(raw, peer, self)
        handler.handle_one_request()
        return handler.wfile.getvalue(), handler.close_connection

    def predict(self, request):
        """The JSON answer to a checked `protocol.PredictRequest`."""
        sources = protocol.encode_inputs(self.model, request)
        try:
            outputs, seconds = self.decoder.submit(sources, request.beam, request.nbest, request.decoding_maps())
        except JumokError as e:  # not expected once the inputs are encoded; kept as a guard
            raise RequestError(422, str(e)) from None
        return {"outputs": [protocol.output_json(o, request.attention) for o in outputs], "beam": request.beam,
                "nbest": request.nbest, "seconds": round(seconds, 6)}


class Handler(BaseHTTPRequestHandler):
    """One request, already whole in memory: ``raw`` is its bytes (head and the body the head
    announced, or none when the front end leaves a body it will refuse unread); the answer
    is written to ``wfile`` (a `io.BytesIO`) for the front end to send. Call
    `handle_one_request` once."""

    protocol_version = "HTTP/1.1"
    server_version = "jumok"
    sys_version = ""
    error_content_type = "application/json"

    ROUTES = {"/api/run": ("GET", "HEAD"), "/api/predict": ("POST",)}

    def __init__(self, raw, client_address, server):  # no socket: BaseRequestHandler's set-up is not wanted
        self.rfile, self.wfile = io.BytesIO(raw), io.BytesIO()
        self.client_address, self.server = client_address, server
        self.request = self.connection = None
        self.close_connection = True

    def handle_expect_100(self):
        return True  # the front end sent "100 Continue" itself, when it went on to read the body

    # -- answering ----------------------------------------------------------------------

    def send_body(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (*wire.SECURITY_HEADERS.items(), *headers):
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, document, headers=()):
        body = json.dumps(document, ensure_ascii=False, allow_nan=False).encode("utf-8")
        self.send_body(status, body, "application/json", headers)

    def send_error(self, code, message=None, explain=None):
        """The HTTP parser's errors (and ours) as JSON, never the default HTML page."""
        self.close_connection = True
        self.send_json(code, {"error": message or HTTPStatus(code).phrase})

    def log_message(self, format, *args):
        if self.server.log is not None:
            print(f"{self.address_string()} {format % args}", file=self.server.log, flush=True)

    # -- routing ------------------------------------------------------------------------

    def route(self):
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        try:
            if path in self.server.files or path in self.ROUTES:
                allowed = ("GET", "HEAD") if path in self.server.files else self.ROUTES[path]
                if self.command not in allowed:
                    raise RequestError(405, f"{self.command} is not allowed on {path}; use {' or '.join(allowed)}",
                                       headers={"Allow": ", ".join(allowed)})
                if path in self.server.files:
                    self.discard_body()
                    self.send_body(200, *self.server.files[path])
                elif path == "/api/run":
                    self.discard_body()
                    self.send_body(200, self.server.run_info, "application/json")
                else:
                    self.send_json(200, self.server.predict(protocol.parse_predict(self.read_json())))
            else:
                raise RequestError(404, f"no such path {path!r}; the page is at / and the API at /api/run and "
                                        f"/api/predict")
        except RequestError as e:
            headers = e.extra.pop("headers", {})
            self.close_connection = True  # after an error, start afresh (the front end drains an unread body)
            self.send_json(e.status, e.body(), headers.items())
        except Exception:  # a bug must not stop the server: log it, answer 500
            traceback.print_exc(file=self.server.log or sys.stderr)
            self.close_connection = True
            self.send_json(500, {"error": "internal server error (the server's log has the traceback)"})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = route

    # -- reading the body ---------------------------------------------------------------

    def body_length(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise RequestError(411, "chunked request bodies are not supported; send a Content-Length")
        text = self.headers.get("Content-Length")
        if text is None:
            return None
        if wire.content_length(text) is None:
            raise RequestError(400, f"Content-Length must be a number of bytes, got {text!r}")
        return int(text)

    def discard_body(self):
        """Read and drop the body of a GET (so a keep-alive connection stays in step)."""
        length = self.body_length() or 0
        if length > protocol.MAX_BODY_BYTES:
            raise RequestError(413, f"the body has {length:,} bytes; at most {protocol.MAX_BODY_BYTES:,}")
        self.rfile.read(length)

    def read_json(self):
        length = self.body_length()
        if length is None:
            raise RequestError(411, "a POST needs a Content-Length header")
        if length > protocol.MAX_BODY_BYTES:
            raise RequestError(413, f"the body has {length:,} bytes; at most {protocol.MAX_BODY_BYTES:,}")
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, f"the body ended after {len(body):,} of {length:,} bytes")
        try:
            with BIG_PARSES if length > BIG_BODY_BYTES else contextlib.nullcontext():
                return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise RequestError(400, f"the body is not UTF-8 (byte {e.start + 1})") from None
        except json.JSONDecodeError as e:
            raise RequestError(400, f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") \
                from None
        except RecursionError:
            raise RequestError(400, "the body is not valid JSON: nested too deeply") from None
