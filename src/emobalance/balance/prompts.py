"""Prompts of LLM generation: label definitions, the chat messages, the real examples shown.

A label's definition is its schema's description (``schema.descriptions``; GoEmotions' come
from the paper), or the label name itself where the schema has none.

The default system prompt and user template are the defaults of
:class:`~emobalance.config.GenerationConfig` (``DEFAULT_SYSTEM_PROMPT`` and
``DEFAULT_PROMPT_TEMPLATE`` of :mod:`emobalance.config`, re-exported here).
:func:`build_messages` fills the template for one emotion; :func:`example_pools` and
:func:`sample_examples` pick the real training texts shown in each prompt as style anchors.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..config import (
    DEFAULT_PROMPT_TEMPLATE,
    DEFAULT_SYSTEM_PROMPT,
    TEMPLATE_FIELDS,
    GenerationConfig,
)
from ..data.dataset import EmotionDataset
from ..errors import DataError
from ..labels import GOEMOTIONS, LabelSchema

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "DEFAULT_SYSTEM_PROMPT",
    "EMOTION_DEFINITIONS",
    "TEMPLATE_FIELDS",
    "build_messages",
    "example_pools",
    "label_definition",
    "sample_examples",
]

EMOTION_DEFINITIONS: dict[str, str] = GOEMOTIONS.descriptions
"""GoEmotions' label definitions (an alias of ``GOEMOTIONS.descriptions``, kept for users)."""


def label_definition(schema: LabelSchema, emotion: str) -> str:
    """The definition shown in a prompt: the schema's description of ``emotion``, else the
    label name itself (``"the emotion 'anticipation'"``)."""
    name = schema.names[schema.label_id(emotion, what="emotion")]
    return schema.descriptions.get(name) or f"the emotion {name!r}"


def build_messages(
    emotion: str,
    examples: Sequence[str],
    n: int,
    config: GenerationConfig | None = None,
    schema: LabelSchema = GOEMOTIONS,
) -> list[dict[str, str]]:
    """The chat messages asking for ``n`` texts expressing ``emotion``.

    Parameters
    ----------
    emotion : str
        A label of ``schema``.
    examples : sequence of str
        Real texts of that emotion shown as style anchors (may be empty).
    n : int
        Texts asked for.
    config : GenerationConfig, optional
        Supplies ``system_prompt`` and ``prompt_template``; defaults otherwise.
    schema : LabelSchema, default=GOEMOTIONS
        Supplies the definition (:func:`label_definition`).

    Returns
    -------
    list of dict
        ``[{"role": "system", ...}, {"role": "user", ...}]``.
    """
    cfg = config or GenerationConfig()
    block = ""
    if examples:
        lines = "\n".join(f"- {' '.join(t.split())}" for t in examples)
        block = f"Real comments expressing {emotion}, for style only (do not copy them):\n{lines}\n"
    user = cfg.prompt_template.format(
        n=n, emotion=emotion, definition=label_definition(schema, emotion), examples=block
    )
    return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]


def example_pools(
    examples: EmotionDataset | None, emotions: Iterable[str], cfg: GenerationConfig
) -> dict[str, list[str]]:
    """Per emotion, the real texts that prompt examples are drawn from.

    Rows carrying the emotion are narrowed, when enough remain (``examples_per_prompt``), to
    single-label rows of a length within ``[min_chars, max_chars]``, then to rows of that
    length, then to single-label rows.

    Parameters
    ----------
    examples : EmotionDataset or None
        Labelled real texts; ``None`` or empty gives empty pools.
    emotions : iterable of str
        The emotions to make pools for (labels of ``examples.schema``).
    cfg : GenerationConfig
        Supplies ``examples_per_prompt``, ``min_chars`` and ``max_chars``.

    Returns
    -------
    dict of str to list of str

    Raises
    ------
    DataError
        If ``examples`` is unlabelled.
    """
    pools: dict[str, list[str]] = {e: [] for e in emotions}
    if examples is None or len(examples) == 0 or cfg.examples_per_prompt == 0:
        return pools
    if examples.labels is None:
        raise DataError("the examples dataset must be labelled")
    lab = examples.labels
    single = lab.sum(axis=1) == 1
    lengths = np.fromiter((len(t) for t in examples.texts), dtype=np.int64, count=len(examples))
    fits = (lengths >= cfg.min_chars) & (lengths <= cfg.max_chars)
    k = cfg.examples_per_prompt
    for emotion in pools:
        has = lab[:, examples.schema.label_id(emotion)] == 1
        rows = np.flatnonzero(has)
        for narrower in (has & single & fits, has & fits, has & single):
            if narrower.sum() >= k:
                rows = np.flatnonzero(narrower)
                break
        pools[emotion] = [examples.texts[i] for i in rows]
    return pools


def sample_examples(
    pool: list[str],
    k: int,
    seed: int,
    emotion: str,
    index: int,
    schema: LabelSchema = GOEMOTIONS,
) -> list[str]:
    """``k`` texts of ``pool`` (all when fewer), drawn without replacement from a generator
    seeded by ``(seed, emotion's id in schema, index)``, so each request has its own
    reproducible examples."""
    if not pool or k == 0:
        return []
    rng = np.random.default_rng([seed, schema.label_id(emotion), index])
    pick = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[i] for i in pick]
