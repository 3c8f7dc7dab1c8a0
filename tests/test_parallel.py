"""Data parallelism without MPI: the slices, the loss normaliser, dropout over a slice of
the batch, the one-process world and the choice of the number of workers."""

import numpy as np
import pytest

from jumok import launch
from jumok.errors import ConfigError
from jumok.layers.dropout import Dropout, set_rows, uniform_uint16, uniform_uint16_rows
from jumok.layers.loss import SoftmaxCrossEntropy
from jumok.models.seq2seq import AttentionSeq2seq
from jumok.parallel import GradientSum, World, rows_of


@pytest.mark.parametrize("n, size", [(13, 2), (7, 3), (2, 4), (128, 2), (0, 2)])
def test_rows_of_cover_the_batch_in_order_with_sizes_one_apart(n, size):
    slices = [rows_of(n, rank, size) for rank in range(size)]
    assert [i for s in slices for i in range(n)[s]] == list(range(n))
    lengths = [s.stop - s.start for s in slices]
    assert max(lengths) - min(lengths) <= 1 and lengths == sorted(lengths, reverse=True)


def test_loss_over_slices_with_the_global_count_adds_up_to_the_whole_batch():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((5, 4, 6))
    targets = rng.integers(0, 6, (5, 4))
    mask = np.arange(4) < np.array([4, 1, 3, 2, 4])[:, None]  # (5, 4)
    whole = SoftmaxCrossEntropy()
    loss = whole.forward(scores, targets, mask)
    dx = whole.backward()
    parts, grads = [], []
    for rows in (slice(0, 3), slice(3, 5)):
        part = SoftmaxCrossEntropy()
        parts.append(part.forward(scores[rows], targets[rows], mask[rows], count=int(mask.sum())))
        grads.append(part.backward())
    assert sum(parts) == pytest.approx(loss, rel=1e-14)
    np.testing.assert_allclose(np.concatenate(grads), dx, rtol=1e-14, atol=1e-16)
    # the default count is the mask's own: the same number as before the argument existed
    assert SoftmaxCrossEntropy().forward(scores, targets, mask, count=None) == loss


def test_dropout_over_slices_draws_the_whole_batch_masks():
    x = np.random.default_rng(1).standard_normal((7, 3, 4))
    whole = Dropout(0.5, np.random.default_rng(2))
    expected = whole.forward(x)
    for rows in (slice(0, 4), slice(4, 7)):
        part = Dropout(0.5, np.random.default_rng(2))  # each worker holds the same stream
        part.rows = (7, rows.start, rows.stop)
        np.testing.assert_array_equal(part.forward(x[rows]), expected[rows])
        np.testing.assert_array_equal(part.backward(np.ones_like(x[rows])), whole.backward(np.ones_like(x))[rows])
    full = Dropout(0.5, np.random.default_rng(2))
    full.rows = (7, 0, 7)  # the whole batch as one slice: today's draw, number for number
    np.testing.assert_array_equal(full.forward(x), expected)
    with pytest.raises(ValueError, match="rows 0:3 of a batch of 7, got 7 rows"):
        part.rows = (7, 0, 3)
        part.forward(x)


def test_set_rows_reaches_every_dropout_of_a_model():
    model = AttentionSeq2seq(6, 7, 4, 8, rng=np.random.default_rng(0), dropout=0.2, layers=2)
    set_rows(model, (9, 2, 5))
    found = []

    def walk(module):
        if isinstance(module, Dropout):
            found.append(module.rows)
        for _, child in module.children():
            walk(child)

    walk(model)
    assert len(found) >= 4 and set(found) == {(9, 2, 5)}
    set_rows(model, None)


def test_the_one_process_world_gives_back_what_it_is_given():
    world = World()
    assert (world.rank, world.size, world.is_root) == (0, 1, True)
    values = [np.float32(1.5), 2, 0.1]
    assert world.sum(values) == values and all(type(a) is type(b) for a, b in zip(world.sum(values), values))
    assert world.any(1) is True and world.any(0) is False
    assert world.max(3.5) == 3.5
    assert world.broadcast({"a": [1]}) == {"a": [1]}
    assert world.gather([1, 2]) == [1, 2] and world.shard([1, 2, 3]) == [1, 2, 3]
    assert world.rows(5) == slice(0, 5)
    world.agree([np.ones(2)])
    model = AttentionSeq2seq(6, 7, 4, 8, rng=np.random.default_rng(0))
    grads = {name: g for name, _, g in model.named_parameters()}
    summed = GradientSum(model, world)
    summed()  # nothing to do: the gradients stay the very same arrays
    assert summed.buffer is None and all(g is grads[name] for name, _, g in model.named_parameters())


