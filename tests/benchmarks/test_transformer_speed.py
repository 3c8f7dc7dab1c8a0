"""The Transformer's speed benchmark (benchmarks/transformer_speed.py): its quick mode end to
end (no timing asserted), its counts of a step's matrix products, its medians and ratios
against values worked out by hand, the step split by layer (benchmarks/layer_times.py), the
epoch's flags; and, where PyTorch is installed, the twin against jumok from the same weights
(first loss, greedy decoding with the cache and by re-running the prefix), a failed
torch.compile reported as such, and the epoch rows."""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from checks import REPO

from benchmarks.common import blas_threads, jumok_train_step
from benchmarks.flops import transformer_step_flops
from benchmarks.layer_times import OUTSIDE, layer_times
from benchmarks.parallel_epoch import train_flags
from benchmarks.products import transformer_step_products
from benchmarks.parallel import medians
from benchmarks.transformer_speed import (G2P_EPOCH, QUICK, SHAPES, Shape, compiled_step, epoch_rows, shape_ratios,
                                          workload)
from jumok.cli.train import add_arguments, settings_from_args
from jumok.config import Config, with_defaults
from jumok.data.batching import pad
from jumok.decoding import Search, greedy_decode
from jumok.layers.base import evaluating
from jumok.models.transformer import Sizes, TransformerSeq2seq
from jumok.threads import usable_threads

BOS, EOS = 1, 2
TINY = Shape(4, 6, 5, 11, 9, Sizes(width=16, heads=2, ff_width=24, layers=2, dropout=0.1, max_len=32))


def test_the_products_list_counts_the_flops_of_a_step():
    for shape in SHAPES.values():
        products = transformer_step_products(shape.N, shape.S, shape.T, shape.sizes, shape.tgt_vocab)
        flops = transformer_step_flops(shape.N, shape.S, shape.T, shape.sizes, shape.tgt_vocab)
        assert sum(p.flops for p in products) == flops["total"]
        assert flops["total"] == 3 * sum(v for k, v in flops.items() if k.endswith("_forward"))


def test_the_shapes_are_the_g2p_sizes_and_the_models_defaults():
    assert SHAPES["g2p"].sizes == Sizes(width=128, heads=4, ff_width=512, layers=3, dropout=0.1)
    dates = SHAPES["dates"].sizes
    assert (dates.width, dates.heads, dates.ff_width, dates.layers) == (64, 4, 256, 2)  # TransformerSeq2seq.defaults
    assert (G2P_EPOCH["hidden_size"], G2P_EPOCH["layers"], G2P_EPOCH["ff_size"]) == (128, 3, 512)
    assert G2P_EPOCH["lr"] == TransformerSeq2seq.defaults["lr"] and G2P_EPOCH["dev_only"] is True


def test_rows_take_medians_and_the_ratios_go_round_by_round():
    def jumok(step, decode, gflops=None):
        return {"train_step_s": step, "decode_s": decode, "gemm_gflops": gflops, "tokens_head": [[4]],
                "parts_s": {"compute": step / 2, "products": step / 4}}

    rounds = {"jumok, 1 process": [jumok(0.2, 2.0, 100.0), jumok(0.3, 3.0, 100.0)],
              "jumok, 1 worker (1 BLAS thread)": [jumok(0.3, 3.0), jumok(0.4, 4.0)],
              "jumok, 2 workers": [jumok(0.1, 1.0), jumok(0.2, 2.0)],
              "PyTorch twin": [{"train_step_s": 0.2, "compiled_step_s": None, "decode_cached_s": 1.0},
                               {"train_step_s": 0.4, "compiled_step_s": None, "decode_cached_s": 2.0}]}
    row = medians(rounds["jumok, 1 process"])
    assert row["train_step_s"] == pytest.approx(0.25) and row["parts_s"]["products"] == pytest.approx(0.0625)
    assert row["tokens_head"] == [[4]] and len(row["rounds"]) == 2
    assert medians(rounds["PyTorch twin"])["compiled_step_s"] is None
    got = shape_ratios(rounds, 10e9, [2])
    assert got["2 workers ÷ twin eager"] == pytest.approx([0.5, 0.5])
    assert got["1 process ÷ twin eager"] == pytest.approx([1.0, 0.75])
    assert got["2 workers × 1 process"] == pytest.approx([2.0, 1.5])
    assert got["bound for 2 workers"] == pytest.approx([2 * 0.2 / 0.3, 2 * 0.3 / 0.4])
    assert got["GEMM limit ÷ 1 process"] == pytest.approx([0.5, 1 / 3])  # 10 GFLOP at 100 GFLOP/s: 0.1 s
    assert got["decode: 1 process ÷ twin cached"] == pytest.approx([2.0, 1.5])
    assert "2 workers ÷ twin compiled" not in got  # the twin did not compile: no ratio, not a crash


