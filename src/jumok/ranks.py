"""What a launcher tells a process about its place in an MPI job, read from the environment
alone (no MPI, no NumPy), so that `jumok/__init__.py` can act on it before NumPy is loaded:
a rank runs one BLAS thread unless told otherwise (N ranks on N cores; more threads would
only fight over them)."""

import os

# Set by the launchers in each process they start: MPICH/Hydra and Slurm (PMI), Open MPI, PMIx.
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK")
RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LAUNCHED = "JUMOK_LAUNCHED"  # set by `jumok.launch.relaunch` in the ranks it starts: it reports Ctrl-C itself


def started_by_mpiexec():
    """Whether a launcher started this process as one rank of a job."""
    return any(name in os.environ for name in LAUNCHER_VARIABLES)


def launcher_rank():
    """This process's rank as the launcher numbered it (0 when no launcher started it)."""
    for name in RANK_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def one_blas_thread_per_rank():
    """In a rank of a job, one BLAS thread where no variable says otherwise (this works only
    before NumPy is first imported)."""
    if started_by_mpiexec():
        for name in ONE_THREAD:
            os.environ.setdefault(name, "1")
