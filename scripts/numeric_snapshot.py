"""Record that nothing numerical moved: train and decode a fixed list of small cases through
the CLI of one source tree and write SHA-256 hashes of everything numerical; compare two
such snapshots.

    python scripts/numeric_snapshot.py --src /work/wt-base/src --work /tmp/snapA --out before.json
    python scripts/numeric_snapshot.py --src src --work /tmp/snapB --out after.json
    python scripts/numeric_snapshot.py --compare before.json after.json [--ignore 'PATTERN' ...]

Only the public surface is used, so that a refactor of jumok's internals cannot change what
is measured: every command is a subprocess ``python -m jumok ...`` (this script's Python;
``--python`` picks another) run in the work directory with relative paths, in an
environment whose PYTHONPATH is exactly ``--src`` and with one BLAS thread
(OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS = 1). Before anything runs, the
script checks that ``import jumok`` in that environment resolves to ``--src``. What is read
back is the run-directory files, the commands' stdout and stderr and the HTTP API of
``jumok serve``. The commands run one at a time: about 2.5 minutes on an idle two-core
machine, 3 to 4 when the other core is busy.

The cases (data: ``jumok data date --n 2000 --seed 7``, test ``--n 300 --seed 8``; models of
32 units unless said; "file" runs take the defaults a --data file gets):

* inputs: the generated data files, the g2p dev split, a bad TSV line refused;
* default-interrupted: ``jumok train`` (built-in dates, --n-examples 3000, hidden 256)
  killed just before its second step checkpoint (--checkpoint-every 3: last.npz at step 3);
* default-epoch1: the same, one full epoch; smoke: configs/smoke.toml;
* file runs: attention (64 units, 4 epochs, the decoding cases' main model), peeky,
  seq2seq, deep-bidir-dropout (2 layers, bidirectional, dropout 0.2), bucket, beam-valid
  (--beam 3), attention-general, attention-additive-reverse, attention-scaled-dot,
  label-smoothing (0.1), chapter-sgd (SGD, epoch schedule, the chapter's init and scale);
* keep-epochs: --keep-epochs 2 (average.json, epoch-N.npz), then ``jumok average --last 2``;
* resume: 2 layers, dropout 0.2, --checkpoint-every 5, killed just before its second step
  checkpoint (last.npz at step 5 recorded), then ``--resume`` to the end;
* workers2: ``--workers 2`` (mpiexec beside the Python);
* g2p: the CMU dictionary, --max-length 4 (7,352 training pairs), 300 dev words as
  --valid, 2 epochs, the 12,579 test words scored with --test-beam 2 (test.json);
* decode-{attention, default-epoch1, peeky, g2p, additive-reverse, smoke}: predict greedy,
  --beam 3 --nbest 3, --beam 3 --length-penalty 0, stdin with --batch-size 2, --unk; for
  attention models ``jumok attention`` greedy and --beam 3 (PNG hashed);
* evaluate: --json greedy on eight runs, --beam 3 on five, --errors, --workers 2, g2p;
* ensemble: predict greedy and n-best, evaluate, with --ensemble;
* serve-*: ``jumok serve RUN --port 0``: POST /api/predict (beam 3, nbest 3, attention)
  and greedy with attention, GET /api/run, on eight runs.

How closely each part looks: run-directory arrays are compared bit for bit, JSON numbers
exactly (repr round-trips a float); serve's scores are full floats but its attention
weights are rounded to 6 decimals; ``predict --nbest`` prints scores to 4 decimals and
evaluate gives rates over 300 lines, so a change far below that shows only in the run
directories and serve's scores (an ensemble has no full-precision output).

What a snapshot holds, per case, as ``{"key": {"sha256": ..., ...}}``:

* every run directory a case writes: each array of every ``*.npz`` (params.npz, last.npz,
  epoch-N.npz), hashed over dtype, shape and bytes; last.npz's JSON document (its 0-d
  string array "meta") parsed, timing fields removed, hashed as canonical JSON and kept in
  the snapshot; config.json, vocab.json, history.json, average.json, test.json (timing
  fields removed); config.toml's text; the file names (and how many temporary ``.*`` files
  were left); the names manifest.json vouches for (not its digests: they hash files that
  hold timings); curves.png and attention.png (hashes: they are byte-identical from run to
  run on one machine with one matplotlib);
* every command: its exit status, stdout and stderr (timings such as "0.6 s" replaced by
  "<T> s", the random part of a temporary file's name by XXXXXXXX), stdout parsed as JSON
  where it is JSON (evaluate --json); files it writes (attention's PNG: its size and hash;
  evaluate's --errors TSV);
* jumok serve: the JSON answers to a fixed ``POST /api/predict`` (beam, n-best, attention)
  and to ``GET /api/run``, timing fields removed.

Timing fields removed, everywhere (they are wall-clock measurements, so they differ on every
run): any JSON key named "seconds" or "eval_seconds" — history.json's records (also inside
last.npz's meta), last.npz's meta "position" inside an epoch, test.json, the answer of
POST /api/predict. Nothing else is excluded: two snapshots of the same tree on the same
machine are identical (checked on jumok 42c6684, two snapshots in different work
directories, each process with its own random PYTHONHASHSEED).

Cases that stop mid-epoch need a kill at a fixed point, not after a delay: for those
commands a ``sitecustomize.py`` written into ``WORK/.hook`` (added to PYTHONPATH after
--src, for those commands only) installs a Python audit hook that SIGKILLs the process
when it is about to rename a temporary file over ``last.npz`` for the K-th time. The rename
over last.npz is the documented way every run-directory file is written (README: "written
atomically (temporary file, fsync, rename)"), so the process dies, deterministically, just
before its K-th checkpoint would replace the (K-1)-th. If a refactor wrote last.npz another
way, the kill would not come and the case records the exit status 0 instead of -9, which
the comparison shows.

``--compare A B`` prints each key whose hash differs or that only one snapshot has (with
the first differing field for JSON documents and texts) and exits 1; with no difference it
prints "0 differences in N cases" and exits 0. ``--ignore GLOB`` (repeatable) leaves out
keys matching ``CASE/KEY`` globs, e.g. ``--ignore '*/stderr'`` if only log wording changed.
Writing a snapshot exits 2 when a command ended unexpectedly (the snapshot is still written).
"""

