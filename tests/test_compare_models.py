"""scripts/compare_models.py: the chapter's comparison, over several seeds (tiny runs)."""

import importlib.util
import json

from checks import REPO


def load_script():
    spec = importlib.util.spec_from_file_location("compare_models", REPO / "scripts" / "compare_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_several_seeds_give_a_spread(tmp_path, capsys):
    compare = load_script()
    compare.main(["dates-chapter", "--seeds", "0", "1", "--only", "attention", "seq2seq + reverse",
                  "--epochs", "2", "--n-examples", "300", "--hidden-size", "8", "--embed-scale", "1",
                  "--out", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")])
    name = "dates-chapter-embed1-seeds2"
    histories = json.loads((tmp_path / "docs" / f"comparison-{name}.json").read_text())
    assert set(histories) == {"attention", "seq2seq + reverse"} and set(histories["attention"]) == {"0", "1"}
    assert (tmp_path / "docs" / f"comparison-{name}.png").stat().st_size > 0
    runs = tmp_path / "runs" / name / "attention"
    assert json.loads((runs / "seed1" / "config.json").read_text())["seed"] == 1
    assert json.loads((runs / "seed0" / "config.json").read_text())["embed_scale"] == 1.0
    printed = capsys.readouterr().out.splitlines()
    table = printed[printed.index("| model | ep 1 | ep 2 | s/epoch |"):]
    assert len(table) == 4
    attention = next(line for line in table if line.startswith("| attention | "))
    matches = [[e["valid_exact_match"] for e in histories["attention"][seed]] for seed in ("0", "1")]
    low, high = min(matches[0][1], matches[1][1]), max(matches[0][1], matches[1][1])
    assert f"({100 * low:.1f}–{100 * high:.1f}) |" in attention  # epoch 2's range over the two seeds


def test_one_seed_keeps_the_one_history_format(tmp_path):
    compare = load_script()
    compare.main(["addition", "--seed", "3", "--only", "seq2seq", "--epochs", "1", "--n-examples", "200",
                  "--hidden-size", "8", "--out", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")])
    histories = json.loads((tmp_path / "docs" / "comparison-addition.json").read_text())
    assert list(histories) == ["seq2seq"] and histories["seq2seq"][0]["epoch"] == 1
