"""One inference through the serving path vs Keras, on real drawings.

    PYTHONPATH=. .venv/bin/python bench/bench_inference.py [--model-dir model] [--n 300]

Times, per drawing: the sketch pipeline (to_model_input), LiteRT
(Classifier.probabilities), the whole serving path (Classifier.classify), the
same weights exported as float32 (to show what int8 weights buy), and
as the baseline Keras ``model.predict`` (what the original app called) and
``model(x)``. Prints median and p90 in ms and the ratios. Not a test: numbers, not asserts.
"""

import argparse
import gzip
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("QUICKDRAW_DATA", ROOT.parent / "shared" / "quickdraw"))


def drawings(labels: list[str], n: int) -> list:
    """The first n raw drawings of the model's words (raw: the path a browser's strokes take)."""
    from core import sketch

    found = []
    with gzip.open(DATA / "strokes" / "raw.ndjson.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if record["word"] in labels:
                found.append(sketch.validate(record["drawing"]))
    step = max(1, len(found) // n)  # spread over the classes, not the first few
    return found[::step][:n]


def timed(fn, items, repeat: int = 1) -> np.ndarray:
    """Milliseconds per call of fn(item), each item run ``repeat`` times."""
    times = []
    for item in items:
        for _ in range(repeat):
            start = time.perf_counter()
            fn(item)
            times.append((time.perf_counter() - start) * 1e3)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model")
    parser.add_argument("--n", type=int, default=300, help="drawings to time (default: 300)")
    args = parser.parse_args()

    import keras

    from core import sketch
    from core.model import CARD_FILE, LABELS_FILE, Classifier
    from training import export

    classifier = Classifier(args.model_dir)
    sample = drawings(classifier.labels, args.n)
    images = [sketch.to_model_input(d) for d in sample]
    batches = [image[None, ..., None].astype(np.float32) for image in images]
    model = keras.saving.load_model(args.model_dir / "model.keras")
    float_dir = Path(tempfile.mkdtemp())
    for name in (LABELS_FILE, CARD_FILE):
        shutil.copy(args.model_dir / name, float_dir / name)
    export.to_tflite(model, float_dir / "model.tflite", quantize=False)
    float32 = Classifier(float_dir)
    for warm in range(20):  # first calls build graphs and caches
        classifier.classify(sample[warm % len(sample)])
        float32.probabilities(images[warm % len(images)])
        model.predict(batches[warm % len(batches)], verbose=0)
        model(batches[warm % len(batches)], training=False)

    rows = {
        "to_model_input (sketch pipeline)": timed(sketch.to_model_input, sample),
        "Classifier.probabilities (LiteRT)": timed(classifier.probabilities, images),
        "Classifier.classify (whole serving path)": timed(classifier.classify, sample),
        "Classifier.probabilities, float32 export": timed(float32.probabilities, images),
        "keras model.predict(x) (original app)": timed(lambda x: model.predict(x, verbose=0), batches),
        "keras model(x)": timed(lambda x: model(x, training=False), batches),
    }
    classifier.close()
    float32.close()
    shutil.rmtree(float_dir)
    print(
        f"{len(sample)} real raw drawings, model {args.model_dir} ({classifier.version}), "
        f"{os.cpu_count()} CPUs; milliseconds per drawing"
    )
    print(f"{'':44} {'median':>8} {'p90':>8}")
    medians = {}
    for name, times in rows.items():
        medians[name] = float(np.median(times))
        print(f"{name:44} {medians[name]:8.3f} {np.percentile(times, 90):8.3f}")
    lite = medians["Classifier.probabilities (LiteRT)"]
    print(
        f"model.predict / LiteRT: {medians['keras model.predict(x) (original app)'] / lite:.0f}x, "
        f"model(x) / LiteRT: {medians['keras model(x)'] / lite:.0f}x, "
        f"float32 / shipped export: {medians['Classifier.probabilities, float32 export'] / lite:.1f}x"
    )
    print(json.dumps({name.split(" (")[0]: round(m, 4) for name, m in medians.items()}))


if __name__ == "__main__":
    main()
