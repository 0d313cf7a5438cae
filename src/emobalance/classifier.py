"""Moved to :mod:`emobalance.models.reference` (this shim is removed at merge)."""

from .models.base import check_texts as _check_texts  # noqa: F401  (moved; shim removed at merge)
from .models.reference import MODEL_FILES, EmotionClassifier  # noqa: F401  (moved; shim removed at merge)
