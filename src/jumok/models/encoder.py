"""The encoder: Embedding → LSTM over the source, keeping every hidden state."""

from dataclasses import dataclass

import numpy as np

from jumok.layers.base import Module
from jumok.layers.embedding import Embedding
from jumok.layers.lstm import LSTM


@dataclass
class EncoderOutput:
    """What the decoder may read: all states hs (N, S, H), the final state h, c (N, H),
    and the source mask (N, S) (True = real token)."""

    hs: np.ndarray
    h: np.ndarray
    c: np.ndarray
    mask: np.ndarray


class Encoder(Module):
    """hs, (h, c) = LSTM(Embedding(src)), the LSTM carrying its state across padding, so
    (h, c) is the state after each source's last real token."""

    def __init__(self, vocab_size, embed_size, hidden_size, rng, dtype=np.float32):
        super().__init__()
        self.embed = Embedding(vocab_size, embed_size, rng, dtype)
        self.lstm = LSTM(embed_size, hidden_size, rng, dtype)

    def forward(self, src, mask):
        hs, (h, c) = self.lstm.forward(self.embed.forward(src), mask=mask)
        return EncoderOutput(hs, h, c, mask)

    def backward(self, dhs, dh):
        """dhs (N, S, H) from attention (or zeros), dh (N, H) from the decoder's initial state."""
        dxs, _, _ = self.lstm.backward(dhs, dh)
        self.embed.backward(dxs)
