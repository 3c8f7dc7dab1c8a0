"""The step-by-step reference model equals the fast AttentionSeq2seq, and the benchmark runs."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from checks import REPO

from jumok.decoding import Search, beam_search, greedy_decode
from jumok.gradcheck import gradcheck, gradients_of, parameters_of
from jumok.models import AttentionSeq2seq
from jumok.chapter.reference import ReferenceAttentionSeq2seq

ROOT = REPO


def _batch(rng, N=4, S=7, T=5, Vs=11, Vt=9):
    """Random tokens with variable source and target lengths (padding at the end)."""
    src_len = rng.integers(2, S + 1, size=N)
    src_len[0] = S
    tgt_len = rng.integers(1, T + 1, size=N)
    tgt_len[0] = T
    src_mask = np.arange(S)[None, :] < src_len[:, None]  # (N, S)
    tgt_mask = np.arange(T)[None, :] < tgt_len[:, None]  # (N, T)
    src = np.where(src_mask, rng.integers(1, Vs, size=(N, S)), 0)
    tgt_in = np.where(tgt_mask, rng.integers(1, Vt, size=(N, T)), 0)
    tgt_out = np.where(tgt_mask, rng.integers(1, Vt, size=(N, T)), 0)
    return src, src_mask, tgt_in, tgt_out, tgt_mask


def _pair(Vs=11, Vt=9, D=5, H=6, reverse=True):
    fast = AttentionSeq2seq(Vs, Vt, D, H, rng=np.random.default_rng(0), reverse_source=reverse, dtype=np.float64)
    ref = ReferenceAttentionSeq2seq(Vs, Vt, D, H, rng=np.random.default_rng(1), reverse_source=reverse,
                                    dtype=np.float64)
    ref.load_state_dict(fast.state_dict())
    return fast, ref


def test_same_parameter_names_and_shapes():
    fast, ref = _pair()
    assert {n: p.shape for n, p, _ in fast.named_parameters()} == {n: p.shape for n, p, _ in ref.named_parameters()}
    # the same seed draws the same parameters
    same_seed = ReferenceAttentionSeq2seq(11, 9, 5, 6, rng=np.random.default_rng(0), dtype=np.float64)
    for name, p in fast.state_dict().items():
        np.testing.assert_array_equal(p, same_seed.state_dict()[name])


@pytest.mark.parametrize("reverse", [True, False])
def test_same_loss_and_gradients(reverse):
    fast, ref = _pair(reverse=reverse)
    batch = _batch(np.random.default_rng(2))
    assert not batch[1].all() and not batch[4].all()  # real padding on both sides
    losses = []
    for model in (fast, ref):
        losses.append(model.forward(*batch))
        model.zero_grad()
        model.backward()
    assert losses[0] == pytest.approx(losses[1], rel=1e-12)
    g_fast, g_ref = gradients_of(fast), gradients_of(ref)
    assert set(g_fast) == set(g_ref)
    for name in g_fast:
        assert np.abs(g_fast[name]).max() > 0, name
        np.testing.assert_allclose(g_ref[name], g_fast[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_same_greedy_decode():
    fast, ref = _pair()
    src, src_mask, *_ = _batch(np.random.default_rng(3))
    assert ref.map_names == fast.map_names == ("cross",)
    a = greedy_decode(fast, src, src_mask, Search(bos=1, eos=2, max_len=6), maps=True)
    b = greedy_decode(ref, src, src_mask, Search(bos=1, eos=2, max_len=6), maps=True)
    for (h,), (r,) in zip(a, b, strict=True):
        np.testing.assert_array_equal(h.tokens, r.tokens)
        assert h.ended == r.ended
        np.testing.assert_allclose(h.maps["cross"], r.maps["cross"], rtol=1e-12, atol=1e-14)


def test_same_beam_search():
    """The reference decoder's state follows the beams (`select`) as the fast one's does."""
    fast, ref = _pair()
    src, src_mask, *_ = _batch(np.random.default_rng(7))
    search = Search(bos=1, eos=2, max_len=6, beam=3, nbest=3)
    a = beam_search(fast, src, src_mask, search, maps=True)
    b = beam_search(ref, src, src_mask, search, maps=True)
    for hyps, ref_hyps in zip(a, b, strict=True):
        for h, r in zip(hyps, ref_hyps, strict=True):
            np.testing.assert_array_equal(h.tokens, r.tokens)
            assert h.ended == r.ended and h.score == pytest.approx(r.score, rel=1e-10)
            assert h.maps.keys() == r.maps.keys() == {"cross"}
            for name in h.maps:
                np.testing.assert_allclose(h.maps[name], r.maps[name], rtol=1e-12, atol=1e-14)


def test_reference_gradcheck():
    _, ref = _pair(Vs=5, Vt=4, D=2, H=3)
    rng = np.random.default_rng(6)
    for _, p, _ in ref.named_parameters():  # larger weights than the default init, so that
        p[...] = rng.standard_normal(p.shape) * 0.5  # every path carries a real gradient
    batch = _batch(np.random.default_rng(4), N=2, S=4, T=3, Vs=5, Vt=4)

    def forward():
        return np.array(ref.forward(*batch))

    def backward(dloss):
        ref.zero_grad()
        ref.backward(float(dloss))
        return gradients_of(ref)

    errors = gradcheck(forward, backward, parameters_of(ref), np.random.default_rng(5))
    assert max(errors.values()) < 1e-6, errors


def test_benchmark_quick_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--no-torch", "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    for key in ("shapes", "machine", "gemm", "flops", "train_step_s", "decode_s", "ratios", "peak_memory"):
        assert key in record, key
    assert record["train_step_s"]["jumok"] > 0 and record["train_step_s"]["reference"] > 0
    assert record["train_step_s"]["torch"] is None
    assert record["flops"]["total"] > 0 and record["gemm"]["gflops"] > 0
    # the products timed alone are the step's: counted one by one, they give the analytic
    # total plus the LSTMs' bias column and row (16·N·H·(S + T), see benchmarks/products.py)
    shapes = record["shapes"]
    bias = 16 * shapes["N"] * shapes["hidden"] * (shapes["S"] + shapes["T"])
    assert record["products"]["flops"] == record["flops"]["total"] + bias
    assert record["products"]["numpy_s"] > 0 and record["products"]["torch_s"] is None
    assert "jumok" in proc.stdout
