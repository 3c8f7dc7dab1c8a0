"""Property-based tests (hypothesis) of the pieces every input passes through: the TSV
reader and writer, the tokenisers and vocabulary files (setting overrides:
tests/config/test_config_properties.py).

Example counts are kept small (`PROPERTY`) so the suite stays fast; ``--hypothesis-seed``
or a larger ``max_examples`` explore further.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_strategies import PROPERTY, SIDE, TEXT_CHARS

from jumok.data.tokens import detokenize, tokenize
from jumok.data.tsv import read_tsv, write_tsv
from jumok.data.vocab import SPECIALS, Vocab
from jumok.errors import DataError

PAIRS = st.lists(st.tuples(SIDE, SIDE), min_size=1, max_size=15)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("properties")


# ---------------------------------------------------------------------------------------
# TSV files
# ---------------------------------------------------------------------------------------


@PROPERTY
@given(pairs=PAIRS)
def test_any_pairs_without_tab_or_newline_round_trip(folder, pairs):
    path = folder / "round-trip.tsv"
    write_tsv(path, pairs)
    assert read_tsv(path) == pairs


@PROPERTY
@given(pairs=PAIRS)
def test_windows_files_read_the_same(folder, pairs):
    """A BOM and CRLF endings (a file saved on Windows) change nothing."""
    path = folder / "windows.tsv"
    text = "".join(f"{source}\t{target}\r\n" for source, target in pairs)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    if pairs[0][0].startswith("\ufeff"):  # a second U+FEFF after the BOM is text, and kept
        assert read_tsv(path) == pairs
    else:
        assert read_tsv(path) == pairs and not read_tsv(path)[0][0].startswith("\ufeff")


VALID_LINE = st.tuples(SIDE, SIDE).map("\t".join)
BLANK_LINE = st.sampled_from(["", " ", "\r", "  \r"])
NO_TAB_LINE = SIDE.filter(lambda text: text.replace("\ufeff", "").strip())
MANY_TABS_LINE = st.lists(st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\t\n\r"),
                                  max_size=5), min_size=3, max_size=6).map("\t".join)


@PROPERTY
@given(before=st.lists(st.one_of(VALID_LINE, BLANK_LINE), max_size=10),
       bad=st.one_of(NO_TAB_LINE, MANY_TABS_LINE),
       after=st.lists(st.one_of(VALID_LINE, NO_TAB_LINE), max_size=5))
def test_a_line_with_the_wrong_number_of_tabs_is_named_by_its_number(folder, before, bad, after):
    path = folder / "bad.tsv"
    path.write_bytes("\n".join([*before, bad, *after]).encode("utf-8"))
    with pytest.raises(DataError) as info:
        read_tsv(path)
    tabs = bad.count("\t")
    found = "no tab" if tabs == 0 else f"{tabs} tabs"
    assert str(info.value) == f"{path}:{len(before) + 1}: expected source<TAB>target, found {found}"


# ---------------------------------------------------------------------------------------
# Tokenisers
# ---------------------------------------------------------------------------------------

WORD = st.text(TEXT_CHARS, min_size=1, max_size=8).filter(lambda word: word.split() == [word])


@PROPERTY
@given(text=st.text(TEXT_CHARS))
def test_char_mode_is_lossless(text):
    tokens = tokenize(text, "char")
    assert len(tokens) == len(text) and all(len(token) == 1 for token in tokens)
    assert detokenize(tokens, "char") == text


@PROPERTY
@given(words=st.lists(WORD, max_size=8))
def test_space_mode_round_trips_single_spaced_text(words):
    """Valid space-mode text is tokens without whitespace, joined by single spaces."""
    text = " ".join(words)
    assert tokenize(text, "space") == words
    assert detokenize(tokenize(text, "space"), "space") == text


@PROPERTY
@given(text=st.text(TEXT_CHARS))
def test_space_mode_normalises_any_whitespace(text):
    normal = detokenize(tokenize(text, "space"), "space")
    assert normal == " ".join(text.split())
    assert tokenize(normal, "space") == tokenize(text, "space")
    assert all(token and not any(c.isspace() for c in token) for token in tokenize(text, "space"))


# ---------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------

TOKEN = st.text(TEXT_CHARS, max_size=6).filter(lambda token: token not in SPECIALS)


@PROPERTY
@given(tokens=st.lists(TOKEN, max_size=30))
def test_vocabulary_save_and_load_round_trip(folder, tokens):
    vocab = Vocab(tokens)
    path = folder / "vocab.json"
    vocab.save(path)
    loaded = Vocab.load(path)
    assert loaded == vocab and loaded.tokens == vocab.tokens
    assert [loaded.token_to_id(t) for t in tokens] == [vocab.token_to_id(t) for t in tokens]
    assert loaded.decode(loaded.encode(tokens)) == tokens
