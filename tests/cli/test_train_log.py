"""`jumok train` with stderr going to a file (nohup, CI, ``2> log``): whole lines, a few an epoch."""

import os
import re
import subprocess
import sys

from checks import REPO
from jumok.data.tsv import write_tsv


def test_training_into_a_file_writes_lines_not_a_redrawn_bar(tmp_path):
    write_tsv(tmp_path / "train.tsv", [(w, w.upper()) for w in ("abc", "bad", "cafe", "fed", "ace", "dab", "be", "ef")
                                       for _ in range(6)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    with open(tmp_path / "log", "w") as log:
        done = subprocess.run([sys.executable, "-m", "jumok", "train", "--data", str(tmp_path / "train.tsv"),
                               "--out", str(tmp_path / "run"), "--epochs", "3", "--hidden-size", "8",
                               "--embed-size", "4", "--batch-size", "8"],
                              stdout=subprocess.PIPE, stderr=log, text=True, timeout=120, env=env)
    text = (tmp_path / "log").read_text()
    assert done.returncode == 0, text
    assert "\r" not in text
    for epoch in (1, 2, 3):
        progress = [line for line in text.splitlines() if line.startswith(f"epoch {epoch}/3:")]
        assert 1 <= len(progress) <= 2, text
        assert re.fullmatch(rf"epoch {epoch}/3: 100% (\d+)/\1 batch \[\d\d:\d\d, [\d.]+ batch/s\] loss=\d\.\d{{4}}",
                            progress[-1]), progress[-1]
    assert len(text.splitlines()) <= 3 * 2 + 10  # the progress lines and the log's own few
