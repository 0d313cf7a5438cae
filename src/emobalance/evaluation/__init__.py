"""Cross-dataset evaluation: label maps and external datasets.

- :mod:`~emobalance.evaluation.label_maps`: :class:`LabelMap` (GoEmotions -> another label
  set; max of member probabilities, OR of member predictions), the built-in maps and YAML
  user maps;
- :mod:`~emobalance.evaluation.datasets`: :func:`read_external` (CSV/TSV/JSONL/Parquet,
  single- or multi-label) and the built-in ``sentiment140_polarity_guard``;
- :mod:`~emobalance.evaluation.external`: :func:`evaluate_external` (the dict of
  ``emobalance evaluate --data ... --json``) and :func:`plot_confusion`.
"""

from .datasets import ExternalDataset, load_external, read_external
from .external import evaluate_external, plot_confusion
from .label_maps import BUILTIN_MAPS, LabelMap, get_label_map, read_label_map

__all__ = [
    "BUILTIN_MAPS",
    "ExternalDataset",
    "LabelMap",
    "evaluate_external",
    "get_label_map",
    "load_external",
    "plot_confusion",
    "read_external",
    "read_label_map",
]
