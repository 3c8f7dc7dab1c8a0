"""jumok.evaluation.validation_loss: the training loss on validation pairs, dropout off."""

import numpy as np
import pytest

from jumok.config import Config
from jumok.data.batching import Dataset
from jumok.data.vocab import Vocab
from jumok.evaluation import validation_loss
from jumok.models import build_model


@pytest.fixture
def dataset():
    rng = np.random.default_rng(4)
    words = sorted({"".join(rng.choice(list("abcd"), rng.integers(1, 7))) for _ in range(60)})
    pairs = [(list(w), list(w.upper())) for w in words]
    return Dataset(pairs, Vocab.build(s for s, _ in pairs), Vocab.build(t for _, t in pairs))


def test_it_is_the_token_weighted_mean_of_the_batch_losses_whatever_the_batch_size(dataset):
    model = build_model(Config(embed_size=4, hidden_size=8, dropout=0.3), len(dataset.src_vocab),
                        len(dataset.tgt_vocab), np.random.default_rng(0))
    state = model.dropout_rng.bit_generator.state
    whole = validation_loss(model, dataset, batch_size=len(dataset))  # one batch: the model's own mean
    model.eval()
    batch = next(dataset.batches(len(dataset)))
    expected = float(model.forward(batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask))
    model.train()
    assert whole == pytest.approx(expected, rel=1e-6)
    assert validation_loss(model, dataset, batch_size=7) == pytest.approx(whole, rel=1e-5)  # padding never counts
    assert model.training and model.dropout_rng.bit_generator.state == state  # no dropout drawn, mode restored
