"""Reading and writing ``source<TAB>target`` pair files.

`read_tsv` is strict: every problem raises `DataError` with a ``path:line: ...`` message
that says what was expected. `write_tsv` writes atomically.
"""

from jumok.atomic import write_text
from jumok.errors import DataError

_BOM = b"\xef\xbb\xbf"


def read_tsv(path) -> list[tuple[str, str]]:
    """Read UTF-8 ``source<TAB>target`` lines into ``(source, target)`` pairs.

    A leading BOM is dropped, LF and CRLF endings are accepted and blank lines skipped.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a source<TAB>target file") from None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    pairs = []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}:{lineno}: invalid UTF-8 (byte {e.start + 1} of the line), "
                            "expected UTF-8 text") from None
        if not line or (line.isspace() and "\t" not in line):
            continue  # blank line
        pairs.append(_parse_line(line, f"{path}:{lineno}"))
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


def write_tsv(path, pairs) -> None:
    """Write ``(source, target)`` pairs as UTF-8 ``source<TAB>target`` lines, atomically.

    A text containing a tab, CR or LF cannot round-trip and raises ValueError.
    """
    lines = []
    for i, (source, target) in enumerate(pairs):
        for text in (source, target):
            if any(c in text for c in "\t\r\n"):
                raise ValueError(f"pair {i}: {text!r} contains a tab or newline")
        lines.append(f"{source}\t{target}\n")
    write_text(path, "".join(lines))