import argparse
import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

SNAPSHOT_FORMAT = 1
TIMING_KEYS = frozenset({"seconds", "eval_seconds"})
COMMAND_TIMEOUT = 600
KILL_ENV = "JUMOK_SNAPSHOT_KILL_AT_LAST_NPZ_RENAME"

SMALL = ["--hidden-size", "32", "--embed-size", "8", "--batch-size", "32", "--quiet"]
DATES = ["September 27, 1994", "Tue, Sep 27, 94", "27.09.1994", "1/2/03", "MAR 5 2001", "4th of July 1976",
         "Saturday, December 14, 1907"]
WORDS = ["knight", "colonel", "through", "cat", "jumok"]
ADDITIONS = ["1+1", "12+345", "999+999", "7+80"]

HOOK = f'''"""Written by scripts/numeric_snapshot.py: SIGKILL this process just before it renames a
file over last.npz for the K-th time (K = ${KILL_ENV})."""
import os
import signal
import sys

_K = int(os.environ.get("{KILL_ENV}", "0") or 0)
_seen = [0]


def _hook(event, args):
    if event in ("os.rename", "os.replace") and len(args) > 1:
        try:
            name = os.path.basename(os.fsdecode(args[1]))
        except TypeError:
            return
        if name == "last.npz":
            _seen[0] += 1
            if _seen[0] == _K:
                os.kill(os.getpid(), signal.SIGKILL)


if _K > 0:
    sys.addaudithook(_hook)
'''


# ---------------------------------------------------------------- normalising and hashing

def strip_timing(value):
    """`value` (parsed JSON) without its timing fields (TIMING_KEYS), recursively."""
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def canonical(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def sha256(data):
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode("utf-8")).hexdigest()


def doc_entry(value):
    """A JSON document: its canonical hash, and the document itself for reading diffs."""
    return {"sha256": sha256(canonical(value)), "value": value}


def text_entry(text):
    return {"sha256": sha256(text), "value": text}


