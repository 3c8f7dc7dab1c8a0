"""How does `jumok serve` hold up under load, and against hostile clients? Clients on
loopback for a fixed time.

    PYTHONPATH=src python -m benchmarks.serve_load RUN_DIR [--seconds 30] [--clients 8]
                                                   [--label vm] [--out PATH.json]
    PYTHONPATH=src python -m benchmarks.serve_load RUN_DIR --hostile MODE:COUNT [...]
                                                   [--seconds 60] [--rate 10] [--stop-under-attack]
    ... [--server "COMMAND {run_dir}"]   (another server to measure; it prints the same first line)

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

With ``--hostile``, the hostile clients of `benchmarks.serve_hostile` (a process of their own)
attack for ``--seconds`` while one well-behaved client sends the fixed request (``POST
/api/predict``, one greedy input) ``--rate`` times a second, each on a new connection (on one
kept alive with ``--keep-alive``), for 5 s before, during and 5 s after the attack. Reported: the well-behaved client's latency p50 /
p99 / max and failures in each phase, the server's memory (RSS; peak), threads and open
files (sampled every 0.5 s), and how the server ended the hostile connections and after how
long. ``--stop-under-attack`` sends SIGTERM halfway through the attack instead and reports
how long the server took to exit. The record goes to
benchmarks/results/serve-hostile-<label>-<date>.json.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import random
import shlex
import signal
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


def start_server(run_dir, command=None):
    """(process, port) of ``jumok serve RUN_DIR --port 0 --quiet`` (or of ``command``, with
    ``{run_dir}`` in it), once it says where it is."""
    env = child_env(os.environ.get("OPENBLAS_NUM_THREADS", "1"))  # one BLAS thread unless set
    argv = shlex.split(command.format(run_dir=run_dir)) if command else \
        [sys.executable, "-m", "jumok", "serve", str(run_dir), "--port", "0", "--quiet"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if "http://127.0.0.1:" not in line:
        process.kill()
        raise SystemExit(f"jumok serve did not start: {line}{process.communicate()[1]}")
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    answered(port)
    return process, port


def answered(port, seconds=STARTUP_SECONDS):
    """Wait until the server on ``port`` answers ``GET /api/run`` (a server that prints its
    address before it listens, granian, needs this)."""
    deadline = time.perf_counter() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/api/run")
            connection.getresponse().read()
            return connection.close()
        except OSError:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.2)


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


WARM_SECONDS = 5.0  # the well-behaved client alone, before and after an attack
WELL_BEHAVED_TIMEOUT = 30  # seconds without an answer: the request failed


def process_tree(pid):
    """``pid`` and the processes it started, and theirs (a server with worker processes)."""
    pids, k = [pid], 0
    while k < len(pids):
        for task in Path(f"/proc/{pids[k]}/task").iterdir():
            pids += [int(child) for child in (task / "children").read_text().split()]
        k += 1
    return pids


def watch(pid, stop, samples):
    """Every 0.5 s until ``stop``: (seconds, RSS MB, threads, open files) of process ``pid``
    and its children, summed."""
    start = time.perf_counter()
    while not stop.wait(0.5):
        try:
            rss, threads, files = (sum(column) for column in zip(*map(usage, process_tree(pid))))
        except (OSError, ValueError, KeyError):  # gone, or one of its children is: no sample this time
            if not Path(f"/proc/{pid}").exists():
                return
            continue
        samples.append((round(time.perf_counter() - start, 1), round(rss / 1024, 1), threads, files))


def usage(pid):
    """(RSS kB, threads, open files) of process ``pid``."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"]), len(os.listdir(f"/proc/{pid}/fd"))


def well_behaved(port, text, rate, stop, records, keep_alive=False):
    """Send the fixed request (``text``, greedy), each on a new connection (or all on one kept
    alive), pausing 1/``rate`` s after each answer, until ``stop``; append (start, seconds, ok,
    why)."""
    body, connection = json.dumps({"inputs": [text]}).encode(), None
    while not stop.wait(1 / rate):
        start, ok, why = time.perf_counter(), False, None
        try:
            connection = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=WELL_BEHAVED_TIMEOUT)
            connection.request("POST", "/api/predict", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            data = response.read()
            ok = response.status == 200 and len(json.loads(data)["outputs"]) == 1
            why = None if ok else f"HTTP {response.status}: {data[:200]!r}"
        except Exception as e:  # noqa: BLE001 - every failure counts, whatever it is
            why = f"{type(e).__name__}: {e}"
        if not (ok and keep_alive):
            connection.close()
            connection = None
        records.append((start, time.perf_counter() - start, ok, why))


def attack(port, modes, seconds, server, stop_under_attack):
    """Run the hostile clients for ``seconds``: (their report, seconds the server took to exit
    after SIGTERM halfway through, or None)."""
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.serve_hostile", str(port), *modes, "--seconds",
                                str(seconds)], stdout=subprocess.PIPE, text=True, env=child_env())
    exit_seconds = None
    if stop_under_attack:
        time.sleep(seconds / 2)
        start = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        exit_seconds = round(time.perf_counter() - start, 3)
    out = process.communicate(timeout=seconds + 120)[0]
    return json.loads(out.splitlines()[-1]), exit_seconds


