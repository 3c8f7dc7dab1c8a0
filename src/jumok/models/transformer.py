"""The Transformer encoder–decoder (Vaswani et al., 2017), pre-norm, behind the model interface.

Attention's next chapter: the chapter's decoder asks the encoder's states where to look at
every step; here attention also replaces the recurrence. Every layer's backward is its own
(`jumok.layers`); this module only wires them, and its backward runs the same wiring in
reverse, adding the gradients of every input that feeds two places (the residual paths, the
encoder's output read by every decoder layer).

    encoder   x = Drop(ScaledEmbedding(src) + P)                                 (N, S, D)
              per layer:  x ← x + Drop(SelfAttention(LN(x), padding mask))
                          x ← x + Drop(FeedForward(LN(x)))
              memory = LN(x)
    decoder   y = Drop(ScaledEmbedding(tgt_in) + P)                              (N, T, D)
              per layer:  y ← y + Drop(CausalSelfAttention(LN(y)))
                          y ← y + Drop(CrossAttention(LN(y), memory, source mask))
                          y ← y + Drop(FeedForward(LN(y)))
              scores = Affine(LN(y))                                             (N, T, V)
    loss      masked softmax cross-entropy (label smoothing ε over all V), divided by the
              real target tokens of the whole global batch

Pre-norm (each sub-layer reads LN(x), the residual path stays an identity, a final LN closes
each stack; Xiong et al., 2020) trains without a learning-rate warm-up being critical and is
what nn.Transformer calls ``norm_first=True``. The output layer is an `Affine` of its own,
not tied to the target embedding: the embedding is scaled by √D and the output is not, and a
small character vocabulary gains little from sharing (stated, not measured).

Initialisation: embeddings N(0, 1/D) (so √D · row has unit variance, the scale of the
positions added to it), attention and feed-forward projections Xavier-uniform with zero
biases, LayerNorm γ = 1, β = 0, the output layer N(0, 1/D) (`Affine`). Parameters are drawn
from `rng` in a fixed order: embeddings, encoder layers, decoder layers, output layer; with
dropout one more draw seeds the dropout masks, as `Seq2seqModel` does.

Decoding with a cache: `start` projects the encoder's output into every decoder layer's
cross-attention keys and values once; each `step` runs only the new position through the
decoder, its self-attention reading the keys and values of the positions written before
(kept per layer in the state, one position added a step), so a step costs one position's
work instead of the whole prefix's, and its scores are teacher forcing's. With
``maps=True`` it hands back each layer's and head's cross-attention of that position as
``cross/L/H``; asked for the kind ``dec-self`` (`jumok.maps.kinds`), each one's causal
self-attention as ``dec-self/L/H``; `source_maps` reads the encoder's as ``enc-self/L/H``.
A source's beams share its cross keys and values (`TransformerState`), and `row_cost`
counts the bytes one source's decoding holds.
"""

from dataclasses import dataclass, replace

import numpy as np

from jumok.backend import array_module
from jumok.errors import ConfigError
from jumok.layers.affine import Affine
from jumok.layers.base import Module
from jumok.layers.dropout import Dropout
from jumok.layers.embedding import ScaledEmbedding
from jumok.layers.feed_forward import FeedForward
from jumok.layers.layer_norm import LayerNorm
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.layers.multi_head import MultiHeadAttention
from jumok.layers.positions import Positions
from jumok.maps import CROSS, DEC_SELF, ENC_SELF, kinds
from jumok.models.costs import Work, transformer_row_cost


@dataclass(frozen=True)
class Sizes:
    """A Transformer's sizes: model width D, heads h (D = h · d_h), feed-forward width F,
    layers per stack, dropout (embeddings, sub-layer outputs, the feed-forward's hidden
    activations), attention dropout (on the attention weights), the longest position."""

    width: int = 128
    heads: int = 4
    ff_width: int = 512
    layers: int = 3
    dropout: float = 0.1
    attention_dropout: float = 0.0
    max_len: int = 1024
    activation: str = "relu"


