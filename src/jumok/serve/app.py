"""The HTTP side of `jumok serve`: one process, the standard library's ThreadingHTTPServer
(a thread per connection), HTTP/1.1 with keep-alive.

Routes: ``GET /`` the page, ``GET /static/NAME`` its assets (read once from the package's
``static`` folder), ``GET /api/run`` and ``POST /api/predict`` (see `jumok.serve.protocol`).
An unknown path is 404, a known one with the wrong method 405 (with ``Allow``). Every error
the server sends, its own or the HTTP parser's (a malformed request line, headers too long),
is JSON ``{"error": "..."}``; an unexpected exception in a handler is logged with its
traceback and answered 500, and the server goes on.

Decoding happens in one thread (`jumok.serve.batching.Decoder`), which decodes requests that
wait together as one batch; a request waits at most `QUEUE_SECONDS` for it (then 503), and
one still decoding after `DECODE_SECONDS` is refused with 422.
"""

import json
import socket
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

from jumok.errors import JumokError
from jumok.serve import protocol
from jumok.serve.batching import Decoder
from jumok.serve.protocol import RequestError

CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
IDLE_SECONDS = 30  # a keep-alive connection with no request for this long is closed
DRAIN_BYTES = 16 << 20  # most of a refused body read (and dropped) before the answer
DRAIN_SECONDS = 2
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:",  # no CDN, ever
                    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


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


class ExplorerServer(ThreadingHTTPServer):
    """Serves one `jumok.api.Model`. ``log`` (a text stream or None) gets one line a request."""

    daemon_threads = True  # Ctrl-C does not wait for idle keep-alive connections
    allow_reuse_address = True

    def __init__(self, model, address, log=sys.stderr):
        self.model = model
        self.log = log
        self.files = static_files()
        self.run_info = json.dumps(protocol.run_json(model), allow_nan=False).encode("utf-8")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.decoder = None
        super().__init__(address, Handler)
        self.decoder = Decoder(model)  # once the address is had

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def predict(self, request):
        """The JSON answer to a checked `protocol.PredictRequest`."""
        sources = protocol.encode_inputs(self.model, request)
        try:
            outputs, seconds = self.decoder.submit(sources, request.beam, request.nbest)
        except JumokError as e:  # not expected once the inputs are encoded; kept as a guard
            raise RequestError(422, str(e)) from None
        return {"outputs": [protocol.output_json(o, request.attention) for o in outputs], "beam": request.beam,
                "nbest": request.nbest, "seconds": round(seconds, 6)}

    def server_close(self):
        super().server_close()
        if self.decoder is not None:  # None when binding failed
            self.decoder.stop()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "jumok"
    sys_version = ""
    timeout = IDLE_SECONDS
    error_content_type = "application/json"
    disable_nagle_algorithm = True  # headers and body go out as two writes: without this the body waits
    # for the client's delayed ACK of the headers, 40 ms on Linux, on every answer

    ROUTES = {"/api/run": ("GET", "HEAD"), "/api/predict": ("POST",)}

    # -- answering ----------------------------------------------------------------------

    def send_body(self, status, body, content_type, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (*SECURITY_HEADERS.items(), *headers):
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
        self.body_read = False
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
            self.drain_body()
            self.close_connection = True  # after an error, start afresh: the body may be unread
            self.send_json(e.status, e.body(), headers.items())
        except Exception:  # a bug must not stop the server: log it, answer 500
            traceback.print_exc(file=self.server.log or sys.stderr)
            self.close_connection = True
            self.send_json(500, {"error": "internal server error (the server's log has the traceback)"})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = route

    # -- reading the body ---------------------------------------------------------------

    def body_length(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.body_read = True  # no way to tell where it ends
            raise RequestError(411, "chunked request bodies are not supported; send a Content-Length")
        text = self.headers.get("Content-Length")
        if text is None:
            return None
        if not text.isdigit():
            self.body_read = True
            raise RequestError(400, f"Content-Length must be a number of bytes, got {text!r}")
        return int(text)

    def discard_body(self):
        """Read and drop the body of a GET (so a keep-alive connection stays in step)."""
        length = self.body_length() or 0
        if length > protocol.MAX_BODY_BYTES:
            raise RequestError(413, f"the body has {length:,} bytes; at most {protocol.MAX_BODY_BYTES:,}")
        self.rfile.read(length)
        self.body_read = True

    def drain_body(self):
        """Before an error answer, read what of an unread body arrives within `DRAIN_SECONDS`
        (at most `DRAIN_BYTES`): a socket closed with unread data resets the connection, and the
        client could lose the answer."""
        if getattr(self, "body_read", False):
            return
        self.body_read = True
        try:
            left = min(int(self.headers.get("Content-Length", "0")), DRAIN_BYTES)
        except ValueError:
            return
        self.connection.settimeout(DRAIN_SECONDS)
        try:
            while left > 0:
                chunk = self.rfile.read1(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def read_json(self):
        length = self.body_length()
        if length is None:
            raise RequestError(411, "a POST needs a Content-Length header")
        if length > protocol.MAX_BODY_BYTES:
            raise RequestError(413, f"the body has {length:,} bytes; at most {protocol.MAX_BODY_BYTES:,}")
        body = self.rfile.read(length)
        self.body_read = True
        if len(body) < length:
            raise RequestError(400, f"the body ended after {len(body):,} of {length:,} bytes")
        try:
            return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise RequestError(400, f"the body is not UTF-8 (byte {e.start + 1})") from None
        except json.JSONDecodeError as e:
            raise RequestError(400, f"the body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") \
                from None
        except RecursionError:
            raise RequestError(400, "the body is not valid JSON: nested too deeply") from None
