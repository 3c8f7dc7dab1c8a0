"""The encoder: Embedding → (Dropout) → LSTM stack over the source, keeping every hidden state."""

from dataclasses import dataclass

import numpy as np

from jumok.layers.base import Module
from jumok.layers.dropout import Dropout
from jumok.layers.embedding import Embedding
from jumok.layers.stack import LSTMStack


@dataclass
class EncoderOutput:
    """What the decoder may read:

    hs (N, S, H)         the top layer's states, one row per source position
    h, c (N, H)          the top layer's final state (= h_layers[-1], c_layers[-1])
    mask (N, S)          the source mask (True = real token)
    h_layers, c_layers   lists, one (N, H) final state per layer, bottom first
    """

    hs: np.ndarray
    h: np.ndarray
    c: np.ndarray
    mask: np.ndarray
    h_layers: list
    c_layers: list


class Encoder(Module):
    """hs, (h, c) = LSTMStack(Dropout(Embedding(src))), every layer carrying its state across
    padding, so each final state is the state after the source's last real token.

    Bidirectional (`bidirectional=True`): every layer is a forward LSTM and a backward LSTM
    with hidden_size / 2 units each (`jumok.layers.stack.BiLSTM`). The backward one reads each
    source from its last real token to its first (padding stays at the end) and its outputs
    are put back in reading order, so hs[:, s] = [forward state at s ; backward state at s]
    describes source token s from both sides. Layer l > 0 reads these joined outputs of layer
    l − 1. Layer l's final state is h_layers[l] = [h_forward ; h_backward], each direction's
    state after reading the whole real source (the forward one after token L − 1, the
    backward one after token 0); likewise c_layers[l].

    Dropout (`dropout` > 0, training mode only) is applied to the embeddings and between
    layers, drawing its masks from `dropout_rng`.
    """

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32, *, layers=1,
                 bidirectional=False, dropout=0.0, dropout_rng=None):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.drop = Dropout(dropout, dropout_rng)
        self.lstm = LSTMStack(embed_size, hidden_size, layers, rng, dtype, bidirectional=bidirectional,
                              dropout=dropout, dropout_rng=dropout_rng)

    def forward(self, src, mask):
        hs, (h_layers, c_layers) = self.lstm.forward(self.drop.forward(self.embed.forward(src)), mask=mask)
        return EncoderOutput(hs, h_layers[-1], c_layers[-1], mask, h_layers, c_layers)

    def backward(self, dhs, dh_layers, dc_layers=None):
        """dhs (N, S, H) from attention (or zeros); dh_layers (and dc_layers), one (N, H) or
        None per layer, the gradients of the final states (from the decoder's initial state)."""
        dxs, _, _ = self.lstm.backward(dhs, dh_layers, dc_layers)
        self.embed.backward(self.drop.backward(dxs))
