"""``--workers N``: start N copies of this command under mpiexec, one per core.

`workers_wanted` turns the setting (a number or ``auto`` = the cores this process may run
on) into a count; `relaunch` runs ``mpiexec -n N python -m jumok ARGS`` with one BLAS thread
per rank (N ranks on N cores: more threads would only fight over them), passes the ranks'
output through, and returns the job's exit status. The ranks see that mpiexec started them
(`jumok.ranks.started_by_mpiexec`) and do not launch again; ``mpiexec -n N jumok ...``
started by hand, on one machine or several, gives the same job.

A rank that dies ends the job: mpiexec (MPICH's Hydra) stops the other ranks within about a
second and prints a banner of several lines on its stdout; `relaunch` puts one line in its
place.
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

from jumok.errors import ConfigError
from jumok.parallel import MPI_INSTALL
from jumok.ranks import LAUNCHED, ONE_THREAD
BANNER_START = "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES"
BANNER_REASON = "YOUR APPLICATION TERMINATED WITH THE EXIT STRING:"
CTRL_C_CHATTER = ("Sending Ctrl-C to processes as requested", "Press Ctrl-C again to force abort")  # Hydra's


def available_cores():
    """The cores this process may run on (its CPU affinity; all of the machine's elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def find_mpiexec():
    """The mpiexec installed beside this Python (the `mpich` wheel puts it there), else the
    first one on PATH, else None."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "mpiexec"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("mpiexec")


def missing_mpi():
    """What is missing to start workers (a phrase), or None when mpi4py and mpiexec are there."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed"
    if find_mpiexec() is None:
        return "no mpiexec was found"
    return None


def workers_wanted(setting, log=print):
    """The number of workers for ``--workers SETTING``: an int ≥ 1, or ``auto`` (or 0), which
    is every core this process may use — or one, with a one-line notice, where MPI is
    missing. An explicit number above one without MPI is a `ConfigError` saying what to
    install."""
    if setting in ("auto", 0):
        cores = available_cores()
        missing = missing_mpi() if cores > 1 else None
        if missing:
            log(f"--workers auto: one worker ({missing}; for {cores}, {MPI_INSTALL})")
            return 1
        return cores
    workers = int(setting)
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1 or auto, got {workers}")
    missing = missing_mpi() if workers > 1 else None
    if missing:
        raise ConfigError(f"--workers {workers} needs MPI, but {missing}: {MPI_INSTALL}")
    return workers


def relaunch(workers, argv, what="the job", program=None):
    """Run ``python -m jumok *argv`` (or ``*program *argv``) as `workers` ranks under
    mpiexec; return its exit status.

    The ranks' stdout comes through here line by line; Hydra's banner about a rank that
    died becomes one line on stderr, saying how it ended. Ctrl-C reaches mpiexec, which
    passes it on to every rank; this process waits for them and says "jumok: interrupted"
    (the ranks leave that to it) and returns 130.
    """
    env = {**os.environ, **{name: "1" for name in ONE_THREAD}, LAUNCHED: "1"}
    program = program or [sys.executable, "-m", "jumok"]
    command = [find_mpiexec(), "-n", str(workers), *program, *argv]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True, bufsize=1)
    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))  # mpiexec passes Ctrl-C on
    try:
        reason = _pass_output(process.stdout)
        status = process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        print("jumok: interrupted", file=sys.stderr)
        return 130
    if reason is not None:
        print(f"jumok: error: a worker died ({reason}); mpiexec stopped all {workers} workers; "
              f"{what} ended without finishing", file=sys.stderr)
        return status or 1
    return status


def _pass_output(lines):
    """Copy `lines` to stdout, leaving out Hydra's banner about a rank that died and its
    lines about passing Ctrl-C on; return the reason the banner gives ("Killed (signal 9)"),
    or None when there was no banner.

    Hydra prints the banner once the job is over, after a blank line and a rule of "="; such
    lines are held back until the next line shows whether the banner has begun."""
    held, reason = [], None
    for line in lines:
        if reason is not None:  # inside the banner: nothing from the ranks comes after it
            if line.startswith(BANNER_REASON):
                reason = line[len(BANNER_REASON):].strip()
        elif line.startswith(BANNER_START):
            held, reason = [], "it ended abnormally"
        elif line.startswith("[mpiexec@") and line.rstrip().endswith(CTRL_C_CHATTER):
            continue
        elif not line.strip() or set(line.strip()) == {"="}:
            held.append(line)
        else:
            sys.stdout.write("".join(held) + line)
            held = []
    sys.stdout.write("".join(held))
    sys.stdout.flush()
    return reason
