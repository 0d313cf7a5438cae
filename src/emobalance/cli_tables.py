"""The rich tables and views the CLI prints (``data stats``, ``evaluate``, ``explain``,
``thresholds``, ``calibrate``), over the labels of the dataset or model at hand (its schema),
not a fixed list."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .labels import LabelSchema
from .metrics import schema_for

# the per-text metrics shown beside micro-F1 in the evaluate summary, when the metrics have them
_BESIDE_MICRO_F1 = ("jaccard", "accuracy")


def print_stats_table(stats: Any, title: str) -> None:
    """The label counts and imbalance measures of ``emobalance data stats``."""
    console = Console()
    table = Table(title=f"{title}: {stats.n:,} examples", show_lines=False)
    table.add_column("label")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    table.add_column("IRLbl", justify="right")
    table.add_column("", min_width=20)
    top = max(stats.label_counts.values()) or 1
    for name, count in sorted(stats.label_counts.items(), key=lambda kv: -kv[1]):
        ir = stats.irlbl.get(name)
        bar = "█" * max(1 if count else 0, round(20 * count / top))
        table.add_row(
            name,
            f"{count:,}",
            f"{stats.label_share[name]:.2%}",
            "-" if ir is None else f"{ir:.1f}",
            bar,
        )
    console.print(table)
    # a schema without a neutral label has no "without neutral" figure
    without = getattr(stats, "mean_ir_without_neutral", None)
    without = "" if without is None else f" (without neutral {without:.2f})"
    console.print(
        f"MeanIR {stats.mean_ir:.2f}{without}  "
        f"MaxIR {stats.max_ir:.1f}  CVIR {stats.cvir:.2f}  SCUMBLE {stats.scumble:.4f}  "
        f"cardinality {stats.cardinality:.3f}  density {stats.density:.4f}"
    )
    hist = ", ".join(f"{k}: {v:,}" for k, v in stats.labels_per_example.items())
    console.print(f"labels per example: {hist}")
    if stats.absent_labels:
        console.print(f"labels with no example: {', '.join(stats.absent_labels)}")


def summary_rows(m: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The rows of the evaluate summary: ``summary`` with the example-based Jaccard index (and
    a single-label model's accuracy) beside micro-F1, then ``macro_f1_at_0_5``."""
    extra = {k: m[k] for k in _BESIDE_MICRO_F1 if m.get(k) is not None and k not in summary}
    rows: dict[str, Any] = {}
    for k, v in summary.items():
        rows[k] = v
        if k == "micro_f1":
            rows.update(extra)
    rows.update(extra)  # (no micro-F1 in the summary: at the end; a no-op otherwise)
    if "macro_f1_at_0_5" in m:
        rows["macro_f1_at_0_5"] = m["macro_f1_at_0_5"]
    return rows


def print_metrics(m: dict[str, Any], title: str, summary: dict[str, Any]) -> None:
    """The summary and per-label tables of ``emobalance evaluate`` (the per-label table lists
    the labels of the metrics, i.e. of the model's schema)."""
    console = Console()
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in summary_rows(m, summary).items():
        t.add_row(k, f"{v:,}" if isinstance(v, int) else f"{v:.4f}")
    console.print(t)
    pl = Table(title="per label")
    for c in ("label", "precision", "recall", "f1", "support"):
        pl.add_column(c, justify="right" if c != "label" else "left")
    for name, r in m["per_label"].items():
        pl.add_row(
            name, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"])
        )
    console.print(pl)


