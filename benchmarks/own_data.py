"""The own-data workflow, timed: `emobalance run --config configs/own-data.yaml --set data.*`.

Runs the documented command on a user's labelled files (a subprocess, so the time is the
user's wall time, install excluded), then prints one JSON object: the wall time, the schema,
per variant the mean over seeds of test Jaccard (example-based), micro-F1, macro-F1 (and
accuracy for a single-label set) with the dev figures beside them, the variant the run
selected on dev, and the paired comparison of every variant with ``imbalanced`` over seeds
(significance.json). ``--resume`` continues an interrupted run (the time then covers this
invocation only). Extra arguments go to ``emobalance run`` as they are.

    python benchmarks/own_data.py --out runs/xed -- \\
        --set data.train=$EMOBALANCE_DATA/xed_en/train.csv \\
        --set data.dev=$EMOBALANCE_DATA/xed_en/dev.csv \\
        --set data.test=$EMOBALANCE_DATA/xed_en/test.csv
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("jaccard", "micro_f1", "macro_f1", "accuracy")


def summarise(run_dir: Path) -> dict:
    """Per variant: seeds, mean test and dev figures; the dev selection and the comparison."""
    entries = json.loads((run_dir / "metrics.json").read_text())
    out: dict[str, dict] = {}
    for variant in dict.fromkeys(e["variant"] for e in entries):
        rows = [e for e in entries if e["variant"] == variant]
        row: dict = {"seeds": [e["seed"] for e in rows]}
        for key in METRICS:
            values = [e["test"][key] for e in rows if key in e["test"]]
            if values:
                row[f"test_{key}"] = round(float(np.mean(values)), 4)
                if len(values) > 1:
                    row[f"test_{key}_std"] = round(float(np.std(values, ddof=1)), 4)
            dev = [e.get(f"dev_{key}") for e in rows if e.get(f"dev_{key}") is not None]
            if dev:
                row[f"dev_{key}"] = round(float(np.mean(dev)), 4)
        row["per_label_f1"] = {
            lab: round(float(np.mean([e["test"]["per_label_f1"][lab] for e in rows])), 4)
            for lab in rows[0]["test"]["per_label_f1"]
        }
        row["train_minutes"] = round(sum(e["efficiency"]["train_seconds"] for e in rows) / 60, 1)
        out[variant] = row
    sig = json.loads((run_dir / "significance.json").read_text())
    info = json.loads((run_dir / "run_info.json").read_text())
    return {
        "schema": info.get("label_schema", {}).get("labels"),
        "data_notes": info.get("data_notes", []),
        "variants": out,
        "selected_by_dev": sig.get("selected_by_dev"),
        "select_by": sig.get("selected_by_dev_metric", "macro_f1"),
        "comparison": sig.get("rows", []),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", required=True, help="the run directory")
    ap.add_argument("--config", default=str(ROOT / "configs" / "own-data.yaml"))
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--summary-only", action="store_true", help="only summarise --out")
    ap.add_argument("run_args", nargs="*", help="more arguments of `emobalance run`")
    args = ap.parse_args()
    run_dir = Path(args.out)
    seconds = None
    if not args.summary_only:
        resume = ["--resume"] if args.resume else []
        cmd = [sys.executable, "-m", "emobalance.cli", "run", "--config", args.config,
               "--out", str(run_dir), *resume, *args.run_args]  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True)
        seconds = time.perf_counter() - t0
    emit({"benchmark": "own_data", "machine": machine(), "run_dir": str(run_dir),
          "wall_minutes": None if seconds is None else round(seconds / 60, 1),
          **summarise(run_dir)})  # fmt: skip


if __name__ == "__main__":
    main()
