"""Ensemble benchmark: members and weights chosen on dev, measured once on test.

Each member is a saved model (any kind ``emobalance.load_model`` reads) or a group of them
(``NAME=PATH,PATH,...``: the mean of their probabilities, one candidate, so that five seeds of
one recipe do not give the selection five chances to fit dev's noise). Each model's dev and
test probabilities are computed once and kept in ``--cache`` (one ``.npz`` per model path, so
a rerun or an added member scores only what is new). :func:`emobalance.ensemble.select_ensemble`
picks members with replacement by cross-fitted dev macro-F1; the chosen mean then gets
per-label thresholds tuned on all of dev and is scored on test. Prints one JSON line per
member and one for the ensemble (``model``, ``dev_macro_f1``, ``dev_macro_f1_crossfit``,
``macro_f1`` on test, ``train_minutes`` where the model recorded it, ``texts_per_s`` of
inference on test; the ensemble's is that of its distinct members run one after another),
and writes the teacher spec of the chosen ensemble to ``--spec-out`` for ``distill.teacher``.

    python benchmarks/ensemble.py --cache runs/ensemble \
        --member minilm=~/.cache/emobalance/teachers/minilm-KEY \
        --member tfidf=runs/study5/models/tfidf-seed0 \
        --member soft0=runs/screen/dist_os2_all/models/distilled_balanced-seed0 ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine


def _train_minutes(path: Path) -> float | None:
    for name in ("metrics.json", "teacher.json", "tfidf.json"):
        f = path / name
        if f.is_file():
            try:
                m = json.loads(f.read_text())
            except ValueError:
                continue
            m = m.get("metrics", m)
            for key in ("train_seconds", "fit_seconds"):
                if isinstance(m.get(key), int | float):
                    return round(m[key] / 60, 2)
    return None


def score(path: Path, cache: Path, dev, test) -> dict:
    """The model's dev and test probabilities (cached) and its test inference speed."""
    import hashlib

    f = cache / f"{path.name}-{hashlib.sha256(str(path).encode()).hexdigest()[:10]}.npz"
    if f.is_file():
        z = np.load(f)
        if str(z["path"]) == str(path):
            return {"dev": z["dev"], "test": z["test"], "texts_per_s": float(z["texts_per_s"])}
    from emobalance.io import atomic_path
    from emobalance.models.registry import load_model

    model = load_model(path)
    model.predict_proba(dev.texts[:64])  # warm-up
    p_dev = model.predict_proba(dev.texts)
    t0 = time.perf_counter()
    p_test = model.predict_proba(test.texts)
    tps = len(test) / (time.perf_counter() - t0)
    with atomic_path(f) as tmp, open(tmp, "wb") as out:
        np.savez(out, dev=p_dev, test=p_test, texts_per_s=tps, path=str(path))
    return {"dev": p_dev, "test": p_test, "texts_per_s": tps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--member", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--cache", required=True, type=Path, help="folder for member scores")
    ap.add_argument("--max-steps", type=int, default=25)
    ap.add_argument("--spec-out", type=Path, help="write the chosen teacher spec here")
    args = ap.parse_args()

    from emobalance.data import goemotions
    from emobalance.ensemble import crossfit_macro_f1, select_ensemble, weighted_mean
    from emobalance.metrics import apply_thresholds, macro_f1, tune_thresholds

    members: dict[str, list[Path]] = {}
    for m in args.member:
        name, sep, paths = m.partition("=")
        if not sep or not name or not paths:
            sys.exit(f"--member {m!r}: expected NAME=PATH[,PATH...]")
        members[name] = [Path(p).expanduser() for p in paths.split(",")]
    args.cache.mkdir(parents=True, exist_ok=True)
    dev, test = goemotions.load("dev"), goemotions.load("test")
    scores = {}
    for n, paths in members.items():
        parts = [score(p, args.cache, dev, test) for p in paths]
        scores[n] = {
            "dev": np.mean([q["dev"] for q in parts], axis=0),
            "test": np.mean([q["test"] for q in parts], axis=0),
            "texts_per_s": 1 / sum(1 / q["texts_per_s"] for q in parts),
        }

    def row(name: str, p_dev: np.ndarray, p_test: np.ndarray, **extra) -> dict:
        th = tune_thresholds(dev.labels, p_dev)
        return {
            "model": name,
            "dev_macro_f1": round(macro_f1(dev.labels, apply_thresholds(p_dev, th)), 4),
            "dev_macro_f1_crossfit": round(crossfit_macro_f1(dev.labels, p_dev, repeats=5), 4),
            "macro_f1": round(macro_f1(test.labels, apply_thresholds(p_test, th)), 4),
            **extra,
        }

    for n, s in scores.items():
        minutes = [_train_minutes(p) for p in members[n]]
        emit(
            row(
                n,
                s["dev"],
                s["test"],
                members=len(members[n]),
                train_minutes=None if None in minutes else round(sum(minutes), 2),
                texts_per_s=round(s["texts_per_s"], 1),
            )
        )
    uniform = {n: 1 for n in scores}
    emit(
        row(
            "mean_of_all",
            weighted_mean({n: s["dev"] for n, s in scores.items()}, uniform),
            weighted_mean({n: s["test"] for n, s in scores.items()}, uniform),
        )
    )
    sel = select_ensemble(
        {n: s["dev"] for n, s in scores.items()}, dev.labels, max_steps=args.max_steps
    )
    spec = sel.spec({n: [str(p) for p in paths] for n, paths in members.items()})
    if args.spec_out:
        args.spec_out.write_text(spec + "\n")
    seconds_per_text = sum(1 / scores[n]["texts_per_s"] for n in sel.counts)
    emit(
        row(
            "selected_ensemble",
            weighted_mean({n: s["dev"] for n, s in scores.items()}, sel.counts),
            weighted_mean({n: s["test"] for n, s in scores.items()}, sel.counts),
            counts=sel.counts,
            history=sel.history,
            texts_per_s=round(1 / seconds_per_text, 1),
            machine=machine(),
        )
    )


if __name__ == "__main__":
    main()
