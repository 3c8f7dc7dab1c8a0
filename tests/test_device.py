"""The device path (CuPy arrays, `--device gpu`), exercised without a GPU.

tests/fake_device.py stands in for CuPy: its arrays refuse to be combined with host arrays,
so a whole training step, greedy and beam decoding running on them prove that the compute
path picks its array module from its arrays and never mixes host and device; and since the
fake does NumPy's arithmetic, the results must equal the NumPy run exactly. The same checks
run on real CuPy where it and a GPU are present (to a float32 tolerance); here they skip.
"""

import sys

import numpy as np
import pytest
from checks import tiny_model
from fake_device import FakeDeviceArray, install

from jumok import rundir
from jumok.backend import array_module, device_module, to_device, to_numpy
from jumok.cli import build_parser, main
from jumok.cli.train import settings_from_args
from jumok.config import Config
from jumok.data.batching import Dataset
from jumok.data.tokens import tokenize
from jumok.data.tsv import write_tsv
from jumok.data.vocab import Vocab
from jumok.decoding import Search, beam_search, decode, greedy_decode
from jumok.errors import ConfigError, JumokError
from jumok.evaluation import evaluate_dataset
from jumok.models import MODELS
from jumok.optim import Adam, clip_grad_norm
from jumok.train import Trainer

fake = install()

V_SRC, V_TGT, BOS, EOS = 11, 13, 1, 2

CASES = {  # the MODELS entry and its Config settings
    "attention-dot": {"name": "attention"},
    "attention-general-2-layers-bidirectional-dropout": {"name": "attention", "attention": "general", "layers": 2,
                                                         "bidirectional": True, "dropout": 0.3},
    "attention-additive-reversed": {"name": "attention", "attention": "additive", "reverse": True},
    "attention-scaled-dot-dropout": {"name": "attention", "attention": "scaled-dot", "dropout": 0.2},
    "peeky-2-layers-dropout": {"name": "peeky", "layers": 2, "dropout": 0.2},
    "seq2seq-bidirectional": {"name": "seq2seq", "bidirectional": True},
    "transformer-2-layers-dropout-attention-dropout": {"name": "transformer", "layers": 2, "dropout": 0.2,
                                                       "attention_dropout": 0.1},
}


def build(case):
    """The model of `case`, a tiny one (`checks.tiny_model`) seeded 0."""
    settings = dict(case)
    return tiny_model(settings.pop("name"), V_SRC, V_TGT, np.random.default_rng(0), **settings)


def batch(seed, N=5, S=7, T=6):
    """Padded random (src, src_mask, tgt_in, tgt_out, tgt_mask), host arrays, lengths varied."""
    rng = np.random.default_rng(seed)
    src_len, tgt_len = rng.integers(1, S + 1, N), rng.integers(1, T + 1, N)
    src_len[0], tgt_len[0] = S, T
    src_mask = np.arange(S) < src_len[:, None]
    tgt_mask = np.arange(T) < tgt_len[:, None]
    src = np.where(src_mask, rng.integers(3, V_SRC, (N, S)), 0)
    tgt_in = np.where(tgt_mask, rng.integers(3, V_TGT, (N, T)), 0)
    tgt_out = np.where(tgt_mask, rng.integers(2, V_TGT, (N, T)), 0)
    return src, src_mask, tgt_in, tgt_out, tgt_mask


def train_steps(model, steps=2):
    """`steps` training steps (forward, backward, clipping, Adam) on the model's device.
    Returns (losses, norms, optimizer)."""
    optimizer = Adam(model, lr=0.01)
    named_grads = [(name, g) for name, _, g in model.named_parameters()]
    losses, norms = [], []
    for step in range(steps):
        losses.append(model.forward(*(to_device(a, model.xp) for a in batch(step))))
        model.zero_grad()
        model.backward()
        norms.append(clip_grad_norm(named_grads, 1.0))
        optimizer.step()
    return losses, norms, optimizer


def decode_both(model, beam=3):
    """Greedy and beam (nbest 2) decoding of a batch with their maps, sources on the model's device."""
    src, src_mask = (to_device(a, model.xp) for a in batch(7)[:2])
    greedy = greedy_decode(model, src, src_mask, Search(BOS, EOS, 5), maps=True)
    beam = beam_search(model, src, src_mask, Search(BOS, EOS, 5, beam, nbest=2, length_penalty=0.7), maps=True)
    return greedy, beam


def assert_same_state(a, b, assert_equal):
    for (name, p, g), (_, q, h) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert_equal(to_numpy(p), to_numpy(q), err_msg=name)
        assert_equal(to_numpy(g), to_numpy(h), err_msg=name)


