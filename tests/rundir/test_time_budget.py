"""--time-budget: no epoch starts that would end past the budget."""

import pytest
from checks import ONE_OF_EACH_KIND, train_flags

from jumok.schedule import out_of_time


def test_out_of_time_uses_the_longest_epoch_so_far():
    history = [{"seconds": 50.0}, {"seconds": 70.0}]
    assert not out_of_time(history, 0)  # 0 = no budget
    assert not out_of_time([], 1)  # nothing measured yet: the first epoch always runs
    assert not out_of_time(history, 190 / 60)  # 120 spent + 70 = 190 s fits exactly
    assert out_of_time(history, 189 / 60)


@pytest.mark.parametrize("name", ONE_OF_EACH_KIND)
def test_training_stops_at_the_budget(tmp_path, name):
    from jumok.cli import main

    out = tmp_path / "run"
    code = main(["train", "--task", "addition", "--n-examples", "300",
                 *train_flags(name, ["--hidden-size", "8", "--embed-size", "4"]),
                 "--epochs", "5", "--time-budget", "0.00001", "--out", str(out), "--quiet"])
    assert code in (0, None)
    import json

    history = json.loads((out / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == [1]
    assert json.loads((out / "config.json").read_text())["time_budget"] == 0.00001
