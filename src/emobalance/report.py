"""Run reports: ``report.md`` and a self-contained ``report.html`` (figures embedded).

Every number in the report is read from the run's ``metrics.json`` (and the balancing report),
so the report and the metrics file cannot disagree.

The external-datasets section (``run.external``) compares each variant with ``imbalanced`` on
every external set and flags a variant whose mean macro-F1 there is more than
:data:`EXTERNAL_LOSS_FLAG` below ``imbalanced``'s: balancing that helps in domain and hurts
across domains is what this section is for.

Tables and figures follow the run's label schema (:func:`report_schema`: the schema given, or
the labels of the entries' per-label F1): the per-label F1 figure shows its labels, the rare
labels are the :func:`rare_count` rarest of its train split, and a single-label schema adds
accuracy to the results table beside micro-F1, macro-F1 and the example-based Jaccard index.

The comparison over seeds (``significance.json``, built by
:mod:`emobalance.evaluation.significance`) pairs every variant with ``imbalanced`` by seed:
mean differences with their 95% t-intervals, paired t-test and Wilcoxon p-values, and the
variant that the dev split alone selects.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .io import write_text_atomic
from .labels import GOEMOTIONS, LabelSchema
from .metrics import f1_per_label, schema_for

EXTERNAL_LOSS_FLAG = 0.01
"""A variant whose mean macro-F1 on an external set is more than this below ``imbalanced``'s
is flagged in the report."""

SUMMARY_KEYS = (
    ("exact_match", "exact match"),
    ("micro_precision", "micro P"),
    ("micro_recall", "micro R"),
    ("micro_f1", "micro F1"),
    ("macro_precision", "macro P"),
    ("macro_recall", "macro R"),
    ("macro_f1", "macro F1"),
    ("jaccard", "Jaccard"),
    ("weighted_precision", "weighted P"),
    ("weighted_recall", "weighted R"),
    ("weighted_f1", "weighted F1"),
    ("macro_auc", "macro AUC"),
    ("hamming_loss", "Hamming loss"),
)
"""The columns of the results table (``jaccard``: example-based, beside micro and macro F1);
a single-label run adds :data:`ACCURACY_KEY` after them."""

ACCURACY_KEY = ("accuracy", "accuracy")

# The ROC figure's labels besides the two rarest: GoEmotions' as before; for another schema,
# its two most frequent test labels.
_ROC_LABELS = {"goemotions": ("gratitude", "anger")}

_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six")


def rare_count(schema: LabelSchema) -> int:
    """How many rare labels a run of ``schema`` reports: ``min(6, len(schema) // 3)``, at least
    1 (GoEmotions: 6). Pass it to :func:`~emobalance.metrics.rare_labels` with the train
    counts: ``rare_labels(train.label_counts(), rare_count(schema), schema)``."""
    return min(6, len(schema) // 3) or 1


def _count_word(n: int) -> str:
    return _COUNT_WORDS[n] if 0 <= n < len(_COUNT_WORDS) else str(n)


def report_schema(
    entries: Sequence[dict[str, Any]], schema: LabelSchema | None = None
) -> LabelSchema:
    """The run's label schema: ``schema`` if given, else the labels of the entries' test
    per-label F1 (GoEmotions' when they are its 28; GoEmotions without entries)."""
    if schema is not None:
        return schema
    for e in entries:
        names = list((e.get("test") or {}).get("per_label_f1") or {})
        if names:
            if tuple(names) == GOEMOTIONS.names:
                return GOEMOTIONS
            return LabelSchema(names, name="run")
    return GOEMOTIONS


def summary_keys(entries: Sequence[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """:data:`SUMMARY_KEYS`, with accuracy when an entry has it (a single-label run)."""
    single = any("accuracy" in (e.get("test") or {}) for e in entries)
    return (*SUMMARY_KEYS, ACCURACY_KEY) if single else SUMMARY_KEYS


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def fmt_ms(values: Sequence[float], digits: int = 4) -> str:
    """``mean ± std`` (just the value for one seed; ``-`` when no value is known, e.g. the
    Jaccard index of an entry written before it existed)."""
    if all(x is None for x in values):
        return "-"
    m, s = mean_std(values)
    if len(values) <= 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def summary_table(entries: list[dict[str, Any]], variants: Sequence[str]) -> list[list[str]]:
    """Rows ``[variant, seeds, metric...]`` with mean ± std over seeds (:func:`summary_keys`)."""
    rows = []
    keys = summary_keys(entries)
    for v in variants:
        es = [e for e in entries if e["variant"] == v]
        if not es:
            continue
        row = [v, str(len(es))]
        row += [fmt_ms([e["test"].get(k) for e in es]) for k, _ in keys]
        rows.append(row)
    return rows


def rare_mean_f1(entries: list[dict[str, Any]], variant: str, rare: Sequence[str]) -> list[float]:
    """Per seed: the mean test F1 of the ``rare`` labels."""
    return [
        float(np.mean([e["test"]["per_label_f1"][lab] for lab in rare]))
        for e in entries
        if e["variant"] == variant
    ]


def paired_bootstrap(
    y: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    n_boot: int = 1000,
    random_state: int = 0,
) -> dict[str, float]:
    """Paired bootstrap over test examples for macro-F1(b) - macro-F1(a).

    Returns the observed difference, a 95% interval and the one-sided p-value
    ``P(diff <= 0)`` under resampling (small p: b is better than a).
    """
    rng = np.random.default_rng(random_state)
    y = y.astype(bool)
    a, b = pred_a.astype(bool), pred_b.astype(bool)

    def stats(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        yy = y[idx]
        return f1_per_label(yy, a[idx]), f1_per_label(yy, b[idx])

    fa, fb = stats(np.arange(len(y)))
    observed = float(fb.mean() - fa.mean())
    diffs = np.empty(n_boot)
    for k in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        sa, sb = stats(idx)
        diffs[k] = sb.mean() - sa.mean()
    return {
        "diff": observed,
        "ci_low": float(np.quantile(diffs, 0.025)),
        "ci_high": float(np.quantile(diffs, 0.975)),
        "p_value": float((np.sum(diffs <= 0) + 1) / (n_boot + 1)),
        "n_boot": n_boot,
    }


def external_table(
    entries: list[dict[str, Any]], variants: Sequence[str], name: str
) -> tuple[list[list[str]], list[str]]:
    """The rows of one external set's table and the variants it flags.

    Rows: ``[variant, seeds, macro-F1, accuracy or micro-F1, Δ macro-F1 vs imbalanced,
    scored rows, flag]`` (mean ± std over seeds). A variant is flagged when its mean macro-F1
    is more than :data:`EXTERNAL_LOSS_FLAG` below the mean of ``imbalanced``.

    Returns
    -------
    (rows, flagged)
    """

    def results(v: str) -> list[dict[str, Any]]:
        return [e["external"][name] for e in entries
                if e["variant"] == v and name in e.get("external", {})]  # fmt: skip

    def mean_f1(rs: list[dict[str, Any]]) -> float | None:
        vals = [r["macro_f1"] for r in rs if r.get("macro_f1") is not None]
        return float(np.mean(vals)) if vals else None

    base = mean_f1(results("imbalanced"))
    rows, flagged = [], []
    for v in variants:
        rs = results(v)
        if not rs:
            continue
        second = "micro_f1" if rs[0]["mode"] == "multi_label" else "accuracy"
        m = mean_f1(rs)
        delta = None if base is None or m is None or v == "imbalanced" else m - base
        flag = delta is not None and delta < -EXTERNAL_LOSS_FLAG
        if flag:
            flagged.append(v)
        rows.append([
            v, str(len(rs)),
            fmt_ms([r["macro_f1"] for r in rs]) if m is not None else "-",
            fmt_ms([r[second] for r in rs]) if m is not None else "-",
            "-" if delta is None else f"{delta:+.4f}",
            f"{rs[0]['n_scored']:,} / {rs[0]['n_rows']:,}",
            f"LOSS > {EXTERNAL_LOSS_FLAG}" if flag else "",
        ])  # fmt: skip
    return rows, flagged


def external_section(
    entries: list[dict[str, Any]], variants: Sequence[str], names: Sequence[str]
) -> str | None:
    """The Markdown body of the external-datasets section (None without external sets)."""
    parts = []
    for name in names:
        rows, flagged = external_table(entries, variants, name)
        if not rows:
            continue
        first = next(e["external"][name] for e in entries if name in e.get("external", {}))
        second = "micro F1" if first["mode"] == "multi_label" else "accuracy"
        header = ["variant", "seeds", "macro F1", second, "Δ macro F1 vs imbalanced",
                  "scored rows", "flag"]  # fmt: skip
        lines = [
            f"**{name}** ({first.get('path', first['dataset'])}, map {first['label_map']}, "
            f"{first['mode'].replace('_', '-')}; scored over "
            f"{', '.join(first['scored_labels']) or '-'}).",
            "",
            _md_table(header, rows),
        ]
        skipped = {**first["gold_outside_map"], **first["gold_unmapped"]}
        if skipped:
            shown = ", ".join(f"{k} ({v:,})" for k, v in list(skipped.items())[:8])
            lines += ["", f"Gold labels not scored (outside the map or unmapped): {shown}."]
        if flagged:
            lines += ["", f"FLAGGED: {', '.join(flagged)} lose more than {EXTERNAL_LOSS_FLAG} "
                      f"macro-F1 to imbalanced on {name}."]  # fmt: skip
        parts.append("\n".join(lines))
    if not parts:
        return None
    head = ("Every model scored on each external set through its label map, with its own "
            "dev-tuned thresholds; macro-F1 over the targets the set has.")  # fmt: skip
    return head + "\n\n" + "\n\n".join(parts)


# ----------------------------------------------------------------------------- figures


def _fig_to_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def fig_per_label_f1(
    entries: list[dict[str, Any]],
    rare: Sequence[str],
    variants: Sequence[str] = ("imbalanced", "balanced"),
    schema: LabelSchema | None = None,
) -> bytes:
    """Grouped bars: per-label test F1 of ``variants`` (mean over seeds), rare labels marked;
    one group per label of the run's schema (:func:`report_schema`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = ("#4C72B0", "#DD8452", "#55A868", "#8172B3", "#937860", "#DA8BC3")
    present = [v for v in variants if any(e["variant"] == v for e in entries)]
    names = report_schema(entries, schema).names
    fig, ax = plt.subplots(figsize=(13, 4.8))
    x = np.arange(len(names))
    width = 0.8 / max(len(present), 1)
    for k, variant in enumerate(present):
        es = [e for e in entries if e["variant"] == variant]
        vals = [np.mean([e["test"]["per_label_f1"][lab] for e in es]) for lab in names]
        offset = (k - (len(present) - 1) / 2) * width
        ax.bar(x + offset, vals, width, label=variant, color=colors[k % len(colors)])
    labels = [f"{lab} *" if lab in rare else lab for lab in names]
    ax.set_xticks(x, labels, rotation=75)
    for tick, lab in zip(ax.get_xticklabels(), names, strict=True):
        if lab in rare:
            tick.set_color("#C44E52")
            tick.set_fontweight("bold")
    ax.set_ylabel("test F1")
    ax.set_title("Per-label F1 on the original test set (* = rarest training labels)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _fig_to_png(fig)


def fig_roc(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]]) -> bytes:
    """ROC curves: ``curves[label][variant] = (fpr, tpr, auc)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.6), squeeze=False)
    for ax, (label, per_variant) in zip(axes[0], curves.items(), strict=True):
        for variant, (fpr, tpr, auc) in per_variant.items():
            ax.plot(fpr, tpr, label=f"{variant} ({auc:.3f})")
        ax.plot([0, 1], [0, 1], ls=":", color="grey")
        ax.set_title(label)
        ax.set_xlabel("FPR")
        ax.set_ylabel("TPR")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _fig_to_png(fig)


def fig_training(histories: dict[str, list[dict[str, Any]]]) -> bytes:
    """Training loss and dev macro-F1 per epoch, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, hist in histories.items():
        ep = [h["epoch"] for h in hist]
        a1.plot(ep, [h["train_loss"] for h in hist], marker="o", ms=3, label=name)
        if hist and "dev_macro_f1" in hist[0]:
            a2.plot(ep, [h["dev_macro_f1"] for h in hist], marker="o", ms=3, label=name)
    a1.set_title("training loss")
    a2.set_title("dev macro-F1 (dev-tuned thresholds)")
    for a in (a1, a2):
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.tight_layout()
    return _fig_to_png(fig)


def roc_curves(
    y: np.ndarray,
    probas: dict[str, np.ndarray],
    labels: Sequence[str],
    variants: Sequence[str] = ("imbalanced", "balanced", "tfidf"),
    schema: LabelSchema | None = None,
) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]]:
    """``curves[label][variant] = (fpr, tpr, auc)`` for the labels with a positive in ``y``
    (the columns of ``y``: ``schema``'s labels; GoEmotions' for 28 columns by default)."""
    from sklearn.metrics import roc_curve

    schema = schema_for(y.shape[1], schema)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]] = {}
    for lab in labels:
        j = schema.label_id(lab)
        if y[:, j].sum() == 0:
            continue
        for v in variants:
            if v in probas:
                fpr, tpr, _ = roc_curve(y[:, j], probas[v][:, j])
                curves.setdefault(lab, {})[v] = (fpr, tpr, float(np.trapezoid(tpr, fpr)))
    return curves


def run_figures(
    entries: list[dict[str, Any]],
    y: np.ndarray,
    rare: Sequence[str],
    *,
    probas: dict[str, np.ndarray],
    histories: dict[str, list[dict[str, Any]]],
    balance_png: bytes | None = None,
    schema: LabelSchema | None = None,
) -> dict[str, bytes]:
    """The figures of a run report, as PNG bytes by name.

    Parameters
    ----------
    entries : list of dict
        The ``metrics.json`` entries (per-label F1 bars).
    y : (n, L) array
        Test labels, in the schema's order.
    rare : list of str
        The rarest training labels (starred; the first two get ROC curves).
    probas : dict
        Seed-0 test probabilities by variant (ROC curves).
    histories : dict
        Seed-0 training histories by variant (training curves).
    balance_png : bytes, optional
        The balancing job's label-count chart, passed through.
    schema : LabelSchema, optional
        The run's labels (default :func:`report_schema` of the entries).
    """
    schema = report_schema(entries, schema)
    figures: dict[str, bytes] = {}
    if balance_png is not None:
        figures["balance_counts"] = balance_png
    figures["per_label_f1"] = fig_per_label_f1(entries, rare, schema=schema)
    shown = list(rare[:2])
    if schema.same_labels(GOEMOTIONS):
        shown += _ROC_LABELS["goemotions"]
    else:  # the two most frequent test labels not already shown
        frequent = np.argsort(-np.asarray(y).sum(axis=0), kind="stable")
        shown += [lab for lab in (schema.names[j] for j in frequent) if lab not in shown][:2]
    curves = roc_curves(y, probas, shown, schema=schema)
    if curves:
        figures["roc"] = fig_roc(curves)
    if histories:
        figures["training"] = fig_training(histories)
    return figures


def bootstrap_pairs(
    y: np.ndarray,
    pairs: Sequence[tuple[int, np.ndarray, np.ndarray]],
    n_boot: int,
    variant: str | None = None,
) -> list[dict[str, Any]]:
    """:func:`paired_bootstrap` of a variant vs imbalanced 0/1 test predictions, per seed.

    ``pairs`` holds ``(seed, pred_imbalanced, pred_variant)`` (the variant: balanced, or
    ``variant``); each seed resamples with its own generator (``random_state=seed``), so two
    variants of one seed are tested on the same resamples. With ``variant`` every result
    also holds ``"variant": variant``. Empty when ``n_boot`` is 0.
    """
    if not n_boot:
        return []
    tag = {} if variant is None else {"variant": variant}
    return [
        paired_bootstrap(y, a, b, n_boot=n_boot, random_state=seed) | {"seed": seed} | tag
        for seed, a, b in pairs
    ]


COMPARED = (
    ("test_macro_f1", "test macro F1"),
    ("rare_mean_f1", "rare-6 mean F1"),
    ("external_accuracy", "polarity guard accuracy"),
)
"""The metrics of the "Comparison over seeds" table (keys of
:func:`~emobalance.evaluation.significance.compare_variants`' rows) and their names."""


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}" if v >= 1e-4 else f"{v:.1e}"


def _two_one(two: float | None, one: float | None) -> str:
    """``two-sided (one-sided)``; ``-`` when untested."""
    return "-" if two is None and one is None else f"{_p(two)} ({_p(one)})"


def comparison_section(comparison: dict[str, Any] | None) -> str | None:
    """The Markdown body of "Comparison over seeds" (None without a compared variant).

    Parameters
    ----------
    comparison : dict or None
        The content of ``significance.json``: ``baseline``, ``rows`` from
        :func:`~emobalance.evaluation.significance.compare_variants` and ``selected_by_dev``
        from :func:`~emobalance.evaluation.significance.select_by_dev`.
    """
    if not comparison or not comparison.get("rows"):
        return None
    base = comparison["baseline"]
    k = len(comparison.get("rare") or ()) or 6
    names = dict(COMPARED) | {"rare_mean_f1": f"rare-{k} mean F1"}
    header = ["variant", "metric", "seeds", f"Δ mean vs {base}", "95% CI", "t-test p",
              "Wilcoxon p", f"wins over {base}"]  # fmt: skip
    rows, single = [], False
    for row in comparison["rows"]:
        for key in names:
            name = names[key]
            t = row["metrics"].get(key)
            if t is None:
                continue
            single = single or t["n"] < 2
            ci = "-" if t["ci_low"] is None else f"{t['ci_low']:+.4f} … {t['ci_high']:+.4f}"
            rows.append([row["variant"], name, str(t["n"]), f"{t['mean_diff']:+.4f}", ci,
                         _two_one(t["p_t"], t["p_t_one_sided"]),
                         _two_one(t["p_wilcoxon"], t["p_wilcoxon_one_sided"]),
                         f"{t['wins']}/{t['n']}"])  # fmt: skip
    lines = [
        f"Each variant against {base}, paired by seed over the seeds both have: the mean "
        f"difference (variant − {base}) with its 95% t-interval, the paired t-test p and the "
        f"Wilcoxon signed-rank p (exact for small n), two-sided (one-sided, H1: variant > "
        f"{base}, in parentheses). With 5 seeds the two-sided Wilcoxon p cannot fall below "
        "0.0625 (one-sided 0.03125), so only the t-test can reach p < 0.05 there.",
        "",
        _md_table(header, rows),
    ]
    if single:
        lines += ["", "A paired test needs at least 2 seeds: where a comparison has one seed, "
                  "only its difference is shown."]  # fmt: skip
    chosen = comparison.get("selected_by_dev")
    by = comparison.get("selected_by_dev_metric", "macro_f1")
    if chosen is None:
        lines += ["", f"No variant other than {base} has a dev {_metric_name(by)} to select by."]
    else:
        dev = next((r["dev_mean"] for r in comparison["rows"] if r["variant"] == chosen), None)
        shown = "" if dev is None or by != "macro_f1" else f" (dev mean macro-F1 {dev:.4f})"
        lines += ["", f"Selected by dev mean {_metric_name(by)} among all the variants: "
                  f"{chosen}{shown}. The selection used dev only; no test number took part "
                  "in it."]  # fmt: skip
    return "\n".join(lines)


def _metric_name(key: str) -> str:
    """``macro_f1`` -> ``macro-F1``, ``jaccard`` -> ``Jaccard`` (for sentences)."""
    return {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "jaccard": "Jaccard"}.get(key, key)


def run_notes(
    entries: list[dict[str, Any]],
    *,
    seconds: float,
    seeds: Sequence[int],
    rare: Sequence[str] | None = None,
) -> list[str]:
    """The report's notes: timing, protocol, distillation settings, non-comparable hold-outs
    (``rare``: the run's rare labels, for their count; default six)."""
    seed0 = seeds[0]
    k = _count_word(6 if rare is None else len(rare))
    notes = [
        f"this invocation took {seconds / 60:.1f} min (models finished by an earlier "
        f"invocation are not retrained); training time of all models "
        f"{sum(e['efficiency']['train_seconds'] or 0 for e in entries) / 60:.1f} min; "
        f"seeds {list(seeds)}; rare labels = the {k} with the fewest training examples.",
        "dev selects the epoch and tunes the thresholds; the test split is only measured.",
        "peak RSS is the run process' maximum so far (models train one after another).",
    ]
    for e in entries:
        if "distillation" in e and e["seed"] == seed0:
            d = e["distillation"]
            notes.append(
                f"{e['variant']}: the reference network distilled from {d['teacher']} "
                f"(alpha {d['alpha']}, temperature {d['temperature']}) over "
                f"{d['train_rows']:,} labelled rows + {d['external_rows']:,} teacher-scored "
                "corpus rows."
            )
    for e in entries:
        if "balanced_holdout_not_comparable" in e:
            h = e["balanced_holdout_not_comparable"]
            notes.append(
                f"NOT COMPARABLE: seed {e['seed']} balanced model on a held-out slice of "
                f"the balanced data: macro-F1 {h['macro_f1']:.4f}, "
                f"micro-F1 {h['micro_f1']:.4f}."
            )
    return notes


# ------------------------------------------------------------------------------ writing


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def write_report(
    run_dir: str | os.PathLike[str],
    entries: list[dict[str, Any]],
    *,
    variants: Sequence[str],
    balance_report: dict[str, Any] | None,
    rare: Sequence[str],
    bootstrap: dict[str, Any] | None,
    figures: dict[str, bytes],
    efficiency: list[dict[str, Any]],
    notes: Sequence[str] = (),
    title: str = "emobalance run",
    external: Sequence[str] = (),
    comparison: dict[str, Any] | None = None,
    extra_bootstrap: Sequence[dict[str, Any]] = (),
    schema: LabelSchema | None = None,
) -> tuple[Path, Path]:
    """Write ``report.md`` (figures as PNG files beside it) and ``report.html`` (embedded).

    ``schema`` is the run's label schema (default :func:`report_schema` of the entries): the
    data table's labels and the name of the test set in the results come from it.

    ``external`` names the ``run.external`` sets, whose results the entries hold under
    ``external`` (see :func:`external_section`). ``comparison`` (the content of
    ``significance.json``) makes the "Comparison over seeds" section (see
    :func:`comparison_section`). ``bootstrap`` is balanced's paired bootstrap result;
    ``extra_bootstrap`` those of other variants (each with its ``variant``), shown beside it.
    """
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for name, png in figures.items():
        (fig_dir / f"{name}.png").write_bytes(png)

    schema = report_schema(entries, schema)
    sections: list[tuple[str, str, str | None]] = []  # (heading, markdown body, figure)
    if balance_report:
        b = balance_report
        counted = [lab for lab in schema.names if lab in b["label_counts_before"]]
        rows = [
            [lab, b["label_counts_before"][lab], b["label_counts_after"][lab]]
            for lab in sorted(counted, key=lambda x: b["label_counts_before"][x])
        ]
        body = (
            f"MeanIR {b['mean_ir_before']:.2f} → {b['mean_ir_after']:.2f}; rows "
            f"{b.get('n_before')} → {b.get('n_after')}; teacher: {b.get('teacher', '-')}; "
            f"leaked dev/test texts: {b['leaked_texts']}.\n\n"
            + _md_table(["source", "rows"], sorted(b["counts_by_source"].items()))
            + "\n\n"
            + _md_table(["label", "before", "after"], rows)
        )
        sections.append(("Data", body, "balance_counts" if "balance_counts" in figures else None))
    header = ["variant", "seeds"] + [name for _, name in summary_keys(entries)]
    main = _md_table(header, summary_table(entries, variants))
    rare_rows = [
        [v, fmt_ms(rare_mean_f1(entries, v, rare))]
        for v in variants
        if any(e["variant"] == v for e in entries)
    ]
    test_set = (
        "the original human-labelled GoEmotions test set"
        if schema.same_labels(GOEMOTIONS)
        else f"the test split of {schema.name} ({len(schema)} labels)"
    )
    k = (
        f"{_count_word(len(rare))} rarest training labels"
        if len(rare) > 1
        else ("rarest training label")
    )
    main += (
        f"\n\nAll numbers: {test_set}, thresholds tuned on dev; mean ± sample std over "
        "seeds.\n\n"
        f"Mean F1 of the {k} ({', '.join(rare)}):\n\n"
        + _md_table(["variant", "rare-label mean F1"], rare_rows)
    )
    sections.append(("Results", main, None))
    sections.append((
        "Per-label F1",
        f"Test F1 per label, mean over seeds (the {k} starred).",
        "per_label_f1",
    ))  # fmt: skip
    ext_body = external_section(entries, variants, external)
    if ext_body is not None:
        sections.append(("External datasets", ext_body, None))
    cmp_body = comparison_section(comparison)
    if cmp_body is not None:
        sections.append(("Comparison over seeds", cmp_body, None))
    boots = ([(bootstrap, "balanced")] if bootstrap else []) + [
        (bs, bs["variant"]) for bs in extra_bootstrap
    ]
    if boots:
        sections.append((
            "Significance",
            "\n".join(
                f"Paired bootstrap on the test set ({bs['n_boot']} resamples, seed "
                f"{bs.get('seed', 0)}): macro-F1({v}) − macro-F1(imbalanced) = "
                f"{bs['diff']:+.4f} (95% CI {bs['ci_low']:+.4f} … {bs['ci_high']:+.4f}), "
                f"one-sided p = {bs['p_value']:.4f}."
                for bs, v in boots
            ),
            None,
        ))  # fmt: skip
    if "roc" in figures:
        sections.append(("ROC curves", "A few labels, seed 0.", "roc"))
    if "training" in figures:
        sections.append(("Training curves", "Seed 0.", "training"))
    eff_header = ["model", "s/epoch", "train s", "texts/s", "peak RSS MB", "parameters",
                  "precision"]  # fmt: skip
    eff_rows = [
        [
            e["name"],
            _f(e.get("epoch_seconds"), 1),
            _f(e.get("train_seconds"), 0),
            _f(e.get("texts_per_s"), 0),
            _f(e.get("peak_rss_mb"), 0),
            e.get("parameters", "-"),
            e.get("precision", "-"),
        ]
        for e in efficiency
    ]
    if eff_rows:
        sections.append(("Efficiency", _md_table(eff_header, eff_rows), None))
    if notes:
        sections.append(("Notes", "\n".join(f"- {n}" for n in notes), None))

    md = [f"# {title}\n"]
    for head, body, fig in sections:
        md.append(f"## {head}\n\n{body}\n")
        if fig:
            md.append(f"![{head}](figures/{fig}.png)\n")
    md_path = run_dir / "report.md"
    write_text_atomic(md_path, "\n".join(md))

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for head, body, fig in sections:
        parts.append(f"<h2>{html.escape(head)}</h2>")
        parts.append(_md_to_html(body))
        if fig:
            b64 = base64.b64encode(figures[fig]).decode()
            parts.append(f"<img alt='{html.escape(head)}' src='data:image/png;base64,{b64}'>")
    parts.append("</body></html>")
    html_path = run_dir / "report.html"
    write_text_atomic(html_path, "\n".join(parts))
    return md_path, html_path


def _f(v: Any, digits: int) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _md_to_html(body: str) -> str:
    """The tiny Markdown subset the report uses: paragraphs, tables and bullet lists."""
    out: list[str] = []
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                if not set(lines[i]) <= set("|-: "):
                    rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append("<table>")
            for k, r in enumerate(rows):
                tag = "th" if k == 0 else "td"
                out.append(
                    "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in r) + "</tr>"
                )
            out.append("</table>")
            continue
        if line.startswith("- "):
            out.append("<ul>")
            while i < len(lines) and lines[i].startswith("- "):
                out.append(f"<li>{html.escape(lines[i][2:])}</li>")
                i += 1
            out.append("</ul>")
            continue
        if line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
        i += 1
    return "\n".join(out)
