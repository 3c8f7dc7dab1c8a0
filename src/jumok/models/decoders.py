"""The three decoders of the chapter. Each one offers the same four methods:

    forward(tgt_in (N, T), enc: EncoderOutput) → scores (N, T, V)      (teacher forcing)
    backward(dscores) → (dhs (N, S, H) or None, dh (N, H))            (into the encoder)
    start(enc) → state                                                 (decoding)
    step(tokens (N,), state) → scores (N, V), state, attention (N, S) or None

All start from the encoder's final hidden state h (the cell starts at zero, as in the
chapter).
"""

import numpy as np

from jumok.layers.affine import Affine
from jumok.layers.base import Module
from jumok.layers.embedding import Embedding
from jumok.layers.lstm import LSTM
from jumok.layers.time_attention import TimeAttention


class PlainDecoder(Module):
    """Seq2seq: the encoder's last state is the only thing the decoder is told.

    hs = LSTM(Embedding(y), h0 = h_enc);  scores = Affine(hs)
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.lstm = LSTM(embed_size, hidden_size, rng, dtype)
        self.out = Affine(hidden_size, vocab_size, rng, dtype)

    def forward(self, tgt_in, enc):
        hs, _ = self.lstm.forward(self.embed.forward(tgt_in), h0=enc.h)
        return self.out.forward(hs)

    def backward(self, dscores):
        dxs, dh0, _ = self.lstm.backward(self.out.backward(dscores))
        self.embed.backward(dxs)
        return None, dh0

    def start(self, enc):
        return {"h": enc.h, "c": np.zeros_like(enc.h)}

    def step(self, tokens, state):
        h, c = self.lstm.step(self.embed.params["W"][tokens], state["h"], state["c"])
        return self.out.forward(h), {"h": h, "c": c}, None


class PeekyDecoder(Module):
    """Peeky seq2seq: the encoder summary h_enc is also fed to every LSTM step and to the
    output layer.

    hs = LSTM([Embedding(y); h_enc], h0 = h_enc);  scores = Affine([h_enc; hs])

    h_enc is used 2T + 1 times, so its gradient is the sum of all those uses.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.lstm = LSTM(embed_size + hidden_size, hidden_size, rng, dtype)
        self.out = Affine(2 * hidden_size, vocab_size, rng, dtype)
        self.embed_size = embed_size

    @staticmethod
    def _peek(h_enc, T):
        return np.repeat(h_enc[:, None, :], T, axis=1)  # (N, T, H)

    def forward(self, tgt_in, enc):
        T = tgt_in.shape[1]
        peek = self._peek(enc.h, T)
        xs = np.concatenate([self.embed.forward(tgt_in), peek], axis=2)  # (N, T, D + H)
        hs, _ = self.lstm.forward(xs, h0=enc.h)
        return self.out.forward(np.concatenate([peek, hs], axis=2))  # (N, T, 2H) → (N, T, V)

    def backward(self, dscores):
        H = self.lstm.hidden_dim
        dout = self.out.backward(dscores)  # (N, T, 2H)
        dxs, dh0, _ = self.lstm.backward(dout[:, :, H:])
        self.embed.backward(dxs[:, :, : self.embed_size])
        dh = dh0 + dout[:, :, :H].sum(axis=1) + dxs[:, :, self.embed_size :].sum(axis=1)
        return None, dh

    def start(self, enc):
        return {"h": enc.h, "c": np.zeros_like(enc.h), "peek": enc.h}

    def step(self, tokens, state):
        x = np.concatenate([self.embed.params["W"][tokens], state["peek"]], axis=1)
        h, c = self.lstm.step(x, state["h"], state["c"])
        scores = self.out.forward(np.concatenate([state["peek"], h], axis=1))
        return scores, {"h": h, "c": c, "peek": state["peek"]}, None


class AttentionDecoder(Module):
    """The attention decoder of the chapter.

    dec_hs = LSTM(Embedding(y), h0 = h_enc)          (N, T, H)
    c      = TimeAttention(enc_hs, dec_hs, mask)     (N, T, H)   context per step
    scores = Affine([c; dec_hs])                     (N, T, V)

    Backward: dec_hs reaches the output twice (directly and through the attention scores),
    so its two gradients are added before the LSTM's backward.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.lstm = LSTM(embed_size, hidden_size, rng, dtype)
        self.attention = TimeAttention()
        self.out = Affine(2 * hidden_size, vocab_size, rng, dtype)

    def forward(self, tgt_in, enc):
        dec_hs, _ = self.lstm.forward(self.embed.forward(tgt_in), h0=enc.h)
        context = self.attention.forward(enc.hs, dec_hs, enc.mask)
        return self.out.forward(np.concatenate([context, dec_hs], axis=2))

    def backward(self, dscores):
        H = self.lstm.hidden_dim
        dout = self.out.backward(dscores)  # (N, T, 2H)
        denc_hs, ddec_hs = self.attention.backward(dout[:, :, :H])
        dxs, dh0, _ = self.lstm.backward(ddec_hs + dout[:, :, H:])
        self.embed.backward(dxs)
        return denc_hs, dh0

    def start(self, enc):
        return {"h": enc.h, "c": np.zeros_like(enc.h), "enc": enc}

    def step(self, tokens, state):
        enc = state["enc"]
        h, c = self.lstm.step(self.embed.params["W"][tokens], state["h"], state["c"])
        context, weights = self.attention.step(enc.hs, h, enc.mask)
        scores = self.out.forward(np.concatenate([context, h], axis=1))
        return scores, {"h": h, "c": c, "enc": enc}, weights
