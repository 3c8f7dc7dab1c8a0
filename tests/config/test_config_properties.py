"""Property-based tests (hypothesis) of setting overrides: `--set` and config files give a
Config or a ConfigError, for any value (the readers and tokenisers:
tests/data/test_data_properties.py).

Example counts are kept small (`PROPERTY`) so the suite stays fast; ``--hypothesis-seed``
or a larger ``max_examples`` explore further.
"""

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_strategies import PROPERTY, SIDE, TEXT_CHARS

from jumok.cli import build_parser
from jumok.cli.train import settings_from_args
from jumok.config import (
    SECTIONS,
    Config,
    _unpack,
    choices,
    field_types,
    key_types,
    load_toml,
    parse_assignment,
    section_of,
    toml_value,
)
from jumok.data.tasks import BUILT_IN_TASKS
from jumok.errors import ConfigError
from jumok.models.registry import MODELS, foreign_settings


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("properties")


# ---------------------------------------------------------------------------------------
# Settings: --set and config files
# ---------------------------------------------------------------------------------------

FINITE = {"allow_nan": False, "allow_infinity": False}
POSITIVE = st.integers(1, 10**6)
NOT_NEGATIVE = st.integers(0, 2**63 - 1)
VALID = {  # every Config field: the values it accepts (alone, the other settings at their defaults);
    # the choices are those of the registries (`jumok.config.choices`)
    "task": st.sampled_from(list(BUILT_IN_TASKS)),  # tsv needs data too
    "data": SIDE, "valid": SIDE,
    "data_format": st.sampled_from(choices("data_format")),
    "source_tokens": st.sampled_from(choices("source_tokens")),
    "target_tokens": st.sampled_from(choices("target_tokens")),
    "max_length": NOT_NEGATIVE, "model": st.sampled_from(choices("model")),
    "epochs": POSITIVE, "batch_size": NOT_NEGATIVE, "embed_size": POSITIVE, "hidden_size": POSITIVE,
    "embed_scale": st.floats(0, 1e300, exclude_min=True, **FINITE),
    "lstm_init": st.sampled_from(choices("lstm_init")),
    "optimizer": st.sampled_from(choices("optimizer")),
    "lr": st.floats(0, 1e300, exclude_min=True, **FINITE),
    "lr_decay": st.floats(0, 1, exclude_min=True, **FINITE),
    "lr_schedule": st.sampled_from(choices("lr_schedule")), "lr_patience": POSITIVE, "patience": NOT_NEGATIVE,
    "time_budget": st.floats(0, 1e300, **FINITE), "clip": st.floats(0, 1e300, **FINITE),
    "reverse": st.booleans(), "bucket": st.booleans(),
    "attention": st.sampled_from(choices("attention")),
    "layers": POSITIVE, "bidirectional": st.booleans(), "dropout": st.floats(0, 1, exclude_max=True, **FINITE),
    "seed": NOT_NEGATIVE, "n_examples": POSITIVE,
    "valid_fraction": st.floats(0, 1, exclude_min=True, exclude_max=True, **FINITE),
    "max_output_length": NOT_NEGATIVE, "beam": POSITIVE, "test_beam": NOT_NEGATIVE, "keep_stress": st.booleans(),
    "device": st.sampled_from(choices("device")), "checkpoint_every": NOT_NEGATIVE, "workers": NOT_NEGATIVE,
    "threads": NOT_NEGATIVE, "dev_only": st.booleans(), "label_smoothing": st.floats(0, 1, exclude_max=True, **FINITE),
    "keep_epochs": NOT_NEGATIVE, "warmup_steps": NOT_NEGATIVE,
    "heads": st.sampled_from([1, 2, 4, 8, 16, 32, 64]),  # the Transformer's own hidden_size 64 divides into them
    "ff_size": NOT_NEGATIVE, "attention_dropout": st.floats(0, 1, exclude_max=True, **FINITE),
    "beta2": st.floats(0, 1, exclude_max=True, **FINITE),
}


def reader_of(key):
    """The flags choosing a model that reads `key`, when the default model does not."""
    if key not in foreign_settings(MODELS[Config.model]):
        return []
    return ["--model", next(name for name, model in MODELS.items() if key in model.settings)]


