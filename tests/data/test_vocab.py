"""Vocabulary ids, encode/decode, persistence; tokenize/detokenize."""

import json

import numpy as np
import pytest

from jumok.data import Vocab, detokenize, tokenize
from jumok.errors import DataError, JumokError, UnknownTokenError


def test_specials_have_fixed_ids_and_tokens_follow_in_given_order():
    v = Vocab(["b", "a", "b", "c"])
    assert v.tokens == ["<pad>", "<s>", "</s>", "<unk>", "b", "a", "c"]
    assert (v.pad_id, v.bos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3)
    assert len(v) == 7
    assert v.token_to_id("b") == 4 and v.id_to_token(5) == "a"
    assert "c" in v and "<pad>" in v and "z" not in v


def test_special_name_as_token_is_rejected():
    with pytest.raises(ValueError, match="special"):
        Vocab(["a", "</s>"])


def test_build_collects_all_tokens_sorted():
    v = Vocab.build([["c", "a"], ["b", "a"], []])
    assert v.tokens[4:] == ["a", "b", "c"]
    assert Vocab.build([["b", "a"]]) == Vocab.build([["a"], ["b"]])


def test_encode_and_decode_round_trip():
    v = Vocab(list("abc"))
    ids = v.encode(list("cab"))
    assert ids == [6, 4, 5]
    assert v.decode(ids) == list("cab")


def test_encode_unknown_error_names_every_unknown_token():
    v = Vocab(list("abc"))
    with pytest.raises(UnknownTokenError) as info:
        v.encode(list("axbyx"))
    assert info.value.tokens == ["x", "y"]
    assert "'x'" in str(info.value) and "'y'" in str(info.value)
    assert isinstance(info.value, JumokError)


def test_encode_unknown_unk_maps_to_unk_id():
    v = Vocab(list("ab"))
    assert v.encode(list("azb"), unknown="unk") == [4, 3, 5]
    with pytest.raises(ValueError):
        v.encode(["a"], unknown="skip")


def test_decode_stops_at_eos_and_skips_pad_and_bos_numpy_input():
    v = Vocab(list("ab"))
    ids = np.array([1, 4, 0, 5, 2, 4, 4], dtype=np.int64)
    assert v.decode(ids) == ["a", "b"]
    assert v.decode([]) == []
    assert v.decode([3]) == ["<unk>"]


def test_id_to_token_out_of_range():
    with pytest.raises(IndexError):
        Vocab(["a"]).id_to_token(5)
    with pytest.raises(UnknownTokenError):
        Vocab(["a"]).token_to_id("q")


def test_dict_and_file_round_trip(tmp_path):
    v = Vocab(["é", "b", " ", "\t"])
    assert v.to_dict() == {"tokens": ["é", "b", " ", "\t"]}
    assert Vocab.from_dict(json.loads(json.dumps(v.to_dict()))) == v
    path = tmp_path / "vocab.json"
    v.save(path)
    assert Vocab.load(path) == v
    assert Vocab.load(path) != Vocab(["b", "é", " ", "\t"])
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp file left


def test_save_replaces_existing_file(tmp_path):
    path = tmp_path / "vocab.json"
    Vocab(list("abcdef")).save(path)
    Vocab(["x"]).save(path)
    assert Vocab.load(path) == Vocab(["x"])


def test_load_errors_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        Vocab.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Vocab.load(bad)
    bad.write_text('["a"]')
    with pytest.raises(DataError, match="tokens"):
        Vocab.load(bad)


def test_tokenize_modes():
    assert tokenize("ab c") == ["a", "b", " ", "c"]
    assert tokenize("  the cat\tsat ", "space") == ["the", "cat", "sat"]
    assert detokenize(["a", " ", "b"]) == "a b"
    assert detokenize(["the", "cat"], "space") == "the cat"
    text = "Sep 27, 1994"
    assert detokenize(tokenize(text)) == text
    with pytest.raises(ValueError, match="mode"):
        tokenize("x", "word")
    with pytest.raises(ValueError, match="mode"):
        detokenize(["x"], "bpe")
