"""The run directory's file names, its manifest, and writing files under it.

Writing (`write_files`). Every file is written atomically (temporary file, fsync, rename),
so it is always its old or its new version, never half of one. The manifest must vouch for
whichever it is, so a write goes in three atomic steps: the manifest is rewritten listing
*both* digests of each file about to change, then the files are replaced, then the manifest
is rewritten with the new digests alone. Killed at any moment, the directory holds files
the manifest vouches for. A failed write (read-only directory, full disk) raises a
one-line `CheckpointError` and leaves the file as it was; the temporary file is removed.

Checking (`verify`). A file changed after it was written, or one the manifest does not
list, is refused with a `CheckpointError` naming the file. A run directory without
manifest.json (written before jumok had one) passes; ``jumok train --resume`` gives it a
manifest for its files as they are (`adopt`).
"""

import hashlib
import json
from pathlib import Path

from jumok.atomic import write_bytes
from jumok.errors import CheckpointError

CONFIG, VOCAB, PARAMS, HISTORY, LAST = "config.json", "vocab.json", "params.npz", "history.json", "last.npz"
CONFIG_TOML = "config.toml"  # the same settings in sections, to re-run with `jumok train RUN/config.toml`
MANIFEST = "manifest.json"
AVERAGE = "average.json"  # with --keep-epochs K: how the mean of the last K epochs scored, and whether it was kept
VOUCHED = (CONFIG, CONFIG_TOML, VOCAB, PARAMS, LAST, HISTORY)  # what manifest.json covers in every run
# (it vouches for AVERAGE and each EPOCH_PARAMS too, when a run with keep_epochs writes them)
TEST = "test.json"  # the test split's figures, written once after training (task g2p)
CURVES, ATTENTION = "curves.png", "attention.png"  # the pictures drawn after training
RUN_FORMAT = 1  # "format_version" of config.json and manifest.json
EPOCH_PARAMS = "epoch-{}.npz"  # with --keep-epochs K, the parameters at the end of each of the last K epochs


def sha256(data):
    """Hex SHA-256 digest of `data` (bytes)."""
    return hashlib.sha256(data).hexdigest()


def check_format(path, version, what="run directory format"):
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
    document = read_json(path)
    if isinstance(document, dict):
        check_format(path, document.get("format_version"))
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


def kept_epochs(run_dir):
    """The epochs whose parameters `run_dir` keeps as epoch-N.npz (--keep-epochs), in order."""
    prefix, suffix = EPOCH_PARAMS.split("{}")
    names = (path.name for path in Path(run_dir).glob(EPOCH_PARAMS.format("*")))
    return sorted(int(name[len(prefix):-len(suffix)]) for name in names
                  if name[len(prefix):-len(suffix)].isdigit())


def remove_files(run_dir, names):
    """Remove the files `names` of `run_dir` (those that exist), then their manifest entries.
    Killed in between, the manifest lists a file that is gone, which nothing reads."""
    run_dir = Path(run_dir)
    for name in names:
        try:
            (run_dir / name).unlink(missing_ok=True)
        except OSError as e:
            raise CheckpointError(f"cannot remove {run_dir / name}: {e.strerror or e}") from None
    manifest = read_manifest(run_dir)
    if manifest is not None and any(name in manifest for name in names):
        _write(run_dir / MANIFEST, _manifest_data({k: v for k, v in manifest.items() if k not in names}))


def _settled(run_dir, manifest, skip=()):
    """`manifest` with each entry that still lists two digests (a write was interrupted)
    narrowed to the digest of the file as it is, when that is one of them."""
    settled = dict(manifest)
    for name, digests in manifest.items():
        if len(digests) > 1 and name not in skip and (run_dir / name).is_file():
            digest = sha256(read_bytes(run_dir / name))
            if digest in digests:
                settled[name] = [digest]
    return settled


def adopt(run_dir):
    """Give a run directory without manifest.json one vouching for its files as they are;
    return their names."""
    run_dir = Path(run_dir)
    names = [name for name in VOUCHED if (run_dir / name).is_file()]
    _write(run_dir / MANIFEST, _manifest_data({name: [sha256(read_bytes(run_dir / name))] for name in names}))
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
    if sha256(read_bytes(path) if data is None else data) not in manifest[path.name]:
        raise CheckpointError(f"{path}: SHA-256 does not match {MANIFEST} (file changed or truncated after "
                              "it was written)")


def read_bytes(path):
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read it ({e.strerror or e})") from None


def read_json(path):
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}: not UTF-8 text (byte {e.start})") from None


def verify_files(run_dir, *names):
    """`verify` each of the files `names` of `run_dir` that exists."""
    for name in names:
        if (Path(run_dir) / name).is_file():
            verify(Path(run_dir) / name)


class RunWriter:
    """Writes a run directory from one process of several: rank 0's writer writes
    (`write_files`, `remove_files`), every other rank's does nothing, so the training loop
    reads the same on every rank."""

    def __init__(self, run_dir, active=True):
        self.run_dir, self.active = run_dir and Path(run_dir), active

    def write(self, files):
        """Write `files`: {name: bytes}, or a function returning them (called only where this
        writer writes, so the other ranks never serialise anything)."""
        if self.active:
            write_files(self.run_dir, files() if callable(files) else files)

    def remove(self, names):
        if self.active:
            remove_files(self.run_dir, names)
