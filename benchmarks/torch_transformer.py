"""jumok's Transformer (`jumok.models.transformer`) built from PyTorch's own layers, for the
oracle test and the speed comparison (benchmarks/transformer_speed.py): only imported when
torch is installed.

The same wiring — pre-norm blocks, √D-scaled embeddings plus sinusoids, a final LayerNorm
closing each stack, an untied output layer — from nn.Embedding, nn.MultiheadAttention,
nn.LayerNorm and nn.Linear. `load_jumok` copies a jumok model's parameters in: PyTorch's
linear layers compute x Wᵀ, so every (in, out) weight goes in transposed, and
nn.MultiheadAttention keeps [Wq; Wk; Wv] as one (3D, D) in_proj_weight. Its
key_padding_mask is True for *padding* (jumok's masks are True for real tokens). Loss:
CrossEntropyLoss(reduction="sum", ignore_index=pad, label_smoothing=ε) / M, M the real target
tokens, which is jumok's.

Greedy decoding two ways: `greedy` re-runs the decoder over the whole prefix at every step
(as Joey NMT decodes a Transformer), `greedy_cached` keeps each layer's keys and values (as
jumok's decoding state does); from the same weights both write jumok's tokens.
"""

import math

import numpy as np
import torch
from torch import nn

from jumok.layers.positions import sinusoids


class TorchBlock(nn.Module):
    """One pre-norm block: attention sub-layers (self, causal self, or self then cross) and
    the feed-forward one, each x ← x + f(LN(x))."""

    def __init__(self, D, heads, ff, cross, dropout=0.0, attention_dropout=0.0):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(D) for _ in range(3 if cross else 2))
        self.attentions = nn.ModuleList(nn.MultiheadAttention(D, heads, dropout=attention_dropout, batch_first=True)
                                        for _ in range(2 if cross else 1))
        self.ff = nn.Sequential(nn.Linear(D, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, D))
        self.drop = nn.Dropout(dropout)  # on every sub-layer's output, as jumok's blocks

    def forward(self, x, key_padding, causal=None, memory=None, memory_padding=None):
        a = self.norms[0](x)
        a = self.attentions[0](a, a, a, key_padding_mask=key_padding, attn_mask=causal, need_weights=False)[0]
        x = x + self.drop(a)
        if memory is not None:
            c = self.norms[1](x)
            c = self.attentions[1](c, memory, memory, key_padding_mask=memory_padding, need_weights=False)[0]
            x = x + self.drop(c)
        return x + self.drop(self.ff(self.norms[-1](x)))


