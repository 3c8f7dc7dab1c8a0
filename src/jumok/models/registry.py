"""`MODELS`: every architecture `Config.model` names, and which settings describe each.

A model class lists the `Config` fields it reads to build itself in `settings`; a setting
that describes some models and not the chosen one (``bidirectional`` for the Transformer,
``heads`` for an LSTM model) is refused when it is given a value other than its default, so
that a flag never silently means nothing (`check_config`, which `Config` calls).
"""

import dataclasses

from jumok.errors import ConfigError
from jumok.models.seq2seq import LSTM_MODELS
from jumok.models.transformer import TransformerSeq2seq

MODELS = {**LSTM_MODELS, TransformerSeq2seq.name: TransformerSeq2seq}  # the order of the choices in messages

MODEL_SETTINGS = tuple(dict.fromkeys(name for model in MODELS.values() for name in model.settings))
"""Every `Config` field that describes a model: the union of the entries' `settings`."""


def foreign_settings(model):
    """The model settings that `model` (a MODELS entry) does not read."""
    return tuple(name for name in MODEL_SETTINGS if name not in model.settings)


def check_config(config):
    """Raise a ConfigError for a setting the chosen model does not read, given a value other
    than its default; then the model's own checks (`check_config` of its class)."""
    fields = {field.name: field for field in dataclasses.fields(config)}
    for name in foreign_settings(MODELS[config.model]):
        if getattr(config, name) != fields[name].default:
            flag = fields[name].metadata["flag"]
            raise ConfigError(f"{name}{f' ({flag})' if flag else ''} is a setting of the {readers_of(name)}, not "
                              f"of the {config.model} model; leave it unset")
    MODELS[config.model].check_config(config)


def readers_of(name):
    """``"attention, seq2seq and peeky models"`` or ``"transformer model"``: which read `name`."""
    readers = [model for model, cls in MODELS.items() if name in cls.settings]
    if len(readers) == 1:
        return f"{readers[0]} model"
    return f"{', '.join(readers[:-1])} and {readers[-1]} models"
