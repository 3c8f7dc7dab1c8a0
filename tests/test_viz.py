"""Tests for jumok.viz: valid PNGs written atomically, clear errors for bad input."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from jumok import viz

SRC = str(Path(__file__).resolve().parents[1] / "src")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def attention(t_out, s, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.random((t_out, s))
    return w / w.sum(axis=1, keepdims=True)


def history(n_epochs=6, rate=0.2):
    return [
        {"epoch": e, "train_loss": 2.0 / e, "valid_exact_match": min(1.0, rate * e)}
        for e in range(1, n_epochs + 1)
    ]


def assert_png(path, expected_path, min_side=150, max_side=5000):
    assert path == expected_path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width = imread(path).shape[:2]
    assert min_side <= height <= max_side
    assert min_side <= width <= max_side
    leftovers = sorted(p.name for p in path.parent.iterdir() if p != path)
    assert leftovers == [], f"temporary files left behind: {leftovers}"
    return height, width


def test_plot_attention_writes_png(tmp_path):
    source, output = list("ab cd"), list("dc ba") + ["</s>"]
    out = viz.plot_attention(attention(6, 5), source, output, tmp_path / "att.png", title="t")
    assert_png(out, tmp_path / "att.png")


def test_plot_attention_figure_grows_with_lengths(tmp_path):
    short = viz.plot_attention(attention(3, 3), "abc", "cba", tmp_path / "a" / "short.png")
    long_source = "abcdefghijklmnopqrstuvwxyz" * 2
    long = viz.plot_attention(
        attention(40, len(long_source)), long_source, long_source[:40], tmp_path / "b" / "long.png"
    )
    short_h, short_w = assert_png(short, tmp_path / "a" / "short.png")
    long_h, long_w = assert_png(long, tmp_path / "b" / "long.png")
    assert long_w > short_w and long_h > short_h


def test_plot_attention_overwrites_existing_file(tmp_path):
    target = tmp_path / "att.png"
    target.write_bytes(b"old")
    viz.plot_attention(attention(2, 2), "ab", "ba", target)
    assert_png(target, target)


@pytest.mark.parametrize(
    "weights, source, output, message",
    [
        (np.ones((3, 4)), "abc", "abc", r"shape \(3, 4\).*3 output tokens and 3 source tokens"),
        (np.ones((4, 3)), "abcd", "abc", r"shape \(4, 3\).*3 output tokens and 4 source"),
        (np.ones(3), "abc", "abc", "must be 2-D"),
        (np.full((2, 2), np.nan), "ab", "ab", "NaN"),
    ],
)
def test_plot_attention_rejects_bad_weights(tmp_path, weights, source, output, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_attention(weights, source, output, tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


def test_failed_save_leaves_no_temp_file(tmp_path, monkeypatch):
    def broken_savefig(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(viz.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        viz.plot_attention(attention(2, 2), "ab", "ba", tmp_path / "att.png")
    assert list(tmp_path.iterdir()) == []


def test_display_token_makes_whitespace_visible():
    assert viz.display_token(" ") == "␣"
    assert viz.display_token("a b") == "a␣b"
    assert viz.display_token("") == "∅"
    assert viz.display_token(7) == "7"


def test_plot_attention_grid(tmp_path):
    examples = [
        (attention(3, 3, seed=i), "abc", "cba", f"example {i}") for i in range(3)
    ] + [(attention(5, 4), list("wxyz"), list("zyxw") + ["</s>"], None)]
    out = viz.plot_attention_grid(examples, tmp_path / "grid.png", columns=3)
    assert_png(out, tmp_path / "grid.png")


def test_plot_attention_grid_errors_name_the_example(tmp_path):
    good = (attention(2, 2), "ab", "ba", "ok")
    bad = (attention(2, 3), "ab", "ba", "bad")
    with pytest.raises(ValueError, match=r"example 1 weights has shape \(2, 3\)"):
        viz.plot_attention_grid([good, bad], tmp_path / "grid.png")
    with pytest.raises(ValueError, match="at least one example"):
        viz.plot_attention_grid([], tmp_path / "grid.png")
    with pytest.raises(ValueError, match="columns"):
        viz.plot_attention_grid([good], tmp_path / "grid.png", columns=0)
    assert list(tmp_path.iterdir()) == []


def test_plot_learning_curves(tmp_path):
    out = viz.plot_learning_curves(history(), tmp_path / "curves.png")
    height, width = assert_png(out, tmp_path / "curves.png")
    assert width > height  # two panels side by side


def test_plot_learning_curves_missing_key(tmp_path):
    records = history()
    del records[2]["train_loss"]
    with pytest.raises(ValueError, match="record 2 has no 'train_loss'"):
        viz.plot_learning_curves(records, tmp_path / "curves.png")
    with pytest.raises(ValueError, match="non-empty"):
        viz.plot_learning_curves([], tmp_path / "curves.png")


def test_plot_comparison(tmp_path):
    histories = {"attention": history(rate=0.3), "no attention": history(rate=0.1)}
    out = viz.plot_comparison(histories, tmp_path / "cmp.png", title="reversal")
    assert_png(out, tmp_path / "cmp.png")
    out = viz.plot_comparison(
        histories, tmp_path / "loss.png", metric="train_loss", percent=False
    )
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_seed_spread_is_median_and_range_per_epoch():
    runs = [history(rate=0.1), history(rate=0.3), history(rate=0.2)[:2]]  # the last stopped after 2 epochs
    spread = viz.seed_spread(runs)
    assert [epoch for epoch, *_ in spread] == [r["epoch"] for r in runs[0]]
    for epoch, median, low, high in spread:
        values = [r["valid_exact_match"] for run in runs for r in run if r["epoch"] == epoch]
        assert (median, low, high) == (float(np.median(values)), min(values), max(values))
    assert spread[2][1] == float(np.median([runs[0][2]["valid_exact_match"], runs[1][2]["valid_exact_match"]]))


def test_plot_comparison_of_several_seeds(tmp_path):
    seeds = {"attention": [history(rate=0.3), history(rate=0.2)], "one run": history(rate=0.1)}
    assert_png(viz.plot_comparison(seeds, tmp_path / "seeds.png"), tmp_path / "seeds.png")


def test_plot_comparison_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one history"):
        viz.plot_comparison({}, tmp_path / "cmp.png")
    with pytest.raises(ValueError, match="'gru'.*no 'valid_token_error_rate'"):
        viz.plot_comparison({"gru": history()}, tmp_path / "cmp.png",
                            metric="valid_token_error_rate")


def test_viz_does_not_import_pyplot():
    code = "import sys, jumok.viz; print('matplotlib.pyplot' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONPATH": SRC})
    assert result.stdout.strip() == "False"
