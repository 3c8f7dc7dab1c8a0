"""Numerical gradient checking: is a hand-written backward pass right?

For a function with outputs y_k and a *random* upstream gradient g_k, the scalar
L = Σ_k Σ y_k ⊙ g_k has dL/dx = the vector-Jacobian product that `backward(g)` must return.
Central differences estimate it independently of the code under test:

    dL/dx_i ≈ (L(x + ε e_i) − L(x − ε e_i)) / 2ε      (error O(ε²))

Run it in float64: with ε = 1e-6 a correct backward agrees to about 1e-8 (relative), a
wrong one is off by order 1. A random upstream gradient (not all ones) catches mistakes
that a plain sum would hide, such as a transposed or mis-summed axis.

Typical use, for a layer:

    layer = LSTM(5, 6, rng).astype(np.float64)
    xs = rng.standard_normal((3, 4, 5))
    def forward():
        hs, (h, c) = layer.forward(xs)
        return hs, h, c
    def backward(dhs, dh, dc):
        dxs, _, _ = layer.backward(dhs, dh, dc)
        return {"xs": dxs, **gradients_of(layer)}
    errors = gradcheck(forward, backward, {"xs": xs, **parameters_of(layer)}, rng)
    assert max(errors.values()) < 1e-6
"""

import numpy as np

from jumok.backend import array_module, to_device, to_numpy


def parameters_of(module):
    """{dotted name: parameter array} of a module (the arrays themselves, not copies)."""
    return {name: p for name, p, _ in module.named_parameters()}


def gradients_of(module):
    """{dotted name: gradient array} of a module, copied."""
    return {name: g.copy() for name, _, g in module.named_parameters()}


def numerical_gradient(loss, x, eps=1e-6):
    """Central-difference gradient of the scalar `loss()` with respect to the array `x`.

    `x` is perturbed in place, one element at a time, and restored exactly (it may be a
    device array; the gradient is then one too).
    """
    grad = array_module(x).zeros_like(x, dtype=np.float64)
    flat = x.reshape(-1)
    for i in range(flat.size):
        saved = float(flat[i])  # a value: on CuPy flat[i] is a 0-d view that the next line changes
        flat[i] = saved + eps
        plus = loss()
        flat[i] = saved - eps
        minus = loss()
        flat[i] = saved
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """‖a − b‖ / (‖a‖ + ‖b‖), 0 when both are 0: scale-free, and stable for tiny entries."""
    a, b = np.asarray(to_numpy(a), dtype=np.float64), np.asarray(to_numpy(b), dtype=np.float64)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


def gradcheck(forward, backward, wrt, rng, eps=1e-6):
    """Compare `backward` with central differences for every array named in `wrt`.

    forward():         reads the arrays in `wrt` (perturbed in place) and returns an array
                       or a tuple of arrays.
    backward(*douts):  given one upstream gradient per output, returns {name: gradient}
                       holding every key of `wrt`.
    wrt:               {name: float64 array} — the inputs and parameters to check.

    Returns {name: relative error}.
    """
    for name, x in wrt.items():
        if x.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64 arrays; {name} is {x.dtype}")
    outputs = _as_tuple(forward())
    douts = tuple(to_device(rng.standard_normal(np.shape(y)), array_module(y)) for y in outputs)
    analytic = backward(*douts)
    missing = set(wrt) - set(analytic)
    if missing:
        raise KeyError(f"backward returned no gradient for {sorted(missing)}")

    def loss():
        return sum(float(np.sum(y * g)) for y, g in zip(_as_tuple(forward()), douts))

    return {name: relative_error(analytic[name], numerical_gradient(loss, x, eps)) for name, x in wrt.items()}
