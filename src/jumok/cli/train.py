"""`jumok train [CONFIG.toml]`: train a model, or resume one.

Settings come in layers, each overriding the ones before: the `Config` defaults, then the
config file, then the command-line flags that were given, then ``--set SECTION.KEY=VALUE``
assignments (see `jumok.config` for the sections and the path rules). The merged
configuration is written to the run directory as config.json and as config.toml; the latter
trains the same run again with ``jumok train RUN/config.toml --out NEW_RUN``.
"""

import argparse
import os
import sys

from jumok.backend import device_module
from jumok.config import Config, load_toml, merge_layers, parse_assignment
from jumok.data.tasks import GENERATORS
from jumok.errors import CheckpointError, ConfigError
from jumok.rundir import CONFIG, load_config

DEFAULTS = Config()
NOT_SETTINGS = ("resume", "quiet", "debug", "command", "run", "config_file", "overrides")
RESUME_CHANGES = ("epochs", "lr", "clip", "checkpoint_every", "device")  # the settings --resume may change
RESUME_RULE = "only --epochs, --lr, --clip, --checkpoint-every and --device may change"


def add_arguments(p):
    p.add_argument("config_file", nargs="?", metavar="CONFIG.toml",
                   help="settings by section ([data], [model], [train], [decode], [run]); flags override them")
    p.add_argument("--task", choices=[*GENERATORS, "g2p"],
                   help=f"built-in data set (default {DEFAULTS.task}); date-chapter: only the chapter's four "
                        "month-first date styles; g2p: the CMU Pronouncing Dictionary's words → phones "
                        "(pip install \".[g2p]\"), its test split scored once at the end")
    p.add_argument("--keep-stress", action="store_true", default=None,
                   help="g2p: keep the vowels' stress digits (AH0, AH1) instead of stripping them")
    p.add_argument("--data", help="training pairs: source<TAB>target lines (or --format dlfs2)")
    p.add_argument("--valid", help="validation pairs, same format (default: hold out 10%% of --data, seeded)")
    p.add_argument("--format", dest="data_format", choices=["tsv", "dlfs2"],
                   help="tsv: source<TAB>target lines (default); dlfs2: the course's fixed-width files")
    p.add_argument("--source-tokens", choices=["char", "space"], help="split sources into characters (default) "
                   "or at whitespace")
    p.add_argument("--target-tokens", choices=["char", "space"], help="the same for targets")
    p.add_argument("--max-length", type=int, help="drop training pairs longer than this (tokens, either side)")
    p.add_argument("--model", choices=["attention", "seq2seq", "peeky"], help=f"default {DEFAULTS.model}")
    p.add_argument("--epochs", type=int, help=f"default {DEFAULTS.epochs}")
    p.add_argument("--batch-size", type=int, help=f"default {DEFAULTS.batch_size}")
    p.add_argument("--bucket", action=argparse.BooleanOptionalAction,
                   help="batch pairs of similar length together (sorted in windows of 50 batches, the batches "
                        "shuffled): less padding, faster epochs on data of mixed lengths (default off)")
    p.add_argument("--embed-size", type=int, help=f"default {DEFAULTS.embed_size}")
    p.add_argument("--hidden-size", type=int, help=f"default {DEFAULTS.hidden_size}")
    p.add_argument("--attention", choices=["dot", "scaled-dot", "general", "additive"],
                   help=f"attention score (default {DEFAULTS.attention})")
    p.add_argument("--layers", type=int, help=f"stacked LSTM layers (default {DEFAULTS.layers})")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="encoder reads the source both ways (default off)")
    p.add_argument("--dropout", type=float,
                   help=f"on embeddings, between layers and into the output layer (default {DEFAULTS.dropout})")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help=f"default {DEFAULTS.optimizer}")
    p.add_argument("--lr", type=float, help=f"learning rate (default {DEFAULTS.lr})")
    p.add_argument("--lr-decay", type=float,
                   help=f"factor the schedule applies to the learning rate (default {DEFAULTS.lr_decay})")
    p.add_argument("--lr-schedule", choices=["epoch", "plateau"],
                   help="epoch: decay after every epoch; plateau: after --lr-patience epochs without improvement")
    p.add_argument("--lr-patience", type=int, help=f"default {DEFAULTS.lr_patience}")
    p.add_argument("--patience", type=int, help="stop after this many epochs without improvement (default 0 = never)")
    p.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="train at most this long: stop before an epoch that would end past it (default 0 = no limit)")
    p.add_argument("--clip", type=float, help=f"gradient-norm limit, 0 = off (default {DEFAULTS.clip})")
    p.add_argument("--reverse", action=argparse.BooleanOptionalAction,
                   help="feed the source backwards (default off)")
    p.add_argument("--beam", type=int, help="beam size for validation decoding (default 1 = greedy)")
    p.add_argument("--test-beam", type=int, help="beam size for the final test scoring (g2p; default 0 = --beam)")
    p.add_argument("--seed", type=int, help=f"default {DEFAULTS.seed}")
    p.add_argument("--device", choices=["cpu", "gpu"],
                   help="train with NumPy on the CPU (default) or with CuPy on a CUDA GPU (pip install \".[gpu]\")")
    p.add_argument("--n-examples", type=int, help=f"size of a generated data set (default {DEFAULTS.n_examples})")
    p.add_argument("--set", dest="overrides", action="append", metavar="SECTION.KEY=VALUE",
                   help="override one setting after the file and the flags, e.g. --set train.lr=0.01 "
                        "(VALUE is read as TOML where it can be: true, 0.01, \"x.tsv\"); repeatable")
    p.add_argument("--out", help="run directory (default: [run] out of the config file, else runs/TASK-MODEL)")
    p.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="also save the training state every STEPS optimizer steps, not only at epoch ends "
                        "(default 0 = epoch ends only)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run saved in RUN_DIR from its latest checkpoint, exactly, up to --epochs in "
                        "total; the other settings come from its config, except --lr (e.g. lower, after a "
                        "non-finite loss), --clip, --checkpoint-every and --device")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def flag_settings(args):
    """The settings the command-line flags gave explicitly (unset flags are None)."""
    settings = {key: value for key, value in vars(args).items()
                if key in Config.__dataclass_fields__ and value is not None}
    if args.out is not None:
        settings["out"] = args.out
    return settings


