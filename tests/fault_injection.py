"""Fault injection: kill `jumok train` with SIGKILL at random moments, resume, compare.

    python tests/fault_injection.py --trials 20 [--seed 0] [--kills 3] [--preset full] [--keep DIR]

First a reference run trains a small model uninterrupted (a checkpoint every fifth optimizer
step, so that much of the time goes into writing them). Then each trial starts the same run
in its own directory, kills it with SIGKILL after a random delay, and starts it again,
killed again at random up to ``--kills`` times in all, until a start finishes. A start is
``jumok train --resume RUN``, or the original command when the kill came before the run
directory had its config.json. The finished run must equal the reference bit for bit:
params.npz, every array of last.npz (parameters, Adam moments), its meta document (RNG
states, position, history) and history.json, except the wall-clock "seconds" fields; no
temporary file may be left, and manifest.json must vouch for each file exactly as it is.

Where each kill landed is read from the directory it left: before the run directory had
its config ("before setup"), before the first checkpoint, in the middle of writing one
(a temporary file left behind, or a manifest still listing two digests for a file),
inside an epoch after a step checkpoint (last.npz holds a position), after an epoch's
end checkpoint (the next epoch, or the evaluation, under way), or after the last epoch
(plots). Preset "epoch-ends" checkpoints at epoch ends only, so that more kills land
before the first checkpoint and after an epoch end; preset "writes" writes a large
checkpoint after every step, so that more land mid-write. The script prints a table and exits 1
if any trial differs from the reference. tests/test_faults.py runs two trials of it in the
regular test run.
"""

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parent.parent / "src"
# (number of words drawn, train flags): "full" spends about a third of its training time
# computing and two thirds writing checkpoints; "small" is the quick case for the regular test run,
# "transformer-small" the same for a Transformer with dropout, in warm-up for 20 of its 34 steps
PRESETS = {
    "full": (3000, ["--epochs", "3", "--hidden-size", "128", "--embed-size", "16", "--batch-size", "16",
                    "--lr", "0.01", "--checkpoint-every", "5", "--quiet"]),
    "epoch-ends": (3000, ["--epochs", "3", "--hidden-size", "128", "--embed-size", "16", "--batch-size", "16",
                         "--lr", "0.01", "--quiet"]),  # checkpoints at epoch ends only
    "writes": (3000, ["--epochs", "2", "--hidden-size", "256", "--embed-size", "16", "--batch-size", "128",
                      "--lr", "0.01", "--checkpoint-every", "1", "--quiet"]),  # big checkpoints after every step
    "small": (300, ["--epochs", "2", "--hidden-size", "16", "--embed-size", "8", "--batch-size", "16",
                    "--lr", "0.01", "--checkpoint-every", "1", "--quiet"]),
    "transformer-small": (300, ["--epochs", "2", "--model", "transformer", "--hidden-size", "16", "--heads", "2",
                                "--ff-size", "32", "--layers", "1", "--dropout", "0.1", "--attention-dropout", "0.1",
                                "--batch-size", "16", "--lr", "0.01", "--warmup-steps", "20",
                                "--checkpoint-every", "1", "--quiet"]),  # "small" as a Transformer, in warm-up
}
VOUCHED = ("config.json", "config.toml", "vocab.json", "params.npz", "last.npz", "history.json")
CHECKPOINT_TEMPORARIES = (".config.", ".vocab.", ".params.", ".last.", ".history.", ".manifest.")
KINDS = ("before setup", "before first checkpoint", "mid-write", "mid-epoch", "after an epoch end", "after training")


def make_data(root, n, seed=5):
    """A small reversal task as ROOT/train.tsv."""
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list("abcdefgh"), rng.integers(3, 8))) for _ in range(n)})
    (root / "train.tsv").write_text("".join(f"{w}\t{w[::-1]}\n" for w in words), encoding="utf-8")
    return root / "train.tsv"


def command(data, out, settings, resume=False):
    base = [sys.executable, "-m", "jumok", "train"]
    if resume:
        return [*base, "--resume", str(out), "--quiet"]
    return [*base, "--data", str(data), "--out", str(out), *settings]


def environment():
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(SRC) + (os.pathsep + path if path else "")}


