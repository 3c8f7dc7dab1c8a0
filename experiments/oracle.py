"""Why PyTorch learns faster on the same maths: jumok and the PyTorch model of
benchmarks/torch_model.py, step for step, from the same weights on the same batches.

    PYTHONPATH=src:. python -m experiments.oracle step1                 # loss, gradients, one Adam step
    PYTHONPATH=src:. python -m experiments.oracle trajectory --steps 300  # where the two runs part
    PYTHONPATH=src:. python -m experiments.oracle learn --variant jumok --seed 0 --steps 704 --evals 352
    PYTHONPATH=src:. python -m experiments.oracle table RECORD.json ...   # a Markdown table of `learn` runs

The data are the chapter-style dates of jumok's ``date-chapter`` generator (50,000 pairs,
seed 123; the first 45,000 train, the last 5,000 validate), in the chapter's fixed-width
layout: every source padded with spaces to 29 characters, the spaces real tokens, then
reversed whole. So no position of any batch is padding (targets are all ``YYYY-MM-DD``),
and the PyTorch encoder, which reads every position, sees exactly what jumok's sees.
Settings are the chapter's: attention model, embedding 16, hidden 256, batch 128, Adam
1e-3 (β 0.9 / 0.999, ε 1e-8), global-norm clipping to 5.

The differences between the two training steps, each a switch here (`VARIANTS`):

* ``two-bias``: PyTorch's LSTM has two bias vectors, b_ih and b_hh, that only ever appear
  as their sum. Both get the same gradient and (from the same start) the same Adam moments,
  so each moves by the Adam step u and their sum by 2u: the LSTM biases learn at twice the
  rate; clipping also counts ‖∂b‖² twice. jumok has one b; the switch doubles its Adam
  step and its share of the clipping norm, which is exactly the same arithmetic.
* ``eps-outside``: PyTorch's Adam is θ ← θ − lr · m̂ / (√v̂ + ε) with m̂, v̂ bias-corrected;
  jumok's (and the course's) is θ ← θ − lr · √(1−β₂ᵗ)/(1−β₁ᵗ) · m / (√v + ε), which is
  the same with ε replaced by ε / √(1−β₂ᵗ) (31.6 ε at step 1, 1.4 ε at step 1,000).
  The switch runs jumok's Adam with ε · √(1−β₂ᵗ) at step t.
* initialisation: ``torch-init`` draws every parameter as PyTorch's defaults do
  (nn.Embedding N(0, 1); nn.LSTM U(±1/√H) for both weight matrices and both biases, so the
  summed bias is the sum of two such draws; nn.Linear U(±1/√fan_in) for W and b), where
  jumok (the chapter) draws embeddings 0.01·N(0, 1), LSTM weights N(0, 1)/√fan_in, Affine W
  N(0, 1)/√fan_in and zero biases; ``embed-N01`` redraws the embeddings alone, N(0, 1), and
  ``embed-scale-1`` uses jumok's option ``Seq2seqModel(embed_scale=1.0)`` (the same draws
  as jumok's, rescaled).

``torch``, ``torch-like-jumok`` and ``torch-embed-N01`` train the PyTorch model itself from
jumok's weights (``torch-embed-N01``: from ``embed-N01``'s).

What is the same, checked by `step1`: the loss (mean cross-entropy over the real target
tokens), every gradient (the PyTorch LSTM's gate order i, f, g, o against jumok's f, g,
i, o), and the clipping rule (scale by max_norm / (‖g‖ + 1e-6) when ‖g‖ > max_norm).

Batches: one generator from the seed draws the initial weights, another (spawned from the
same seed) each epoch's permutation of the training pairs, so every variant of a seed sees
the same batches, and with ``--init chapter`` the same initial weights.
"""

import argparse
import json
import math
import time

import numpy as np

from jumok.data.batching import Dataset
from jumok.data.dates import generate_chapter_dates
from jumok.data.tokens import tokenize_pairs
from jumok.data.vocab import Vocab
from jumok.evaluation import evaluate_dataset
from jumok.layers.lstm import LSTM
from jumok.layers.stack import reversal_index
from jumok.models import AttentionSeq2seq
from jumok.optim import Adam

CHAPTER = dict(embed=16, hidden=256, batch=128, lr=1e-3, clip=5.0)
DATA = dict(n=50_000, n_train=45_000, seed=123)
RESULTS_KIND = "oracle"


# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


def chapter_dates(n=DATA["n"], n_train=DATA["n_train"], seed=DATA["seed"], fixed_width=True):
    """(train Dataset, valid Dataset) of chapter-style dates; with `fixed_width` every source
    is padded with spaces to the longest one (29 characters), as in the chapter's date.txt."""
    pairs = generate_chapter_dates(n, seed)
    if fixed_width:
        width = max(len(source) for source, _ in pairs)
        pairs = [(source.ljust(width), target) for source, target in pairs]
    tokens = tokenize_pairs(pairs)
    train, valid = tokens[:n_train], tokens[n_train:]
    src_vocab = Vocab.build(s for s, _ in train)
    tgt_vocab = Vocab.build(t for _, t in train)
    return Dataset(train, src_vocab, tgt_vocab), Dataset(valid, src_vocab, tgt_vocab, unknown="unk")


def batch_stream(dataset, seed, batch_size=CHAPTER["batch"]):
    """Batches of `dataset`, epoch after epoch, each epoch a fresh permutation drawn from
    the generator spawned for the batch order from `seed` (the same for every variant)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    while True:
        yield from dataset.batches(batch_size, rng)


def batch_arrays(batch):
    return batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask


# ----------------------------------------------------------------------------------------
# jumok: the model, the initialisations, the optimizer's variants
# ----------------------------------------------------------------------------------------


def jumok_model(train_set, seed, dtype=np.float32, init="chapter"):
    """The chapter's attention model (reversed sources) with weights drawn from `seed`:
    jumok's own initialisation, or PyTorch's defaults ("torch"), or jumok's with the
    embeddings N(0, 1) as nn.Embedding draws them ("embed-N01")."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    scale = {"embed-scale-1": 1.0}.get(init, 0.01)  # jumok's own option: the same draws, rescaled
    model = AttentionSeq2seq(len(train_set.src_vocab), len(train_set.tgt_vocab), CHAPTER["embed"],
                             CHAPTER["hidden"], rng=rng, reverse_source=True, dtype=np.float64, embed_scale=scale)
    if init in ("torch", "embed-N01"):
        torch_default_init(model, rng, embeddings_only=init == "embed-N01")
    elif init not in ("chapter", "embed-scale-1"):
        raise ValueError(f"unknown initialisation {init!r}")
    return model.astype(dtype)


def torch_default_init(model, rng, embeddings_only=False):
    """Redraw `model`'s parameters (in place) from PyTorch's default distributions."""
    for name, p, _ in model.named_parameters():
        if name.endswith("embed.W"):
            p[...] = rng.standard_normal(p.shape)  # nn.Embedding: N(0, 1)
        elif embeddings_only:
            continue
        elif ".lstm." in name:
            bound = 1 / math.sqrt(model.encoder.lstm.hidden_dim)  # nn.LSTM: U(±1/√H) everywhere
            p[...] = rng.uniform(-bound, bound, p.shape)
            if name.endswith(".b"):  # b = b_ih + b_hh, two independent draws
                p += rng.uniform(-bound, bound, p.shape)
        else:  # nn.Linear: U(±1/√fan_in) for W and b
            bound = 1 / math.sqrt(model.decoder.out.params["W"].shape[0])
            p[...] = rng.uniform(-bound, bound, p.shape)


def lstm_bias_names(model):
    """The names of the LSTM bias vectors (one per LSTM; PyTorch has two)."""
    lstm_params = {f"{name}.b" for name, module in model.named_modules() if isinstance(module, LSTM)}
    return [name for name, _, _ in model.named_parameters() if name in lstm_params]


class VariantAdam(Adam):
    """jumok's Adam with PyTorch's two differences as switches:

    eps_outside: ε added to the bias-corrected √v̂ (PyTorch), i.e. jumok's formula with
        ε · √(1 − β₂ᵗ) in place of ε at step t.
    doubled: the names whose Adam step is taken twice (the LSTM biases, for PyTorch's
        b_ih + b_hh: both copies move by the same step u).
    """

    def __init__(self, model, lr=1e-3, eps_outside=False, doubled=()):
        super().__init__(model, lr=lr)
        self.base_eps, self.eps_outside, self.doubled = self.eps, eps_outside, set(doubled)

    def step(self):
        if self.eps_outside:
            self.eps = self.base_eps * math.sqrt(1.0 - self.beta2 ** (self.step_count + 1))
        before = {name: p.copy() for name, p, _ in self.model.named_parameters() if name in self.doubled}
        super().step()
        for name, p, _ in self.model.named_parameters():
            if name in self.doubled:
                p += p - before[name]  # the sum of two copies: θ ← θ − 2u


