"""Decoding and training on every core of one process: threads with one BLAS thread each.

NumPy runs a matrix product on all cores (OpenBLAS's threads) but all the rest on one: the
layer norms, softmaxes, additions and arg-maxes that make up most of a decoding step of a
few hundred rows. Python threads that each decode a chunk of their own put every core to
work on all of it, since NumPy lets go of the GIL inside its loops and its products. The
products must then run on one BLAS thread each: two threads whose products each take both
cores fight over them (5,000 G2P sources, `docs/speed.md#decoding-in-threads`).

Each thread decodes with a `replica` of the model (the same parameter arrays; its own
caches), and a chunk is decoded exactly as it is alone, so the hypotheses are the same as
decoding the chunks one after another with one BLAS thread.

A training step in threads (`StepThreads`) splits each batch's rows as workers do
(`jumok.parallel.rows_of`): each thread runs forward and backward on its rows with a replica
that has gradients of its own, its dropout masks its rows of the whole batch's masks
(`Dropout.rows`), and the gradients add into the model's.
"""

import ctypes
import functools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from jumok.launch import available_cores
from jumok.layers.dropout import set_rows
from jumok.parallel import rows_of
from jumok.ranks import ONE_THREAD, started_by_mpiexec

MAX_THREADS = 4  # measured with 2 (this machine's cores); more threads hold more chunks at once


def usable_threads():
    """How many threads one process puts to work (chunks it decodes at once; `--threads
    auto`): its usable cores (at most `MAX_THREADS`); 1 in a rank of an MPI job, which has
    one core of its own, and in a process told to run one thread (OPENBLAS_NUM_THREADS=1 or
    the like)."""
    if started_by_mpiexec() or any(os.environ.get(name) == "1" for name in ONE_THREAD):
        return 1
    return max(1, min(available_cores(), MAX_THREADS))


@functools.cache
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


class StepThreads:
    """Forward and backward of a training step on `threads` shares of the batch at once.

    Thread 0 runs the model itself; thread i a replica with gradients of its own. Before each
    step every replica's dropout generators take the model's state, so each gets its rows of
    the masks the whole batch would draw, and the model's generators end where one
    thread's would. The loss of each share is divided by the whole batch's count, so the
    shares' losses and gradients add up to the whole batch's (up to the order of the sums)."""

    def __init__(self, model, threads):
        self.model = model
        self.replicas = [model] + [model.replica(own_grads=True) for _ in range(threads - 1)]
        self.pool = ThreadPoolExecutor(threads - 1)

    def forward_backward(self, arrays, count):
        """arrays (src, src_mask, tgt_in, tgt_out, tgt_mask), batch-first on the model's device
        → the batch's loss; the model's gradients hold the batch's (zeroed first)."""
        N, n = arrays[0].shape[0], len(self.replicas)
        generators = self.model.dropout_generators()
        for replica in self.replicas[1:]:
            for mine, its in zip(generators, replica.dropout_generators(), strict=True):
                its.bit_generator.state = mine.bit_generator.state
        shares = [(replica, rows_of(N, i, n)) for i, replica in enumerate(self.replicas)]
        shares = [(replica, rows) for replica, rows in shares if rows.stop > rows.start]

        def run(replica, rows):
            set_rows(replica, (N, rows.start, rows.stop))
            loss = replica.forward(*(a[rows] for a in arrays), count=count)
            replica.zero_grad()
            replica.backward()
            return loss

        with one_blas_thread():
            futures = [self.pool.submit(run, *share) for share in shares[1:]]
            losses = [run(*shares[0])] + [future.result() for future in futures]
        set_rows(self.model, None)  # the model's dropout: its own x's rows again
        grads = [g for _, _, g in self.model.named_parameters()]
        for replica, _ in shares[1:]:
            for g, its in zip(grads, (g for _, _, g in replica.named_parameters()), strict=True):
                g += its
        return sum(losses)
