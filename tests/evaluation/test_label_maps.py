import json

import pytest

from emobalance.errors import ConfigError
from emobalance.evaluation import BUILTIN_MAPS, get_label_map, read_label_map
from emobalance.labels import LABELS


def test_builtin_maps():
    ekman = get_label_map("ekman")
    assert ekman.labels == ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
    assert get_label_map("EKMAN6").labels == ekman.labels[:-1]
    assert get_label_map("sentiment").labels == ("positive", "negative", "ambiguous", "neutral")
    polarity = get_label_map("polarity")
    assert polarity.labels == ("positive", "negative")
    assert polarity.targets["negative"] == get_label_map("sentiment").targets["negative"]
    plutchik = get_label_map("plutchik")
    assert plutchik.unmapped == ("anticipation",) and "trust" in plutchik.labels
    for name, targets in BUILTIN_MAPS.items():  # every member is a GoEmotions label
        assert {m for ms in targets.values() for m in ms} <= set(LABELS), name
    # ekman covers every label exactly once, as GoEmotions' own mapping does
    members = [m for ms in ekman.targets.values() for m in ms]
    assert sorted(members) == sorted(LABELS)


def test_ekman_and_sentiment_equal_the_goemotions_files(data_dir):
    # the package ships these maps; the release's files, where present, must agree
    for name, file in (("ekman", "ekman_mapping.json"), ("sentiment", "sentiment_dict.json")):
        official = json.loads((data_dir / "goemotions" / file).read_text())
        shipped = get_label_map(name).to_dict()
        assert shipped.pop("neutral") == ["neutral"]
        assert {k: sorted(v) for k, v in shipped.items()} == {
            k: sorted(v) for k, v in official.items()
        }


def test_user_map(external_dir):
    m = read_label_map(external_dir / "multi_map.yaml")
    assert m.to_dict() == {"happy": ["joy", "amusement"], "angry": ["anger", "annoyance"],
                           "sad": ["sadness"], "scared": ["fear"]}  # fmt: skip
    assert get_label_map(str(external_dir / "multi_map.yaml")).labels == m.labels


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_map_unknown.yaml",
         "line 4: target 'angry': unknown GoEmotions label 'angr'; expected one of admiration"),
        ("bad_map_empty.yaml", "line 3: target 'sad' has no GoEmotions labels"),
        ("bad_map_null.yaml", "line 2: target 'sad' has no GoEmotions labels"),
    ],
)  # fmt: skip
def test_bad_map_files_name_the_line(external_dir, name, message):
    path = external_dir / name
    with pytest.raises(ConfigError) as info:
        read_label_map(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}") and "\n" not in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty label map"),
        ("- joy\n- anger\n", "line 1: expected a mapping of target: [goemotions labels]"),
        ("happy: [joy]\nhappy: [love]\n", "line 2: target 'happy' appears twice"),
        ("happy: {a: joy}\n", "line 1: target 'happy': expected a list of GoEmotions labels"),
        ("happy:\n  - [joy]\n", "line 2: target 'happy': expected a GoEmotions label name"),
        ("happy: [joy\n", "invalid YAML (line 2, column 1:"),
    ],
)
def test_malformed_map_files(tmp_path, content, message):
    path = tmp_path / "map.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        read_label_map(path)
    assert str(info.value).startswith(f"{path}: {message}")


def test_unknown_map_name_lists_the_builtins():
    with pytest.raises(ConfigError, match="unknown label map 'ekmen': not a built-in map "
                       r"\(ekman, ekman6, sentiment, polarity, plutchik\)"):  # fmt: skip
        get_label_map("ekmen")
