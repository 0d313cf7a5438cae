"""Imbalance measures for multi-label data (Charte et al., 2013-2015).

For label ``l`` with count ``c_l`` and the largest count ``c_max``:

* ``IRLbl_l = c_max / c_l`` (imbalance ratio per label; 1 for the most frequent label),
* ``MeanIR`` = mean of IRLbl, ``MaxIR`` = max of IRLbl,
* ``CVIR`` = standard deviation of IRLbl (``ddof=1``) / MeanIR,
* ``SCUMBLE`` = mean over examples of ``1 - geomean(IRLbl of its labels) / mean(IRLbl of its
  labels)``, the concurrence of rare and frequent labels (0 for examples with < 2 labels).

Labels with no example have an undefined IRLbl; they are left out of these measures and
listed in ``absent_labels``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..labels import LabelSchema
from ..metrics import schema_for


@dataclass
class ImbalanceStats:
    """Imbalance statistics of a label matrix; see the module docstring for definitions."""

    n: int
    label_counts: dict[str, int]
    label_share: dict[str, float]
    irlbl: dict[str, float]
    mean_ir: float
    max_ir: float
    cvir: float
    scumble: float
    cardinality: float
    density: float
    labels_per_example: dict[int, int]
    mean_ir_without_neutral: float
    absent_labels: list[str] = field(default_factory=list)
    cooccurrence: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self, cooccurrence: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the co-occurrence matrix as nested lists when asked for)."""
        out = asdict(self)
        out.pop("cooccurrence")
        out["labels_per_example"] = {str(k): v for k, v in self.labels_per_example.items()}
        if cooccurrence and self.cooccurrence is not None:
            out["cooccurrence"] = self.cooccurrence.tolist()
        # JSON has no NaN: undefined measures (an empty dataset) become null
        for key in ("mean_ir", "max_ir", "cvir", "mean_ir_without_neutral"):
            if not np.isfinite(out[key]):
                out[key] = None
        return out


