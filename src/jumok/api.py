"""The Python API: load a trained run, predict, draw its attention.

    import jumok
    model = jumok.load("runs/date-attention")
    out = model.predict("september 27, 1994")       # an Output
    out.text, out.steps, out.attention               # '1994-09-27', [...,'</s>'], (11, 18) array
    outs = model.predict(["a", "b"], beam=5, nbest=3)

Inputs are tokenised as the run's sources were (config.source_tokens) and outputs joined as
its targets are (config.target_tokens). Errors are `jumok.errors.JumokError` subclasses with
one-line messages naming the input ("input 2 'abc' has tokens never seen in training: 'x'"),
inputs numbered from 1. The CLI commands predict, evaluate and attention stand on this
module: `Model.encode` turns one text into ids under the CLI's own label, `Model.decode`
decodes encoded sources, `Model.predict` does both.

A `Model` may serve several threads: decoding (which switches the model to evaluation mode
and fills its layers' caches) is guarded by a lock.
"""

import math
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from jumok.data.tokens import detokenize, tokenize_side
from jumok.data.tsv import MAX_LINE_CHARS
from jumok.data.vocab import UNK
from jumok.decoding import Search, decode
from jumok.ensemble import Ensemble
from jumok.errors import ConfigError, DataError, JumokError, UnknownTokenError
from jumok.maps import Choice, cross_attention, kind_of, map_axes, pick
from jumok.models.build import load_run
from jumok.threads import usable_threads

SHOWN_TEXT = 40  # characters of an input quoted in an error message
TITLE_SIDE = 40  # characters of input and of output shown in an attention figure's title
DECODE_BUDGET = 128 << 20
"""Most bytes `Model.decode` holds at once while decoding (128 MiB) in each of its threads
(`jumok.threads.usable_threads`: the cores, at most 4), beyond the loaded model and the
outputs it has handed back: it decodes in runs of inputs that the model's
`row_cost` says fit (n inputs padded to the run's longest: encoding, every beam's decoding
state, the maps asked for); an input that alone costs more is decoded alone, and the bound
is then its own cost. So memory grows with neither the number of inputs nor, past one
input, their length. Measured (benchmarks/decode_memory.py, docs/reliability.md#decoding-
memory): 64 inputs of 1,000 characters at beam 16 through a Transformer of width 128, 3
layers, 4 heads, decoded one at a time (each costs 108.7 MiB), peak at 85.0 MiB of arrays."""


