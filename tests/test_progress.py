"""`jumok.progress`: tqdm's bar on a terminal, a few whole lines anywhere else."""

import io

import pytest
from tqdm import tqdm

from jumok import progress
from jumok.progress import LineProgress, progress_bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    """A stand-in for time.perf_counter that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", fake)
    return fake


def run(bar, steps, clock=None, seconds_per_step=0.0):
    with bar:
        for _ in range(steps):
            if clock is not None:
                clock.now += seconds_per_step
            bar.update(1)
            bar.set_postfix(loss="1.2345", **{"pairs/s": "512"})
    return bar


def test_a_terminal_gets_tqdms_bar():
    stream = Terminal()
    bar = run(progress_bar(5, 0, "epoch 1/2", stream=stream), 5)
    assert isinstance(bar, tqdm) and bar.n == 5
    assert "\r" in stream.getvalue() and "5/5" in stream.getvalue()


def test_a_file_gets_one_line_for_a_quick_loop(clock):
    stream = io.StringIO()
    bar = progress_bar(29, 0, "epoch 2/5", stream=stream)
    assert isinstance(bar, LineProgress) and bar.format_dict["rate"] is None
    run(bar, 29, clock, 0.1)
    assert bar.n == 29 and bar.format_dict["rate"] == pytest.approx(10.0)
    assert stream.getvalue() == "epoch 2/5: 100% 29/29 batch [00:02, 10.00 batch/s] loss=1.2345, pairs/s=512\n"


def test_lines_come_every_minute_at_most_two_for_an_epoch_under_two_minutes(clock):
    stream = io.StringIO()
    run(progress_bar(11, 0, "epoch 1/1", stream=stream), 11, clock, 10.5)  # 115.5 s
    lines = stream.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["epoch 1/1: 55% 6/11 batch", "epoch 1/1: 100% 11/11 batch"]
    assert "\r" not in stream.getvalue()
    stream = io.StringIO()
    run(progress_bar(100, 0, "long", stream=stream), 100, clock, 3.0)  # 300 s: a line a minute and the last
    assert len(stream.getvalue().splitlines()) == 5 and stream.getvalue().endswith("[05:00, 0.33 batch/s] "
                                                                                 "loss=1.2345, pairs/s=512\n")


def test_a_resumed_epoch_counts_from_where_it_was(clock):
    stream = io.StringIO()
    bar = run(progress_bar(10, 6, "epoch 3/3", stream=stream), 4, clock, 0.5)
    assert bar.n == 10 and bar.format_dict["rate"] == pytest.approx(2.0)  # 4 steps in 2 s
    assert stream.getvalue().startswith("epoch 3/3: 100% 10/10 batch [00:02, 2.00 batch/s]")


def test_disabled_writes_nothing_even_on_a_terminal(clock):
    stream = Terminal()
    bar = run(progress_bar(3, 0, "epoch 1/1", enabled=False, stream=stream), 3, clock, 100.0)
    assert stream.getvalue() == "" and bar.n == 3 and bar.format_dict["rate"] == pytest.approx(0.01)


def test_the_line_is_written_when_the_loop_fails():
    stream = io.StringIO()
    with pytest.raises(KeyError), progress_bar(8, 0, "epoch 1/1", stream=stream) as bar:
        bar.update(3)
        raise KeyError("stop")
    assert stream.getvalue().startswith("epoch 1/1: 38% 3/8 batch [00:00, ")
    bar.close()  # once only
    assert len(stream.getvalue().splitlines()) == 1


def test_odd_streams_are_not_terminals():
    closed = io.StringIO()
    closed.close()
    assert not progress.is_terminal(closed) and not progress.is_terminal(object())
    assert progress.clock(59.9) == "00:59" and progress.clock(3 * 3600 + 62) == "3:01:02"
