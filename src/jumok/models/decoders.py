"""The three decoders of the chapter. Each one offers the same four methods:

    forward(tgt_in (N, T), enc: EncoderOutput) → scores (N, T, V)      (teacher forcing)
    backward(dscores) → (dhs (N, S, H) or None, dh list)              (into the encoder)
    start(enc) → state                                                 (decoding)
    step(tokens (N,), state) → scores (N, V), state, attention (N, S) or None

Each has an LSTM stack of `layers` layers (`jumok.layers.stack.LSTMStack`), as many as the
encoder: decoder layer l starts from the encoder's layer-l final hidden state
enc.h_layers[l] (for a bidirectional encoder that is [h_forward ; h_backward] of that layer)
and every cell starts at zero, as in the chapter. `dh` is accordingly one (N, H) gradient
per encoder layer. Dropout (training mode only) is applied to the target embeddings,
between layers and to the output layer's input (every non-recurrent connection, as in
Zaremba et al., 2014); `step` never applies it.

The decoding state is the decoder's own small frozen object (`DecoderState`, `PeekyState`,
`AttentionState`), in two parts:
  * per row: arrays with one row per sequence being decoded (batch along axis 0), such as
    the LSTM states h, c (lists, one (N, H) per layer) and the encoder data a step reads;
  * fixed: what is the same for every row, such as `weights`, the LSTM stack's step
    weights (`LSTMStack.step_weights`), built once in `start`.
`state.select(index)` → the state of rows `index` (an int array on the state's device):
every per-row array gathered, the fixed part kept as it is, the input unchanged. Beam
search uses it to expand N sources to N·K beams, to reorder the beams after each step and
to drop sources that are done; it asks nothing else of a state.
"""

from dataclasses import dataclass, replace

import numpy as np

from jumok.backend import array_module
from jumok.layers.affine import Affine
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout
from jumok.layers.embedding import Embedding
from jumok.layers.scores import make_score
from jumok.layers.stack import LSTMStack
from jumok.layers.time_attention import TimeAttention


@dataclass(frozen=True)
class DecoderState:
    """PlainDecoder's decoding state, and the part every decoder's state has.

    per row   h, c      lists, one (N, H) per layer, bottom first
    fixed     weights   `LSTMStack.step_weights()`, or None to rebuild them at every step
    """

    h: list
    c: list
    weights: list | None

    def select(self, index):
        """The state of rows `index` (R,): h and c gathered, weights kept."""
        return replace(self, h=[x[index] for x in self.h], c=[x[index] for x in self.c])


class _Decoder(Module):
    """What the three share: the decoder's initial state from the encoder's."""

    def _h0(self, enc):
        layers = len(self.lstm.layers)
        if len(enc.h_layers) != layers:
            raise ValueError(f"the decoder has {layers} layer(s) but the encoder {len(enc.h_layers)}")
        return list(enc.h_layers)

    def _lstm_start(self, enc):
        """h, c and weights of a decoding state: h from the encoder, c zero, the step weights."""
        h = self._h0(enc)
        return {"h": h, "c": [array_module(x).zeros_like(x) for x in h], "weights": self.lstm.step_weights()}

    def _lstm_step(self, x, state):
        """The LSTM stack's step on x (N, D) from `state` → (new h list, new c list)."""
        return self.lstm.step(x, state.h, state.c, state.weights)


