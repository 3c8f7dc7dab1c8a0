"""Decoding for `jumok serve`: one thread owns the model, and requests that wait together are
decoded together.

Each request hands its encoded sources to `Decoder.submit` and waits. The decoding thread
takes the oldest waiting request and, with it, every other waiting request with the same
beam, n-best and kinds of attention map that still fits in one batch of `protocol.SLICE_TOKENS` padded tokens
(rows × longest source × beam), decodes them as one batch (`jumok.api.Model.decode`), and
gives each its own outputs. A batch of 8 one-input requests costs about what 2 of them
cost alone (decoding is matrix products over the batch), so under load the server answers
several times more requests than one at a time; with one client nothing changes. Outputs do
not depend on what they were batched with, up to float32 rounding in the last bits.

A request bigger than one batch is decoded alone, in pieces, and the clock is read between
two: past `protocol.DECODE_SECONDS` it is stopped and refused (422). A request that has not
started decoding after `protocol.QUEUE_SECONDS` is taken out of the queue and refused (503).
"""

import collections
import threading
import time

from jumok.maps import CROSS
from jumok.serve import protocol
from jumok.serve.protocol import RequestError


class Job:
    """One request's sources, beam, n-best and the kinds of attention map it wants (a
    frozenset, `jumok.maps.kinds`); filled in with outputs (or an error) and the seconds its
    batch took."""

    def __init__(self, sources, beam, nbest, maps):
        self.sources, self.beam, self.nbest, self.maps = sources, beam, nbest, maps
        self.longest = max(len(s.ids) for s in sources)
        self.started = threading.Event()
        self.done = threading.Event()
        self.outputs = self.error = None
        self.seconds = 0.0

    def cost(self, rows=0, longest=0):
        """Padded tokens of a batch of this job and ``rows`` other rows up to ``longest`` long."""
        return (rows + len(self.sources)) * max(longest, self.longest) * self.beam


class Decoder:
    """The decoding thread of one `jumok.api.Model` (see the module docstring)."""

    def __init__(self, model):
        self.model = model
        self.queue = collections.deque()
        self.ready = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._work, name="jumok-decoder", daemon=True)
        self.thread.start()

    def submit(self, sources, beam, nbest, maps=frozenset({CROSS})):
        """(outputs, seconds) of ``sources`` decoded with ``beam`` and ``nbest``, each output
        carrying the attention maps of the kinds ``maps``; `RequestError`
        503 when decoding has not started within `protocol.QUEUE_SECONDS`, 422 when it ran
        past `protocol.DECODE_SECONDS`."""
        job = Job(sources, beam, nbest, maps)
        with self.ready:
            self.queue.append(job)
            self.ready.notify()
        if not job.started.wait(protocol.QUEUE_SECONDS):
            with self.ready:
                if not job.started.is_set():
                    self.queue.remove(job)
                    raise RequestError(503, f"the server is busy: decoding did not start within "
                                            f"{protocol.QUEUE_SECONDS:g} s; try again")
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.outputs, job.seconds

    def stop(self):
        with self.ready:
            self.stopping = True
            self.ready.notify()
        self.thread.join(timeout=10)

    def _work(self):
        while True:
            with self.ready:
                while not self.queue and not self.stopping:
                    self.ready.wait()
                if self.stopping:
                    return
                batch = self._take()
                for job in batch:
                    job.started.set()
            try:
                self._decode(batch)
            except BaseException as e:  # handed to the waiting requests: the thread goes on
                for job in batch:
                    job.error = job.error or e
            finally:
                for job in batch:
                    job.done.set()

    def _take(self):
        """The oldest job and the waiting jobs that can share its batch (called holding the lock)."""
        first = self.queue.popleft()
        batch, rows, longest = [first], len(first.sources), first.longest
        if first.cost() > protocol.SLICE_TOKENS:
            return batch
        for job in list(self.queue):
            alike = (job.beam, job.nbest, job.maps) == (first.beam, first.nbest, first.maps)
            if alike and job.cost(rows, longest) <= protocol.SLICE_TOKENS:
                self.queue.remove(job)
                batch.append(job)
                rows, longest = rows + len(job.sources), max(longest, job.longest)
        return batch

    def _decode(self, batch):
        start = time.monotonic()
        if len(batch) == 1:
            job = batch[0]
            job.outputs = self._decode_in_pieces(job, start)
        else:
            first = batch[0]
            outputs = self.model.decode([s for job in batch for s in job.sources], first.beam, first.nbest,
                                        maps=first.maps)
            for job in batch:
                job.outputs, outputs = outputs[: len(job.sources)], outputs[len(job.sources) :]
        for job in batch:
            job.seconds = time.monotonic() - start

    def _decode_in_pieces(self, job, start):
        outputs = []
        for first, piece in protocol.pieces(job.sources, job.beam):
            if outputs and time.monotonic() - start > protocol.DECODE_SECONDS:
                raise RequestError(422, f"decoding took longer than {protocol.DECODE_SECONDS:g} s and was "
                                        f"stopped after {first} of {len(job.sources)} inputs; send fewer or "
                                        f"shorter inputs, or a smaller beam")
            outputs.extend(self.model.decode(piece, job.beam, job.nbest, maps=job.maps))
        return outputs
