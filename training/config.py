"""One typed training configuration; every field can be overridden from the command line."""

import argparse
import dataclasses
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from core import records


@dataclass
class TrainConfig:
    data: Path = Path("../shared/quickdraw")  # what `fetch --out` wrote, or the data package (bitmaps/, strokes/)
    out: Path = Path("model")  # where the model directory is written
    arch: str = "ours"  # "ours" or "seed" (the original app's net, a baseline)
    width: int = 24  # filters in the first conv stage (×2, ×4 later); speed vs accuracy
    dropout: float = 0.1  # before and after the dense head; more underfits in 12 epochs
    epochs: int = 11  # per net; 2 nets × 11 train in ~22 min on 2 cores (budget 30), docs/MODEL.md
    batch_size: int = 256  # large batches keep 2 CPU cores busy
    learning_rate: float = 2e-3  # Adam, cosine-decayed to 0 over all epochs: no plateau guessing
    label_smoothing: float = 0.05  # many sketches are ambiguous; do not force certainty
    patience: int = 3  # epochs without validation improvement before stopping
    validation_fraction: float = 0.05  # stratified hold-out of the bitmaps
    seed: int = 1234  # one seed for the split, augmentation and weights: reproducible
    augment: bool = True  # random affine + mirror on bitmaps each epoch
    balance_power: float = 1.0  # P(word) ∝ rows^(1 − power): 1 = all words equally often, 0 = as the data falls
    max_per_class: int = 0  # cap on bitmaps per class (0 = all); for quick or test runs
    validation_max_per_class: int = 500  # cap on held-out bitmaps per class: validation stays small at any size
    stroke_classes: tuple[str, ...] = ()  # words without bitmaps to train from multi-word stroke files (strokes/)
    stroke_train_fraction: float = 2 / 3  # of their drawings (by key_id); the rest are held out
    stroke_renderings: int = 2000  # augmented renderings per word trained from strokes (cap); ~ a bitmap class
    outliers: float = 0.0  # batch share of unknown words' drawings and first strokes, taught a flat guess
    outlier_renderings: int = 30_000  # augmented renderings of those drawings (cap); drawn from the stroke files
    partials: float = 0.0  # batch share of the words' own drawings cut after k of n strokes, taught k/n sure
    partial_renderings: int = 30_000  # augmented renderings of those cut drawings
    partial_train_fraction: float = 0.5  # of the words' stroke drawings (by key_id); the rest stay for evaluation
    saved: tuple[Path, ...] = ()  # drawings the game saved, a directory or postgresql:// URL (repeatable)
    players: str = "recognized"  # which players' game drawings to trust: "recognized" or "all"
    player_renderings: int = 8  # augmented renderings of each player's drawing in its word's pool
    quantize: bool = True  # int8 weights in model.tflite: ~4× faster inference, same accuracy on real drawings
    mirror_average: bool = True  # ship the mean of the drawing and its mirror (2 passes per inference)
    ensemble: int = 2  # nets trained from different seeds, averaged in the shipped model (epochs each)
    baseline_card: str = ""  # a baseline run's model_card.json (e.g. --arch seed): its metrics go beside ours
    evaluate: bool = True  # evaluate on strokes/*.ndjson.gz after training, if present
    steps_per_epoch: int = 0  # 0 = as many batches as training rows; fewer for quick or test runs
    project_only: bool = False  # measure this machine's images/s on this recipe, print the time it would take, stop
    distribute: str = "none"  # "mirrored": the GPUs of this host; "multiworker": the hosts named by TF_CONFIG


CHOICES = {
    "arch": ("ours", "seed"),
    "players": ("recognized", "all"),
    "distribute": ("none", "mirrored", "multiworker"),
}


def _why() -> dict[str, str]:
    """Each field's end-of-line comment, reused as its --help text (one place for the why)."""
    source = inspect.getsource(TrainConfig)
    return dict(re.findall(r"^    (\w+): .*?  # (.*)$", source, flags=re.MULTILINE))


def add_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig = TrainConfig()) -> None:
    """One ``--flag`` per config field, with the field's default, type and why-comment as help."""
    why = _why()
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = f"{why.get(f.name, '')} (default: {' '.join(default) if isinstance(default, tuple) else default})"
        if f.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=why.get(f.name))
        elif f.type == tuple[Path, ...]:
            parser.add_argument(flag, type=records.source, action="append", default=[], metavar="DIR|URL", help=text)
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="*", default=default, metavar="WORD", help=text)
        else:
            kind = Path if isinstance(default, Path) else type(default)
            parser.add_argument(flag, type=kind, default=default, choices=CHOICES.get(f.name), help=text)


def from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The config named by parsed arguments (fields only; other attributes ignored)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    values["stroke_classes"] = tuple(values["stroke_classes"])
    values["saved"] = tuple(values["saved"])
    return TrainConfig(**values)


def to_json(config: TrainConfig) -> dict:
    """The config as plain JSON values, for the model card."""
    return {
        k: (str(v) if isinstance(v, Path) else [str(i) for i in v] if isinstance(v, tuple) else v)
        for k, v in dataclasses.asdict(config).items()
    }
