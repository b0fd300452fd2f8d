"""One typed training configuration; every field can be overridden from the command line."""

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainConfig:
    data: Path = Path("../shared/quickdraw")  # the data package: bitmaps/ and strokes/
    out: Path = Path("model")  # where the model directory is written
    arch: str = "ours"  # "ours" or "seed" (the original app's net, a baseline)
    width: int = 24  # filters in the first conv stage (×2, ×4 later); speed vs accuracy
    dropout: float = 0.3  # before and after the dense head; 117k images still overfit
    epochs: int = 10  # upper bound; early stopping usually ends sooner
    batch_size: int = 256  # large batches keep 2 CPU cores busy
    learning_rate: float = 2e-3  # Adam; halved whenever validation loss stalls
    label_smoothing: float = 0.05  # many sketches are ambiguous; do not force certainty
    patience: int = 3  # epochs without validation improvement before stopping
    validation_fraction: float = 0.05  # stratified hold-out of the bitmaps
    seed: int = 1234  # one seed for the split, augmentation and weights: reproducible
    augment: bool = True  # random affine + mirror on bitmaps each epoch
    balance_power: float = 1.0  # sample weight ∝ (mean count / class count)^power; 1 = balanced
    max_per_class: int = 0  # cap on bitmaps per class (0 = all); for quick or test runs
    stroke_classes: tuple[str, ...] = ("grapes", "pineapple")  # classes with no bitmaps
    stroke_train_fraction: float = 2 / 3  # of their drawings (by key_id); the rest are held out
    stroke_renderings: int = 800  # augmented renderings per stroke class, so it is not drowned out
    evaluate: bool = True  # evaluate on strokes/*.ndjson.gz after training, if present
    steps_per_epoch: int = 0  # 0 = one pass over the bitmaps; fewer for quick or test runs


def add_arguments(parser: argparse.ArgumentParser, defaults: TrainConfig = TrainConfig()) -> None:
    """One ``--flag`` per config field, with the field's default and type."""
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, tuple):
            parser.add_argument(flag, nargs="*", default=default, metavar="WORD")
        else:
            kind = Path if isinstance(default, Path) else type(default)
            parser.add_argument(flag, type=kind, default=default, help=f"default: {default}")


def from_arguments(args: argparse.Namespace) -> TrainConfig:
    """The config named by parsed arguments (fields only; other attributes ignored)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    values["stroke_classes"] = tuple(values["stroke_classes"])
    return TrainConfig(**values)


def to_json(config: TrainConfig) -> dict:
    """The config as plain JSON values, for the model card."""
    return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(config).items()}