class PlainDecoder(_Decoder):
    """Seq2seq: the encoder's last state is the only thing the decoder is told.

    hs = LSTMStack(Dropout(Embedding(y)), h0 = encoder final h per layer);  scores = Affine(Dropout(hs))
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32, *, layers=1,
                 dropout=0.0, dropout_rng=None):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.drop = Dropout(dropout, dropout_rng)
        self.lstm = LSTMStack(embed_size, hidden_size, layers, rng, dtype, dropout=dropout, dropout_rng=dropout_rng)
        self.out_drop = Dropout(dropout, dropout_rng)
        self.out = Affine(hidden_size, vocab_size, rng, dtype)

    def forward(self, tgt_in, enc):
        hs, _ = self.lstm.forward(self.drop.forward(self.embed.forward(tgt_in)), h0=self._h0(enc))
        return self.out.forward(self.out_drop.forward(hs))

    def backward(self, dscores):
        dxs, dh0, _ = self.lstm.backward(self.out_drop.backward(self.out.backward(dscores)))
        self.embed.backward(self.drop.backward(dxs))
        return None, dh0

    def start(self, enc):
        return DecoderState(**self._lstm_start(enc))

    def step(self, tokens, state):
        h, c = self._lstm_step(self.embed.params["W"][tokens], state)
        return self.out.forward(h[-1]), replace(state, h=h, c=c), None


@dataclass(frozen=True)
class PeekyState(DecoderState):
    """PeekyDecoder's decoding state: DecoderState's, and per row peek (N, H), the encoder
    summary fed to every step."""

    peek: np.ndarray

    def select(self, index):
        return replace(super().select(index), peek=self.peek[index])


class PeekyDecoder(_Decoder):
    """Peeky seq2seq: the encoder summary h_enc (the top encoder layer's final state) is also
    fed to every step of the bottom LSTM layer and to the output layer.

    hs = LSTMStack([Dropout(Embedding(y)); h_enc], h0 = encoder final h per layer)
    scores = Affine(Dropout([h_enc; hs]))

    h_enc is used 2T + 1 times (T inputs, T outputs, and as the top decoder layer's h0, being
    the top encoder layer's final state), so its gradient is the sum of all those uses.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32, *, layers=1,
                 dropout=0.0, dropout_rng=None):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.drop = Dropout(dropout, dropout_rng)
        self.lstm = LSTMStack(embed_size + hidden_size, hidden_size, layers, rng, dtype, dropout=dropout,
                              dropout_rng=dropout_rng)
        self.out_drop = Dropout(dropout, dropout_rng)
        self.out = Affine(2 * hidden_size, vocab_size, rng, dtype)
        self.embed_size = embed_size

    @staticmethod
    def _peek(h_enc, T):
        return array_module(h_enc).repeat(h_enc[:, None, :], T, axis=1)  # (N, T, H)

    def forward(self, tgt_in, enc):
        T = tgt_in.shape[1]
        peek = self._peek(enc.h, T)
        xp = array_module(peek)
        xs = xp.concatenate([self.drop.forward(self.embed.forward(tgt_in)), peek], axis=2)  # (N, T, D + H)
        hs, _ = self.lstm.forward(xs, h0=self._h0(enc))
        joined = xp.concatenate([peek, hs], axis=2)  # (N, T, 2H)
        return self.out.forward(self.out_drop.forward(joined))  # (N, T, V)

    def backward(self, dscores):
        H = self.lstm.hidden_dim
        dout = self.out_drop.backward(self.out.backward(dscores))  # (N, T, 2H)
        dxs, dh0, _ = self.lstm.backward(dout[:, :, H:])
        self.embed.backward(self.drop.backward(dxs[:, :, : self.embed_size]))
        dh0[-1] = dh0[-1] + dout[:, :, :H].sum(axis=1) + dxs[:, :, self.embed_size :].sum(axis=1)
        return None, dh0

    def start(self, enc):
        return PeekyState(**self._lstm_start(enc), peek=enc.h)

    def step(self, tokens, state):
        xp = array_module(state.peek)
        x = xp.concatenate([self.embed.params["W"][tokens], state.peek], axis=1)
        h, c = self._lstm_step(x, state)
        scores = self.out.forward(xp.concatenate([state.peek, h[-1]], axis=1))
        return scores, replace(state, h=h, c=c), None


@dataclass(frozen=True)
class AttentionState(DecoderState):
    """AttentionDecoder's decoding state: DecoderState's, and per row what the attention
    reads from the encoder (nothing else of the EncoderOutput is kept):

    hs (N, S, H)   the encoder's top-layer states
    mask (N, S)    the source mask
    prepared       the score's `prepare(hs)` (e.g. the additive score's hs W1, (N, S, A)),
                   or None for scores without one
    """

    hs: np.ndarray
    mask: np.ndarray
    prepared: np.ndarray | None

    def select(self, index):
        return replace(super().select(index), hs=self.hs[index], mask=self.mask[index],
                       prepared=None if self.prepared is None else self.prepared[index])


class AttentionDecoder(_Decoder):
    """The attention decoder of the chapter, on top of an LSTM stack.

    dec_hs = LSTMStack(Dropout(Embedding(y)), h0 = encoder final h per layer)   (N, T, H) top layer
    c      = TimeAttention(enc_hs, dec_hs, mask)     (N, T, H)   context per step
    scores = Affine(Dropout([c; dec_hs]))            (N, T, V)

    The attention score is `score` (a name from jumok.layers.scores: dot, scaled-dot,
    general, additive), comparing the top decoder layer with the top encoder layer.
    Backward: dec_hs reaches the output twice (directly and through the attention scores),
    so its two gradients are added before the LSTM's backward.

    Decoding: `start` runs the attention's `prepare(enc.hs)` once and keeps it in the state
    (`AttentionState.prepared`); every `step` passes it on.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32, *, layers=1,
                 dropout=0.0, dropout_rng=None, score="dot"):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.drop = Dropout(dropout, dropout_rng)
        self.lstm = LSTMStack(embed_size, hidden_size, layers, rng, dtype, dropout=dropout, dropout_rng=dropout_rng)
        self.attention = TimeAttention(make_score(score, hidden_size, hidden_size, rng, dtype))
        self.out_drop = Dropout(dropout, dropout_rng)
        self.out = Affine(2 * hidden_size, vocab_size, rng, dtype)

    def forward(self, tgt_in, enc):
        dec_hs, _ = self.lstm.forward(self.drop.forward(self.embed.forward(tgt_in)), h0=self._h0(enc))
        context = self.attention.forward(enc.hs, dec_hs, enc.mask)
        joined = array_module(dec_hs).concatenate([context, dec_hs], axis=2)  # (N, T, 2H)
        return self.out.forward(self.out_drop.forward(joined))

    def backward(self, dscores):
        H = self.lstm.hidden_dim
        dout = self.out_drop.backward(self.out.backward(dscores))  # (N, T, 2H)
        denc_hs, ddec_hs = self.attention.backward(dout[:, :, :H])
        dxs, dh0, _ = self.lstm.backward(ddec_hs + dout[:, :, H:])
        self.embed.backward(self.drop.backward(dxs))
        return denc_hs, dh0

    def start(self, enc):
        return AttentionState(**self._lstm_start(enc), hs=enc.hs, mask=enc.mask,
                              prepared=self.attention.prepare(enc.hs))

    def step(self, tokens, state):
        h, c = self._lstm_step(self.embed.params["W"][tokens], state)
        context, weights = self.attention.step(state.hs, h[-1], state.mask, prepared=state.prepared)
        scores = self.out.forward(array_module(context).concatenate([context, h[-1]], axis=1))
        return scores, replace(state, h=h, c=c), weights
