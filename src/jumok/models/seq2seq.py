"""Sequence-to-sequence models built by composition: an Encoder, a decoder, a loss."""

import numpy as np

from jumok.layers.base import Module
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.models.decoders import AttentionDecoder, PeekyDecoder, PlainDecoder
from jumok.models.encoder import Encoder


def reversal_index(mask):
    """Index that reverses each row within its real length and leaves padding in place.

    mask (N, S) → idx (N, S) with idx[n, s] = L_n − 1 − s for s < L_n, else s. It is its
    own inverse, so the same index turns reversed positions back into reading order.
    """
    lengths = mask.sum(axis=1, keepdims=True)  # (N, 1)
    s = np.arange(mask.shape[1])[None, :]
    return np.where(s < lengths, lengths - 1 - s, s)


class Seq2seqModel(Module):
    """Encoder → decoder → masked softmax cross-entropy.

    `reverse_source` feeds each source backwards (within its real length, padding stays at
    the end), the chapter's trick that shortens the path between the first source tokens
    and the first outputs. Attention weights are handed back in reading order regardless.
    """

    decoder_class = None
    name = None

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size=16, hidden_size=256, *, rng,
                 reverse_source=False, dtype=np.float32):
        super().__init__()
        self.encoder = Encoder(src_vocab_size, embed_size, hidden_size, rng, dtype)
        self.decoder = self.decoder_class(tgt_vocab_size, embed_size, hidden_size, rng, dtype)
        self.loss = SoftmaxCrossEntropy()
        self.reverse_source = reverse_source

    def encode(self, src, src_mask):
        if self.reverse_source:
            src = np.take_along_axis(src, reversal_index(src_mask), axis=1)
        return self.encoder.forward(src, src_mask)

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask):
        """Mean cross-entropy over the real target tokens (teacher forcing)."""
        self.enc = self.encode(src, src_mask)
        scores = self.decoder.forward(tgt_in, self.enc)  # (N, T, V)
        return self.loss.forward(scores, tgt_out, tgt_mask)

    def backward(self, dloss=1.0):
        """Accumulate every parameter gradient (call `zero_grad` first)."""
        dhs, dh = self.decoder.backward(self.loss.backward(dloss))
        if dhs is None:
            dhs = np.zeros_like(self.enc.hs)
        self.encoder.backward(dhs, dh)

    def in_reading_order(self, weights, src_mask):
        """Attention weights (N, T, S) over the encoder's positions → over the source as written."""
        if not self.reverse_source:
            return weights
        return np.take_along_axis(weights, reversal_index(src_mask)[:, None, :], axis=2)


class Seq2seq(Seq2seqModel):
    """Plain encoder–decoder (Sutskever et al., 2014): only the last encoder state is passed."""

    decoder_class = PlainDecoder
    name = "seq2seq"


class PeekySeq2seq(Seq2seqModel):
    """The encoder summary is shown to every decoder step and to the output layer
    (Cho et al., 2014)."""

    decoder_class = PeekyDecoder
    name = "peeky"


class AttentionSeq2seq(Seq2seqModel):
    """Decoder attends over all encoder states at every step (Bahdanau et al., 2015;
    dot-product score of Luong et al., 2015)."""

    decoder_class = AttentionDecoder
    name = "attention"


MODELS = {cls.name: cls for cls in (Seq2seq, PeekySeq2seq, AttentionSeq2seq)}


def build_model(config, src_vocab_size, tgt_vocab_size, rng):
    """The model a `Config` describes."""
    return MODELS[config.model](src_vocab_size, tgt_vocab_size, config.embed_size, config.hidden_size,
                                rng=rng, reverse_source=config.reverse)
