"""``python -m jumok.config [PATH]``: write the configuration reference (docs/config.md) to
PATH, or print it."""

import sys
from pathlib import Path

from jumok.config.reference import reference_markdown

if len(sys.argv) > 2 or sys.argv[1:2] and sys.argv[1].startswith("-"):  # `--help` is not a PATH to write over
    sys.exit("usage: python -m jumok.config [PATH]")
if len(sys.argv) == 2:
    Path(sys.argv[1]).write_text(reference_markdown(), encoding="utf-8")
else:
    sys.stdout.buffer.write(reference_markdown().encode("utf-8"))
