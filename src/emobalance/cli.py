"""The ``emobalance`` command line (typer).

User errors (:class:`~emobalance.errors.EmobalanceError`) print one line ``error: ...`` on
stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .errors import EmobalanceError

app = typer.Typer(
    name="emobalance",
    help="Multi-label emotion classification with data balancing (GoEmotions, 28 labels).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(
    help="Inspect datasets: sizes, label counts, imbalance.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emobalance {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """emobalance: balance emotion data, train the reference model, evaluate honestly, serve."""


def load_split_or_path(split: str, data_dir: Path | None = None):
    """``train``/``dev``/``test`` from GoEmotions, or any dataset file by extension."""
    from .data import goemotions, load_any

    if split in goemotions.SPLITS:
        return goemotions.load(split, data_dir)
    path = Path(split)
    if not path.exists():
        raise EmobalanceError(f"{split}: not a split (train, dev, test) nor an existing file")
    return load_any(path)


@data_app.command("stats")
def data_stats(
    split: Annotated[
        str,
        typer.Option(
            "--split", help="train, dev, test, or a dataset file (.tsv/.parquet/.csv/.jsonl)."
        ),
    ] = "train",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a bar chart of label counts (log axis) here."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Folder with {train,dev,test}.tsv (default: EMOBALANCE_DATA)."
        ),
    ] = None,
) -> None:
    """Label counts and imbalance measures (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality)."""
    from .balance.stats import imbalance_stats, plot_label_counts

    ds = load_split_or_path(split, data_dir)
    stats = imbalance_stats(ds)
    if plot is not None:
        plot_label_counts(stats, plot, title=f"Examples per label: {split} (n={stats.n:,})")
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), ensure_ascii=False))
        return
    _print_stats_table(stats, split)
    if plot is not None:
        typer.echo(f"plot written to {plot}")


def _print_stats_table(stats, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        app(args=argv, prog_name="emobalance")
    except EmobalanceError as exc:
        msg = " ".join(str(exc).split())  # one line, always
        print(f"error: {msg}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
