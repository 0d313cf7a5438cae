"""Variants compared over seeds: paired t-test, exact Wilcoxon, selection on dev only.

A run trains every variant once per seed, so each metric gives one value per (variant, seed).
:func:`paired_seed_test` pairs a variant's values with the baseline's by seed (the seed fixes
the initialisation and batch order of both), :func:`compare_variants` does so for every variant
of a run's ``metrics.json`` entries and the metrics the report shows, and
:func:`select_by_dev` names the variant a practitioner would pick without looking at test.

With few seeds only the t-test can be significant at 0.05: with 5 seeds the smallest exact
two-sided Wilcoxon p is ``2 / 2**5 = 0.0625`` (one-sided ``0.03125``). The Wilcoxon p is shown
beside it because it does not assume the differences are normal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..data.corpora import POLARITY_GUARD

__all__ = ["METRICS", "compare_variants", "paired_seed_test", "select_by_dev"]

METRICS = ("test_macro_f1", "rare_mean_f1", "dev_macro_f1", "external_accuracy",
           "external_macro_f1")  # fmt: skip
"""The metrics :func:`compare_variants` tests, in the order of its rows' ``metrics``."""

# differences equal to 12 decimals are ties (or zeros) for the signed-rank test: F1 values
# that agree on paper differ in the last bits of a float
_DECIMALS = 12