def clip_counting_twice(named_grads, max_norm, twice=()):
    """jumok's clip_grad_norm with the gradients named in `twice` counted twice in the norm
    (PyTorch's two bias copies both enter its global norm); returns the norm."""
    norm = math.sqrt(sum(float(np.vdot(g, g)) * (2 if name in twice else 1) for name, g in named_grads))
    if max_norm and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for _, g in named_grads:
            g *= scale
    return norm


class JumokTrainer:
    """One jumok training step as `jumok.train.Trainer.step` takes it (forward, backward,
    clipping, Adam), with the variant's switches."""

    def __init__(self, model, variant=()):
        self.model = model
        biases = lstm_bias_names(model) if "two-bias" in variant else ()
        self.twice = set(biases)
        self.optimizer = VariantAdam(model, lr=CHAPTER["lr"], eps_outside="eps-outside" in variant, doubled=biases)
        self.named_grads = [(name, g) for name, _, g in model.named_parameters()]

    def step(self, batch):
        model = self.model
        loss = model.forward(*batch_arrays(batch))
        model.zero_grad()
        model.backward()
        norm = clip_counting_twice(self.named_grads, CHAPTER["clip"], self.twice)
        self.optimizer.step()
        return loss, norm


# ----------------------------------------------------------------------------------------
# PyTorch: the same model, its optimizer as it is, or brought to jumok's arithmetic
# ----------------------------------------------------------------------------------------


def torch_model_from(model, dtype="float32", packed=False):
    """The PyTorch model holding `model`'s weights (b_ih = b, b_hh = 0); `packed`: its
    encoder reads only the real tokens (for padded batches)."""
    import torch

    from benchmarks.torch_model import TorchAttentionSeq2seq

    torch.manual_seed(0)
    (src_vocab, embed), tgt_vocab = model.encoder.embed.params["W"].shape, model.decoder.embed.params["W"].shape[0]
    tm = TorchAttentionSeq2seq(src_vocab, tgt_vocab, embed, model.encoder.lstm.hidden_dim, packed=packed)
    tm = tm.to(getattr(torch, dtype))
    tm.load_jumok({k: v.astype(np.float64) for k, v in model.state_dict().items()})
    return tm


def torch_in_jumok_layout(tm, grads=False):
    """The PyTorch model's parameters (or gradients) under jumok's names and layouts; the
    LSTM bias is b_ih + b_hh (as a gradient: that of b_ih, which equals that of b_hh)."""

    def ungates(w):  # (4H, …) in i, f, g, o → (…, 4H) in f, g, i, o
        i, f, g, o = np.split(w.T, 4, axis=-1)
        return np.concatenate([f, g, i, o], axis=-1)

    def value(p):
        t = p.grad if grads else p
        return t.detach().double().numpy()

    out = {}
    for side, embed, lstm in (("encoder", tm.src_embed, tm.enc), ("decoder", tm.tgt_embed, tm.dec)):
        out[f"{side}.embed.W"] = value(embed.weight)
        out[f"{side}.lstm.Wx"] = ungates(value(lstm.weight_ih_l0))
        out[f"{side}.lstm.Wh"] = ungates(value(lstm.weight_hh_l0))
        if grads:
            out[f"{side}.lstm.b"] = ungates(value(lstm.bias_ih_l0))
        else:
            out[f"{side}.lstm.b"] = ungates(value(lstm.bias_ih_l0) + value(lstm.bias_hh_l0))
    out["decoder.out.W"] = value(tm.out.weight).T
    out["decoder.out.b"] = value(tm.out.bias)
    return out


def torch_batch(batch, dtype="float32"):
    """A jumok Batch as the PyTorch model's inputs, the sources reversed as jumok's
    `reverse_source` does (within the real length; the whole row in the fixed-width layout)."""
    import torch

    src = np.take_along_axis(batch.src, reversal_index(batch.src_mask), axis=1)
    return (torch.from_numpy(src), torch.from_numpy(batch.src_mask), torch.from_numpy(batch.tgt_in),
            torch.from_numpy(batch.tgt_out), torch.from_numpy(batch.tgt_mask).to(getattr(torch, dtype)))


