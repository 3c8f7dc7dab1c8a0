"""jumok against the PyTorch model of benchmarks/torch_model.py (experiments/oracle.py), on a
small model in float64: the same loss and gradients from the same weights, and the two
exact differences of one training step (PyTorch's two LSTM biases, its Adam's ε outside
the bias-corrected √v̂). See docs/results.md#why-pytorch-learns-faster-on-the-same-maths.

Skipped when PyTorch is not installed (it is no dependency of jumok)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (benchmarks/torch_model.py needs it)")

from experiments.oracle import (  # noqa: E402
    JumokTrainer,
    TorchRun,
    VariantAdam,
    torch_batch,
    torch_in_jumok_layout,
    torch_model_from,
)
from jumok.data.batching import Batch  # noqa: E402
from jumok.models import AttentionSeq2seq  # noqa: E402

SRC_V, TGT_V, EMBED, HIDDEN, N, S, T = 13, 11, 6, 10, 5, 7, 4


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return AttentionSeq2seq(SRC_V, TGT_V, EMBED, HIDDEN, rng=rng, reverse_source=True, dtype=np.float64)


def full_batch(seed=1):
    """Every source and target position real (the fixed-width layout): the PyTorch encoder
    reads every position, as jumok's does without padding."""
    rng = np.random.default_rng(seed)
    src = rng.integers(4, SRC_V, (N, S))
    tgt = rng.integers(4, TGT_V, (N, T + 1))
    full = np.ones((N, T), dtype=bool)
    return Batch(src, np.ones((N, S), dtype=bool), tgt[:, :-1], tgt[:, 1:], full)


def params_of(model):
    return {k: v.astype(np.float64) for k, v in model.state_dict().items()}


def relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def padded_batch(seed=2):
    """Sources and targets of different lengths, padded at the end (id 0)."""
    rng = np.random.default_rng(seed)
    src_len, tgt_len = rng.integers(1, S + 1, N), rng.integers(1, T + 1, N)
    src_len[0], tgt_len[0] = S, T
    src_mask = np.arange(S)[None, :] < src_len[:, None]
    tgt_mask = np.arange(T)[None, :] < tgt_len[:, None]
    src = np.where(src_mask, rng.integers(4, SRC_V, (N, S)), 0)
    tgt = rng.integers(4, TGT_V, (N, T + 1))
    return Batch(src, src_mask, np.where(tgt_mask, tgt[:, :-1], 0), np.where(tgt_mask, tgt[:, 1:], 0), tgt_mask)


@pytest.mark.parametrize("layout", ["fixed-width", "padded"])
def test_same_loss_and_gradients_at_step_one(layout):
    """The padded batch needs the packed PyTorch encoder: jumok's masked LSTM carries its
    state across padding, which is what reading only the real tokens gives."""
    model = small_model()
    batch = full_batch() if layout == "fixed-width" else padded_batch()
    tm = torch_model_from(model, "float64", packed=layout == "padded")
    arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
    loss = model.forward(*arrays)
    model.zero_grad()
    model.backward()
    torch_loss = tm(*torch_batch(batch, "float64"))
    torch_loss.backward()
    assert abs(loss - float(torch_loss.detach())) <= 1e-12 * loss
    grads = torch_in_jumok_layout(tm, grads=True)
    for name, _, g in model.named_parameters():
        assert relative(g, grads[name]) < 1e-10, name
    for lstm in (tm.enc, tm.dec):  # b_ih and b_hh enter only as their sum: the same gradient
        assert torch.allclose(lstm.bias_ih_l0.grad, lstm.bias_hh_l0.grad, rtol=1e-12, atol=0)


def one_step(trainer_of, batch):
    model = small_model()
    start = params_of(model)
    trainer = trainer_of(model)
    trainer.step(batch)
    after = torch_in_jumok_layout(trainer.tm) if isinstance(trainer, TorchRun) else params_of(model)
    return {k: after[k] - start[k] for k in start}


def test_a_training_step_differs_exactly_by_the_two_biases_and_adams_eps():
    batch = full_batch()
    jumok = one_step(lambda m: JumokTrainer(m), batch)
    as_pytorch = one_step(lambda m: JumokTrainer(m, ("two-bias", "eps-outside")), batch)
    torch_step = one_step(lambda m: TorchRun(torch_model_from(m, "float64"), dtype="float64"), batch)
    like_jumok = one_step(lambda m: TorchRun(torch_model_from(m, "float64"), like_jumok=True,
                                                 dtype="float64"), batch)
    for name in jumok:
        assert relative(like_jumok[name], jumok[name]) < 1e-10, name  # PyTorch brought to jumok's step
        assert relative(torch_step[name], as_pytorch[name]) < 1e-10, name  # jumok brought to PyTorch's
    for side in ("encoder", "decoder"):  # the two bias copies: the summed bias moves twice as far
        ratio = np.linalg.norm(torch_step[f"{side}.lstm.b"]) / np.linalg.norm(jumok[f"{side}.lstm.b"])
        assert ratio > 1.9


def test_eps_outside_is_pytorchs_adam():
    """jumok's Adam with ε · √(1 − β₂ᵗ) is torch.optim.Adam; plain jumok Adam is not, where
    gradients are as small as ε/√(1 − β₂ᵗ) (the first steps)."""

    class One:
        def __init__(self, p):
            self.p, self.g = p, np.zeros_like(p)

        def named_parameters(self):
            yield "p", self.p, self.g

    rng = np.random.default_rng(0)
    start = rng.standard_normal(50)
    grads = [rng.standard_normal(50) * 10.0 ** rng.uniform(-9, -5, 50) for _ in range(5)]
    results = {}
    for label in ("jumok", "eps-outside"):
        holder = One(start.copy())
        adam = VariantAdam(holder, lr=1e-3, eps_outside=label == "eps-outside")
        for g in grads:
            holder.g[...] = g
            adam.step()
        results[label] = holder.p - start
    p = torch.tensor(start, requires_grad=True)
    adam = torch.optim.Adam([p], lr=1e-3, eps=1e-8)
    for g in grads:
        p.grad = torch.tensor(g)
        adam.step()
    torch_step = p.detach().numpy() - start
    assert relative(results["eps-outside"], torch_step) < 1e-10
    assert relative(results["jumok"], torch_step) > 0.1
