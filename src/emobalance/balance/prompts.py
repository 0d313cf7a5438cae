"""Prompts of LLM generation: emotion definitions, the chat messages, the real examples shown.

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
from ..labels import label_id

__all__ = [
    "DEFAULT_PROMPT_TEMPLATE",
    "DEFAULT_SYSTEM_PROMPT",
    "EMOTION_DEFINITIONS",
    "TEMPLATE_FIELDS",
    "build_messages",
    "example_pools",
    "sample_examples",
]

# Definitions from the GoEmotions paper (Demszky et al., 2020, appendix), lower-cased.
EMOTION_DEFINITIONS: dict[str, str] = {
    "admiration": "finding something impressive or worthy of respect",
    "amusement": "finding something funny or being entertained",
    "anger": "a strong feeling of displeasure or antagonism",
    "annoyance": "mild anger, irritation",
    "approval": "having or expressing a favorable opinion",
    "caring": "displaying kindness and concern for others",
    "confusion": "lack of understanding, uncertainty",
    "curiosity": "a strong desire to know or learn something",
    "desire": "a strong feeling of wanting something or wishing for something to happen",
    "disappointment": "sadness or displeasure caused by the nonfulfillment of one's hopes or "
    "expectations",
    "disapproval": "having or expressing an unfavorable opinion",
    "disgust": "revulsion or strong disapproval aroused by something unpleasant or offensive",
    "embarrassment": "self-consciousness, shame, or awkwardness",
    "excitement": "feeling of great enthusiasm and eagerness",
    "fear": "being afraid or worried",
    "gratitude": "a feeling of thankfulness and appreciation",
    "grief": "intense sorrow, especially caused by someone's death",
    "joy": "a feeling of pleasure and happiness",
    "love": "a strong positive emotion of regard and affection",
    "nervousness": "apprehension, worry, anxiety",
    "optimism": "hopefulness and confidence about the future or the success of something",
    "pride": "pleasure or satisfaction due to one's own achievements or the achievements of "
    "those with whom one is closely associated",
    "realization": "becoming aware of something",
    "relief": "reassurance and relaxation following release from anxiety or distress",
    "remorse": "regret or guilty feeling",
    "sadness": "emotional pain, sorrow",
    "surprise": "feeling astonished, startled by something unexpected",
    "neutral": "no particular emotion; a matter-of-fact remark",
}
"""A short definition of each of the 28 labels, used in the default prompt."""


def build_messages(
    emotion: str, examples: Sequence[str], n: int, config: GenerationConfig | None = None
) -> list[dict[str, str]]:
    """The chat messages asking for ``n`` texts expressing ``emotion``.

    Parameters
    ----------
    emotion : str
        One of :data:`LABELS`.
    examples : sequence of str
        Real texts of that emotion shown as style anchors (may be empty).
    n : int
        Texts asked for.
    config : GenerationConfig, optional
        Supplies ``system_prompt`` and ``prompt_template``; defaults otherwise.

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
        n=n, emotion=emotion, definition=EMOTION_DEFINITIONS[emotion], examples=block
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
        The emotions to make pools for.
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
        has = lab[:, label_id(emotion)] == 1
        rows = np.flatnonzero(has)
        for narrower in (has & single & fits, has & fits, has & single):
            if narrower.sum() >= k:
                rows = np.flatnonzero(narrower)
                break
        pools[emotion] = [examples.texts[i] for i in rows]
    return pools


def sample_examples(pool: list[str], k: int, seed: int, emotion: str, index: int) -> list[str]:
    """``k`` texts of ``pool`` (all when fewer), drawn without replacement from a generator
    seeded by ``(seed, emotion, index)``, so each request has its own reproducible examples."""
    if not pool or k == 0:
        return []
    rng = np.random.default_rng([seed, label_id(emotion), index])
    pick = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return [pool[i] for i in pick]
