"""Plan and build a balanced training set from a train split and extra sources.

The labels are the train split's schema (``train.schema``): GoEmotions' 28 or a user's own.
A single-label schema is planned per class the same way (each row counts for its one class).

Per-label targets come from a strategy (``even``: every label reaches one count, by default
the median label count; ``mean_ir``: the smallest floor that brings MeanIR down to a bound).
Labels over their target may be undersampled (only rows whose every label is over target go,
so no label is pushed under its target). Deficits are then filled source by source in a
configured priority (by default pseudo-labelled real text, reviewed generated text,
augmentation, oversampling), rarest label first inside each source. Each added row counts for
all of its labels (a grief tweet may add sadness too) and a row that would push another label
past ``target * (1 + tolerance)`` is passed over. Texts of dev and test (normalised) never
enter the output, and no added text duplicates another text of the output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..labels import LabelSchema
from ..metrics import schema_for
from ..text.normalize import normalize
from .resample import oversample_to_targets
from .stats import mean_ir, mean_ir_from_counts

DEFAULT_SOURCES = ("pseudo_label", "generated", "augment", "oversample")


@dataclass
class FillRecord:
    """What one source contributed."""

    source: str
    rows: int = 0
    per_label: dict[str, int] = field(default_factory=dict)


class BalancePlanner:
    """Build a balanced training set with provenance.

    Parameters
    ----------
    strategy : {"even", "mean_ir"}, default="even"
    target : int or {"median", "mean", "max_non_neutral"}, default="median"
        The common label count of the ``even`` strategy (statistics of the train counts).
    mean_ir_target : float, default=1.5
        The MeanIR bound of the ``mean_ir`` strategy.
    tolerance : float, default=0.1
        An added row may push a label at most ``target * tolerance`` past its target.
    undersample : "above_target", sequence of label names or None, default="above_target"
        Labels cut down to their target (only rows whose every label is over target are
        removed).
    sources : sequence of str
        Fill priority, from ``pseudo_label``, ``generated``, ``augment``, ``oversample``.
    max_copies : int, default=5
        Oversampling: copies of any one example.
    augment_margin : float, default=1.3
        Augmented candidates requested per missing row (some are dropped as duplicates).
    random_state : int, optional

    Attributes
    ----------
    schema_ : LabelSchema
        The train split's schema (the labels of every array below).
    targets_ : ndarray of shape (len(schema_),)
    counts_before_, counts_after_ : ndarray of shape (len(schema_),)
    fills_ : list of FillRecord
    report_ : dict
    """

    def __init__(
        self,
        strategy: str = "even",
        target: int | str = "median",
        mean_ir_target: float = 1.5,
        tolerance: float = 0.1,
        undersample: str | Sequence[str] | None = "above_target",
        sources: Sequence[str] = DEFAULT_SOURCES,
        max_copies: int = 5,
        augment_margin: float = 1.3,
        random_state: int | None = 0,
    ) -> None:
        if strategy not in ("even", "mean_ir"):
            raise ConfigError(f"balance.strategy must be 'even' or 'mean_ir', got {strategy!r}")
        unknown = [s for s in sources if s not in DEFAULT_SOURCES]
        if unknown:
            raise ConfigError(f"unknown balance sources {unknown}; choose from {DEFAULT_SOURCES}")
        self.strategy = strategy
        self.target = target
        self.mean_ir_target = mean_ir_target
        self.tolerance = tolerance
        self.undersample = undersample
        self.sources = tuple(sources)
        self.max_copies = max_copies
        self.augment_margin = augment_margin
        self.random_state = random_state

    # ------------------------------------------------------------------ targets
    def _schema(self, n_labels: int) -> LabelSchema:
        """The schema of the last :meth:`fit_resample` (else GoEmotions' for 28 columns)."""
        schema = getattr(self, "schema_", None)
        return schema_for(n_labels, schema if schema and len(schema) == n_labels else None)

    def compute_targets(self, counts: np.ndarray, schema: LabelSchema | None = None) -> np.ndarray:
        """Per-label targets for train label ``counts`` (in ``schema``'s order).

        ``max_non_neutral`` is the largest count of the labels other than ``schema.neutral``
        (of all labels where the schema has no neutral label).
        """
        counts = np.asarray(counts, dtype=np.int64)
        schema = schema or self._schema(len(counts))
        if self.strategy == "even":
            t = self.target
            if isinstance(t, str):
                non_neutral = counts
                if schema.neutral is not None:
                    non_neutral = np.delete(counts, schema.label_id(schema.neutral))
                stats = {
                    "median": float(np.median(counts)),
                    "mean": float(np.mean(counts)),
                    "max_non_neutral": float(non_neutral.max()),
                }
                if t not in stats:
                    raise ConfigError(f"balance.target must be an int or one of {sorted(stats)}")
                t = stats[t]
            return np.full(len(counts), round(float(t)), dtype=np.int64)
        # mean_ir: the smallest floor F with MeanIR(max(counts, F), capped) <= bound
        capped = self._capped(counts, None, schema)
        lo, hi = 1, int(capped.max())
        top = int(capped.argmax())

        def worst_case(floor: int) -> float:
            # co-occurring rows may push the largest label up to its tolerance
            c = np.maximum(capped, floor).astype(np.float64)
            c[top] = np.floor(c[top] * (1 + self.tolerance))
            return mean_ir_from_counts(c)

        while lo < hi:
            mid = (lo + hi) // 2
            if worst_case(mid) <= self.mean_ir_target:
                hi = mid
            else:
                lo = mid + 1
        return np.maximum(capped, lo)

    def _undersampled_labels(self, schema: LabelSchema) -> set[int]:
        u = self.undersample
        if u is None:
            return set()
        if isinstance(u, str):
            if u == "above_target":
                return set(range(len(schema)))
            u = [u]
        return set(schema.label_ids(u, "balance.undersample", what="labels", error=ConfigError))

    def _capped(
        self, counts: np.ndarray, targets: np.ndarray | None, schema: LabelSchema
    ) -> np.ndarray:
        """mean_ir strategy: undersampled labels capped at the largest other count."""
        labels = self._undersampled_labels(schema)
        out = counts.copy()
        others = [c for j, c in enumerate(counts) if j not in labels]
        if labels and others and targets is None:
            ceiling = max(others)
            for j in labels:
                out[j] = min(out[j], ceiling)
        return out

    # ------------------------------------------------------------------ build
    def fit_resample(
        self,
        train: EmotionDataset,
        pools: Mapping[str, EmotionDataset] | None = None,
        augmenter: Callable[[EmotionDataset, dict[str, int]], EmotionDataset] | None = None,
        exclude_texts: Iterable[str] = (),
        pool_proba: Mapping[str, np.ndarray] | None = None,
    ) -> EmotionDataset:
        """Return the balanced training set.

        Parameters
        ----------
        train : EmotionDataset
            The original training split (labelled).
        pools : mapping of source name to EmotionDataset
            Labelled candidates: ``pseudo_label`` (teacher-labelled real text, ranked by
            ``teacher_score``) and ``generated`` (teacher-filtered, human-reviewed texts).
        augmenter : callable, optional
            ``augmenter(parents, n_per_label) -> EmotionDataset`` (e.g.
            ``EDAAugmenter(...).augment``), asked for the deficits left after the pools.
        exclude_texts : iterable of str
            Dev and test texts: never in the output (compared after normalisation).
        pool_proba : mapping of source name to ndarray of shape (len(pool), L), optional
            The teacher's probabilities of a pool's rows: each label is then filled from
            the rows ranked by their probability of that label (not by ``teacher_score``).
        """
        if not train.is_labelled:
            raise DataError("the training set to balance is unlabelled")
        pools = dict(pools or {})
        self.schema_ = schema = train.schema
        for source, pool in pools.items():
            schema.check_same(pool.schema, "the train split", f"the {source!r} pool", DataError)
        rng = np.random.default_rng(self.random_state)
        forbidden = {normalize(t) for t in exclude_texts}
        y = train.labels.astype(np.int64)
        self.counts_before_ = y.sum(0)
        self.n_before_ = len(train)
        self.mean_ir_before_ = mean_ir(train.labels)
        # the leakage guard applies to the original rows too
        train_norm = [normalize(t) for t in train.texts]
        keep = np.array([t not in forbidden for t in train_norm], dtype=bool)
        self.removed_overlap_ = int((~keep).sum())
        base = train.subset(np.flatnonzero(keep))
        base_norm = [t for t, k in zip(train_norm, keep, strict=True) if k]
        self.targets_ = targets = self.compute_targets(base.labels.sum(0), schema)
        # undersampling
        base, base_norm, self.removed_undersample_ = self._undersample(base, base_norm, rng)
        counts = base.labels.sum(0).astype(np.int64)
        seen = set(base_norm)
        parts = [base]
        self.fills_: list[FillRecord] = []
        for source in self.sources:
            rec = FillRecord(source)
            deficits = np.maximum(targets - counts, 0)
            if not deficits.any():
                self.fills_.append(rec)
                continue
            if source in ("pseudo_label", "generated"):
                pool = pools.get(source)
                if pool is None or len(pool) == 0:
                    self.fills_.append(rec)
                    continue
                if not pool.is_labelled:
                    raise DataError(f"the {source!r} pool is unlabelled")
                score = pool.teacher_score
                if pool_proba and source in pool_proba:
                    order_key = np.asarray(pool_proba[source], dtype=np.float64)
                    if order_key.shape != (len(pool), len(schema)):
                        raise DataError(
                            f"pool_proba[{source!r}] must be (len(pool), {len(schema)})"
                        )
                elif score is not None:
                    order_key = np.nan_to_num(score, nan=0.0)
                else:
                    order_key = rng.random(len(pool))
                picked = self._fill(pool, order_key, counts, targets, seen, forbidden, rng)
                added = pool.subset(picked)
            elif source == "augment":
                if augmenter is None:
                    self.fills_.append(rec)
                    continue
                need = {
                    schema.names[j]: math.ceil(d * self.augment_margin) + 2
                    for j, d in enumerate(deficits)
                    if d > 0
                }
                parents = base.filter(base.labels[:, deficits > 0].any(axis=1))
                cand = augmenter(parents, need)
                if len(cand) == 0:
                    self.fills_.append(rec)
                    continue
                picked = self._fill(
                    cand, rng.random(len(cand)), counts, targets, seen, forbidden, rng
                )
                added = cand.subset(picked)
            else:  # oversample: ML-ROS toward the targets, at most max_copies per row
                added = oversample_to_targets(
                    base, targets, self.max_copies, rng, counts=counts,
                    tolerance=self.tolerance, only_new=True,
                )  # fmt: skip
                counts += added.labels.sum(0).astype(np.int64) if len(added) else 0
            if len(added):
                parts.append(added)
                rec.rows = len(added)
                rec.per_label = {
                    schema.names[j]: int(c) for j, c in enumerate(added.labels.sum(0)) if c
                }
            self.fills_.append(rec)
        out = EmotionDataset.concat(parts)
        self.counts_after_ = out.labels.sum(0).astype(np.int64)
        self.mean_ir_after_ = mean_ir(out.labels)
        self.leaked_texts_ = sum(normalize(t) in forbidden for t in out.texts)
        return out

    def _undersample(
        self, base: EmotionDataset, base_norm: list[str], rng: np.random.Generator
    ) -> tuple[EmotionDataset, list[str], int]:
        labels = self._undersampled_labels(self.schema_)
        if not labels:
            return base, base_norm, 0
        targets = self.targets_
        y = base.labels.astype(bool)
        counts = y.sum(0).astype(np.int64)
        removed = np.zeros(len(base), dtype=bool)
        # most over-target label first, rows in random order
        for j in sorted(labels, key=lambda k: counts[k] - targets[k], reverse=True):
            if counts[j] <= targets[j]:
                continue
            rows = np.flatnonzero(y[:, j] & ~removed)
            for i in rng.permutation(rows):
                if counts[j] <= targets[j]:
                    break
                row_labels = np.flatnonzero(y[i])
                # only rows whose every label stays at or above its target, and only labels
                # that may be undersampled
                if all(k in labels and counts[k] - 1 >= targets[k] for k in row_labels):
                    removed[i] = True
                    counts[row_labels] -= 1
        keep = np.flatnonzero(~removed)
        return base.subset(keep), [base_norm[i] for i in keep], int(removed.sum())

    def _fill(
        self,
        pool: EmotionDataset,
        order_key: np.ndarray,
        counts: np.ndarray,
        targets: np.ndarray,
        seen: set[str],
        forbidden: set[str],
        rng: np.random.Generator,
    ) -> list[int]:
        """Greedy selection from a labelled pool, rarest label first; updates ``counts``.

        ``order_key`` ranks the rows (highest first): one score per row, or one per row and
        label (label ``j`` is then filled by column ``j``).
        """
        y = pool.labels.astype(bool)
        ceiling = np.floor(targets * (1 + self.tolerance)).astype(np.int64)
        used = np.zeros(len(pool), dtype=bool)
        norm_cache: dict[int, str] = {}
        picked: list[int] = []
        for j in np.argsort(counts, kind="stable"):
            if counts[j] >= targets[j]:
                continue
            cand = np.flatnonzero(y[:, j] & ~used)
            if cand.size == 0:
                continue
            # best first; random tie-break keeps it unbiased among equal scores
            key = order_key[cand, j] if order_key.ndim == 2 else order_key[cand]
            cand = cand[np.lexsort((rng.random(cand.size), -key))]
            for i in cand:
                if counts[j] >= targets[j]:
                    break
                row = np.flatnonzero(y[i])
                if np.any(counts[row] + 1 > np.maximum(ceiling[row], targets[row])):
                    continue  # would overshoot a co-occurring label
                t = norm_cache.get(i)
                if t is None:
                    t = norm_cache[i] = normalize(pool.texts[i])
                if t in seen or t in forbidden or not t:
                    used[i] = True
                    continue
                used[i] = True
                seen.add(t)
                counts[row] += 1
                picked.append(int(i))
        return picked

    def report(self, out: EmotionDataset, seconds: float | None = None) -> dict[str, Any]:
        """The ``balance_report.json`` content for the last :meth:`fit_resample`."""
        names = self.schema_.names
        reached = {
            names[j]: bool(self.counts_after_[j] >= self.targets_[j]) for j in range(len(names))
        }
        return {
            "label_schema": self.schema_.name,
            "mean_ir_before": float(self.mean_ir_before_),
            "mean_ir_after": float(self.mean_ir_after_),
            "label_counts_before": dict(zip(names, map(int, self.counts_before_), strict=True)),
            "label_counts_after": dict(zip(names, map(int, self.counts_after_), strict=True)),
            "targets": dict(zip(names, map(int, self.targets_), strict=True)),
            "target_reached": reached,
            "all_targets_reached": all(reached.values()),
            # what each label still lacks: a target no source could meet is stated, not hidden
            "shortfall": {
                names[j]: int(self.targets_[j] - self.counts_after_[j])
                for j in range(len(names))
                if self.counts_after_[j] < self.targets_[j]
            },
            "counts_by_source": out.counts_by_source(),
            "fills": [vars(f) for f in self.fills_],
            "removed_dev_test_overlap": self.removed_overlap_,
            "removed_undersampling": self.removed_undersample_,
            "leaked_texts": int(self.leaked_texts_),
            "n_before": self.n_before_,
            "n_after": len(out),
            "seconds": seconds,
        }
