"""Offline augmentation of real minority-label examples: Easy Data Augmentation (Wei & Zou,
2019) with synonyms taken from nearest neighbours in word vectors instead of WordNet.

:class:`EDAAugmenter` is the offline default source of the balancing planner; it rewrites real
examples only (never generated or oversampled rows) and never replaces emotion-bearing words.
"""

from __future__ import annotations

import heapq
import os
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..data.dataset import EmotionDataset
from ..embeddings import Vectors, load_vectors
from ..errors import ConfigError, DataError
from ..labels import GOEMOTIONS, LabelSchema
from ..log import get_logger
from ..text.normalize import PLACEHOLDERS, tokenize

logger = get_logger(__name__)

__all__ = [
    "EMOTION_SEED_WORDS",
    "STOPWORDS",
    "EDAAugmenter",
    "detokenize",
    "nearest_neighbours",
    "seed_words",
]


# EDA's stop words (Wei & Zou) + contractions and negations, which must never be replaced.
STOPWORDS: frozenset[str] = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
    she her hers herself it its itself they them their theirs themselves what which who whom this
    that these those am is are was were be been being have has had having do does did doing a an
    the and but if or because as until while of at by for with about against between into through
    during before after above below to from up down in out on off over under again further then
    once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now never nothing nobody none
    cannot would could might must shall may also i'm i've i'd i'll you're you've you'd you'll
    he's she's it's we're we've they're they've that's there's what's who's let's im ive dont
    don't doesn't didn't isn't aren't wasn't weren't can't couldn't won't wouldn't shouldn't
    haven't hasn't hadn't ain't cant wont didnt doesnt isnt wasnt n't 's 're 've 'll 'd 'm
    """.split()  # noqa: SIM905
)
"""Words the augmenter never replaces, nor inserts as a synonym."""

EMOTION_SEED_WORDS: frozenset[str] = frozenset(GOEMOTIONS.names) | frozenset(
    """happy sad angry mad afraid scared glad sorry thanks thank hate love funny lol lmao proud
    disgusting gross nervous anxious excited confused curious surprised relieved disappointed
    annoyed grateful hope hopeful wow awesome amazing terrible horrible beautiful cute
    """.split()  # noqa: SIM905
)
"""Emotion-bearing words kept as they are (with their close neighbours, see ``protect``);
the augmented dataset's own label names are added (:func:`seed_words`)."""


def seed_words(schema: LabelSchema) -> frozenset[str]:
    """:data:`EMOTION_SEED_WORDS` and the one-word label names of ``schema`` (lower case)."""
    own = {n.lower() for n in schema.names if _ALPHA_RE.match(n.lower())}
    return EMOTION_SEED_WORDS if own <= EMOTION_SEED_WORDS else EMOTION_SEED_WORDS | own


