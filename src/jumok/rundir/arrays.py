"""Arrays in the run directory: the parameters (params.npz) and the training state
(last.npz). No pickle anywhere.

Arrays are named ``.npz`` entries (dtype kept), loaded with ``allow_pickle=False`` and
checked name by name and shape by shape against the model the config describes, before the
file is checked against the manifest (so a truncated archive or a parameter of the wrong
shape gets its own message). last.npz holds the parameters ("param.<name>"), the optimizer
moments ("optim.<name>"), extra arrays of the state ("state.<name>", e.g. an epoch's batch
order) and a JSON document ("meta", see `jumok.rundir.state`) with the state's "version".
"""

import io
import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

from jumok.errors import CheckpointError
from jumok.rundir import files
from jumok.rundir.files import read_bytes, verify

STATE_VERSION = 2  # "version" in last.npz's meta; 2 added the position inside an epoch
STATE_VERSIONS = (1, 2)  # the training-state versions this jumok reads


def npz_data(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def params_data(model):
    """The bytes of a params.npz holding the model's parameters."""
    return npz_data(model.state_dict())


def save_params(path, model):
    path = Path(path)
    files.write_files(path.parent, {path.name: params_data(model)})


def _read_npz(path, data):
    """Every array of the ``.npz`` file ``path`` (whose bytes are `data`) by name, read with
    ``allow_pickle=False``.

    Anything else (a truncated or corrupt archive, a lone ``.npy`` array, a pickle, an
    entry holding a pickled object array) raises `CheckpointError` naming the file.
    """
    unreadable = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise CheckpointError(f"{path}: holds pickled data, which jumok refuses to load "
                                  f"(allow_pickle=False); expected a .npz archive of arrays") from None
        raise CheckpointError(f"{path}: cannot read it as a jumok .npz file ({e})") from None
    except unreadable as e:
        raise CheckpointError(f"{path}: cannot read it as a jumok .npz file, it is truncated or corrupt "
                              f"({type(e).__name__}: {e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path}: holds a single array, expected a .npz archive of named arrays")
    with archive:
        arrays = {}
        for name in archive.files:
            try:
                arrays[name] = archive[name]
            except ValueError as e:
                if "allow_pickle" in str(e):
                    raise CheckpointError(f"{path}: entry {name!r} is a pickled object array, which jumok "
                                          f"refuses to load (allow_pickle=False)") from None
                raise CheckpointError(f"{path}: entry {name!r} cannot be read ({e})") from None
            except unreadable as e:
                raise CheckpointError(f"{path}: entry {name!r} cannot be read, the file is truncated or "
                                      f"corrupt ({type(e).__name__}: {e})") from None
    return arrays


def _first_mismatch(arrays, expected):
    """Describe the first way ``arrays`` differ from the model's parameters ``expected``
    (name -> array, in model order), or return None when every name, shape and kind fits."""
    for name, param in expected.items():
        if name not in arrays:
            return f"has no parameter {name!r}, which the model needs with shape {param.shape}"
        got = arrays[name]
        if got.shape != param.shape:
            return f"parameter {name!r} has shape {got.shape}, the model needs {param.shape}"
        if got.dtype.kind not in "fiu":
            return f"parameter {name!r} holds {got.dtype} values, expected numbers"
    extra = [name for name in arrays if name not in expected]
    if extra:
        return f"has parameter {extra[0]!r}, which the model does not have"
    return None


def read_params(path, expected, described_by="its config"):
    """The parameters saved at ``path`` ({name: array}), checked against ``expected`` (a
    model's `state_dict`) and then against the manifest.

    Names, shapes and dtypes are checked first; a mismatch raises `CheckpointError` naming
    the file and the first mismatching parameter. ``described_by`` says, for that message,
    where the model's architecture came from.
    """
    data = read_bytes(path)
    arrays = _read_npz(path, data)
    problem = _first_mismatch(arrays, expected)
    if problem:
        raise CheckpointError(f"{path}: does not match the model of {described_by}: {problem}")
    verify(path, data)
    return arrays


def load_params(path, model, described_by="its config"):
    """Load the parameters saved at ``path`` into ``model`` in place (checked as `read_params` checks)."""
    arrays = read_params(path, model.state_dict(), described_by)
    try:
        model.load_state_dict(arrays)
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model of {described_by}: {e}") from None


def training_state_data(model, optimizer, meta, arrays=None):
    """The bytes of a last.npz: parameters, optimizer moments, `arrays` ("state.<name>")
    and the JSON document `meta`, which gets the state's "version"."""
    entries = {f"param.{k}": v for k, v in model.state_dict().items()}
    entries.update({f"optim.{k}": v for k, v in optimizer.state().items()})
    entries.update({f"state.{k}": v for k, v in (arrays or {}).items()})
    entries["meta"] = np.array(json.dumps({"version": STATE_VERSION, **meta}))
    return npz_data(entries)


def save_training_state(path, model, optimizer, meta, arrays=None):
    """One atomic file with everything needed to continue training exactly."""
    path = Path(path)
    files.write_files(path.parent, {path.name: training_state_data(model, optimizer, meta, arrays)})


def load_training_state(path, model, optimizer):
    """Restore parameters and optimizer moments in place; return the meta document, with the
    saved extra arrays under ``"arrays"``."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no training state to resume from")
    data = read_bytes(path)
    arrays = _read_npz(path, data)
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path}: has no readable training state") from None
    version = meta.get("version") if isinstance(meta, dict) else None
    if version not in STATE_VERSIONS:
        newer = isinstance(version, int) and version > STATE_VERSION
        raise CheckpointError(f"{path}: training state version {version!r}, but this jumok reads versions "
                              f"{', '.join(map(str, STATE_VERSIONS))}"
                              + ("; it was written by a newer jumok" if newer else ""))
    split = {"param.": {}, "optim.": {}, "state.": {}}
    for name, a in arrays.items():
        prefix = name[: name.index(".") + 1] if "." in name else name
        if prefix not in split:
            raise CheckpointError(f"{path}: unexpected entry {name!r}")
        split[prefix][name[len(prefix):]] = a
    problem = _first_mismatch(split["param."], model.state_dict())
    if problem:
        raise CheckpointError(f"{path}: does not match the model in its config: {problem}")
    verify(path, data)
    try:
        model.load_state_dict(split["param."])
        optimizer.load_state(split["optim."])
    except ValueError as e:
        raise CheckpointError(f"{path}: does not match the model in its config: {e}") from None
    return {**meta, "arrays": split["state."]}
