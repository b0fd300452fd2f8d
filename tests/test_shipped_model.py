"""The model in model/ loads in the server's Classifier and recognizes real drawings."""

import json

import pytest

from core import sketch
from server.classifier import Classifier
from tests.conftest import ROOT

MODEL = ROOT / "model"
APP_CLASSES = {"banana", "umbrella", "grapes", "pineapple"}
EASY = [
    "banana",
    "umbrella",
    "apple",
    "house",
    "smiley face",
    "rainbow",
    "eye",
    "donut",
    "candle",
    "moon",
    "bicycle",
    "tree",
    "clock",
    "snowman",
    "diamond",
    "skull",
]  # distinctive shapes a good model must get


@pytest.fixture(scope="module")
def classifier():
    classifier = Classifier(MODEL)
    yield classifier
    classifier.close()


def test_model_directory_is_complete_and_small():
    names = ["model.tflite", "model.keras", "labels.txt", "model_card.json", "curves.png", "confusion.png"]
    sizes = {name: (MODEL / name).stat().st_size for name in names}
    assert all(sizes.values())
    assert sum(sizes.values()) < 8_000_000, sizes


def test_card_describes_the_model(classifier):
    card = classifier.card
    assert card["classes"] == classifier.labels
    assert APP_CLASSES <= set(classifier.labels) and len(classifier.labels) == 60
    assert card["preprocessing"] == sketch.preprocessing_parameters()
    assert "CC BY 4.0" in json.dumps(card["data_sources"])
    assert card["train_key_ids"] and all(isinstance(k, str) and k.isdigit() for k in card["train_key_ids"])
    assert classifier.version == card["version"]


def test_card_covers_every_bitmap_category(classifier, quickdraw_dir):
    categories = {path.stem for path in (quickdraw_dir / "bitmaps").glob("*.npy")}
    assert categories <= set(classifier.labels)


def held_out(drawings, card, words, per_word):
    """The first ``per_word`` drawings of each word that the model was not trained on."""
    trained_on, picked = set(card["train_key_ids"]), {w: [] for w in words}
    for record in drawings:
        word = record["word"]
        if word in picked and record["key_id"] not in trained_on and len(picked[word]) < per_word:
            picked[word].append(record)
    return [r for rs in picked.values() for r in rs]


@pytest.mark.parametrize("form", ["raw", "simplified"])
def test_recognizes_real_drawings(classifier, raw_drawings, simplified_drawings, form):
    drawings = raw_drawings if form == "raw" else simplified_drawings
    records = held_out(drawings, classifier.card, EASY, per_word=2)
    assert len(records) == 2 * len(EASY)
    top1 = [classifier.classify(sketch.validate(r["drawing"])).top(1)[0].word == r["word"] for r in records]
    misses = [r["word"] for r, hit in zip(records, top1) if not hit]
    assert sum(top1) >= 0.85 * len(records), misses


def test_held_out_grapes_and_pineapples_rank_their_word_high(classifier, raw_drawings, simplified_drawings):
    records = held_out(raw_drawings + simplified_drawings, classifier.card, ["grapes", "pineapple"], per_word=20)
    assert records, "no held-out grapes/pineapple drawings"
    in_top3 = [
        r["word"] in [g.word for g in classifier.classify(sketch.validate(r["drawing"])).top(3)] for r in records
    ]
    assert sum(in_top3) >= 0.6 * len(records)
