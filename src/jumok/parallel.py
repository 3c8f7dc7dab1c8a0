"""Data parallelism over MPI: the world of workers and what a training step asks of it.

A run with N workers is N processes, ranks 0 … N−1, started by ``mpiexec`` (`jumok.launch`
starts them on this machine for ``--workers N``). They run the same program on the same
data with the same seed, so they draw the same batch order, the same initial weights and the
same dropout stream. In each step rank r takes its contiguous slice `rows` of the batch,
divides its loss by the real target tokens of the *whole* batch, and after backward the
gradients are summed over the ranks (`GradientSum`, an Allreduce):

    g = Σ_r ∂/∂θ [ −(1/M) Σ_{(n,t) ∈ slice r} log p(y_nt) ] = ∂/∂θ [ −(1/M) Σ_{(n,t)} log p(y_nt) ]

which is the one-process gradient of the whole batch, up to the order of the float
additions. Every rank then clips and steps with the same numbers, so the parameters stay
equal without being sent. Rank 0 alone writes files and prints.

Without MPI — mpi4py missing, or a process that mpiexec did not start, or a world of one —
`get_world()` is `World`, one process for which every collective is the identity, so the
loop has one code path and a single process computes exactly what it did before.

Failure: when one rank fails the others would wait in their next collective for ever.
`World.fail` ends a rank at once, without MPI_Finalize (which would wait for the others);
mpiexec (Hydra) then ends every other rank of the job within about a second.
"""

import hashlib
import json
import os
import sys
import time

import numpy as np

from jumok.errors import JumokError, TrainingError
from jumok.ranks import LAUNCHED, launcher_rank, started_by_mpiexec

GRACE_SECONDS = 2.0  # how long a failing rank other than 0 waits for rank 0 to end the job first
DRAIN_SECONDS = 0.3  # how long a failing rank 0 lets mpiexec forward its line before ending the job
MPI_INSTALL = 'pip install mpi4py mpich (or pip install ".[mpi]")'


def rows_of(n, rank, size):
    """Rank `rank`'s contiguous share of n rows, as a slice: sizes differ by at most one,
    the first n mod size ranks holding one more (the split of `numpy.array_split`)."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


class World:
    """One process: rank 0 of 1, where every collective gives back what it was given."""

    rank = 0
    size = 1
    comm = None

    @property
    def is_root(self):
        """Rank 0: the one that writes files and prints."""
        return self.rank == 0

    def rows(self, n):
        """This rank's contiguous slice of a batch (or list) of n rows."""
        return rows_of(n, self.rank, self.size)

    def sum(self, values):
        """Σ over the ranks of each number in `values` (a list), on every rank; float64
        between ranks (exact for integers below 2⁵³)."""
        return list(values)

    def any(self, flag):
        """True on every rank if `flag` is true on any: how ranks agree to stop together."""
        return bool(flag)

    def max(self, value):
        """The largest `value` of all ranks, on every rank (e.g. the slowest rank's seconds)."""
        return value

    def broadcast(self, value):
        """Rank 0's `value` (anything JSON can carry), on every rank."""
        return value

    def barrier(self):
        """Wait until every rank has come here (e.g. until rank 0 has written a file)."""

    def gather(self, items):
        """Every rank's list `items` joined in rank order, on every rank (JSON-able items):
        with `rows`, a sharded list comes back whole and in input order."""
        return list(items)

    def shard(self, items):
        """This rank's contiguous part of the list `items`."""
        return items[self.rows(len(items))]

    def agree(self, arrays):
        """Raise `TrainingError` unless `arrays` hold the same bytes on every rank (a
        checksum, to prove the replicas have not drifted apart)."""

    def fail(self, code):
        """End this process with exit status `code` at once (the output flushed first)."""
        sys.stdout.flush()
        sys.stderr.flush()
        raise SystemExit(code)


