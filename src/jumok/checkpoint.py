"""The run directory. No pickle anywhere.

    config.json    the full configuration, plus the run directory's "format_version"
    config.toml    the same settings in sections     vocab.json    both vocabularies
    params.npz     the best parameters so far         history.json  one record per epoch
    last.npz       the full training state at the latest checkpoint (an epoch's end, or every
                   ``checkpoint_every`` steps inside one), for --resume: parameters
                   ("param.<name>"), optimizer moments ("optim.<name>"), inside an epoch its
                   batch order ("state.order"), and a JSON document ("meta": epoch, position
                   in the epoch and its running loss sums, optimizer step, learning rate,
                   RNG states, best score, patience counters, history)
    manifest.json  the SHA-256 of each file above, checked whenever one is loaded

Arrays are named ``.npz`` entries (dtype kept), loaded with ``allow_pickle=False`` and
checked name by name and shape by shape against the model the config describes.

Writing (`write_files`). Every file is written atomically (temporary file, fsync, rename),
so it is always its old or its new version, never half of one. The manifest must vouch for
whichever it is, so a write goes in three atomic steps: the manifest is rewritten listing
*both* digests of each file about to change, then the files are replaced, then the manifest
is rewritten with the new digests alone. Killed at any moment, the directory holds files
the manifest vouches for. A failed write (read-only directory, full disk) raises a
one-line `CheckpointError` and leaves the file as it was; the temporary file is removed.

Loading. Each file is first read and checked for what it should hold (so a truncated
archive or a parameter of the wrong shape gets its own message), then its SHA-256 is
compared with the manifest: a file changed after it was written, or one the manifest does
not list, is refused with a `CheckpointError` naming the file. A run directory without
manifest.json (written before jumok had one) loads without the check; ``jumok train
--resume`` gives it a manifest for its files as they are. A config.json, manifest.json or
training state carrying a format version newer than this jumok knows is refused.
"""

import hashlib
import io
import json
import zipfile
import zlib
from dataclasses import asdict
from pathlib import Path

import numpy as np

from jumok.atomic import write_bytes
from jumok.config import Config, to_toml
from jumok.data.vocab import Vocab
from jumok.errors import CheckpointError, ConfigError

CONFIG, VOCAB, PARAMS, HISTORY, LAST = "config.json", "vocab.json", "params.npz", "history.json", "last.npz"
CONFIG_TOML = "config.toml"  # the same settings in sections, to re-run with `jumok train RUN/config.toml`
MANIFEST = "manifest.json"
VOUCHED = (CONFIG, CONFIG_TOML, VOCAB, PARAMS, LAST, HISTORY)  # the files manifest.json covers
RUN_FORMAT = 1  # "format_version" of config.json and manifest.json
STATE_VERSION = 2  # "version" in last.npz's meta; 2 added the position inside an epoch
STATE_VERSIONS = (1, 2)  # the training-state versions this jumok reads


# ---------------------------------------------------------------------------------------
# The manifest, and writing files under it

def sha256(data):
    """Hex SHA-256 digest of `data` (bytes)."""
    return hashlib.sha256(data).hexdigest()


def _check_format(path, version, what="run directory format"):
    """Refuse a format version this jumok does not know (None: older files without one)."""
    if version is None:
        return
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: {what} version {version!r} is not one jumok writes")
    if version > RUN_FORMAT:
        raise CheckpointError(f"{path}: {what} version {version}, but this jumok reads only version "
                              f"{RUN_FORMAT}; it was written by a newer jumok")


def read_manifest(run_dir):
    """{file name: [SHA-256 digests it may have]} from ``run_dir/manifest.json``, or None when
    there is none (a run directory from before manifests)."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    document = _read_json(path)
    if isinstance(document, dict):
        _check_format(path, document.get("format_version"))
    digests = document.get("sha256") if isinstance(document, dict) else None
    if not (isinstance(digests, dict) and all(isinstance(d, list) and d and all(isinstance(x, str) for x in d)
                                              for d in digests.values())):
        raise CheckpointError(f"{path}: not a jumok manifest (expected "
                              '{"format_version": 1, "sha256": {FILE: [DIGEST, ...]}})')
    return digests


def _manifest_data(digests):
    return (json.dumps({"format_version": RUN_FORMAT, "sha256": digests}, indent=1) + "\n").encode()


def _write(path, data):
    """Write bytes atomically; a failure is a one-line CheckpointError naming the file."""
    try:
        write_bytes(path, data)
    except OSError as e:
        raise CheckpointError(f"cannot write {path}: {e.strerror or e} (the previous version of the file "
                              "is kept)") from None


def write_files(run_dir, files):
    """Write `files` ({name: bytes}, in that order) into `run_dir`, each atomically and each
    vouched for by manifest.json whenever it exists (see the module's docstring)."""
    run_dir = Path(run_dir)
    manifest = _settled(run_dir, read_manifest(run_dir) or {}, skip=files)
    digests = {name: sha256(data) for name, data in files.items()}
    both = {name: list(dict.fromkeys([*manifest.get(name, []), digest])) for name, digest in digests.items()}
    _write(run_dir / MANIFEST, _manifest_data({**manifest, **both}))
    for name, data in files.items():
        _write(run_dir / name, data)
    _write(run_dir / MANIFEST, _manifest_data({**manifest, **{name: [d] for name, d in digests.items()}}))


def _settled(run_dir, manifest, skip=()):
    """`manifest` with each entry that still lists two digests (a write was interrupted)
    narrowed to the digest of the file as it is, when that is one of them."""
    settled = dict(manifest)
    for name, digests in manifest.items():
        if len(digests) > 1 and name not in skip and (run_dir / name).is_file():
            digest = sha256(_read_bytes(run_dir / name))
            if digest in digests:
                settled[name] = [digest]
    return settled


def adopt(run_dir):
    """Give a run directory without manifest.json one vouching for its files as they are;
    return their names."""
    run_dir = Path(run_dir)
    names = [name for name in VOUCHED if (run_dir / name).is_file()]
    _write(run_dir / MANIFEST, _manifest_data({name: [sha256(_read_bytes(run_dir / name))] for name in names}))
    return names


def verify(path, data=None):
    """Check the file `path` (whose bytes are `data`, if already read) against the manifest
    of its directory; a directory without one passes (see the module's docstring)."""
    path = Path(path)
    manifest = read_manifest(path.parent)
    if manifest is None:
        return
    if path.name not in manifest:
        raise CheckpointError(f"{path}: not listed in {MANIFEST}, so it was not written with this run's "
                              "checkpoints")
    if sha256(_read_bytes(path) if data is None else data) not in manifest[path.name]:
        raise CheckpointError(f"{path}: SHA-256 does not match {MANIFEST} (file changed or truncated after "
                              "it was written)")


def _read_bytes(path):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e})") from None


