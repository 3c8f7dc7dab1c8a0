"""A stand-in for CuPy, so that CPU tests run the device code path and prove it never mixes
host and device arrays.

`FakeDeviceArray` wraps a NumPy array (its "device memory") and behaves as a CuPy array does
where it matters:

  * it is not an `np.ndarray`, and implicit conversion to one (`np.asarray(a)`, `np.array(a)`)
    raises TypeError; `.get()` makes a host copy, as CuPy's does;
  * NumPy ufuncs, functions and operators accept it (through `__array_ufunc__` and
    `__array_function__`) and return device arrays, reductions 0-d device arrays;
  * combining it with a host array (an `np.ndarray`, of any shape) raises TypeError
    "host array mixed with device array": in arithmetic, in NumPy functions, as an index or
    as a value assigned into it. NumPy and Python scalars are fine;
  * integer indexing gives 0-d views, not scalars.

`xp` is its array module (what `jumok.backend.array_module` returns for it once `install()`
has run): NumPy's namespace, where creation functions (`zeros`, `full`, `arange`, ...) make
device arrays, `asarray`/`array` copy host data to the device, and every other function
refuses host arrays as CuPy's do. The arithmetic itself is NumPy's, on the same data in the
same order, so a model run on fake-device arrays must give exactly the NumPy results.
"""

import types

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

from jumok import backend

MIXED = "host array mixed with device array"


def _refuse_host(obj, where):
    """Raise TypeError if `obj` holds a host array (searching tuples, lists and dicts)."""
    if isinstance(obj, np.ndarray):
        raise TypeError(f"{MIXED} in {where}: a NumPy array of shape {obj.shape}")
    if isinstance(obj, (tuple, list)):
        for item in obj:
            _refuse_host(item, where)
    elif isinstance(obj, dict):
        for item in obj.values():
            _refuse_host(item, where)


def _raw(obj):
    """`obj` with every FakeDeviceArray replaced by the NumPy array it wraps."""
    if isinstance(obj, FakeDeviceArray):
        return obj._data
    if isinstance(obj, tuple):
        return tuple(_raw(item) for item in obj)
    if isinstance(obj, list):
        return [_raw(item) for item in obj]
    if isinstance(obj, dict):
        return {key: _raw(item) for key, item in obj.items()}
    return obj


def _device(obj):
    """NumPy results made device arrays (numpy scalars become 0-d arrays, as CuPy returns)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        return FakeDeviceArray(np.asarray(obj))
    if isinstance(obj, tuple):
        return tuple(_device(item) for item in obj)
    if isinstance(obj, list):
        return [_device(item) for item in obj]
    return obj


def _call(function, args, kwargs, where):
    """`function` on the wrapped arrays, refusing host arrays; results back on the device
    (the `out` array itself when one was given)."""
    _refuse_host((args, kwargs), where)
    result = function(*_raw(args), **_raw(kwargs))
    out = kwargs.get("out")
    if out is not None:
        return out[0] if isinstance(out, tuple) and len(out) == 1 else out
    return _device(result)


class FakeDeviceArray(NDArrayOperatorsMixin):
    """A device array in the manner of `cupy.ndarray` (see the module docstring)."""

    __slots__ = ("_data",)

    def __init__(self, data):
        assert type(data) is np.ndarray
        self._data = data

    def get(self):
        """A host copy."""
        return self._data.copy()

    def __array__(self, dtype=None, copy=None):
        raise TypeError("implicit conversion of a device array to a NumPy array; use .get()")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _call(getattr(ufunc, method), inputs, kwargs, f"np.{ufunc.__name__}.{method}")

    def __array_function__(self, func, types, args, kwargs):
        return _call(func, args, kwargs, f"np.{func.__name__}")

    def __getitem__(self, index):
        _refuse_host(index, "an index")
        index = _raw(index)
        result = self._data[index]
        if isinstance(result, np.generic):  # a 0-d view, as CuPy gives, where it can be had
            parts = index if isinstance(index, tuple) else (index,)
            result = np.asarray(result) if any(p is Ellipsis for p in parts) else self._data[(*parts, Ellipsis)]
        return FakeDeviceArray(result)

    def __setitem__(self, index, value):
        _refuse_host((index, value), "an assignment into a device array")
        self._data[_raw(index)] = _raw(value)

    def __getattr__(self, name):
        """Array attributes and methods (shape, dtype, T, reshape, sum, astype, ...); no
        special names, so NumPy cannot reach the data through __array_interface__ and such."""
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(self._data, name)
        if not callable(attr):
            return _device(attr)
        return lambda *args, **kwargs: _call(attr, args, kwargs, f".{name}()")

    def __len__(self):
        return len(self._data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __float__(self):
        return float(self._data)

    def __int__(self):
        return int(self._data)

    def __bool__(self):
        return bool(self._data)

    def __index__(self):
        return self._data.__index__()

    def __repr__(self):
        return f"FakeDeviceArray({self._data!r})"


_FROM_HOST = {"asarray", "array", "ascontiguousarray"}  # copy host data onto the device
_FROM_SHAPE = {"empty", "zeros", "ones", "full", "arange", "eye", "linspace", "identity"}


class _Ufunc:
    """A ufunc of the fake module: calls and methods (at, reduce, ...) refuse host arrays."""

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _call(self._ufunc, args, kwargs, f"xp.{self._ufunc.__name__}")

    def __getattr__(self, name):
        method = getattr(self._ufunc, name)
        if not callable(method):
            return method
        return lambda *args, **kwargs: _call(method, args, kwargs, f"xp.{self._ufunc.__name__}.{name}")


def _from_host(function):
    def create(data, *args, **kwargs):
        if isinstance(data, FakeDeviceArray):
            return _device(function(data._data, *args, **kwargs))
        return FakeDeviceArray(np.array(function(data, *args, **kwargs), copy=True))  # a transfer: a copy

    return create


def _from_shape(function):
    return lambda *args, **kwargs: _device(function(*args, **kwargs))


class FakeDeviceModule(types.ModuleType):
    """The array module of FakeDeviceArray: NumPy's namespace, on the device."""

    def __getattr__(self, name):
        if name == "random":
            raise AttributeError("the fake device has no random module: draw on the host")
        attr = getattr(np, name)
        if name in _FROM_HOST:
            return _from_host(attr)
        if name in _FROM_SHAPE:
            return _from_shape(attr)
        if isinstance(attr, np.ufunc):
            return _Ufunc(attr)
        if isinstance(attr, (type, types.ModuleType)) or not callable(attr):
            return attr  # dtypes (float32, int64), constants (inf), submodules
        return lambda *args, **kwargs: _call(attr, args, kwargs, f"xp.{name}")

    @staticmethod
    def asnumpy(a):
        return a.get() if isinstance(a, FakeDeviceArray) else np.asarray(a)


xp = FakeDeviceModule("fake_device_xp")


def install():
    """Make `jumok.backend.array_module` recognise FakeDeviceArray (idempotent)."""
    backend.register_device_module(FakeDeviceArray, xp)
    return xp
