"""Cross-dataset evaluation (label maps, external datasets) and comparisons over seeds.

- :mod:`~emobalance.evaluation.label_maps`: :class:`LabelMap` (GoEmotions -> another label
  set; max of member probabilities, OR of member predictions), the built-in maps and YAML
  user maps;
- :mod:`~emobalance.evaluation.datasets`: :func:`read_external` (CSV/TSV/JSONL/Parquet,
  single- or multi-label) and the built-in ``sentiment140_polarity_guard``;
- :mod:`~emobalance.evaluation.external`: :func:`evaluate_external` (the dict of
  ``emobalance evaluate --data ... --json``) and :func:`plot_confusion`;
- :mod:`~emobalance.evaluation.significance`: :func:`paired_seed_test` (paired t-test and
  exact Wilcoxon over seeds), :func:`compare_variants` (every variant vs a baseline on a
  run's ``metrics.json`` entries) and :func:`select_by_dev`.
"""

from .datasets import ExternalDataset, load_external, read_external
from .external import evaluate_external, plot_confusion
from .label_maps import BUILTIN_MAPS, LabelMap, get_label_map, read_label_map
from .significance import compare_variants, paired_seed_test, select_by_dev

__all__ = [
    "BUILTIN_MAPS",
    "ExternalDataset",
    "LabelMap",
    "compare_variants",
    "evaluate_external",
    "get_label_map",
    "load_external",
    "paired_seed_test",
    "plot_confusion",
    "read_external",
    "read_label_map",
    "select_by_dev",
]