def irlbl(counts: Any) -> np.ndarray:
    """IRLbl per label of the ``(q,)`` examples-per-label ``counts``: ``max(counts) / counts``
    as float64, ``inf`` where a label has no example."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.divide(
        counts.max(initial=0), counts, out=np.full(counts.shape, np.inf), where=counts > 0
    )


def mean_ir_from_counts(counts: Any) -> float:
    """MeanIR of per-label counts: the mean IRLbl over the labels with an example.

    The one MeanIR of emobalance (the statistics, the resamplers and the planner use it).

    Parameters
    ----------
    counts : array-like of shape (q,)
        Examples per label.

    Returns
    -------
    float
        NaN when no label has an example.

    Examples
    --------
    >>> mean_ir_from_counts([12, 6, 2, 1, 0])
    5.25
    """
    ir = irlbl(counts)
    finite = ir[np.isfinite(ir)]
    return float(finite.mean()) if finite.size else float("nan")


def mean_ir(labels: np.ndarray) -> float:
    """MeanIR of a binary label matrix (labels with no example left out)."""
    return mean_ir_from_counts(np.asarray(labels).sum(axis=0))


def _scumble(labels: np.ndarray, ir: np.ndarray) -> float:
    n = labels.shape[0]
    if n == 0:
        return 0.0
    safe_ir = np.where(np.isfinite(ir), ir, 1.0)  # absent labels never appear in a row
    k = labels.sum(axis=1).astype(np.float64)
    log_ir = np.log(safe_ir)
    lab = labels.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        geo = np.exp((lab @ log_ir) / k)
        arith = (lab @ safe_ir) / k
        per = np.where(k > 1, 1.0 - geo / arith, 0.0)
    return float(per.mean())


def imbalance_stats(labels: Any, schema: LabelSchema | None = None) -> ImbalanceStats:
    """Compute :class:`ImbalanceStats` for a label matrix or an :class:`EmotionDataset`.

    Parameters
    ----------
    labels : ndarray of shape (n, len(schema)) or EmotionDataset
    schema : LabelSchema, optional
        The labels' schema; default the dataset's, or for a bare matrix GoEmotions' (28
        columns) or ``label_0 ...``. ``mean_ir_without_neutral`` leaves out
        ``schema.neutral`` (equal to ``mean_ir`` where the schema has none).

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros((4, 28), dtype=np.uint8); y[:, 27] = 1; y[0, 16] = 1
    >>> s = imbalance_stats(y)
    >>> s.irlbl["grief"], s.max_ir
    (4.0, 4.0)
    """
    if hasattr(labels, "labels") and not isinstance(labels, np.ndarray):
        schema = schema or labels.schema
        labels = labels._require_labels()
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[1] == 0:
        raise ValueError(f"expected a label matrix of shape (n, q), got {y.shape}")
    schema = schema_for(y.shape[1], schema)
    names = schema.names
    y = y.astype(np.uint8, copy=False)
    n = y.shape[0]
    counts = y.sum(axis=0, dtype=np.int64)
    ir = irlbl(counts)
    present = np.isfinite(ir)
    ir_p = ir[present]
    mir = mean_ir_from_counts(counts)
    std = float(ir_p.std(ddof=1)) if ir_p.size > 1 else 0.0
    counts_nn = counts.copy()
    if schema.neutral is not None:
        counts_nn[schema.label_id(schema.neutral)] = 0
    per_example = y.sum(axis=1)
    hist = np.bincount(per_example, minlength=1)
    return ImbalanceStats(
        n=n,
        label_counts={lab: int(c) for lab, c in zip(names, counts, strict=True)},
        label_share={lab: float(c / n) if n else 0.0 for lab, c in zip(names, counts, strict=True)},
        irlbl={lab: float(v) for lab, v, p in zip(names, ir, present, strict=True) if p},
        mean_ir=mir,
        max_ir=float(ir_p.max()) if ir_p.size else float("nan"),
        cvir=std / mir if ir_p.size else float("nan"),
        scumble=_scumble(y, ir),
        cardinality=float(per_example.mean()) if n else 0.0,
        density=float(per_example.mean() / len(names)) if n else 0.0,
        labels_per_example={int(k): int(v) for k, v in enumerate(hist) if v},
        mean_ir_without_neutral=mean_ir_from_counts(counts_nn),
        absent_labels=[lab for lab, p in zip(names, present, strict=True) if not p],
        cooccurrence=(y.T.astype(np.int64) @ y.astype(np.int64)),
    )


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (imported late: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    """Lay out, write atomically (format from the suffix, default PNG) and close ``fig``."""
    from ..io import atomic_path

    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, suffix=path.suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format=(path.suffix.lstrip(".") or "png"))
    _pyplot().close(fig)
    return path


def plot_label_counts(
    counts: dict[str, int] | ImbalanceStats,
    path: str | os.PathLike[str],
    title: str = "Examples per label",
) -> Path:
    """Bar chart of per-label counts, sorted, on a log axis; written atomically to ``path``."""
    plt = _pyplot()
    if isinstance(counts, ImbalanceStats):
        counts = counts.label_counts
    items = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    names = [k for k, _ in items]
    values = [max(v, 0) for _, v in items]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.bar(names, [v if v > 0 else np.nan for v in values], color="#4C72B0")
    ax.set_yscale("log")
    ax.set_ylabel("examples (log scale)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=75)
    ax.grid(axis="y", which="both", alpha=0.3)
    return _save_figure(fig, path, dpi=120)


def counts_by_source_and_label(dataset: Any) -> dict[str, dict[str, int]]:
    """``source -> label -> count`` for a labelled dataset."""
    y = dataset._require_labels()
    src = np.asarray(dataset.source)
    return {
        s: {lab: int(c) for lab, c in zip(dataset.schema.names, y[src == s].sum(0), strict=True)}
        for s in dict.fromkeys(dataset.source)
    }


def plot_balance(
    counts_before: dict[str, int],
    dataset_after: Any,
    path: str | os.PathLike[str],
    title: str = "Examples per label: before and after balancing",
) -> Path:
    """Grouped bars per label: before (one bar) and after (stacked by source); log-free.

    The labels are ``dataset_after.schema``'s; the "before" bar names the schema.
    """
    plt = _pyplot()
    by_source = counts_by_source_and_label(dataset_after)
    schema = dataset_after.schema
    order = sorted(schema.names, key=lambda lab: counts_before.get(lab, 0))
    x = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(13, 5))
    ax.bar(x - 0.2, [counts_before.get(lab, 0) for lab in order], 0.38, color="#BBBBBB",
           label=f"before ({schema.name})")  # fmt: skip
    bottom = np.zeros(len(order))
    colors = {"goemotions": "#4C72B0", "sentiment140": "#55A868", "generated": "#C44E52",
              "augmented": "#8172B2", "oversampled": "#CCB974", "user": "#64B5CD"}  # fmt: skip
    for src, counts in by_source.items():
        vals = np.array([counts[lab] for lab in order], dtype=float)
        ax.bar(x + 0.2, vals, 0.38, bottom=bottom, label=f"after: {src}",
               color=colors.get(src))  # fmt: skip
        bottom += vals
    ax.set_xticks(x, order, rotation=75)
    ax.set_ylabel("examples")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save_figure(fig, path, dpi=110)
