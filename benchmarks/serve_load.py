"""How does `jumok serve` hold up under load? Concurrent clients on loopback for a fixed time.

    PYTHONPATH=src python -m benchmarks.serve_load RUN_DIR [--seconds 30] [--clients 8]
                                                   [--label vm] [--out PATH.json]

Starts ``python -m jumok serve RUN_DIR --port 0 --quiet`` as its own process (on 127.0.0.1,
a free port), then runs ``--clients`` threads in this process, each with one keep-alive
connection, sending requests back to back until ``--seconds`` have passed. Every client
cycles through a fixed mix of four requests: a 1-input greedy request, a 32-input greedy
request, another 1-input greedy one and a 1-input beam-5 request (so half 1-input greedy, a
quarter 32-input greedy, a quarter 1-input beam 5), attention weights included; clients
start at different points of the cycle. Inputs are sources of the run's task (dates for the
date tasks, sums for addition), else random strings over its source vocabulary; a fixed
pool, drawn from a seeded generator per client.

A failure is any answer that is not 200 with one output per input, or a request that
raises. Reported: requests and inputs per second, latency p50 / p99 / max (overall and by
kind), failures. The record goes to benchmarks/results/serve-load-<label>-<date>.json.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.common import RESULTS, child_env, machine, write_record
from jumok.data.tasks import GENERATORS

MIX = (("greedy-1", 1, 1), ("greedy-32", 32, 1), ("greedy-1", 1, 1), ("beam5-1", 1, 5))  # (kind, inputs, beam)
POOL = 2000
STARTUP_SECONDS = 120
REQUEST_TIMEOUT = 120


def input_pool(run_dir, size=POOL, seed=0):
    """Inputs the run can translate: its task's sources if it generates them, else random
    strings of 3 to 12 tokens over its source vocabulary."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    if config["task"] in ("date", "date-chapter", "addition"):
        return [source for source, _ in GENERATORS[config["task"]](size, seed=seed + 1)]
    tokens = [t for t in json.loads((Path(run_dir) / "vocab.json").read_text())["source"]["tokens"] if t.strip()]
    separator = " " if config["source_tokens"] == "space" else ""
    rng = random.Random(seed)
    return [separator.join(rng.choices(tokens, k=rng.randint(3, 12))) for _ in range(size)]


def start_server(run_dir):
    """(process, port) of ``jumok serve RUN_DIR --port 0 --quiet``, once it says where it is."""
    env = child_env(os.environ.get("OPENBLAS_NUM_THREADS", "1"))  # one BLAS thread unless set
    process = subprocess.Popen([sys.executable, "-m", "jumok", "serve", str(run_dir), "--port", "0", "--quiet"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if "http://127.0.0.1:" not in line:
        process.kill()
        raise SystemExit(f"jumok serve did not start: {line}{process.communicate()[1]}")
    return process, int(line.split("http://127.0.0.1:")[1].split("/")[0])


def client(port, number, pool, deadline, records):
    """Send the mix from position ``number`` until ``deadline``; append (kind, seconds, ok, why)."""
    rng = random.Random(number)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    step = number
    try:
        while time.perf_counter() < deadline:
            kind, count, beam = MIX[step % len(MIX)]
            step += 1
            body = json.dumps({"inputs": rng.sample(pool, count), "beam": beam}).encode()
            start = time.perf_counter()
            ok, why = False, None
            try:
                connection.request("POST", "/api/predict", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                data = response.read()
                ok = response.status == 200 and len(json.loads(data)["outputs"]) == count
                why = None if ok else f"HTTP {response.status}: {data[:200]!r}"
            except Exception as e:  # noqa: BLE001 - every failure counts, whatever it is
                why = f"{type(e).__name__}: {e}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
            records.append((kind, time.perf_counter() - start, ok, why))
    finally:
        connection.close()


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else None


def latency(values):
    ms = [1000 * v for v in values]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1),
            "max_ms": round(max(ms), 1), "mean_ms": round(statistics.fmean(ms), 1)} if ms else {"n": 0}


def run_load(port, pool, seconds, clients):
    """Drive the server on ``port``: the measurements as a dict."""
    records, deadline = [], time.perf_counter() + seconds
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(port, n, pool, deadline, records)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    sizes = {kind: count for kind, count, _ in MIX}
    failures = [why for _, _, ok, why in records if not ok]
    return {"seconds": round(elapsed, 2), "clients": clients, "requests": len(records),
            "requests_per_s": round(len(records) / elapsed, 1),
            "inputs_per_s": round(sum(sizes[kind] for kind, *_ in records) / elapsed, 1),
            "latency": latency([s for _, s, ok, _ in records if ok]),
            "by_kind": {kind: latency([s for k, s, ok, _ in records if k == kind and ok]) for kind in sizes},
            "failures": len(failures), "failure_examples": failures[:5]}


def main(argv=None):
    p = argparse.ArgumentParser(description="Concurrent clients against jumok serve on loopback.")
    p.add_argument("run_dir")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--label", default=platform.node() or "host")
    p.add_argument("--out", help="JSON record (default benchmarks/results/serve-load-<label>-<date>.json)")
    args = p.parse_args(argv)
    config = json.loads((Path(args.run_dir) / "config.json").read_text())
    pool = input_pool(args.run_dir)
    process, port = start_server(args.run_dir)
    try:
        result = run_load(port, pool, args.seconds, args.clients)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    today = datetime.date.today().isoformat()
    record = {"benchmark": "serve_load", "date": today, "label": args.label, "run_dir": str(args.run_dir),
              "model": {k: config[k] for k in ("task", "model", "hidden_size", "embed_size", "layers")},
              "mix": [{"kind": kind, "inputs": count, "beam": beam} for kind, count, beam in MIX],
              "machine": machine(),
              "command": " ".join(["python -m benchmarks.serve_load", *(argv if argv is not None else sys.argv[1:])]),
              **result}
    write_record(record, args.out or RESULTS / f"serve-load-{args.label}-{today}.json")
    lat = result["latency"]
    print(f"{result['requests']} requests in {result['seconds']} s from {args.clients} clients: "
          f"{result['requests_per_s']} requests/s, {result['inputs_per_s']} inputs/s; latency p50 "
          f"{lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms; {result['failures']} failures")
    for kind, stats in result["by_kind"].items():
        print(f"  {kind:10} {stats['n']:6} requests  p50 {stats.get('p50_ms')} ms  p99 {stats.get('p99_ms')} ms")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
