import pytest

from emobalance.config import DEFAULT_VECTORS, EmobalanceConfig, ModelConfig, TrainConfig
from emobalance.errors import ConfigError


def test_defaults_are_valid_and_round_trip(tmp_path):
    cfg = EmobalanceConfig()
    p = tmp_path / "run.yaml"
    p.write_text(cfg.to_yaml())
    assert EmobalanceConfig.from_yaml(p) == cfg


def test_unknown_or_bad_field_names_the_field(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model:\n  lstm_hiden: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*model\.lstm_hiden"):
        EmobalanceConfig.from_yaml(p)
    p.write_text("train:\n  loss: hinge\n")
    with pytest.raises(ConfigError, match=r"train\.loss"):
        EmobalanceConfig.from_yaml(p)
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        EmobalanceConfig.from_yaml(p)
    with pytest.raises(ConfigError, match="no such file"):
        EmobalanceConfig.from_yaml(tmp_path / "missing.yaml")


def test_vectors_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOBALANCE_DATA", str(tmp_path))
    assert ModelConfig().resolve_vectors() is None  # auto, file absent -> train fastText
    f = tmp_path / DEFAULT_VECTORS
    f.parent.mkdir(parents=True)
    f.write_text("")
    assert ModelConfig().resolve_vectors() == str(f)
    assert ModelConfig(pretrained=False).resolve_vectors() is None
    assert ModelConfig(vectors="my.vec").resolve_vectors() == "my.vec"


def test_train_config_bounds():
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError):
        ModelConfig(conv_kernel_sizes=[])