class TorchTransformer(nn.Module):
    """The twin of `TransformerSeq2seq(src_vocab, tgt_vocab, sizes)`, dropout included (the
    same places, PyTorch's own masks); built, it keeps PyTorch's own initialisation until
    `load_jumok` copies a jumok model in."""

    def __init__(self, src_vocab, tgt_vocab, sizes):
        super().__init__()
        D = sizes.width
        self.D = D
        self.src_embed, self.tgt_embed = nn.Embedding(src_vocab, D), nn.Embedding(tgt_vocab, D)
        self.drop = nn.Dropout(sizes.dropout)  # on the embeddings plus positions
        block = (sizes.heads, sizes.ff_width)
        rates = {"dropout": sizes.dropout, "attention_dropout": sizes.attention_dropout}
        self.encoder = nn.ModuleList(TorchBlock(D, *block, False, **rates) for _ in range(sizes.layers))
        self.encoder_norm = nn.LayerNorm(D)
        self.decoder = nn.ModuleList(TorchBlock(D, *block, True, **rates) for _ in range(sizes.layers))
        self.decoder_norm = nn.LayerNorm(D)
        self.out = nn.Linear(D, tgt_vocab)
        self.register_buffer("table", torch.from_numpy(sinusoids(sizes.max_len, D, np.float64)))

    def embed(self, embedding, ids, start=0):
        """√D-scaled embeddings of ids (N, L) plus the sinusoids of positions start … start + L − 1."""
        table = self.table[start : start + ids.shape[1]].to(embedding.weight.dtype)
        return self.drop(embedding(ids) * math.sqrt(self.D) + table)

    def encode(self, src, src_mask):
        """src (N, S) → the encoder stack's output (N, S, D)."""
        x = self.embed(self.src_embed, src)
        for block in self.encoder:
            x = block(x, ~src_mask)
        return self.encoder_norm(x)

    def scores(self, memory, src_mask, tgt_in, tgt_mask):
        """Teacher forcing: the output scores (N, T, V) of every position of tgt_in."""
        T = tgt_in.shape[1]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True: barred (a later position)
        y = self.embed(self.tgt_embed, tgt_in)
        for block in self.decoder:
            y = block(y, ~tgt_mask, causal, memory, ~src_mask)
        return self.out(self.decoder_norm(y))

    @torch.no_grad()
    def greedy(self, src, src_mask, bos_id, eos_id, max_len):
        """Batched greedy decoding by re-running the prefix each step (no cache): (N, ≤ max_len)
        tokens; stops when every row has produced eos_id. Call in eval mode."""
        memory = self.encode(src, src_mask)
        tokens = torch.full((src.shape[0], 1), bos_id, dtype=torch.long)
        finished = torch.zeros(src.shape[0], dtype=torch.bool)
        for _ in range(max_len):
            mask = torch.ones(tokens.shape, dtype=torch.bool)
            following = self.scores(memory, src_mask, tokens, mask)[:, -1].argmax(dim=1)  # (N,)
            tokens = torch.cat([tokens, following[:, None]], dim=1)
            finished |= following == eos_id
            if bool(finished.all()):
                break
        return tokens[:, 1:]

    @torch.no_grad()
    def greedy_cached(self, src, src_mask, bos_id, eos_id, max_len):
        """Batched greedy decoding with a key/value cache, as jumok's `step` decodes: each
        decoder layer keeps the self-attention keys and values of the positions written so
        far and projects the encoder's output into its cross-attention keys and values once,
        so a step runs only the new position through the decoder. The same weights as
        `greedy` (nn.MultiheadAttention's in_proj and out_proj, applied by hand around
        `scaled_dot_product_attention`), the same tokens. Call in eval mode."""
        memory = self.encode(src, src_mask)
        N, D = src.shape[0], self.D
        real = src_mask[:, None, None, :]  # (N, 1, 1, S): True = a key to read (SDPA's sense)
        cross = [_heads(block.attentions[1], nn.functional.linear(
            memory, block.attentions[1].in_proj_weight[D:], block.attentions[1].in_proj_bias[D:])).chunk(2, dim=1)
            for block in self.decoder]  # per layer K, V (N, h, S, d_h)
        cache = [None] * len(self.decoder)
        token = torch.full((N,), bos_id, dtype=torch.long)
        finished = torch.zeros(N, dtype=torch.bool)
        out = []
        for t in range(max_len):
            y = self.embed(self.tgt_embed, token[:, None], start=t)  # (N, 1, D)
            for i, block in enumerate(self.decoder):
                own, other = block.attentions
                a = block.norms[0](y)
                q, k, v = _heads(own, nn.functional.linear(a, own.in_proj_weight, own.in_proj_bias)).chunk(3, dim=1)
                k, v = (k, v) if cache[i] is None else (torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2))
                cache[i] = (k, v)
                y = y + own.out_proj(_joined(nn.functional.scaled_dot_product_attention(q, k, v)))
                c = block.norms[1](y)
                q = _heads(other, nn.functional.linear(c, other.in_proj_weight[:D], other.in_proj_bias[:D]))
                K, V = cross[i]
                y = y + other.out_proj(_joined(nn.functional.scaled_dot_product_attention(q, K, V, attn_mask=real)))
                y = y + block.ff(block.norms[-1](y))
            token = self.out(self.decoder_norm(y))[:, 0].argmax(dim=1)  # (N,)
            out.append(token)
            finished |= token == eos_id
            if bool(finished.all()):
                break
        return torch.stack(out, dim=1)

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask, smoothing=0.0, pad=0):
        """The mean cross-entropy over the real target tokens, as jumok's `forward` (tgt_mask
        boolean, or 0/1 numbers)."""
        tgt_mask = tgt_mask.bool()
        scores = self.scores(self.encode(src, src_mask), src_mask, tgt_in, tgt_mask)
        targets = torch.where(tgt_mask, tgt_out, torch.full_like(tgt_out, pad))
        loss = nn.functional.cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1),
                                           ignore_index=pad, reduction="sum", label_smoothing=smoothing)
        return loss / tgt_mask.sum()