def settings_from_args(args):
    """(Config, run directory) from defaults < config file < flags < --set assignments."""
    file_settings = load_toml(args.config_file) if args.config_file else {}
    assignments = dict(parse_assignment(text) for text in args.overrides or ())
    settings = merge_layers(file_settings, flag_settings(args), assignments)
    out = settings.pop("out", None)
    config = Config(**settings)
    return config, out or f"runs/{config.task}-{config.model}"


def run(args):
    from jumok.train import run_training  # imports matplotlib/tqdm only when training

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    if args.resume:
        source = f"{args.resume}/config.json"
        if args.config_file:
            raise ConfigError(f"a config file ({args.config_file}) cannot be combined with --resume: the settings "
                              f"come from {source}; {RESUME_RULE}")
        if args.overrides:
            raise ConfigError(f"--set cannot be combined with --resume: the settings come from {source}; "
                              f"{RESUME_RULE}")
        given = {key: value for key, value in vars(args).items() if value is not None and value is not False}
        changed = [key for key in given if key not in NOT_SETTINGS + RESUME_CHANGES]
        if changed:
            raise ConfigError(f"--resume takes its settings from {source}; {RESUME_RULE} "
                              f"(got --{changed[0].replace('_', '-')})")
        if os.path.isdir(args.resume) and not os.path.exists(os.path.join(args.resume, CONFIG)):
            raise CheckpointError(f"{args.resume}: nothing to resume, it has no {CONFIG} (the run stopped before "
                                  "writing anything, or this is not a run directory); start the run again without "
                                  "--resume")
        config = load_config(args.resume)
        config = config.replace(**{key: given[key] for key in RESUME_CHANGES if key in given})
        device_module(config.device)  # a missing GPU is the only line printed
        log(f"resuming {args.resume} up to epoch {config.epochs}")
        run_training(config, args.resume, progress=not args.quiet, log=log, resume=True, resume_lr=args.lr)
        return 0
    config, out = settings_from_args(args)
    device_module(config.device)  # a missing GPU is the only line printed
    log(f"training {config.model} on {config.data or config.task} → {out}")
    run_training(config, out, progress=not args.quiet, log=log)
    return 0


def register(sub):
    p = sub.add_parser("train", help="train a model")
    add_arguments(p)
    p.set_defaults(run=run)
