"""`jumok serve RUN_DIR`: the attention explorer in the browser, and a JSON API.

One process on ``--host`` (127.0.0.1 unless told otherwise) and ``--port`` (8000; 0 picks a
free one); the first line on stdout says where. A port already in use is one error line
and exit code 1; Ctrl-C stops it (exit code 130, as for any interrupted command), SIGTERM
too (exit code 0). Each request is logged on stderr, unless ``--quiet``. See docs/serve.md.
"""

import signal
import sys


def run(args):
    from jumok.serve import make_server  # http.server is imported only by this command

    server = make_server(args.run_dir, args.host, args.port, log=None if args.quiet else sys.stderr)
    # `kill` stops it as cleanly as Ctrl-C, with exit code 0: the loop is asked to stop (raising
    # inside it, at whatever it was doing, could leave a half-started task to complain)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.stop_soon())
    try:
        print(f"jumok: serving {args.run_dir} at {server.url} (Ctrl-C stops)", flush=True)
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def register(sub):
    p = sub.add_parser("serve", help="explore a model's attention in the browser; a JSON API",
                       description="Serve the attention explorer page for RUN_DIR, and a JSON API "
                                   "(POST /api/predict, GET /api/run); see docs/serve.md.")
    p.add_argument("run_dir")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 opens it to the "
                        "network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    p.set_defaults(run=run)