def phases(records, start, end):
    """The well-behaved client's latency and failures before, during and after the attack."""
    def phase(chosen):
        return {**latency([s for _, s, ok, _ in chosen if ok]), "failures": sum(not ok for *_, ok, _ in chosen),
                "failure_examples": [why for *_, ok, why in chosen if not ok][:3]}

    return {"before": phase([r for r in records if r[0] < start]),
            "during": phase([r for r in records if start <= r[0] < end]),
            "after": phase([r for r in records if r[0] >= end])}


def run_hostile(server, port, text, args):
    """The well-behaved client and the sampler around an attack: the measurements as a dict."""
    stop, records, samples = threading.Event(), [], []
    threads = [threading.Thread(target=well_behaved, args=(port, text, args.rate, stop, records, args.keep_alive)),
               threading.Thread(target=watch, args=(server.pid, stop, samples))]
    for thread in threads:
        thread.start()
    time.sleep(WARM_SECONDS)
    start = time.perf_counter()
    hostile, exit_seconds = attack(port, args.hostile, args.seconds, server, args.stop_under_attack)
    end = time.perf_counter()
    if not args.stop_under_attack:
        time.sleep(WARM_SECONDS)
    stop.set()
    for thread in threads:
        thread.join()
    columns = ("seconds", "rss_mb", "threads", "open_files")
    return {"hostile": hostile, "attack_seconds": round(end - start, 1), "well_behaved": phases(records, start, end),
            "server": {"max_" + name: max((s[k] for s in samples), default=None) for k, name in enumerate(columns)
                       if k}, "exit_seconds_after_sigterm": exit_seconds,
            "samples": [dict(zip(columns, s)) for s in samples]}


def report_hostile(result):
    """Print the hostile run's main figures."""
    for name, phase in result["well_behaved"].items():
        print(f"well-behaved {name:6}: {phase['n']} answered, p50 {phase.get('p50_ms')} ms, p99 "
              f"{phase.get('p99_ms')} ms, max {phase.get('max_ms')} ms; {phase['failures']} failures")
    server = result["server"]
    print(f"server: at most {server['max_rss_mb']} MB, {server['max_threads']} threads, "
          f"{server['max_open_files']} open files; exit after SIGTERM: {result['exit_seconds_after_sigterm']} s")
    for mode, record in result["hostile"].items():
        print(f"{mode}: {record['opened']} opened, {record['connect failed']} failed to connect, ended "
              f"{record['ended']}, held p50 {record['held_s']['p50']} s, max {record['held_s']['max']} s")


def parse_args(argv):
    p = argparse.ArgumentParser(description="Concurrent or hostile clients against jumok serve on loopback.")
    p.add_argument("run_dir")
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--label", default=platform.node() or "host")
    p.add_argument("--out", help="JSON record (default benchmarks/results/serve-<load|hostile>-<label>-<date>.json)")
    p.add_argument("--hostile", nargs="+", metavar="MODE:COUNT",
                   help="attack (benchmarks.serve_hostile modes: stalled trickle idle burst bodies heads) while one "
                        "well-behaved client sends the fixed request")
    p.add_argument("--rate", type=float, default=10, help="the well-behaved client's requests a second (--hostile)")
    p.add_argument("--keep-alive", action="store_true",
                   help="the well-behaved client keeps one connection (default: a new one for each request)")
    p.add_argument("--stop-under-attack", action="store_true", help="SIGTERM the server halfway (--hostile)")
    p.add_argument("--server", help='another server\'s command, e.g. "python -m benchmarks.serve_stacks uvicorn '
                                    '{run_dir}"; it prints a line with http://127.0.0.1:PORT/ first')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    config = json.loads((Path(args.run_dir) / "config.json").read_text())
    pool = input_pool(args.run_dir)
    process, port = start_server(args.run_dir, args.server)
    try:
        result = run_hostile(process, port, pool[0], args) if args.hostile else \
            run_load(port, pool, args.seconds, args.clients)
    finally:
        process.terminate()
        process.communicate(timeout=30)
    today = datetime.date.today().isoformat()
    kind = "hostile" if args.hostile else "load"
    record = {"benchmark": f"serve_{kind}", "date": today, "label": args.label, "run_dir": str(args.run_dir),
              "model": {k: config[k] for k in ("task", "model", "hidden_size", "embed_size", "layers")},
              "mix": [{"kind": k, "inputs": count, "beam": beam} for k, count, beam in MIX] if kind == "load" else
              [{"kind": "fixed", "inputs": 1, "beam": 1, "per_s": args.rate}],
              "machine": machine(), "server": args.server or "jumok serve",
              "command": " ".join(["python -m benchmarks.serve_load", *(argv if argv is not None else sys.argv[1:])]),
              **result}
    write_record(record, args.out or RESULTS / f"serve-{kind}-{args.label}-{today}.json")
    if args.hostile:
        report_hostile(result)
        return 1 if sum(p["failures"] for p in result["well_behaved"].values()) else 0
    report_load(result, args.clients)
    return 1 if result["failures"] else 0


def report_load(result, clients):
    lat = result["latency"]
    print(f"{result['requests']} requests in {result['seconds']} s from {clients} clients: "
          f"{result['requests_per_s']} requests/s, {result['inputs_per_s']} inputs/s; latency p50 "
          f"{lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms; {result['failures']} failures")
    for kind, stats in result["by_kind"].items():
        print(f"  {kind:10} {stats['n']:6} requests  p50 {stats.get('p50_ms')} ms  p99 {stats.get('p99_ms')} ms")


if __name__ == "__main__":
    sys.exit(main())
