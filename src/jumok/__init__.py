"""jumok (주목, "attention"): sequence-to-sequence learning with attention in NumPy.

Every layer has a forward pass and a backward pass derived by hand; `jumok.gradcheck`
checks them against central differences.

The public API: ``jumok.load(run_dir)`` → a `jumok.api.Model` that predicts and draws
(imported on first use, so ``import jumok`` stays light).
"""

from jumok.ranks import one_blas_thread_per_rank

one_blas_thread_per_rank()  # a rank of an MPI job: before anything loads NumPy

__version__ = "0.1.0"
__all__ = ["load"]


def __getattr__(name):
    if name == "load":
        from jumok.api import load

        return load
    raise AttributeError(f"module 'jumok' has no attribute {name!r}")
