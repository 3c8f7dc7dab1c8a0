"""The run directory: everything training writes, and reads back to resume or predict.
No pickle anywhere.

    config.json    the full configuration, plus the run directory's "format_version"
    config.toml    the same settings in sections     vocab.json    both vocabularies
    params.npz     the best parameters so far         history.json  one record per epoch
    last.npz       the full training state at the latest checkpoint (an epoch's end, or every
                   ``checkpoint_every`` steps inside one), for --resume: parameters
                   ("param.<name>"), optimizer moments ("optim.<name>"), inside an epoch its
                   batch order ("state.order"), and a JSON document ("meta": epoch, position
                   in the epoch and its running loss sums, optimizer step, learning rate,
                   RNG states, best score, patience counters, history)
    epoch-N.npz    with ``keep_epochs`` K, the parameters at the end of each of the last K
                   epochs (older ones removed), for `jumok.average`
    average.json   with ``keep_epochs`` K, how their mean scored on validation after training
                   and whether it became params.npz
    manifest.json  the SHA-256 of each file above, checked whenever one is loaded
    test.json, curves.png, attention.png   written once, after training

One module per job: `files` (the names, the manifest, atomic writes under it and the checks
against it), `arrays` (params.npz and last.npz), `documents` (the JSON files), `state` (the
training state in last.npz), `resume` (--resume, step checkpoints, clearing the directory).
Rebuilding the model of a run is `jumok.models.load_run`'s; predicting with it,
`jumok.load`'s. A config.json, manifest.json or training state carrying a format version
newer than this jumok knows is refused; every problem is a one-line `CheckpointError`.
"""

from jumok.rundir.arrays import (
    load_params,
    load_training_state,
    params_data,
    save_params,
    save_training_state,
    training_state_data,
)
from jumok.rundir.documents import history_data, load_config, load_vocabs, read_history, save_history, save_setup
from jumok.rundir.files import (
    ATTENTION,
    CONFIG,
    CONFIG_TOML,
    CURVES,
    HISTORY,
    LAST,
    MANIFEST,
    PARAMS,
    TEST,
    VOCAB,
    VOUCHED,
    adopt,
    read_manifest,
    verify,
    verify_files,
    write_files,
)

__all__ = ["ATTENTION", "CONFIG", "CONFIG_TOML", "CURVES", "HISTORY", "LAST", "MANIFEST", "PARAMS", "TEST", "VOCAB",
           "VOUCHED", "adopt", "history_data", "load_config", "load_params", "load_training_state", "load_vocabs",
           "params_data", "read_history", "read_manifest", "save_history", "save_params", "save_setup",
           "save_training_state", "training_state_data", "verify", "verify_files", "write_files"]
