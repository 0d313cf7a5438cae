"""Compare variants of several `emobalance run` directories over seeds, paired by seed.

Each argument is ``NAME=RUN_DIR:VARIANT``: the entries of ``VARIANT`` in ``RUN_DIR/metrics.json``
under the name ``NAME`` (a name given several times gathers the seeds of several directories).
The first argument is the baseline. Prints one JSON object: per name,
the seeds, mean ± std of dev macro-F1, test macro-F1, rare-6 mean F1 and the polarity guard's
accuracy, and against the baseline the paired t-test / Wilcoxon of
:func:`emobalance.evaluation.compare_variants`; ``selected_by_dev`` is the non-baseline name
with the highest mean dev macro-F1 (test is never used to choose). ``--figure F.png`` draws
the per-label test F1 of every name (mean over seeds), the six rarest labels marked;
``--report DIR`` writes the names' report (report.md, report.html, significance.json and the
merged metrics.json), as ``emobalance run`` does for one run directory.

    python benchmarks/compare_runs.py imbalanced=runs/study5:imbalanced \\
        paper_recipe=runs/study5:balanced chosen=runs/screen/os2:balanced

Runs that share a baseline model (same config and code) may be compared this way; the run
directories say which config trained each model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("specs", nargs="+", help="NAME=RUN_DIR:VARIANT (the first is the baseline)")
    ap.add_argument("--seeds", default=None, help="only these seeds, e.g. 0,1,2,3,4")
    ap.add_argument("--figure", default=None, help="write the per-label F1 figure (PNG) here")
    ap.add_argument(
        "--report",
        default=None,
        help="write report.md / report.html / significance.json of the names here",
    )
    args = ap.parse_args()

    from emobalance.data import goemotions
    from emobalance.evaluation import compare_variants, select_by_dev
    from emobalance.metrics import rare_labels

    keep = {int(s) for s in args.seeds.split(",")} if args.seeds else None
    entries, names = [], []
    for spec in args.specs:
        name, _, where = spec.partition("=")
        run_dir, _, variant = where.rpartition(":")
        if not (name and run_dir and variant):
            sys.exit(f"error: {spec!r}: expected NAME=RUN_DIR:VARIANT")
        path = Path(run_dir) / "metrics.json"
        if not path.is_file():
            sys.exit(f"error: {path}: not found")
        for e in json.loads(path.read_text()):
            if e["variant"] == variant and (keep is None or e["seed"] in keep):
                entries.append({**e, "variant": name, "run_dir": run_dir})
        names.append(name)
    names = list(dict.fromkeys(names))  # a name may gather seeds from several directories
    rare = rare_labels(goemotions.load("train").label_counts(), k=6)

    def stats(name: str, key) -> dict:
        vals = [key(e) for e in entries if e["variant"] == name]
        vals = [v for v in vals if v is not None]
        if not vals:
            return {}
        return {"mean": float(np.mean(vals)), "std": float(np.std(vals, ddof=1)) if len(vals) > 1
                else None, "values": vals}  # fmt: skip

    guard = "sentiment140_polarity_guard"
    summary = {
        n: {
            "seeds": sorted(e["seed"] for e in entries if e["variant"] == n),
            "dev_macro_f1": stats(n, lambda e: e.get("dev_macro_f1")),
            "test_macro_f1": stats(n, lambda e: e["test"]["macro_f1"]),
            "rare6_mean_f1": stats(
                n, lambda e: float(np.mean([e["test"]["per_label_f1"][lab] for lab in rare]))
            ),
            "guard_accuracy": stats(
                n, lambda e: (e.get("external") or {}).get(guard, {}).get("accuracy")
            ),
            "parameters": next(
                (e["efficiency"]["parameters"] for e in entries if e["variant"] == n), None
            ),
        }
        for n in names
    }
    rows = compare_variants(entries, baseline=names[0], rare=rare, variants=names)
    selected = select_by_dev(entries, names[1:])
    if args.figure:
        from emobalance.report import fig_per_label_f1

        Path(args.figure).write_bytes(fig_per_label_f1(entries, rare, variants=names))
    if args.report:
        from emobalance.io import write_json_atomic
        from emobalance.report import fig_per_label_f1, write_report

        comparison = {"baseline": names[0], "rare": rare, "external": guard, "rows": rows,
                      "selected_by_dev": selected}  # fmt: skip
        out = Path(args.report)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "significance.json", comparison)
        write_json_atomic(out / "metrics.json", entries)
        sources = [spec.replace("=", ": ", 1) for spec in args.specs]
        write_report(
            out, entries, variants=names, balance_report=None, rare=rare, bootstrap=None,
            figures={"per_label_f1": fig_per_label_f1(entries, rare, variants=names)},
            efficiency=[], external=[guard], comparison=comparison,
            notes=["models gathered from run directories (name: directory:variant): "
                   + "; ".join(sources)],
            title="emobalance: variants compared over seeds",
        )  # fmt: skip
    emit({
        "baseline": names[0],
        "rare": rare,
        "summary": summary,
        "comparison": rows,
        "selected_by_dev": selected,
        "machine": machine(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
