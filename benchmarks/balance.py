"""The balancing bar: `emobalance balance` on GoEmotions train + the Sentiment140 100k sample
with the default offline configuration (teacher = reference model + TF-IDF trained on train).

Prints one JSON object: MeanIR before/after, whether every label reached its target,
leaked_texts, rows by source, teacher, seconds (wall time of the whole job).

    python benchmarks/balance.py --out /tmp/balance-bench
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, peak_rss_mb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="runs/balance-bench")
    args = ap.parse_args()

    from emobalance.balance.build import run_balance
    from emobalance.config import EmobalanceConfig

    t0 = time.perf_counter()
    _, rep = run_balance(EmobalanceConfig(), args.out, progress=False)
    emit(
        {
            "mean_ir_before": rep["mean_ir_before"],
            "mean_ir_after": rep["mean_ir_after"],
            "all_targets_reached": rep["all_targets_reached"],
            "target": sorted(set(rep["targets"].values())),
            "leaked_texts": rep["leaked_texts"],
            "n_before": rep["n_before"],
            "n_after": rep["n_after"],
            "counts_by_source": rep["counts_by_source"],
            "pseudo_label_kept": rep.get("pseudo_label", {}).get("kept_rows"),
            "teacher": rep.get("teacher"),
            "teacher_seconds": rep.get("teacher_seconds"),
            "seconds": time.perf_counter() - t0,
            "peak_rss_mb": peak_rss_mb(),
            "machine": machine(),
        }
    )


if __name__ == "__main__":
    main()
