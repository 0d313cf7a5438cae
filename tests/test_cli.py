import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import emobalance
from emobalance.cli import main

SCRIPT = Path(sys.executable).parent / "emobalance"


def run_main(argv, capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (0 if code is None else code), out, err


@pytest.fixture
def no_real_data(monkeypatch, tmp_path):
    """Nothing to find and nowhere to download from: the CLI must fail fast and cleanly."""
    monkeypatch.delenv("EMOBALANCE_DATA", raising=False)
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path / "cache"))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    monkeypatch.setenv("EMOBALANCE_GOEMOTIONS_URL", f"http://127.0.0.1:{port}/none")


def test_version(capsys):
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"emobalance {emobalance.__version__}"


def test_help(capsys):
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    assert "Usage" in out and "data" in out
    code, out, _ = run_main(["data", "stats", "--help"], capsys)
    assert code == 0
    assert "--split" in out and "--json" in out and "--plot" in out


@pytest.mark.data
def test_data_stats_json_real_train(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("EMOBALANCE_DATA", str(data_dir))
    code, out, err = run_main(["data", "stats", "--split", "train", "--json"], capsys)
    assert code == 0, err
    stats = json.loads(out)
    assert {"n", "label_counts", "mean_ir", "max_ir", "cvir", "scumble", "cardinality"} <= set(
        stats
    )
    assert stats["n"] == 43410
    assert stats["label_counts"]["neutral"] == 14219
    assert stats["label_counts"]["grief"] == 77
    assert stats["max_ir"] == pytest.approx(14219 / 77)


def test_data_stats_table_and_plot_on_fixture(fixtures_dir, no_real_data, tmp_path, capsys):
    plot = tmp_path / "out" / "counts.png"
    code, out, err = run_main(
        ["data", "stats", "--split", str(fixtures_dir / "goemotions" / "train.tsv"), "--plot",
         str(plot)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "MeanIR" in out and "grief" in out
    assert "plot written to" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in plot.parent.iterdir()] == ["counts.png"]


def test_data_stats_data_dir_json(fixtures_dir, no_real_data, capsys):
    code, out, _ = run_main(
        ["data", "stats", "--split", "dev", "--data-dir", str(fixtures_dir / "goemotions"),
         "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0
    stats = json.loads(out)
    assert stats["n"] == 3 and stats["label_counts"]["neutral"] == 1


@pytest.mark.data
def test_data_stats_plot_real(data_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("EMOBALANCE_DATA", str(data_dir))
    plot = tmp_path / "dev.png"
    code, out, _ = run_main(
        ["data", "stats", "--split", "dev", "--json", "--plot", str(plot)], capsys
    )
    assert code == 0
    assert json.loads(out)["n"] == 5426
    assert plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--split", "validation"], "validation: not a split (train, dev, test)"),
        (["--split", "{fixtures}/goemotions_bad/label_28.tsv"], "line 2: label id 28"),
        (["--split", "{fixtures}/datasets/texts.txt"], "unsupported file type"),
        (["--split", "train", "--data-dir", "{tmp}/nowhere"], "no such file"),
        (["--split", "train"], "EMOBALANCE_DATA"),  # not found locally, download refused
    ],
)
def test_data_stats_errors_are_one_line(args, needle, fixtures_dir, no_real_data, tmp_path, capsys):
    argv = ["data", "stats"] + [a.format(fixtures=fixtures_dir, tmp=tmp_path) for a in args]
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert needle in lines[0]
    assert "Traceback" not in err
    assert not any((tmp_path / "cache").rglob("*.tsv*"))


def test_console_script_error_without_traceback(tmp_path):
    if not SCRIPT.exists():
        pytest.skip("the emobalance console script is not installed beside this python")
    env = {**os.environ, "EMOBALANCE_CACHE": str(tmp_path / "cache")}
    env.pop("EMOBALANCE_DATA", None)
    proc = subprocess.run(
        [str(SCRIPT), "data", "stats", "--split", str(tmp_path / "missing.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    version = subprocess.run(
        [str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (
        version.returncode == 0 and version.stdout.strip() == f"emobalance {emobalance.__version__}"
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--out", "{tmp}/m", "--set", "train.epoch=3"],
         "--set: train.epoch: Extra inputs are not permitted"),
        (["train", "--out", "{tmp}/m", "--set", "train.epochs=2", "--set", "model.lstm_hidden=x"],
         "--set: model.lstm_hidden: Input should be a valid integer"),
        (["train", "--out", "{tmp}/m", "--epochs", "0"], "invalid value for epochs"),
        (["teacher", "train", "--out", "{tmp}/t", "--set", "teacher.lr=-1"], "teacher.lr"),
        (["balance", "--out", "{tmp}/b", "--set", "balance.undersample=some"],
         "--set: balance.undersample"),
        (["balance", "--out", "{tmp}/b", "--target", "lots"], "invalid value for target"),
        (["run", "--out", "{tmp}/r", "--set", "run.variants=[imbalanced, bert]"],
         "--set: run.variants.1"),
        (["run", "--out", "{tmp}/r", "--set", "runseeds"], "expected section.key=value"),
        (["run", "--out", "{tmp}/r", "--seeds", "0,x"], "--seeds: expected comma-separated"),
        (["run", "--out", "{tmp}/r", "--seeds", ","], "invalid value for seeds"),
        (["run", "--preset", "fast"], "unknown preset 'fast'"),
    ],
)  # fmt: skip
def test_set_errors_are_one_line_and_name_the_key(argv, needle, no_real_data, tmp_path, capsys):
    code, out, err = run_main([a.format(tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert needle in err
    assert not [p for p in tmp_path.iterdir() if p.name != "cache"]  # nothing was written


def test_set_is_offered_by_the_config_commands(capsys):
    for cmd in (["train"], ["teacher", "train"], ["balance"], ["run"]):
        code, out, _ = run_main([*cmd, "--help"], capsys)
        assert code == 0 and "--set" in out and "SECTION.KEY=VALUE" in out, cmd


def test_balance_even_sets_the_evenly_distributed_shape_under_user_sets(monkeypatch, tmp_path,
                                                                         capsys):  # fmt: skip
    from emobalance import jobs
    from emobalance.config import EVEN_BALANCE

    seen = {}

    def fake_balance(cfg, out):
        seen["balance"] = cfg.balance
        raise SystemExit(0)

    monkeypatch.setattr(jobs, "balance", fake_balance)
    with pytest.raises(SystemExit):
        main(["balance", "--out", str(tmp_path / "b"), "--even",
              "--set", "balance.mean_ir_target=2"])  # fmt: skip
    b = seen["balance"]
    assert (b.strategy, b.undersample, b.sources) == (
        EVEN_BALANCE["strategy"],
        EVEN_BALANCE["undersample"],
        EVEN_BALANCE["sources"],
    )
    assert b.mean_ir_target == 2  # a --set item wins over the shape
    with pytest.raises(SystemExit):
        main(["balance", "--out", str(tmp_path / "b")])
    assert seen["balance"].strategy == "even" and seen["balance"].undersample == "none"
