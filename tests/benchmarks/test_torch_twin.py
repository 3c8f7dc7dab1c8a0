"""The PyTorch twin of the benchmarks (benchmarks/torch_model.py, benchmarks/torch_train.py):
its two-way encoder, the reversal of its sources, and the epoch `python -m benchmarks.parallel
--epoch` times. Skipped when PyTorch is not installed."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (benchmarks/torch_model.py needs it)")

from benchmarks.parallel_epoch import torch_epoch  # noqa: E402
from benchmarks.torch_model import TorchAttentionSeq2seq  # noqa: E402
from benchmarks.torch_train import source_arrays  # noqa: E402
from jumok.data.batching import pad  # noqa: E402
from jumok.layers.stack import reversal_index  # noqa: E402


def test_reversal_is_jumoks_within_the_real_length():
    src, mask = pad([[5, 6, 7], [8], [9, 10, 11, 12]], pad_id=0)
    reversed_src, reversed_mask = source_arrays(src, mask, reverse=True)
    assert reversed_src.tolist() == [[7, 6, 5, 0], [8, 0, 0, 0], [12, 11, 10, 9]]
    assert np.array_equal(reversed_src.numpy(), np.take_along_axis(src, reversal_index(mask), axis=1))
    assert np.array_equal(reversed_mask.numpy(), mask)
    assert np.array_equal(source_arrays(src, mask, reverse=False)[0].numpy(), src)


def test_the_parallel_benchmarks_pytorch_epoch_is_one_epoch_on_jumoks_pairs(capsys):
    torch_epoch(n_examples=300)  # the chapter's settings on 270 generated dates
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["epoch"] == 1 and entry["seconds"] > 0 and 0 <= entry["valid_exact_match"] <= 1


def test_the_two_way_pytorch_encoder_joins_each_directions_final_state():
    torch.manual_seed(0)
    model = TorchAttentionSeq2seq(9, 7, 4, 6, packed=True, bidirectional=True)
    src, mask = pad([[1, 2, 3], [4], [5, 6, 7, 8]], pad_id=0)
    enc_hs, (h, c) = model.encode(torch.from_numpy(src), torch.from_numpy(mask))
    assert enc_hs.shape == (3, 4, 6) and h.shape == c.shape == (1, 3, 6)
    lengths = mask.sum(axis=1)
    for row, length in enumerate(lengths):
        forward_last, backward_first = enc_hs[row, length - 1, :3], enc_hs[row, 0, 3:]
        assert torch.allclose(h[0, row], torch.cat([forward_last, backward_first]))  # jumok's h_layers
        assert bool((enc_hs[row, length:] == 0).all())  # padding is never read
