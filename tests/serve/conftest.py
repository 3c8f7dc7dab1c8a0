"""The run every test of `jumok serve` serves, trained once for the session (serving only
reads it), and its Python API model, loaded afresh in each test module."""

import pytest
from checks import train_uppercase_run
from serve_checks import TRAIN

import jumok


@pytest.fixture(scope="session")
def char_run(tmp_path_factory):
    """A tiny trained char-level attention run: lower-case a..f words to upper case."""
    return train_uppercase_run(tmp_path_factory.mktemp("serve"), 1, TRAIN)


@pytest.fixture(scope="module")
def model(char_run):
    return jumok.load(char_run)