def quote(text, limit=SHOWN_TEXT):
    """``repr(text)``, shortened with an ellipsis when longer than ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


@dataclass
class Source:
    """One input as the model takes it: the text as given, its tokens as the model saw them
    (unseen ones shown as ``<unk>``), their ids, and the unseen tokens (each once, in order
    of first appearance)."""

    text: str
    tokens: list
    ids: list
    unseen: list


@dataclass
class Alternative:
    """One hypothesis of an n-best list: its text, its tokens and its beam score."""

    text: str
    tokens: list
    score: float


@dataclass
class Output:
    """The prediction for one input (see the module docstring and `Model.predict`)."""

    source: str  # the input as given
    source_tokens: list  # its tokens as the model saw them, unseen ones as "<unk>"
    unseen: list  # the input's tokens the vocabulary lacks
    text: str  # the output tokens joined as the run's targets are tokenised
    tokens: list  # output tokens, specials removed
    steps: list  # the token chosen at each decoding step, "</s>" included where one was produced
    score: float | None = None  # beam search: log p / length^α of this hypothesis; None when greedy
    alternatives: list = field(default_factory=list)  # Alternative, best first, when nbest > 1
    maps: dict = field(default_factory=dict)  # name → map (jumok.maps): cross (steps, source_tokens),
    # enc-self (source_tokens, source_tokens), dec-self (steps, steps), by their lengths

    @property
    def attention(self):
        """Where the output looked, as one (len(steps), len(source_tokens)) map whose rows sum to
        1: the cross-attention, or the mean of its heads (`jumok.maps.cross_attention`); None
        for a model without attention or when the maps were not asked for."""
        return cross_attention(self.maps)


def attention_title(source, output, beam=1):
    """``input → output`` (each shortened to `TITLE_SIDE` characters; ``∅`` for an empty
    output), with the beam when it is not 1."""
    return f"{_shorten(source)} → {_shorten(output or '∅')}" + (f"  (beam {beam})" if beam > 1 else "")


def _shorten(text, limit=TITLE_SIDE):
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draw_attention(output, beam=1, names=(), choice=None):
    """A matplotlib Figure of `output`'s attention, titled `attention_title`: with no `names`
    and no `choice`, where the output looked (`Output.attention`: source tokens across,
    decoding steps down, "</s>" last); with `names`, the maps of those names (`jumok.maps`)
    side by side, each titled by its name; with a `jumok.maps.Choice`, its map (one layer's
    head, or a mean over heads or layers), the title's second line saying which. `JumokError`
    when the output has no such map."""
    choice = choice or Choice()
    if not output.maps or (not names and choice.default and output.attention is None):
        raise JumokError(f"{quote(output.source)}: the prediction has no attention weights to draw")
    from jumok import viz  # matplotlib is imported only when drawing

    title = attention_title(output.source, output.text, beam)
    try:
        if names:
            chosen = pick(output.maps, names)
            panels = [(a, *map_axes(name, output.source_tokens, output.steps), name) for name, a in chosen.items()]
            return viz.attention_grid_figure(panels, title=title)
        if choice.default:
            return viz.attention_figure(output.attention, output.source_tokens, output.steps, title=title)
        weights, what = choice.mean(output.maps)
    except LookupError as e:
        raise JumokError(e.args[0]) from None
    return viz.attention_figure(weights, *map_axes(choice.kind, output.source_tokens, output.steps),
                                title=f"{title}\n{what}")


def check_decoding(beam, nbest=1, flag="", length_penalty=1.0):
    """Raise `ConfigError` unless beam and nbest are integers with beam >= 1 and 1 <= nbest <=
    beam, and the length penalty a finite number >= 0; the message names them with the prefix
    `flag` (the CLI passes "--")."""
    if not isinstance(beam, int) or not isinstance(nbest, int) or beam < 1 or not 1 <= nbest <= beam:
        raise ConfigError(f"need {flag}beam >= 1 and 1 <= {flag}nbest <= {flag}beam; "
                          f"got beam {beam!r}, nbest {nbest!r}")
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, (int, float)) \
            or not 0 <= length_penalty < math.inf:
        raise ConfigError(f"need {flag}{'length-penalty' if flag else 'length_penalty'} to be a number >= 0; "
                          f"got {length_penalty!r}")


class Model:
    """A trained run, loaded: `run_dir`, `config`, `history`, `source_vocab`, `target_vocab`,
    `map_names` (the cross-attention maps its outputs carry, `jumok.maps`), `self_map_names`
    (the self-attention maps they carry when asked), `has_attention`, `max_positions` (the
    longest input it reads, in tokens, or None); `predict`, `decode`, `attention_figure`."""

    def __init__(self, run_dir, run):
        self.run_dir = Path(run_dir)
        self.config = run.config
        self.history = run.history
        self.source_vocab = run.src_vocab
        self.target_vocab = run.tgt_vocab
        self.network = run.model  # speaks jumok.models.interface
        self.map_names = tuple(run.model.map_names)
        self.self_map_names = tuple(getattr(run.model, "self_map_names", ()))
        self.has_attention = bool(self.map_names)
        self.max_positions = getattr(run.model, "max_positions", None)
        self._lock = threading.Lock()

    def __repr__(self):
        return f"jumok.api.Model({str(self.run_dir)!r}, model {self.config.model})"

    def encode(self, text, where="input", unk=False):
        """One input text → `Source`, tokenised as the run's sources were.

        ``where`` names the input in error messages (e.g. ``"stdin line 3"``). An input with
        no tokens, with a reserved token name, longer than `MAX_LINE_CHARS` characters or
        with more tokens than the model has positions (`max_positions`) raises `DataError`
        (`JumokError` when empty); unseen tokens raise `UnknownTokenError` unless `unk`,
        which maps them to ``<unk>``.
        """
        if not isinstance(text, str):
            raise JumokError(f"{where} is {type(text).__name__}, expected a string")
        if not text:
            raise JumokError(f"{where} is empty: there is nothing to translate")
        if len(text) > MAX_LINE_CHARS:
            raise DataError(f"{where} has {len(text):,} characters, expected at most {MAX_LINE_CHARS:,}")
        tokens = tokenize_side(text, self.config.source_tokens, where)
        if self.max_positions is not None and len(tokens) > self.max_positions:
            kind = "ensemble" if isinstance(self.network, Ensemble) else self.config.model
            raise DataError(f"{where} has {len(tokens):,} tokens; this {kind} reads at most {self.max_positions:,} "
                            f"(its positions)")
        unseen = list(dict.fromkeys(t for t in tokens if t not in self.source_vocab))
        if unseen and not unk:
            raise UnknownTokenError(unseen, f"{where} {quote(text)}")
        return Source(text, [t if t in self.source_vocab else UNK for t in tokens],
                      self.source_vocab.encode(tokens, unknown="unk"), unseen)

    def decode(self, sources, beam=1, nbest=1, batch_size=256, length_penalty=1.0, maps=True):
        """`Output` of each `Source`, in order, decoded in runs within `DECODE_BUDGET` bytes,
        `batch_size` rows at most, greedily (beam 1) or by beam search with the `nbest` best
        hypotheses as alternatives, ranked by log p / length^`length_penalty`
        (`jumok.decoding.beam_search`). `maps`: True, each output carries its cross-attention
        maps; False, none; or the kinds to carry (`jumok.maps.kinds`: e.g. ``("cross",
        "enc-self", "dec-self")`` adds the self-attention of a model that has it). At most
        `max_positions` steps are written."""
        return self._decode(sources, self._search(beam, nbest, length_penalty, batch_size), maps)

    def _search(self, beam, nbest, length_penalty, batch_size):
        """The `Search` of these settings, checked (`check_decoding`, and batch_size ≥ 1)."""
        check_decoding(beam, nbest, length_penalty=length_penalty)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1; got {batch_size!r}")
        vocab = self.target_vocab
        return Search(vocab.bos_id, vocab.eos_id, self.config.max_output_length, beam, nbest, length_penalty,
                      batch_size, DECODE_BUDGET, usable_threads())

    def _decode(self, sources, search, maps):
        with self._lock:
            found = decode(self.network, [s.ids for s in sources], self.source_vocab.pad_id, search, maps)
        return [self._output(source, hyps, search.nbest) for source, hyps in zip(sources, found, strict=True)]

    def _output(self, source, hypotheses, nbest):
        vocab, mode = self.target_vocab, self.config.target_tokens
        best = hypotheses[0]
        tokens = vocab.decode(best.tokens)
        words = [vocab.decode(h.tokens) for h in hypotheses] if nbest > 1 else []  # the n-best lists' tokens
        alternatives = [Alternative(detokenize(w, mode), w, float(h.score)) for h, w in zip(hypotheses, words)]
        score = None if best.score is None else float(best.score)
        return Output(source.text, source.tokens, source.unseen, detokenize(tokens, mode), tokens,
                      best.steps(vocab), score, alternatives, best.maps)

    def predict(self, texts, beam=1, nbest=1, unk=False, batch_size=256, length_penalty=1.0):
        """Predict each text: a list of `Output` in input order (one `Output` for one str),
        with its attention maps.

        beam 1 decodes greedily; a larger beam uses beam search, and with ``nbest`` > 1 each
        output lists that many hypotheses as `alternatives`; beam search ranks finished
        outputs by log p / length^`length_penalty` (0: the raw sum). Every input is checked before
        any is decoded (see `encode`; inputs are named "input 1", "input 2", ...). Inputs are
        decoded in runs within `DECODE_BUDGET` bytes, `batch_size` rows at most. The outputs
        carry the cross-attention maps (`decode` asks for others).
        """
        search = self._search(beam, nbest, length_penalty, batch_size)
        single = isinstance(texts, str)
        sources = [self.encode(text, f"input {number}", unk)
                   for number, text in enumerate([texts] if single else texts, start=1)]
        outputs = self._decode(sources, search, True)
        return outputs[0] if single else outputs

    def attention_figure(self, text, beam=1, unk=False, names=(), choice=None):
        """A matplotlib Figure of the attention heatmap of one input (source tokens across,
        output steps down, "</s>" last), of its maps `names` side by side, or of the
        `jumok.maps.Choice` `choice` (`draw_attention`); `JumokError` for a model without
        attention, or without the maps asked for."""
        if not self.has_attention:
            raise JumokError(f"model {self.config.model} has no attention to draw")
        kinds = self.kinds_to_draw(names, choice)
        output = self.decode([self.encode(text, "input 1", unk)], beam, maps=kinds)[0]
        return draw_attention(output, beam, names, choice)

    def kinds_to_draw(self, names=(), choice=None):
        """The kinds of map decoding must hand back to draw `names` or `choice` (`draw_attention`),
        checked first: `JumokError` (one line) for a name, layer or head this model lacks."""
        every = (*self.map_names, *self.self_map_names)
        try:
            if names:
                pick(dict.fromkeys(every), names)
                return tuple(dict.fromkeys(kind_of(name) for name in names))
            (choice or Choice()).names(every)
        except LookupError as e:
            raise JumokError(e.args[0]) from None
        return ((choice or Choice()).kind,)


def load(run_dir):
    """The trained run in `run_dir` as a `Model`; `jumok.errors.CheckpointError` (one line
    naming the directory or file at fault) when it cannot be loaded."""
    return Model(run_dir, load_run(run_dir))


def load_ensemble(run_dirs):
    """The runs in `run_dirs` decoding as one `Model` (`jumok.ensemble`: the mean of their
    log-probabilities at every step), with the first run's config and history and the
    longest output limit of them all; no attention weights. `ConfigError` unless every run
    reads and writes the same tokens as the first (the same vocabularies and tokenisation)."""
    runs = [load_run(run_dir) for run_dir in run_dirs]
    first, first_dir = runs[0], run_dirs[0]
    for run_dir, run in zip(run_dirs[1:], runs[1:]):
        for side, mine, theirs in (("source", run.src_vocab, first.src_vocab), ("target", run.tgt_vocab, first.tgt_vocab)):
            if mine.tokens != theirs.tokens:
                raise ConfigError(f"{run_dir} has another {side} vocabulary than {first_dir} ({len(mine)} tokens "
                                  f"against {len(theirs)}): an ensemble's runs must be trained on the same tokens")
        for key in ("source_tokens", "target_tokens"):
            if getattr(run.config, key) != getattr(first.config, key):
                raise ConfigError(f"{run_dir} has {key} {getattr(run.config, key)!r}, {first_dir} "
                                  f"{getattr(first.config, key)!r}: an ensemble's runs must tokenise alike")
    longest = max(run.config.max_output_length for run in runs)
    return Model(first_dir, replace(first, config=replace(first.config, max_output_length=longest),
                                    model=Ensemble([run.model for run in runs])))