def _heads(attention, projected):
    """(N, L, k·D) projections → (N, k·h, L, d_h): each of the k projections split into the
    attention's heads, the k groups one after another on axis 1 (so `chunk(k, dim=1)` parts them)."""
    N, L, width = projected.shape
    return projected.reshape(N, L, width // attention.head_dim, attention.head_dim).transpose(1, 2)


def _joined(heads):
    """(N, h, L, d_h) → (N, L, D): the heads side by side again."""
    N, h, L, d_h = heads.shape
    return heads.transpose(1, 2).reshape(N, L, h * d_h)


def _pairs(model, twin):
    """(jumok parameter name, torch tensor, how the jumok array maps onto it)."""
    T = lambda a: a.T  # noqa: E731 — PyTorch's (out, in) weights
    same = lambda a: a  # noqa: E731
    yield "src_embed.W", twin.src_embed.weight, same
    yield "tgt_embed.W", twin.tgt_embed.weight, same
    for stack, blocks in (("encoder", twin.encoder), ("decoder", twin.decoder)):
        names = ("self_attention", "cross_attention") if stack == "decoder" else ("attention",)
        ffn_norm = "norm3" if stack == "decoder" else "norm2"
        for i, block in enumerate(blocks):
            for j, name in enumerate(names):
                yield from _attention_pairs(f"{stack}.{i}.{name}", block.attentions[j])
                yield f"{stack}.{i}.norm{j + 1}.gamma", block.norms[j].weight, same
                yield f"{stack}.{i}.norm{j + 1}.beta", block.norms[j].bias, same
            yield f"{stack}.{i}.{ffn_norm}.gamma", block.norms[-1].weight, same
            yield f"{stack}.{i}.{ffn_norm}.beta", block.norms[-1].bias, same
            yield f"{stack}.{i}.feed_forward.W1", block.ff[0].weight, T
            yield f"{stack}.{i}.feed_forward.b1", block.ff[0].bias, same
            yield f"{stack}.{i}.feed_forward.W2", block.ff[3].weight, T
            yield f"{stack}.{i}.feed_forward.b2", block.ff[3].bias, same
        norm = twin.encoder_norm if stack == "encoder" else twin.decoder_norm
        yield f"{stack}_norm.gamma", norm.weight, same
        yield f"{stack}_norm.beta", norm.bias, same
    yield "out.W", twin.out.weight, T
    yield "out.b", twin.out.bias, same


class _Slice:
    """A view of rows [start, stop) of a torch parameter (in_proj's Wq, Wk, Wv parts)."""

    def __init__(self, tensor, start, stop):
        self.tensor, self.start, self.stop = tensor, start, stop


def _attention_pairs(prefix, attention):
    D = attention.embed_dim
    for k, part in enumerate("qkv"):
        yield f"{prefix}.W{part}", _Slice(attention.in_proj_weight, k * D, (k + 1) * D), lambda a: a.T
        yield f"{prefix}.b{part}", _Slice(attention.in_proj_bias, k * D, (k + 1) * D), lambda a: a
    yield f"{prefix}.Wo", attention.out_proj.weight, lambda a: a.T
    yield f"{prefix}.bo", attention.out_proj.bias, lambda a: a


def load_jumok(twin, model):
    """Copy a jumok TransformerSeq2seq's parameters into the twin (in the twin's dtype)."""
    arrays = model.state_dict()
    with torch.no_grad():
        for name, tensor, to_torch in _pairs(model, twin):
            value = torch.from_numpy(np.ascontiguousarray(to_torch(arrays[name])))
            if isinstance(tensor, _Slice):
                tensor.tensor[tensor.start : tensor.stop] = value
            else:
                tensor.copy_(value)


def gradients_as_jumok(twin, model):
    """{jumok name: the twin's gradient in jumok's layout} after a backward."""
    found = {}
    for name, tensor, to_torch in _pairs(model, twin):
        grad = (tensor.tensor.grad[tensor.start : tensor.stop] if isinstance(tensor, _Slice) else tensor.grad)
        found[name] = to_torch(grad.detach().numpy())  # a transpose is its own inverse
    return found
