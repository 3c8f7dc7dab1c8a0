"""The JSON API of `jumok serve`: its limits, how a request body is checked, and the shape of
each answer. No HTTP here (see `jumok.serve.app`) and no model logic (see `jumok.api`).

``POST /api/predict`` takes ``{"inputs": [str, ...], "beam": K, "nbest": N, "attention":
bool, "maps": [kind, ...], "unk": bool}`` (only ``inputs`` is required) and answers ``{"outputs": [...], "beam",
"nbest", "seconds"}``, one output per input in order (`output_json`). ``GET /api/run``
answers `run_json`. Every refusal is `RequestError`: an HTTP status and a one-line message,
sent as ``{"error": message, ...}``.
"""

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from jumok.data.vocab import UNK
from jumok.decoding import chunks
from jumok.errors import JumokError, UnknownTokenError
from jumok.maps import CROSS, KINDS, layers_and_heads
from jumok.models import MODELS

MAX_BODY_BYTES = 1 << 20  # a request body over this is refused (413) before it is read
MAX_INPUTS = 64  # inputs in one request
MAX_INPUT_CHARS = 1000  # characters in one input
MAX_BEAM = 16  # largest beam (and n-best list)
DECODE_SECONDS = 10.0  # decoding that runs past this is stopped at the next piece and refused
QUEUE_SECONDS = 60.0  # a request that waits this long for the model gets 503
SLICE_TOKENS = 4096  # padded source tokens × beam decoded in one piece between looks at the clock
WEIGHT_DIGITS = 6  # decimals of an attention weight in an answer

PREDICT_KEYS = {"inputs": "a list of strings", "beam": "an integer", "nbest": "an integer",
                "attention": "true or false", "maps": "a list of kinds of attention map", "unk": "true or false"}


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx, or 503 when busy) and a one-line message;
    ``extra`` fields go into the JSON answer beside ``"error"``."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status = status
        self.extra = extra

    def body(self):
        return {"error": str(self), **self.extra}


@dataclass(frozen=True)
class PredictRequest:
    inputs: list
    beam: int = 1
    nbest: int = 1
    attention: bool = True
    maps: tuple = (CROSS,)  # the kinds of attention map to send (jumok.maps.KINDS)
    unk: bool = False

    def decoding_maps(self):
        """The kinds of map decoding gathers: those asked for, none without ``attention``."""
        return frozenset(self.maps) if self.attention else frozenset()


def limits():
    """The documented limits, as `GET /api/run` reports them."""
    return {"max_body_bytes": MAX_BODY_BYTES, "max_inputs": MAX_INPUTS, "max_input_chars": MAX_INPUT_CHARS,
            "max_beam": MAX_BEAM, "decode_seconds": DECODE_SECONDS}


def _type_name(value):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def parse_predict(document):
    """A `PredictRequest` from a decoded JSON document, or `RequestError`: 400 for the wrong
    shape (not an object, unknown or missing keys, wrong types), 422 for values outside the
    limits (too many inputs, an input too long, a beam or n-best out of range)."""
    if not isinstance(document, dict):
        raise RequestError(400, f"the body must be a JSON object, got {_type_name(document)}")
    unknown = sorted(set(document) - set(PREDICT_KEYS))
    if unknown:
        raise RequestError(400, f"unknown key{'s' if len(unknown) > 1 else ''} "
                                f"{', '.join(map(repr, unknown))}; expected {', '.join(PREDICT_KEYS)}")
    if "inputs" not in document:
        raise RequestError(400, "missing key 'inputs': a list of strings to translate")
    inputs = document["inputs"]
    if not isinstance(inputs, list):
        raise RequestError(400, f"'inputs' must be a list of strings, got {_type_name(inputs)}")
    for n, text in enumerate(inputs, start=1):
        if not isinstance(text, str):
            raise RequestError(400, f"input {n} must be a string, got {_type_name(text)}")
    for key in ("beam", "nbest"):
        if key in document and not _is_int(document[key]):
            raise RequestError(400, f"'{key}' must be an integer, got {_type_name(document[key])}")
    for key in ("attention", "unk"):
        if key in document and not isinstance(document[key], bool):
            raise RequestError(400, f"'{key}' must be true or false, got {_type_name(document[key])}")
    request = PredictRequest(**{**document, "maps": _map_kinds(document.get("maps", [CROSS]))})
    if not inputs:
        raise RequestError(422, "'inputs' is empty: give at least one string to translate")
    if len(inputs) > MAX_INPUTS:
        raise RequestError(422, f"{len(inputs)} inputs in one request; at most {MAX_INPUTS}")
    for n, text in enumerate(inputs, start=1):
        if len(text) > MAX_INPUT_CHARS:
            raise RequestError(422, f"input {n} has {len(text):,} characters; at most {MAX_INPUT_CHARS:,}")
    if not 1 <= request.beam <= MAX_BEAM:
        raise RequestError(422, f"'beam' must be between 1 and {MAX_BEAM}, got {request.beam}")
    if not 1 <= request.nbest <= request.beam:
        raise RequestError(422, f"'nbest' must be between 1 and 'beam' ({request.beam}), got {request.nbest}")
    return request