class TorchRun:
    """PyTorch's training step (`benchmarks.torch_model.TorchTrainer`) on jumok batches, at the
    chapter's settings. `like_jumok` brings it to jumok's arithmetic (b_hh frozen at 0, Adam's
    ε moved inside the bias correction)."""

    def __init__(self, tm, like_jumok=False, dtype="float32"):
        from benchmarks.torch_model import TorchTrainer  # needs torch, an optional peer

        self.tm, self.dtype = tm, dtype
        self.trainer = TorchTrainer(tm, lr=CHAPTER["lr"], clip=CHAPTER["clip"], like_jumok=like_jumok)

    def step(self, batch):
        loss, norm = self.trainer.step(torch_batch(batch, self.dtype))
        return float(loss.detach()), float(norm)


def torch_exact_match(tm, dataset, max_len=12, batch_size=500):
    """Greedy exact match of the PyTorch model on `dataset` (sources reversed as in training)."""
    eos = dataset.tgt_vocab.eos_id
    right = 0
    for batch in dataset.batches(batch_size):
        src, src_mask, _, _, _ = torch_batch(batch)
        out = tm.greedy(src, src_mask, dataset.tgt_vocab.bos_id, eos, max_len).numpy()
        for row, target in zip(out, batch.tgt_out):  # target: y + [eos]
            n = list(target).index(eos) + 1
            right += len(row) >= n and bool((row[:n] == target[:n]).all())
    return right / len(dataset)


# ----------------------------------------------------------------------------------------
# Comparisons
# ----------------------------------------------------------------------------------------


def relative_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def compare_step1(train_set, seed=0, dtype="float64"):
    """Loss, gradients and the parameters after one step, jumok against PyTorch (as it is
    and brought to jumok's arithmetic), from the same weights on the same first batch."""
    import torch

    torch.set_num_threads(1)
    np_dtype = np.dtype(dtype)
    batch = next(batch_stream(train_set, seed))
    rows = {}
    model = jumok_model(train_set, seed, np_dtype)
    start = {k: v.astype(np.float64) for k, v in model.state_dict().items()}
    tm = torch_model_from(model, dtype)
    loss_j = model.forward(*batch_arrays(batch))
    model.zero_grad()
    model.backward()
    loss_t = tm(*torch_batch(batch, dtype))
    loss_t.backward()
    grads_j = {name: g.astype(np.float64) for name, _, g in model.named_parameters()}
    grads_t = torch_in_jumok_layout(tm, grads=True)
    bias_hh_equal = all(torch.allclose(lstm.bias_ih_l0.grad, lstm.bias_hh_l0.grad, rtol=1e-12, atol=0)
                        for lstm in (tm.enc, tm.dec))
    loss_t = float(loss_t.detach())
    rows["loss"] = {"jumok": loss_j, "torch": loss_t, "relative_error": abs(loss_j - loss_t) / loss_j}
    # Adam's first step is g / (|g| + ε'): how many gradient entries are near jumok's ε' = ε/√(1 − β₂)
    eps1 = 1e-8 / math.sqrt(1 - 0.999)
    rows["share_of_gradient_entries_below"] = {
        f"{bound:.2g}": {name: float((np.abs(g) < bound).mean()) for name, g in grads_j.items()}
        for bound in (eps1, 10 * eps1)}
    rows["median_abs_gradient"] = {name: float(np.median(np.abs(g))) for name, g in grads_j.items()}
    rows["gradients"] = {name: relative_error(grads_j[name], grads_t[name]) for name in grads_j}
    torch_norm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in tm.parameters()))  # b_hh too
    rows["grad_norm"] = {"jumok": math.sqrt(sum(float(np.vdot(g, g)) for g in grads_j.values())),
                         "torch_all_params": torch_norm}
    rows["bias_hh_grad_equals_bias_ih_grad"] = bias_hh_equal
    # one full step: jumok, PyTorch as it is, PyTorch like jumok; parameter changes compared
    after = {}
    jumok_variants = {"jumok": (), "jumok-two-bias": ("two-bias",), "jumok-eps-outside": ("eps-outside",),
                      "jumok-two-bias-eps-outside": ("two-bias", "eps-outside")}
    for label, make in (("torch", False), ("torch-like-jumok", True), *((v, None) for v in jumok_variants)):
        m = jumok_model(train_set, seed, np_dtype)
        if make is None:
            JumokTrainer(m, jumok_variants[label]).step(batch)
            after[label] = {k: v.astype(np.float64) for k, v in m.state_dict().items()}
        else:
            t = torch_model_from(m, dtype)
            TorchRun(t, like_jumok=make, dtype=dtype).step(batch)
            after[label] = torch_in_jumok_layout(t)
    delta = {label: {k: after[label][k] - start[k] for k in start} for label in after}
    rows["step_relative_difference"] = {
        f"{a} vs {b}": {k: relative_error(delta[a][k], delta[b][k]) for k in start}
        for a, b in (("torch-like-jumok", "jumok"), ("torch", "jumok"), ("torch", "jumok-two-bias"),
                     ("torch", "jumok-eps-outside"), ("torch", "jumok-two-bias-eps-outside"))
    }
    rows["step_size_ratio"] = {  # ‖Δθ‖ of one step against jumok's
        label: {k: float(np.linalg.norm(delta[label][k]) / np.linalg.norm(delta["jumok"][k])) for k in start}
        for label in ("torch", "jumok-two-bias", "jumok-eps-outside")}
    return rows


