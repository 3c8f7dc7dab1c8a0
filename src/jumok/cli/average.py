"""`jumok average`: a new run directory whose parameters are the mean of a run's parameters
at the ends of its last epochs (kept by ``jumok train --keep-epochs K``; see
`jumok.average`). The new directory is read by every command like any run."""

from jumok.average import average_epochs, last_epochs
from jumok.errors import JumokError


def run(args):
    if args.last is not None and args.last < 1:
        raise JumokError(f"--last must be a positive number of epochs; got {args.last}")
    epochs = last_epochs(args.run_dir, args.last) if args.last else sorted(set(args.epochs))
    average_epochs(args.run_dir, epochs, args.out)
    print(f"{args.out}: the mean of {args.run_dir}'s parameters over epochs {', '.join(map(str, epochs))}")
    return 0


def register(sub):
    p = sub.add_parser("average", help="average a run's parameters over its last epochs",
                       description="Write a run directory whose params.npz is the mean of RUN_DIR's parameters "
                                   "at the end of the chosen epochs (kept by jumok train --keep-epochs K).")
    p.add_argument("run_dir")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--last", type=int, metavar="K", help="the K latest epochs the run keeps")
    which.add_argument("--epochs", type=int, nargs="+", metavar="E", help="these epochs")
    p.add_argument("--out", required=True, metavar="DIR", help="the new run directory")
    p.set_defaults(run=run)
