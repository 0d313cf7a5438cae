"""The model family: every model fulfils :class:`~emobalance.models.base.EmotionModel`, over the
labels of its schema (``labels_``: GoEmotions' 28, or the user's own).

======================  =================================  ===================================
kind                    class                              module
======================  =================================  ===================================
``reference``           :class:`EmotionClassifier`         :mod:`.reference` (+ the network in
                                                           :mod:`.cnn_bilstm_attention`)
``transformer``         :class:`TransformerClassifier`     :mod:`.transformer`
``tfidf``               :class:`TfidfBaseline`             :mod:`.baselines`
``onnx``                :class:`OnnxEmotionClassifier`     :mod:`.onnx`
======================  =================================  ===================================

:func:`~emobalance.models.registry.load_model` loads any of them from disk. What every kind
gets from the base class: the long-text policy (:mod:`.long_text`), the calibration fitted on
dev (:mod:`.calibration`), user thresholds (:mod:`.thresholds`) and the top-k / Ekman /
sentiment views (:mod:`.views`).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {  # torch, scikit-learn and onnxruntime load only with the kind that needs them
    "EmotionModel": "base",
    "check_texts": "base",
    "EmotionClassifier": "reference",
    "TransformerClassifier": "transformer",
    "TfidfBaseline": "baselines",
    "OnnxEmotionClassifier": "onnx",
    "LongTextPolicy": "long_text",
    "PlattCalibration": "calibration",
    "load_model": "registry",
    "model_id": "registry",
    "register_kind": "registry",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