def trajectory(train_set, seed=0, steps=300, every=10, dtype="float32"):
    """Train jumok, PyTorch as it is and PyTorch like jumok side by side from the same
    weights on the same batches; record the losses and each PyTorch run's relative
    parameter distance from jumok's every `every` steps."""
    import torch

    torch.set_num_threads(1)
    np_dtype = np.dtype(dtype)
    model = jumok_model(train_set, seed, np_dtype)
    runs = {"jumok": JumokTrainer(model),
            "jumok-two-bias": JumokTrainer(jumok_model(train_set, seed, np_dtype), ("two-bias",)),
            "torch": TorchRun(torch_model_from(model, dtype), dtype=dtype),
            "torch-like-jumok": TorchRun(torch_model_from(model, dtype), like_jumok=True, dtype=dtype)}
    losses = {name: [] for name in runs}
    distance = {name: [] for name in runs if name != "jumok"}
    stream = batch_stream(train_set, seed)
    for step in range(1, steps + 1):
        batch = next(stream)
        for name, run in runs.items():
            losses[name].append(float(run.step(batch)[0]))
        if step % every == 0 or step == 1:
            ref = {k: v.astype(np.float64) for k, v in runs["jumok"].model.state_dict().items()}
            flat_ref = np.concatenate([v.ravel() for v in ref.values()])
            for name in distance:
                run = runs[name]
                other = (torch_in_jumok_layout(run.tm) if isinstance(run, TorchRun)
                         else {k: v.astype(np.float64) for k, v in run.model.state_dict().items()})
                flat = np.concatenate([other[k].ravel() for k in ref])
                distance[name].append((step, relative_error(flat, flat_ref)))
            print(f"step {step}: " + ", ".join(f"{n} {losses[n][-1]:.4f}" for n in runs)
                  + " | distance " + ", ".join(f"{n} {distance[n][-1][1]:.2e}" for n in distance), flush=True)
    return {"losses": losses, "distance": distance}


VARIANTS = {
    "jumok": ("chapter", ()),
    "two-bias": ("chapter", ("two-bias",)),
    "eps-outside": ("chapter", ("eps-outside",)),
    "torch-init": ("torch", ()),
    "embed-N01": ("embed-N01", ()),
    "all-torch": ("torch", ("two-bias", "eps-outside")),
    "embed-scale-1": ("embed-scale-1", ()),  # Seq2seqModel(embed_scale=1.0)
    # PyTorch itself from jumok's weights (drawn as given): as it is, or brought to jumok's step
    "torch": ("chapter", "torch"),
    "torch-like-jumok": ("chapter", "like-jumok"),
    "torch-embed-N01": ("embed-N01", "torch"),
}


