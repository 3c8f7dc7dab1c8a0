"""Does `jumok predict` stream without growing? N generated lines piped through one
`python -m jumok predict RUN` process: throughput, and the child's memory, at each N.

    PYTHONPATH=src python -m benchmarks.predict_load [--lines 10000,100000,1000000] [--run RUN_DIR]
                                                     [--batch-size 256] [--out PATH.json]

Without ``--run`` a tiny model is trained first (configs/smoke.toml: addition, hidden 32,
a few seconds) in a temporary directory. Inputs are random strings over the run's source
vocabulary (3 to 12 tokens; a fixed pool of 10,000, cycled), written by a thread as fast
as the child takes them, while the main thread counts the output lines as they come.

Reported per N: lines per second over the whole run (start-up included) and in the steady
part (first output line to last), the rate in each tenth of the lines (steady throughput
means these stay level), the child's peak RSS (``ru_maxrss`` from ``os.wait4``, per
process) and its RSS sampled from /proc as the lines go by (flat memory means the samples
stop growing after the first batches). Results go to
benchmarks/results/predict-load-<host>-<date>.json.
"""

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import ROOT, child_env, machine, write_record

SMOKE = ROOT / "configs" / "smoke.toml"
POOL = 10_000  # distinct input lines, cycled
WRITE_CHUNK = 2_000  # lines per write to the child's stdin
SAMPLE_SECONDS = 0.25  # how often the child's RSS is read from /proc


def predict_env():
    """The children's environment: one BLAS thread (as the tests run) unless this process's
    OPENBLAS_NUM_THREADS says otherwise."""
    return child_env(os.environ.get("OPENBLAS_NUM_THREADS", "1"))


def train_smoke_run(directory):
    """Train configs/smoke.toml into ``directory``/run; return the run directory."""
    run_dir = Path(directory) / "run"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jumok", "train", str(SMOKE), "--out", str(run_dir), "--quiet"],
                   env=predict_env(), check=True, stderr=subprocess.DEVNULL)
    print(f"trained {SMOKE.name} into a temporary run in {time.perf_counter() - start:.1f} s", flush=True)
    return run_dir


def input_pool(run_dir, seed=0):
    """POOL distinct-ish input lines over the run's source vocabulary, in its token mode."""
    config = json.loads((Path(run_dir) / "config.json").read_text())
    tokens = json.loads((Path(run_dir) / "vocab.json").read_text())["source"]["tokens"]
    separator = " " if config["source_tokens"] == "space" else ""
    tokens = [t for t in tokens if t.strip()]  # no line that is only whitespace
    rng = random.Random(seed)
    return [separator.join(rng.choices(tokens, k=rng.randint(3, 12))).encode() + b"\n" for _ in range(POOL)]


def write_lines(stream, pool, count):
    """Write ``count`` lines cycling through ``pool``, then close ``stream``."""
    try:
        for start in range(0, count, WRITE_CHUNK):
            stream.write(b"".join(pool[i % POOL] for i in range(start, min(count, start + WRITE_CHUNK))))
        stream.close()
    except BrokenPipeError:  # the child died; the reader reports it
        pass


def rss_kib(pid):
    """Current VmRSS of ``pid`` in KiB, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_once(run_dir, count, pool, batch_size):
    """Pipe ``count`` lines through one predict process; return its measurements."""
    command = [sys.executable, "-m", "jumok", "predict", str(run_dir), "--batch-size", str(batch_size)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=predict_env())
    errors = []
    threads = [threading.Thread(target=write_lines, args=(child.stdin, pool, count), daemon=True),
               threading.Thread(target=lambda: errors.append(child.stderr.read()), daemon=True)]
    for thread in threads:
        thread.start()
    done, first, marks, samples, next_sample = 0, None, [], [], 0.0
    tenth = max(1, count // 10)
    while chunk := child.stdout.read1(1 << 16):
        now = time.perf_counter()
        before, done = done, done + chunk.count(b"\n")
        if first is None:
            first = now
        if done // tenth > before // tenth:
            marks.append((done, now))
        if now >= next_sample:
            samples.append({"lines": done, "rss_mib": round((rss_kib(child.pid) or 0) / 1024, 1)})
            next_sample = now + SAMPLE_SECONDS
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    end = time.perf_counter()
    for thread in threads:
        thread.join()
    if child.returncode != 0 or done != count:
        raise SystemExit(f"predict exited {child.returncode} after {done} of {count} lines: "
                         f"{b''.join(errors).decode(errors='replace').strip()}")
    rates = [round((n1 - n0) / (t1 - t0)) for (n0, t0), (n1, t1) in zip([(0, first), *marks], marks) if t1 > t0]
    return {"lines": count, "seconds": round(end - start, 2), "lines_per_s": round(count / (end - start)),
            "steady_lines_per_s": round((done - 1) / (end - first)) if end > first else None,
            "tenth_lines_per_s": rates, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "rss_samples": thin(samples, 40)}


def thin(samples, keep):
    """At most about ``keep`` of ``samples``, evenly spaced, the last one always included."""
    step = max(1, len(samples) // keep)
    return samples[::step] + ([samples[-1]] if samples and (len(samples) - 1) % step else [])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="10000,100000,1000000", help="comma-separated line counts")
    parser.add_argument("--run", help="run directory to predict with (default: train configs/smoke.toml)")
    parser.add_argument("--batch-size", type=int, default=256, help="predict's --batch-size (default 256)")
    parser.add_argument("--out", help="JSON path (default benchmarks/results/predict-load-<host>-<date>.json)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.lines.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run) if args.run else train_smoke_run(tmp)
        config = json.loads((run_dir / "config.json").read_text())
        pool = input_pool(run_dir)
        results = []
        for count in counts:
            result = run_once(run_dir, count, pool, args.batch_size)
            results.append(result)
            rates = result["tenth_lines_per_s"]
            spread = f", tenths {min(rates):,}–{max(rates):,}" if rates else ""
            rss = [s["rss_mib"] for s in result["rss_samples"] if s["lines"]]
            print(f"{count:>9,} lines: {result['seconds']:8.1f} s, {result['lines_per_s']:>6,} lines/s "
                  f"(steady {result['steady_lines_per_s']:,}{spread}), peak RSS {result['peak_rss_mib']} MiB"
                  + (f" (RSS while streaming {min(rss)}–{max(rss)} MiB)" if rss else ""), flush=True)

    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "run": args.run or "configs/smoke.toml (trained for the benchmark)",
              "model": {key: config[key] for key in ("task", "model", "embed_size", "hidden_size", "layers",
                                                     "source_tokens", "target_tokens", "max_output_length")},
              "batch_size": args.batch_size, "results": results}
    write_record(record, args.out, kind="predict-load")


if __name__ == "__main__":
    main()
