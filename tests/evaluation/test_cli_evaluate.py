"""``emobalance evaluate MODEL --data FILE --label-map MAP``: the CLI face of evaluate_external."""

from __future__ import annotations

import json

import pytest

from emobalance.cli import main
from emobalance.evaluation import evaluate_external

from .conftest import ScriptedModel


def run(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_json_is_the_api_dict(scripted_dir, external_dir, capsys):
    data = str(external_dir / "polarity_abstain.jsonl")
    code, out, _ = run(["evaluate", str(scripted_dir), "--data", data, "--label-map",
                        "polarity", "--abstain", "neutral", "--json"], capsys)  # fmt: skip
    assert code == 0
    got = json.loads(out)
    assert got == evaluate_external(ScriptedModel({"annoyance": 0.3}), data, "polarity",
                                    abstain="neutral")  # fmt: skip
    assert got["macro_f1"] == pytest.approx(7 / 9) and got["accuracy"] == pytest.approx(0.8)


def test_tables_and_plot_multi_label(scripted_dir, external_dir, tmp_path, capsys):
    png = tmp_path / "cm.png"
    code, out, _ = run(["evaluate", str(scripted_dir), "--data", str(external_dir / "multi.csv"),
                        "--label-map", str(external_dir / "multi_map.yaml"), "--label-column",
                        "emotions", "--multi-label", "--label-sep", "|", "--plot", str(png)],
                       capsys)  # fmt: skip
    assert code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "macro_f1" in out and f"{53 / 63:.4f}" in out and f"{6 / 7:.4f}" in out
    assert "scared (no support)" in out and "bored: 2" in out
    assert f"confusion matrix written to {png}" in out


def test_single_label_table(scripted_dir, external_dir, capsys):
    code, out, _ = run(
        [
            "evaluate",
            str(scripted_dir),
            "--data",
            str(external_dir / "single.csv"),
            "--label-map",
            "ekman6",
        ],
        capsys,
    )
    assert code == 0
    assert "0.8000" in out and f"{7 / 9:.4f}" in out and "love: 1" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{ext}/single.csv"], "--data needs --label-map"),
        (["--label-map", "ekman"], "--label-map: only with --data (an external dataset)"),
        (["--data", "{ext}/single.csv", "--label-map", "ekman", "--split", "dev"],
         "--split and --data cannot be combined"),
        (["--data", "{ext}/single.csv", "--label-map", "ekmen"], "unknown label map 'ekmen'"),
        (["--data", "{ext}/single.csv", "--label-map", "{ext}/bad_map_unknown.yaml"],
         "{ext}/bad_map_unknown.yaml: line 4: target 'angry': unknown GoEmotions label 'angr'"),
        (["--data", "{ext}/single.csv", "--label-map", "{ext}/bad_map_empty.yaml"],
         "{ext}/bad_map_empty.yaml: line 3: target 'sad' has no GoEmotions labels"),
        (["--data", "{ext}/bad_no_label_column.csv", "--label-map", "ekman"],
         "{ext}/bad_no_label_column.csv: line 1: no column 'label'"),
        (["--data", "{ext}/bad_several_labels.csv", "--label-map", "ekman"],
         "{ext}/bad_several_labels.csv: line 3: several labels in column 'label'"),
        (["--data", "{ext}/bad_empty.csv", "--label-map", "ekman"],
         "{ext}/bad_empty.csv: empty file"),
        (["--data", "{ext}/bad_header_only.csv", "--label-map", "ekman"],
         "{ext}/bad_header_only.csv: no rows"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(scripted_dir, external_dir, capsys, args, message):
    argv = ["evaluate", str(scripted_dir), *(a.replace("{ext}", str(external_dir)) for a in args)]
    code, out, err = run(argv, capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message.replace("{ext}", str(external_dir)) in lines[0]


def test_a_real_model_through_the_registry(tmp_path, external_dir, capsys):
    # a TF-IDF model saved and loaded as any model is: the flags reach evaluate_external
    from emobalance.data import goemotions
    from emobalance.models.baselines import TfidfBaseline

    fx = external_dir.parent / "goemotions"
    TfidfBaseline().fit(goemotions.read_tsv(fx / "train.tsv"),
                        goemotions.read_tsv(fx / "dev.tsv")).save(tmp_path / "m")  # fmt: skip
    data = tmp_path / "d.tsv"
    data.write_text("words\tgold\nthanks a lot\tjoy\nI hate this\tanger\nok\tneutral\n")
    code, out, _ = run(["evaluate", str(tmp_path / "m"), "--data", str(data), "--label-map",
                        "ekman", "--text-column", "words", "--label-column", "gold", "--json"],
                       capsys)  # fmt: skip
    assert code == 0
    got = json.loads(out)
    assert got == evaluate_external(tmp_path / "m", data, "ekman", text_column="words",
                                    label_column="gold")  # fmt: skip
    assert got["n_scored"] == 3 and sum(map(sum, got["confusion_matrix"]["matrix"])) == 3
