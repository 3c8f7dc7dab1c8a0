"""The mean of a run's parameters over its last epochs (`jumok average`).

With ``--keep-epochs K`` training keeps the parameters θ_e at the end of each of the last K
epochs as epoch-e.npz. Their mean, parameter by parameter,

    θ̄ = (1/K) Σ_{e ∈ E} θ_e          (E: the chosen epochs, |E| = K)

is often a better model than any one of them: late in training each epoch's Adam steps
leave the parameters somewhere around a low region of the loss, and the mean lands nearer
its middle (checkpoint averaging; Polyak and Juditsky, 1992, for the averaged iterate).
Nothing is trained: θ̄ is summed in float64 and stored in the parameters' own dtype, in a
new run directory that every command reads like any other.
"""

from pathlib import Path

import numpy as np

from jumok.errors import CheckpointError
from jumok.models import load_run
from jumok.rundir import files
from jumok.rundir.arrays import load_params, params_data
from jumok.rundir.documents import history_data, setup_files
from jumok.rundir.files import CONFIG, EPOCH_PARAMS, HISTORY, PARAMS, kept_epochs


def average_epochs(run_dir, epochs, out_dir):
    """Write into `out_dir` a run directory whose params.npz is the mean of `run_dir`'s
    epoch-e.npz over `epochs` (its config, vocabularies and history are the source's).
    Returns the `Run` of the source, holding the averaged parameters."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.resolve() == run_dir.resolve():
        raise CheckpointError(f"{out_dir}: is the run being averaged; write the mean into a new directory")
    if (out_dir / CONFIG).exists():
        raise CheckpointError(f"{out_dir}: holds a run already; choose a new directory for the mean")
    kept = kept_epochs(run_dir)
    missing = sorted(set(epochs) - set(kept))
    if missing:
        have = f"epochs {', '.join(map(str, kept))}" if kept else "none (train with --keep-epochs K)"
        raise CheckpointError(f"{run_dir}: keeps no parameters for epoch {', '.join(map(str, missing))}; "
                              f"it keeps {have}")
    run = load_run(run_dir)
    total = {name: np.zeros(p.shape, np.float64) for name, p in run.model.state_dict().items()}
    for epoch in epochs:
        load_params(run_dir / EPOCH_PARAMS.format(epoch), run.model, f"{run_dir / CONFIG}")
        for name, p in run.model.state_dict().items():
            total[name] += p
    run.model.load_state_dict({name: (t / len(epochs)).astype(run.model.state_dict()[name].dtype)
                               for name, t in total.items()})
    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_files(out_dir, {PARAMS: params_data(run.model), HISTORY: history_data(run.history),
                                **setup_files(out_dir, run.config, run.src_vocab, run.tgt_vocab)})
    return run


def last_epochs(run_dir, count):
    """The `count` latest epochs `run_dir` keeps parameters for."""
    kept = kept_epochs(run_dir)
    if count > len(kept):
        raise CheckpointError(f"{run_dir}: keeps the parameters of {len(kept)} epoch{'s' * (len(kept) != 1)}, "
                              f"fewer than --last {count} (train with --keep-epochs {count} or more)")
    return kept[-count:]