# ---------------------------------------------------------------------------------------
# Arrays: parameters and the training state

def _npz_data(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def params_data(model):
    """The bytes of a params.npz holding the model's parameters."""
    return _npz_data(model.state_dict())


def save_params(path, model):
    path = Path(path)
    write_files(path.parent, {path.name: params_data(model)})


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


def load_params(path, model, described_by="its config"):
    """Load the parameters saved at ``path`` into ``model`` in place.

    Names, shapes and dtypes are checked first; a mismatch raises `CheckpointError` naming
    the file and the first mismatching parameter. ``described_by`` says, for that message,
    where the model's architecture came from. Then the file is checked against the manifest.
    """
    data = _read_bytes(path)
    arrays = _read_npz(path, data)
    problem = _first_mismatch(arrays, model.state_dict())
    if problem:
        raise CheckpointError(f"{path}: does not match the model of {described_by}: {problem}")
    verify(path, data)
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
    return _npz_data(entries)


def save_training_state(path, model, optimizer, meta, arrays=None):
    """One atomic file with everything needed to continue training exactly."""
    path = Path(path)
    write_files(path.parent, {path.name: training_state_data(model, optimizer, meta, arrays)})


def load_training_state(path, model, optimizer):
    """Restore parameters and optimizer moments in place; return the meta document, with the
    saved extra arrays under ``"arrays"``."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no training state to resume from")
    data = _read_bytes(path)
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


# ---------------------------------------------------------------------------------------
# JSON files: config, vocabularies, history

def _json_data(document, **options):
    return (json.dumps(document, **options) + "\n").encode()


def setup_files(run_dir, config, src_vocab, tgt_vocab):
    """{name: bytes} of what never changes during a run: both vocabularies, the config as
    config.toml and (last, so that its presence means the others are there) config.json."""
    vocabs = {"source": src_vocab.to_dict(), "target": tgt_vocab.to_dict()}
    return {VOCAB: _json_data(vocabs, ensure_ascii=False, indent=1),
            CONFIG_TOML: to_toml(config, directory=run_dir).encode(),  # data paths relative to run_dir
            CONFIG: _json_data({"format_version": RUN_FORMAT, **asdict(config)}, indent=2)}


def save_setup(run_dir, config, src_vocab, tgt_vocab):
    """Write what never changes during a run: the config and both vocabularies."""
    write_files(run_dir, setup_files(run_dir, config, src_vocab, tgt_vocab))


def history_data(history):
    return _json_data(history, indent=2)


def save_history(run_dir, history):
    write_files(run_dir, {HISTORY: history_data(history)})


def read_history(run_dir):
    """The epoch records of ``run_dir/history.json``; [] when there is none yet."""
    path = Path(run_dir) / HISTORY
    return _read_json(path) if path.is_file() else []


def _read_json(path):
    try:
        return json.loads(_read_bytes(path).decode("utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text (byte {e.start})") from None


def load_vocabs(run_dir):
    """(source, target) vocabularies of a run directory."""
    path = Path(run_dir) / VOCAB
    vocabs = _read_json(path)
    try:
        return Vocab.from_dict(vocabs["source"]), Vocab.from_dict(vocabs["target"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a jumok vocabulary file ({e})") from None


def load_config(run_dir):
    """The `Config` in ``run_dir/config.json`` (its format version checked, not its digest)."""
    path = Path(run_dir) / CONFIG
    values = _read_json(path)
    if isinstance(values, dict):
        values = dict(values)
        _check_format(path, values.pop("format_version", None))
    try:
        return Config.from_dict(values, where=str(path))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path}: {e}") from None


def verify_files(run_dir, *names):
    """`verify` each of the files `names` of `run_dir` that exists."""
    for name in names:
        if (Path(run_dir) / name).is_file():
            verify(Path(run_dir) / name)