def _none(x: Any) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def paired_seed_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired tests of ``b - a`` over seeds.

    Parameters
    ----------
    a, b : sequence of float
        One value per seed, paired by position: ``a`` the baseline (e.g. ``imbalanced``),
        ``b`` the variant.

    Returns
    -------
    dict
        ``n``; ``mean_a``, ``mean_b``; ``mean_diff`` (``b - a``) and ``std_diff`` (sample
        standard deviation; None for one seed); ``ci_low``, ``ci_high`` (the 95% t-interval of
        the mean difference, ``scipy.stats.t``); ``t_stat``, ``p_t`` (two-sided paired t-test,
        ``scipy.stats.ttest_rel``) and ``p_t_one_sided`` (H1: ``b > a``); ``p_wilcoxon``
        (two-sided ``scipy.stats.wilcoxon`` on the differences) and ``p_wilcoxon_one_sided``
        (H1: ``b > a``); ``wins`` (seeds where ``b > a``).

    Raises
    ------
    ValueError
        ``a`` and ``b`` differ in length, are empty or hold a value that is not finite.

    Notes
    -----
    With ``n = 1`` every p-value and the interval are None (never NaN, so the dict is valid
    JSON). When all differences are equal the t-test is undefined: ``t_stat`` and its p-values
    are None and the interval is the mean difference itself.

    The Wilcoxon signed-rank test drops zero differences (Wilcoxon's convention) and is exact
    for small n (scipy's ``method="auto"``: up to 50 differences). Its p-values are None when
    ``n < 2`` or all differences are 0. With 5 seeds the smallest possible two-sided exact p
    is 0.0625, so with 5 seeds only the t-test can reach p < 0.05; the one-sided exact
    Wilcoxon can reach 0.03125 (all five differences positive).

    Examples
    --------
    >>> r = paired_seed_test([0.50, 0.51, 0.49, 0.50, 0.52], [0.51, 0.53, 0.52, 0.54, 0.57])
    >>> r["wins"], round(r["mean_diff"], 4), r["p_wilcoxon"], r["p_wilcoxon_one_sided"]
    (5, 0.03, 0.0625, 0.03125)
    """
    from scipy import stats

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"a and b must be 1-d of one length, got {x.shape} and {y.shape}")
    if x.size == 0:
        raise ValueError("a and b are empty: no seed to compare")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("a and b must hold finite values")
    d = y - x
    n = int(d.size)
    out: dict[str, Any] = {
        "n": n, "mean_a": float(x.mean()), "mean_b": float(y.mean()),
        "mean_diff": float(d.mean()), "std_diff": None, "ci_low": None, "ci_high": None,
        "t_stat": None, "p_t": None, "p_t_one_sided": None, "p_wilcoxon": None,
        "p_wilcoxon_one_sided": None, "wins": int((d > 0).sum()),
    }  # fmt: skip
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    out["std_diff"] = sd
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    out["ci_low"], out["ci_high"] = out["mean_diff"] - half, out["mean_diff"] + half
    # constant differences: t = ±inf or 0/0, and scipy warns of catastrophic cancellation
    if not np.allclose(d, d[0], rtol=0, atol=10.0**-_DECIMALS):
        t = stats.ttest_rel(y, x)
        out["t_stat"], out["p_t"] = _none(t.statistic), _none(t.pvalue)
        out["p_t_one_sided"] = _none(stats.ttest_rel(y, x, alternative="greater").pvalue)
    nonzero = np.round(d, _DECIMALS)
    nonzero = nonzero[nonzero != 0]  # dropped here, so every scipy version tests them exactly
    if nonzero.size:
        out["p_wilcoxon"] = _none(stats.wilcoxon(nonzero).pvalue)
        out["p_wilcoxon_one_sided"] = _none(stats.wilcoxon(nonzero, alternative="greater").pvalue)
    return out


def _seed_values(
    entries: Sequence[Mapping[str, Any]], variant: str, rare: Sequence[str], external_name: str
) -> dict[int, dict[str, float | None]]:
    """``{seed: {metric: value or None}}`` of one variant (the last entry of a seed wins)."""
    out: dict[int, dict[str, float | None]] = {}
    for e in entries:
        if e["variant"] != variant:
            continue
        test = e.get("test") or {}
        per = test.get("per_label_f1") or {}
        ext = (e.get("external") or {}).get(external_name) or {}
        has_rare = bool(rare) and all(per.get(lab) is not None for lab in rare)
        out[e["seed"]] = {
            "test_macro_f1": test.get("macro_f1"),
            "rare_mean_f1": float(np.mean([per[lab] for lab in rare])) if has_rare else None,
            "dev_macro_f1": e.get("dev_macro_f1"),
            "external_accuracy": ext.get("accuracy"),
            "external_macro_f1": ext.get("macro_f1"),
        }
    return out


def _finite(v: Any) -> bool:
    return v is not None and math.isfinite(v)


def _dev_value(entry: Mapping[str, Any], metric: str) -> Any:
    """An entry's dev ``metric``: its ``dev_<metric>`` key, else ``dev[metric]``."""
    key = f"dev_{metric}"
    if key in entry:
        return entry[key]
    dev = entry.get("dev")
    return dev.get(metric) if isinstance(dev, Mapping) else None


def _dev_mean(
    entries: Sequence[Mapping[str, Any]], variant: str, metric: str = "macro_f1"
) -> float | None:
    vals = [_dev_value(e, metric) for e in entries if e["variant"] == variant]
    vals = [v for v in vals if _finite(v)]
    return float(np.mean(vals)) if vals else None


def compare_variants(
    entries: Sequence[Mapping[str, Any]],
    baseline: str = "imbalanced",
    rare: Sequence[str] = (),
    external_name: str = POLARITY_GUARD,
    variants: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Every variant against ``baseline``, paired by seed, on the metrics of the report.

    Parameters
    ----------
    entries : sequence of dict
        ``metrics.json`` entries (``variant``, ``seed``, ``test.macro_f1``,
        ``test.per_label_f1``, ``dev_macro_f1``, ``external.<name>``).
    baseline : str, default="imbalanced"
    rare : sequence of str, default=()
        The rare labels whose mean test F1 is ``rare_mean_f1`` (e.g. the six rarest training
        labels); empty: that metric is left out.
    external_name : str, default="sentiment140_polarity_guard"
        The external set whose ``accuracy`` and ``macro_f1`` are ``external_accuracy`` and
        ``external_macro_f1`` (left out where the entries lack them).
    variants : sequence of str, optional
        The variants to compare, in this order; default: every variant of ``entries`` in the
        order it first appears.

    Returns
    -------
    list of dict
        One row per variant other than ``baseline`` that shares at least one seed with it:
        ``variant``, ``baseline``, ``seeds`` (the seeds both have, sorted), ``dev_mean`` (the
        variant's mean dev macro-F1 over all its seeds, None without one) and ``metrics``:
        ``{metric: paired_seed_test(baseline values, variant values) | {"seeds": [...]}}`` over
        :data:`METRICS`, each over the common seeds where both values exist; a metric no
        common seed has is left out. Empty without baseline entries.
    """
    base = _seed_values(entries, baseline, rare, external_name)
    if variants is None:
        variants = list(dict.fromkeys(e["variant"] for e in entries))
    rows = []
    for v in variants:
        if v == baseline:
            continue
        mine = _seed_values(entries, v, rare, external_name)
        seeds = sorted(set(base) & set(mine))
        if not seeds:
            continue
        metrics = {}
        for name in METRICS:
            used = [s for s in seeds if _finite(base[s][name]) and _finite(mine[s][name])]
            if used:
                test = paired_seed_test([base[s][name] for s in used],
                                        [mine[s][name] for s in used])  # fmt: skip
                metrics[name] = test | {"seeds": used}
        rows.append({"variant": v, "baseline": baseline, "seeds": seeds,
                     "dev_mean": _dev_mean(entries, v), "metrics": metrics})  # fmt: skip
    return rows


def select_by_dev(
    entries: Sequence[Mapping[str, Any]], candidates: Sequence[str], metric: str = "macro_f1"
) -> str | None:
    """The candidate with the highest mean dev ``metric`` over its seeds; test is never read.

    Parameters
    ----------
    entries : sequence of dict
        ``metrics.json`` entries; only ``variant`` and the dev metric are read: the entry's
        ``dev_<metric>`` (``dev_macro_f1``, ``dev_jaccard``...) or, without it, ``dev[metric]``
        (a :func:`~emobalance.metrics.evaluate` result of dev).
    candidates : sequence of str
        The variants to choose from; a tie goes to the first in this order.
    metric : str, default="macro_f1"
        The dev metric to maximise (a key of :func:`~emobalance.metrics.evaluate`, e.g.
        ``"jaccard"`` or ``"micro_f1"``; higher is better).

    Returns
    -------
    str or None
        None when no candidate has that dev metric.

    Raises
    ------
    ValueError
        For a metric that is not a non-empty str.
    """
    if not isinstance(metric, str) or not metric.strip():
        raise ValueError(f"metric must be a metric name, got {metric!r}")
    best, best_mean = None, -math.inf
    for c in candidates:
        m = _dev_mean(entries, c, metric.strip())
        if m is not None and m > best_mean:
            best, best_mean = c, m
    return best
