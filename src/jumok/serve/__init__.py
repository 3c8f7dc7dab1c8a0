"""`jumok serve`: the attention explorer page and a JSON API over one trained run.

`make_server(run_dir, host, port)` loads the run (`jumok.api.load`) and binds an
`ExplorerServer`; ``serve_forever()`` then answers until interrupted. The page and its
assets live in ``static/`` inside the package; the API is described in `jumok.serve.protocol`
and docs/serve.md.
"""

import errno

from jumok.errors import JumokError
from jumok.serve.app import ExplorerServer

__all__ = ["ExplorerServer", "make_server"]


def make_server(run_dir, host="127.0.0.1", port=8000, log=None, model=None):
    """An `ExplorerServer` for ``run_dir`` bound to ``host:port`` (port 0: any free one), or a
    one-line `JumokError` when the address cannot be had. ``model`` skips loading."""
    if model is None:
        from jumok.api import load

        model = load(run_dir)
    try:
        return ExplorerServer(model, (host, port), log=log)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            reason = "the address is already in use (another server? choose one with --port)"
        elif e.errno == errno.EACCES:
            reason = "permission denied (ports below 1024 need privileges; choose one with --port)"
        else:
            reason = e.strerror or str(e)
        raise JumokError(f"cannot listen on {host}:{port}: {reason}") from None
