"""Named partial configs: the presets of ``emobalance run``, the ``--even`` balance shape and
the polarity guard's ``run.external`` entry. Plain mappings, validated where they are used
(:func:`emobalance.config.load_config`); re-exported by :mod:`emobalance.config`."""

from __future__ import annotations

from typing import Any

POLARITY_GUARD_ENTRY: dict[str, Any] = {
    "name": "sentiment140_polarity_guard",
    "path": "sentiment140_polarity_guard",
    "label_map": "polarity",
}
"""The Sentiment140 polarity guard as a ``run.external`` entry (both presets have it)."""


EVEN_BALANCE: dict[str, Any] = {
    "strategy": "mean_ir",
    "mean_ir_target": 1.5,
    "undersample": "above_target",
    "sources": ["pseudo_label", "generated", "augment", "oversample"],
}
"""The evenly distributed shape (``emobalance balance --even``): MeanIR <= 1.5 by undersampling
the frequent labels and filling the rare ones from every source. It is the shape some users
want; on dev it scored below the default (docs/BENCHMARKS.md, "Balancing settings tried")."""


PRESETS: dict[str, dict[str, Any]] = {
    # what `make run` runs: one seed, fewer epochs, the in-run teacher (<= 15 min)
    "quick": {
        "run": {"seeds": [0], "variants": ["imbalanced", "balanced", "tfidf"], "bootstrap": 500,
                # inference only: 5,000 held-out tweets per model, a few seconds each
                "external": [POLARITY_GUARD_ENTRY]},
        "train": {"epochs": 8},
        # the in-run teacher (this run's reference + TF-IDF): fine-tuning MiniLM would not fit
        "balance": {"teacher": "ensemble"},
        "distill": {"teacher": "ensemble"},
    },
    # the table in the README: 5 seeds, all ablations, BalanceConfig's recipe as it is
    "paper": {
        "run": {
            "seeds": [0, 1, 2, 3, 4],
            "variants": ["imbalanced", "balanced", "no_attention", "no_conv", "no_pretrained",
                         "tfidf", "distilled"],
            "bootstrap": 1000,
            "external": [POLARITY_GUARD_ENTRY],
        },
    },
    # a user's own labelled data (the `data:` section): the default balancing recipe with a
    # teacher fine-tuned on that train split, TF-IDF, and the teacher itself; dev selects
    "own": {
        "run": {"seeds": [0], "variants": ["imbalanced", "balanced", "tfidf", "teacher"],
                "bootstrap": 500},
    },
}  # fmt: skip
"""Named partial configs for ``emobalance run --preset``: only what differs from the defaults."""
