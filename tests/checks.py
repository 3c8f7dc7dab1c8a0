"""Helpers shared by the tests: gradient-check assertions, tiny models of every kind, tiny
data sets and runs, paths."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent  # the repository root (src/, docs/, configs/ ...)

UPPERCASE_TRAIN = ["--epochs", "4", "--hidden-size", "16", "--embed-size", "8", "--batch-size", "16",
                   "--lr", "0.02", "--lr-decay", "1", "--quiet"]  # the 4-epoch attention run of the API and CLI tests

GRADIENT_TOLERANCE = 1e-6  # float64 central differences agree to ~1e-8 when backward is right

TINY_SIZES = {"embed_size": 4, "hidden_size": 6, "heads": 2, "ff_size": 12}
"""The sizes of `tiny_model`, each given to the models that read it: an LSTM model D = 4,
H = 6; the Transformer width 6 in 2 heads, feed-forward width 12 (one layer: Config's)."""

ONE_OF_EACH_KIND = ("attention", "transformer")
"""An LSTM model and the Transformer: the models of an end-to-end test whose behaviour is
the trainer's or the run directory's, not a model's (one case of each kind is enough)."""

TRANSFORMER_FLAGS = ["--hidden-size", "16", "--heads", "2", "--ff-size", "32", "--layers", "1"]
"""The sizes of the Transformer the end-to-end tests train (`train_flags`)."""


def tiny_config(name, **settings):
    """The `Config` of a small model of the MODELS entry `name`: `TINY_SIZES` (those `name`
    reads) under `settings`, Config field names (``reverse``, ``dropout``, ``heads`` ...); a
    setting `name` does not read is refused, as it is for a run."""
    from jumok.config import Config
    from jumok.models import MODELS

    sizes = {key: value for key, value in TINY_SIZES.items() if key in MODELS[name].settings}
    return Config(model=name, **{**sizes, **settings})


def tiny_model(name, src_vocab_size, tgt_vocab_size, rng, dtype=None, **settings):
    """A small model of the MODELS entry `name` (see `tiny_config`), built as a run builds it
    (`build_model`, parameters drawn from `rng`), cast to `dtype` if given (float64 for
    gradient checks and exact comparisons)."""
    from jumok.models import build_model

    model = build_model(tiny_config(name, **settings), src_vocab_size, tgt_vocab_size, rng)
    return model if dtype is None else model.astype(dtype)


def with_attention():
    """The MODELS entries whose models hand back attention maps, in sorted order."""
    import numpy as np

    from jumok.models import MODELS

    return [name for name in sorted(MODELS) if tiny_model(name, 5, 5, np.random.default_rng(0)).map_names]


def if_lstm(name, **settings):
    """`settings` (e.g. ``reverse=True``) for an LSTM model; none for the Transformer, which
    reads none of the LSTM's settings."""
    from jumok.models.seq2seq import LSTM_MODELS

    return settings if name in LSTM_MODELS else {}


def teacher_forced(model, src, src_mask, tgt_in, tgt_out=None, tgt_mask=None):
    """What `model` (an entry of MODELS) computes fed `tgt_in` with teacher forcing, in
    evaluation mode: (the loss, the log-probabilities (N, T, V) its loss read, its
    cross-attention maps {name: (N, T, S)} in reading order: ``cross`` for the chapter's
    decoder, ``cross/L/H`` for the Transformer, none for a model without attention).
    `tgt_out` defaults to padding ids and `tgt_mask` to every position real."""
    import numpy as np

    from jumok.layers.base import evaluating

    tgt_out = np.zeros_like(tgt_in) if tgt_out is None else tgt_out
    tgt_mask = np.ones(tgt_in.shape, dtype=bool) if tgt_mask is None else tgt_mask
    with evaluating(model):
        loss = model.forward(src, src_mask, tgt_in, tgt_out, tgt_mask)
    logp = model.loss.cache[0]  # log softmax of the scores (`SoftmaxCrossEntropy`)
    if not model.map_names:
        return loss, logp, {}
    if hasattr(model, "in_reading_order"):  # an LSTM model's attention decoder
        return loss, logp, {"cross": model.in_reading_order(model.decoder.attention.weights, src_mask)}
    return loss, logp, {f"cross/{index}/{head}": layer.cross_attention.weights[:, head]
                        for index, layer in enumerate(model.decoder) for head in range(layer.cross_attention.heads)}


def train_flags(name, flags):
    """`jumok train` flags `flags`, written for the default LSTM sizes of a test, made into the
    flags of a tiny model of the MODELS entry `name`: as they are for the default model (so
    its runs stay shared with the tests that name none), with ``--model NAME`` for another
    LSTM model, and for the Transformer with `TRANSFORMER_FLAGS` in place of the LSTM's
    ``--embed-size`` and ``--hidden-size``, and no warm-up unless `flags` give one (its
    own 300 steps are more than a test trains)."""
    from jumok.config import Config
    from jumok.models.seq2seq import LSTM_MODELS

    if name == Config().model:
        return list(flags)
    if name in LSTM_MODELS:
        return [*flags, "--model", name]
    kept, given = [], iter(flags)
    for flag in given:
        if flag in ("--embed-size", "--hidden-size"):
            next(given)  # and its value
        else:
            kept.append(flag)
    warmup = [] if "--warmup-steps" in kept else ["--warmup-steps", "0"]
    return [*kept, "--model", name, *TRANSFORMER_FLAGS, *warmup]


def assert_gradients_close(errors, tol=GRADIENT_TOLERANCE):
    """`errors` is gradcheck's {name: relative error}; name the worst one if it is too large."""
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{worst}: relative error {errors[worst]:.2e}"


def assert_model_gradients(model, batch, rng, dropout_seed=11, skip=()):
    """Gradient-check every parameter of `model`'s loss on `batch` (src, src_mask, tgt_in,
    tgt_out, tgt_mask), but those whose names end in one of `skip`; dropout (if any) is
    reseeded before each forward so that every evaluation uses the same masks."""
    import numpy as np

    from jumok.gradcheck import gradcheck, gradients_of, parameters_of

    def forward():
        model.seed_dropout(dropout_seed)
        return np.array(model.forward(*batch))

    def backward(dloss):
        model.zero_grad()
        model.backward(float(dloss))
        return gradients_of(model)

    wrt = {name: p for name, p in parameters_of(model).items() if not name.endswith(tuple(skip))}
    errors = gradcheck(forward, backward, wrt, rng)
    assert_gradients_close(errors)
    assert len(errors) == len(wrt)


def train_uppercase_run(root, seed, train_args):
    """Train a tiny char-level run in ROOT/run that upper-cases ~80 random a..f words
    (written to ROOT/train.tsv); return the run directory."""
    import numpy as np

    from jumok.cli import main
    from jumok.data.tsv import write_tsv

    rng = np.random.default_rng(seed)
    words = {"".join(rng.choice(list("abcdef"), rng.integers(2, 5))) for _ in range(80)}
    write_tsv(root / "train.tsv", [(w, w.upper()) for w in sorted(words)])
    assert main(["train", "--data", str(root / "train.tsv"), "--out", str(root / "run"), *train_args]) == 0
    return root / "run"


def untrained_run(run_dir, **changes):
    """A run directory with an untrained (seed 1) model on whitespace-separated words
    (one two three -> uno dos tres): enough to test the plumbing. `changes` are Config
    settings (``model="transformer"``: a Transformer of width 8 in 4 heads)."""
    import numpy as np

    from jumok.config import Config
    from jumok.data.vocab import Vocab
    from jumok.models import MODELS, build_model
    from jumok.rundir import PARAMS, save_params, save_setup

    sizes = {"embed_size": 4, "hidden_size": 8}
    reads = MODELS[changes.get("model", Config.model)].settings
    config = Config(task="tsv", data="train.tsv", max_output_length=4, source_tokens="space", target_tokens="space",
                    **{**{key: value for key, value in sizes.items() if key in reads}, **changes})
    src_vocab, tgt_vocab = Vocab(["one", "two", "three"]), Vocab(["uno", "dos", "tres"])
    save_setup(run_dir, config, src_vocab, tgt_vocab)
    save_params(Path(run_dir) / PARAMS, build_model(config, len(src_vocab), len(tgt_vocab),
                                                    np.random.default_rng(1)))
    return Path(run_dir)


def write_reversal_tsv(path, seed, letters, count, lengths):
    """A TSV of distinct random words (`count` draws over `letters`, length in `lengths`)
    paired with their reversals: a tiny task any model learns. Returns `path`."""
    import numpy as np

    from jumok.data.tsv import write_tsv

    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list(letters), rng.integers(*lengths))) for _ in range(count)})
    write_tsv(path, [(w, w[::-1]) for w in words])
    return path


def npz_arrays(path):
    """Every array of the .npz file `path` by name (read without pickle)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}
