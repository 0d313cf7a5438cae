"""Calibration benchmark: per-label Platt scaling fitted on dev, measured on dev and test.

Prints one JSON line: ``ece_dev_before``, ``ece_dev_after``, ``ece_test_before``,
``ece_test_after``, ``macro_f1_test_before``, ``macro_f1_test_after`` (thresholds re-tuned
on the calibrated dev probabilities), plus ``model``, ``kind``, ``n_dev``, ``n_test``,
``identity_labels``, ``seconds`` and ``machine``. The model is not changed (``emobalance
calibrate MODEL`` saves the calibrated model).

    python benchmarks/calibration.py models/ref              # GoEmotions dev and test
    python benchmarks/calibration.py teachers/minilm --dev dev.jsonl --test test.parquet
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

KEYS = ("ece_dev_before", "ece_dev_after", "ece_test_before", "ece_test_after",
        "macro_f1_test_before", "macro_f1_test_after")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="any saved model (folder or .onnx file)")
    parser.add_argument("--dev", default="dev", help="split name or dataset file (fit)")
    parser.add_argument("--test", default="test", help="split name or dataset file (measured)")
    args = parser.parse_args(argv)

    from emobalance.jobs import calibrate_model
    from emobalance.models.registry import load_model

    t0 = time.perf_counter()
    model = load_model(args.model)
    _, report = calibrate_model(model, args.dev, args.test, out=None)
    out = {k: report[k] for k in KEYS}
    out.update(
        model=str(args.model), kind=model.kind, n_dev=report["n_dev"], n_test=report["n_test"],
        identity_labels=report["identity_labels"],
        seconds=round(time.perf_counter() - t0, 1), machine=machine(),
    )  # fmt: skip
    emit(out)
    return out


if __name__ == "__main__":
    main()
