"""`jumok attention`: decode one input and draw the attention weights as a heatmap.

Source tokens run along the top (unseen ones shown as ``<unk>``, as the model saw them),
output tokens down the side, the end token ``</s>`` included when one was produced; the
title is ``input → output`` (``∅`` for an empty output). ``--map NAME`` (repeatable) draws
the named maps (`jumok.maps`) side by side instead, each titled by its name. For a model with
layers and heads, ``--layer L`` and ``--head H`` draw one map of the kind ``--kind`` (cross,
the default; enc-self or dec-self for the encoder's or the decoder's self-attention): layer
L's head H, without ``--head`` the mean over layer L's heads, without ``--layer`` the mean
of head H over the layers; the title's second line says which (``cross-attention, layer 1,
head 2``). A layer or head the model lacks, or either asked of a model whose attention is
one map without layers (the attention model's ``cross``), is a one-line error before
anything is decoded. The image goes
to ``--out`` (format by suffix: .png, .pdf or .svg), by default ``attention-<slug>.png`` in
the current directory, where the slug is the input with every character other than ASCII
letters, digits, ``-`` and ``.`` turned into ``_`` (at most 40 characters). The run
directory is never written to. The path written is printed on stdout; the translation on
stderr.
"""

import re
import sys
from pathlib import Path

from jumok.api import draw_attention, load
from jumok.cli.common import add_beam_argument, add_unk_argument, check_decoding
from jumok.data.vocab import UNK
from jumok.errors import JumokError, UnknownTokenError
from jumok.maps import KINDS, Choice

FORMATS = (".png", ".pdf", ".svg")
SLUG_LENGTH = 40


def default_path(text):
    """``attention-<slug>.png`` in the current directory (see the module docstring)."""
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", text).strip("_.")[:SLUG_LENGTH].rstrip("_.")
    return Path(f"attention-{slug or 'input'}.png")


def choice_of(args):
    """The `jumok.maps.Choice` of --kind, --layer and --head; `JumokError` when given beside --map."""
    choice = Choice(args.kind, args.layer, args.head)
    if args.map and not choice.default:
        raise JumokError("--map draws maps by name; --layer, --head and --kind choose one: give one or the other")
    return choice


def run(args):
    check_decoding(args.beam)
    out = Path(args.out) if args.out else default_path(args.text)
    if out.suffix.lower() not in FORMATS:
        raise JumokError(f"--out {out}: cannot tell the image format from {out.suffix or 'no suffix'!r}; "
                         f"use one of {', '.join(FORMATS)}")
    choice = choice_of(args)
    model = load(args.run_dir)
    if not model.has_attention:
        raise JumokError(f"model {model.config.model} has no attention to draw (only --model attention runs have)")
    kinds = model.kinds_to_draw(args.map or (), choice)
    try:
        source = model.encode(args.text, "TEXT", args.unk)
    except UnknownTokenError as e:
        raise JumokError(f"{e} (--unk maps them to {UNK})") from None
    output = model.decode([source], args.beam, maps=kinds)[0]
    output_text = output.text or "∅"  # ∅: the model ended at once

    from jumok import viz  # matplotlib is imported only by the commands that draw

    figure = draw_attention(output, args.beam, args.map or (), choice)
    try:
        written = viz.save_figure(figure, out)
    except OSError as e:
        raise JumokError(f"{out}: cannot write it ({e.strerror or e})") from None
    print(f"{args.text} → {output_text}", file=sys.stderr)
    print(written)
    return 0


def register(sub):
    p = sub.add_parser("attention", help="draw the attention weights of one prediction",
                       description="Decode TEXT and draw its attention weights as a heatmap: source tokens "
                                   "along the top, output tokens (with </s>) down the side.")
    p.add_argument("run_dir")
    p.add_argument("text", help="the input to translate")
    p.add_argument("--out", metavar="FILE",
                   help="image to write, .png, .pdf or .svg (default: attention-<slug of TEXT>.png in the "
                        "current directory)")
    p.add_argument("--map", action="append", metavar="NAME",
                   help="draw the attention map NAME (repeat for several, side by side): cross for the attention "
                        "model, cross/L/H, enc-self/L/H or dec-self/L/H for the transformer (default: where the "
                        "output looked, the mean over heads for a model with several)")
    p.add_argument("--layer", type=int, metavar="L",
                   help="draw layer L's map of --kind: its head --head, or the mean over its heads")
    p.add_argument("--head", type=int, metavar="H",
                   help="draw head H's map of --kind: in layer --layer, or its mean over the layers")
    p.add_argument("--kind", choices=KINDS, default=KINDS[0],
                   help="which attention --layer and --head choose from: cross (default), enc-self (the encoder's "
                        "self-attention) or dec-self (the decoder's); alone, the mean over every layer and head")
    add_beam_argument(p)
    add_unk_argument(p)
    p.set_defaults(run=run)