_WORD_RE = re.compile(r"^[a-z0-9']+$")
_ALPHA_RE = re.compile(r"^[a-z][a-z']*[a-z]$")
_NO_SPACE_BEFORE = frozenset(".,!?;:)]}%")
_NO_SPACE_AFTER = frozenset("([{$#")


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens into text: no space before closing punctuation or after opening brackets.

    Examples
    --------
    >>> detokenize(["so", "glad", "(", "finally", ")", "!"])
    'so glad (finally)!'
    """
    parts: list[str] = []
    prev = ""
    for t in tokens:
        if parts and t not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            parts.append(" ")
        parts.append(t)
        prev = t
    return "".join(parts)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


def nearest_neighbours(
    vectors: Vectors,
    words: Iterable[str],
    candidates: Iterable[str],
    k: int = 10,
    min_similarity: float = 0.5,
    chunk_elements: int = 1 << 24,
) -> dict[str, tuple[str, ...]]:
    """Up to ``k`` nearest ``candidates`` of each of ``words`` by cosine similarity.

    Parameters
    ----------
    vectors : Vectors
        Word vectors; words and candidates without a vector are left out.
    words : iterable of str
        Words to find neighbours for.
    candidates : iterable of str
        The allowed neighbours (a word is never its own neighbour).
    k : int, default=10
        Neighbours per word.
    min_similarity : float, default=0.5
        Neighbours below this cosine similarity are dropped.
    chunk_elements : int, default=2**24
        Similarity entries computed at once (bounds memory).

    Returns
    -------
    dict of str to tuple of str
        Most similar first; words without any neighbour are absent.
    """
    qw = sorted({w for w in words if w in vectors.index})
    cw = sorted({w for w in candidates if w in vectors.index})
    if not qw or not cw or k < 1:
        return {}
    q = _unit_rows(vectors.matrix[[vectors.index[w] for w in qw]])
    c = _unit_rows(vectors.matrix[[vectors.index[w] for w in cw]])
    cpos = {w: j for j, w in enumerate(cw)}
    self_col = np.array([cpos.get(w, -1) for w in qw], dtype=np.int64)
    kk = min(k, len(cw))
    step = max(1, chunk_elements // len(cw))
    out: dict[str, tuple[str, ...]] = {}
    for s in range(0, len(qw), step):
        sims = q[s : s + step] @ c.T
        rows = np.arange(sims.shape[0])
        own = self_col[s : s + step]
        sims[rows[own >= 0], own[own >= 0]] = -np.inf
        top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < len(cw) else None
        if top is None:
            top = np.broadcast_to(np.arange(len(cw)), (sims.shape[0], len(cw)))
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        top_sims = np.take_along_axis(top_sims, order, axis=1)
        good = top_sims >= min_similarity
        for r in np.flatnonzero(good.any(axis=1)):
            out[qw[s + r]] = tuple(cw[j] for j in top[r][good[r]])
    return out


def _python_rng(random_state: Any) -> random.Random:
    if random_state is None or isinstance(random_state, int | np.integer):
        return random.Random(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random.Random(int(random_state.integers(0, 2**63 - 1)))
    if isinstance(random_state, np.random.RandomState):
        return random.Random(int(random_state.randint(0, 2**31 - 1)))
    if isinstance(random_state, random.Random):
        return random_state
    raise ConfigError(
        f"random_state must be None, an int or a numpy Generator, not {random_state!r}"
    )


class _Row:
    """A parent text prepared for augmentation."""

    __slots__ = ("deletable", "replaceable", "tokens", "words")

    def __init__(self, tokens: list[str], syn: Mapping[str, tuple[str, ...]]) -> None:
        self.tokens = tokens
        self.words = [i for i, t in enumerate(tokens) if t in PLACEHOLDERS or _WORD_RE.match(t)]
        self.deletable = [i for i in self.words if tokens[i] not in PLACEHOLDERS]
        self.replaceable = [i for i in self.words if tokens[i] in syn]


class EDAAugmenter:
    """Easy Data Augmentation with word-vector synonyms, for real minority-label examples.

    Each augmented text comes from one operation on the normalised tokens of its parent
    (chosen at random among those possible for that text):

    * synonym replacement (``sr``): ``max(1, alpha_sr * n_words)`` words become one of their
      nearest neighbours;
    * random insertion (``ri``): ``max(1, alpha_ri * n_words)`` times, a neighbour of a random
      word of the text is inserted at a random place;
    * random swap (``rs``): ``max(1, alpha_rs * n_words)`` swaps of two words;
    * random deletion (``rd``): each word is deleted with probability ``p_rd`` (at least one,
      never all, placeholders such as ``[name]`` kept).

    Synonyms are the ``neighbours`` nearest words by cosine similarity (at least
    ``min_similarity``) among the words of the dataset being augmented, computed in one
    vectorised pass for the words of the texts to augment. Stop words, negations, placeholders
    and, with ``protect_emotion_words``, emotion-bearing words (:data:`EMOTION_SEED_WORDS` and
    their neighbours at ``protect_similarity`` or more) are never replaced nor inserted, so
    that ``happy`` does not become its close neighbour ``sad``. Without vectors ``sr`` and
    ``ri`` are no-ops and only swaps and deletions are made.

    Parameters
    ----------
    alpha_sr, alpha_ri, alpha_rs, p_rd : float, default=0.1
        Strength of each operation; 0 disables it.
    n_aug : int, default=4
        Augmented texts per parent when :meth:`augment` gets no ``n_per_label``.
    vectors : Vectors, path or None
        Word vectors for synonyms; a path is read with :func:`load_vectors`, keeping only the
        words needed, at each :meth:`augment` call.
    neighbours : int, default=10
        Synonym candidates per word.
    min_similarity : float, default=0.5
        Minimum cosine similarity of a synonym.
    protect_emotion_words : bool, default=True
        Never replace or insert emotion-bearing words.
    protect_similarity : float, default=0.6
        Words this similar to a seed emotion word count as emotion-bearing.
    max_tries : int, default=10
        Attempts at a new distinct text for a parent before moving on.
    exclude_sources : sequence of str
        Rows of these sources are never parents (only real examples are rewritten).
    random_state : int, numpy Generator or None
        Seed; an int gives the same output at every call.
    """

    def __init__(
        self,
        alpha_sr: float = 0.1,
        alpha_ri: float = 0.1,
        alpha_rs: float = 0.1,
        p_rd: float = 0.1,
        n_aug: int = 4,
        vectors: Vectors | str | os.PathLike[str] | None = None,
        neighbours: int = 10,
        min_similarity: float = 0.5,
        protect_emotion_words: bool = True,
        protect_similarity: float = 0.6,
        max_tries: int = 10,
        exclude_sources: Sequence[str] = ("generated", "augmented", "oversampled"),
        random_state: Any = None,
    ) -> None:
        for name, v in (("alpha_sr", alpha_sr), ("alpha_ri", alpha_ri), ("alpha_rs", alpha_rs)):
            if not 0.0 <= v <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {v}")
        if not 0.0 <= p_rd < 1.0:
            raise ConfigError(f"p_rd must be in [0, 1), got {p_rd}")
        if n_aug < 0 or neighbours < 1 or max_tries < 1:
            raise ConfigError("n_aug must be >= 0, neighbours and max_tries >= 1")
        self.alpha_sr = alpha_sr
        self.alpha_ri = alpha_ri
        self.alpha_rs = alpha_rs
        self.p_rd = p_rd
        self.n_aug = n_aug
        self.vectors = vectors
        self.neighbours = neighbours
        self.min_similarity = min_similarity
        self.protect_emotion_words = protect_emotion_words
        self.protect_similarity = protect_similarity
        self.max_tries = max_tries
        self.exclude_sources = tuple(exclude_sources)
        self.random_state = random_state

    # ------------------------------------------------------------------ synonyms
    def synonyms(
        self,
        texts_tokens: Sequence[Sequence[str]],
        vocab_tokens: Iterable[Sequence[str]],
        schema: LabelSchema = GOEMOTIONS,
    ) -> dict[str, tuple[str, ...]]:
        """Synonym lists for the content words of ``texts_tokens`` (``{}`` without vectors).

        Candidates are the content words of ``vocab_tokens`` (plus those of ``texts_tokens``);
        the words protected are :func:`seed_words` of ``schema``.
        """
        if self.vectors is None:
            return {}

        def content(tokens: Iterable[str]) -> set[str]:
            return {t for t in tokens if _ALPHA_RE.match(t) and t not in STOPWORDS}

        query: set[str] = set()
        for toks in texts_tokens:
            query |= content(toks)
        cands = set(query)
        for toks in vocab_tokens:
            cands |= content(toks)
        vectors = self.vectors
        seed_set = seed_words(schema)
        if not isinstance(vectors, Vectors):
            vectors = load_vectors(vectors, words=cands | seed_set)
        protected: set[str] = set()
        if self.protect_emotion_words:
            protected = set(seed_set)
            seeds = [w for w in seed_set if w in vectors.index]
            near = nearest_neighbours(
                vectors, cands, seeds, k=1, min_similarity=self.protect_similarity
            )
            protected |= set(near)
        return nearest_neighbours(
            vectors,
            query - protected,
            cands - protected,
            k=self.neighbours,
            min_similarity=self.min_similarity,
        )

    # ---------------------------------------------------------------- operations
    def _sr(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if not row.replaceable:
            return None
        n = max(1, int(self.alpha_sr * len(row.words)))
        toks = list(row.tokens)
        for i in rng.sample(row.replaceable, min(n, len(row.replaceable))):
            toks[i] = rng.choice(syn[toks[i]])
        return toks

    def _ri(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if not row.replaceable:
            return None
        n = max(1, int(self.alpha_ri * len(row.words)))
        toks = list(row.tokens)
        for _ in range(n):
            src = row.tokens[rng.choice(row.replaceable)]
            toks.insert(rng.randint(0, len(toks)), rng.choice(syn[src]))
        return toks

    def _rs(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if len(row.words) < 2:
            return None
        n = max(1, int(self.alpha_rs * len(row.words)))
        toks = list(row.tokens)
        for _ in range(n):
            a, b = rng.sample(row.words, 2)
            toks[a], toks[b] = toks[b], toks[a]
        return toks

    def _rd(self, row: _Row, syn: Mapping[str, tuple[str, ...]], rng: random.Random):
        if len(row.deletable) < 2:
            return None
        drop = {i for i in row.deletable if rng.random() < self.p_rd}
        if not drop:
            drop = {rng.choice(row.deletable)}
        if len(drop) >= len(row.deletable):
            drop.discard(rng.choice(sorted(drop)))
        return [t for i, t in enumerate(row.tokens) if i not in drop]

    # ------------------------------------------------------------------- augment
    def augment(
        self,
        dataset: EmotionDataset,
        n_per_label: Mapping[str, int] | None = None,
        labels: Sequence[str] | None = None,
    ) -> EmotionDataset:
        """Augmented copies of real examples of the given labels.

        Parameters
        ----------
        dataset : EmotionDataset
            Labelled training data; rows whose source is in ``exclude_sources`` are never
            parents, but the words of all rows are synonym candidates.
        n_per_label : mapping of str to int, optional
            New rows wanted per label. Labels are served rarest first, each from its
            least-used parent (ties in a seeded random order), so parents contribute evenly;
            ``n_aug`` is not a cap here. A new row counts for **every**
            requested label it carries (it copies all its parent's labels), so a row made for
            ``grief`` that also carries ``sadness`` reduces what ``sadness`` still needs.
        labels : sequence of str, optional
            Without ``n_per_label``: make ``n_aug`` texts from every row carrying any of these
            labels (every row when ``None``).

        Returns
        -------
        EmotionDataset
            ``source="augmented"``, ``parent_id`` = the parent's id, ids
            ``"{parent_id}#aug{k}"`` (k counts per parent within this call), the parent's
            labels, ``meta={"aug_op": "sr" | "ri" | "rs" | "rd"}``. No text equals (after
            normalisation) its parent, another parent or another output. Fewer rows than asked,
            with a warning, when the parents cannot give enough distinct texts.

        Raises
        ------
        DataError
            If ``dataset`` is unlabelled.
        ConfigError
            On an unknown label, a negative count, or both ``n_per_label`` and ``labels``.
        """
        if dataset.labels is None:
            raise DataError("the dataset to augment must be labelled")
        if n_per_label is not None and labels is not None:
            raise ConfigError("give n_per_label or labels, not both")
        lab = dataset.labels
        schema = dataset.schema
        rng = _python_rng(self.random_state)
        wanted: dict[int, int] = {}
        if n_per_label is not None:
            for name, n in n_per_label.items():
                j = schema.label_id(name, error=ConfigError)
                if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
                    raise ConfigError(f"n_per_label[{name!r}] must be an int >= 0, got {n!r}")
                if n:
                    wanted[j] = wanted.get(j, 0) + int(n)
            targets = sorted(wanted)
        else:
            targets = (
                list(range(len(schema)))
                if labels is None
                else schema.label_ids(labels, error=ConfigError)
            )
        eligible = np.array([s not in self.exclude_sources for s in dataset.source], dtype=bool)
        if not len(dataset) or not targets:
            return _augmented_dataset(dataset, [], [], [], [])
        pool = np.flatnonzero(eligible & lab[:, targets].any(axis=1))
        tokens = {int(i): tokenize(dataset.texts[i]) for i in pool}
        syn: dict[str, tuple[str, ...]] = {}
        if self.vectors is not None:
            vocab_rows = (tokenize(t) for i, t in enumerate(dataset.texts) if i not in tokens)
            syn = self.synonyms(list(tokens.values()), vocab_rows, schema)
        rows = {i: _Row(t, syn) for i, t in tokens.items()}
        seen = {" ".join(t) for t in tokens.values()}
        ops: list[tuple[str, Callable[..., list[str] | None]]] = []
        if self.alpha_sr > 0 and syn:
            ops.append(("sr", self._sr))
        if self.alpha_ri > 0 and syn:
            ops.append(("ri", self._ri))
        if self.alpha_rs > 0:
            ops.append(("rs", self._rs))
        if self.p_rd > 0:
            ops.append(("rd", self._rd))

        out_parent: list[int] = []
        out_tokens: list[list[str]] = []
        out_ops: list[str] = []
        out_k: list[int] = []
        per_parent: dict[int, int] = {}

        def variant(i: int) -> bool:
            row = rows[i]
            possible = {
                "sr": bool(row.replaceable),
                "ri": bool(row.replaceable),
                "rs": len(row.words) >= 2,
                "rd": len(row.deletable) >= 2,
            }
            usable = [(name, op) for name, op in ops if possible[name]]
            if not usable:
                return False
            for _ in range(self.max_tries):
                name, op = usable[rng.randrange(len(usable))]
                new = op(row, syn, rng)
                if new is None:
                    continue
                key = " ".join(new)
                if key in seen:
                    continue
                seen.add(key)
                k = per_parent.get(i, 0)
                per_parent[i] = k + 1
                out_parent.append(i)
                out_tokens.append(new)
                out_ops.append(name)
                out_k.append(k)
                return True
            return False

        if not ops or not len(pool):
            if wanted or len(pool):
                logger.warning("augment: no operation can apply (no parents or all disabled)")
            return _augmented_dataset(dataset, [], [], [], [])
        if n_per_label is None:
            for i in pool.tolist():
                for _ in range(self.n_aug):
                    if not variant(i):
                        break
        else:
            remaining = dict(wanted)
            sizes = {j: int(lab[pool, j].sum()) for j in wanted}
            for j in sorted(wanted, key=lambda j: (sizes[j], j)):
                parents = pool[lab[pool, j] == 1].tolist()
                rng.shuffle(parents)
                # least-used parent first (earlier labels may have used some), ties in the
                # shuffled order: parents contribute evenly across all labels
                heap = [(per_parent.get(i, 0), rank, i) for rank, i in enumerate(parents)]
                heapq.heapify(heap)
                while remaining[j] > 0 and heap:
                    uses, rank, i = heapq.heappop(heap)
                    if not variant(i):
                        continue  # this parent gives no more distinct texts
                    for jj in np.flatnonzero(lab[i]).tolist():
                        if jj in remaining:
                            remaining[jj] -= 1
                    heapq.heappush(heap, (uses + 1, rank, i))
                if remaining[j] > 0:
                    logger.warning(
                        "augment: %s is %d rows short (its %d parents gave no more distinct texts)",
                        schema.names[j],
                        remaining[j],
                        sizes[j],
                    )
        texts = [detokenize(t) for t in out_tokens]
        return _augmented_dataset(dataset, out_parent, texts, out_ops, out_k)


def _augmented_dataset(
    dataset: EmotionDataset,
    parents: list[int],
    texts: list[str],
    ops: list[str],
    ks: list[int],
) -> EmotionDataset:
    assert dataset.labels is not None
    pids = [dataset.ids[i] for i in parents]
    return EmotionDataset(
        texts,
        labels=dataset.labels[np.asarray(parents, dtype=np.int64)].reshape(-1, len(dataset.schema)),
        source="augmented",
        ids=[f"{p}#aug{k}" for p, k in zip(pids, ks, strict=True)],
        parent_id=pids,
        meta={"aug_op": ops},
        schema=dataset.schema,
    )
