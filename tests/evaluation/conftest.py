"""A scripted model for hand-computed evaluations: each text spells out its probabilities."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emobalance.labels import GOEMOTIONS, LabelSchema
from emobalance.models.base import EmotionModel, check_texts

EXTERNAL = Path(__file__).parents[1] / "fixtures" / "external"
BASELINE = 0.01  # the probability of every label a text does not name


class ScriptedModel(EmotionModel):
    """An :class:`EmotionModel` whose text ``"joy=0.9 anger=0.2"`` gets p(joy) = 0.9,
    p(anger) = 0.2 and :data:`BASELINE` elsewhere, so every expected number can be worked
    out by hand. With ``schema`` it speaks that schema's labels (its ``labels_``); without,
    GoEmotions' 28 as a model of before schemas (no ``labels_``)."""

    kind = "scripted"

    def __init__(
        self, thresholds: dict[str, float] | None = None, schema: LabelSchema | None = None
    ) -> None:
        if schema is not None:
            self.labels_ = schema
        self.schema = schema or GOEMOTIONS
        self.thresholds_ = np.full(len(self.schema), 0.5, dtype=np.float32)
        for name, t in (thresholds or {}).items():
            self.thresholds_[self.schema.label_id(name)] = t
        self.metrics_ = {}
        self.calls: list[list[str]] = []

    def predict_proba(self, texts, batch_size=None) -> np.ndarray:
        texts = check_texts(texts)
        self.calls.append(texts)
        out = np.full((len(texts), len(self.schema)), BASELINE, dtype=np.float32)
        for i, text in enumerate(texts):
            for item in text.split():
                name, _, p = item.partition("=")
                out[i, self.schema.label_id(name)] = float(p)
        return out

    def save(self, path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "scripted.json").write_text(json.dumps(self.thresholds_.tolist()))
        return path

    @classmethod
    def load(cls, path) -> ScriptedModel:
        model = cls()
        model.thresholds_ = np.array(
            json.loads((Path(path) / "scripted.json").read_text()), dtype=np.float32
        )
        return model


@pytest.fixture
def external_dir() -> Path:
    """``tests/fixtures/external``."""
    return EXTERNAL


@pytest.fixture
def scripted_dir(tmp_path, monkeypatch) -> Path:
    """A saved :class:`ScriptedModel` (annoyance threshold 0.3) that ``load_model`` loads,
    as the CLI does for every kind."""
    import emobalance.models.registry as registry

    path = ScriptedModel({"annoyance": 0.3}).save(tmp_path / "scripted")
    real = registry.load_model

    def load_model(p, *args, **kwargs):
        if (Path(p) / "scripted.json").is_file():
            return ScriptedModel.load(p)
        return real(p, *args, **kwargs)

    monkeypatch.setattr(registry, "load_model", load_model)
    return path
