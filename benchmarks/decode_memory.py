"""Does decoding stay within the memory `jumok.api.DECODE_BUDGET` promises? The server's
largest request — 64 inputs of 1,000 characters at beam 16 — through `jumok.load(run).decode`,
measured against the budget's arithmetic.

    PYTHONPATH=src python -m benchmarks.decode_memory [--model transformer] [--inputs 64]
        [--chars 1000] [--beam 16] [--steps 64] [--maps cross,none] [--quick] [--out PATH.json]

A run directory is built in a temporary folder: an untrained model (the Transformer of
`Sizes()`: width 128, 4 heads, 3 layers a side, feed-forward 512; the attention model of
the config's defaults: hidden 256, embeddings 16) over 40 source and target characters, its
output limit `--steps`, the end token's output bias lowered so that no output ends early
(every source decodes all `--steps` steps: the budget's worst case). Each case (one `--maps`
setting) runs in a child process of its own, which loads the run, encodes the random inputs
and then, with tracemalloc on, decodes them (`Model.decode`, nbest 1):

* peak_mib: the largest NumPy (and Python) memory allocated at once while decoding, beyond
  what was allocated before (tracemalloc's peak; the model, loaded before, is not in it);
* promise_mib: what the budget promises for the same decoding: the largest, over the runs,
  of a run's cost (the model's `row_cost` of the run's sources padded to its longest; at
  most DECODE_BUDGET unless one source alone costs more) and the maps the runs before it
  handed back (the result, which grows with the inputs asked for: counted exactly,
  `results_mib`);
* rss_growth_mib: the child's peak RSS (``ru_maxrss``) less its RSS before decoding, which
  also sees what tracemalloc does not (BLAS buffers, the allocator's slack).

Results go to benchmarks/results/decode-memory-<host>-<date>.json.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks.common import child_env, machine, write_record

LETTERS = [chr(c) for c in range(ord("a"), ord("a") + 26)] + list("0123456789 .-,")
MIB = 1 << 20


SIZES = {"transformer": {"hidden_size": 128, "heads": 4, "layers": 3},  # `Sizes()`: ff 4 × 128
         "attention": {}}  # Config's: hidden 256, embeddings 16, one layer


def build_run(run_dir, model, steps):
    """An untrained run of `model` (`SIZES`) whose outputs never end before `steps`."""
    from jumok.config import Config
    from jumok.data.vocab import Vocab
    from jumok.models import build_model
    from jumok.rundir import PARAMS, save_params, save_setup

    config = Config(task="tsv", data="train.tsv", model=model, max_output_length=steps, dropout=0.0, **SIZES[model])
    vocab = Vocab(LETTERS)
    save_setup(run_dir, config, vocab, vocab)
    network = build_model(config, len(vocab), len(vocab), np.random.default_rng(0))
    out = network.out if model == "transformer" else network.decoder.out
    out.params["b"][vocab.eos_id] = -1e4  # never the argmax, never in a beam: every output is `steps` long
    save_params(Path(run_dir) / PARAMS, network)
    return run_dir


def rss_mib():
    """This process's resident memory now, from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(run_dir, inputs, chars, beam, maps):
    """In this process: decode `inputs` random inputs of `chars` characters; → the record."""
    from jumok import api
    from jumok.decoding import chunks, offered

    model = api.load(run_dir)
    rng = np.random.default_rng(1)
    texts = ["".join(rng.choice(LETTERS[:26], chars)) for _ in range(inputs)]
    sources = [model.encode(text, f"input {n}") for n, text in enumerate(texts, start=1)]
    asked = offered(model.network, maps)
    steps = model.config.max_output_length

    def cost(n, longest):
        return model.network.row_cost(longest, steps, beam, asked, n)

    runs = list(chunks([s.ids for s in sources], beam, 256, api.DECODE_BUDGET, cost))
    before = rss_mib()
    tracemalloc.start()
    start = time.perf_counter()
    outputs = model.decode(sources, beam, maps=maps)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    results = [sum(a.nbytes for a in o.maps.values()) for o in outputs]
    costs, promise, done = [cost(len(run), max(map(len, run))) for run in runs], 0, 0
    for run, run_cost in zip(runs, costs):  # a run's cost, and the maps the runs before it handed back
        promise = max(promise, run_cost + sum(results[:done]))
        done += len(run)
    largest = max(costs)
    return {"inputs": inputs, "chars": chars, "beam": beam, "steps": steps, "maps": maps, "runs": len(runs),
            "sources_per_run": sorted({len(r) for r in runs}), "largest_run_cost_mib": largest / MIB,
            "one_source_cost_mib": cost(1, chars) / MIB, "budget_mib": api.DECODE_BUDGET / MIB,
            "results_mib": sum(results) / MIB, "promise_mib": promise / MIB, "peak_mib": peak / MIB,
            "peak_over_promise": peak / promise, "rss_before_mib": before, "rss_growth_mib": grown,
            "seconds": seconds, "output_steps": len(outputs[0].steps)}


def child(args):
    """The child's side: one case, its record printed as the last line."""
    maps = {"none": False, "cross": True, "all": ("cross", "enc-self", "dec-self")}[args.case]
    print(json.dumps(measure(args.run, args.inputs, args.chars, args.beam, maps)))
    return 0


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="transformer", choices=("transformer", "attention"))
    p.add_argument("--inputs", type=int, default=64)
    p.add_argument("--chars", type=int, default=1000)
    p.add_argument("--beam", type=int, default=16)
    p.add_argument("--steps", type=int, default=64, help="the run's output limit (every output reaches it)")
    p.add_argument("--maps", default="cross,none", help="cases, comma-separated: none, cross, all")
    p.add_argument("--quick", action="store_true", help="4 inputs of 200 characters, beam 4, 8 steps")
    p.add_argument("--out", help="where to write the JSON record")
    p.add_argument("--run", help=argparse.SUPPRESS)  # the child's: an existing run directory
    p.add_argument("--case", help=argparse.SUPPRESS)  # the child's: one --maps case
    args = p.parse_args(argv)
    if args.quick:
        args.inputs, args.chars, args.beam, args.steps = 4, 200, 4, 8
    return args


def main(argv=None):
    args = parse(argv)
    if args.case:
        return child(args)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = build_run(Path(tmp) / "run", args.model, args.steps)
        for case in args.maps.split(","):
            command = [sys.executable, "-m", "benchmarks.decode_memory", "--run", str(run_dir), "--case", case,
                       "--inputs", str(args.inputs), "--chars", str(args.chars), "--beam", str(args.beam)]
            done = subprocess.run(command, env=child_env(os.environ.get("OPENBLAS_NUM_THREADS", "1")),
                                  capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"case {case} failed:\n{done.stderr}")
            record = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(record)
            print(f"{args.model} maps={case}: {record['runs']} runs of {record['sources_per_run']} sources; peak "
                  f"{record['peak_mib']:.1f} MiB against a promise of {record['promise_mib']:.1f} MiB "
                  f"({record['peak_over_promise']:.2f}); RSS grew {record['rss_growth_mib']:.1f} MiB; "
                  f"{record['seconds']:.1f} s", flush=True)
    write_record({"benchmark": "decode_memory", "model": args.model, "machine": machine(), "results": results},
                 args.out, kind="decode-memory")
    return 0 if all(r["peak_mib"] <= r["promise_mib"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
