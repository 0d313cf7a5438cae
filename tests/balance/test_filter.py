import numpy as np
import pytest

from emobalance.balance.filter import teacher_filter
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID, names_to_matrix
from emobalance.teachers import TeacherError


class KeywordTeacher:
    """grief 0.9 for texts with 'sure', 0.7 with 'maybe', else 0.1; relief always 0.8."""

    def predict_proba(self, texts):
        p = np.full((len(texts), 28), 0.1, dtype=np.float32)
        for i, t in enumerate(texts):
            p[i, LABEL_TO_ID["grief"]] = 0.9 if "sure" in t else 0.7 if "maybe" in t else 0.1
        p[:, LABEL_TO_ID["relief"]] = 0.8
        return p


def _candidates():
    texts = ["sure grief", "maybe grief", "no grief", "sure relief"]
    intended = ["grief", "grief", "grief", "relief"]
    return EmotionDataset(
        texts,
        names_to_matrix([[x] for x in intended]),
        source="generated",
        ids=[f"g{i}" for i in range(4)],
        meta={"intended": intended, "model": ["m"] * 4},
    )


def test_teacher_filter_keeps_confident_rows():
    out = teacher_filter(_candidates(), KeywordTeacher(), threshold=0.7)
    assert out.ids == ["g0", "g1", "g3"]  # 0.7 passes a 0.7 threshold
    np.testing.assert_allclose(out.teacher_score, [0.9, 0.7, 0.8], rtol=1e-6)
    assert out.meta["model"] == ["m"] * 3 and out.source == ["generated"] * 3
    assert teacher_filter(_candidates(), KeywordTeacher(), threshold=0.85).ids == ["g0"]


def test_teacher_filter_intended_from_labels_or_argument():
    c = _candidates()
    plain = EmotionDataset(c.texts, c.labels, ids=c.ids)  # no meta: labels are the intent
    assert teacher_filter(plain, KeywordTeacher(), 0.75).ids == ["g0", "g3"]
    both = [["grief", "relief"]] * 4  # several intended labels: the minimum counts
    out = teacher_filter(c, KeywordTeacher(), 0.75, intended=both, batch_size=3)
    assert out.ids == ["g0", "g3"]
    np.testing.assert_allclose(out.teacher_score, [0.8, 0.8], rtol=1e-6)
    assert len(teacher_filter(c.subset([]), KeywordTeacher())) == 0
    with pytest.raises(DataError, match="unknown intended label 'joyy'"):
        teacher_filter(c, KeywordTeacher(), intended=["joyy"] * 4)
    with pytest.raises(ConfigError):
        teacher_filter(c, KeywordTeacher(), threshold=1.5)


def test_teacher_filter_rejects_bad_teacher():
    class Wrong:
        def predict_proba(self, texts):
            return np.zeros((len(texts), 7), dtype=np.float32)

    with pytest.raises(TeacherError, match="shape"):
        teacher_filter(_candidates(), Wrong())
