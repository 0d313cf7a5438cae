"""Quality benchmark: train on GoEmotions train, tune thresholds on dev, score the test split.

Prints one JSON line per model with keys ``model``, ``macro_f1``, ``micro_f1``,
``macro_f1_at_0_5``, ``macro_auc``, ``exact_match``, ``train_seconds``, ``epoch_seconds``,
``peak_rss_mb``, ``per_label_f1``. Each model runs in its own process so that its peak RSS
is its own.

    python benchmarks/quality.py                      # reference model and TF-IDF baseline
    python benchmarks/quality.py --models reference --save-dir /tmp/ref
    python benchmarks/quality.py --models reference,tfidf,minilm_teacher,teacher_ensemble,\
        distilled_student                         # (one comma-separated list)

``minilm_teacher`` fine-tunes all-MiniLM-L6-v2 (``train_seconds`` is the fine-tune) and stores
it in the user cache where ``teacher: minilm`` finds it; ``teacher_ensemble`` is the mean of
its probabilities and a TF-IDF baseline's (thresholds tuned on dev); ``distilled_student`` is
the reference network distilled from that ensemble over train + the Sentiment140 sample.
``texts_per_s`` is inference on the test split.

Ensembles of saved models, with members and weights chosen on dev, are measured by
``benchmarks/ensemble.py`` (one row per member and one for the chosen ensemble, with the same
keys for train minutes and texts/s); the packaged default model by ``emobalance package``
(its manifest) and its start-up by ``benchmarks/startup.py``.
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
        from emobalance.models.reference import EmotionClassifier

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
    elif name == "minilm_teacher":
        from emobalance.models.transformer import TransformerClassifier, is_transformer_dir
        from emobalance.teachers import minilm_cache_dir

        clf = TransformerClassifier({"progress": False}).fit(train, dev)
        train_s = time.perf_counter() - t0
        epoch_s = clf.metrics_["mean_epoch_seconds"]
        extra = {k: clf.metrics_[k] for k in ("epochs_run", "best_epoch", "precision",
                                                "parameters", "base")}  # fmt: skip
        extra["fine_tune_minutes"] = train_s / 60
        # store it where `teacher: minilm` looks, so later runs reuse this fine-tune
        cache_dir, _ = minilm_cache_dir(train, dev)
        if not is_transformer_dir(cache_dir):
            clf.save(cache_dir)
    elif name in ("teacher_ensemble", "distilled_student"):
        from emobalance.config import EmobalanceConfig
        from emobalance.teachers import build_teacher

        cfg = EmobalanceConfig()
        if name == "teacher_ensemble":
            from emobalance.models.baselines import TfidfBaseline
            from emobalance.teachers import (
                ClassifierTeacher,
                EnsembleTeacher,
                HFTeacher,
                minilm_teacher,
            )

            # no score cache here: texts/s must be the ensemble's own inference speed
            tdir, _ = minilm_teacher(train, dev)
            tfidf = ClassifierTeacher(TfidfBaseline().fit(train, dev), name="tfidf")
            teacher, teacher_name = EnsembleTeacher([HFTeacher(tdir), tfidf]), "minilm+tfidf"
            clf = _Thresholded(teacher, dev)
            train_s = time.perf_counter() - t0  # TF-IDF fit (+ MiniLM fine-tune if not cached)
            epoch_s = None
            extra = {"teacher": teacher_name}
        else:
            from emobalance.data.corpora import resolve_corpus
            from emobalance.data.goemotions import cache_dir
            from emobalance.distill import fit_distilled

            # as `emobalance distill` builds it: the TF-IDF part and its scores cached too
            teacher, teacher_name = build_teacher("minilm+tfidf", train, dev, cfg.model, cfg.train,
                                                  cache_dir=cache_dir() / "teachers")  # fmt: skip

            clf = fit_distilled(
                train, dev, teacher, resolve_corpus("sentiment140"),
                exclude_texts=[*dev.texts, *test.texts], teacher_name=teacher_name,
                train_config=overrides.get("train", {}), model=overrides.get("model", {}),
            )  # fmt: skip
            train_s = time.perf_counter() - t0
            epoch_s = clf.metrics_["mean_epoch_seconds"]
            extra = {
                "epochs_run": clf.metrics_["epochs_run"],
                "best_epoch": clf.metrics_["best_epoch"],
                "parameters": clf.metrics_["parameters"],
                "distillation": clf.metrics_["distillation"],
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
    t1 = time.perf_counter()
    proba = clf.predict_proba(test.texts)
    texts_per_s = len(test) / (time.perf_counter() - t1)
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
        "texts_per_s": texts_per_s,
        "peak_rss_mb": peak_rss_mb(),
        "dev_macro_f1": clf.metrics_.get("dev", {}).get("macro_f1"),
        **extra,
        "per_label_f1": m["per_label_f1"],
        "machine": machine(),
    }


class _Thresholded:
    """A teacher with per-label thresholds tuned on dev (for scoring an ensemble)."""

    def __init__(self, teacher, dev) -> None:
        from emobalance.metrics import evaluate, tune_thresholds

        self.teacher = teacher
        proba = teacher.predict_proba(dev.texts)
        self.thresholds_ = tune_thresholds(dev.labels, proba)
        self.metrics_ = {"dev": evaluate(dev.labels, proba, self.thresholds_, groupings=())}

    def predict_proba(self, texts):
        return self.teacher.predict_proba(texts)

    def save(self, path) -> None:  # an ensemble is its members; nothing of its own to save
        pass


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
