"""The one convention every layer and model follows.

A `Module` owns `params: dict[str, array]` and `grads: dict[str, array]` with the same keys.
`backward` *adds* into `grads`, so a weight used twice needs no special case; the trainer
zeroes the gradients once a step. Child modules are found from the attributes, so models
built by composition expose dotted names such as ``"decoder.lstm.Wh"``; `named_modules` is
the one walk of that tree, and everything that visits every module goes through it.

Parameters live on one device, NumPy (host) or CuPy (GPU) arrays alike; `to` moves them.
`state_dict` always hands back host arrays, so checkpoints are written from host memory.
"""

import copy
from contextlib import contextmanager

import numpy as np

from jumok.backend import array_module, device_module, to_device, to_numpy


class Module:
    """Base class: parameter bookkeeping, train/eval mode, dtype casting."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self.training = True

    def add_param(self, name, value):
        self.params[name] = value
        self.grads[name] = array_module(value).zeros_like(value)
        return value

    def children(self):
        """Direct sub-modules as ``(name, module)``, in attribute order (a list attribute of
        modules counts too, as ``name.i``). A subclass may override it to rename them."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_modules(self, prefix=""):
        """Yield ``(dotted_name, module)`` for this module (named `prefix`) and every
        descendant, depth first in attribute order: a module, then each of its `children`'
        subtrees in turn. This is the one walk of the tree: the order of the parameters (and so
        of checkpoints, the optimizer and the gradient buffer of `jumok.parallel`) and of
        the dropout generators is this order. A child named "" adds nothing to the names
        below it (a one-layer `LSTMStack`'s layer)."""
        yield prefix, self
        for name, child in self.children():
            yield from child.named_modules(_dotted(prefix, name))

    def modules(self):
        """This module and every descendant, in the order of `named_modules`."""
        return (module for _, module in self.named_modules())

    def named_parameters(self):
        """Yield ``(dotted_name, param, grad)`` for this module and every descendant, in the
        order of `named_modules` and, within a module, of its `params`."""
        for name, module in self.named_modules():
            for key in module.params:
                yield _dotted(name, key), module.params[key], module.grads[key]

    def state_dict(self):
        """{dotted name: parameter} as NumPy arrays (the parameters themselves on the host,
        host copies of them on a GPU)."""
        return {name: to_numpy(p) for name, p, _ in self.named_parameters()}

    def load_state_dict(self, arrays):
        """Copy arrays into the parameters in place; names and shapes must match exactly."""
        own = dict((n, p) for n, p, _ in self.named_parameters())
        missing = sorted(set(own) - set(arrays))
        extra = sorted(set(arrays) - set(own))
        if missing or extra:
            raise ValueError(f"parameter names differ: missing {missing}, unexpected {extra}")
        for name, p in own.items():
            if arrays[name].shape != p.shape:
                raise ValueError(f"parameter {name}: shape {arrays[name].shape}, expected {p.shape}")
            p[...] = to_device(arrays[name], array_module(p))

    def replica(self, own_grads=False):
        """A copy of this module tree that shares its parameter arrays (and, unless
        `own_grads`, its gradient arrays) and owns everything else — the caches and weights a
        forward pass leaves on its modules, its dropout generators — so that threads can
        decode, or train on their shares of a batch, with the same parameters at once, each
        with a replica. What the optimizer or `load_state_dict` writes into the parameters,
        every replica sees (both write in place)."""
        shared = {id(a): a for _, p, g in self.named_parameters() for a in ((p,) if own_grads else (p, g))}
        return copy.deepcopy(self, shared)

    def zero_grad(self):
        for _, _, g in self.named_parameters():
            g.fill(0)

    def train(self, mode=True):
        for module in self.modules():
            module.training = mode
        return self

    def eval(self):
        return self.train(False)

    @property
    def xp(self):
        """The array module of the parameters: numpy, or cupy on a GPU (numpy without any)."""
        for _, p, _ in self.named_parameters():
            return array_module(p)
        return np

    def to(self, device):
        """Move every parameter and gradient to `device` ("cpu", "gpu" or an array module),
        in place; returns self. Caches of a previous forward pass are not moved: run forward
        again. Random generators (dropout) stay on the host."""
        xp = device_module(device) if isinstance(device, str) else device
        for module in self.modules():
            for key in module.params:
                module.params[key] = to_device(module.params[key], xp)
                module.grads[key] = to_device(module.grads[key], xp)
        return self

    def astype(self, dtype):
        """Cast every parameter and gradient to `dtype` in place (float64 for gradient checks)."""
        for module in self.modules():
            for key in module.params:
                module.params[key] = module.params[key].astype(dtype)
                module.grads[key] = module.grads[key].astype(dtype)
        return self


@contextmanager
def evaluating(model):
    """Evaluation mode (no dropout) inside the block; afterwards the mode the model was in.

        with evaluating(model):
            loss = model.forward(...)
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _dotted(*parts):
    """The parts joined by dots, empty ones left out: ("", "encoder", "", "W") → "encoder.W"."""
    return ".".join(part for part in parts if part)
