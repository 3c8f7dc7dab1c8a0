"""Repeatable speed benchmarks of jumok, and the library they and experiments/ share. Not
part of the package; every figure they give goes to a JSON record in benchmarks/results/
and, once it is reported, to docs/speed.md (or the doc of its subject).

    python -m benchmarks                 a training step and greedy decoding: jumok, the
                                         step-by-step reference, PyTorch, the GEMM limit (step.py)
    python -m benchmarks --device gpu    the same on CuPy and PyTorch's CUDA (gpu.py)
    python -m benchmarks.scaling         how a step's cost grows with S, T, N and H
    python -m benchmarks.epoch           does the step benchmark predict a real epoch?
    python -m benchmarks.parallel        N data-parallel workers: the global step, the decode,
                                         --epoch whole epochs (parallel_epoch.py), --predict
                                         the cost model at 8–64 ranks (cost_model.py)
    python -m benchmarks.transformer_speed   the Transformer against its PyTorch twin (eager and
                                         compiled): step, decoding, the G2P epoch
    python -m benchmarks.variants        a step of each attention score on the same batches
    python -m benchmarks.predict_load    `jumok predict` streaming N lines: rate and memory
    python -m benchmarks.serve_load      `jumok serve` under concurrent clients

The library: common.py (the processes' environments, the machine, records, the one step
timer, the chapter's synthetic step), flops.py and products.py (a step's matrix products,
counted and timed alone), layer_times.py (a step's time by kind of layer), torch_model.py
(the PyTorch twin and its training step), torch_transformer.py (the Transformer's twin) and
torch_train.py (the twin trained as `jumok train` trains).
"""