class EncoderLayer(Module):
    """x ← x + Drop(SelfAttention(LN(x))); x ← x + Drop(FeedForward(LN(x))).   (N, S, D)"""

    def __init__(self, sizes, rng, dtype, dropout_rng):
        super().__init__()
        D, p = sizes.width, sizes.dropout
        self.norm1 = LayerNorm(D, dtype)
        self.attention = MultiHeadAttention(D, sizes.heads, rng, dtype, dropout=sizes.attention_dropout,
                                            dropout_rng=dropout_rng)
        self.drop1 = Dropout(p, dropout_rng)
        self.norm2 = LayerNorm(D, dtype)
        self.feed_forward = FeedForward(D, sizes.ff_width, rng, dtype, activation=sizes.activation, dropout=p,
                                        dropout_rng=dropout_rng)
        self.drop2 = Dropout(p, dropout_rng)

    def forward(self, x, mask):
        x = x + self.drop1.forward(self.attention.forward(self.norm1.forward(x), key_mask=mask, query_mask=mask))
        return x + self.drop2.forward(self.feed_forward.forward(self.norm2.forward(x)))

    def backward(self, dx):
        dx = dx + self.norm2.backward(self.feed_forward.backward(self.drop2.backward(dx)))  # two paths add
        da, _ = self.attention.backward(self.drop1.backward(dx))
        return dx + self.norm1.backward(da)


class DecoderLayer(Module):
    """y ← y + Drop(CausalSelfAttention(LN(y))); y ← y + Drop(CrossAttention(LN(y), memory));
    y ← y + Drop(FeedForward(LN(y))).   y (N, T, D), memory (N, S, D)"""

    def __init__(self, sizes, rng, dtype, dropout_rng):
        super().__init__()
        D, h, p, q = sizes.width, sizes.heads, sizes.dropout, sizes.attention_dropout
        self.norm1 = LayerNorm(D, dtype)
        self.self_attention = MultiHeadAttention(D, h, rng, dtype, causal=True, dropout=q, dropout_rng=dropout_rng)
        self.drop1 = Dropout(p, dropout_rng)
        self.norm2 = LayerNorm(D, dtype)
        self.cross_attention = MultiHeadAttention(D, h, rng, dtype, dropout=q, dropout_rng=dropout_rng)
        self.drop2 = Dropout(p, dropout_rng)
        self.norm3 = LayerNorm(D, dtype)
        self.feed_forward = FeedForward(D, sizes.ff_width, rng, dtype, activation=sizes.activation, dropout=p,
                                        dropout_rng=dropout_rng)
        self.drop3 = Dropout(p, dropout_rng)

    def forward(self, y, tgt_mask, memory, src_mask):
        a = self.self_attention.forward(self.norm1.forward(y), key_mask=tgt_mask, query_mask=tgt_mask)
        y = y + self.drop1.forward(a)
        c = self.cross_attention.forward(self.norm2.forward(y), memory, key_mask=src_mask, query_mask=tgt_mask)
        y = y + self.drop2.forward(c)
        return y + self.drop3.forward(self.feed_forward.forward(self.norm3.forward(y)))

    def backward(self, dy):
        """dy (N, T, D) → (dy below, dmemory (N, S, D))."""
        dy = dy + self.norm3.backward(self.feed_forward.backward(self.drop3.backward(dy)))
        dc, dmemory = self.cross_attention.backward(self.drop2.backward(dy))
        dy = dy + self.norm2.backward(dc)
        da, _ = self.self_attention.backward(self.drop1.backward(dy))
        return dy + self.norm1.backward(da), dmemory


@dataclass(frozen=True)
class Memory:
    """What `encode` hands the decoder: states (N, S, D), the encoder's output, the source
    mask (N, S), and each encoder layer's self-attention weights (N, h, S, S), the arrays the
    layers computed (no copies), for `source_maps`."""

    states: np.ndarray
    mask: np.ndarray
    weights: tuple = ()


