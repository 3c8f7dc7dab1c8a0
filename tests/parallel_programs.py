"""Programs the data-parallel tests run, each as ``python tests/parallel_programs.py NAME OUT
[ARGS]``: under ``mpiexec -n 2`` as two ranks, or alone as one process (`jumok.parallel.World`).
Rank 0 writes what the test compares into the folder OUT."""

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from jumok.data.batching import Dataset
from jumok.errors import TrainingError
from jumok.layers.dropout import set_rows
from jumok.models.seq2seq import AttentionSeq2seq
from jumok.optim import Adam, clip_grad_norm
from jumok.parallel import GradientSum, get_world


def collectives(out):
    """Every collective of the world, with rank-dependent inputs."""
    world = get_world()
    r = world.rank
    grads = np.full(5, r + 1, dtype=np.float32)
    result = {
        "size": world.size,
        "sum": world.sum([r + 1, 0.5 * r]),
        "any_rank1": world.any(r == 1),
        "any_none": world.any(False),
        "max": world.max(float(10 - r)),
        "broadcast": world.broadcast({"from": r, "list": [1, 2]}),
        "gather": world.gather([f"rank{r}-a", f"rank{r}-b"][: r + 1]),
        "shard_gather": world.gather(world.shard(list(range(7)))),
        "rows": [world.rows(7).start, world.rows(7).stop],
    }
    try:
        world.agree([grads])
        result["agree_different"] = "no error"
    except TrainingError as e:
        result["agree_different"] = str(e)
    world.agree([np.ones(3)])  # equal everywhere: no error
    if world.is_root:
        Path(out, "collectives.json").write_text(json.dumps(result))


def _words(seed, count=48):
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list("abcdefg"), rng.integers(2, 7))) for _ in range(count)})
    return [(list(w), list(w[::-1].upper())) for w in words]


def steps(out, dropout="0", count="4"):
    """A few Adam steps of a tiny attention model on batches of 13 pairs (odd, so the ranks'
    slices differ in size), each rank on its slice: rank 0 saves the parameters and losses."""
    from jumok.data.vocab import Vocab

    world = get_world()
    pairs = _words(1)
    src_vocab = Vocab.build([s for s, _ in pairs])
    tgt_vocab = Vocab.build([t for _, t in pairs])
    data = Dataset(pairs, src_vocab, tgt_vocab)
    rng = np.random.default_rng(3)
    model = AttentionSeq2seq(len(src_vocab), len(tgt_vocab), 8, 16, rng=rng, dropout=float(dropout))
    optimizer = Adam(model, lr=0.01)
    gradient_sum = GradientSum(model, world)
    named_grads = [(name, g) for name, _, g in model.named_parameters()]
    losses, norms = [], []
    for batch in list(data.batches(13, rng))[: int(count)]:
        rows = world.rows(batch.size)
        set_rows(model, (batch.size, rows.start, rows.stop))
        arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
        loss = model.forward(*(a[rows] for a in arrays), count=int(batch.tgt_mask.sum()))
        model.zero_grad()
        model.backward()
        gradient_sum()
        norms.append(clip_grad_norm(named_grads, 1.0))
        optimizer.step()
        losses.append(world.sum([loss])[0])
    world.agree([p for _, p, _ in model.named_parameters()])
    if world.is_root:
        np.savez(Path(out, f"params-{world.size}.npz"), **model.state_dict())
        Path(out, f"losses-{world.size}.json").write_text(json.dumps({"losses": losses, "norms": norms}))


def replaced_gradients(out):
    """One backward of a tiny model on each rank's slice of a batch of 13, its gradient arrays
    replaced after `GradientSum` was set up (cast to float64, and one assigned anew), then
    summed: rank 0 saves the gradients, and whether the sum wrote into the arrays the model
    holds (none rebound)."""
    from jumok.data.vocab import Vocab

    world = get_world()
    pairs = _words(1)
    data = Dataset(pairs, Vocab.build([s for s, _ in pairs]), Vocab.build([t for _, t in pairs]))
    model = AttentionSeq2seq(len(data.src_vocab), len(data.tgt_vocab), 8, 16, rng=np.random.default_rng(3))
    gradient_sum = GradientSum(model, world)
    model.astype(np.float64)
    out_layer = model.decoder.out
    out_layer.grads["b"] = np.zeros_like(out_layer.grads["b"])
    batch = next(iter(data.batches(13, np.random.default_rng(5))))
    rows = world.rows(batch.size)
    arrays = (batch.src, batch.src_mask, batch.tgt_in, batch.tgt_out, batch.tgt_mask)
    model.forward(*(a[rows] for a in arrays), count=int(batch.tgt_mask.sum()))
    model.zero_grad()
    model.backward()
    held = [g for _, _, g in model.named_parameters()]
    gradient_sum()
    kept = all(g is h for (_, _, g), h in zip(model.named_parameters(), held, strict=True))
    if world.is_root:
        np.savez(Path(out, f"grads-{world.size}.npz"), **{name: g for name, _, g in model.named_parameters()})
        Path(out, f"kept-{world.size}.json").write_text(json.dumps(kept))


def evaluate(out, beam="1"):
    """`evaluate_dataset` of an untrained model over 37 pairs, some sharing a source (several
    references), decoded by the ranks together, and `decode_shared` of the same sources: rank
    0 saves the metrics, the outputs and the hypotheses (tokens, ended, log_prob, score)."""
    from jumok.data.vocab import Vocab
    from jumok.decoding import Search
    from jumok.evaluation import decode_shared, evaluate_dataset

    world = get_world()
    pairs = _words(2, 30)
    pairs += [(s, t[:1]) for s, t in pairs[:7]]  # alternative references of seven sources
    data = Dataset(pairs, Vocab.build([s for s, _ in pairs]), Vocab.build([t for _, t in pairs]))
    model = AttentionSeq2seq(len(data.src_vocab), len(data.tgt_vocab), 8, 16, rng=np.random.default_rng(4)).eval()
    metrics, outputs = evaluate_dataset(model, data, 9, batch_size=5, beam=int(beam), world=world)
    vocab = data.tgt_vocab
    search = Search(vocab.bos_id, vocab.eos_id, 9, int(beam), nbest=int(beam), rows=5)
    unique = data.sources[:30]  # the first 30 pairs' sources are distinct: 15 a rank, 3 chunks of 5 each
    found = decode_shared(world, model, unique, data.src_vocab.pad_id, search)
    if world.is_root:
        hypotheses = [[[h.tokens.tolist(), h.ended, h.log_prob, h.score] for h in hyps] for hyps in found]
        Path(out, f"evaluate-{world.size}.json").write_text(json.dumps({"metrics": metrics, "outputs": outputs,
                                                                        "hypotheses": hypotheses}))


def forever(out):
    """Sum a small array over the ranks every 10 ms, for ever; each rank writes its pid first."""
    world = get_world()
    Path(out, f"pid{world.rank}").write_text(str(os.getpid()))
    from mpi4py import MPI

    buffer = np.ones(100)
    while True:
        world.comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        buffer[:] = 1
        time.sleep(0.01)


def one_fails(out):
    """Rank 1 fails (`World.fail`) while rank 0 waits in a collective."""
    world = get_world()
    if world.rank == 1:
        time.sleep(0.5)
        print("rank 1 fails", file=sys.stderr)
        world.fail(3)
    world.sum([1.0])
    Path(out, "rank0-finished").write_text("the collective returned")


if __name__ == "__main__":
    name, out, *rest = sys.argv[1:]
    globals()[name](out, *rest)