def array_entry(array):
    array = np.ascontiguousarray(array)
    header = f"{array.dtype.str}{list(array.shape)}".encode()
    return {"sha256": sha256(header + b"\0" + array.tobytes()), "dtype": array.dtype.str,
            "shape": list(array.shape)}


def file_entry(path):
    data = Path(path).read_bytes()
    return {"sha256": sha256(data), "bytes": len(data)}


TIME_IN_TEXT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:ms|s|sec|seconds|min|minutes)\b")
TEMPORARY_NAME = re.compile(r"(\.[^/\s.]+\.)[a-z0-9_]{8}(\.[A-Za-z0-9]+)")


def normalise_text(text, work):
    """Command output with its wall-clock parts made constant: durations ("0.6 s",
    "(beam 1, 0 s)") become "<T> s", a temporary file's random name XXXXXXXX, the work
    directory's absolute path <WORK>."""
    text = text.replace(str(work), "<WORK>")
    text = TIME_IN_TEXT.sub("<T> s", text)
    return TEMPORARY_NAME.sub(r"\1XXXXXXXX\2", text)


# ---------------------------------------------------------------- the runner

class Snapshot:
    def __init__(self, src, work, python, configs):
        self.src, self.work, self.python, self.configs = src, work, python, configs
        self.cases = {}
        self.case_seconds = {}
        self.failures = []
        self.hook_dir = work / ".hook"

    def env(self, hook=0):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", KILL_ENV, "JUMOK_LAUNCHED")}
        env["PYTHONPATH"] = str(self.src) + (os.pathsep + str(self.hook_dir) if hook else "")
        env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                    "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"})
        if hook:
            env[KILL_ENV] = str(hook)
        return env

    def check_import(self):
        done = subprocess.run([self.python, "-c", "import jumok; print(jumok.__file__)"], env=self.env(),
                              cwd=self.work, capture_output=True, text=True, timeout=120)
        found = Path(done.stdout.strip()).resolve() if done.returncode == 0 else None
        expected = (self.src / "jumok" / "__init__.py").resolve()
        assert found == expected, (f"import jumok with PYTHONPATH={self.src} gives {found or done.stderr.strip()}, "
                                   f"not {expected}")
        return str(found)

    def jumok(self, record, key, args, *, stdin=None, expect=0, hook=0, json_stdout=False):
        """Run `python -m jumok ARGS` in the work directory and record its exit status and
        (normalised) output under `key` of the dict `record`."""
        command = [self.python, "-m", "jumok", *map(str, args)]
        started = time.monotonic()
        done = subprocess.run(command, env=self.env(hook), cwd=self.work, input=stdin, capture_output=True,
                              text=True, encoding="utf-8", timeout=COMMAND_TIMEOUT)
        print(f"  {time.monotonic() - started:5.1f} s  rc {done.returncode:3}  jumok {' '.join(map(str, args))}",
              flush=True)
        record[f"{key}/rc"] = doc_entry(done.returncode)
        stdout = normalise_text(done.stdout, self.work)
        if json_stdout and done.returncode == 0:
            try:
                record[f"{key}/stdout"] = doc_entry(strip_timing(json.loads(done.stdout)))
            except json.JSONDecodeError:
                record[f"{key}/stdout"] = text_entry(stdout)
        else:
            record[f"{key}/stdout"] = text_entry(stdout)
        record[f"{key}/stderr"] = text_entry(normalise_text(done.stderr, self.work))
        if done.returncode != expect:
            self.failures.append(f"{key}: jumok {' '.join(map(str, args))} exited {done.returncode}, expected "
                                 f"{expect}\n{done.stderr[-2000:]}")
        return done

    def run_dir(self, record, prefix, path):
        """Record everything numerical of run directory `path` under `prefix`."""
        path = self.work / path
        if not path.is_dir():
            record[f"{prefix}/missing"] = doc_entry(True)
            return
        names = sorted(p.name for p in path.iterdir())
        visible = [n for n in names if not n.startswith(".")]
        record[f"{prefix}/files"] = doc_entry({"files": visible, "temporaries": len(names) - len(visible)})
        for name in visible:
            file = path / name
            if name.endswith(".npz"):
                with np.load(file, allow_pickle=False) as archive:
                    for entry in archive.files:
                        array = archive[entry]
                        document = json_document(array)
                        if document is not None:
                            record[f"{prefix}/{name}:{entry}"] = doc_entry(strip_timing(document))
                        else:
                            record[f"{prefix}/{name}:{entry}"] = array_entry(array)
            elif name == "manifest.json":
                manifest = json.loads(file.read_text(encoding="utf-8"))
                record[f"{prefix}/{name}:vouches"] = doc_entry(
                    {"format_version": manifest.get("format_version"), "files": sorted(manifest.get("sha256", {}))})
            elif name.endswith(".json"):
                record[f"{prefix}/{name}"] = doc_entry(strip_timing(json.loads(file.read_text(encoding="utf-8"))))
            elif name.endswith(".toml"):
                record[f"{prefix}/{name}"] = text_entry(file.read_text(encoding="utf-8"))
            elif name.endswith(".png"):
                record[f"{prefix}/{name}"] = file_entry(file)
            else:
                record[f"{prefix}/{name}"] = file_entry(file)

    def output_file(self, record, key, path):
        path = self.work / path
        record[key] = file_entry(path) if path.is_file() else doc_entry(None)

    @contextlib.contextmanager
    def serve(self, run):
        """`jumok serve RUN --port 0`: yield its base URL; stop it with SIGTERM (exit 0)."""
        process = subprocess.Popen([self.python, "-m", "jumok", "serve", run, "--port", "0", "--quiet"],
                                   env=self.env(), cwd=self.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, encoding="utf-8")
        lines, found = [], threading.Event()
        url = []

        def read():
            for line in process.stdout:
                lines.append(line)
                match = re.search(r"at (http://[^\s]+/) ", line)
                if match and not url:
                    url.append(match.group(1))
                    found.set()
            found.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            found.wait(120)
            if not url:
                raise RuntimeError(f"jumok serve {run} did not start: {''.join(lines)[-2000:]}")
            yield url[0], process, lines
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            reader.join(10)

    def serve_case(self, record, key, run, inputs, body):
        started = time.monotonic()
        try:
            with self.serve(run) as (url, process, lines):
                request = urllib.request.Request(url + "api/predict", data=json.dumps(body).encode(),
                                                 headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(request, timeout=120) as answer:
                    record[f"{key}/predict"] = doc_entry(strip_timing(json.loads(answer.read())))
                greedy = {"inputs": inputs, "beam": 1, "attention": True}
                request = urllib.request.Request(url + "api/predict", data=json.dumps(greedy).encode(),
                                                 headers={"Content-Type": "application/json"}, method="POST")
                with urllib.request.urlopen(request, timeout=120) as answer:
                    record[f"{key}/predict-greedy"] = doc_entry(strip_timing(json.loads(answer.read())))
                with urllib.request.urlopen(url + "api/run", timeout=120) as answer:
                    record[f"{key}/run"] = doc_entry(strip_timing(json.loads(answer.read())))
            record[f"{key}/rc"] = doc_entry(process.returncode)
            record[f"{key}/log"] = text_entry(normalise_text("".join(lines), self.work).replace(url, "<URL>"))
            if process.returncode != 0:
                self.failures.append(f"{key}: jumok serve {run} exited {process.returncode} after SIGTERM")
        except Exception as e:  # noqa: BLE001 - recorded, and the snapshot exits 2
            record[f"{key}/error"] = text_entry(f"{type(e).__name__}: {e}")
            self.failures.append(f"{key}: jumok serve {run}: {type(e).__name__}: {e}")
        print(f"  {time.monotonic() - started:5.1f} s  serve {run}", flush=True)

    # ------------------------------------------------------------ the cases

    def case(self, name, function):
        print(f"{name}", flush=True)
        record = {}
        started = time.monotonic()
        try:
            function(record)
        except Exception as e:  # noqa: BLE001 - a broken case is recorded, not fatal
            record["error"] = text_entry(f"{type(e).__name__}: {e}")
            self.failures.append(f"{name}: {type(e).__name__}: {e}")
        self.case_seconds[name] = round(time.monotonic() - started, 1)
        self.cases[name] = record

    def interrupted_train(self, record, key, args, out, kill_at):
        """Train, SIGKILLed just before the `kill_at`-th rename over last.npz: last.npz holds
        the checkpoint before it, mid-epoch when --checkpoint-every is small."""
        self.jumok(record, key, [*args, "--out", out], hook=kill_at, expect=-signal.SIGKILL)

    def all_cases(self):
        data, test = "data/x.tsv", "data/test.tsv"

        def inputs(record):
            self.jumok(record, "date-x", ["data", "date", "--n", "2000", "--seed", "7", "--out", data])
            self.jumok(record, "date-test", ["data", "date", "--n", "300", "--seed", "8", "--out", test])
            self.jumok(record, "g2p-dev", ["data", "g2p", "--split", "dev", "--out", "data/g2p-dev-all.tsv"])
            lines = (self.work / "data/g2p-dev-all.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
            (self.work / "data/g2p-dev.tsv").write_text("".join(lines[:300]), encoding="utf-8")
            (self.work / "data/g2p-dev-eval.tsv").write_text("".join(lines[300:500]), encoding="utf-8")
            for name in ("x.tsv", "test.tsv", "g2p-dev.tsv", "g2p-dev-eval.tsv"):
                self.output_file(record, f"file:{name}", f"data/{name}")
            self.jumok(record, "bad-line", ["train", "--data", "data/bad.tsv", "--out", "runs/bad", "--quiet"],
                       expect=1)  # the data checks still stop a run before anything is written

        (self.work / "data").mkdir(parents=True, exist_ok=True)
        (self.work / "data/bad.tsv").write_text("a\tb\nno tab here\n", encoding="utf-8")
        self.case("inputs", inputs)

        # --- training: the default run (built-in dates; fewer examples), killed after its
        # first step checkpoint (3 steps), and one full epoch
        def default_interrupted(record):
            self.interrupted_train(record, "train", ["train", "--n-examples", "3000", "--checkpoint-every", "3",
                                                     "--quiet"], "runs/default-interrupted", kill_at=2)
            self.run_dir(record, "run", "runs/default-interrupted")
        self.case("default-interrupted", default_interrupted)

        def default_epoch(record):
            self.jumok(record, "train", ["train", "--n-examples", "3000", "--epochs", "1",
                                         "--out", "runs/default-epoch1", "--quiet"])
            self.run_dir(record, "run", "runs/default-epoch1")
        self.case("default-epoch1", default_epoch)

        def smoke(record):
            shutil.copy(self.configs / "smoke.toml", self.work / "data/smoke.toml")
            record["file:smoke.toml"] = file_entry(self.work / "data/smoke.toml")
            self.jumok(record, "train", ["train", "data/smoke.toml", "--out", "runs/smoke", "--quiet"])
            self.run_dir(record, "run", "runs/smoke")
        self.case("smoke", smoke)

        def file_case(name, extra, epochs=2):
            def run(record):
                self.jumok(record, "train", ["train", "--data", data, "--epochs", str(epochs), *SMALL, *extra,
                                             "--out", f"runs/{name}"])
                self.run_dir(record, "run", f"runs/{name}")
            self.case(name, run)

        # the decoding cases' main model: learns the dates to ~80 % in four epochs
        file_case("attention", ["--hidden-size", "64", "--embed-size", "16"], epochs=4)
        file_case("peeky", ["--model", "peeky"], epochs=3)
        file_case("seq2seq", ["--model", "seq2seq"], epochs=3)
        file_case("deep-bidir-dropout", ["--layers", "2", "--bidirectional", "--dropout", "0.2"])
        file_case("bucket", ["--bucket"])
        file_case("beam-valid", ["--beam", "3"])
        file_case("attention-general", ["--attention", "general"])
        file_case("attention-additive-reverse", ["--attention", "additive", "--reverse"])
        file_case("attention-scaled-dot", ["--attention", "scaled-dot"])
        file_case("label-smoothing", ["--label-smoothing", "0.1"])
        file_case("chapter-sgd", ["--optimizer", "sgd", "--lr", "0.5", "--lr-schedule", "epoch", "--patience", "0",
                                  "--embed-scale", "0.01", "--no-bidirectional", "--lstm-init", "chapter"])

        def keep_epochs(record):
            self.jumok(record, "train", ["train", "--data", data, "--epochs", "3", *SMALL, "--keep-epochs", "2",
                                         "--out", "runs/keep-epochs"])
            self.run_dir(record, "run", "runs/keep-epochs")
            self.jumok(record, "average", ["average", "runs/keep-epochs", "--last", "2", "--out", "runs/keep-mean"])
            self.run_dir(record, "mean", "runs/keep-mean")
        self.case("keep-epochs", keep_epochs)

        def resume(record):
            args = ["train", "--data", data, "--epochs", "2", *SMALL, "--layers", "2", "--dropout", "0.2",
                    "--checkpoint-every", "5"]
            self.interrupted_train(record, "train", args, "runs/resume", kill_at=2)  # last.npz: step 5 of 57
            self.run_dir(record, "interrupted", "runs/resume")
            self.jumok(record, "resume", ["train", "--resume", "runs/resume", "--quiet"])
            self.run_dir(record, "resumed", "runs/resume")
        self.case("resume", resume)

        def workers(record):
            self.jumok(record, "train", ["train", "--data", data, "--epochs", "2", *SMALL, "--workers", "2",
                                         "--out", "runs/workers2"])
            self.run_dir(record, "run", "runs/workers2")
        self.case("workers2", workers)

        def g2p(record):
            self.jumok(record, "train", ["train", "--task", "g2p", "--max-length", "4", "--valid", "data/g2p-dev.tsv",
                                         "--epochs", "2", "--test-beam", "2", *SMALL, "--batch-size", "64",
                                         "--out", "runs/g2p"])
            self.run_dir(record, "run", "runs/g2p")
        self.case("g2p", g2p)

        # --- decoding
        def decode(run, texts, attention=True, beam_text=None):
            def cases(record):
                self.jumok(record, "predict-greedy", ["predict", run, *texts])
                self.jumok(record, "predict-beam3-nbest3", ["predict", run, "--beam", "3", "--nbest", "3", *texts])
                self.jumok(record, "predict-beam3-lp0", ["predict", run, "--beam", "3", "--length-penalty", "0",
                                                         *texts])
                self.jumok(record, "predict-stdin", ["predict", run, "--batch-size", "2", "--beam", "2"],
                           stdin="".join(t + "\n" for t in texts))
                self.jumok(record, "predict-unk", ["predict", run, "--unk", texts[0] + "~§"])
                if attention:
                    for beam in (1, 3):
                        png = f"out/{Path(run).name}-attention-beam{beam}.png"
                        self.jumok(record, f"attention-beam{beam}",
                                   ["attention", run, beam_text or texts[-1], "--beam", beam, "--out", png])
                        self.output_file(record, f"attention-beam{beam}:png", png)
            return cases

        (self.work / "out").mkdir(exist_ok=True)
        self.case("decode-attention", decode("runs/attention", DATES))
        self.case("decode-default-epoch1", decode("runs/default-epoch1", DATES))
        self.case("decode-peeky", decode("runs/peeky", DATES, attention=False))
        self.case("decode-g2p", decode("runs/g2p", WORDS))
        self.case("decode-additive-reverse", decode("runs/attention-additive-reverse", DATES[:3]))
        self.case("decode-smoke", decode("runs/smoke", ADDITIONS))

        def evaluate(record):
            for run in ("attention", "deep-bidir-dropout", "seq2seq", "peeky", "attention-general",
                        "attention-additive-reverse", "bucket", "workers2"):
                self.jumok(record, f"{run}-greedy", ["evaluate", f"runs/{run}", "--data", test, "--json"],
                           json_stdout=True)
            for run in ("deep-bidir-dropout", "seq2seq", "peeky", "attention-additive-reverse"):
                self.jumok(record, f"{run}-beam3", ["evaluate", f"runs/{run}", "--data", test, "--json",
                                                    "--beam", "3"], json_stdout=True)
            self.jumok(record, "attention-text", ["evaluate", "runs/attention", "--data", test])
            self.jumok(record, "attention-beam3", ["evaluate", "runs/attention", "--data", test, "--json",
                                                   "--beam", "3", "--errors", "out/errors-beam3.tsv"],
                       json_stdout=True)
            self.output_file(record, "attention-beam3:errors", "out/errors-beam3.tsv")
            self.jumok(record, "attention-workers2", ["evaluate", "runs/attention", "--data", test, "--json",
                                                      "--workers", "2"], json_stdout=True)
            self.jumok(record, "g2p-beam2", ["evaluate", "runs/g2p", "--data", "data/g2p-dev-eval.tsv", "--json",
                                             "--beam", "2"], json_stdout=True)
        self.case("evaluate", evaluate)

        def ensemble(record):
            others = ["--ensemble", "runs/peeky", "runs/seq2seq"]
            self.jumok(record, "predict-greedy", ["predict", "runs/attention", *DATES, *others])
            self.jumok(record, "predict-beam3-nbest3", ["predict", "runs/attention", "--beam", "3", "--nbest", "3",
                                                        *DATES, *others])
            self.jumok(record, "evaluate", ["evaluate", "runs/attention", "--data", test, "--json", *others],
                       json_stdout=True)
            self.jumok(record, "evaluate-beam3", ["evaluate", "runs/attention", "--data", test, "--json",
                                                  "--beam", "3", "--ensemble", "runs/label-smoothing"],
                       json_stdout=True)
        self.case("ensemble", ensemble)

        def serve(run, texts):
            def cases(record):
                self.serve_case(record, "serve", run, texts,
                                {"inputs": texts, "beam": 3, "nbest": 3, "attention": True, "unk": False})
            return cases

        self.case("serve-attention", serve("runs/attention", DATES[:4]))
        self.case("serve-peeky", serve("runs/peeky", DATES[:2]))
        self.case("serve-g2p", serve("runs/g2p", WORDS[:3]))
        # serve's answers carry full-precision scores (predict prints 4 decimals): the
        # decoding path of more architectures, seen closely
        self.case("serve-default-epoch1", serve("runs/default-epoch1", DATES[:3]))
        self.case("serve-deep-bidir-dropout", serve("runs/deep-bidir-dropout", DATES[:3]))
        self.case("serve-additive-reverse", serve("runs/attention-additive-reverse", DATES[:3]))
        self.case("serve-seq2seq", serve("runs/seq2seq", DATES[:3]))
        self.case("serve-smoke", serve("runs/smoke", ADDITIONS))


def json_document(array):
    """The JSON document a 0-d string array holds (last.npz's "meta"), else None."""
    if array.ndim != 0 or array.dtype.kind not in "US":
        return None
    try:
        return json.loads(str(array[()]))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def source_revision(src):
    """The git commit of the tree holding `src`, and whether it has uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, timeout=30).stdout.strip()
        return {"commit": head or None, "uncommitted_changes_under_src": bool(dirty)}
    except OSError:
        return {"commit": None}


def take(args):
    src = Path(args.src).resolve()
    work = Path(args.work).resolve()
    if work.exists() and any(work.iterdir()):
        if not args.clean:
            sys.exit(f"{work} is not empty (--clean empties it first)")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    configs = Path(args.configs).resolve() if args.configs else src.parent / "configs"
    snapshot = Snapshot(src, work, args.python, configs)
    snapshot.hook_dir.mkdir()
    (snapshot.hook_dir / "sitecustomize.py").write_text(HOOK, encoding="utf-8")
    jumok_file = snapshot.check_import()
    print(f"jumok from {jumok_file}; work directory {work}", flush=True)
    started = time.monotonic()
    snapshot.all_cases()
    total = time.monotonic() - started
    numpy_version = subprocess.run([args.python, "-c", "import numpy; print(numpy.__version__)"],
                                   env=snapshot.env(), capture_output=True, text=True).stdout.strip()
    document = {
        "format": SNAPSHOT_FORMAT,
        "meta": {"src": str(src), "jumok": jumok_file, **source_revision(src), "python": args.python,
                 "numpy": numpy_version, "work": str(work), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "seconds": round(total, 1), "case_seconds": snapshot.case_seconds,
                 "failures": snapshot.failures},
        "cases": snapshot.cases,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(document, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    keys = sum(len(record) for record in snapshot.cases.values())
    print(f"wrote {out}: {len(snapshot.cases)} cases, {keys} keys, {total:.0f} s", flush=True)
    if snapshot.failures:
        print(f"{len(snapshot.failures)} command(s) ended unexpectedly:", file=sys.stderr)
        for failure in snapshot.failures:
            print(f"  {failure}", file=sys.stderr)
        return 2
    return 0


# ---------------------------------------------------------------- compare

def first_difference(a, b, path=""):
    """Where two JSON values first differ, as 'PATH: A != B' (short)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'B' if key not in a else 'A'}"
            if a[key] != b[key]:
                return first_difference(a[key], b[key], f"{path}.{key}")
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        return None
    if isinstance(a, str) and isinstance(b, str) and ("\n" in a or "\n" in b):
        for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines())):
            if x != y:
                return f"{path} line {i + 1}: {x[:120]!r} != {y[:120]!r}"
        return f"{path}: {len(a.splitlines())} lines != {len(b.splitlines())} lines"
    return f"{path or 'value'}: {short(a)} != {short(b)}"


