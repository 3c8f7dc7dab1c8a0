"""The attention seq2seq model in its plain, step-by-step form: a readable reference.

`ReferenceAttentionSeq2seq` computes exactly the function of
`jumok.models.AttentionSeq2seq` with the dot score, one LSTM layer and no dropout, and has
the same parameter names and shapes, so either model can load the other's parameters:

    encoder.embed.W (Vs, D)   encoder.lstm.Wx (D, 4H)   encoder.lstm.Wh (H, 4H)   encoder.lstm.b (4H,)
    decoder.embed.W (Vt, D)   decoder.lstm.Wx (D, 4H)   decoder.lstm.Wh (H, 4H)   decoder.lstm.b (4H,)
    decoder.out.W (2H, Vt)    decoder.out.b (Vt,)

It is written the way the chapter writes it, one time step at a time:

  * `TimeEmbedding` looks up one column of tokens per step;
  * `TimeLSTM` makes one `LSTMCell` object per step, each doing its own
    x @ Wx + h_prev @ Wh + b, and each adding its own weight gradients
    (dWx += xᵀ da, dWh += h_prevᵀ da, db += Σ da) in backward;
  * attention is `jumok.chapter.attention.StepwiseTimeAttention` (Repeat → Hadamard → Sum,
    one `Attention` per decoder step);
  * `TimeAffine` applies the output layer step by step.

Nothing here is batched over time, which is what makes it the yardstick for the fast model
(tests/chapter/test_reference.py proves the two equal; `python -m benchmarks` times both).
"""

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from jumok.chapter.attention import Attention, StepwiseTimeAttention
from jumok.functional import sigmoid
from jumok.layers.affine import Affine
from jumok.layers.base import Module
from jumok.layers.embedding import Embedding
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.layers.lstm import LSTM
from jumok.models.seq2seq import Seq2seqModel


class TimeEmbedding(Embedding):
    """y[:, t] = W[ids[:, t]] for t = 0 … T−1; backward scatters dy[:, t] back into W's rows.

    Shapes: ids (N, T) int → y (N, T, D); parameter W (V, D), set up as in `Embedding`.
    """

    def forward(self, ids):
        self.ids = ids
        N, T = ids.shape
        W = self.params["W"]
        out = np.empty((N, T, W.shape[1]), dtype=W.dtype)
        for t in range(T):
            out[:, t] = W[ids[:, t]]  # (N, D)
        return out

    def backward(self, dy):
        for t in range(self.ids.shape[1]):
            np.add.at(self.grads["W"], self.ids[:, t], dy[:, t])  # repeated ids add up


class LSTMCell:
    """One LSTM step; holds what its own backward needs. Gate order f, g, i, o:

        a = x Wx + h_prev Wh + b       (N, 4H)
        f, g, i, o = σ(a_f), tanh(a_g), σ(a_i), σ(a_o)
        c = f ⊙ c_prev + g ⊙ i;   h = o ⊙ tanh c

    With a step mask m (N, 1), True = real token, padded rows keep their state:
    h = m ? h_new : h_prev, c = m ? c_new : c_prev.

    This is jumok's one readable LSTM cell: `jumok.layers.lstm.LSTM` does the same arithmetic
    in place, gate blocks reordered and every gate activated by one tanh (`activate`), and
    tests/layers/test_layers.py proves the two equal step by step.
    """

    def __init__(self, lstm):
        self.lstm = lstm  # the TimeLSTM (or any LSTM) that owns Wx, Wh, b and their gradients

    def forward(self, x, h_prev, c_prev, m=None):
        Wx, Wh, b = (self.lstm.params[k] for k in ("Wx", "Wh", "b"))
        H = h_prev.shape[1]
        a = x @ Wx + h_prev @ Wh + b  # (N, 4H)
        f = sigmoid(a[:, :H])
        g = np.tanh(a[:, H : 2 * H])
        i = sigmoid(a[:, 2 * H : 3 * H])
        o = sigmoid(a[:, 3 * H :])
        c = f * c_prev + g * i
        tanh_c = np.tanh(c)
        h = o * tanh_c
        if m is not None:
            h = np.where(m, h, h_prev)
            c = np.where(m, c, c_prev)
        self.cache = (x, h_prev, c_prev, f, g, i, o, tanh_c, m)
        return h, c

    def backward(self, dh, dc):
        """dh, dc (N, H) arriving at this step's h, c → dx (N, D), dh_prev, dc_prev (N, H)."""
        x, h_prev, c_prev, f, g, i, o, tanh_c, m = self.cache
        Wx, Wh = self.lstm.params["Wx"], self.lstm.params["Wh"]
        dc_t = dc + dh * o * (1 - tanh_c**2)
        da = np.concatenate([
            dc_t * c_prev * f * (1 - f),  # da_f
            dc_t * i * (1 - g**2),  # da_g
            dc_t * g * i * (1 - i),  # da_i
            dh * tanh_c * o * (1 - o),  # da_o
        ], axis=1)  # (N, 4H)
        if m is not None:
            da = da * m  # padded rows: the cell did not run
        grads = self.lstm.grads
        grads["Wx"] += x.T @ da
        grads["Wh"] += h_prev.T @ da
        grads["b"] += da.sum(axis=0)
        dx = da @ Wx.T
        dh_prev = da @ Wh.T
        dc_prev = dc_t * f
        if m is not None:  # padded rows pass dh, dc straight through
            dh_prev = dh_prev + np.where(m, 0, dh)
            dc_prev = np.where(m, dc_prev, dc)
        return dx, dh_prev, dc_prev


