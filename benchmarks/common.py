"""What every benchmark shares: the environments of the processes they start, the machine,
the records, the one step timer, and the chapter's synthetic training step.

The timer: `median_time` is the median of the timed calls after the warm-up ones. Every
benchmark times with it, so a step on the CPU, on a GPU (`start` and `stop` synchronise the
device) and across MPI ranks (`start` is a barrier, `combine` takes the slowest rank's
seconds) is measured the same way.

The workload: the attention chapter's date task at batch N, source length S, target length
T (the decoder reads <bos> + T − 1 tokens and writes T − 1 tokens + <eos>), vocabulary V,
in synthetic batches of uniform random tokens that fill every position (no padding, like
the chapter's fixed-width data). A jumok training step is forward, backward, global-norm
clipping to 5 and Adam (lr 1e-3).
"""

import datetime
import json
import os
import platform
import socket
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

from jumok.models import AttentionSeq2seq
from jumok.optim import Adam, clip_grad_norm
from jumok.ranks import ONE_THREAD

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BOS, EOS, NEVER = 1, 2, -1  # NEVER: the end token given to decoding so that it never stops early


# ----------------------------------------------------------------------------------------
# Processes and the machine
# ----------------------------------------------------------------------------------------


def blas_threads(threads, env=None):
    """`env` (default this process's environment) with every BLAS library's thread count
    (OpenBLAS, OpenMP, MKL) set to `threads`: what each rank of a job runs with at 1."""
    return {**(os.environ if env is None else env), **{name: str(threads) for name in ONE_THREAD}}


def child_env(threads=None):
    """The environment for a `python -m jumok` child: this repository's src/ first on
    PYTHONPATH, and `threads` BLAS threads when given."""
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    return blas_threads(threads, env) if threads else env


def run_row(command, env, timeout=900):
    """Run a benchmark's row in a process of its own; its result is the JSON object on the
    last line it prints."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def numpy_threads():
    """Threads NumPy's BLAS uses: threadpoolctl if installed, else the usual variables, else cores."""
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            return int(blas[0]["num_threads"])
    except ImportError:
        pass
    for var in ONE_THREAD:
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else `platform.processor()`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(**more):
    """What a record says about the machine it was measured on, and `more`."""
    return {"host": socket.gethostname() or "local", "cpu": cpu_model(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "platform": platform.platform(), **more}


def write_record(record, out=None, kind="", folder=RESULTS):
    """Write a benchmark's JSON `record` to `out`, by default to
    `folder`/[<kind>-]<host>-<date>.json; print and return the path."""
    host = socket.gethostname() or "local"
    name = "-".join(part for part in (kind, host, datetime.date.today().isoformat()) if part)
    path = Path(out) if out else Path(folder) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def ratio(a, b):
    """a ÷ b, or None where either is missing (a row that did not run)."""
    return None if a is None or b is None else a / b


def fmt(x, spec=".4f"):
    """A table cell: `x` formatted, or — where it is missing."""
    return "—" if x is None else format(x, spec)


# ----------------------------------------------------------------------------------------
# The step timer
# ----------------------------------------------------------------------------------------


def median_time(fn, args_list, warmup, repeats, start=None, stop=None, combine=None):
    """Median seconds of fn(args) over `repeats` calls after `warmup` untimed ones, cycling
    through `args_list`. `start()` runs before the clock starts and `stop()` before it stops
    (a GPU's synchronisation, so the clock sees the device's work finished; an MPI barrier,
    so the ranks start together); `combine(seconds)` gives the figure kept for a call (the
    slowest rank's seconds), and is called on every call, warm-up ones too."""
    times = []
    for k in range(warmup + repeats):
        args = args_list[k % len(args_list)]
        if start is not None:
            start()
        begin = time.perf_counter()
        fn(args)
        if stop is not None:
            stop()
        seconds = time.perf_counter() - begin
        if combine is not None:
            seconds = combine(seconds)
        if k >= warmup:
            times.append(seconds)
    return statistics.median(times)


def gemm_gflops(n, repeats):
    """Median float32 rate of np.matmul on (n, n) @ (n, n), in GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    seconds = median_time(lambda _: a @ b, [None], warmup=1, repeats=repeats)
    return 2 * n**3 / seconds / 1e9


# ----------------------------------------------------------------------------------------
# The chapter's synthetic training step
# ----------------------------------------------------------------------------------------


def make_batches(rng, count, N, S, T, V):
    """`count` synthetic batches: (src (N, S), src_mask, tgt_in (N, T), tgt_out (N, T), tgt_mask)."""
    batches = []
    for _ in range(count):
        src = rng.integers(3, V, size=(N, S))
        words = rng.integers(3, V, size=(N, T - 1))
        tgt_in = np.concatenate([np.full((N, 1), BOS), words], axis=1)  # <bos> y1 … y10
        tgt_out = np.concatenate([words, np.full((N, 1), EOS)], axis=1)  # y1 … y10 <eos>
        batches.append((src, np.ones((N, S), bool), tgt_in, tgt_out, np.ones((N, T), bool)))
    return batches


def jumok_train_step(model, optimizer=None, clip=5.0):
    """One training step of a jumok model on a batch (src, src_mask, tgt_in, tgt_out,
    tgt_mask): forward, backward, global-norm clipping to `clip`, then `optimizer` (default
    Adam, lr 1e-3)."""
    optimizer = Adam(model, lr=1e-3) if optimizer is None else optimizer
    grads = [(name, g) for name, _, g in model.named_parameters()]

    def step(batch):
        model.forward(*batch)
        model.zero_grad()
        model.backward()
        clip_grad_norm(grads, clip)
        optimizer.step()

    return step


def jumok_step_seconds(N, S, T, src_vocab, tgt_vocab, D, H, warmup, repeats):
    """Median seconds of a training step of the chapter's attention model (embedding D,
    hidden H) on two synthetic batches of this shape."""
    model = AttentionSeq2seq(src_vocab, tgt_vocab, D, H, rng=np.random.default_rng(1))
    batches = make_batches(np.random.default_rng(0), 2, N, S, T, min(src_vocab, tgt_vocab))
    return median_time(jumok_train_step(model), batches, warmup, repeats)
