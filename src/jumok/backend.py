"""The array module (NumPy or CuPy) that goes with some arrays, and moving arrays between
host and device.

Layers never consult a global device flag: each picks the module of the arrays it is given,
so the same code runs on the CPU with NumPy arrays and on a GPU with CuPy arrays. CuPy is
imported only when a CuPy array is actually seen (or `device_module("gpu")` is asked for),
so NumPy-only installs never need it.

What stays on the host whatever the device: random generators (dropout masks are drawn on
the host and copied over, so a run draws the same numbers on either), checkpoints
(`Module.state_dict` and `Adam.state` return NumPy arrays) and decoding results.

Tests run the device path without a GPU by registering a stand-in for CuPy with
`register_device_module` (see tests/fake_device.py).
"""

import numpy as np

from jumok.errors import JumokError

DEVICES = {"cpu": "NumPy on the CPU", "gpu": 'CuPy on a CUDA GPU (pip install ".[gpu]")'}
"""Where training runs, by `Config.device` (see `device_module`)."""

_DEVICE_MODULES = {}  # array type -> its array module, for device array types other than CuPy's


def register_device_module(array_type, module):
    """Make `array_module` return `module` for arrays of `array_type`: the hook by which
    tests stand in a fake device for CuPy. Never needed for CuPy itself."""
    _DEVICE_MODULES[array_type] = module


def array_module(*arrays):
    """`cupy` (or a registered device module) if any of `arrays` is a device array, else `numpy`."""
    for a in arrays:
        kind = type(a)
        if kind in _DEVICE_MODULES:
            return _DEVICE_MODULES[kind]
        if kind.__module__.startswith("cupy"):
            import cupy

            return cupy
    return np


def to_numpy(a):
    """A NumPy copy of a device array (or `a` itself when it is not one)."""
    return a if array_module(a) is np else a.get()


def to_device(a, xp):
    """`a` as an array of the module `xp`: copied to the GPU for CuPy; for NumPy, `a` itself
    when it is on the host already (no copy), else a host copy."""
    return to_numpy(a) if xp is np else xp.asarray(a)


def add_at(a, index, values):
    """a[index] += values, repeated indices adding up (`np.add.at`; on CuPy `cupy.add.at`,
    or `cupyx.scatter_add` where that is missing)."""
    xp = array_module(a)
    if xp is np or hasattr(xp.add, "at"):
        xp.add.at(a, index, values)
    else:
        import cupyx

        cupyx.scatter_add(a, index, values)


def device_module(device):
    """The array module for a device name: numpy for "cpu", cupy for "gpu".

    Raises `JumokError` with one line saying what is missing when CuPy cannot be imported
    or finds no usable CUDA GPU; `ValueError` for another name.
    """
    if device == "cpu":
        return np
    if device != "gpu":
        raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    try:
        import cupy

        cupy.zeros(1).sum().item()  # a driver, a device and a working kernel, or an error here
    except Exception as e:  # noqa: BLE001 — ImportError, CUDARuntimeError, CompileException, ...
        reason = f"{type(e).__name__}: {e}".strip().splitlines()[0]
        raise JumokError(f'--device gpu needs CuPy and a CUDA GPU: pip install ".[gpu]" ({reason})') from None
    return cupy
