"""What a model is: the one interface that training, decoding, ensembles, the API and the
explorer use, and nothing else.

Every entry of `jumok.models.MODELS` speaks it (the LSTM models through `Seq2seqModel`), and
so do the chapter's step-by-step reference model and `jumok.ensemble.Ensemble` (its decoding
half). A new architecture is a class that offers these methods and an entry in MODELS; the
trainer, `jumok.decoding`, the API, `jumok attention` and `jumok serve` need no change.

Shapes: N rows, S source positions, T target positions, V target vocabulary. Masks are
boolean, True = real token; padding is at the end of each row.

To train (teacher forcing)::

    loss = model.forward(src (N, S), src_mask (N, S), tgt_in (N, T), tgt_out (N, T), tgt_mask (N, T),
                         count=None)
    model.backward()

`forward` returns the mean cross-entropy over the real target tokens (divided by `count`
instead when given: a data-parallel worker's slice divides by the whole batch's count);
`backward` adds every parameter's gradient into its `grads` (the trainer zeroes them once a
step). Parameters come by name from `named_parameters()` → (name, param, grad), and as host
arrays from `state_dict()` / back with `load_state_dict(arrays)`; `train()` / `eval()` set the
mode of every layer (dropout is on only in training); `dropout_generators()` lists the random
generators whose state a checkpoint saves; `xp` is the parameters' array module.

To decode, one step at a time::

    enc = model.encode(src, src_mask)
    state = model.start(enc)
    scores (N, V), state, maps = model.step(tokens (N,), state, maps=False)

`state.select(index)` (index: an int array on the state's device) is the state of rows
`index`: beam search asks nothing else of a state. `scores` are logits or log-probabilities
(decoding takes their argmax or their log-softmax).

To be explained: with ``maps=True`` `step` hands back this step's cross-attention as *named*
maps, {name: (N, S) array}, each row a distribution over the source positions *in reading
order* (a model that reverses its source puts them back), 0 on padding; with ``maps=False``
it hands back {} and gathers nothing. `map_names` lists the names ``maps=True`` hands back
(empty for a model without attention). One naming scheme for every model (`jumok.maps`):
``cross`` for the chapter's decoder, ``cross/L/H``, ``enc-self/L/H``, ``dec-self/L/H`` for a
model with layers and heads. Whoever draws computes means; a model never does.

Self-attention, only when asked. `self_map_names` lists the self-attention maps a model
can hand back (empty for the LSTM models). They are asked for by *kind* (`jumok.maps.kinds`):
``maps`` may also be a collection of kinds, and ``step(tokens, state, maps=("cross",
"dec-self"))`` hands back this step's cross maps and, as ``dec-self/L/H`` (N, t + 1), the
decoder's causal self-attention of step t over the steps 0..t (row t has t + 1 entries:
decoding pads the rows with 0 to the output's length). The encoder's self-attention is once
per source, not per step::

    maps = model.source_maps(enc)       # {"enc-self/L/H": (N, S, S)}, 0 on padding

which reads what `encode` computed anyway (ask it only when the maps are wanted: decoding
copies them). A model that is asked for a kind it lacks hands back nothing of that kind;
True, or a collection holding only ``cross``, asks exactly what True always asked.

Positions: `max_positions` is the longest sequence a model can read or write (its
positions table), or None for a model without one (the LSTMs). A source may have
`max_positions` tokens, decoding writes at most `max_positions` steps, and a training target
at most `max_positions` − 1 tokens (the start token takes a position).

Memory: ``model.row_cost(source_length, steps, beam=1, maps=(), rows=1)`` is the most bytes
decoding `rows` sources (rows of `src`) padded to `source_length` tokens holds at once, up to
`steps` steps with `beam` hypotheses each and the kinds of map `maps` asks for: encoding
included (a source costs the larger of the encoder's peak and the decoding loop's), the
model's own arrays not (`jumok.models.costs`). `jumok.decoding.chunks` cuts runs of sources
by it to keep decoding within a budget of bytes (`jumok.api.DECODE_BUDGET`).

Built from settings: the class method `from_config(config, src_vocab_size, tgt_vocab_size,
rng)` (`jumok.models.build_model` calls it), drawing every parameter from `rng`. Its own
defaults: `defaults`, a dict of `Config` settings that sit between the task's and the config
file's and flags' (`jumok.config.files.with_defaults`); config.json records the values a run
used.
"""

from typing import Protocol, runtime_checkable


@runtime_checkable
class DecodingState(Protocol):
    def select(self, index):
        """The state of rows `index` (R,): every per-row array gathered, the rest kept."""


@runtime_checkable
class Seq2seqNetwork(Protocol):
    """The methods and attributes a model offers (see the module docstring)."""

    map_names: tuple
    self_map_names: tuple
    max_positions: int | None
    defaults: dict

    @classmethod
    def from_config(cls, config, src_vocab_size, tgt_vocab_size, rng): ...

    def forward(self, src, src_mask, tgt_in, tgt_out, tgt_mask, count=None): ...

    def backward(self): ...

    def encode(self, src, src_mask): ...

    def start(self, enc): ...

    def step(self, tokens, state, maps=False): ...

    def source_maps(self, enc): ...

    def row_cost(self, source_length, steps, beam=1, maps=(), rows=1): ...

    def named_parameters(self): ...

    def state_dict(self): ...

    def load_state_dict(self, arrays): ...

    def train(self, mode=True): ...

    def eval(self): ...

    def dropout_generators(self): ...
