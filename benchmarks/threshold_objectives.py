"""Which dev threshold objective suits which measure: saved models re-tuned on dev, measured.

For each model folder and each objective of :data:`emobalance.metrics.OBJECTIVES` (per-label
F1, micro-F1, example-based Jaccard), the thresholds are tuned on the dev split of the config's
``data:`` section (GoEmotions' without one), then dev and test Jaccard, micro-F1 and macro-F1
are measured with them. dev is where one would choose; test is only reported. Prints one JSON
line per model and objective; the models' probabilities are computed once.

    python benchmarks/threshold_objectives.py runs/xed/models/teacher-seed0 \\
        runs/xed/models/balanced-seed0 --config configs/own-data.yaml \\
        --set data.train=$X/train.csv --set data.dev=$X/dev.csv --set data.test=$X/test.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

KEYS = ("jaccard", "micro_f1", "macro_f1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("models", nargs="+", help="saved model folders or .onnx files")
    ap.add_argument("--config", default=None, help="a config whose data: section names the splits")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="section.key=value")
    args = ap.parse_args()

    from emobalance.config import load_config
    from emobalance.jobs import load_splits
    from emobalance.metrics import OBJECTIVES, evaluate, tune_thresholds
    from emobalance.models.registry import load_model

    splits = load_splits(load_config(args.config, overrides=args.sets))
    dev, test = splits.dev, splits.test
    for path in args.models:
        model = load_model(path)
        proba = {"dev": model.predict_proba(dev.texts), "test": model.predict_proba(test.texts)}
        for objective in OBJECTIVES:
            th = tune_thresholds(dev.labels, proba["dev"], objective=objective)
            row = {"benchmark": "threshold_objectives", "model": str(path),
                   "objective": objective, "schema": splits.schema.name}  # fmt: skip
            for split, ds in (("dev", dev), ("test", test)):
                m = evaluate(ds.labels, proba[split], th, groupings=(), schema=splits.schema)
                row.update({f"{split}_{k}": round(m[k], 4) for k in KEYS})
            emit(row)
    emit({"benchmark": "threshold_objectives", "machine": machine()})


if __name__ == "__main__":
    main()