def short(value):
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def compare(path_a, path_b, ignore):
    a, b = (json.loads(Path(p).read_text(encoding="utf-8")) for p in (path_a, path_b))
    for name, document in (("A", a), ("B", b)):
        meta = document.get("meta", {})
        print(f"{name}: {meta.get('src')} (commit {meta.get('commit')}, uncommitted changes under src: "
              f"{meta.get('uncommitted_changes_under_src')}), {meta.get('seconds')} s")
        for failure in meta.get("failures", []):
            print(f"{name}: failed while snapshotting: {failure.splitlines()[0]}")
    flat = [{f"{case}/{key}": entry for case, record in d["cases"].items() for key, entry in record.items()}
            for d in (a, b)]
    keys = sorted(k for k in set(flat[0]) | set(flat[1]) if not any(fnmatch.fnmatchcase(k, g) for g in ignore))
    differing = 0
    for key in keys:
        x, y = flat[0].get(key), flat[1].get(key)
        if x is None or y is None:
            print(f"{key}: only in {'A' if y is None else 'B'}")
        elif x.get("sha256") != y.get("sha256") or {k: v for k, v in x.items() if k != "value"} != \
                {k: v for k, v in y.items() if k != "value"}:
            if "value" in x and "value" in y:
                detail = first_difference(x["value"], y["value"])
            else:
                detail = " ".join(f"{k} {short(x.get(k))} != {short(y.get(k))}" for k in ("dtype", "shape", "bytes")
                                  if x.get(k) != y.get(k)) or "bytes differ"
            print(f"{key}: {detail}")
        else:
            continue
        differing += 1
    cases = {key.split("/", 1)[0] for key in keys}  # those with a key compared
    if differing:
        print(f"{differing} differences in {len(cases)} cases ({len(keys)} keys compared)")
        return 1
    print(f"0 differences in {len(cases)} cases ({len(keys)} keys compared)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", help="the source tree's src directory (holding jumok/) to snapshot")
    parser.add_argument("--work", help="an empty (or new) directory for the runs")
    parser.add_argument("--out", help="the snapshot JSON file to write")
    parser.add_argument("--clean", action="store_true", help="empty --work first if it is not empty")
    parser.add_argument("--configs", help="directory holding smoke.toml (default: SRC/../configs)")
    parser.add_argument("--python", default=sys.executable, help="the Python to run jumok with (default: this one)")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two snapshots; exit 1 if they differ")
    parser.add_argument("--ignore", action="append", default=[], metavar="GLOB",
                        help="with --compare: leave out CASE/KEY matching GLOB (repeatable)")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare, args.ignore)
    if not (args.src and args.work and args.out):
        parser.error("--src, --work and --out are needed (or --compare A B)")
    return take(args)


if __name__ == "__main__":
    sys.exit(main())
