"""`jumok predict` streaming many stdin lines through a real process: one output line per
input, in input order, whatever the batches. (Throughput and memory under load:
``python -m benchmarks.predict_load``.)"""

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from checks import REPO, UPPERCASE_TRAIN

from jumok import api
from jumok.decoding import chunks as decode_chunks
from jumok.cli import main

LINES = 5_000
SRC = str(REPO / "src")


@pytest.fixture(scope="module")
def run_dir(uppercase_run):
    return uppercase_run(3, UPPERCASE_TRAIN)


@pytest.fixture(scope="module")
def inputs():
    """LINES random a..f words (outputs vary, so a line out of order would show)."""
    rng = random.Random(5)
    return ["".join(rng.choices("abcdef", k=rng.randint(2, 6))) for _ in range(LINES)]


def predict_process(run_dir, stdin, *argv):
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "jumok", "predict", str(run_dir), *argv], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_stdin_lines_come_back_one_each_in_order(run_dir, inputs, tmp_path, capsys):
    assert main(["predict", str(run_dir), *inputs]) == 0  # arguments: decoded in chunks of 256, in order
    expected = capsys.readouterr().out.splitlines()
    assert len(expected) == LINES
    (tmp_path / "in.txt").write_text("".join(f"{text}\n" for text in inputs))
    with open(tmp_path / "in.txt", "rb") as source:  # a file: every batch is a full 256, as above
        process = predict_process(run_dir, source, "--batch-size", "256")
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and err == b"", err.decode()
    assert out.decode().splitlines() == expected


def test_lines_written_in_uneven_pieces_all_come_back(run_dir, inputs):
    """Through a pipe fed in pieces that split lines, batches are whatever has arrived."""
    data = "".join(f"{text}\n" for text in inputs).encode()
    process = predict_process(run_dir, subprocess.PIPE, "--batch-size", "64")

    def write():
        rng, start = random.Random(1), 0
        while start < len(data):
            end = start + rng.randint(1, 4000)
            process.stdin.write(data[start:end])
            process.stdin.flush()
            start = end
        process.stdin.close()

    errors = []
    threads = [threading.Thread(target=write, daemon=True),
               threading.Thread(target=lambda: errors.append(process.stderr.read()), daemon=True)]
    for thread in threads:
        thread.start()
    out = process.stdout.read()
    for thread in threads:
        thread.join(timeout=300)
    assert process.wait(timeout=300) == 0 and errors == [b""], errors
    lines = out.decode().splitlines()
    assert len(lines) == LINES
    assert set("".join(lines)) <= set("ABCDEF")  # upper-case outputs, one per line


def test_decode_chunks_keep_order_and_bound_rows_times_length():
    sources = [[1] * n for n in (3, 1, 4, 1, 5, 9, 2, 6, 20, 3)]
    chunks = list(decode_chunks(sources, budget=12))
    assert [ids for chunk in chunks for ids in chunk] == sources
    assert [len(chunk) for chunk in chunks] == [3, 2, 1, 2, 1, 1]
    assert all(len(c) * max(map(len, c)) <= 12 for c in chunks if len(c) > 1)  # [20] is alone, over the budget
    assert [len(chunk) for chunk in decode_chunks([[1]] * 5, beam=3, budget=12)] == [4, 1]  # the beam counts
    assert list(decode_chunks([])) == []
    assert [len(chunk) for chunk in decode_chunks([[1]] * 7, rows=3, budget=5)] == [3, 2, 2]  # runs, then rows
    assert [len(chunk) for chunk in decode_chunks([[1]] * 7, rows=3)] == [3, 3, 1]  # no budget: rows only


def test_long_inputs_are_decoded_in_pieces_one_answer_each(run_dir, inputs, monkeypatch, capsys):
    monkeypatch.setattr(api, "DECODE_BUDGET", 40)
    texts = [text * 8 if i % 5 == 0 else text for i, text in enumerate(inputs[:200])]
    assert main(["predict", str(run_dir), *texts]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(texts) and set("".join(lines)) <= set("ABCDEF")


def test_the_load_benchmark_runs_end_to_end(run_dir, tmp_path):
    """`python -m benchmarks.predict_load` in a small mode (no timing asserted)."""
    root = Path(SRC).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, str(root)])}
    out = tmp_path / "load.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.predict_load", "--run", str(run_dir),
                           "--lines", "300,1000", "--batch-size", "64", "--out", str(out)],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert [r["lines"] for r in record["results"]] == [300, 1000]
    assert all(r["peak_rss_mib"] > 0 and r["lines_per_s"] > 0 for r in record["results"])
    assert record["batch_size"] == 64 and record["model"]["hidden_size"] == 16
