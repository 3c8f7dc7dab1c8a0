"""Decoding on every core of one process: a thread per chunk of sources, one BLAS thread.

NumPy runs a matrix product on all cores (OpenBLAS's threads) but all the rest on one: the
layer norms, softmaxes, additions and arg-maxes that make up most of a decoding step of a
few hundred rows. Python threads that each decode a chunk of their own put every core to
work on all of it, since NumPy lets go of the GIL inside its loops and its products. The
products must then run on one BLAS thread each: two threads whose products each take both
cores fight over them (5,000 G2P sources, `docs/speed.md#decoding-in-threads`).

Each thread decodes with a `replica` of the model (the same parameter arrays; its own
caches), and a chunk is decoded exactly as it is alone, so the hypotheses are the same as
decoding the chunks one after another with one BLAS thread.
"""

import ctypes
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from jumok.ranks import ONE_THREAD, started_by_mpiexec

MAX_THREADS = 4  # measured with 2 (this machine's cores); more threads hold more chunks at once


def decode_threads():
    """How many chunks one process decodes at once: its usable cores (at most `MAX_THREADS`);
    1 in a rank of an MPI job, which has one core of its own, and in a process told to run
    one thread (OPENBLAS_NUM_THREADS=1 or the like)."""
    if started_by_mpiexec() or any(os.environ.get(name) == "1" for name in ONE_THREAD):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cores, MAX_THREADS))


def _openblas_threads():
    """The (set, get) thread-count functions of the OpenBLAS NumPy loaded, or None (another
    BLAS, or a system without /proc)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())))
    except OSError:
        return None
    for path in paths:
        library = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            found = [getattr(library, f"{prefix}_{verb}_num_threads{suffix}", None) for verb in ("set", "get")]
            if all(found):
                return found
    return None


_blas_lock = threading.Lock()


@contextmanager
def one_blas_thread():
    """OpenBLAS on one thread inside the block, its count restored after; yields False (and
    changes nothing) where NumPy's BLAS cannot be told."""
    functions = _openblas_threads()
    if functions is None:
        yield False
        return
    set_threads, get_threads = functions
    with _blas_lock:
        before = get_threads()
        set_threads(1)
        try:
            yield True
        finally:
            set_threads(before)


def map_with_replicas(work, items, model, threads):
    """[work(item, a replica of model) for item in items], in order, `threads` at a time,
    each thread with its own replica (`Module.replica`)."""
    local = threading.local()

    def run(item):
        if not hasattr(local, "model"):
            local.model = model.replica()
        return work(item, local.model)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