def print_external(m: dict[str, Any], title: str, schema: LabelSchema | None = None) -> None:
    """The summary, per-target and confusion tables of ``emobalance evaluate --data``
    (``schema``: the model's labels, named for the unmapped targets; default GoEmotions)."""
    console = Console()
    console.print(title, markup=False, highlight=False)  # a long path would wrap a table title
    t = Table()
    t.add_column("metric")
    t.add_column("value", justify="right")
    second = "micro_f1" if m["mode"] == "multi_label" else "accuracy"
    for k in ("macro_f1", second):
        t.add_row(k, "-" if m[k] is None else f"{m[k]:.4f}")
    for k in ("n_rows", "n_scored", "n_skipped"):
        t.add_row(k, f"{m[k]:,}")
    console.print(t)
    if m["per_target"]:
        pt = Table(title=f"per target ({m['mode'].replace('_', '-')})")
        for c in ("target", "precision", "recall", "f1", "support"):
            pt.add_column(c, justify="left" if c == "target" else "right")
        for name, r in m["per_target"].items():
            scored = name in m["scored_labels"]
            pt.add_row(name if scored else f"{name} (no support)", f"{r['precision']:.3f}",
                       f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"]))  # fmt: skip
        console.print(pt)
        cm = m["confusion_matrix"]
        what = "rows with gold i and predicted j" if m["mode"] == "multi_label" else "counts"
        ct = Table(title=f"confusion matrix (rows gold, columns predicted; {what})")
        ct.add_column("gold / predicted")
        for lab in cm["labels"]:
            ct.add_column(lab, justify="right")
        for lab, row in zip(cm["labels"], cm["matrix"], strict=True):
            ct.add_row(lab, *(str(v) for v in row))
        console.print(ct)
    if m["unmapped_targets"]:
        source = "GoEmotions" if schema is None else schema.name
        console.print(f"unmapped targets (no {source} counterpart): "
                      f"{', '.join(m['unmapped_targets'])}")  # fmt: skip
    for key, what in (("gold_unmapped", "gold labels of unmapped targets"),
                      ("gold_outside_map", "gold labels outside the map")):  # fmt: skip
        if m[key]:
            shown = ", ".join(f"{k}: {v:,}" for k, v in list(m[key].items())[:10])
            console.print(f"{what} (not scored): {shown}")


def print_explanation(ex: dict[str, Any]) -> None:
    """Tokens shaded by weight, the top tokens and labels of ``emobalance explain``."""
    console = Console()
    top = max(ex["attention"], default=0.0) or 1.0
    line = Text()
    for tok, w in zip(ex["tokens"], ex["attention"], strict=True):
        shade = int(255 - 180 * (w / top))
        line.append(tok, style=f"on rgb(255,{shade},{shade})")
        line.append(" ")
    console.print(line)
    for tok, w in sorted(zip(ex["tokens"], ex["attention"], strict=True), key=lambda kv: -kv[1])[
        :5
    ]:
        console.print(f"  {tok:<15} {w:.3f}")
    console.print("labels: " + (", ".join(ex["labels"]) or "(none above threshold)"))
    for item in ex["top"]:
        console.print(f"  {item['label']:<15} {item['probability']:.3f}")
    if ex.get("ekman") is not None:  # a schema with GoEmotions' Ekman grouping
        console.print(f"Ekman group: {ex['ekman']}")


def print_thresholds(
    thresholds: Any,
    saved: Any,
    title: str,
    calibration: Any = None,
    schema: LabelSchema | None = None,
) -> None:
    """The per-label thresholds of ``emobalance thresholds`` (those changed by --threshold /
    --thresholds marked with the saved value), one row per label of ``schema`` (the model's,
    ``schema_of(model)``; default: GoEmotions' for 28 thresholds)."""
    names = schema_for(len(thresholds), schema).names
    console = Console()
    t = Table(title=f"{title}: per-label thresholds")
    t.add_column("label")
    t.add_column("threshold", justify="right")
    t.add_column("saved", justify="right")
    for lab, th, old in zip(names, thresholds, saved, strict=True):
        t.add_row(lab, f"{float(th):.2f}", "" if th == old else f"{float(old):.2f}")
    console.print(t)
    state = "none (probabilities as the model gives them)"
    if calibration is not None:
        rows = calibration.info.get("rows", "?")
        state = f"{calibration.method} per label, fitted on {rows} dev rows"
    console.print(f"calibration: {state}", markup=False, highlight=False)


def print_calibration(report: dict[str, Any], dev: str, test: str | None) -> None:
    """ECE and macro-F1 before and after ``emobalance calibrate``."""
    console = Console()
    t = Table(title=f"Platt scaling per label, fitted on {dev} ({report['n_dev']:,} rows)")
    for c in ("metric", "before", "after"):
        t.add_column(c, justify="left" if c == "metric" else "right")
    sets = [("dev", dev)] + ([("test", test)] if test is not None else [])
    for key, what in (("ece", "ECE"), ("macro_f1", "macro-F1")):
        for name, shown in sets:
            before, after = report[f"{key}_{name}_before"], report[f"{key}_{name}_after"]
            note = " (measured only)" if name == "test" else ""
            t.add_row(f"{what} {shown}{note}", f"{before:.4f}", f"{after:.4f}")
    console.print(t)
    if report["identity_labels"]:
        kept = ", ".join(report["identity_labels"])
        note = f"left as they were (no dev example, or no ranking on dev): {kept}"
        console.print(note, markup=False, highlight=False)
    console.print("thresholds re-tuned on the calibrated dev probabilities", highlight=False)
    if report.get("saved"):
        console.print(f"saved {report['saved']}", markup=False, highlight=False)
