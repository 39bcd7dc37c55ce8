"""``fcnstudio predict CHECKPOINT IMAGE_OR_FOLDER... --out DIR``: palette PNG masks from a trained run.

Each written mask's path goes to stdout, one a line; progress and problems to
stderr. Exit codes: 0 every image predicted, 1 some image could not be read,
2 usage (no such input, no image found, a checkpoint that cannot or must not
be loaded).
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..cli import UsageError


def say(text: str, stream) -> None:
    """One line that no file name can crash: characters the stream cannot encode (the surrogate
    escapes of a name that is not UTF-8) are written backslash-escaped; a closed pipe is ignored."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
        stream.flush()
    except BrokenPipeError:
        pass


def run(args) -> int:
    from ..train.checkpoint import CheckpointError
    from ..train.predict import Predictor, collect_images, predict_paths

    if args.tile < 32:
        raise UsageError("--tile must be at least 32 pixels")
    try:
        files = collect_images(args.inputs)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    if not files:
        raise UsageError(f"no images ({', '.join(args.inputs)}) to predict")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    try:
        predictor = Predictor.from_file(args.checkpoint, args.device, tile=args.tile)
    except (CheckpointError, ValueError) as exc:
        raise UsageError(str(exc)) from None

    def progress(result, done, total):
        if result.error:
            say(f"[{done}/{total}] {result.source}: {result.error}", sys.stderr)
        else:
            say(str(result.output), sys.stdout)
            say(f"[{done}/{total}] {result.source.name} → {result.output}", sys.stderr)

    results = predict_paths(predictor, [str(f) for f in files], out, progress=progress)
    failed = [r for r in results if r.error]
    if failed:
        say(f"fcnstudio predict: {len(failed)} of {len(results)} images could not be predicted", sys.stderr)
        return 1
    return 0