def assert_same_hypothesis(h, d, assert_equal):
    """The device's hypothesis `d` is the host's `h`, and all of it came back to the host."""
    assert type(d.tokens) is np.ndarray and all(type(a) is np.ndarray for a in d.maps.values())
    np.testing.assert_array_equal(d.tokens, h.tokens)
    assert d.ended == h.ended
    assert (d.score is None) == (h.score is None)
    if h.score is not None:
        assert_equal(d.score, h.score)
    assert d.maps.keys() == h.maps.keys()
    for name, a in h.maps.items():
        assert_equal(d.maps[name], a, err_msg=name)


def assert_same_decoding(cpu, device, assert_equal):
    (greedy, beam), (d_greedy, d_beam) = cpu, device
    for hyps, d_hyps in zip(greedy + beam, d_greedy + d_beam, strict=True):
        assert len(d_hyps) == len(hyps)
        for h, d in zip(hyps, d_hyps, strict=True):
            assert_same_hypothesis(h, d, assert_equal)


# --- the fake device is strict --------------------------------------------------------------

def test_the_fake_device_refuses_host_arrays():
    a = fake.ones((2, 3), dtype=np.float32)
    assert array_module(a) is fake and array_module(np.ones(2), a) is fake and array_module(np.ones(2)) is np
    for mixed in (lambda: a + np.ones(3), lambda: np.ones(3) * a, lambda: np.concatenate([a, np.ones((1, 3))]),
                  lambda: a[np.array([0, 1])], lambda: a.__setitem__(0, np.ones(3)), lambda: fake.tanh(np.ones(3)),
                  lambda: fake.matmul(a, np.ones((3, 2))), lambda: np.asarray(a)):
        with pytest.raises(TypeError):
            mixed()
    b = a * 2.0 + np.float32(1.0)  # scalars are fine
    assert isinstance(b, FakeDeviceArray) and not isinstance(b, np.ndarray)
    assert isinstance(b.sum(), FakeDeviceArray) and float(b.sum()) == 18.0  # reductions stay on the device
    assert type(to_numpy(b)) is np.ndarray and to_device(np.ones(2), fake).get().tolist() == [1.0, 1.0]


# --- the whole model on the fake device equals NumPy exactly --------------------------------

@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_training_and_decoding_on_the_device_equal_numpy(case):
    cpu, device = build(case), build(case).to(fake)
    assert all(isinstance(p, FakeDeviceArray) and isinstance(g, FakeDeviceArray)
               for _, p, g in device.named_parameters())
    losses, norms, optimizer = train_steps(cpu)
    d_losses, d_norms, d_optimizer = train_steps(device)  # any host/device mix raises TypeError
    assert d_losses == losses and d_norms == norms
    assert_same_state(cpu, device, np.testing.assert_array_equal)
    assert all(isinstance(p, FakeDeviceArray) for _, p, _ in device.named_parameters())  # still on the device
    state = device.state_dict()
    assert all(type(a) is np.ndarray for a in state.values())
    assert all(type(a) is np.ndarray for a in d_optimizer.state().values())
    for name, a in optimizer.state().items():
        np.testing.assert_array_equal(d_optimizer.state()[name], a, err_msg=name)
    assert_same_decoding(decode_both(cpu), decode_both(device), np.testing.assert_array_equal)


def test_moving_to_the_device_and_back_and_loading_host_arrays():
    model = build(CASES["attention-general-2-layers-bidirectional-dropout"])
    before = {k: a.copy() for k, a in model.state_dict().items()}
    model.to(fake)
    assert model.xp is fake
    model.load_state_dict({k: a + 1 for k, a in before.items()})  # host arrays into device parameters
    assert all(isinstance(p, FakeDeviceArray) for _, p, _ in model.named_parameters())
    model.to("cpu")
    assert model.xp is np and all(type(p) is np.ndarray and type(g) is np.ndarray
                                  for _, p, g in model.named_parameters())
    for name, a in model.state_dict().items():
        np.testing.assert_array_equal(a, before[name] + 1)


def test_checkpoints_are_written_from_host_memory_and_load_onto_the_device(tmp_path):
    case = CASES["peeky-2-layers-dropout"]
    device = build(case).to(fake)
    _, _, optimizer = train_steps(device, steps=1)
    rundir.save_training_state(tmp_path / "last.npz", device, optimizer, {"epoch": 1})
    rundir.save_params(tmp_path / "params.npz", device)
    cpu, again = build(case), build(case).to(fake)
    rundir.load_params(tmp_path / "params.npz", cpu)
    again_optimizer = Adam(again)
    assert rundir.load_training_state(tmp_path / "last.npz", again, again_optimizer)["epoch"] == 1
    assert all(isinstance(m, FakeDeviceArray) for m in again_optimizer.m.values())
    for name, a in device.state_dict().items():
        np.testing.assert_array_equal(cpu.state_dict()[name], a)
        np.testing.assert_array_equal(again.state_dict()[name], a)
    for name, a in optimizer.state().items():
        np.testing.assert_array_equal(again_optimizer.state()[name], a)