def learn(train_set, valid_set, variant, seed, steps, evals=()):
    """Train one variant for `steps` steps; validation exact match at each step in `evals`
    and at the end. Returns the record."""
    start = time.perf_counter()
    init, switches = VARIANTS[variant]
    if switches in ("torch", "like-jumok"):
        import torch

        torch.set_num_threads(1)
        tm = torch_model_from(jumok_model(train_set, seed, init=init))
        run = TorchRun(tm, like_jumok=switches == "like-jumok")

        def exact_match():
            return torch_exact_match(tm, valid_set)
    else:
        run = JumokTrainer(jumok_model(train_set, seed, init=init), switches)

        def exact_match():
            metrics, _ = evaluate_dataset(run.model, valid_set, max_len=12)
            return metrics["exact_match"]
    stream = batch_stream(train_set, seed)
    losses, matches = [], {}
    for step in range(1, steps + 1):
        loss, _ = run.step(next(stream))
        losses.append(loss)
        if not math.isfinite(loss):
            break
        if step in evals or step == steps:
            matches[step] = exact_match()
            print(f"{variant} seed {seed} step {step}: loss {np.mean(losses[-50:]):.4f}, "
                  f"validation exact match {100 * matches[step]:.2f}%", flush=True)
    return {"variant": variant, "seed": seed, "steps": steps, "exact_match": matches,
            "loss_every_10": [float(np.mean(losses[i:i + 10])) for i in range(0, len(losses), 10)],
            "seconds": round(time.perf_counter() - start, 1)}


PLATEAU_LEFT = 0.9


def learning_table(records):
    """A Markdown table of `learn` records: validation exact match (%) at each evaluated step,
    the first step whose 10-step mean training loss is below `PLATEAU_LEFT` (below the
    plateau every run starts on) and the mean training loss of the last 50 steps; one row per run."""
    steps = sorted({int(k) for r in records for k in r["exact_match"]})
    lines = ["| variant | seed | " + " | ".join(f"exact match, step {s}" for s in steps)
             + f" | loss < {PLATEAU_LEFT} from step | loss, last 50 steps |",
             "| --- | --- | " + " | ".join("---" for _ in steps) + " | --- | --- |"]
    for r in sorted(records, key=lambda r: (list(VARIANTS).index(r["variant"]), r["seed"])):
        cells = " | ".join(f"{100 * r['exact_match'][str(s)]:.2f}" if str(s) in r["exact_match"] else "–"
                           for s in steps)
        left = next((10 * (i + 1) for i, loss in enumerate(r["loss_every_10"]) if loss < PLATEAU_LEFT), None)
        lines.append(f"| {r['variant']} | {r['seed']} | {cells} | {left or '–'} "
                     f"| {np.mean(r['loss_every_10'][-5:]):.3f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p1 = sub.add_parser("step1", help="loss, gradients and one step: jumok against PyTorch")
    p1.add_argument("--seed", type=int, default=0)
    p2 = sub.add_parser("trajectory", help="train side by side and record where the runs part")
    p2.add_argument("--seed", type=int, default=0)
    p2.add_argument("--steps", type=int, default=300)
    p2.add_argument("--every", type=int, default=10)
    p3 = sub.add_parser("learn", help="train one variant and report validation exact match")
    p3.add_argument("--variant", choices=list(VARIANTS), required=True)
    p3.add_argument("--seed", type=int, default=0)
    p3.add_argument("--steps", type=int, default=700)
    p3.add_argument("--evals", type=int, nargs="*", default=())
    for p in (p1, p2, p3):
        p.add_argument("--out", help="JSON file to write (default: print only)")
    p4 = sub.add_parser("table", help="a Markdown table of `learn` records (JSON files, or one file of a list)")
    p4.add_argument("records", nargs="+")
    args = parser.parse_args()
    if args.command == "table":
        records = []
        for path in args.records:
            with open(path) as f:
                loaded = json.load(f)
            records.extend(loaded["runs"] if "runs" in loaded else [loaded])
        print(learning_table(records))
        return
    train_set, valid_set = chapter_dates()
    if args.command == "step1":
        record = {"float64": compare_step1(train_set, args.seed, "float64"),
                  "float32": compare_step1(train_set, args.seed, "float32")}
    elif args.command == "trajectory":
        record = trajectory(train_set, args.seed, args.steps, args.every)
    else:
        record = learn(train_set, valid_set, args.variant, args.seed, args.steps, set(args.evals))
    record = {"command": args.command, "args": {k: v for k, v in vars(args).items() if k != "out"}, **record}
    text = json.dumps(record, indent=1, default=str)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print(f"wrote {args.out}")
    else:
        print(text)


if __name__ == "__main__":
    main()
