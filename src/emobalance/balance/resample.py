"""ML-ROS and ML-RUS: random multi-label resampling driven by IRLbl and MeanIR.

Charte, Rivera, del Jesus and Herrera (2015), "Addressing imbalance in multilabel
classification: Measures and random resampling algorithms", *Neurocomputing* 163, 3-16.

For label ``l`` with count ``c_l``, ``IRLbl_l = max_k c_k / c_l`` and ``MeanIR`` is the mean
IRLbl over the labels present (see :mod:`emobalance.balance.stats`).

* :class:`MLROS` (random oversampling). Minority labels are those with ``IRLbl > MeanIR``.
  Rows carrying a minority label are cloned, one per minority label in turn (rarest first), until
  ``round(sampling_ratio * n)`` clones were added. IRLbl is recomputed after every clone and a
  label leaves the minority bag once its IRLbl is at most MeanIR. As in the paper, MeanIR is
  measured once, on the input: it is the fixed bar the minority labels are lifted to. With
  ``targets=`` the sampler instead clones toward explicit per-label counts (the planner's mode,
  also :func:`oversample_to_targets`).
* :class:`MLRUS` (random undersampling). Majority labels are those with ``IRLbl < MeanIR``. Rows
  carrying a majority label are deleted, one per majority label in turn (most frequent first),
  until ``round(sampling_ratio * n)`` rows were deleted; a label leaves the majority bag once its
  IRLbl reaches MeanIR. Rows carrying a minority label (``IRLbl > MeanIR``) or a protected
  label are never deleted.

Both samplers follow the imbalanced-learn conventions: ``fit_resample(X, y)``, a
``random_state`` parameter and fitted attributes ending in ``_``, among them
``sample_indices_``, the input row behind every output row, in output order. For an
:class:`~emobalance.data.dataset.EmotionDataset`, ``resample_dataset`` keeps the provenance:
original rows are returned unchanged, clones get ``source="oversampled"``, a new unique id
``"{parent}#ros{k}"`` and ``parent_id`` = the id of the row they copy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..data.dataset import EmotionDataset
from ..errors import ConfigError, DataError
from ..labels import GOEMOTIONS, LabelSchema
from .stats import irlbl, mean_ir_from_counts

__all__ = ["MLROS", "MLRUS", "oversample_to_targets"]

LabelSpec = str | int
RandomState = int | np.random.Generator | np.random.RandomState | None


# ================================================================================ helpers
def _named(q: int, schema: LabelSchema | None) -> LabelSchema | None:
    """The schema naming a ``q``-column y: the dataset's, else GoEmotions' for 28 columns
    (a bare matrix of another width has column indices only)."""
    if schema is not None and len(schema) == q:
        return schema
    return GOEMOTIONS if q == len(GOEMOTIONS) else None


def _rng(random_state: RandomState) -> np.random.Generator:
    """A numpy Generator from ``None``, an int seed, a Generator or a legacy RandomState."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ConfigError(f"random_state must be a non-negative int, got {random_state}")
        return np.random.default_rng(random_state)
    raise ConfigError(
        "random_state must be None, an int, a numpy Generator or a RandomState, "
        f"got {type(random_state).__name__}"
    )


def _check_ratio(value: Any, name: str = "sampling_ratio") -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not 0 < value <= 1
    ):
        raise ConfigError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_max_copies(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"max_copies must be None or an int >= 1, got {value!r}")
    return int(value)


def _num_samples(X: Any) -> int:
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) >= 1:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise DataError(
            f"X must be an indexable sequence or array, got {type(X).__name__}"
        ) from None


def _check_y(y: Any, n: int | None = None, schema: LabelSchema | None = None) -> np.ndarray:
    """``y`` as a boolean ``(n, q)`` matrix; DataError naming the offending row and column."""
    arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
    if arr.ndim != 2:
        raise DataError(
            f"y must be a 2-D binary label matrix (n_samples, n_labels), got shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise DataError("y has no label columns")
    if n is not None and arr.shape[0] != n:
        raise DataError(f"X has {n} rows but y has {arr.shape[0]}")
    if arr.dtype != bool:
        if not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"y must be numeric 0/1, got dtype {arr.dtype}")
        bad = ~np.isin(arr, (0, 1))
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            named = _named(arr.shape[1], schema)
            col = named.names[j] if named is not None else f"column {j}"
            raise DataError(f"y must be 0 or 1; row {i}, {col!r} is {arr[i, j]!r}")
    return arr.astype(bool, copy=False)