def pairs(n, seed):
    rng = np.random.default_rng(seed)
    words = ["".join(rng.choice(list("abcde"), rng.integers(2, 6))) for _ in range(n)]
    return [(tokenize(w), tokenize(w[::-1])) for w in words]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_train_epoch_and_evaluation_move_batches_to_the_device(name):
    data = pairs(24, seed=1)
    dataset = Dataset(data, Vocab.build(s for s, _ in data), Vocab.build(t for _, t in data))
    config = Config(batch_size=8, dropout=0.2, optimizer="adam", lr=0.01)

    results = []
    for xp in (np, fake):
        model = tiny_model(name, len(dataset.src_vocab), len(dataset.tgt_vocab), np.random.default_rng(0),
                           dropout=0.2).to(xp)
        trainer = Trainer.for_model(model, config, dataset, rng=np.random.default_rng(3))
        losses = [trainer.train_epoch(epoch)[0] for epoch in (1, 2)]
        metrics, outputs = evaluate_dataset(model, dataset, max_len=7, batch_size=10, beam=2)
        found = decode(model, dataset.sources, dataset.src_vocab.pad_id, Search(dataset.tgt_vocab.bos_id,
                       dataset.tgt_vocab.eos_id, 7, beam=2, rows=10), maps=True)  # with the maps
        assert model.training  # decoding restores the training mode
        results.append((losses, metrics, outputs, found))
    (losses, metrics, outputs, found), (d_losses, d_metrics, d_outputs, d_found) = results
    assert d_losses == losses and d_metrics == metrics and d_outputs == outputs
    for hyps, d_hyps in zip(found, d_found, strict=True):
        assert set(hyps[0].maps) == set(model.map_names)
        for h, d in zip(hyps, d_hyps, strict=True):
            assert_same_hypothesis(h, d, np.testing.assert_array_equal)


# --- real CuPy on a GPU (skipped where there is none) ------------------------------------------

@pytest.fixture(scope="module")
def cupy():
    cupy = pytest.importorskip("cupy")
    try:
        device_module("gpu")
    except JumokError as e:
        pytest.skip(str(e))
    return cupy


def assert_close(actual, desired, err_msg=""):
    np.testing.assert_allclose(actual, desired, rtol=1e-4, atol=1e-5, err_msg=err_msg)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_training_and_decoding_on_cupy_match_numpy(cupy, case):
    cpu, gpu = build(case), build(case).to("gpu")
    assert all(isinstance(p, cupy.ndarray) for _, p, _ in gpu.named_parameters())
    losses, norms, _ = train_steps(cpu)
    g_losses, g_norms, g_optimizer = train_steps(gpu)
    assert_close(g_losses, losses)
    assert_close(g_norms, norms)
    assert_same_state(cpu, gpu, assert_close)
    assert all(type(a) is np.ndarray for a in [*gpu.state_dict().values(), *g_optimizer.state().values()])
    assert_same_decoding(decode_both(cpu), decode_both(gpu), assert_close)


# --- the device setting and the CLI -------------------------------------------------------------

def test_device_setting_and_flag():
    def parse(*argv):
        return settings_from_args(build_parser().parse_args(["train", *argv]))[0]

    assert Config().device == "cpu"
    assert parse("--device", "gpu").device == "gpu"
    assert parse("--set", "train.device=gpu").device == "gpu"
    with pytest.raises(ConfigError, match="device must be one of cpu, gpu"):
        Config(device="tpu")


def gpu_error(tmp_path, capsys, *extra):
    write_tsv(tmp_path / "train.tsv", [("ab", "BA"), ("abc", "CBA"), ("ca", "AC")])
    code = main(["train", "--data", str(tmp_path / "train.tsv"), "--out", str(tmp_path / "run"), "--quiet",
                 "--device", "gpu", *extra])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith('jumok: error: --device gpu needs CuPy and a CUDA GPU: pip install ".[gpu]" (')
    assert not (tmp_path / "run").exists()  # refused before anything was written
    return err


def test_device_gpu_without_cupy_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` fails, installed or not
    assert "cupy" in gpu_error(tmp_path, capsys)


def test_device_gpu_when_cupy_is_not_installed(tmp_path, capsys):
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed")
    assert "No module named 'cupy'" in gpu_error(tmp_path, capsys)


def test_resume_may_change_the_device(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    (tmp_path / "config.json").write_text(Config().to_json())
    assert main(["train", "--resume", str(tmp_path), "--device", "gpu", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("jumok: error: --device gpu needs CuPy") and "Traceback" not in err
