"""The Transformer against its PyTorch twin (benchmarks/torch_transformer.py), built from
torch's own layers and loaded with jumok's weights: float64, dropout off, 2 layers, 2 heads,
padding in sources and targets, label smoothing 0.1. At step 1 the loss agrees to 1e-10
relative and every parameter's gradient to 1e-9 of its largest entry; after 50 Adam steps on
the same batches the losses agree to 1e-6 relative. Skipped without torch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from benchmarks.torch_transformer import TorchTransformer, gradients_as_jumok, load_jumok  # noqa: E402
from jumok.decoding import Search, greedy_decode  # noqa: E402
from jumok.models.transformer import Sizes, TransformerSeq2seq  # noqa: E402
from jumok.optim import Adam  # noqa: E402

V_SRC, V_TGT, PAD, BOS, EOS = 11, 9, 0, 1, 2
SIZES = Sizes(width=16, heads=2, ff_width=24, layers=2, dropout=0.0, max_len=32)
SMOOTHING = 0.1


def batch(rng, N=4, S=7, T=6):
    """Sources and targets with padding at the end of all but the first row."""
    src, tgt = np.full((N, S), PAD), np.full((N, T + 1), PAD)
    for n in range(N):
        s, t = (S, T) if n == 0 else (int(rng.integers(2, S)), int(rng.integers(2, T)))
        src[n, :s] = rng.integers(3, V_SRC, s)
        tgt[n, 0], tgt[n, 1:t], tgt[n, t] = BOS, rng.integers(3, V_TGT, t - 1), EOS
    return src, src != PAD, tgt[:, :-1], tgt[:, 1:], tgt[:, 1:] != PAD


def pair(seed=0):
    rng = np.random.default_rng(seed)
    model = TransformerSeq2seq(V_SRC, V_TGT, SIZES, rng=rng, label_smoothing=SMOOTHING).astype(np.float64)
    for _, p, _ in model.named_parameters():  # away from the initial 1s and 0s, so every path counts
        p[...] += rng.standard_normal(p.shape) * 0.2
    twin = TorchTransformer(V_SRC, V_TGT, SIZES).double()
    load_jumok(twin, model)
    return model, twin


def torch_loss(twin, arrays):
    src, src_mask, tgt_in, tgt_out, tgt_mask = (torch.from_numpy(a) for a in arrays)
    return twin(src, src_mask, tgt_in, tgt_out, tgt_mask, smoothing=SMOOTHING, pad=PAD)


def test_loss_and_every_gradient_at_step_one():
    model, twin = pair()
    arrays = batch(np.random.default_rng(1))
    loss = model.forward(*arrays)
    model.zero_grad()
    model.backward()
    theirs = torch_loss(twin, arrays)
    theirs.backward()
    assert loss == pytest.approx(theirs.item(), rel=1e-10)
    grads = gradients_as_jumok(twin, model)
    largest = max(np.abs(g).max() for _, _, g in model.named_parameters())
    for name, _, g in model.named_parameters():
        # bk's true gradient is 0 (a shift of a row of scores): compare it with the model's largest
        scale = largest if name.endswith(".bk") else np.abs(g).max()
        assert np.abs(g - grads[name]).max() <= 1e-9 * scale, name


def test_fifty_adam_steps_from_the_same_weights_on_the_same_batches():
    model, twin = pair(seed=2)
    rng = np.random.default_rng(3)
    batches = [batch(rng) for _ in range(5)]
    ours = Adam(model, lr=3e-3, eps=1e-12)  # eps far below every √v: its placement no longer matters
    theirs = torch.optim.Adam(twin.parameters(), lr=3e-3, eps=1e-12)
    losses = []
    for step in range(50):
        arrays = batches[step % len(batches)]
        loss = model.forward(*arrays)
        model.zero_grad()
        model.backward()
        ours.step()
        theirs.zero_grad()
        their_loss = torch_loss(twin, arrays)
        their_loss.backward()
        theirs.step()
        losses.append((loss, their_loss.item()))
    for step, (a, b) in enumerate(losses):
        assert a == pytest.approx(b, rel=1e-6), step
    assert losses[-1][0] < 0.8 * losses[0][0]  # it learned something: the comparison is not of two idle models


def test_the_twins_greedy_decoding_writes_jumoks_tokens():
    """The oracle validates the twin with its own greedy decoding (re-running the prefix);
    from the same weights it writes exactly the tokens jumok's cached decoding writes."""
    model, twin = pair(seed=4)
    src, src_mask, *_ = batch(np.random.default_rng(5), N=6)
    ours = greedy_decode(model, src, src_mask, Search(BOS, EOS, max_len=9))
    twin.eval()
    theirs = twin.greedy(torch.from_numpy(src), torch.from_numpy(src_mask), BOS, EOS, max_len=9).numpy()
    for hypotheses, row in zip(ours, theirs):
        tokens = list(row)
        written = tokens[:tokens.index(EOS)] if EOS in tokens else tokens
        assert list(hypotheses[0].tokens) == written


def test_the_twin_drops_out_where_jumok_does_in_training_only():
    sizes = Sizes(width=16, heads=2, ff_width=24, layers=1, dropout=0.3, attention_dropout=0.2, max_len=32)
    twin = TorchTransformer(V_SRC, V_TGT, sizes).double()
    arrays = [torch.from_numpy(a) for a in batch(np.random.default_rng(6))]
    twin.train()
    assert twin(*arrays).item() != twin(*arrays).item()  # fresh masks each pass
    twin.eval()
    assert twin(*arrays).item() == twin(*arrays).item()
    rates = {m.p for m in twin.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates == {0.3} and {a.dropout for a in twin.modules() if isinstance(a, torch.nn.MultiheadAttention)} == {0.2}