class TimeLSTM(LSTM):
    """An LSTM run over T steps as T `LSTMCell` objects sharing Wx (D, 4H), Wh (H, 4H), b (4H,)
    (set up as in `jumok.layers.lstm.LSTM`; only the computation differs).

    Shapes: xs (N, T, D), h0/c0 (N, H) or None (zeros), mask (N, T) or None
    → hs (N, T, H), (h_T, c_T) each (N, H).
    """

    def forward(self, xs, h0=None, c0=None, mask=None):
        N, T, _ = xs.shape
        H = self.hidden_dim
        h = np.zeros((N, H), dtype=xs.dtype) if h0 is None else h0
        c = np.zeros((N, H), dtype=xs.dtype) if c0 is None else c0
        self.cells = [LSTMCell(self) for _ in range(T)]
        hs = np.empty((N, T, H), dtype=xs.dtype)
        for t, cell in enumerate(self.cells):
            m = None if mask is None else mask[:, t, None]  # (N, 1)
            h, c = cell.forward(xs[:, t], h, c, m)
            hs[:, t] = h
        return hs, (h, c)

    def step(self, x, h, c):
        """One step for decoding (a throw-away cell): x (N, D), h, c (N, H) → h, c."""
        return LSTMCell(self).forward(x, h, c)

    def backward(self, dhs, dh_last=None, dc_last=None):
        """dhs (N, T, H), dh_last/dc_last (N, H) or None → dxs (N, T, D), dh0, dc0 (N, H)."""
        N, T, H = dhs.shape
        dh = np.zeros((N, H), dtype=dhs.dtype) if dh_last is None else dh_last
        dc = np.zeros((N, H), dtype=dhs.dtype) if dc_last is None else dc_last
        dxs = None
        for t in reversed(range(T)):
            dx, dh, dc = self.cells[t].backward(dh + dhs[:, t], dc)
            if dxs is None:
                dxs = np.empty((N, T, dx.shape[1]), dtype=dx.dtype)
            dxs[:, t] = dx
        return dxs, dh, dc


class TimeAffine(Affine):
    """y[:, t] = x[:, t] W + b, one step at a time (parameters as in `Affine`).
    Shapes: x (N, T, I) → y (N, T, O)."""

    def forward(self, x):
        self.x = x
        W, b = self.params["W"], self.params["b"]
        out = np.empty(x.shape[:2] + (W.shape[1],), dtype=x.dtype)
        for t in range(x.shape[1]):
            out[:, t] = x[:, t] @ W + b
        return out

    def backward(self, dy):
        W = self.params["W"]
        dx = np.empty_like(self.x)
        for t in range(dy.shape[1]):
            self.grads["W"] += self.x[:, t].T @ dy[:, t]
            self.grads["b"] += dy[:, t].sum(axis=0)
            dx[:, t] = dy[:, t] @ W.T
        return dx


