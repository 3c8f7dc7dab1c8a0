"""Reading the fixed-width pair files of the classic course's seq2seq chapter.

*Deep Learning from Scratch 2* ships ``addition.txt`` and ``date.txt``: each line is the
question, an underscore, then the answer, both padded with spaces to a fixed width, e.g.
``"16+75  _91  "`` or ``"september 27, 1994           _1994-09-27"``.

The line is split at its **first** ``_``, so a question cannot contain ``_`` while an
answer can. The padding (trailing spaces of each side) is stripped; leading and inner
spaces are kept: ``"september 27, 1994           _1994-09-27"`` gives
``("september 27, 1994", "1994-09-27")``. Encoding, BOM, CRLF and blank-line handling are
the same as for TSV files (`jumok.data.tsv.read_lines`).
"""

from jumok.data.tsv import check_sides, read_lines
from jumok.errors import DataError

SEPARATOR = "_"


def read_dlfs2(path, source_tokens: str = "char", target_tokens: str = "char") -> list[tuple[str, str]]:
    """Read ``question_answer`` lines into ``(question, answer)`` pairs (see the module docstring).

    Every problem raises `DataError` with a ``path:line: ...`` message. ``source_tokens`` /
    ``target_tokens`` are checked as in `jumok.data.tsv.read_tsv`.
    """
    pairs = []
    for where, line in read_lines(path, "a question_answer file"):
        if not line or line.isspace():
            continue  # blank line
        question, answer = parse_dlfs2_line(line, where)
        check_sides(where, question, answer, source_tokens, target_tokens, names=("question", "answer"))
        pairs.append((question, answer))
    if not pairs:
        raise DataError(f"{path}: empty file, expected question_answer lines")
    return pairs


def parse_dlfs2_line(line: str, where: str = "line") -> tuple[str, str]:
    """Split one non-blank line at its first ``_`` and strip the padding, or raise `DataError`."""
    question, separator, answer = line.partition(SEPARATOR)
    if not separator:
        raise DataError(f"{where}: expected question_answer (no '_' found)")
    question, answer = question.rstrip(" "), answer.rstrip(" ")
    if not question:
        raise DataError(f"{where}: empty question, expected question_answer")
    if not answer:
        raise DataError(f"{where}: empty answer, expected question_answer")
    return question, answer
