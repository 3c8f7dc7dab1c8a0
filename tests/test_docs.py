"""The documentation runs: every ```python block of docs/*.md is executed, so the docs never rot.

Each Markdown file's blocks run in order in one shared namespace (a later block may use what an
earlier one defined); each file gets a fresh namespace. A block preceded by the HTML comment
`<!-- no-test -->` (blank lines in between allowed) is skipped. Relative links must point at
files that exist. In docs/walkthrough.md and docs/transformer.md every block must state its
facts with `assert`.

In README.md and docs/*.md every relative link outside code must resolve: its file exists and
its #anchor, if it has one and points into a Markdown file, names a heading of that file (by
GitHub's rule: lower case, punctuation dropped, each space a hyphen, repeats numbered) or an
explicit `<a id="...">` / `<a name="...">`. The shipped configs/*.toml point at the docs for
their figures (`docs/NAME.md#anchor` in a comment); those must resolve too.
"""

import ast
import re
import traceback
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
MARKDOWN = sorted(DOCS.glob("*.md"))
README = DOCS.parent / "README.md"
CONFIGS = sorted((DOCS.parent / "configs").glob("*.toml"))
LINKING = [README, *MARKDOWN]  # files whose links and anchors must all resolve
ASSERTING = {"walkthrough.md", "transformer.md"}  # files whose every tested block must contain an assert

FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)")
NO_TEST = "<!-- no-test -->"


def python_blocks(text):
    """[(number, first source line, code, skipped)] for each ```python block, numbered from 1.

    `first source line` is the 1-based line in the Markdown file of the block's first code line.
    """
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opened = FENCE.match(lines[i].strip())
        if not opened:
            i += 1
            continue
        fence, lang = opened.groups()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        if lang.lower() in ("python", "py"):
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            skipped = k >= 0 and lines[k].strip() == NO_TEST
            blocks.append((len(blocks) + 1, i + 2, "\n".join(lines[i + 1 : j]) + "\n", skipped))
        i = j + 1
    return blocks


def relative_links(text):
    """Targets of Markdown links and images that are paths in this repository (no scheme, no
    pure anchor), with any #fragment removed."""
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
    return [t.split("#")[0] for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t, re.IGNORECASE)]


def outside_code(text, spans=True):
    """`text` with fenced code blocks (and, if `spans`, inline code spans) blanked out, line
    count kept, so that a link or heading written inside code is not taken for one."""
    lines, fence = [], None
    for line in text.splitlines():
        opened = FENCE.match(line.strip())
        if fence is None and opened:
            fence = opened.group(1)
            lines.append("")
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
            lines.append("")
        else:
            lines.append(re.sub(r"(`+).+?\1", "", line) if spans else line)
    return "\n".join(lines)


def link_targets(text):
    """[(path, anchor)] of every Markdown link and image outside code that has no URL scheme;
    path is "" for a link into the same file, anchor "" when there is none."""
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", outside_code(text))
    local = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]
    return [tuple(t.split("#", 1)) if "#" in t else (t, "") for t in local]