def test_quick_mode_runs_every_row(tmp_path):
    out = tmp_path / "transformer.json"
    # one thread each: the rows' structure is under test, not their speed, and threads that
    # wait for a busy core make a smoke test slow
    env = blas_threads(1, {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])})
    proc = subprocess.run([sys.executable, "-m", "benchmarks.transformer_speed", "--quick", "--shapes", "g2p",
                           "--no-compile", "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    g2p = record["shapes"]["g2p"]
    assert g2p["shape"]["N"] == 8 and g2p["flops"]["total"] == g2p["products"]["flops"] > 0
    rows = g2p["rows"]
    assert {"jumok, 1 process", "jumok, 1 worker (1 BLAS thread)"} <= set(rows)
    assert all(r["train_step_s"] > 0 and r["decode_s"] > 0 and r["parts_s"]["products"] > 0 for name, r in rows.items()
               if name.startswith("jumok"))
    assert len(rows["jumok, 1 process"]["tokens_head"]) == QUICK["head"]
    assert [f"jumok, {n} workers" in rows for n in record["workers"]] == [True] * len(record["workers"])
    assert record["g2p_epoch"] is None  # --quick never runs the epoch
    assert "g2p: batch 8" in proc.stdout and "round by round" in proc.stdout
    if "PyTorch twin" in rows:
        twin = rows["PyTorch twin"]
        assert twin["compile"].startswith("not tried") and twin["compiled_step_s"] is None
        assert g2p["loss_at_start"]["twin"] == pytest.approx(g2p["loss_at_start"]["jumok"], rel=1e-5)
        assert twin["decode_cached_s"] > 0 and twin["decode_rerun_s"] > 0
        assert g2p["tokens_agree"]["twin cached = jumok"] >= 0.9  # float32: a near tie may fall the other way
        assert g2p["ratios_by_round"]["1 process ÷ twin eager"][0] > 0


# ---------------------------------------------------------------------------- with PyTorch


def test_the_twins_first_loss_is_jumoks_from_the_same_weights():
    torch = pytest.importorskip("torch")
    from benchmarks.torch_transformer import TorchTransformer, load_jumok

    model, batches, _ = workload(TINY, {"decode_examples": 3})
    twin = TorchTransformer(TINY.src_vocab, TINY.tgt_vocab, TINY.sizes)
    load_jumok(twin, model)
    twin.eval()
    with evaluating(model), torch.no_grad():
        for batch in batches:
            theirs = float(twin(*(torch.from_numpy(np.ascontiguousarray(a)) for a in batch)))
            assert float(model.forward(*batch)) == pytest.approx(theirs, rel=1e-5)


def test_the_twin_decodes_jumoks_tokens_with_its_cache_and_by_re_running_the_prefix():
    torch = pytest.importorskip("torch")
    from benchmarks.torch_transformer import TorchTransformer, load_jumok

    rng = np.random.default_rng(4)
    model = TransformerSeq2seq(11, 9, TINY.sizes, rng=rng).astype(np.float64)
    for _, p, _ in model.named_parameters():  # away from the initial 1s and 0s, so the tokens vary
        p[...] += rng.standard_normal(p.shape) * 0.3
    twin = TorchTransformer(11, 9, TINY.sizes).double()
    load_jumok(twin, model)
    twin.eval()
    src, src_mask = pad([list(rng.integers(3, 11, n)) for n in (7, 4, 2, 6, 1, 5)], pad_id=0)
    for eos in (EOS, -1):  # stopping at the end token, and always the full length (the benchmark's)
        ours = greedy_decode(model, src, src_mask, Search(BOS, eos, max_len=9))
        args = (torch.from_numpy(src), torch.from_numpy(src_mask), BOS, eos, 9)
        cached, rerun = twin.greedy_cached(*args).numpy(), twin.greedy(*args).numpy()
        assert np.array_equal(cached, rerun)
        for hypotheses, row in zip(ours, cached):
            tokens = list(row)
            assert list(hypotheses[0].tokens) == (tokens[:tokens.index(eos)] if eos in tokens else tokens)
    assert len({tuple(h[0].tokens) for h in ours}) > 1  # the rows differ: the comparison is not of constants


def test_a_twin_that_does_not_compile_is_reported(monkeypatch):
    torch = pytest.importorskip("torch")

    def refuse(module, *args, **kwargs):  # a compiled module that fails on its first call, as a failed compile does
        def failing(*inputs):
            raise RuntimeError("no C++ compiler\nand more")

        module.forward = failing
        return module

    monkeypatch.setattr(torch, "compile", refuse)
    model, batches, _ = workload(TINY, {"decode_examples": 1})
    tb = [tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in b) for b in batches]
    got = compiled_step(model, TINY, tb, {"warmup": 1, "repeats": 1})
    assert got == {"compiled_step_s": None, "compile": "does not compile here: RuntimeError: no C++ compiler"}


def test_the_epoch_rows_train_jumok_and_the_twin_on_the_same_settings():
    pytest.importorskip("torch")
    settings = with_defaults({"task": "date", "model": "transformer", "hidden_size": 16, "heads": 2, "layers": 1,
                              "ff_size": 32, "batch_size": 64, "epochs": 1, "n_examples": 300, "seed": 0})
    rows, threads = epoch_rows(settings, [], sys.executable), usable_threads()
    in_threads = f"jumok, 1 process in {threads} threads"
    assert set(rows) == {"jumok, 1 process", "PyTorch twin", *([in_threads] if threads > 1 else [])}
    for row in rows.values():
        assert row["wall_s"] > row["train_s"] > 0 and 0 <= row["valid_exact_match"] <= 1
    assert "--hidden-size=16" in rows["jumok, 1 process"]["command"]
    assert "--threads" not in rows["jumok, 1 process"]["command"]  # one thread, the default
    if threads > 1:
        assert f"--threads={threads}" in rows[in_threads]["command"]


def test_layer_times_split_a_step_by_layer_and_take_the_wrappers_off():
    model, batches, _ = workload(TINY, {"decode_examples": 1})
    calls = []
    step = jumok_train_step(model)
    got = layer_times(model, lambda batch: calls.append(step(batch)), batches, repeats=3)
    assert len(calls) == 3
    for kind in ("MultiHeadAttention", "FeedForward", "LayerNorm", "SoftmaxCrossEntropy", "TransformerSeq2seq"):
        assert got[f"{kind}.forward"] > 0 and got[f"{kind}.backward"] > 0
    assert got[OUTSIDE] > 0  # clipping and Adam
    assert all("forward" not in vars(m) and "backward" not in vars(m) for m in [*model.modules(), model.loss])


def test_the_epochs_flags_give_jumok_train_the_config_the_twin_trains_with():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config, _ = settings_from_args(parser.parse_args(train_flags(G2P_EPOCH)))
    assert config == Config(**G2P_EPOCH)  # what `jumok train` runs = what benchmarks.torch_train runs