class MPIWorld(World):
    """One rank of an MPI job of two or more (mpi4py's COMM_WORLD)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    def sum(self, values):
        from mpi4py import MPI

        buffer = np.array(values, dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        return buffer.tolist()

    def any(self, flag):
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def max(self, value):
        from mpi4py import MPI

        buffer = np.array([value], dtype=np.float64)
        self.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.MAX)
        return type(value)(buffer[0])

    def broadcast(self, value):
        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8) if self.is_root else None
        length = np.array([0 if data is None else data.size], dtype=np.int64)
        self.comm.Bcast(length, root=0)
        if data is None:
            data = np.empty(int(length[0]), dtype=np.uint8)
        self.comm.Bcast(data, root=0)
        return json.loads(data.tobytes().decode())

    def barrier(self):
        self.comm.Barrier()

    def gather(self, items):
        data = np.frombuffer(json.dumps(list(items)).encode(), dtype=np.uint8)
        counts = np.zeros(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([data.size], dtype=np.int64), counts)
        received = np.empty(int(counts.sum()), dtype=np.uint8)
        self.comm.Allgatherv(data, [received, counts.tolist()])
        joined, start = [], 0
        for count in counts.tolist():
            joined.extend(json.loads(received[start : start + count].tobytes().decode()))
            start += count
        return joined

    def agree(self, arrays):
        digest = hashlib.blake2b(digest_size=16)
        for a in arrays:
            digest.update(np.ascontiguousarray(a).tobytes())
        digests = self.gather([digest.hexdigest()])
        if len(set(digests)) > 1:
            differ = [rank for rank, d in enumerate(digests) if d != digests[0]]
            raise TrainingError(f"the parameters of worker{'s' if len(differ) > 1 else ''} "
                               f"{', '.join(map(str, differ))} differ from worker 0's")

    def fail(self, code):
        """End this rank now with exit status `code`, skipping MPI_Finalize (it would wait
        for the others). A failure (any code but 130) may be this rank's alone while the
        others wait in a collective, so MPI_Abort asks mpiexec to end every rank; MPICH's
        own line about it is silenced (stderr closed first): the caller has said what went
        wrong. Ctrl-C (130) reached every rank, and each ends by itself."""
        sys.stdout.flush()
        sys.stderr.flush()
        if code != 130:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            self.comm.Abort(code)
        os._exit(code)


_world = None


def get_world():
    """This process's place among the workers: `MPIWorld` when mpiexec started it as one of
    two or more ranks (MPI is initialised on the first call), else `World`."""
    global _world
    if _world is None:
        _world = World()
        if started_by_mpiexec():
            try:
                from mpi4py import MPI
            except ImportError as e:
                raise JumokError(f"started by mpiexec, but mpi4py cannot be loaded ({e}): {MPI_INSTALL}") from None
            if MPI.COMM_WORLD.Get_size() > 1:
                _world = MPIWorld(MPI.COMM_WORLD)
    return _world


def current_world():
    """The world `get_world` set up, or `World` when nothing has asked for it yet (this
    does not set MPI up)."""
    return _world or World()


class GradientSum:
    """Sums a model's gradients over the ranks in one Allreduce, in place.

    Each call copies every gradient array of the model, as it is now, into one flat buffer,
    sums the buffer over the ranks (one message of all the bytes rather than one per
    parameter) and copies the sums back into the same arrays. The model's `grads` dicts are
    never rebound, so a gradient array that is replaced after setup (`Module.astype`, `to`,
    or a new array put into `grads`) is summed all the same. The copies cost about 0.3 ms a
    step at the benchmark's shapes (0.6 M float32 parameters, 2.4 MB), against a step of
    about 100 ms and an Allreduce of 1–5 ms. In a world of one it does nothing.
    """

    def __init__(self, model, world):
        self.model = model
        self.world = world
        self.buffer = None  # (P,): reused while the gradients' total size and dtype stay the same

    def gradients(self):
        """Every gradient array of the model, each module once, in the order of `Module.modules`."""
        modules = {id(m): m for m in self.model.modules()}.values()
        return [g for module in modules for g in module.grads.values()]

    def __call__(self):
        if self.world.size == 1:
            return
        from mpi4py import MPI

        grads = self.gradients()
        dtypes = {g.dtype for g in grads}
        if len(dtypes) != 1:
            raise ValueError(f"the gradients have several dtypes {sorted(map(str, dtypes))}")
        size, dtype = sum(g.size for g in grads), dtypes.pop()
        if self.buffer is None or self.buffer.size != size or self.buffer.dtype != dtype:
            self.buffer = np.empty(size, dtype=dtype)
        np.concatenate([g.reshape(-1) for g in grads], out=self.buffer)
        self.world.comm.Allreduce(MPI.IN_PLACE, self.buffer, op=MPI.SUM)
        start = 0
        for g in grads:
            g[...] = self.buffer[start : start + g.size].reshape(g.shape)
            start += g.size


def end_with(message, code):
    """End a command that failed (`message`, a line for stderr, or None) or was interrupted
    (`code` 130); return the exit status for one process.

    One process prints and returns `code`. Ranks of a job that have not set up MPI yet all
    failed alike, so rank 0 alone prints. In an `MPIWorld` rank 0 prints, waits `DRAIN_SECONDS`
    (mpiexec forwards the line before the abort tears its proxies down) and ends the job
    (`World.fail`); another rank first waits `GRACE_SECONDS`, in which mpiexec ends it if rank
    0 failed too, and otherwise the failure was its own: it prints the line with its rank.
    Ctrl-C reaches every rank: only rank 0 says so, and not when `jumok.launch` started the
    ranks (it says so itself).
    """
    world = _world
    if world is None or world.size == 1:
        if message and launcher_rank() == 0 and not (code == 130 and LAUNCHED in os.environ):
            print(message, file=sys.stderr)
        return code
    if not world.is_root:
        if code == 130:
            world.fail(code)
        time.sleep(GRACE_SECONDS)
        message = message and f"{message} (worker {world.rank} of {world.size})"
    elif code == 130 and LAUNCHED in os.environ:
        message = None
    if message:
        print(message, file=sys.stderr, flush=True)
        if world.is_root and code != 130:
            time.sleep(DRAIN_SECONDS)
    world.fail(code)