def heading_slug(heading):
    """GitHub's anchor for a heading's text: inline Markdown rendered away, lower case,
    everything but letters, digits, `_`, `-` and spaces dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>|[`*]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text):
    """The set of #anchors a Markdown file offers: its headings' slugs (a repeated slug gets
    -1, -2, ... as on GitHub) and explicit <a id/name="..."> targets."""
    found, seen = set(), {}
    for line in outside_code(text, spans=False).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = heading_slug(heading.group(1))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", outside_code(text)))
    return found


def unresolved_links(path):
    """The links of one Markdown file that point at a missing file or a missing anchor."""
    broken = []
    for target, anchor in link_targets(path.read_text(encoding="utf-8")):
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{target}#{anchor}" if anchor else target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target}#{anchor}")
    return broken


def has_assert(code):
    return any(isinstance(node, ast.Assert) for node in ast.walk(ast.parse(code)))


def ids(paths):
    return [p.name for p in paths]


@pytest.mark.skipif(not MARKDOWN, reason="no docs/*.md")
@pytest.mark.parametrize("path", MARKDOWN, ids=ids(MARKDOWN))
def test_python_blocks_run_in_order(path):
    namespace = {"__name__": f"docs_{path.stem}"}
    for number, line, code, skipped in python_blocks(path.read_text(encoding="utf-8")):
        if skipped:
            continue
        # pad with newlines so that tracebacks give line numbers of the Markdown file
        source = "\n" * (line - 1) + code
        failure = None
        try:
            exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - running the docs is the point
        except Exception as err:  # noqa: BLE001 - report any failure with its block
            failure = (f"{path.name}: python block {number} (line {line}) raised "
                       f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}")
        if failure:
            pytest.fail(failure, pytrace=False)


@pytest.mark.skipif(not MARKDOWN, reason="no docs/*.md")
@pytest.mark.parametrize("path", MARKDOWN, ids=ids(MARKDOWN))
def test_relative_links_exist(path):
    text = path.read_text(encoding="utf-8")
    broken = [t for t in relative_links(text) if t and not (path.parent / t).exists()]
    assert not broken, f"{path.name}: links to missing files {broken}"


@pytest.mark.parametrize("path", LINKING, ids=ids(LINKING))
def test_links_and_anchors_resolve(path):
    broken = unresolved_links(path)
    assert not broken, f"{path.name}: links to missing files or anchors {broken}"


@pytest.mark.skipif(not CONFIGS, reason="no configs/*.toml")
@pytest.mark.parametrize("path", CONFIGS, ids=ids(CONFIGS))
def test_config_comments_link_to_existing_anchors(path):
    root = DOCS.parent
    cited = re.findall(r"(docs/[\w.-]+\.md)(?:#([\w-]+))?", path.read_text(encoding="utf-8"))
    broken = [f"{doc}#{anchor}" if anchor else doc for doc, anchor in cited
              if not (root / doc).exists()
              or anchor and anchor not in anchors((root / doc).read_text(encoding="utf-8"))]
    assert not broken, f"{path.name}: comments point at missing docs or anchors {broken}"


@pytest.mark.parametrize("name", sorted(ASSERTING))
def test_every_snippet_asserts_its_claims(name):
    path = DOCS / name
    assert path.exists(), f"docs/{name} is missing"
    blocks = [b for b in python_blocks(path.read_text(encoding="utf-8")) if not b[3]]
    assert len(blocks) >= 10, f"{name}: expected a snippet for each step, found {len(blocks)}"
    silent = [f"block {number} (line {line})" for number, line, code, _ in blocks if not has_assert(code)]
    assert not silent, f"{name}: snippets without an assert: {', '.join(silent)}"


def test_block_extraction_and_no_test_marker():
    text = (
        "intro\n"
        "```python\nx = 1\n```\n"
        "<!-- no-test -->\n\n"
        "```python\nraise RuntimeError('never run')\n```\n"
        "```bash\necho not python\n```\n"
        "````python\ns = '```'\n````\n"
    )
    blocks = python_blocks(text)
    assert [(n, line, skipped) for n, line, _, skipped in blocks] == [(1, 3, False), (2, 8, True), (3, 14, False)]
    assert blocks[0][2] == "x = 1\n" and blocks[2][2] == "s = '```'\n"
    assert relative_links("[a](../src/x.py#L3) [b](https://e.org) [c](#top) ![d](img.png)") == ["../src/x.py", "img.png"]


def test_link_and_anchor_extraction():
    text = (
        "# Speed\n"
        "## Less padding: batches by length (`--bucket`)\n"
        "### Why not 0.75 × PyTorch\n"
        "## Speed\n"
        "<a id=\"kept\"></a>\n"
        "```\n# not a heading [x](missing.md)\n```\n"
        "See [a](#speed-1), `[b](ignored.md)`, [c](g2p.md#results), [d](https://e.org#x), ![e](p.png).\n"
    )
    assert anchors(text) == {"speed", "speed-1", "less-padding-batches-by-length---bucket",
                             "why-not-075--pytorch", "kept"}
    assert link_targets(text) == [("", "speed-1"), ("g2p.md", "results"), ("p.png", "")]
    assert heading_slug("jumok (주목, \"attention\")") == "jumok-주목-attention"
    assert heading_slug("[Past](x.md) *measurements*") == "past-measurements"
