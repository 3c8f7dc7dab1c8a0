"""`Module.modules` / `named_modules`, the one walk of a module tree, and every walker that
goes through it: parameters, train/eval, to/astype, dropout rows and generators, the
gradients that `jumok.parallel.GradientSum` sums."""

import numpy as np

from jumok.layers.base import Module
from jumok.layers.dropout import Dropout, set_rows
from jumok.layers.lstm import LSTM
from jumok.models import AttentionSeq2seq
from jumok.parallel import GradientSum, World


class Leaf(Module):
    def __init__(self, size):
        super().__init__()
        self.add_param("W", np.zeros(size, dtype=np.float32))


class Branch(Module):
    def __init__(self):
        super().__init__()
        self.first = Leaf(1)
        self.items = [Leaf(2), "not a module", Leaf(3)]
        self.last = Leaf(4)


class Root(Module):
    def __init__(self):
        super().__init__()
        self.add_param("b", np.zeros(5, dtype=np.float32))
        self.branch = Branch()
        self.pair = (Leaf(6), Leaf(7))


def test_modules_are_the_module_then_each_subtree_in_attribute_order():
    root = Root()
    names = [name for name, _ in root.named_modules()]
    assert names == ["", "branch", "branch.first", "branch.items.0", "branch.items.2", "branch.last",
                     "pair.0", "pair.1"]
    assert [m for _, m in root.named_modules()] == list(root.modules())
    assert [m.params["W"].size for m in root.modules() if "W" in m.params] == [1, 2, 3, 4, 6, 7]
    assert [name for name, _ in root.branch.named_modules("x")][:2] == ["x", "x.first"]


def test_parameter_names_follow_the_walk():
    root = Root()
    assert [name for name, _, _ in root.named_parameters()] == [
        "b", "branch.first.W", "branch.items.0.W", "branch.items.2.W", "branch.last.W", "pair.0.W", "pair.1.W"]


def model(**options):
    return AttentionSeq2seq(6, 7, 4, 8, rng=np.random.default_rng(0), **options)


def test_the_walk_of_a_model_and_the_one_layer_stacks_names():
    names = [(name, type(m).__name__) for name, m in model().named_modules()]
    assert names == [
        ("", "AttentionSeq2seq"), ("encoder", "Encoder"), ("encoder.embed", "Embedding"),
        ("encoder.drop", "Dropout"), ("encoder.lstm", "LSTMStack"), ("encoder.lstm", "LSTM"),
        ("decoder", "AttentionDecoder"), ("decoder.embed", "Embedding"), ("decoder.drop", "Dropout"),
        ("decoder.lstm", "LSTMStack"), ("decoder.lstm", "LSTM"), ("decoder.attention", "TimeAttention"),
        ("decoder.attention.score", "DotScore"), ("decoder.out_drop", "Dropout"), ("decoder.out", "Affine")]
    # a one-layer stack's layer is named "": the checkpoints' names are those of a plain LSTM
    assert [name for name, _, _ in model().named_parameters()] == [
        "encoder.embed.W", "encoder.lstm.Wx", "encoder.lstm.Wh", "encoder.lstm.b", "decoder.embed.W",
        "decoder.lstm.Wx", "decoder.lstm.Wh", "decoder.lstm.b", "decoder.out.W", "decoder.out.b"]
    deep = [name for name, m in model(layers=2, dropout=0.2).named_modules() if name.startswith("encoder.lstm")]
    assert deep == ["encoder.lstm", "encoder.lstm.layers.0", "encoder.lstm.layers.1", "encoder.lstm.drops.0"]


def test_every_walker_agrees_with_modules():
    m = model(layers=2, dropout=0.2, bidirectional=True, attention="general")
    modules = list(m.modules())
    assert len({id(x) for x in modules}) == len(modules) == 23
    params = [p for x in modules for p in x.params.values()]
    assert [id(p) for _, p, _ in m.named_parameters()] == [id(p) for p in params]
    assert list(m._modules_of(LSTM)) == [x for x in modules if isinstance(x, LSTM)]
    dropouts = [x for x in modules if isinstance(x, Dropout)]
    assert list(m._dropouts()) == dropouts and len(dropouts) == 5
    assert m.dropout_generators() == [m.dropout_rng]

    set_rows(m, (9, 2, 5))
    assert [x.rows for x in dropouts] == [(9, 2, 5)] * len(dropouts)
    set_rows(m, None)
    assert all(x.rows is None for x in dropouts)

    m.eval()
    assert not any(x.training for x in modules)
    m.train()
    assert all(x.training for x in modules)

    grads = [g for x in modules for g in x.grads.values()]
    assert [id(g) for g in GradientSum(m, World()).gradients()] == [id(g) for g in grads]

    m.astype(np.float64)
    assert all(a.dtype == np.float64 for x in modules for d in (x.params, x.grads) for a in d.values())
    assert [id(p) for _, p, _ in m.named_parameters()] == [id(p) for x in modules for p in x.params.values()]
    m.to(np)  # the host: every array stays a NumPy array of the same dtype
    assert all(type(a) is np.ndarray and a.dtype == np.float64 for x in modules for a in x.grads.values())
