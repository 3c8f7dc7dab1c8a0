"""The threads that run `jumok serve`'s handlers: a fixed number, each taking the next
complete request from one queue. Daemon threads, so that a handler waiting for the model
never holds up the process's exit (Ctrl-C, SIGTERM)."""

import queue
import threading


class Workers:
    """``count`` daemon threads running the calls handed to `submit`, in order of arrival."""

    def __init__(self, count, name="jumok-worker"):
        self.jobs = queue.SimpleQueue()
        self.threads = [threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True) for n in range(count)]
        for thread in self.threads:
            thread.start()

    def submit(self, function, *args):
        """Call ``function(*args)`` in a worker thread; it must handle its own exceptions."""
        self.jobs.put((function, args))

    def stop(self):
        """Let each thread end once the calls already submitted are done (without waiting)."""
        for _ in self.threads:
            self.jobs.put(None)

    def _work(self):
        while (job := self.jobs.get()) is not None:
            function, args = job
            function(*args)
