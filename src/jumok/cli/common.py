"""What several commands share: reading inputs, predicting texts, the --beam option."""

import sys

from jumok.data.tokens import tokenize
from jumok.errors import ConfigError, JumokError
from jumok.translate import predict_ids


def read_inputs(texts):
    """The TEXT arguments, or else stdin lines as they arrive."""
    if texts:
        yield from texts
    else:
        for line in sys.stdin:
            yield line.rstrip("\r\n")


def predict_texts(run, texts, unknown="error", beam=1, nbest=1):
    if "" in texts:
        raise JumokError("an input is empty: there is nothing to translate")
    if beam < 1 or not 1 <= nbest <= beam:
        raise ConfigError(f"need --beam >= 1 and 1 <= --nbest <= --beam; got beam {beam}, nbest {nbest}")
    sources = [run.src_vocab.encode(tokenize(t), unknown, where=f"input {t!r}") for t in texts]
    return predict_ids(run.model, sources, run.src_vocab, run.tgt_vocab, run.config.max_output_length,
                       beam_size=beam, nbest=nbest)


def add_beam_argument(p):
    p.add_argument("--beam", type=int, default=1, help="beam size; 1 = greedy (default)")
