"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

import contextlib
import glob
import os
import tempfile
from pathlib import Path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path, mode="w", encoding="utf-8"):
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.

    On any error the temporary file is removed and `path` is left as it was.
    The temporary file keeps `path`'s suffix, so writers that go by it (matplotlib,
    ``np.savez``) choose the right format.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; match what open() would give
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory):
    """fsync a directory, so that a rename in it survives a power cut (best effort: not every
    platform or file system can open a directory)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temporary_files(path):
    """The temporary files `atomic_open` may have left beside `path` when its process was
    killed before it could clean up (``.STEM.XXXXXXXX.SUFFIX``)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.stem)}.*{glob.escape(path.suffix)}"))


def write_text(path, text):
    with atomic_open(path, "w") as f:
        f.write(text)


def write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)