def train_settings(*argv):
    """The Config of a `jumok train` command line (nothing is trained)."""
    return settings_from_args(build_parser().parse_args(["train", *argv]))[0]


def test_every_setting_has_a_valid_strategy():
    assert set(VALID) == set(field_types())


@PROPERTY
@given(data=st.data())
def test_set_of_a_valid_value_gives_that_value(data):
    key = data.draw(st.sampled_from(sorted(VALID)))
    value = data.draw(VALID[key], label=key)  # bidirectional: the default hidden_size 256 is even, as needed
    config = train_settings(*reader_of(key), "--set", f"{section_of(key)}.{key}={toml_value(value)}")
    assert getattr(config, key) == value and type(getattr(config, key)) is type(value)


TYPED = {bool: st.booleans(), int: st.integers(-2**63, 2**63 - 1),
         float: st.floats(allow_nan=False), str: st.text(TEXT_CHARS, max_size=10)}


@PROPERTY
@given(data=st.data())
def test_set_parses_any_value_of_the_right_type(data):
    """Type-level: the value comes back as written (range checks are the Config's)."""
    key = data.draw(st.sampled_from(sorted(key_types())))
    kind, _ = _unpack(key_types()[key])
    value = data.draw(TYPED[kind], label=key)
    assert parse_assignment(f"{section_of(key)}.{key}={toml_value(value)}") == (key, value)


@PROPERTY
@given(key=st.sampled_from(sorted(k for k, v in key_types().items() if _unpack(v)[0] is str)),
       text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), min_size=1)
       .map(str.strip).filter(lambda t: t and t[0] not in "\"'"))
def test_set_takes_bare_text_for_a_string_key(key, text):
    assert parse_assignment(f"{section_of(key)}.{key}={text}") == (key, text)


def wrong_values(kind):
    """TOML texts of values that are not of `kind`."""
    scalars = {bool: st.booleans().map(toml_value),
               int: st.integers(-10**6, 10**6).map(toml_value),
               float: st.floats(allow_nan=False).filter(lambda x: x != int(x) if math.isfinite(x) else True)
               .map(toml_value),
               str: st.text(TEXT_CHARS, max_size=8).map(toml_value)}
    choices = [strategy for other, strategy in scalars.items()
               if other is not kind and not (kind is float and other is int)]  # an int is a valid float
    choices.append(st.lists(st.integers(0, 9), max_size=3).map(lambda xs: f"[{', '.join(map(str, xs))}]"))
    choices.append(st.just("{ a = 1 }"))
    return st.one_of(choices)


NOT_STRING_KEYS = sorted(k for k, v in key_types().items() if _unpack(v)[0] is not str)


@PROPERTY
@given(data=st.data())
def test_an_ill_typed_value_is_always_a_config_error(data, folder):
    key = data.draw(st.sampled_from(NOT_STRING_KEYS))
    kind, _ = _unpack(key_types()[key])
    text = data.draw(wrong_values(kind), label="value")
    section = section_of(key)
    with pytest.raises(ConfigError, match=f"^--set {section}.{key}: expected "):
        parse_assignment(f"{section}.{key}={text}")
    path = folder / "ill-typed.toml"
    path.write_text(f"[{section}]\n{key} = {text}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: \[{section}\] {key}: expected "):
        load_toml(path)


@PROPERTY
@given(key=st.sampled_from(sorted(field_types())),
       text=st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\n\r"), max_size=12))
def test_any_set_text_gives_a_config_or_a_config_error(key, text):
    """Never another exception, whatever follows the ``=``."""
    try:
        config = train_settings("--set", f"{section_of(key)}.{key}={text}")
    except ConfigError as e:
        assert "\n" not in str(e)
    else:
        assert isinstance(config, Config)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                max_size=3), max_leaves=5)


@PROPERTY
@given(values=st.dictionaries(st.sampled_from(sorted(field_types())), JSON, max_size=4))
def test_any_config_json_gives_a_config_or_a_config_error(values):
    """What a run directory's config.json may hold after a bad edit."""
    try:
        Config.from_dict(json.loads(json.dumps(values)))
    except ConfigError:
        pass


def test_sections_cover_the_strategies():
    assert {key for keys in SECTIONS.values() for key in keys} == set(VALID)
