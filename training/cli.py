"""The ``python -m training`` command line: fetch, train, evaluate."""

import argparse
import json
import sys
from pathlib import Path

from core import records
from core.model import CARD_FILE
from training import config as train_config

DESCRIPTION = """Train, evaluate and fetch data for the Quick, Draw! sketch classifier.

  python -m training fetch --out data --categories banana "house plant" --format numpy_bitmap simplified
  python -m training train --data data --out build/mine              # exactly what fetch wrote
  python -m training train --data ../shared/quickdraw --stroke-classes grapes pineapple --out model
  python -m training evaluate --model-dir model --strokes ../shared/quickdraw/strokes/raw.ndjson.gz
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from training import fetch  # light: urllib + tqdm only

    fetcher = commands.add_parser(
        "fetch",
        help="download categories from the Quick, Draw! bucket",
        description="Download categories from the public Quick, Draw! bucket, "
        "with a progress bar; interrupted downloads resume (.part files).",
    )
    fetch.add_arguments(fetcher)

    trainer = commands.add_parser(
        "train",
        help="train a model directory (model.tflite, labels, card, plots)",
        description="Train the CNN on the bitmaps (and words without bitmaps from "
        "their strokes, and players' saved drawings with --saved), export model.tflite, write labels.txt, "
        "model_card.json, curves.png, confusion.png, then evaluate on the stroke files.",
    )
    train_config.add_arguments(trainer)

    evaluator = commands.add_parser(
        "evaluate",
        help="top-1/top-3 on stroke drawings through the serving path",
        description="Render each drawing with core.sketch and classify it "
        "with the model's .tflite (core.model), as the server does. "
        "Prints per-class and overall top-1/top-3; the last line is JSON.",
    )
    source = evaluator.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", type=Path, help="a model directory (model.tflite, labels.txt, model_card.json)")
    source.add_argument("--keras", type=Path, help="a .keras file (labels.txt and model_card.json beside it)")
    evaluator.add_argument(
        "--strokes",
        type=records.source,
        nargs="+",
        required=True,
        help="simplified or raw .ndjson[.gz] files, saved-drawing directories or postgresql:// stores; "
        "several are evaluated together",
    )
    evaluator.add_argument(
        "--write-card",
        action="store_true",
        help="also put the figures (per file and combined) into the model directory's model_card.json, "
        "e.g. after core/sketch.py changed",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fetch":
        from training import fetch

        return fetch.run(args)
    if args.command == "train":
        from training import train

        try:
            train.train(train_config.from_arguments(args))
        except (FileNotFoundError, ValueError) as error:  # bad --data or flags: say so in one line
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    from training import evaluate

    model = args.model_dir or args.keras
    if args.write_card and not args.model_dir:
        print("error: --write-card needs --model-dir", file=sys.stderr)
        return 2
    try:
        if args.write_card:
            from training import artifacts

            card = json.loads((model / CARD_FILE).read_text(encoding="utf-8"))
            evaluate.into_card(model, card, args.strokes)
            artifacts.write_card(model, card)
            print(f"wrote the figures into {model / CARD_FILE}")
            return 0
        result = evaluate.evaluate(model, args.strokes)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(evaluate.report(result, f"{model} on {', '.join(str(p) for p in args.strokes)}"))
    return 0
