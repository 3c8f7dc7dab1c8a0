"""`jumok serve`'s JSON API against a server on 127.0.0.1 (port 0), with the standard
library's HTTP client: answers equal the Python API's, every bad request is a JSON error with
its status and none stops the server, limits, several clients at once, the page's assets
from the package; and the command: where it listens, a port in use, Ctrl-C."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from importlib import resources

import pytest
from checks import REPO, train_flags, untrained_run
from serve_checks import TRAIN, call, predict, serving

import jumok
from jumok.models import MODELS
from jumok.serve import protocol

SRC = str(REPO / "src")
WORDS = ["abc", "fed", "ab", "fffa", "cab", "dad", "bee", "face"]
STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def server(char_run, model):
    with serving(char_run, model=model) as server:
        yield server


def rounded(weights):
    return [[round(float(w), protocol.WEIGHT_DIGITS) for w in row] for row in weights.tolist()]  # as Python rounds


# ---------------------------------------------------------------------------------------
# Answers


def test_predict_answers_what_the_python_api_gives(server, model):
    status, answer = predict(server, {"inputs": WORDS})
    assert status == 200 and answer["beam"] == 1 and answer["nbest"] == 1
    expected = model.predict(WORDS)
    assert [o["text"] for o in answer["outputs"]] == [e.text for e in expected]
    for got, want in zip(answer["outputs"], expected, strict=True):
        assert got["source"] == want.source and got["source_tokens"] == want.source_tokens
        assert got["steps"] == want.steps and got["tokens"] == want.tokens and got["unseen"] == []
        assert got["score"] is None and got["alternatives"] == []
        assert sum(got["attention"], []) == pytest.approx(sum(rounded(want.attention), []), abs=2e-6)
        assert len(got["attention"]) == len(got["steps"]) and {len(r) for r in got["attention"]} == {len(got["source"])}


def test_beam_search_gives_scores_and_the_nbest_list(server, model):
    status, answer = predict(server, {"inputs": ["abc", "fed"], "beam": 4, "nbest": 3})
    assert status == 200
    for got, want in zip(answer["outputs"], model.predict(["abc", "fed"], beam=4, nbest=3), strict=True):
        assert got["text"] == want.text and got["score"] == pytest.approx(want.score)
        assert [(a["text"], a["tokens"]) for a in got["alternatives"]] == \
            [(a.text, a.tokens) for a in want.alternatives]
        assert [a["score"] for a in got["alternatives"]] == pytest.approx([a.score for a in want.alternatives])
        assert len(got["alternatives"]) == 3 and got["alternatives"][0]["text"] == got["text"]
        assert sum(got["attention"], []) == pytest.approx(sum(rounded(want.attention), []), abs=2e-6)


def test_attention_false_leaves_the_weights_out_and_unk_maps_unseen_tokens(server):
    status, answer = predict(server, {"inputs": ["abz"], "attention": False, "unk": True})
    assert status == 200
    output = answer["outputs"][0]
    assert output["attention"] is None and output["unseen"] == ["z"] and output["source_tokens"] == ["a", "b", "<unk>"]


def test_run_reports_config_vocabulary_history_and_limits(server, model, char_run):
    status, response, run = call(server, "GET", "/api/run")
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    assert run["run_dir"] == str(char_run) and run["has_attention"] is True
    assert run["config"]["model"] == "attention" and run["config"]["hidden_size"] == 16
    assert run["vocab"] == {"source": len(model.source_vocab), "target": len(model.target_vocab)}
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3, 4] and "train_loss" in run["history"][0]
    assert run["limits"] == protocol.limits() and run["source_tokens"] == "char"
    assert run["model_settings"] == list(MODELS["attention"].settings) and "heads" not in run["model_settings"]
    assert (run["maps"], run["self_maps"], run["map_grid"]) == (["cross"], [], {})  # one map, no layers or heads


def test_the_page_and_its_assets_come_from_the_package(server):
    static = resources.files("jumok.serve").joinpath("static")
    status, response, page = call(server, "GET", "/")
    assert status == 200 and response.getheader("Content-Type").startswith("text/html")
    assert page == static.joinpath("index.html").read_bytes()
    assert b'src="/static/explorer.js"' in page and b'href="/static/explorer.css"' in page
    assert b'src="/static/heads.js"' in page
    assert b"http://" not in page and b"https://" not in page  # nothing from the network
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")
    for name, kind in (("explorer.css", "text/css"), ("heads.js", "text/javascript"),
                       ("explorer.js", "text/javascript")):
        status, response, data = call(server, "GET", f"/static/{name}")
        assert status == 200 and response.getheader("Content-Type").startswith(kind)
        assert data == static.joinpath(name).read_bytes() and b"https://" not in data
    status, response, _ = call(server, "HEAD", "/static/explorer.js")
    assert status == 200 and int(response.getheader("Content-Length")) == len(data)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_answers_what_the_python_api_gives(uppercase_run, name):
    """A run of each model (the one `jumok evaluate`'s tests train): /api/run names the model
    and its maps, and a fixed request, greedy and by beam search with an n-best list, gets the
    Python API's texts, scores and maps."""
    run_dir = uppercase_run(2, train_flags(name, TRAIN))
    model = jumok.load(run_dir)
    with serving(run_dir, model=model) as server:
        _, _, run = call(server, "GET", "/api/run")
        answers = {beam: predict(server, {"inputs": WORDS[:4], "beam": beam, "nbest": beam}) for beam in (1, 3)}
    assert (run["config"]["model"], run["maps"], run["has_attention"]) == (name, list(model.map_names),
                                                                         bool(model.map_names))
    for beam, (status, answer) in answers.items():
        assert status == 200
        for got, want in zip(answer["outputs"], model.predict(WORDS[:4], beam=beam, nbest=beam), strict=True):
            assert (got["text"], got["tokens"], got["steps"]) == (want.text, want.tokens, want.steps)
            assert got["score"] == (None if beam == 1 else pytest.approx(want.score))
            assert [(a["text"], a["score"]) for a in got["alternatives"]] == \
                [(a.text, pytest.approx(a.score)) for a in want.alternatives]
            assert list(got["maps"]) == list(want.maps) == list(model.map_names)
            for map_name, weights in want.maps.items():
                assert sum(got["maps"][map_name], []) == pytest.approx(sum(rounded(weights), []), abs=2e-6), map_name
            if want.attention is not None:
                assert sum(got["attention"], []) == pytest.approx(sum(rounded(want.attention), []), abs=2e-6)


def test_a_transformer_sends_the_self_attention_maps_asked_for(uppercase_run):
    """``"maps"`` names the kinds of map to send: a Transformer's encoder and decoder
    self-attention come as the Python API's; without it only the cross maps; with
    ``"attention": false`` none (and none are gathered)."""
    run_dir = uppercase_run(2, train_flags("transformer", TRAIN))
    model = jumok.load(run_dir)
    with serving(run_dir, model=model) as server:
        run = call(server, "GET", "/api/run")[2]
        asked = predict(server, {"inputs": WORDS[:2], "maps": ["enc-self", "dec-self"]})[1]["outputs"]
        plain = predict(server, {"inputs": WORDS[:2]})[1]["outputs"]
        none = predict(server, {"inputs": WORDS[:2], "attention": False})[1]["outputs"]
    want = model.decode([model.encode(w) for w in WORDS[:2]], maps=("enc-self", "dec-self"))
    for got, expected in zip(asked, want, strict=True):
        assert list(got["maps"]) == list(expected.maps) and set(expected.maps) == set(model.self_map_names)
        for name, weights in expected.maps.items():
            assert sum(got["maps"][name], []) == pytest.approx(sum(rounded(weights), []), abs=2e-6), name
        assert got["attention"] is None  # no cross map asked for
    assert all(list(out["maps"]) == list(model.map_names) for out in plain)
    assert all(out["maps"] == {} and out["attention"] is None for out in none)
    assert run["model_settings"] == list(MODELS["transformer"].settings) and "heads" in run["model_settings"]
    assert (run["maps"], run["self_maps"]) == (list(model.map_names), list(model.self_map_names))
    heads = {"0": [0, 1]}  # the tests' Transformer: one layer of two heads (checks.TRANSFORMER_FLAGS)
    assert run["map_grid"] == {"cross": heads, "enc-self": heads, "dec-self": heads}


def test_models_without_attention_and_word_tokens(tmp_path):
    run_dir = untrained_run(tmp_path / "plain", model="seq2seq")
    with serving(run_dir) as server:
        _, _, run = call(server, "GET", "/api/run")
        status, answer = predict(server, {"inputs": ["one two", "three"], "beam": 2})
    assert run["has_attention"] is False and run["source_tokens"] == "space"
    assert status == 200 and answer["outputs"][0]["source_tokens"] == ["one", "two"]
    assert all(o["attention"] is None for o in answer["outputs"])


# ---------------------------------------------------------------------------------------
# Bad requests: (what, method, path, body or raw bytes, headers, status, words of the message)

TOO_LONG = "a" * (protocol.MAX_INPUT_CHARS + 1)
BAD_REQUESTS = [
    ("bad JSON", "POST", "/api/predict", b'{"inputs": ["abc"', {}, 400, "not valid JSON"),
    ("not UTF-8", "POST", "/api/predict", b'{"inputs": ["\xff"]}', {}, 400, "not UTF-8"),
    ("not an object", "POST", "/api/predict", ["abc"], {}, 400, "must be a JSON object"),
    ("unknown key", "POST", "/api/predict", {"inputs": ["abc"], "beams": 2}, {}, 400, "unknown key 'beams'"),
    ("no inputs", "POST", "/api/predict", {"beam": 2}, {}, 400, "missing key 'inputs'"),
    ("inputs a string", "POST", "/api/predict", {"inputs": "abc"}, {}, 400, "'inputs' must be a list"),
    ("input not a string", "POST", "/api/predict", {"inputs": ["abc", 3]}, {}, 400, "input 2 must be a string"),
    ("beam a string", "POST", "/api/predict", {"inputs": ["abc"], "beam": "5"}, {}, 400, "'beam' must be an integer"),
    ("beam a boolean", "POST", "/api/predict", {"inputs": ["abc"], "beam": True}, {}, 400, "'beam' must be an integer"),
    ("beam a float", "POST", "/api/predict", {"inputs": ["abc"], "beam": 2.0}, {}, 400, "'beam' must be an integer"),
    ("nbest null", "POST", "/api/predict", {"inputs": ["abc"], "nbest": None}, {}, 400, "'nbest' must be an integer"),
    ("attention a string", "POST", "/api/predict", {"inputs": ["abc"], "attention": "yes"}, {}, 400,
     "'attention' must be true or false"),
    ("unk a number", "POST", "/api/predict", {"inputs": ["abc"], "unk": 1}, {}, 400, "'unk' must be true or false"),
    ("maps a string", "POST", "/api/predict", {"inputs": ["abc"], "maps": "cross"}, {}, 400,
     "'maps' must be a list of strings, got a string"),
    ("maps an unknown kind", "POST", "/api/predict", {"inputs": ["abc"], "maps": ["cross", "self"]}, {}, 422,
     "'maps' names 'self'; the kinds of attention map are cross, enc-self, dec-self"),
    ("no inputs given", "POST", "/api/predict", {"inputs": []}, {}, 422, "'inputs' is empty"),
    ("too many inputs", "POST", "/api/predict", {"inputs": ["abc"] * (protocol.MAX_INPUTS + 1)}, {}, 422,
     f"at most {protocol.MAX_INPUTS}"),
    ("input too long", "POST", "/api/predict", {"inputs": ["abc", TOO_LONG]}, {}, 422,
     f"input 2 has {len(TOO_LONG):,} characters; at most {protocol.MAX_INPUT_CHARS:,}"),
    ("beam 0", "POST", "/api/predict", {"inputs": ["abc"], "beam": 0}, {}, 422, "'beam' must be between 1 and"),
    ("beam too large", "POST", "/api/predict", {"inputs": ["abc"], "beam": protocol.MAX_BEAM + 1}, {}, 422,
     f"between 1 and {protocol.MAX_BEAM}"),
    ("nbest over beam", "POST", "/api/predict", {"inputs": ["abc"], "beam": 2, "nbest": 3}, {}, 422,
     "'nbest' must be between 1 and 'beam' (2), got 3"),
    ("empty input", "POST", "/api/predict", {"inputs": ["abc", ""]}, {}, 422, "input 2 is empty"),
    ("unseen characters", "POST", "/api/predict", {"inputs": ["abc", "abzq"]}, {}, 422,
     "input 2 'abzq' has tokens never seen in training: 'q' 'z'"),
    ("body too big", "POST", "/api/predict", b" " * (protocol.MAX_BODY_BYTES + 1), {}, 413,
     f"at most {protocol.MAX_BODY_BYTES:,}"),
    ("chunked body", "POST", "/api/predict", b"", {"Transfer-Encoding": "chunked"}, 411, "chunked request bodies"),
    ("Content-Length not a number", "POST", "/api/predict", b"", {"Content-Length": "x"}, 400,
     "Content-Length must be a number of bytes, got 'x'"),
    ("unknown path", "GET", "/api/nothing", None, {}, 404, "no such path '/api/nothing'"),
    ("unknown static file", "GET", "/static/secret.py", None, {}, 404, "no such path"),
    ("path outside static", "GET", "/static/../app.py", None, {}, 404, "no such path"),
    ("GET predict", "GET", "/api/predict", None, {}, 405, "GET is not allowed on /api/predict; use POST"),
    ("POST run", "POST", "/api/run", {}, {}, 405, "POST is not allowed on /api/run"),
    ("PUT page", "PUT", "/", b"x", {}, 405, "PUT is not allowed on /"),
    ("DELETE predict", "DELETE", "/api/predict", None, {}, 405, "DELETE is not allowed"),
]


@pytest.mark.parametrize("what, method, path, body, headers, status, words", BAD_REQUESTS,
                         ids=[case[0] for case in BAD_REQUESTS])
def test_each_bad_request_is_a_json_error_with_its_status(server, what, method, path, body, headers, status,
                                                          words):
    got, response, answer = call(server, method, path, body, headers)
    assert got == status, answer
    assert response.getheader("Content-Type") == "application/json" and set(answer) >= {"error"}
    assert words in answer["error"] and "\n" not in answer["error"]
    if status == 405:
        assert response.getheader("Allow")
    assert predict(server, {"inputs": ["abc"]})[0] == 200  # the server goes on


def test_unseen_characters_are_named_in_the_answer(server):
    status, answer = predict(server, {"inputs": ["abc", "zabz"]})
    assert status == 422 and answer["input"] == 2 and answer["unseen"] == ["z"]
    assert '"unk": true' in answer["error"]


def test_a_post_without_content_length_and_a_broken_request_line(server):
    with socket.create_connection(server.server_address[:2], timeout=30) as s:
        s.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.makefile("rb").read().decode()
    assert reply.startswith("HTTP/1.1 411") and '"a POST needs a Content-Length header"' in reply
    with socket.create_connection(server.server_address[:2], timeout=30) as s:
        s.sendall(b"GET / and more HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = s.makefile("rb").read().decode()
    assert reply.startswith("HTTP/1.1 400") and "Content-Type: application/json" in reply
    assert '{"error": "Bad request syntax' in reply
    assert predict(server, {"inputs": ["abc"]})[0] == 200


def test_decoding_past_the_time_limit_is_stopped(server, monkeypatch):
    monkeypatch.setattr(protocol, "DECODE_SECONDS", 0.0)
    monkeypatch.setattr(protocol, "SLICE_TOKENS", 4)  # one input a piece
    status, answer = predict(server, {"inputs": ["abc", "fed", "ab"]})
    assert status == 422 and "decoding took longer than 0 s and was stopped after 1 of 3 inputs" in answer["error"]
    monkeypatch.undo()
    assert predict(server, {"inputs": ["abc", "fed", "ab"]})[0] == 200


class SlowDecoding:
    """``model.decode`` that first waits for ``release`` (set it to let decoding go on), and
    counts the batches and their rows."""

    def __init__(self, model):
        self.decode, self.release, self.batches = model.decode, threading.Event(), []

    def __call__(self, sources, *args, **kwargs):
        self.batches.append(len(sources))
        assert self.release.wait(timeout=60)
        return self.decode(sources, *args, **kwargs)


def in_thread(target, *args):
    results = []
    thread = threading.Thread(target=lambda: results.append(target(*args)))
    thread.start()
    return thread, results


def test_a_request_that_waits_too_long_for_the_model_gets_503(server, model, monkeypatch):
    slow = SlowDecoding(model)
    monkeypatch.setattr(model, "decode", slow)
    first, answers = in_thread(predict, server, {"inputs": ["abc"]})
    while not slow.batches:
        time.sleep(0.01)
    monkeypatch.setattr(protocol, "QUEUE_SECONDS", 0.05)
    status, answer = predict(server, {"inputs": ["fed"], "beam": 2})  # cannot share the first one's batch
    assert status == 503 and "the server is busy" in answer["error"]
    slow.release.set()
    first.join(timeout=60)
    assert answers[0][0] == 200 and slow.batches == [1]  # the refused request was never decoded
    assert predict(server, {"inputs": ["abc"]})[0] == 200


def test_requests_that_wait_together_are_decoded_together(server, model, monkeypatch):
    alone = {text: predict(server, {"inputs": [text], "beam": 2})[1]["outputs"][0] for text in WORDS[:5]}
    slow = SlowDecoding(model)
    monkeypatch.setattr(model, "decode", slow)
    blocker, _ = in_thread(predict, server, {"inputs": ["abc"]})
    while not slow.batches:
        time.sleep(0.01)
    waiting = [in_thread(predict, server, {"inputs": [text], "beam": 2}) for text in WORDS[:5]]
    while len(server.decoder.queue) < 5:
        time.sleep(0.01)
    slow.release.set()
    for thread, _ in [(blocker, None), *waiting]:
        thread.join(timeout=60)
    assert slow.batches == [1, 5]  # the five beam-2 requests in one batch
    for text, (_, results) in zip(WORDS[:5], waiting):
        status, answer = results[0]
        got = answer["outputs"][0]
        assert status == 200 and got["text"] == alone[text]["text"] and got["steps"] == alone[text]["steps"]
        assert got["score"] == pytest.approx(alone[text]["score"], rel=1e-4)
        assert sum(got["attention"], []) == pytest.approx(sum(alone[text]["attention"], []), abs=1e-4)


def test_decoding_in_pieces_gives_the_answer_of_one_piece(server, monkeypatch):
    whole = predict(server, {"inputs": WORDS, "beam": 3, "nbest": 2})[1]
    monkeypatch.setattr(protocol, "SLICE_TOKENS", 5)
    pieces = predict(server, {"inputs": WORDS, "beam": 3, "nbest": 2})[1]["outputs"]
    for got, want in zip(pieces, whole["outputs"], strict=True):  # float32 sums may differ in the last bits
        assert [a["text"] for a in got["alternatives"]] == [a["text"] for a in want["alternatives"]]
        assert got["steps"] == want["steps"] and got["score"] == pytest.approx(want["score"], rel=1e-4)
        assert sum(got["attention"], []) == pytest.approx(sum(want["attention"], []), abs=1e-4)


# ---------------------------------------------------------------------------------------
# Several clients; keep-alive


def test_several_clients_at_once_get_their_own_answers(server):
    expected = {text: predict(server, {"inputs": [text], "beam": 2})[1]["outputs"][0] for text in WORDS}
    failures, done = [], []

    def client(number):
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
        try:
            for k in range(6):
                text = WORDS[(number + k) % len(WORDS)]
                status, answer = predict(server, {"inputs": [text], "beam": 2}, connection=connection)
                got = answer["outputs"][0] if status == 200 else {}
                if got.get("text") != expected[text]["text"] or got["steps"] != expected[text]["steps"] or \
                        abs(got["score"] - expected[text]["score"]) > 1e-4:  # batched: float32 last bits may differ
                    failures.append((number, text, status))
                done.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures and len(done) == 8 * 6


def test_one_connection_carries_many_requests(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    try:
        for _ in range(3):
            assert call(server, "GET", "/api/run", connection=connection)[0] == 200
            assert predict(server, {"inputs": ["abc"]}, connection=connection)[0] == 200
    finally:
        connection.close()


# ---------------------------------------------------------------------------------------
# The command


def start_command(run_dir, *argv):
    """`jumok serve RUN_DIR ARGV` as a terminal starts it, SIGINT handled (a shell's background
    job inherits SIGINT ignored, and Python keeps that: run so, the Ctrl-C test would hang),
    with faulthandler on, so SIGABRT writes every thread's stack to stderr."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen([sys.executable, "-m", "jumok", "serve", str(run_dir), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_or_show_threads(process, seconds=30):
    """The exit code of `process`; if it has not ended within `seconds`, fail with the stack
    of each of its threads."""
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        pytest.fail(f"still running {seconds} s after the signal; its threads:\n{process.communicate(timeout=30)[1]}")


def test_the_command_says_where_it_listens_and_ctrl_c_ends_it_cleanly(char_run):
    process = start_command(char_run, "--port", "0")
    try:
        line = process.stdout.readline()
        assert line.startswith(f"jumok: serving {char_run} at http://127.0.0.1:") and "(Ctrl-C stops)" in line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/run")
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGINT)
        assert wait_or_show_threads(process) == 130
        stderr = process.stderr.read()
        assert "Traceback" not in stderr and stderr.rstrip().endswith("jumok: interrupted")
        assert '"GET /api/run HTTP/1.1" 200' in stderr  # the request log
    finally:
        process.kill()
        process.communicate()


def test_sigterm_ends_it_cleanly_too(char_run):
    process = start_command(char_run, "--port", "0", "--quiet")
    try:
        assert process.stdout.readline().startswith("jumok: serving")
        process.terminate()
        assert wait_or_show_threads(process) == 0 and process.stderr.read() == ""
    finally:
        process.kill()
        process.communicate()


def test_a_port_in_use_is_one_clear_line_and_a_failing_exit(char_run):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_command(char_run, "--port", str(port))
        out, err = process.communicate(timeout=STARTUP_SECONDS)
    assert process.returncode == 1 and out == ""
    assert err == (f"jumok: error: cannot listen on 127.0.0.1:{port}: the address is already in use "
                   f"(another server? choose one with --port)\n")


def test_a_missing_run_directory_is_one_line(tmp_path):
    process = start_command(tmp_path / "nothing", "--port", "0")
    out, err = process.communicate(timeout=STARTUP_SECONDS)
    assert process.returncode == 1 and err == f"jumok: error: {tmp_path / 'nothing'}: no such run directory\n"


def test_the_wheel_ships_the_page(tmp_path):
    """`pip install .` (not editable) must carry static/: build a wheel of a copy of the
    project and look inside. (Under .ci/run the tests import the installed package, so the
    page tests above serve it from there too.)"""
    build_meta = pytest.importorskip("setuptools.build_meta")
    project = tmp_path / "project"
    shutil.copytree(REPO / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, project / name)
    cwd = os.getcwd()
    try:
        os.chdir(project)
        name = build_meta.build_wheel(str(tmp_path))
    except SystemExit:  # setuptools < 70.1 without the wheel package: no bdist_wheel command
        pytest.skip("this setuptools cannot build a wheel (no bdist_wheel); pip install wheel")
    finally:
        os.chdir(cwd)
    names = zipfile.ZipFile(tmp_path / name).namelist()
    for asset in ("index.html", "explorer.js", "heads.js", "explorer.css"):
        assert f"jumok/serve/static/{asset}" in names
