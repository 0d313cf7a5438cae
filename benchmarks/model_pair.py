"""Two saved models side by side: size and inference speed measured in one run.

Prints one JSON object with, per model, its kind, parameters (torch models), vocabulary size,
bytes on disk and ``predict_proba`` texts/s on GoEmotions test texts (batch 256, best of
``--repeats`` rounds, the two models alternating so that both see the same machine state),
and the ratio of the second to the first.

    python benchmarks/model_pair.py runs/study5/models/imbalanced-seed0 \\
        runs/screen/dist_os2_all/models/distilled_balanced-seed0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine


def describe(path: Path, model) -> dict:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    out = {"path": str(path), "kind": model.kind, "bytes": sum(p.stat().st_size for p in files)}
    net = getattr(model, "module_", None)
    if net is not None:
        out["parameters"] = int(sum(p.numel() for p in net.parameters()))
    vocab = getattr(model, "vocab_", None)
    if vocab is not None:
        out["vocab_size"] = len(vocab)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("first")
    ap.add_argument("second")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    from emobalance.data import goemotions
    from emobalance.models.registry import load_model

    texts = goemotions.load("test").texts[: args.n]
    paths = [Path(args.first), Path(args.second)]
    models = [load_model(p) for p in paths]
    for m in models:  # warm-up
        m.predict_proba(texts[:512], batch_size=256)
    best = [float("inf")] * 2
    for _ in range(args.repeats):
        for k, m in enumerate(models):
            t0 = time.perf_counter()
            m.predict_proba(texts, batch_size=256)
            best[k] = min(best[k], time.perf_counter() - t0)
    rows = [describe(p, m) | {"texts_per_s": len(texts) / b}
            for p, m, b in zip(paths, models, best, strict=True)]  # fmt: skip
    emit({
        "first": rows[0],
        "second": rows[1],
        "speed_ratio_second_to_first": rows[1]["texts_per_s"] / rows[0]["texts_per_s"],
        "n_texts": len(texts),
        "machine": machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
