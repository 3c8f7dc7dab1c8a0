"""The candidate server stacks `jumok serve` was measured against: its API's two JSON routes
(``GET /api/run``, ``POST /api/predict``, the same checks and decoder) as a bare ASGI app,
served by uvicorn or granian, for `benchmarks.serve_load` (``--server``):

    python -m benchmarks.serve_load RUN_DIR --server "python -m benchmarks.serve_stacks uvicorn {run_dir}"
    python -m benchmarks.serve_load RUN_DIR --server "python -m benchmarks.serve_stacks granian {run_dir}"

Each is set up as it would have to be for jumok: 4,000 connections at most (uvicorn's
``limit_concurrency``, granian's ``backpressure``), idle keep-alive closed after 30 s, a
backlog of 1,024, granian's HTTP/1 header read timeout at 10 s. Neither library is a
dependency of jumok; install them to run this (pip install uvicorn granian).
"""

import asyncio
import json
import os
import socket
import sys

from jumok.serve import protocol
from jumok.serve.batching import Decoder
from jumok.serve.protocol import RequestError

RUN_ENV = "JUMOK_STACK_RUN"  # granian imports the app in its worker: the run directory comes this way


class App:
    """``GET /api/run`` and ``POST /api/predict`` over one run, as an ASGI app."""

    def __init__(self, run_dir):
        from jumok.api import load

        self.model = load(run_dir)
        self.decoder = None  # made in the serving process's first request (granian forks workers)
        self.run_info = json.dumps(protocol.run_json(self.model)).encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        try:
            status, body = await self.route(scope, receive)
        except RequestError as e:
            status, body = e.status, json.dumps(e.body()).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def route(self, scope, receive):
        if scope["path"] == "/api/run":
            return 200, self.run_info
        if scope["path"] != "/api/predict" or scope["method"] != "POST":
            raise RequestError(404, "no such path")
        body = await read_body(receive)
        request = protocol.parse_predict(json.loads(body))
        answer = await asyncio.get_running_loop().run_in_executor(None, self.predict, request)
        return 200, json.dumps(answer).encode()

    def predict(self, request):
        if self.decoder is None:
            self.decoder = Decoder(self.model)
        outputs, seconds = self.decoder.submit(protocol.encode_inputs(self.model, request), request.beam,
                                               request.nbest)
        return {"outputs": [protocol.output_json(o, request.attention) for o in outputs], "seconds": seconds}


async def read_body(receive):
    chunks, size = [], 0
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > protocol.MAX_BODY_BYTES:
            raise RequestError(413, "body too large")
        if not message.get("more_body"):
            return b"".join(chunks)


def granian_app():
    """The app for granian's worker (``benchmarks.serve_stacks:granian_app``, a factory)."""
    return App(os.environ[RUN_ENV])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_uvicorn(run_dir):
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    config = uvicorn.Config(App(run_dir), limit_concurrency=4000, timeout_keep_alive=30, backlog=1024,
                            log_level="warning", access_log=False)
    print(f"uvicorn: serving {run_dir} at http://127.0.0.1:{sock.getsockname()[1]}/", flush=True)
    uvicorn.Server(config).run(sockets=[sock])


def serve_granian(run_dir):
    from granian import Granian

    port = free_port()
    os.environ[RUN_ENV] = str(run_dir)
    server = Granian("benchmarks.serve_stacks:granian_app", address="127.0.0.1", port=port, interface="asgi",
                     http="1", factory=True, backlog=1024, backpressure=4000, http1_settings=_granian_http1(),
                     log_enabled=False)
    print(f"granian: serving {run_dir} at http://127.0.0.1:{port}/", flush=True)
    server.serve()


def _granian_http1():
    from granian.http import HTTP1Settings

    return HTTP1Settings(header_read_timeout=10_000, keep_alive=True)


if __name__ == "__main__":
    {"uvicorn": serve_uvicorn, "granian": serve_granian}[sys.argv[1]](sys.argv[2])
