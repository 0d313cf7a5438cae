"""Quality benchmark: train on GoEmotions train, tune thresholds on dev, score the test split.

Prints one JSON line per model with keys ``model``, ``macro_f1``, ``micro_f1``,
``macro_f1_at_0_5``, ``macro_auc``, ``exact_match``, ``train_seconds``, ``epoch_seconds``,
``peak_rss_mb``, ``per_label_f1``. Each model runs in its own process so that its peak RSS
is its own.

    python benchmarks/quality.py                      # reference model and TF-IDF baseline
    python benchmarks/quality.py --models reference --save-dir /tmp/ref
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, peak_rss_mb


def run_one(name: str, save_dir: str | None, overrides: dict) -> dict:
    from emobalance.data import goemotions
    from emobalance.metrics import evaluate

    train, dev, test = (goemotions.load(s) for s in ("train", "dev", "test"))
    t0 = time.perf_counter()
    if name in ("reference", "no_attention", "no_conv", "no_pretrained"):
        from emobalance.classifier import EmotionClassifier

        model_over = dict(overrides.get("model", {}))
        if name == "no_attention":
            model_over["use_attention"] = False
        elif name == "no_conv":
            model_over["use_conv"] = False
        elif name == "no_pretrained":
            model_over["pretrained"] = False
        clf = EmotionClassifier(model=model_over, train=overrides.get("train", {}))
        clf.fit(train, dev)
        train_s = time.perf_counter() - t0
        epoch_s = clf.metrics_["mean_epoch_seconds"]
        extra = {
            "epochs_run": clf.metrics_["epochs_run"],
            "best_epoch": clf.metrics_["best_epoch"],
            "precision": clf.metrics_["precision"],
            "parameters": clf.metrics_["parameters"],
            "embedding": clf.metrics_["embedding"],
        }
    elif name == "tfidf":
        from emobalance.models.baselines import TfidfBaseline

        clf = TfidfBaseline().fit(train, dev)
        train_s = time.perf_counter() - t0
        epoch_s = None
        extra = {}
    else:
        raise SystemExit(f"unknown model {name!r}")
    if save_dir:
        clf.save(Path(save_dir) / name)
    proba = clf.predict_proba(test.texts)
    m = evaluate(test.labels, proba, clf.thresholds_)
    m05 = evaluate(test.labels, proba, 0.5, groupings=())
    return {
        "model": name,
        "macro_f1": m["macro_f1"],
        "micro_f1": m["micro_f1"],
        "macro_f1_at_0_5": m05["macro_f1"],
        "macro_auc": m["macro_auc"],
        "exact_match": m["exact_match"],
        "train_seconds": train_s,
        "epoch_seconds": epoch_s,
        "peak_rss_mb": peak_rss_mb(),
        "dev_macro_f1": clf.dev_metrics_["macro_f1"]
        if hasattr(clf, "dev_metrics_")
        else clf.metrics_.get("dev", {}).get("macro_f1"),
        **extra,
        "per_label_f1": m["per_label_f1"],
        "machine": machine(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="reference,tfidf", help="comma-separated")
    ap.add_argument("--save-dir", default=None, help="save each trained model here")
    ap.add_argument("--config", default="{}", help="JSON overrides {model: {...}, train: {...}}")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    overrides = json.loads(args.config)
    if args.one:
        emit(run_one(args.one, args.save_dir, overrides))
        return
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--config", args.config]
        if args.save_dir:
            cmd += ["--save-dir", args.save_dir]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
