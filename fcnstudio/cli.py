"""Command-line entry point: argument parsing only; each command lives in fcnstudio.commands.

Exit codes: 0 success, 1 the command found a problem (an error finding, a
training error), 2 usage or I/O problem (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .train.config import ARCH_WIDTHS, FLIPS, LOSS_NAMES, PRECISIONS, REVIEW_FOLDS, REVIEW_MINUTES_PER_FOLD, TrainConfig

COMMANDS = ("gui", "check", "fix", "train", "predict", "export", "review")


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fcnstudio",
        description="See and fix segmentation masks, check labels, train a small FCN.",
    )
    parser.add_argument("--version", action="version", version=f"fcnstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_data_commands(sub)
    _add_train(sub)
    _add_model_commands(sub)
    return parser


def _add_data_commands(sub) -> None:
    """gui, check, fix."""
    g = sub.add_parser("gui", help="open the window (the default command)")
    g.add_argument("dataset", nargs="?", help="dataset folder (default: the last one opened, else the bundled sample)")

    c = sub.add_parser("check", help="check a dataset's labels for what makes a network predict zeros")
    c.add_argument("dataset", help="dataset folder")
    c.add_argument("--json", action="store_true", help="print one JSON object (machine-readable)")
    c.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar on the terminal")

    f = sub.add_parser("fix", help="apply the fix for one finding code to every file that has it")
    f.add_argument("dataset", help="dataset folder")
    f.add_argument("--code", required=True, help="finding code to fix, e.g. binary-255")
    f.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    f.add_argument("--no-backup", action="store_true", help="do not keep the original masks in .fcnstudio/backup/")
    f.add_argument("--workers", type=int, default=None, help="worker processes for the check (default: all cores)")


def _add_train(sub) -> None:
    d = TrainConfig()  # the defaults the help texts name
    t = sub.add_parser("train", help="train a small FCN on a dataset")
    t.add_argument("dataset", help="dataset folder")
    t.add_argument("--loss", choices=LOSS_NAMES, default=None, help=f"loss (default {d.loss})")
    t.add_argument("--model", choices=tuple(ARCH_WIDTHS), default=None, help=f"network (default {d.arch})")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--max-minutes", type=float, default=None, help="stop after this many minutes")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps")
    t.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr:g})")
    t.add_argument("--batch", type=int, default=None, help=f"batch size (default {d.batch_size})")
    t.add_argument("--crop", type=int, default=None, help=f"crop size (default {d.crop_size})")
    widths = ", ".join(f"{k} {v}" for k, v in ARCH_WIDTHS.items())
    t.add_argument("--width", type=int, default=None, help=f"network base width (default: {widths})")
    t.add_argument("--depth", type=int, default=None, help=f"network depth (default {d.depth})")
    t.add_argument("--norm", choices=("batch", "group", "none"), default=None,
                   help=f"normalisation layers (default {d.norm}); see the README on training in several processes")
    t.add_argument("--input-scale", default=None, metavar="auto|S",
                   help="train at this fraction of the image size (default auto: from the image sizes and the "
                        "thinnest labelled structures); predictions are always at full size")
    t.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="bf16 autocast or float32 (default auto: bf16 where the processor has it natively)")
    t.add_argument("--flips", choices=FLIPS, default=None,
                   help="augmentation's flips and quarter turns (default auto: left-right only when the labels show "
                        "the images have an up, e.g. sky at the top)")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    t.add_argument("--no-channels-last", dest="channels_last", action="store_false", default=None,
                   help="keep activations in contiguous (NCHW) memory instead of channels-last")
    t.add_argument("--eval-every", type=int, default=None, help="evaluate every N steps")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    t.add_argument("--out", default=None, help="run folder (default DATASET/.fcnstudio/runs/<timestamp>)")
    t.add_argument("--resume", default=None, help="checkpoint to resume from")
    t.add_argument("--json-log", action="store_true", help="print one JSON event per line on stdout")
    t.add_argument("--skip-check", action="store_true", help="skip the pre-flight label check (not advised)")
    t.add_argument("--class-weights", default=None, metavar="auto|none|W0,W1,..",
                   help="class weights for the CE term: auto (median frequency), none, or one number per class")


def _add_model_commands(sub) -> None:
    """predict, export, review."""
    p = sub.add_parser("predict", help="write predicted masks for images with a trained checkpoint")
    p.add_argument("checkpoint", help="a best.pt or last.pt from a run folder")
    p.add_argument("inputs", nargs="+", help="images or folders of images")
    p.add_argument("--out", required=True, help="folder for the predicted palette PNG masks")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    p.add_argument("--tile", type=int, default=512, help="images larger than this are predicted in overlapping windows")

    e = sub.add_parser("export", help="write the dataset as an nnU-Net v2 raw dataset (refused while the check reports errors)")
    e.add_argument("dataset", help="dataset folder")
    e.add_argument("--nnunet", required=True, metavar="OUT_DIR", help="folder to write DatasetXXX_NAME/ into (nnUNet_raw)")
    e.add_argument("--id", type=int, default=501, help="nnU-Net dataset id, 1..999 (default 501)")
    e.add_argument("--name", default=None, help="dataset name (default: the dataset folder's name)")
    e.add_argument("--workers", type=int, default=None, help="worker processes for the check (default: all cores)")
    e.add_argument("--no-progress", action="store_true", help="no progress bars on the terminal")

    r = sub.add_parser("review", help="rank the masks most likely wrong (K fold models, what they disagree with)")
    r.add_argument("dataset", help="dataset folder")
    r.add_argument("--folds", type=int, default=REVIEW_FOLDS, help=f"fold models to train (default {REVIEW_FOLDS})")
    r.add_argument("--minutes-per-fold", type=float, default=None,
                   help=f"training minutes per fold (default {REVIEW_MINUTES_PER_FOLD:g}; with only --steps-per-fold: "
                        "no time limit)")
    r.add_argument("--steps-per-fold", type=int, default=None,
                   help=f"training steps per fold (default {TrainConfig().max_steps}, or the time limit first; steps "
                        "only: a reproducible review)")
    r.add_argument("--json", action="store_true", help="print the review as one JSON object")
    r.add_argument("--top", type=int, default=20, help="masks listed in the report (default 20)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        argv = ["gui", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    module = importlib.import_module(f"fcnstudio.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except UsageError as exc:
        _print_error(f"fcnstudio {args.command}: {exc}")
        return 2
    except KeyboardInterrupt:
        print(f"fcnstudio {args.command}: interrupted", file=sys.stderr)
        return 130


def _print_error(line: str) -> None:
    """One line on stderr, even when it holds a file name that is not valid UTF-8."""
    data = line.encode(sys.stderr.encoding or "utf-8", errors="backslashreplace")
    if hasattr(sys.stderr, "buffer"):
        sys.stderr.flush()
        sys.stderr.buffer.write(data + b"\n")
        sys.stderr.buffer.flush()
    else:  # a replaced stderr (tests, IDEs) takes text
        print(data.decode(sys.stderr.encoding or "utf-8"), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
