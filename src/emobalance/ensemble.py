"""Choosing an ensemble's members and weights on dev (greedy selection with replacement).

:func:`select_ensemble` is Caruana et al.'s forward selection (ICML 2004): start from the
best single member, then repeatedly add the member (already chosen or not) whose addition
gives the best dev score, for a fixed number of steps, and keep the best-scoring prefix. A
member chosen ``k`` times has weight ``k / steps``; the result is a plain weighted mean of
probabilities, so it is a teacher spec ``A+A+B`` for
:func:`emobalance.teachers.build_teacher` (a repeated part counts twice).

The score is the dev macro-F1 at per-label thresholds tuned on dev, **cross-fitted**:
thresholds tuned on one half of dev score the other half, both ways, averaged over several
random halvings, so a member is not chosen for thresholds that fit dev's noise. Test is never
read here. Any label schema works (the probabilities' width is the dev labels'); thresholds
may be tuned for another objective (``micro_f1``, ``jaccard``: the score is then that
measure), and a single-label schema predicts the most probable label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigError
from .labels import LabelSchema
from .metrics import (
    OBJECTIVES,
    jaccard_samples,
    macro_f1,
    micro_f1,
    predict_labels,
    tune_thresholds,
)

_SCORES = {"f1": macro_f1, "micro_f1": micro_f1, "jaccard": jaccard_samples}

__all__ = ["EnsembleSelection", "crossfit_macro_f1", "select_ensemble", "weighted_mean"]


@dataclass
class EnsembleSelection:
    """The outcome of :func:`select_ensemble`.

    Attributes
    ----------
    counts : dict of str to int
        Times each chosen member was picked (its weight is ``count / sum(counts)``).
    score : float
        Cross-fitted dev score of the chosen mean (macro-F1 unless another objective).
    history : list of dict
        One entry per step taken: the member added and the score after it (steps after
        the kept prefix included).
    single : dict of str to float
        Every candidate's own cross-fitted dev macro-F1.
    """

    counts: dict[str, int]
    score: float
    history: list[dict[str, float | str]] = field(default_factory=list)
    single: dict[str, float] = field(default_factory=dict)

    @property
    def weights(self) -> dict[str, float]:
        total = sum(self.counts.values())
        return {k: v / total for k, v in self.counts.items()}

    def spec(self, parts: Mapping[str, str | Sequence[str]] | None = None) -> str:
        """The teacher spec: each member's part (``parts[name]``, default the name) repeated
        by its count, joined by ``+``.

        A member may be a group of parts (the mean of several models): its weight is shared
        by them, so every count is scaled by the lcm of the groups' sizes to keep the repeats
        whole."""
        groups = {
            k: [p] if isinstance(p, str) else list(p)
            for k, p in ((k, (parts or {}).get(k, k)) for k in self.counts)
        }
        lcm = math.lcm(*(len(g) for g in groups.values()))
        return "+".join(
            part
            for k, c in self.counts.items()
            for part in groups[k]
            for _ in range(c * lcm // len(groups[k]))
        )


def weighted_mean(probas: Mapping[str, np.ndarray], counts: Mapping[str, int]) -> np.ndarray:
    """The ensemble's probabilities: the members' mean weighted by ``counts``."""
    total = sum(counts.values())
    if total <= 0:
        raise ValueError("an ensemble needs at least one member")
    out = sum(np.asarray(probas[k], dtype=np.float64) * c for k, c in counts.items())
    return (out / total).astype(np.float32)


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.random.default_rng(seed).permutation(n)
    return idx[: n // 2], idx[n // 2 :]


def crossfit_macro_f1(
    y: np.ndarray,
    proba: np.ndarray,
    seed: int = 0,
    repeats: int = 1,
    objective: str = "f1",
    single_label: bool = False,
) -> float:
    """Macro-F1 with thresholds tuned on one half of the rows and scored on the other, both
    ways, averaged over ``repeats`` random halvings: an honest estimate of the dev-tuned
    score (one halving alone is noisy on the rare labels).

    With ``objective`` ``micro_f1`` or ``jaccard`` the thresholds are tuned for that measure
    and it is the score; ``single_label`` predicts each row's most probable label (no
    thresholds)."""
    score_fn = _SCORES[objective]
    scores = []
    for r in range(repeats):
        a, b = _halves(len(y), seed + r)
        for fit, score in ((a, b), (b, a)):
            th = 0.5 if single_label else tune_thresholds(y[fit], proba[fit], objective=objective)
            scores.append(score_fn(y[score], predict_labels(proba[score], th, single_label)))
    return float(np.mean(scores))


def select_ensemble(
    probas: Mapping[str, np.ndarray],
    y_dev: np.ndarray,
    max_steps: int = 25,
    tol: float = 1e-4,
    seed: int = 0,
    repeats: int = 5,
    objective: str = "f1",
    schemas: Mapping[str, LabelSchema] | None = None,
    single_label: bool = False,
) -> EnsembleSelection:
    """Greedy forward selection with replacement on dev.

    Parameters
    ----------
    probas : mapping of str to ndarray of shape (n_dev, L)
        Each candidate's dev probabilities, in the dev labels' order.
    y_dev : ndarray of shape (n_dev, L)
        Dev labels.
    max_steps : int, default=25
        Steps taken (members picked, with repeats); the best-scoring prefix is kept.
    tol : float, default=1e-4
        A longer prefix is kept only if it scores more than this above the shorter one.
    seed : int, default=0
        The first split of dev into the two halves of the cross-fitted score.
    repeats : int, default=5
        Random halvings averaged in each score.
    objective : {"f1", "micro_f1", "jaccard"}, default="f1"
        What the cross-fitted thresholds are tuned for, and the score (macro-F1 for ``f1``).
    schemas : mapping of str to LabelSchema, optional
        Each candidate's schema (``model.labels_``): candidates of different schemas are
        refused (one line naming both); a schema's ``single_label`` is then used.
    single_label : bool, default=False
        Predict each row's most probable label (a single-label schema).

    Returns
    -------
    EnsembleSelection

    Raises
    ------
    ConfigError
        For an unknown objective or candidates of different schemas.
    """
    if not probas:
        raise ValueError("select_ensemble needs at least one candidate")
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if schemas:
        (name0, first_schema), *others = schemas.items()
        for name, other in others:
            first_schema.check_same(
                other, f"ensemble candidate {name0!r}", f"candidate {name!r}", ConfigError
            )
        single_label = single_label or first_schema.single_label
    y = np.asarray(y_dev)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in probas.items()}
    for k, v in p.items():
        if v.shape != y.shape:
            raise ValueError(f"candidate {k!r}: probabilities {v.shape} vs labels {y.shape}")

    def score(proba: np.ndarray) -> float:
        return crossfit_macro_f1(y, proba, seed, repeats, objective, single_label)

    single = {k: score(v) for k, v in p.items()}
    first = max(single, key=lambda k: (single[k], k))
    total = p[first].copy()
    history: list[dict[str, float | str]] = [{"added": first, "score": single[first]}]
    # every step is taken even when it does not help (a plateau is often followed by a
    # gain), then the best prefix is kept, as Caruana et al. do
    for step in range(2, max_steps + 1):
        trial = {k: score((total + v) / step) for k, v in p.items()}
        k = max(trial, key=lambda k: (trial[k], k))
        total += p[k]
        history.append({"added": k, "score": trial[k]})
    best = 0
    for i, h in enumerate(history):
        if float(h["score"]) > float(history[best]["score"]) + tol:
            best = i
    counts: dict[str, int] = {}
    for h in history[: best + 1]:
        counts[str(h["added"])] = counts.get(str(h["added"]), 0) + 1
    return EnsembleSelection(
        counts=counts, score=float(history[best]["score"]), history=history, single=single
    )
