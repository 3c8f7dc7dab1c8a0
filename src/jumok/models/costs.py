"""What decoding one source costs in memory: the arithmetic behind each model's `row_cost`
(`jumok.models.interface`), which `jumok.decoding.chunks` uses to keep a run of sources
within a budget of bytes (`jumok.api.DECODE_BUDGET`).

Counted from the code, array by array, as an upper bound of what is alive at once; b is the
bytes of one number (4 in float32). One *source* is one row of `src`; with beam K it is K
decoding *rows*. Decoding has two phases, never both at their peak together:

* encoding: every source at once through the encoder, with what its layers keep for a
  backward pass decoding never runs (the Transformer's encoder lets go of it in `start`);
* the decoding loop: per source what the state reads once (the encoder's output as keys and
  values), per row its state, at most twice at a time (the old state lives while a step or
  a selection builds the new one), and one step's temporaries, and the maps asked for.

So a source costs the larger of the two, and N sources padded to one length N times that
(every array is batch-first: it grows with N), plus what a run costs whatever its size: the
weights a forward pass joins side by side (the LSTM's stacked gates, the attention's fused
projections). The padded ids and mask cost 9 bytes a source token. Maps are kept for every
step of every row (beam search cannot know which row will win), and copied once more for
the hypotheses handed back; greedy decoding holds them three times at the end (each step's,
stacked, and each output's own). Numbers on the host that beam search keeps in float64
(log-probabilities over the vocabulary, the candidates, the top-k's copies) cost 64 V bytes
a row; the token history 8 bytes a row and step.

The figures are checked against tracemalloc's peak (tests/test_decode_budget.py; the large
case, 64 inputs of 1,000 characters at beam 16, in benchmarks/decode_memory.py).
"""

from dataclasses import dataclass

from jumok.maps import CROSS, DEC_SELF, ENC_SELF, kinds

HOST_PER_VOCAB = 64  # bytes a row of beam search's float64 arrays over the vocabulary take
HISTORY = 8  # bytes a row and step of the token history (int64)
PADDED = 9  # bytes a source token of the padded ids (int64) and mask (bool)


@dataclass(frozen=True)
class Work:
    """What one source's decoding is: S source tokens, up to T steps, `beam` rows, the kinds
    of map `maps` asks for (`jumok.maps.kinds`)."""

    S: int
    T: int
    beam: int = 1
    maps: tuple = ()
    rows: int = 1  # sources decoded together

    def total(self, fixed, per_source):
        """What `rows` sources cost together: `fixed` once, `per_source` each."""
        return fixed + self.rows * (per_source + PADDED * self.S)


def maps_factor(beam):
    """How many times the maps asked for are held at the end: each step's and the outputs'
    copies (beam search), or each step's, the stacked ones and the outputs' (greedy)."""
    return 2 if beam > 1 else 3


def step_maps_bytes(asked, S, T, cross_maps, self_maps, b):
    """Bytes of one row's per-step maps over T steps: cross maps (T, S) each, decoder
    self-attention maps (T, T) each (counted square, as greedy decoding stacks them)."""
    cross = cross_maps * T * S if CROSS in asked else 0
    dec_self = self_maps * T * T if DEC_SELF in asked else 0
    return (cross + dec_self) * b


def transformer_row_cost(sizes, vocab, b, work):
    """Bytes `rows` sources of S tokens take to decode with a `Sizes` Transformer over a target
    vocabulary of `vocab` (`work`: T steps, `beam` rows each, the kinds `maps` asks for):
    once, every layer's fused projections (3 D² kept by each encoder layer, 2 D² a step);
    each source the larger of

    encoding   per layer kept: 11 (S, D) arrays (the norms' x̂ and outputs, Q K V, the scaled
               Q, the context, the residuals), 2 (S, F) (the feed-forward's z and a), the
               weights (h, S, S); the last layer's softmax also has 2 (h, S, S) arrays alive
               (the scores and the weights it computes in place) and one (S, S) boolean mask
    decoding   per source: every decoder layer's cross keys and values, 2 (S, D); per row:
               the self-attention cache 2 (L, T, D), twice; a step's temporaries (8 D, 2 F,
               4 h (S + T)); 64 V bytes on the host and 8 T of history; and the maps asked
               for: L·h cross maps (T, S), L·h dec-self maps (T, T), L·h enc-self maps
               (S, S) per source (the encoder's own arrays, and one copy)
    """
    D, h, F, L = sizes.width, sizes.heads, sizes.ff_width, sizes.layers
    S, T, beam, asked, n = work.S, work.T, work.beam, kinds(work.maps), L * h
    encoding = b * (L * (11 * S * D + 2 * S * F + h * S * S) + 2 * h * S * S + 6 * S * D) + S * S
    per_row = b * (4 * L * T * D + 8 * D + 2 * F + 4 * h * (S + T)) + HOST_PER_VOCAB * vocab + HISTORY * T
    per_row += maps_factor(beam) * step_maps_bytes(asked, S, T, n, n, b)
    per_source = b * 2 * L * S * D + (2 * n * S * S * b if ENC_SELF in asked else 0)
    return work.total(b * (3 * L + 2) * D * D, max(encoding, per_source + beam * per_row))


def lstm_row_cost(shape, vocab, b, work):
    """Bytes `rows` sources of S tokens take to decode with an LSTM model (`shape`: embedding
    width E, hidden width H, layers L, bidirectional, whether the decoder attends, the
    additive score's width A or 0) over a target vocabulary of `vocab` (`work`: T steps,
    `beam` rows each, the kinds `maps` asks for): once, the stacked gate weights of every
    layer of the encoder and of the decoder's state, 4 (E_l + H + 1) H each (E_l + H for the
    peeky decoder's first layer, counted by taking E + H for every first layer); each source
    the larger of

    encoding   the embeddings (S, E); per layer its input's [x, h, 1] rows (S + 1, E_l + H + 1)
               and its outputs (S, H) (a bidirectional layer: both directions' of half the
               width, the reversed copies and the joined outputs, counted as (3 E_l + 4 H + 2)
               per position); the encoder's outputs (S, H) stay for `start`
    decoding   per row: the attention's copy of the encoder's outputs (S, H) and the additive
               score's (S, A), twice (a selection gathers them); the LSTM states and one
               step's gates, 8 L H; the attention's scores (S, 4 times) and the additive
               score's (S, A) twice; 64 V bytes on the host, 8 T of history; the cross map
               (T, S) when asked
    """
    E, H, L, bidirectional, attends, A = shape
    S, T, beam = work.S, work.T, work.beam
    asked = kinds(work.maps) if attends else frozenset()
    width = [E] + [H] * (L - 1)
    per_layer = [(3 * e + 4 * H + 2) if bidirectional else (e + 2 * H + 1) for e in width]
    encoding = b * S * (E + sum(per_layer) + H)
    per_row = b * (8 * L * H + 2 * H) + HOST_PER_VOCAB * vocab + HISTORY * T
    if attends:
        per_row += b * (2 * S * (H + A) + 4 * S + 2 * S * A)
    per_row += maps_factor(beam) * step_maps_bytes(asked, S, T, 1, 0, b)
    fixed = 2 * b * sum(4 * (e + 2 * H + 1) * H for e in width)
    return work.total(fixed, max(encoding, b * S * H + beam * per_row))
