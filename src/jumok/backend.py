"""The array module (NumPy or CuPy) that goes with some arrays.

Layers never consult a global device flag: each picks the module of the arrays it is given,
so the same code runs on the CPU with NumPy arrays and on a GPU with CuPy arrays. CuPy is
imported only when a CuPy array is actually seen, so NumPy-only installs never need it.
"""

import numpy as np


def array_module(*arrays):
    """`cupy` if any of `arrays` is a CuPy array, else `numpy`."""
    for a in arrays:
        if type(a).__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def to_numpy(a):
    """A NumPy copy of a CuPy array (or `a` itself when it is already on the host)."""
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a
