"""The same model in PyTorch (CPU), for comparison: only imported when torch is installed.

Embedding → nn.LSTM encoder; embedding → nn.LSTM decoder starting from the encoder's final
h (c = 0); dot attention via bmm with a masked softmax; Linear([context; h]); mean
cross-entropy over the real targets. `load_jumok` copies a jumok AttentionSeq2seq's
parameters in (gate order f, g, i, o → PyTorch's i, f, g, o), so the two can be checked to
compute the same loss. `TorchTrainer` is its training step.
"""

import math

import numpy as np
import torch
from torch import nn


class TorchAttentionSeq2seq(nn.Module):
    """`packed`: the encoder reads each source only up to its real length (a packed
    sequence), as jumok's masked LSTM does, so padded batches give jumok's loss; without it
    the encoder reads every position (right for batches without padding, and faster).
    `bidirectional`: the encoder reads both ways with hidden / 2 units a direction, its states
    [forward; backward] and the decoder's start the two final states joined, as jumok's."""

    def __init__(self, src_vocab, tgt_vocab, embed, hidden, packed=False, bidirectional=False):
        super().__init__()
        self.packed = packed
        self.src_embed = nn.Embedding(src_vocab, embed)
        self.enc = nn.LSTM(embed, hidden // 2 if bidirectional else hidden, batch_first=True,
                           bidirectional=bidirectional)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed)
        self.dec = nn.LSTM(embed, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden, tgt_vocab)

    def encode(self, src, src_mask):
        """src (N, S) → enc_hs (N, S, H), final (h, c) each (1, N, H). Without `packed` the
        sources fill every position; with it, padded positions of enc_hs are 0 (attention
        masks them) and h is the state after each source's last real token."""
        x = self.src_embed(src)
        if not self.packed or bool(src_mask.all()):
            enc_hs, (h, _) = self.enc(x)
        else:
            lengths = src_mask.sum(dim=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            enc_hs, (h, _) = self.enc(packed)
            enc_hs, _ = nn.utils.rnn.pad_packed_sequence(enc_hs, batch_first=True, total_length=src.shape[1])
        if self.enc.bidirectional:  # (2, N, H/2): each direction's final state → [forward; backward] (1, N, H)
            h = torch.cat([h[0], h[1]], dim=1)[None]
        return enc_hs, (h, torch.zeros_like(h))

    def attend(self, enc_hs, dec_hs, src_mask):
        """enc_hs (N, S, H), dec_hs (N, T, H), src_mask (N, S) → scores (N, T, V), weights (N, T, S)."""
        scores = torch.bmm(dec_hs, enc_hs.transpose(1, 2))  # (N, T, S)
        scores = scores.masked_fill(~src_mask[:, None, :], float("-inf"))
        a = torch.softmax(scores, dim=2)
        context = torch.bmm(a, enc_hs)  # (N, T, H)
        return self.out(torch.cat([context, dec_hs], dim=2)), a

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask):
        enc_hs, state = self.encode(src, src_mask)
        dec_hs, _ = self.dec(self.tgt_embed(tgt_in), state)
        scores, _ = self.attend(enc_hs, dec_hs, src_mask)
        losses = nn.functional.cross_entropy(scores.transpose(1, 2), tgt_out, reduction="none")  # (N, T)
        return (losses * tgt_mask).sum() / tgt_mask.sum()

    @torch.no_grad()
    def greedy(self, src, src_mask, bos_id, eos_id, max_len):
        """Batched greedy decoding; stops when every row has produced eos_id or after max_len."""
        enc_hs, state = self.encode(src, src_mask)
        tokens = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        out = []
        for _ in range(max_len):
            dec_h, state = self.dec(self.tgt_embed(tokens), state)  # (N, 1, H)
            scores, _ = self.attend(enc_hs, dec_h, src_mask)
            tokens = scores.argmax(dim=2)  # (N, 1)
            out.append(tokens)
            finished |= tokens[:, 0] == eos_id
            if bool(finished.all()):
                break
        return torch.cat(out, dim=1)

    @torch.no_grad()
    def load_jumok(self, state):
        """Copy parameters from a jumok AttentionSeq2seq state_dict (names encoder.*, decoder.*)."""

        def gates(w):  # (…, 4H) in f, g, i, o → (4H, …) in i, f, g, o
            f, g, i, o = np.split(w, 4, axis=-1)
            return torch.from_numpy(np.ascontiguousarray(np.concatenate([i, f, g, o], axis=-1).T))

        for side, embed, lstm in (("encoder", self.src_embed, self.enc), ("decoder", self.tgt_embed, self.dec)):
            embed.weight.copy_(torch.from_numpy(state[f"{side}.embed.W"]))
            lstm.weight_ih_l0.copy_(gates(state[f"{side}.lstm.Wx"]))
            lstm.weight_hh_l0.copy_(gates(state[f"{side}.lstm.Wh"]))
            lstm.bias_ih_l0.copy_(gates(state[f"{side}.lstm.b"]))
            lstm.bias_hh_l0.zero_()
        self.out.weight.copy_(torch.from_numpy(np.ascontiguousarray(state["decoder.out.W"].T)))
        self.out.bias.copy_(torch.from_numpy(state["decoder.out.b"]))


class TorchTrainer:
    """PyTorch's training step, the only one the benchmarks and experiments use: forward,
    backward, global-norm clipping (`clip_grad_norm_`), torch.optim.Adam (β 0.9 / 0.999,
    ε 1e-8). `step(inputs)` takes the model's inputs and returns the loss and the gradients'
    norm before clipping, both as tensors (reading them would wait for a GPU). `beta2`: Adam's
    β₂ (jumok's ``--beta2``).

    `like_jumok` brings the step to jumok's arithmetic: b_hh frozen at 0 (one bias per LSTM,
    where PyTorch's two learn at twice the rate) and Adam's ε set to ε / √(1 − β₂ᵗ) at step
    t, which puts ε where jumok's Adam has it (inside the bias correction)."""

    def __init__(self, model, lr=1e-3, clip=5.0, like_jumok=False, beta2=0.999):
        self.model, self.clip, self.like_jumok = model, clip, like_jumok
        if like_jumok:
            for lstm in (model.enc, model.dec):
                lstm.bias_hh_l0.requires_grad_(False)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=(0.9, beta2), eps=1e-8)
        self.t = 0

    def step(self, inputs):
        self.t += 1
        loss = self.model(*inputs)
        self.optimizer.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        if self.like_jumok:
            self.optimizer.param_groups[0]["eps"] = 1e-8 / math.sqrt(1 - 0.999**self.t)
        self.optimizer.step()
        return loss, norm

    def set_lr(self, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr
