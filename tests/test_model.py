"""The model-directory contract, checked when a model is loaded."""

import json
import shutil

import numpy as np
import pytest

from core import sketch
from core.model import Classifier, ModelError
from tests.conftest import ROOT


@pytest.fixture
def model_dir(tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(ROOT / "model", copy)
    return copy


def test_the_shipped_model_loads_and_answers_for_a_blank_bitmap(model_dir):
    classifier = Classifier(model_dir)
    p = classifier.probabilities(np.zeros((sketch.SIZE, sketch.SIZE), np.uint8))
    assert p.shape == (len(classifier.labels),) and abs(float(p.sum()) - 1) < 1e-3


def test_a_card_with_other_preprocessing_is_refused(model_dir):
    card = json.loads((model_dir / "model_card.json").read_text())
    card["preprocessing"] = {**card["preprocessing"], "line_width": card["preprocessing"].get("line_width", 16) + 1}
    (model_dir / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="other preprocessing"):
        Classifier(model_dir)


def test_labels_that_do_not_fit_the_outputs_are_refused(model_dir):
    labels = (model_dir / "labels.txt").read_text().splitlines()
    (model_dir / "labels.txt").write_text("\n".join(labels[:-1]) + "\n")
    with pytest.raises(ModelError, match="outputs but labels.txt has"):
        Classifier(model_dir)
