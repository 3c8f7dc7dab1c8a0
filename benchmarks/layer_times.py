"""Where a jumok training step's time goes: the seconds a step spends in each kind of layer's
forward and backward, each without the layers inside it (its own NumPy calls and Python).

Every layer of the model (and its loss) gets timing wrappers on its `forward` and `backward`
for a few extra steps; then they are taken off again. A call's own time is its time less its
children's. "outside the layers" is the rest of the step: zeroing the gradients, clipping,
Adam and the loop. The wrappers cost two clock reads a call, so the parts add up to a little
more than an unwrapped step: the step's own figure is the step timer's
(`benchmarks.common.median_time`), not this sum.
"""

import statistics
import time
from collections import defaultdict

OUTSIDE = "outside the layers"


def layer_times(model, step, batches, repeats):
    """{"Class.forward" or "Class.backward": median seconds per step in that kind of layer, its
    children left out, and OUTSIDE: the rest}, over `repeats` calls of step(batch), the
    batches in turn."""
    spent, stack = defaultdict(float), [0.0]  # stack: the children's seconds of each call in progress
    layers = [*model.modules(), *([model.loss] if hasattr(model, "loss") else [])]
    for layer in layers:
        for name in ("forward", "backward"):
            _wrap(layer, name, spent, stack)
    steps = []
    try:
        for k in range(repeats):
            spent.clear()
            stack[:] = [0.0]
            begin = time.perf_counter()
            step(batches[k % len(batches)])
            steps.append({**spent, OUTSIDE: time.perf_counter() - begin - stack[0]})
    finally:
        for layer in layers:
            for name in ("forward", "backward"):
                vars(layer).pop(name, None)
    return {key: statistics.median(s.get(key, 0.0) for s in steps) for key in steps[0]}


def _wrap(layer, name, spent, stack):
    """Replace layer.`name` by a wrapper that adds its own seconds to spent["Class.name"]."""
    method, key = getattr(layer, name), f"{type(layer).__name__}.{name}"

    def timed(*args, **kwargs):
        stack.append(0.0)
        begin = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - begin
            spent[key] += seconds - stack.pop()
            stack[-1] += seconds

    setattr(layer, name, timed)
