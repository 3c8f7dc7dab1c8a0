"""What the `jumok serve` tests share: runs to serve, a server on a free loopback port in a
thread of the test process, and a standard-library HTTP client."""

import contextlib
import http.client
import json
import threading
from pathlib import Path

import numpy as np

from jumok.rundir import PARAMS, save_params, save_setup
from jumok.config import Config
from jumok.data.vocab import Vocab
from jumok.models import build_model
from jumok.serve import make_server

TRAIN = ["--epochs", "4", "--hidden-size", "16", "--embed-size", "8", "--batch-size", "16", "--lr", "0.02",
         "--lr-decay", "1", "--quiet"]


def untrained_word_run(run_dir, **changes):
    """A run directory with an untrained (seeded) model on whitespace-separated words."""
    config = Config(task="tsv", data="train.tsv", embed_size=4, hidden_size=8, max_output_length=4,
                    source_tokens="space", target_tokens="space", **changes)
    src_vocab, tgt_vocab = Vocab(["one", "two", "three"]), Vocab(["uno", "dos", "tres"])
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(Path(run_dir) / PARAMS, build_model(config, len(src_vocab), len(tgt_vocab),
                                                    np.random.default_rng(1)))
    return Path(run_dir)


@contextlib.contextmanager
def serving(run_dir, model=None):
    """An `ExplorerServer` for ``run_dir`` on 127.0.0.1 at a free port, answering in a thread
    (no request log); shut down on leaving."""
    server = make_server(run_dir, "127.0.0.1", 0, log=None, model=model)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def call(server, method, path, body=None, headers=None, connection=None):
    """(status, headers, decoded JSON or the raw bytes) of one request; ``body`` may be a
    document (sent as JSON), bytes or None."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode("utf-8")
    own = connection is None
    if own:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        kind = response.getheader("Content-Type", "")
        document = json.loads(data) if kind.startswith("application/json") and data else data
        return response.status, response, document
    finally:
        if own:
            connection.close()


def predict(server, document, connection=None):
    """(status, JSON answer) of ``POST /api/predict``."""
    status, _, answer = call(server, "POST", "/api/predict", document, connection=connection)
    return status, answer
