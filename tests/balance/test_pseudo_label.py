import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emobalance.balance.pseudo_label import assign_labels, pseudo_label, score_corpus
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID
from emobalance.teachers import TeacherError


class HashTeacher:
    """Deterministic fake teacher: probabilities derived from the text's characters."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def predict_proba(self, texts):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("killed")  # what a kill looks like from inside
        out = np.zeros((len(texts), 28), dtype=np.float32)
        for i, t in enumerate(texts):
            rng = np.random.default_rng(sum(map(ord, t)))
            out[i] = rng.random(28) ** 3
        return out


def corpus(n: int) -> EmotionDataset:
    texts = [f"tweet number {i} {'!' * (i % 7)}" for i in range(n)]
    polarity = [0, 4] * (n // 2) + [0] * (n % 2)
    return EmotionDataset(texts, None, source="sentiment140", meta={"polarity": polarity})


def test_thresholds_and_provenance():
    c = corpus(50)
    out = pseudo_label(c, HashTeacher(), threshold=0.7, progress=False)
    proba = HashTeacher().predict_proba(c.texts)
    proba[:, LABEL_TO_ID["neutral"]] = 0
    keep = np.flatnonzero((proba >= 0.7).any(1))
    assert out.ids == [c.ids[i] for i in keep]
    np.testing.assert_array_equal(out.labels, (proba[keep] >= 0.7).astype(np.uint8))
    assert np.all(out.teacher_score >= 0.7)
    np.testing.assert_allclose(
        out.teacher_score, np.where(proba[keep] >= 0.7, proba[keep], 0).max(1)
    )
    assert set(out.source) == {"sentiment140"} and "polarity" in out.meta


def test_per_label_override():
    c = corpus(40)
    proba = HashTeacher().predict_proba(c.texts)
    out = assign_labels(c, proba, threshold=0.99, thresholds={"joy": 0.1})
    assert out.label_counts()["joy"] == int((proba[:, LABEL_TO_ID["joy"]] >= 0.1).sum())
    # a config key (balance.pseudo_label.thresholds): a ConfigError naming the setting
    with pytest.raises(ConfigError, match="thresholds: unknown label 'happiness'"):
        assign_labels(c, proba, thresholds={"happiness": 0.5})


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 60), part=st.integers(1, 25), batch=st.integers(1, 9),
       kill=st.integers(1, 8))  # fmt: skip
def test_resume_after_kill_equals_uninterrupted(tmp_path_factory, n, part, batch, kill):
    d = tmp_path_factory.mktemp("pl")
    c = corpus(n)
    full = score_corpus(c, HashTeacher(), None, batch_size=batch, part_rows=part, progress=False)
    with contextlib.suppress(KeyboardInterrupt):
        score_corpus(c, HashTeacher(fail_after=kill), d, batch_size=batch, part_rows=part,
                     teacher_name="t", progress=False)  # fmt: skip
    assert not [p for p in d.iterdir() if p.name.startswith(".")]  # no partial part files
    resumed_teacher = HashTeacher()
    resumed = score_corpus(c, resumed_teacher, d, batch_size=batch, part_rows=part,
                           teacher_name="t", progress=False)  # fmt: skip
    np.testing.assert_array_equal(resumed, full)
    # a third run reads every part and asks the teacher nothing
    again = HashTeacher()
    score_corpus(c, again, d, batch_size=batch, part_rows=part, teacher_name="t", progress=False)
    assert again.calls == 0


def test_manifest_mismatch_and_bad_input(tmp_path):
    c = corpus(10)
    score_corpus(c, HashTeacher(), tmp_path, part_rows=4, teacher_name="t", progress=False)
    with pytest.raises(DataError, match="fingerprint"):
        score_corpus(corpus(11), HashTeacher(), tmp_path, part_rows=4, teacher_name="t",
                     progress=False)  # fmt: skip
    with pytest.raises(DataError, match="empty"):
        score_corpus(corpus(0), HashTeacher(), None)


def test_wrong_shape_teacher_rejected():
    class Bad:
        def predict_proba(self, texts):
            return np.zeros((len(texts), 27))

    with pytest.raises(TeacherError, match=r"shape \(5, 27\)"):
        pseudo_label(corpus(5), Bad(), progress=False)