def _map_kinds(maps):
    """The tuple of kinds a request's ``"maps"`` names; `RequestError` 400 for the wrong type,
    422 for a kind that is not one."""
    if not isinstance(maps, list) or not all(isinstance(kind, str) for kind in maps):
        raise RequestError(400, f"'maps' must be a list of strings, got {_type_name(maps)}")
    unknown = [kind for kind in maps if kind not in KINDS]
    if unknown:
        raise RequestError(422, f"'maps' names {unknown[0]!r}; the kinds of attention map are {', '.join(KINDS)}")
    return tuple(dict.fromkeys(maps))


def encode_inputs(model, request):
    """`jumok.api.Source` of each input, all checked before any is decoded (so decoding in
    pieces cannot number a later piece's inputs from 1 again): an empty input, or one with
    tokens the model never saw in training (unless ``unk``), is refused (422), named."""
    sources = []
    for n, text in enumerate(request.inputs, start=1):
        try:
            sources.append(model.encode(text, f"input {n}", unk=request.unk))
        except UnknownTokenError as e:
            raise RequestError(422, f'{e} ("unk": true maps them to {UNK})', input=n, unseen=e.tokens) from None
        except JumokError as e:
            raise RequestError(422, str(e), input=n) from None
    return sources


def pieces(sources, beam, budget=None):
    """Consecutive (start, sources) runs, each within ``budget`` padded tokens × ``beam`` (one
    source over it is a piece alone): the clock is read between two."""
    start = 0
    for chunk in chunks([s.ids for s in sources], beam, budget=budget or SLICE_TOKENS):
        yield start, sources[start : start + len(chunk)]
        start += len(chunk)


def _number(value):
    """A float for JSON: None for None or a value that is not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


def weights_json(weights):
    """An attention matrix as lists of floats rounded to `WEIGHT_DIGITS` decimals."""
    return np.round(np.asarray(weights, dtype=np.float64), WEIGHT_DIGITS).tolist()


def output_json(output, attention=True):
    """One `jumok.api.Output` as JSON: the fields of the Output, ``attention`` as a list of rows
    (one per step, one weight per source token, rounded to `WEIGHT_DIGITS` decimals) or null,
    and ``maps``, every named attention map (`jumok.maps`) in the same form ({} without)."""
    weights, maps = None, {}
    if attention:
        maps = {name: weights_json(a) for name, a in output.maps.items()}
        if output.attention is not None:  # a single cross map is already in maps: not rounded twice
            weights = maps["cross"] if list(output.maps) == ["cross"] else weights_json(output.attention)
    return {"source": output.source, "source_tokens": list(output.source_tokens), "unseen": list(output.unseen),
            "text": output.text, "tokens": list(output.tokens), "steps": list(output.steps),
            "score": _number(output.score),
            "alternatives": [{"text": a.text, "tokens": list(a.tokens), "score": _number(a.score)}
                             for a in output.alternatives],
            "attention": weights, "maps": maps}


def run_json(model):
    """What `GET /api/run` answers: the run's config, which of its settings describe its model
    (``model_settings``), vocabulary sizes, history, whether the model has attention, the names
    of its cross maps (``maps``) and of its self-attention maps (``self_maps``), the layers and
    heads of each kind of map named so (`map_grid`), and the limits."""
    config = model.config
    return {"run_dir": str(model.run_dir), "config": _jsonable(dataclasses.asdict(config)),
            "model_settings": list(MODELS[config.model].settings),
            "vocab": {"source": len(model.source_vocab), "target": len(model.target_vocab)},
            "source_tokens": config.source_tokens, "target_tokens": config.target_tokens,
            "has_attention": bool(model.has_attention), "maps": list(model.map_names),
            "self_maps": list(model.self_map_names), "map_grid": map_grid((*model.map_names, *model.self_map_names)),
            "history": _jsonable(model.history),
            "limits": limits()}


def map_grid(names):
    """{kind: {layer: [heads]}} of the ``kind/L/H`` maps among `names` (layers as strings, for
    JSON; in increasing order); a kind whose maps have no layers and heads is left out, so the
    chapter's decoder (one ``cross`` map) gets {}."""
    grid = {}
    for kind in KINDS:
        found = layers_and_heads(names, kind)
        if found:
            grid[kind] = {str(layer): heads for layer, heads in found.items()}
    return grid


def _jsonable(value):
    """``value`` with non-finite floats as None, so the answer is strict JSON."""
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
