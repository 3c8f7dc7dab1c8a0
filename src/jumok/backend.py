"""Which array module to use, chosen from the arrays themselves (NumPy, or CuPy on a GPU)."""

import numpy as np


def array_module(*arrays):
    """Return `cupy` if any argument is a CuPy array, else `numpy`. No global flag."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def to_numpy(a):
    """A NumPy copy of `a` (a no-op for NumPy arrays)."""
    return a.get() if hasattr(a, "get") else np.asarray(a)
