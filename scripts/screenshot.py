"""Write the README's screenshots of `jumok serve`: the attention explorer on a run directory
with a date typed in and one output row hovered.

    python scripts/screenshot.py [RUN_DIR] [--text TEXT] [--out docs/serve.png] [--hover-row N]
                                 [--kind cross|enc-self|dec-self] [--layer L] [--head H|mean]

Starts the server in this process on a free loopback port, drives Debian's headless
Chromium (``/usr/bin/chromium``, or ``--browser``) with Playwright, types TEXT into the page,
waits for both predictions (or an error: then the exit code is 1), hovers output row N of
the greedy heatmap (default 2: the year's third digit) and writes a PNG of the page.

For a model with layers and heads (a Transformer), ``--kind`` picks the kind of map (asked
for anew, waited for), and ``--layer`` with ``--head`` clicks that small map of the greedy
panel's grid (``--head mean``: the mean over the layer's heads), drawn large before hovering.
"""

import argparse
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from jumok.serve import make_server  # noqa: E402

WIDTH, HEIGHT = 1440, 900


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", nargs="?", default="runs/date-attention")
    p.add_argument("--text", default="Tuesday, September 27, 1994")
    p.add_argument("--out", default="docs/serve.png")
    p.add_argument("--hover-row", type=int, default=2, help="output step to hover (from 0); -1: none")
    p.add_argument("--kind", default="cross", choices=("cross", "enc-self", "dec-self"),
                   help="the kind of attention map shown")
    p.add_argument("--layer", type=int, help="with --head: the layer whose small map to click (from 0)")
    p.add_argument("--head", help="with --layer: the head to click (from 0), or mean")
    p.add_argument("--browser", default="/usr/bin/chromium")
    args = p.parse_args(argv)

    from playwright.sync_api import sync_playwright

    server = make_server(args.run_dir, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.browser, headless=True)
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1,
                                    bypass_csp=True)  # Playwright's waits evaluate script text
            page.goto(server.url)
            page.wait_for_function("document.querySelector('#run-summary').textContent !== 'loading the run…'")
            page.fill("#source", "")
            page.type("#source", args.text, delay=20)
            wait_for_answers(page)
            if args.kind != "cross":
                page.check(f"#kinds input[value='{args.kind}']")
                wait_for_answers(page)
            if args.layer is not None and args.head is not None:
                page.click(f"table.heads[data-grid=greedy] button[data-layer='{args.layer}']"
                           f"[data-head='{args.head}']")
            if args.hover_row >= 0 and page.query_selector(".heatmap"):
                page.hover(f"table[data-decoder=greedy] th.out[data-row='{args.hover_row}']")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out, full_page=True)
            error = None if page.is_hidden("#error") else page.text_content("#error")
            output = error or page.text_content("[data-output=greedy] .text")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(f"{args.text} → {output}; wrote {args.out}")
    return 1 if error else 0


def wait_for_answers(page):
    """Until both predictions are shown (the status line names greedy's time) or an error is."""
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('greedy') || "
                           "!document.querySelector('#error').hidden", timeout=30_000)


if __name__ == "__main__":
    sys.exit(main())
