"""Reading and writing ``source<TAB>target`` pair files.

`read_tsv` is strict: every problem raises `DataError` with a ``path:line: ...`` message
that says what was expected. `write_tsv` writes atomically.

`read_lines` is the part every pair-file reader shares (the dlfs2 reader uses it too):
opening the file, dropping a BOM, accepting LF and CRLF, decoding UTF-8 line by line, and
refusing lines longer than `MAX_LINE_CHARS`.
"""

from jumok.atomic import write_text
from jumok.data.tokens import tokenize_side
from jumok.errors import DataError

_BOM = b"\xef\xbb\xbf"
MAX_LINE_CHARS = 10_000
"""The longest line (in characters) jumok reads or translates. Sequences are processed one
step at a time and padded to the longest in a batch, so one line of a million characters
would need tens of gigabytes; such a line is refused with its file and line, never trained
on. (``--max-length`` drops training pairs above a smaller limit, with a count.)"""


def read_lines(path, expected: str):
    """Yield ``(where, line)`` for every line of the UTF-8 file ``path``, blank ones included.

    ``where`` is ``"path:line"`` (lines counted from 1) for error messages; ``line`` has no
    line ending. A leading BOM is dropped and LF and CRLF endings are accepted. A missing
    or unreadable file, a directory, invalid UTF-8 or a line longer than `MAX_LINE_CHARS`
    raises `DataError`; ``expected`` (e.g. ``"a source<TAB>target file"``) says in those
    messages what the file should be.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected {expected}") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    data = data.removeprefix(_BOM)
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        try:
            line = raw.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno}: invalid UTF-8 (byte {e.start + 1} of the line), "
                            f"expected UTF-8 text") from None
        if len(line) > MAX_LINE_CHARS:
            raise DataError(f"{path}:{lineno}: line of {len(line):,} characters, expected at most "
                            f"{MAX_LINE_CHARS:,} (shorten or remove it)")
        yield f"{path}:{lineno}", line


def check_sides(where, source, target, source_tokens, target_tokens, names=("source", "target")):
    """Raise `DataError` at ``where`` unless both sides give usable tokens in their modes.

    ``names`` are the words the message uses for the two sides.
    """
    tokenize_side(source, source_tokens, f"{where}: {names[0]}")
    tokenize_side(target, target_tokens, f"{where}: {names[1]}")


def read_tsv(path, source_tokens: str = "char", target_tokens: str = "char") -> list[tuple[str, str]]:
    """Read UTF-8 ``source<TAB>target`` lines into ``(source, target)`` pairs.

    A leading BOM is dropped, LF and CRLF endings are accepted and blank lines skipped.
    ``source_tokens`` / ``target_tokens`` (``"char"`` or ``"space"``) are the tokenisations
    the pairs are meant for: a side that would give no token (only whitespace in space
    mode) or a reserved token name is reported here, with its line.
    """
    pairs = []
    for where, line in read_lines(path, "a source<TAB>target file"):
        if not line or (line.isspace() and "\t" not in line):
            continue  # blank line
        source, target = _parse_line(line, where)
        check_sides(where, source, target, source_tokens, target_tokens)
        pairs.append((source, target))
    if not pairs:
        raise DataError(f"{path}: empty file, expected source<TAB>target lines")
    return pairs


def _parse_line(line, where):
    """Split one non-blank line into ``(source, target)``, or raise `DataError`."""
    tabs = line.count("\t")
    if tabs == 0:
        raise DataError(f"{where}: expected source<TAB>target, found no tab")
    if tabs > 1:
        raise DataError(f"{where}: expected source<TAB>target, found {tabs} tabs")
    source, target = line.split("\t")
    if not source:
        raise DataError(f"{where}: empty source, expected source<TAB>target")
    if not target:
        raise DataError(f"{where}: empty target, expected source<TAB>target")
    return source, target


def format_tsv(pairs) -> str:
    """The text of a TSV file of ``(source, target)`` pairs, one ``source<TAB>target\\n`` each.

    A text containing a tab, CR or LF cannot round-trip and raises ValueError. If the first
    source starts with U+FEFF, a BOM is written before it, so that reading drops the BOM
    and keeps the character.
    """
    lines = []
    for i, (source, target) in enumerate(pairs):
        for text in (source, target):
            if any(c in text for c in "\t\r\n"):
                raise ValueError(f"pair {i}: {text!r} contains a tab or newline")
        lines.append(f"{source}\t{target}\n")
    if lines and lines[0].startswith("\ufeff"):
        lines.insert(0, "\ufeff")
    return "".join(lines)


def write_tsv(path, pairs) -> None:
    """Write ``(source, target)`` pairs as UTF-8 ``source<TAB>target`` lines, atomically.

    A text containing a tab, CR or LF cannot round-trip and raises ValueError (and the
    file is left as it was).
    """
    write_text(path, format_tsv(pairs))