class ReferenceEncoder(Module):
    """hs, (h, c) = TimeLSTM(TimeEmbedding(src), mask): every state kept for attention."""

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = TimeEmbedding(vocab_size, embed_size, rng, dtype)
        self.lstm = TimeLSTM(embed_size, hidden_size, rng, dtype)

    def forward(self, src, mask):
        hs, (h, c) = self.lstm.forward(self.embed.forward(src), mask=mask)
        return SimpleNamespace(hs=hs, h=h, c=c, mask=mask)  # hs (N, S, H), h, c (N, H)

    def backward(self, dhs, dh):
        dxs, _, _ = self.lstm.backward(dhs, dh)
        self.embed.backward(dxs)


@dataclass(frozen=True)
class ReferenceState:
    """The reference decoder's decoding state, every part per row (it keeps nothing fixed):
    h, c (N, H), and the encoder's hs (N, S, H) and mask (N, S) for the attention."""

    h: np.ndarray
    c: np.ndarray
    hs: np.ndarray
    mask: np.ndarray

    def select(self, index):
        """The state of rows `index` (R,), for beam search (see `jumok.models.decoders`)."""
        return ReferenceState(self.h[index], self.c[index], self.hs[index], self.mask[index])


class ReferenceAttentionDecoder(Module):
    """dec_hs = TimeLSTM(TimeEmbedding(y), h0 = encoder's final h, c0 = 0)     (N, T, H)
    context = StepwiseTimeAttention(enc_hs, dec_hs, mask)                      (N, T, H)
    scores  = TimeAffine([context; dec_hs])                                    (N, T, V)
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = TimeEmbedding(vocab_size, embed_size, rng, dtype)
        self.lstm = TimeLSTM(embed_size, hidden_size, rng, dtype)
        self.attention = StepwiseTimeAttention()  # no parameters
        self.out = TimeAffine(2 * hidden_size, vocab_size, rng, dtype)

    def forward(self, tgt_in, enc):
        dec_hs, _ = self.lstm.forward(self.embed.forward(tgt_in), h0=enc.h)
        context = self.attention.forward(enc.hs, dec_hs, enc.mask)
        return self.out.forward(np.concatenate([context, dec_hs], axis=2))

    def backward(self, dscores):
        H = self.lstm.hidden_dim
        dout = self.out.backward(dscores)  # (N, T, 2H)
        denc_hs, ddec_hs = self.attention.backward(dout[:, :, :H])
        dxs, dh0, _ = self.lstm.backward(ddec_hs + dout[:, :, H:])  # dec_hs used twice: add
        self.embed.backward(dxs)
        return denc_hs, dh0

    def start(self, enc):
        return ReferenceState(enc.h, np.zeros_like(enc.h), enc.hs, enc.mask)

    def step(self, tokens, state):
        """tokens (N,) → scores (N, V), next state, attention weights (N, S)."""
        h, c = self.lstm.step(self.embed.params["W"][tokens], state.h, state.c)
        attention = Attention()
        context = attention.forward(state.hs, h, state.mask)
        W, b = self.out.params["W"], self.out.params["b"]
        scores = np.concatenate([context, h], axis=1) @ W + b
        return scores, ReferenceState(h, c, state.hs, state.mask), attention.weights


class ReferenceAttentionSeq2seq(Seq2seqModel):
    """Step-by-step twin of `AttentionSeq2seq(..., attention="dot", layers=1, dropout=0)`.

    Same constructor arguments (those that apply), same parameter names, and the same
    random draws in the same order, so the same `rng` seed gives the same parameters.
    forward(src, src_mask, tgt_in, tgt_out, tgt_mask) → mean cross-entropy over real targets;
    backward() accumulates every gradient (call zero_grad first). Works with
    `jumok.decoding.greedy_decode` and `beam_search`. Source reversal, the loss and the backward wiring are
    `Seq2seqModel`'s; only the encoder and decoder are the step-by-step ones.
    """

    name = "attention-reference"
    map_names = ("cross",)

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size=16, hidden_size=256, *, rng,
                 reverse_source=False, dtype=np.float32):
        Module.__init__(self)  # Seq2seqModel's own set-up builds the fast layers
        self.encoder = ReferenceEncoder(src_vocab_size, embed_size, hidden_size, rng, dtype)
        self.decoder = ReferenceAttentionDecoder(tgt_vocab_size, embed_size, hidden_size, rng, dtype)
        self.loss = SoftmaxCrossEntropy()
        self.reverse_source = reverse_source