def _take(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of X: ``subset`` for a dataset, ``iloc`` for pandas, fancy indexing for
    arrays (numpy, scipy.sparse, torch), a list for any other sequence."""
    if isinstance(X, EmotionDataset):
        return X.subset(idx)
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if hasattr(X, "shape") and hasattr(X, "__getitem__") and not isinstance(X, list | tuple):
        return X[idx]
    return [X[i] for i in idx.tolist()]


def _resolve_labels(
    spec: LabelSpec | Iterable[LabelSpec] | None,
    q: int,
    param: str,
    schema: LabelSchema | None = None,
) -> list[int]:
    """Label names (of the dataset's schema, or GoEmotions' for a bare 28-column y) or
    column indices to sorted column indices."""
    if spec is None:
        return []
    items = [spec] if isinstance(spec, str | numbers.Integral) else list(spec)
    out: set[int] = set()
    for item in items:
        if isinstance(item, str):
            named = _named(q, schema)
            if named is None:
                raise ConfigError(
                    f"{param}: label names need a dataset (its schema) or a "
                    f"{len(GOEMOTIONS)}-column y; use column indices for a {q}-column y "
                    f"(got {item!r})"
                )
            out.add(named.label_id(item, param, error=ConfigError))
        elif isinstance(item, numbers.Integral) and not isinstance(item, bool):
            if not 0 <= int(item) < q:
                raise ConfigError(f"{param}: column {item} outside 0..{q - 1}")
            out.add(int(item))
        else:
            raise ConfigError(f"{param}: expected label names or column indices, got {item!r}")
    return sorted(out)


def _label_key(j: int, q: int, schema: LabelSchema | None = None) -> str | int:
    named = _named(q, schema)
    return named.names[j] if named is not None else j


def _irlbl_of(counts: np.ndarray, j: int) -> float:
    c = counts[j]
    return math.inf if c <= 0 else float(counts.max()) / float(c)


def _resolve_targets(targets: Any, q: int, schema: LabelSchema | None = None) -> np.ndarray:
    """Targets as an int64 ``(q,)`` array, ``-1`` where a label has no target."""
    out = np.full(q, -1, dtype=np.int64)
    if isinstance(targets, Mapping):
        for key, value in targets.items():
            (j,) = _resolve_labels(key, q, "targets", schema)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
                raise ConfigError(f"targets[{key!r}] must be an int >= 0, got {value!r}")
            out[j] = int(value)
        return out
    arr = np.asarray(targets)
    if arr.shape != (q,) or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(
            f"targets must be a mapping label -> count or a numeric array of shape ({q},), "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ConfigError("targets must be whole numbers (negative = no target)")
    arr = arr.astype(np.int64)
    return np.where(arr >= 0, arr, -1)


def _ros_clones(
    Y: np.ndarray,
    ratio: float,
    max_copies: int | None,
    eligible: Sequence[int] | None,
    rng: np.random.Generator,
) -> tuple[list[int], np.ndarray, float]:
    """The ML-ROS loop; returns the cloned row indices (in order), the minority labels and
    the MeanIR of the input."""
    n, q = Y.shape
    counts = Y.sum(axis=0, dtype=np.int64)
    present = counts > 0
    if not present.any():
        return [], np.zeros(0, dtype=np.int64), float("nan")
    ir = irlbl(counts)
    mir = mean_ir_from_counts(counts)
    allowed = np.zeros(q, dtype=bool)
    allowed[list(range(q)) if eligible is None else list(eligible)] = True
    minority = np.flatnonzero(present & allowed & (ir > mir))
    # rarest first, so that a budget running out mid-round favours the rarest labels
    minority = minority[np.argsort(-ir[minority], kind="stable")]
    bags = {int(j): np.flatnonzero(Y[:, j]).tolist() for j in minority}
    active = [int(j) for j in minority]
    Yi = Y.astype(np.int64)
    copies = np.zeros(n, dtype=np.int64)
    clones: list[int] = []

    def draw(j: int) -> int:
        bag = bags[j]
        while bag:
            k = int(rng.integers(len(bag)))
            i = bag[k]
            if max_copies is None or copies[i] < max_copies:
                return i
            bag[k] = bag[-1]  # capped: drop it from the bag (swap-remove)
            bag.pop()
        return -1

    def clone(i: int) -> None:
        nonlocal counts
        clones.append(i)
        copies[i] += 1
        counts += Yi[i]

    _round_robin(
        active, math.floor(n * ratio + 0.5), lambda j: _irlbl_of(counts, j) <= mir, draw, clone
    )
    return clones, minority, mir


def _round_robin(
    active: list[int],
    budget: int,
    reached: Callable[[int], bool],
    draw: Callable[[int], int],
    take: Callable[[int], None],
) -> None:
    """The loop of ML-ROS and ML-RUS: one row per active label in turn, until ``budget`` rows
    were taken. A label leaves ``active`` once ``reached(label)`` (checked before and after
    each of its rows, since a co-occurring row may get it there) or when ``draw(label)`` finds
    no row left (-1)."""
    while budget > 0 and active:
        for j in list(active):
            if budget == 0:
                break
            if reached(j):
                active.remove(j)
                continue
            i = draw(j)
            if i < 0:
                active.remove(j)
                continue
            take(i)
            budget -= 1
            if reached(j):
                active.remove(j)


def _target_clones(
    Y: np.ndarray,
    targets: np.ndarray,
    counts: np.ndarray,
    max_copies: int | None,
    tolerance: float,
    strict: bool,
    rng: np.random.Generator,
) -> tuple[list[int], np.ndarray]:
    """Clone rows toward ``targets``; returns the clones and the per-label deficits left.

    Each step serves the label with the largest relative deficit. Among the rows carrying it
    (and under ``max_copies``) it prefers, in order: rows that push no label past its ceiling
    ``max(target, floor(target * (1 + tolerance)))``, rows with fewer other labels already at
    or over their target, rows cloned fewer times so far, then a random one. With ``strict``
    a label whose every candidate would overshoot a ceiling is left unfilled.
    """
    n, q = Y.shape
    counts = np.asarray(counts, dtype=np.int64).copy()
    has_t = targets >= 0
    big = np.iinfo(np.int64).max // 4
    ceiling = np.where(
        has_t, np.maximum(np.floor(targets * (1.0 + tolerance)).astype(np.int64), targets), big
    )
    t_eff = np.where(has_t, targets, big)
    rows_of = [np.flatnonzero(Y[:, j]) for j in range(q)]
    Yi = Y.astype(np.int64)
    copies = np.zeros(n, dtype=np.int64)
    blocked = np.zeros(q, dtype=bool)
    clones: list[int] = []
    while True:
        deficit = np.where(has_t & ~blocked, targets - counts, 0)
        if deficit.max(initial=0) <= 0:
            break
        j = int(np.argmax(deficit / np.maximum(targets, 1)))
        cand = rows_of[j]
        if max_copies is not None:
            cand = cand[copies[cand] < max_copies]
            rows_of[j] = cand
        if cand.size == 0:
            blocked[j] = True
            continue
        Yc = Y[cand]
        over = (Yc & (counts + 1 > ceiling)).sum(axis=1)
        at_target = (Yc & (counts >= t_eff)).sum(axis=1)
        if strict:
            ok = over == 0
            if not ok.any():
                blocked[j] = True
                continue
            cand, over, at_target = cand[ok], over[ok], at_target[ok]
        best = np.lexsort((rng.random(cand.size), copies[cand], at_target, over))[0]
        i = int(cand[best])
        clones.append(i)
        copies[i] += 1
        counts += Yi[i]
    return clones, np.where(has_t, np.maximum(targets - counts, 0), 0)


def _clone_rows(dataset: EmotionDataset, picked: Sequence[int]) -> EmotionDataset:
    """Copies of ``dataset`` rows ``picked`` as ``oversampled`` rows with new unique ids.

    ``parent_id`` is the id of the copied row, or that row's own parent when it is already
    an oversampled copy (a copy of a copy is a copy of the original).
    """
    sub = dataset.subset(np.asarray(picked, dtype=np.int64))
    taken = set(dataset.ids)
    next_k: dict[str, int] = {}
    ids: list[str] = []
    parents: list[str | None] = []
    for i in picked:
        root = dataset.ids[i]
        if dataset.source[i] == "oversampled" and dataset.parent_id is not None:
            root = dataset.parent_id[i] or root
        k = next_k.get(root, 0)
        while True:
            k += 1
            new = f"{root}#ros{k}"
            if new not in taken:
                break
        next_k[root] = k
        taken.add(new)
        ids.append(new)
        parents.append(root)
    return sub.replace(source="oversampled", ids=ids, parent_id=parents)


def _dataset_labels(dataset: Any) -> np.ndarray:
    if not isinstance(dataset, EmotionDataset):
        raise DataError(f"expected an EmotionDataset, got {type(dataset).__name__}")
    if dataset.labels is None:
        raise DataError("cannot resample an unlabelled dataset (labels=None)")
    return dataset.labels


# ================================================================================ base
class _Sampler:
    """What both samplers share (imbalanced-learn's ``SamplerMixin``): ``fit_resample`` over
    the rows ``_fit(Y)`` picks."""

    def _fit(self, Y: np.ndarray, schema: LabelSchema | None = None) -> np.ndarray:
        """The input row behind each output row (label names read with ``schema``)."""
        raise NotImplementedError

    def fit_resample(self, X: Any, y: Any) -> tuple[Any, np.ndarray]:
        """Resample ``X`` and ``y``.

        Parameters
        ----------
        X : array-like, DataFrame or sequence of length n
            Anything indexable by rows: numpy arrays, scipy sparse matrices and torch tensors
            are fancy-indexed, pandas objects use ``iloc``, other sequences give a list.
        y : array-like of shape (n, q)
            Binary label matrix (``uint8[n, 28]`` or any 0/1 matrix). Label names in the
            parameters need X to be an EmotionDataset (its schema) or a 28-column y
            (GoEmotions'); otherwise use column indices.

        Returns
        -------
        X_res : same kind as X
            ``X_res[k] == X[sample_indices_[k]]``: for :class:`MLROS` the input rows followed
            by the clones, for :class:`MLRUS` the kept rows in input order.
        y_res : ndarray of shape (n_out, q)
            ``y[sample_indices_]``, with y's dtype.

        Raises
        ------
        DataError
            If ``y`` is not a 2-D 0/1 matrix or its length differs from X's.
        ConfigError
            If a parameter is out of range.
        """
        n = _num_samples(X)
        schema = X.schema if isinstance(X, EmotionDataset) else None
        Y = _check_y(y, n, schema)
        idx = self._fit(Y, schema)
        y_arr = np.asarray(y.to_numpy() if hasattr(y, "to_numpy") else y)
        return _take(X, idx), y_arr[idx]


# ================================================================================ ML-ROS
class MLROS(_Sampler):
    """Multi-label random oversampling (ML-ROS, Charte et al. 2015).

    Parameters
    ----------
    sampling_ratio : float, default=0.25
        Clones to add, as a share of the input rows, in (0, 1]. Fewer are added when every
        minority label reaches MeanIR (or runs out of rows under ``max_copies``) first.
        Ignored when ``targets`` is given.
    max_copies : int, optional
        At most this many clones of any one input row.
    random_state : int, numpy Generator or None, default=None
        Seed of the random choices; an int makes the result reproducible.
    labels : label name, column index or a sequence of them, optional
        Only these labels may be minority labels (e.g. all but ``neutral``); default all.
        IRLbl and MeanIR are still measured over every label. In target mode, only these
        labels are filled. Names need a 28-column ``y``.
    targets : mapping of label (name or column index) to count, or array of shape (q,), optional
        Switch to target mode: clone rows until each label reaches its target count (labels
        without a target, or with a negative one, are not filled), never pushing a label past
        ``max(target, floor(target * (1 + tolerance)))`` when ``strict``. See
        :func:`oversample_to_targets`.
    tolerance : float, default=0.1
        Target mode: the share a co-occurring label may exceed its target by.
    strict : bool, default=True
        Target mode: leave a label short of its target rather than overshoot another label's
        ceiling when every row carrying it would; with ``False`` the row that overshoots
        fewest labels is cloned.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_out,)
        The input row behind each output row: ``0 .. n-1`` followed by the cloned rows.
    n_added_ : int
        Clones added.
    n_requested_ : int
        ``round(sampling_ratio * n)`` (ratio mode) or the total deficit (target mode).
    copies_ : ndarray of shape (n,)
        Clones of each input row.
    minority_labels_ : ndarray
        Ratio mode: columns with IRLbl > MeanIR on the input (eligible ones), rarest first.
    targets_ : ndarray of shape (q,) or None
        Target mode: the resolved targets (``-1`` = none).
    unmet_ : dict
        Target mode: label (name for 28 columns, else column index) -> deficit left.
    irlbl_before_, irlbl_after_ : ndarray of shape (q,)
        IRLbl per column (``inf`` for absent labels).
    mean_ir_before_, mean_ir_after_ : float
        MeanIR of the input and of the output.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.zeros((21, 4), dtype=np.uint8)  # label counts 12, 6, 2, 1: MeanIR 5.25
    >>> y[:12, 0] = 1; y[12:18, 1] = 1; y[18:20, 2] = 1; y[20, 3] = 1
    >>> ros = MLROS(sampling_ratio=0.5, random_state=0)
    >>> X_res, y_res = ros.fit_resample(np.arange(21), y)
    >>> ros.n_added_, y_res.sum(axis=0).tolist(), ros.mean_ir_after_
    (3, [12, 6, 3, 3], 2.75)
    """

    def __init__(
        self,
        sampling_ratio: float = 0.25,
        max_copies: int | None = None,
        random_state: RandomState = None,
        labels: LabelSpec | Sequence[LabelSpec] | None = None,
        targets: Mapping[LabelSpec, int] | Sequence[int] | np.ndarray | None = None,
        tolerance: float = 0.1,
        strict: bool = True,
    ) -> None:
        self.sampling_ratio = sampling_ratio
        self.max_copies = max_copies
        self.random_state = random_state
        self.labels = labels
        self.targets = targets
        self.tolerance = tolerance
        self.strict = strict

    def _fit(
        self, Y: np.ndarray, schema: LabelSchema | None = None, counts: np.ndarray | None = None
    ) -> np.ndarray:
        n, q = Y.shape
        max_copies = _check_max_copies(self.max_copies)
        rng = _rng(self.random_state)
        base_counts = Y.sum(axis=0, dtype=np.int64) if counts is None else counts
        self.irlbl_before_ = irlbl(base_counts)
        self.mean_ir_before_ = mean_ir_from_counts(base_counts)
        if self.targets is None:
            ratio = _check_ratio(self.sampling_ratio)
            eligible = (
                _resolve_labels(self.labels, q, "labels", schema)
                if self.labels is not None
                else None
            )
            clones, minority, _ = _ros_clones(Y, ratio, max_copies, eligible, rng)
            self.minority_labels_ = minority
            self.n_requested_ = math.floor(n * ratio + 0.5)
            self.targets_ = None
            self.unmet_ = {}
        else:
            tol = self.tolerance
            if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
                raise ConfigError(f"tolerance must be a number >= 0, got {tol!r}")
            targets = _resolve_targets(self.targets, q, schema)
            if self.labels is not None:  # only the eligible labels are filled
                keep = np.zeros(q, dtype=bool)
                keep[_resolve_labels(self.labels, q, "labels", schema)] = True
                targets = np.where(keep, targets, -1)
            clones, left = _target_clones(
                Y, targets, base_counts, max_copies, float(tol), bool(self.strict), rng
            )
            self.targets_ = targets
            self.minority_labels_ = np.zeros(0, dtype=np.int64)
            self.n_requested_ = int(
                np.where(targets >= 0, np.maximum(targets - base_counts, 0), 0).sum()
            )
            self.unmet_ = {_label_key(j, q, schema): int(d) for j, d in enumerate(left) if d > 0}
        idx = np.concatenate([np.arange(n, dtype=np.int64), np.asarray(clones, dtype=np.int64)])
        self.sample_indices_ = idx
        self.n_added_ = len(clones)
        self.copies_ = np.bincount(np.asarray(clones, dtype=np.int64), minlength=n)
        after = base_counts + Y[np.asarray(clones, dtype=np.int64)].sum(axis=0, dtype=np.int64)
        self.irlbl_after_ = irlbl(after)
        self.mean_ir_after_ = mean_ir_from_counts(after)
        return idx

    def resample_dataset(self, dataset: EmotionDataset) -> EmotionDataset:
        """Oversample an :class:`EmotionDataset`, keeping provenance.

        The original rows come first, unchanged; each clone is a copy of its row with
        ``source="oversampled"``, ``id="{parent}#ros{k}"`` (unique in the output) and
        ``parent_id=parent``; weight, teacher_score and meta are copied.
        """
        Y = _check_y(_dataset_labels(dataset), len(dataset), dataset.schema)
        idx = self._fit(Y, dataset.schema)
        clones = idx[len(dataset) :]
        if clones.size == 0:
            return dataset.subset(np.arange(len(dataset)))
        return EmotionDataset.concat([dataset, _clone_rows(dataset, clones.tolist())])


def oversample_to_targets(
    dataset: EmotionDataset,
    targets: Mapping[LabelSpec, int] | Sequence[int] | np.ndarray,
    max_copies: int | None = None,
    random_state: RandomState = None,
    *,
    counts: Sequence[int] | np.ndarray | None = None,
    tolerance: float = 0.1,
    strict: bool = True,
    only_new: bool = False,
) -> EmotionDataset:
    """Clone rows of ``dataset`` until each label reaches its target count.

    Each step serves the label with the largest relative deficit, cloning a row that carries
    it. Preferred rows push no label past its ceiling ``max(target, floor(target * (1 +
    tolerance)))``, then have fewer other labels already at or over target, then were cloned
    fewer times; ties are broken at random.

    Parameters
    ----------
    dataset : EmotionDataset
        Labelled rows that may be cloned.
    targets : mapping of label name (or column index) to count, or array of shape (28,)
        Labels missing from the mapping, or negative in the array, are not filled (and have
        no ceiling).
    max_copies : int, optional
        At most this many clones of any one row.
    random_state : int, numpy Generator or None
    counts : array of shape (28,), optional
        The current per-label counts the targets are measured against; default the dataset's
        own. Pass the counts of a larger set (e.g. train plus already-added rows) when only
        ``dataset`` may be cloned.
    tolerance : float, default=0.1
    strict : bool, default=True
        Leave a label short rather than overshoot a co-occurring label's ceiling when every
        candidate would; with ``False`` the candidate overshooting fewest labels is used.
    only_new : bool, default=False
        Return only the clones instead of the dataset followed by the clones.

    Returns
    -------
    EmotionDataset
        Clones have ``source="oversampled"``, ids ``"{parent}#ros{k}"`` and ``parent_id``.
        To see which labels stayed short of their target, use
        ``MLROS(targets=...).resample_dataset`` and read ``unmet_``.
    """
    Y = _check_y(_dataset_labels(dataset), len(dataset), dataset.schema)
    sampler = MLROS(
        max_copies=max_copies,
        random_state=random_state,
        targets=targets,
        tolerance=tolerance,
        strict=strict,
    )
    base = None
    if counts is not None:
        base = np.asarray(counts, dtype=np.int64)
        if base.shape != (Y.shape[1],):
            raise DataError(f"counts must have shape ({Y.shape[1]},), got {base.shape}")
    idx = sampler._fit(Y, dataset.schema, base)
    clones = idx[len(dataset) :].tolist()
    new = _clone_rows(dataset, clones)
    return new if only_new else EmotionDataset.concat([dataset, new])


# ================================================================================ ML-RUS
class MLRUS(_Sampler):
    """Multi-label random undersampling (ML-RUS, Charte et al. 2015).

    Parameters
    ----------
    sampling_ratio : float, default=0.25
        Rows to delete, as a share of the input rows, in (0, 1]. Fewer are deleted when every
        majority label reaches MeanIR, or runs out of deletable rows, first.
    random_state : int, numpy Generator or None, default=None
    protected_labels : label name, column index or a sequence of them, optional
        Rows carrying any of these are never deleted, like rows carrying a minority label
        (IRLbl > MeanIR). Names need a 28-column ``y``.

    Attributes
    ----------
    sample_indices_ : ndarray of shape (n_out,)
        The kept input rows, in input order.
    n_removed_ : int
    n_requested_ : int
        ``round(sampling_ratio * n)``.
    majority_labels_, minority_labels_, protected_labels_ : ndarray
        Columns with IRLbl < MeanIR, with IRLbl > MeanIR (on the input) and the protected ones.
    irlbl_before_, irlbl_after_ : ndarray of shape (q,)
    mean_ir_before_, mean_ir_after_ : float
    """

    def __init__(
        self,
        sampling_ratio: float = 0.25,
        random_state: RandomState = None,
        protected_labels: LabelSpec | Sequence[LabelSpec] | None = None,
    ) -> None:
        self.sampling_ratio = sampling_ratio
        self.random_state = random_state
        self.protected_labels = protected_labels

    def _fit(self, Y: np.ndarray, schema: LabelSchema | None = None) -> np.ndarray:
        n, q = Y.shape
        ratio = _check_ratio(self.sampling_ratio)
        protected = _resolve_labels(self.protected_labels, q, "protected_labels", schema)
        rng = _rng(self.random_state)
        counts = Y.sum(axis=0, dtype=np.int64)
        present = counts > 0
        ir = irlbl(counts)
        mir = mean_ir_from_counts(counts)
        self.irlbl_before_ = ir
        self.mean_ir_before_ = mir
        minority = np.flatnonzero(present & (ir > mir))
        keep_mask = np.zeros(q, dtype=bool)
        keep_mask[minority] = True
        keep_mask[protected] = True
        majority = np.flatnonzero(present & (ir < mir) & ~keep_mask)
        majority = majority[np.argsort(-counts[majority], kind="stable")]
        deletable = ~Y[:, keep_mask].any(axis=1)
        bags = {int(j): np.flatnonzero(Y[:, j] & deletable).tolist() for j in majority}
        active = [int(j) for j in majority]
        removed = np.zeros(n, dtype=bool)
        Yi = Y.astype(np.int64)

        def draw(j: int) -> int:
            bag = bags[j]
            while bag:
                k = int(rng.integers(len(bag)))
                i = bag[k]
                bag[k] = bag[-1]  # swap-remove: a row is drawn at most once per bag
                bag.pop()
                if not removed[i]:
                    return i
            return -1

        def delete(i: int) -> None:
            nonlocal counts
            removed[i] = True
            counts -= Yi[i]

        _round_robin(
            active, math.floor(n * ratio + 0.5), lambda j: _irlbl_of(counts, j) >= mir, draw, delete
        )
        idx = np.flatnonzero(~removed)
        self.sample_indices_ = idx
        self.n_removed_ = int(removed.sum())
        self.n_requested_ = math.floor(n * ratio + 0.5)
        self.majority_labels_ = majority
        self.minority_labels_ = minority
        self.protected_labels_ = np.asarray(protected, dtype=np.int64)
        self.irlbl_after_ = irlbl(counts)
        self.mean_ir_after_ = mean_ir_from_counts(counts)
        return idx

    def resample_dataset(self, dataset: EmotionDataset) -> EmotionDataset:
        """Undersample an :class:`EmotionDataset`: the kept rows, unchanged, in order."""
        Y = _check_y(_dataset_labels(dataset), len(dataset), dataset.schema)
        return dataset.subset(self._fit(Y, dataset.schema))
