"""The rich tables and views the CLI prints (``data stats``, ``evaluate``, ``explain``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


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
    console.print(
        f"MeanIR {stats.mean_ir:.2f} (without neutral {stats.mean_ir_without_neutral:.2f})  "
        f"MaxIR {stats.max_ir:.1f}  CVIR {stats.cvir:.2f}  SCUMBLE {stats.scumble:.4f}  "
        f"cardinality {stats.cardinality:.3f}  density {stats.density:.4f}"
    )
    hist = ", ".join(f"{k}: {v:,}" for k, v in stats.labels_per_example.items())
    console.print(f"labels per example: {hist}")
    if stats.absent_labels:
        console.print(f"labels with no example: {', '.join(stats.absent_labels)}")


def print_metrics(m: dict[str, Any], title: str, summary: dict[str, Any]) -> None:
    """The summary and per-label tables of ``emobalance evaluate``."""
    console = Console()
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in {**summary, "macro_f1_at_0_5": m["macro_f1_at_0_5"]}.items():
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
    console.print(f"Ekman group: {ex['ekman']}")
