"""Sequence-to-sequence models built by composition: an Encoder, a decoder, a loss."""

import numpy as np

from jumok.backend import array_module
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout
from jumok.layers.embedding import INIT_SCALE
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.layers.lstm import LSTM
from jumok.layers.stack import reversal_index
from jumok.maps import CROSS, kinds
from jumok.models.costs import Work, lstm_row_cost
from jumok.models.decoders import AttentionDecoder, PeekyDecoder, PlainDecoder
from jumok.models.encoder import Encoder


class Seq2seqModel(Module):
    """Encoder → decoder → masked softmax cross-entropy.

    `reverse_source` feeds each source backwards (within its real length, padding stays at
    the end), the chapter's trick that shortens the path between the first source tokens
    and the first outputs. Attention weights are handed back in reading order regardless.

    `layers` LSTM layers in the encoder and as many in the decoder (decoder layer l starts
    from encoder layer l's final h); `bidirectional` makes every encoder layer read both ways
    with hidden_size / 2 units per direction (see `Encoder`); `dropout` (training mode only)
    on the embeddings, between layers and on the decoder's output-layer input; `attention`
    names the attention score (attention model only; ignored by the others).

    `embed_scale` (default: the chapter's 0.01) is the standard deviation of both embedding
    tables at initialisation: the same N(0, 1) draws, rescaled. With the chapter's LSTM
    weights N(0, 1)/√D the inputs' share of a gate's pre-activation has about this standard
    deviation, so at 0.01 the encoder's first states hardly depend on the characters read;
    1.0 (nn.Embedding's N(0, 1)) makes it of order one (docs/results.md, "Why PyTorch learns
    faster on the same maths").

    `lstm_init` names how every LSTM's weights are drawn (`jumok.layers.lstm.LSTM_INITS`):
    ``"chapter"`` (the default: Wx N(0, 1)/√D, Wh N(0, 1)/√H, b 0) or ``"uniform"``
    (PyTorch's U(±1/√H) for all three). Any other scheme is drawn from `rng` after the
    chapter's weights, so the chapter's draws, and every other parameter, stay the same.

    `label_smoothing` ε trains towards (1 − ε) onehot(y) + ε/V (`SoftmaxCrossEntropy`); 0, the
    chapter's plain cross-entropy, by default.

    Dropout masks come from one generator, `self.dropout_rng`, shared by every dropout
    module: `dropout_rng` if given, else one seeded from `rng` *after* the parameters are
    drawn (so a model with dropout starts from the same weights as one without, and with
    dropout 0 `rng` is not touched at all). `seed_dropout(seed)` restarts it, e.g. to repeat
    exactly the same masks; `dropout_generators()` lists it (to save and restore its state).

    It speaks the model interface (`jumok.models.interface`): `map_names` are the attention
    maps its `step` can hand back (``cross`` for the attention decoder, none for the others,
    so the `attention` score matters only there); `defaults` its own settings (none: the
    LSTM models train on `Config`'s and the task's).
    """

    decoder_class = None
    name = None
    map_names = ()
    self_map_names = ()  # no self-attention
    max_positions = None  # no positions table: any length
    defaults = {}
    settings = ("embed_size", "hidden_size", "layers", "bidirectional", "dropout", "attention", "reverse",
                "embed_scale", "lstm_init")

    @classmethod
    def check_config(cls, config):
        """Nothing beyond `Config`'s own checks."""

    @classmethod
    def describe(cls, config):
        """The settings that decide parameter shapes, for error messages."""
        parts = [f"embed_size {config.embed_size}", f"hidden_size {config.hidden_size}", f"layers {config.layers}"]
        if config.bidirectional:
            parts.append("bidirectional")
        if cls.map_names and config.attention != "dot":
            parts.append(f"attention {config.attention}")
        return parts

    def __init__(self, src_vocab_size, tgt_vocab_size, embed_size=16, hidden_size=256, *, rng,
                 reverse_source=False, dtype=np.float32, layers=1, bidirectional=False, dropout=0.0,
                 attention="dot", dropout_rng=None, embed_scale=INIT_SCALE, lstm_init="chapter",
                 label_smoothing=0.0):
        super().__init__()
        # Until seeded at the end, the dropout modules hold a generator that is never drawn from.
        self.dropout_rng = np.random.default_rng(0) if dropout_rng is None else dropout_rng
        common = dict(layers=layers, dropout=dropout, dropout_rng=self.dropout_rng)
        self.encoder = Encoder(src_vocab_size, embed_size, hidden_size, rng, dtype, bidirectional=bidirectional,
                               **common)
        self.decoder = self.decoder_class(tgt_vocab_size, embed_size, hidden_size, rng, dtype, **common,
                                          **self._decoder_options(attention))
        if embed_scale != INIT_SCALE:
            for embed in (self.encoder.embed, self.decoder.embed):
                embed.params["W"] *= embed_scale / INIT_SCALE
        if lstm_init != "chapter":
            for lstm in self._modules_of(LSTM):
                lstm.initialise(lstm_init, rng)
        self.loss = SoftmaxCrossEntropy(smoothing=label_smoothing)
        self.reverse_source = reverse_source
        if dropout_rng is None and dropout > 0:
            self.seed_dropout(int(rng.integers(2**63)))

    @classmethod
    def from_config(cls, config, src_vocab_size, tgt_vocab_size, rng):
        """The model of a `Config`'s settings; its parameters are drawn from `rng` in a fixed
        order (encoder, then decoder; then, only with dropout, one draw seeding the dropout
        masks)."""
        return cls(src_vocab_size, tgt_vocab_size, config.embed_size, config.hidden_size, rng=rng,
                   reverse_source=config.reverse, layers=config.layers, bidirectional=config.bidirectional,
                   dropout=config.dropout, attention=config.attention, embed_scale=config.embed_scale,
                   lstm_init=config.lstm_init, label_smoothing=config.label_smoothing)

    def _decoder_options(self, attention):
        return {}

    def _modules_of(self, kind):
        """Every sub-module that is a `kind`, in the order of `modules` (depth first)."""
        return (module for module in self.modules() if isinstance(module, kind))

    def _dropouts(self):
        return self._modules_of(Dropout)

    def dropout_generators(self):
        """The random generators of the dropout modules, each once, in a fixed order: the one
        they share when the model has dropout, none without."""
        return list({id(module.rng): module.rng for module in self._dropouts()}.values())

    def seed_dropout(self, seed):
        """Give every dropout module a fresh generator `np.random.default_rng(seed)` (an int,
        a SeedSequence or a Generator): the same seed gives the same dropout masks."""
        self.dropout_rng = np.random.default_rng(seed)
        for module in self._dropouts():
            module.rng = self.dropout_rng

    def encode(self, src, src_mask):
        if self.reverse_source:
            src = array_module(src).take_along_axis(src, reversal_index(src_mask), axis=1)
        return self.encoder.forward(src, src_mask)

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask, count=None):
        """Mean cross-entropy over the real target tokens (teacher forcing); `count`: divide
        by this many instead (a data-parallel worker's slice: the whole batch's count)."""
        self.enc = self.encode(src, src_mask)
        scores = self.decoder.forward(tgt_in, self.enc)  # (N, T, V)
        return self.loss.forward(scores, tgt_out, tgt_mask, count)

    def backward(self, dloss=1.0):
        """Accumulate every parameter gradient (call `zero_grad` first)."""
        dhs, dh = self.decoder.backward(self.loss.backward(dloss))
        if dhs is None:
            dhs = array_module(self.enc.hs).zeros_like(self.enc.hs)
        self.encoder.backward(dhs, dh)

    def start(self, enc):
        """The decoding state of an encoded batch (the decoder's own, see `jumok.models.decoders`)."""
        return self.decoder.start(enc)

    def step(self, tokens, state, maps=False):
        """tokens (N,) → scores (N, V), the next state, and with `maps` (True, or kinds that
        include ``cross``) the attention of this step as {"cross": (N, S)} in reading order
        ({} without, or without attention)."""
        scores, state, weights = self.decoder.step(tokens, state)
        if CROSS not in kinds(maps) or weights is None:
            return scores, state, {}
        return scores, state, {"cross": self.in_reading_order(weights[:, None, :], state.mask)[:, 0]}

    def source_maps(self, enc):
        """{}: an LSTM encoder has no self-attention."""
        return {}

    def row_cost(self, source_length, steps, beam=1, maps=(), rows=1):
        """The most bytes decoding `rows` sources of `source_length` tokens (padded) holds at once, up to
        `steps` steps with `beam` rows and the maps `maps` asks for
        (`jumok.models.costs.lstm_row_cost`)."""
        W = self.decoder.out.params["W"]
        work = Work(source_length, steps, beam, tuple(kinds(maps)), rows)
        return lstm_row_cost(self._cost_shape(), W.shape[1], W.dtype.itemsize, work)

    def _cost_shape(self):
        """(E, H, L, bidirectional, attends, A) for `lstm_row_cost`."""
        lstm = self.decoder.lstm
        score = getattr(getattr(self.decoder, "attention", None), "score", None)
        A = score.params["W1"].shape[1] if score is not None and "W1" in score.params else 0
        return (self.encoder.embed.params["W"].shape[1], lstm.hidden_dim, len(getattr(lstm, "layers", [lstm])),
                getattr(getattr(self.encoder, "lstm", None), "bidirectional", False), bool(self.map_names), A)

    def in_reading_order(self, weights, src_mask):
        """Attention weights (N, T, S) over the encoder's positions → over the source as written."""
        if not self.reverse_source:
            return weights
        return array_module(weights).take_along_axis(weights, reversal_index(src_mask)[:, None, :], axis=2)


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
    """Decoder attends over all encoder states at every step (Bahdanau et al., 2015); the
    score is chosen by `attention` (default the dot product of Luong et al., 2015)."""

    decoder_class = AttentionDecoder
    name = "attention"
    map_names = ("cross",)

    def _decoder_options(self, attention):
        return {"score": attention}


LSTM_MODELS = {cls.name: cls for cls in (AttentionSeq2seq, Seq2seq, PeekySeq2seq)}
"""The LSTM models by name (`jumok.models.registry.MODELS` adds the Transformer)."""