@dataclass(frozen=True)
class TransformerState:
    """The decoding state. Per row (`select(index)` gathers them):

    keys, values   per decoder layer, its self-attention's keys and values of the positions
                   written so far, (R, h, t, d_h) each: the cache a step extends by one

    Per source, read by every row of that source, never copied for a row:

    cross          per decoder layer, its cross-attention's (K, V) of the encoder's output,
                   (M, h, S, d_h) each, projected once in `start`
    mask           the source mask (M, S)
    source         (R,) which source each row reads, or None: row r reads source r
    group          k when the rows are each source's k rows in turn (source = 0…0 1…1 …, as
                   beam search keeps them): a step then attends with a source's k rows as k
                   queries of one product, no keys gathered; else None

    Beam search's K rows of a source so share its cross keys and values: a selection copies
    the cache, never the (S, D) projections of the source, and when sources leave, the state
    keeps only the sources its rows still read. The position t is the cache's length, the
    same for every row.
    """

    keys: list
    values: list
    cross: list
    mask: np.ndarray
    source: np.ndarray | None = None
    group: int | None = None

    def select(self, index):
        xp = array_module(index)
        source = index if self.source is None else self.source[index]
        cross, mask = self.cross, self.mask
        kept = xp.unique(source)  # the sources still read, in order
        if kept.size < mask.shape[0]:
            cross, mask = [(K[kept], V[kept]) for K, V in cross], mask[kept]
            source = xp.searchsorted(kept, source)
        M, R = mask.shape[0], source.size
        grouped = R % M == 0 and bool((source == xp.repeat(xp.arange(M), R // M)).all())
        return TransformerState([k[index] for k in self.keys], [v[index] for v in self.values], cross, mask,
                                source, R // M if grouped else None)

    @property
    def position(self):
        return self.keys[0].shape[2]

    def cross_attend(self, attention, x, layer):
        """`attention.attend` of x (R, 1, D) against decoder layer `layer`'s cross keys and values
        → out (R, 1, D), P (R, h, 1, S). Grouped rows read their source's keys by broadcasting
        (no copy); other selections gather them."""
        K, V = self.cross[layer]
        if self.source is None:
            return attention.attend(x, K, V, key_mask=self.mask)
        if self.group is None:
            rows = self.source
            return attention.attend(x, K[rows], V[rows], key_mask=self.mask[rows])
        (M, h, S, _), (R, _, D) = K.shape, x.shape
        out, P = attention.attend(x.reshape(M, self.group, 1, D), K[:, None], V[:, None],
                                  key_mask=self.mask[:, None])  # P (M, k, h, 1, S)
        return out.reshape(R, 1, D), P.reshape(R, h, 1, S)


class TransformerSeq2seq(Module):
    """The Transformer encoder–decoder (see the module docstring). `sizes` is a `Sizes`;
    `label_smoothing` as `SoftmaxCrossEntropy`; dropout masks from one generator shared by
    every dropout layer (`dropout_rng`, or one seeded from `rng` after the parameters)."""

    name = "transformer"
    settings = ("hidden_size", "layers", "heads", "ff_size", "dropout", "attention_dropout")
    defaults = {"hidden_size": 64, "layers": 2, "heads": 4, "dropout": 0.1, "lr": 3e-3, "warmup_steps": 300,
                "beta2": 0.98}
    """Its own settings (over the task's, under the user's): a small model, width 64 in two
    blocks a stack, that the robustness suite's pilots found to learn users' files in the
    fewest seconds (docs/results.md#the-transformer-on-users-files); Adam at 3e-3 after a
    300-step linear warm-up, with β₂ 0.98 so its step sizes follow the fast-changing
    gradients of the first thousand steps."""

    @classmethod
    def check_config(cls, config):
        """The model width must split evenly into the heads."""
        if config.hidden_size % config.heads:
            raise ConfigError(f"the transformer's hidden_size (its model width) must be a multiple of heads; got "
                              f"hidden_size {config.hidden_size} and heads {config.heads}")

    @classmethod
    def describe(cls, config):
        """The settings that decide parameter shapes, for error messages."""
        return [f"hidden_size {config.hidden_size}", f"heads {config.heads}",
                f"ff_size {cls.sizes_of(config).ff_width}", f"layers {config.layers}"]

    @staticmethod
    def sizes_of(config):
        """The `Sizes` of a `Config`: model width `hidden_size`, feed-forward width `ff_size`
        (0: four times the model width, as in Vaswani et al.)."""
        return Sizes(width=config.hidden_size, heads=config.heads, ff_width=config.ff_size or 4 * config.hidden_size,
                     layers=config.layers, dropout=config.dropout, attention_dropout=config.attention_dropout)

    @classmethod
    def from_config(cls, config, src_vocab_size, tgt_vocab_size, rng):
        """The model of a `Config`'s settings, its parameters drawn from `rng` (see the module
        docstring for the order)."""
        return cls(src_vocab_size, tgt_vocab_size, cls.sizes_of(config), rng=rng,
                   label_smoothing=config.label_smoothing)

    def __init__(self, src_vocab_size, tgt_vocab_size, sizes=Sizes(), *, rng, dtype=np.float32, label_smoothing=0.0,
                 dropout_rng=None):
        super().__init__()
        self.sizes = sizes
        self.dropout_rng = np.random.default_rng(0) if dropout_rng is None else dropout_rng
        D, shared = sizes.width, self.dropout_rng
        self.src_embed = ScaledEmbedding(src_vocab_size, D, rng, dtype)
        self.tgt_embed = ScaledEmbedding(tgt_vocab_size, D, rng, dtype)
        self.positions = Positions(D, sizes.max_len)
        self.src_drop, self.tgt_drop = Dropout(sizes.dropout, shared), Dropout(sizes.dropout, shared)
        self.encoder = [EncoderLayer(sizes, rng, dtype, shared) for _ in range(sizes.layers)]
        self.encoder_norm = LayerNorm(D, dtype)
        self.decoder = [DecoderLayer(sizes, rng, dtype, shared) for _ in range(sizes.layers)]
        self.decoder_norm = LayerNorm(D, dtype)
        self.out = Affine(D, tgt_vocab_size, rng, dtype)
        self.loss = SoftmaxCrossEntropy(smoothing=label_smoothing)
        self.map_names = self._names(CROSS)
        self.self_map_names = self._names(ENC_SELF) + self._names(DEC_SELF)
        if dropout_rng is None and (sizes.dropout > 0 or sizes.attention_dropout > 0):
            self.seed_dropout(int(rng.integers(2**63)))

    def _names(self, kind):
        """``kind/L/H`` for every layer L and head H, layer by layer."""
        return tuple(f"{kind}/{layer}/{head}" for layer in range(self.sizes.layers) for head in range(self.sizes.heads))

    @property
    def max_positions(self):
        """The longest sequence the positions table covers (`Sizes.max_len`)."""
        return self.sizes.max_len

    def row_cost(self, source_length, steps, beam=1, maps=(), rows=1):
        """The most bytes decoding `rows` sources of `source_length` tokens (padded) holds at once, up to
        `steps` steps (at most `max_positions`) with `beam` rows and the maps `maps` asks for
        (`jumok.models.costs.transformer_row_cost`)."""
        W = self.out.params["W"]
        work = Work(source_length, min(steps, self.max_positions), beam, tuple(kinds(maps)), rows)
        return transformer_row_cost(self.sizes, W.shape[1], W.dtype.itemsize, work)

    # ------------------------------------------------------------------ dropout generators

    def dropout_generators(self):
        """The generator the dropout layers share, when there is dropout (none without)."""
        return list({id(m.rng): m.rng for m in self.modules() if isinstance(m, Dropout) and m.p > 0}.values())

    def seed_dropout(self, seed):
        """Give every dropout layer the fresh generator `np.random.default_rng(seed)`."""
        self.dropout_rng = np.random.default_rng(seed)
        for module in self.modules():
            if isinstance(module, Dropout):
                module.rng = self.dropout_rng

    # ------------------------------------------------------------------ training

    def encode(self, src, src_mask):
        """src (N, S) → `Memory`: the encoder stack's output (N, S, D), the source mask, and each
        layer's self-attention weights (N, h, S, S)."""
        x = self.src_drop.forward(self.positions.forward(self.src_embed.forward(src)))
        weights = []
        for layer in self.encoder:
            x = layer.forward(x, src_mask)
            weights.append(layer.attention.weights)
        return Memory(self.encoder_norm.forward(x), src_mask, tuple(weights))

    def decode_states(self, tgt_in, tgt_mask, memory):
        """tgt_in (N, T) → the decoder stack's output (N, T, D), reading `memory`."""
        y = self.tgt_drop.forward(self.positions.forward(self.tgt_embed.forward(tgt_in)))
        for layer in self.decoder:
            y = layer.forward(y, tgt_mask, memory.states, memory.mask)
        return self.decoder_norm.forward(y)

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask, count=None):
        """Mean cross-entropy over the real target tokens (teacher forcing); `count`: divide by
        this many instead (a data-parallel worker's slice: the whole batch's count)."""
        self.memory = self.encode(src, src_mask)
        scores = self.out.forward(self.decode_states(tgt_in, tgt_mask, self.memory))  # (N, T, V)
        return self.loss.forward(scores, tgt_out, tgt_mask, count)

    def backward(self, dloss=1.0):
        """Add every parameter's gradient (call `zero_grad` first). The memory feeds every
        decoder layer's cross-attention: its gradients add."""
        dy = self.decoder_norm.backward(self.out.backward(self.loss.backward(dloss)))
        dmemory = 0.0
        for layer in reversed(self.decoder):
            dy, dm = layer.backward(dy)
            dmemory = dmemory + dm
        self.tgt_embed.backward(self.positions.backward(self.tgt_drop.backward(dy)))
        dx = self.encoder_norm.backward(dmemory)
        for layer in reversed(self.encoder):
            dx = layer.backward(dx)
        self.src_embed.backward(self.positions.backward(self.src_drop.backward(dx)))

    # ------------------------------------------------------------------ decoding

    def start(self, memory):
        """The decoding state of an encoded batch: empty self-attention caches, and every
        decoder layer's keys and values of the encoder's output, projected once.

        Decoding runs no backward, so the encoder's layers let go of what they kept for one
        (their S × S attention weights among it): while decoding, the encoder holds nothing
        (`memory.weights` still reads them while `memory` is kept)."""
        for layer in self.encoder:
            for module in layer.modules():
                if hasattr(module, "cache"):
                    module.cache = None
                if isinstance(module, MultiHeadAttention):
                    module.weights = None
        xp, N = array_module(memory.states), memory.states.shape[0]
        h, d_h = self.sizes.heads, self.sizes.width // self.sizes.heads
        empty = [xp.zeros((N, h, 0, d_h), dtype=memory.states.dtype) for _ in self.decoder]
        cross = [layer.cross_attention.project_keys_values(memory.states) for layer in self.decoder]
        return TransformerState(empty, list(empty), cross, memory.mask)

    def source_maps(self, memory):
        """Each encoder layer's and head's self-attention of an encoded batch, {"enc-self/L/H":
        (N, S, S)}: row s is where source position s looked, over the real positions; a padded
        position's row is 0. Views of `memory.weights`, nothing computed."""
        return {f"enc-self/{layer}/{head}": P[:, head] for layer, P in enumerate(memory.weights)
                for head in range(self.sizes.heads)}

    def step(self, tokens, state, maps=False):
        """tokens (N,) → scores (N, V) of the next position, the state with this position's
        keys and values added to every layer's cache, and the maps `maps` asks for
        (`jumok.maps.kinds`): each layer's and head's cross-attention of this step as
        {"cross/L/H": (N, S)}, its causal self-attention as {"dec-self/L/H": (N, t + 1)} over
        the positions 0..t written so far, this one included.

        The one new position runs through every decoder layer as in `decode_states`, its
        self-attention reading the cached keys and values of the positions before it and
        its own (so causality needs no mask), its cross-attention the projections from
        `start`; evaluation mode (dropout off), as decoding is."""
        y = self.positions.forward(self.tgt_embed.forward(tokens[:, None]), start=state.position)  # (N, 1, D)
        xp, asked = array_module(y), kinds(maps)
        keys, values, found = [], [], {}
        for index, layer in enumerate(self.decoder):
            a_in = layer.norm1.forward(y)
            k, v = layer.self_attention.project_keys_values(a_in)  # (N, h, 1, d_h)
            keys.append(xp.concatenate([state.keys[index], k], axis=2))
            values.append(xp.concatenate([state.values[index], v], axis=2))
            a, P_self = layer.self_attention.attend(a_in, keys[-1], values[-1])
            y = y + a
            c, P = state.cross_attend(layer.cross_attention, layer.norm2.forward(y), index)
            y = y + c
            y = y + layer.feed_forward.forward(layer.norm3.forward(y))
            for kind, weights in ((CROSS, P), (DEC_SELF, P_self)):
                if kind in asked:
                    found.update({f"{kind}/{index}/{head}": weights[:, head, 0] for head in range(self.sizes.heads)})
        scores = self.out.forward(self.decoder_norm.forward(y))[:, 0]  # (N, V)
        return scores, replace(state, keys=keys, values=values), found
