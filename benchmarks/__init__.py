"""Speed benchmarks for jumok (run `python -m benchmarks --help`). Not part of the package."""

import datetime
import json
import socket
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_record(record, out=None, kind=""):
    """Write a benchmark's JSON `record` to `out`, by default to
    benchmarks/results/[<kind>-]<host>-<date>.json; print and return the path."""
    host = socket.gethostname() or "local"
    name = "-".join(part for part in (kind, host, datetime.date.today().isoformat()) if part)
    path = Path(out) if out else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path