def test_workers_wanted(monkeypatch):
    monkeypatch.setattr(launch, "available_cores", lambda: 3)
    monkeypatch.setattr(launch, "missing_mpi", lambda: None)
    assert launch.workers_wanted("auto") == 3 and launch.workers_wanted("2") == 2 and launch.workers_wanted(1) == 1
    assert launch.workers_wanted(0) == 3  # auto, as a config file writes it
    with pytest.raises(ConfigError, match="--workers must be at least 1 or auto, got -1"):
        launch.workers_wanted(-1)
    monkeypatch.setattr(launch, "missing_mpi", lambda: "mpi4py is not installed")
    notices = []
    assert launch.workers_wanted("auto", log=notices.append) == 1
    assert notices == ['--workers auto: one worker (mpi4py is not installed; for 3, pip install mpi4py mpich '
                       '(or pip install ".[mpi]"))']
    assert launch.workers_wanted(1) == 1  # one worker never needs MPI
    with pytest.raises(ConfigError, match=r"--workers 2 needs MPI, but mpi4py is not installed: pip install mpi4py"):
        launch.workers_wanted(2)


def test_hydras_banner_becomes_nothing_and_gives_the_reason(capsys):
    banner = ["\n", "=" * 83 + "\n", "=   BAD TERMINATION OF ONE OF YOUR APPLICATION PROCESSES\n",
              "=   PID 17443 RUNNING AT vm\n", "=   EXIT CODE: 9\n", "=" * 83 + "\n",
              "YOUR APPLICATION TERMINATED WITH THE EXIT STRING: Killed (signal 9)\n",
              "This typically refers to a problem with your application.\n",
              "Please see the FAQ page for debugging suggestions\n"]
    assert launch._pass_output(["a\n", "\n", "b\n", *banner]) == "Killed (signal 9)"
    assert capsys.readouterr().out == "a\n\nb\n"
    assert launch._pass_output(["a\n", "=====\n", "\n"]) is None
    assert capsys.readouterr().out == "a\n=====\n\n"
    ctrl_c = ["[mpiexec@vm] Sending Ctrl-C to processes as requested\n",
              "[mpiexec@vm] Press Ctrl-C again to force abort\n", "[mpiexec@vm] something else\n"]
    assert launch._pass_output(ctrl_c) is None
    assert capsys.readouterr().out == "[mpiexec@vm] something else\n"


@pytest.mark.parametrize("total, shape", [(7, (3, 4)), (5, (3,)), (9, (2, 3, 5)), (3, (1,))])
def test_a_slices_mask_numbers_are_the_whole_draws_and_the_generator_ends_alike(total, shape):
    """Every slice of rows, aligned to the 64-bit draws or not, gets exactly its rows of the
    whole batch's numbers, and its generator ends where the whole draw leaves one."""
    whole_rng = np.random.default_rng(4)
    whole = uniform_uint16(whole_rng, (total, *shape))
    for start in range(total):
        for stop in range(start + 1, total + 1):
            rng = np.random.default_rng(4)
            np.testing.assert_array_equal(uniform_uint16_rows(rng, total, shape, start, stop), whole[start:stop])
            assert rng.bit_generator.state == whole_rng.bit_generator.state


def test_a_generator_without_advance_draws_the_whole_batch_and_cuts_it():
    rng, whole = np.random.Generator(np.random.MT19937(4)), np.random.Generator(np.random.MT19937(4))
    np.testing.assert_array_equal(uniform_uint16_rows(rng, 6, (5,), 2, 4), uniform_uint16(whole, (6, 5))[2:4])
    assert rng.bit_generator.state["state"]["pos"] == whole.bit_generator.state["state"]["pos"]
