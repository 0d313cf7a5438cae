import numpy as np
import pandas as pd
import pytest

from emobalance.data.dataset import EmotionDataset
from emobalance.labels import LABELS, names_to_matrix


def _votes_from(annotations):
    """{(id, annotator): [chosen labels]} -> a long vote table with all 28 labels."""
    rows = [
        (tid, ann, lab, int(lab in chosen))
        for (tid, ann), chosen in annotations.items()
        for lab in LABELS
    ]
    return pd.DataFrame(rows, columns=["id", "annotator", "label", "vote"])


def _candidates():
    texts = ["my dog died today", "finally home, what a relief", "that is so gross", "meh"]
    intended = ["grief", "relief", "disgust", "grief"]
    return EmotionDataset(
        texts,
        names_to_matrix([[x] for x in intended]),
        source="generated",
        ids=["g1", "g2", "g3", "g4"],
        teacher_score=np.array([0.9, 0.8, 0.75, np.nan]),
        meta={"intended": intended, "model": ["qwen"] * 4},
    )


# ------------------------------------------------------------------------------ majority


@pytest.fixture(name="votes_from")
def votes_from_fixture():
    return _votes_from


@pytest.fixture(name="candidates")
def candidates_fixture():
    return _candidates