def start(data, out, settings):
    """Start `jumok train` for RUN `out`: a resume once it has its config.json, else from scratch."""
    resume = (out / "config.json").exists()
    return subprocess.Popen(command(data, out, settings, resume), env=environment(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def npz(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def without_seconds(value):
    """`value` with every "seconds"/"eval_seconds" entry of its dicts dropped, recursively."""
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


def differences(reference, run):
    """How run directory `run` differs from `reference` (empty when bit-identical but for seconds)."""
    found = []
    for name in ("params.npz", "last.npz"):
        if not (run / name).is_file():
            found.append(f"{name} missing")
            continue
        a, b = npz(reference / name), npz(run / name)
        if a.keys() != b.keys():
            found.append(f"{name}: entries differ")
            continue
        for key in a:
            if key == "meta":
                if without_seconds(json.loads(str(a[key]))) != without_seconds(json.loads(str(b[key]))):
                    found.append(f"{name}: meta differs")
            elif a[key].dtype != b[key].dtype or a[key].tobytes() != b[key].tobytes():
                found.append(f"{name}: {key} differs")
    for name in ("history.json", "config.json", "vocab.json"):
        a, b = (json.loads((d / name).read_text()) if (d / name).is_file() else None for d in (reference, run))
        if without_seconds(a) != without_seconds(b):
            found.append(f"{name} differs")
    left = sorted(p.name for p in run.iterdir() if p.name.startswith("."))
    if left:
        found.append(f"temporary files left: {', '.join(left)}")
    manifest = json.loads((run / "manifest.json").read_text())["sha256"] if (run / "manifest.json").is_file() else {}
    for name in VOUCHED:
        if manifest.get(name) != [hashlib.sha256((run / name).read_bytes()).hexdigest()]:
            found.append(f"manifest.json does not vouch for {name} as it is")
    return found


def pending(run):
    """The manifest entries of run directory `run` that list more than one digest."""
    manifest = run / "manifest.json"
    if not manifest.exists():
        return {}
    return {name: d for name, d in json.loads(manifest.read_text())["sha256"].items() if len(d) > 1}


def landed(run, pending_before):
    """Where a kill landed, judged from what it left in run directory `run` (whose manifest
    had the entries `pending_before` listing two digests when the killed start began)."""
    if not (run / "config.json").exists():
        return "before setup"
    if any(p.name.startswith(CHECKPOINT_TEMPORARIES) for p in run.iterdir()):
        return "mid-write"  # a temporary file of an atomic write (not of a picture: those come after training)
    if any(pending_before.get(name) != digests for name, digests in pending(run).items()):
        return "mid-write"  # between the manifest listing old and new digests and its final version
    if not (run / "last.npz").exists():
        return "before first checkpoint"
    meta = json.loads(str(npz(run / "last.npz")["meta"]))
    if meta.get("position"):
        return "mid-epoch"
    epochs = json.loads((run / "config.json").read_text())["epochs"]
    return "after training" if meta["epoch"] == epochs else "after an epoch end"


def reference_run(root, data, settings):
    """Train the reference run uninterrupted; return (its directory, its wall-clock seconds)."""
    out = root / "reference"
    began = time.perf_counter()
    proc = start(data, out, settings)
    _, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"the reference run failed:\n{err}")
    return out, time.perf_counter() - began


def trial(root, data, settings, number, rng, duration, max_kills):
    """One trial: start, kill at random up to `max_kills` times, finish. Returns
    {"kills": [where each kill landed], "starts": n, "error": stderr of a failed start or None}.

    The first kill comes within 95 % of the reference's wall-clock time, so it nearly always
    lands; a resumed start has less to do and may finish before its kill is due.
    """
    out = root / f"trial-{number:02d}"
    kills = rng.randint(1, max_kills)
    result = {"kills": [], "starts": 0, "error": None}
    while True:
        before = pending(out) if out.exists() else {}
        proc = start(data, out, settings)
        result["starts"] += 1
        if len(result["kills"]) < kills:
            try:
                proc.wait(timeout=rng.uniform(0.05, 0.95 * duration))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc.stderr.close()
                result["kills"].append(landed(out, before))
                continue
        _, err = proc.communicate()
        if proc.returncode:
            result["error"] = err.strip().splitlines()[-1] if err.strip() else f"exit code {proc.returncode}"
        return result


def run_trials(root, trials, seed=0, max_kills=3, preset="full", report=print):
    """Run the reference and `trials` trials under `root` with the settings of `preset`;
    return the trial results, each with its "differences" from the reference."""
    root = Path(root)
    words, settings = PRESETS[preset]
    data = make_data(root, words)
    reference, duration = reference_run(root, data, settings)
    report(f"reference run: {duration:.1f} s wall clock")
    rng = random.Random(seed)
    results = []
    for number in range(1, trials + 1):
        result = trial(root, data, settings, number, rng, duration, max_kills)
        result["differences"] = ([result["error"]] if result["error"]
                                 else differences(reference, root / f"trial-{number:02d}"))
        results.append(result)
        verdict = "bit-exact" if not result["differences"] else "DIFFERS: " + "; ".join(result["differences"])
        report(f"trial {number:2d}: {len(result['kills'])} kill(s) [{', '.join(result['kills'])}], "
               f"{result['starts']} start(s): {verdict}")
    return results


def summary(results):
    """The table of kills by where they landed, and the verdict, as text."""
    kills = [k for r in results for k in r["kills"]]
    exact = sum(not r["differences"] for r in results)
    lines = ["| trials | kills | " + " | ".join(KINDS) + " | bit-exact |",
             "|" + " --- |" * (len(KINDS) + 3),
             f"| {len(results)} | {len(kills)} | " + " | ".join(str(kills.count(k)) for k in KINDS)
             + f" | {exact}/{len(results)} |"]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--kills", type=int, default=3, help="most kills per trial (each trial draws 1..KILLS)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full", help="model and data size")
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        results = run_trials(args.keep, args.trials, args.seed, args.kills, args.preset)
    else:
        with tempfile.TemporaryDirectory() as root:
            results = run_trials(root, args.trials, args.seed, args.kills, args.preset)
    print(summary(results))
    return 0 if all(not r["differences"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
