"""`jumok train [CONFIG.toml]`: train a model, or resume one.

Settings come in layers, each overriding the ones before: the `Config` defaults, then the
task's own (`Task.defaults`), then the model's own (its `defaults`), then the config file,
then the command-line flags that were given, then ``--set SECTION.KEY=VALUE`` assignments
(docs/config.md lists every setting; `jumok.config` says how they merge). The flags are
made from the `Config` fields' metadata, one group per config-file section. The merged
configuration is written to the run directory as config.json and as config.toml; the latter
trains the same run again with ``jumok train RUN/config.toml --out NEW_RUN``.
"""

import argparse
import os
import sys

from jumok.backend import device_module
from jumok.config import (
    SECTIONS,
    SETTINGS,
    Config,
    _unpack,
    choices,
    field_types,
    load_toml,
    merge_layers,
    parse_assignment,
    with_defaults,
)
from jumok.config.reference import flag_help
from jumok.errors import CheckpointError, ConfigError
from jumok.launch import relaunch, workers_wanted
from jumok.parallel import get_world
from jumok.ranks import launcher_rank, started_by_mpiexec
from jumok.rundir import CONFIG, load_config

NOT_SETTINGS = ("resume", "quiet", "debug", "command", "run", "config_file", "overrides", "argv")
RESUME_CHANGES = ("epochs", "lr", "clip", "checkpoint_every", "device", "workers", "keep_epochs")  # what --resume may change
RESUME_RULE = ("only " + ", ".join(SETTINGS[key]["flag"] for key in RESUME_CHANGES[:-1])
               + f" and {SETTINGS[RESUME_CHANGES[-1]]['flag']} may change")


def setting_flag(name):
    """(flag, argparse keyword arguments) of the `Config` field `name`, from its metadata:
    dest is the field's name, the type its annotation's, the choices its registry's."""
    meta = SETTINGS[name]
    kind, _ = _unpack(field_types()[name])
    options = {"dest": name, "help": flag_help(name)}
    if kind is bool and meta["negatable"]:
        options["action"] = argparse.BooleanOptionalAction  # --x / --no-x, None when neither is given
    elif kind is bool:
        options.update(action="store_true", default=None)  # None: not given, so not a layer's setting
    elif kind is not str:
        options["type"] = meta["flag_type"] or kind
    if meta["choices"]:
        options["choices"] = list(choices(name, flag=True))
    if meta["metavar"]:
        options["metavar"] = meta["metavar"]
    return meta["flag"], options


def add_arguments(p):
    p.add_argument("config_file", nargs="?", metavar="CONFIG.toml",
                   help="settings by section ([data], [model], [train], [decode], [run]); flags override them")
    p.add_argument("--set", dest="overrides", action="append", metavar="SECTION.KEY=VALUE",
                   help="override one setting after the file and the flags, e.g. --set train.lr=0.01 "
                        "(VALUE is read as TOML where it can be: true, 0.01, \"x.tsv\"); repeatable")
    p.add_argument("--out", help="run directory (default: [run] out of the config file, else runs/TASK-MODEL)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue the run saved in RUN_DIR from its latest checkpoint, exactly, up to --epochs in "
                        "total; the other settings come from its config, except --lr (e.g. lower, after a "
                        "non-finite loss), --clip, --checkpoint-every, --device, --workers and --keep-epochs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    for section, names in SECTIONS.items():  # one group of flags per config-file section (docs/config.md)
        group = p.add_argument_group(f"[{section}] settings")
        for name in (name for name in names if SETTINGS[name]["flag"]):
            flag, options = setting_flag(name)
            group.add_argument(flag, **options)


def flag_settings(args):
    """The settings the command-line flags gave explicitly (unset flags are None)."""
    settings = {key: value for key, value in vars(args).items()
                if key in Config.__dataclass_fields__ and value is not None}
    if args.out is not None:
        settings["out"] = args.out
    return settings


def settings_from_args(args):
    """(Config, run directory) from defaults < the task's own < the model's own < config file <
    flags < --set assignments."""
    file_settings = load_toml(args.config_file) if args.config_file else {}
    assignments = dict(parse_assignment(text) for text in args.overrides or ())
    settings = with_defaults(merge_layers(file_settings, flag_settings(args), assignments))
    out = settings.pop("out", None)
    config = Config(**settings)
    return config, out or f"runs/{config.task}-{config.model}"


def workers(config, args, log):
    """(exit status of the job, None) when this process starts the workers `config` asks for
    (`jumok.launch.relaunch` runs this command again as that many ranks); else (None, config
    with the number of ranks this process trains among: 1, or mpiexec's)."""
    if started_by_mpiexec():  # one of the ranks: mpiexec's count is the one that holds
        size = get_world().size
        if config.workers not in (0, 1, size):
            log(f"--workers {config.workers}: training as the {size} ranks that mpiexec started")
        if size > 1 and config.device != "cpu":
            raise ConfigError(f"--workers runs on the CPU; --device {config.device} trains with one worker")
        return None, config.replace(workers=size)
    if config.device != "cpu" and config.workers != 1:
        if config.workers > 1:
            raise ConfigError(f"--workers {config.workers} runs on the CPU; --device {config.device} trains "
                              "with one worker")
        return None, config.replace(workers=1)  # auto on a GPU: the GPU's one process
    count = workers_wanted(config.workers or "auto", log)
    if count > 1:
        return relaunch(count, args.argv, "training"), None
    return None, config.replace(workers=1)


def run(args):
    from jumok.train import run_training  # imports matplotlib/tqdm only when training

    log = lambda msg: print(msg, file=sys.stderr) if launcher_rank() == 0 else None  # noqa: E731
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
            flag = SETTINGS[changed[0]]["flag"] if changed[0] in SETTINGS else f"--{changed[0].replace('_', '-')}"
            raise ConfigError(f"--resume takes its settings from {source}; {RESUME_RULE} (got {flag})")
        if os.path.isdir(args.resume) and not os.path.exists(os.path.join(args.resume, CONFIG)):
            raise CheckpointError(f"{args.resume}: nothing to resume, it has no {CONFIG} (the run stopped before "
                                  "writing anything, or this is not a run directory); start the run again without "
                                  "--resume")
        config = load_config(args.resume)
        trained_with = config.workers
        config = config.replace(**{key: given[key] for key in RESUME_CHANGES if key in given})
        status, config = workers(config, args, log)
        if status is not None:
            return status
        device_module(config.device)  # a missing GPU is the only line printed
        log(f"resuming {args.resume} up to epoch {config.epochs}")
        if config.workers != trained_with:
            log(f"{config.workers} worker{'s' if config.workers > 1 else ''}, {trained_with} so far: the run goes on "
                "from its checkpoint, but sums over another number of slices round differently, so it is not "
                f"bit-identical to going on with {trained_with}")
        run_training(config, args.resume, progress=not args.quiet, log=log, resume=True, resume_lr=args.lr)
        return 0
    config, out = settings_from_args(args)
    status, config = workers(config, args, log)
    if status is not None:
        return status
    device_module(config.device)  # a missing GPU is the only line printed
    log(f"training {config.model} on {config.data or config.task} → {out}")
    run_training(config, out, progress=not args.quiet, log=log)
    return 0


def register(sub):
    p = sub.add_parser("train", help="train a model")
    add_arguments(p)
    p.set_defaults(run=run)
