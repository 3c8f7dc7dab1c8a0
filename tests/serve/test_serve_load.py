"""The loopback load test of `jumok serve` in its quick form: a few seconds of 8 clients
sending the fixed mix to a server process on a tiny trained run, with no failure."""

import json
import os
import subprocess
import sys

from checks import REPO, train_uppercase_run
from serve_checks import TRAIN


def test_quick_load_has_no_failures(tmp_path):
    run_dir = train_uppercase_run(tmp_path, 1, TRAIN)
    out = tmp_path / "load.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.serve_load", str(run_dir), "--seconds", "3",
                           "--label", "test", "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads(out.read_text())
    assert record["failures"] == 0 and record["clients"] == 8 and record["requests"] >= 8
    kinds = {kind: stats["n"] for kind, stats in record["by_kind"].items()}
    assert set(kinds) == {"greedy-1", "greedy-32", "beam5-1"} and min(kinds.values()) >= 1
    assert kinds["greedy-1"] >= kinds["greedy-32"]  # half of the mix
    assert record["latency"]["p50_ms"] <= record["latency"]["p99_ms"]
    assert "0 failures" in proc.stdout
