"""Strict reading of source<TAB>target files and atomic writing."""

import pytest

from jumok.data import read_tsv, write_tsv
from jumok.data.tsv import MAX_LINE_CHARS
from jumok.errors import DataError


def _file(tmp_path, data: bytes):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(data)
    return path


def test_reads_pairs_with_bom_crlf_and_blank_lines(tmp_path):
    path = _file(tmp_path, b"\xef\xbb\xbfa b\tx\r\n\r\n\nc\t\xc3\xa9 y\n  \nlast\tz")
    assert read_tsv(path) == [("a b", "x"), ("c", "é y"), ("last", "z")]


def test_spaces_are_kept(tmp_path):
    assert read_tsv(_file(tmp_path, b" a \t b \n")) == [(" a ", " b ")]


@pytest.mark.parametrize("data, line, expected", [
    (b"a\tb\nno tab here\n", 2, "expected source<TAB>target, found no tab"),
    (b"a\tb\tc\n", 1, "found 2 tabs"),
    (b"a\tb\n\n\tb\n", 3, "empty source"),
    (b"a\t\n", 1, "empty target"),
    (b"a\tb\nok\tfine\nbad\t\xff\xfe\n", 3, "invalid UTF-8"),
])
def test_errors_name_file_line_and_expectation(tmp_path, data, line, expected):
    path = _file(tmp_path, data)
    with pytest.raises(DataError) as info:
        read_tsv(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")
    assert expected in message


@pytest.mark.parametrize("data", [b"", b"\n\r\n\n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path, data):
    path = _file(tmp_path, data)
    with pytest.raises(DataError) as info:
        read_tsv(path)
    assert str(info.value) == f"{path}: empty file, expected source<TAB>target lines"


def test_missing_file(tmp_path):
    path = tmp_path / "nope.tsv"
    with pytest.raises(DataError) as info:
        read_tsv(path)
    assert str(info.value) == f"{path}: no such file"


def test_write_then_read_round_trip(tmp_path):
    pairs = [("September 27, 1994", "1994-09-27"), ("한글 ", "é")]
    path = tmp_path / "out.tsv"
    write_tsv(path, pairs)
    assert path.read_bytes() == "September 27, 1994\t1994-09-27\n한글 \té\n".encode()
    assert read_tsv(path) == pairs
    assert [p.name for p in tmp_path.iterdir()] == ["out.tsv"]


@pytest.mark.parametrize("bad", [("a\tb", "c"), ("a", "b\nc"), ("a\r", "b")])
def test_write_rejects_tab_and_newline_and_leaves_old_file(tmp_path, bad):
    path = tmp_path / "out.tsv"
    write_tsv(path, [("old", "file")])
    with pytest.raises(ValueError):
        write_tsv(path, [("fine", "pair"), bad])
    assert read_tsv(path) == [("old", "file")]
    assert len(list(tmp_path.iterdir())) == 1


def test_lines_up_to_the_limit_are_read_and_longer_ones_refused(tmp_path):
    longest = "a" * (MAX_LINE_CHARS - 2)
    assert read_tsv(_file(tmp_path, f"{longest}\tb\r\n".encode())) == [(longest, "b")]  # CR not counted
    path = _file(tmp_path, f"a\tb\n{longest}\tbc\n".encode())
    with pytest.raises(DataError) as info:
        read_tsv(path)
    assert str(info.value) == f"{path}:2: line of {MAX_LINE_CHARS + 1:,} characters, expected at most 10,000 " \
                              "(shorten or remove it)"


def test_a_first_source_starting_with_u_feff_keeps_it(tmp_path):
    pairs = [("\ufeffa", "b"), ("\ufeffc", "d")]
    path = tmp_path / "out.tsv"
    write_tsv(path, pairs)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf\xef\xbb\xbfa\t")  # a BOM, then the character
    assert read_tsv(path) == pairs
