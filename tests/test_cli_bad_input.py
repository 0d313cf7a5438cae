"""The bad-input campaign of issue 14, at the CLI: every command, bad options, missing files,
bad ranges, bad configs and vectors. Each case exits 2 with exactly one line ``error: ...``
on stderr that names the option, file or field, no traceback, and creates no file."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from emobalance.cli import main

FIX = Path(__file__).parent / "fixtures"
FX = FIX / "cli"
TINY = ["train", "--train", f"{FIX}/goemotions/train.tsv", "--dev", f"{FIX}/goemotions/dev.tsv",
        "--config", f"{FX}/config_tiny.yaml", "--out", "{tmp}/m"]  # fmt: skip

CASES = [
    # ---- usage errors of click: one line, not a 5-line box
    (["frobnicate"], "no such command 'frobnicate' (see 'emobalance --help')"),
    (["data", "frob"], "no such command 'frob'"),
    (["--frob"], "no such option: --frob"),
    (["predict"], "give either texts as arguments or --input FILE"),
    (["train"], "missing option '--out'"),
    (["explain", "{tmp}/m"], "give the text to explain"),
    (["evaluate"], "missing argument 'model_dir'"),
    (["data", "stats", "--split"], "option '--split' requires an argument"),
    (["train", "--out", "{tmp}/m", "--epochs", "two"], "invalid value for '--epochs'"),
    (["predict", "{tmp}/m", "x", "--batch-size", "-5"], "invalid value for '--batch-size'"),
    (["predict", "{tmp}/m", "x", "--batch-size", "0"], "invalid value for '--batch-size'"),
    (["predict", "{tmp}/m", "--input", "{tmp}/in.txt", "--output", "{tmp}/o.csv",
      "--chunk-size", "0"], "invalid value for '--chunk-size'"),
    (["predict", "{tmp}/m", "x", "--engine", "ray", "--workers", "0"],
     "invalid value for '--workers'"),
    (["predict", "{tmp}/m", "x", "--threads-per-worker", "100000"],
     "invalid value for '--threads-per-worker'"),
    (["predict", "{tmp}/m", "x", "--connect-timeout", "nan"],
     "invalid value for '--connect-timeout'"),
    (["predict", "{tmp}/m", "x", "--bach-size", "3"], "no such option: --bach-size"),
    (["serve", "{tmp}/m", "--port", "70000"], "invalid value for '--port'"),
    (["serve", "{tmp}/m", "--port", "-1"], "invalid value for '--port'"),
    (["serve", "{tmp}/m", "--max-texts", "0"], "invalid value for '--max-texts'"),
    (["serve", "{tmp}/m", "--threads", "0"], "invalid value for '--threads'"),
    # ---- options that mirror a config field: the field's bounds, named by the field
    (["train", "--out", "{tmp}/m", "--epochs", "0"], "invalid value for epochs"),
    (["train", "--out", "{tmp}/m", "--seed", "-1"], "invalid value for seed"),
    (["train", "--out", "{tmp}/m", "--distill-from", "tfidf", "--alpha", "nan"],
     "invalid value for alpha: Input should be a finite number"),
    (["train", "--out", "{tmp}/m", "--distill-from", "tfidf", "--temperature", "-1"],
     "invalid value for temperature"),
    (["teacher", "train", "--out", "{tmp}/t", "--epochs", "-3"], "invalid value for epochs"),
    (["balance", "--out", "{tmp}/b", "--target", "²"], "invalid value for target"),
    (["balance", "--out", "{tmp}/b", "--seed", "-2"], "invalid value for seed"),
    (["run", "--out", "{tmp}/r", "--seeds", "0,-1"], "invalid value for seeds.1"),
    # ---- conflicting or missing options
    (["train", "--out", "{tmp}/m", "--alpha", "0.5"], "need --distill-from"),
    (["train", "--out", "{tmp}/m", "--vectors", f"{FX}/vectors_unrelated.vec", "--set",
      "model.pretrained=false"], "--vectors conflicts with model.pretrained=false"),
    (["train", "--out", "{tmp}/m", "--vectors", "{tmp}/none.vec"], "vectors file not found"),
    (["predict", "{tmp}/m", "--input", "{tmp}/in.txt"], "--input needs --output"),
    (["predict", "{tmp}/m", "x", "--engine", "tensorrt"], "--engine: expected torch, onnx"),
    (["export", "{tmp}/m", "--format", "tflite"], "--format: only onnx"),
    (["export", "{tmp}/m", "--quantize", "int4"], "--quantize: only int8"),
    (["run", "--out", "{tmp}/r", "--preset", "fast"], "unknown preset 'fast'"),
    # ---- missing files
    (["evaluate", "{tmp}/missing"], "missing"),
    (["data", "stats", "--split", "{tmp}/missing.csv"], "not a split"),
    (["data", "stats", "--split", f"{FX}/config_inf_lr.yaml"], "unsupported file type"),
    (["train", "--out", "{tmp}/m", "--config", "{tmp}/missing.yaml"], "missing.yaml: no such file"),
    (["train", "--out", "{tmp}/m", "--set", "model.vectors={tmp}/gone.vec"],
     "model.vectors: {tmp}/gone.vec: no such file"),
    # ---- bad configs: named by the file and the field, before any work starts
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_utf16.yaml"],
     "config_utf16.yaml: not a UTF-8 text file"),
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_binary.yaml"],
     "config_binary.yaml: not a UTF-8 text file"),
    (["balance", "--out", "{tmp}/b", "--config", f"{FX}/config_control_chars.yaml"],
     "config_control_chars.yaml: invalid YAML (unacceptable character #x0000"),
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_inf_lr.yaml"],
     "train.lr: Input should be a finite number"),
    (["train", "--out", "{tmp}/m", "--distill-from", "tfidf", "--config",
      f"{FX}/config_nan_alpha.yaml"], "distill.alpha: Input should be a finite number"),
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_huge_dim.yaml"],
     "model.embedding_dim: Input should be less than or equal to 4096"),
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_bad_device.yaml"],
     "train.device: Value error, expected auto, cpu, cuda, cuda:N or mps, got 'quantum:7'"),
    (["train", "--out", "{tmp}/m", "--config", f"{FX}/config_cuda.yaml"],
     "train.device cuda: no CUDA device on this machine"),
    (["teacher", "train", "--out", "{tmp}/t", "--set", "teacher.device=cuda:3"],
     "teacher.device cuda:3: no CUDA device on this machine"),
    (["run", "--out", "{tmp}/r", "--config", f"{FX}/config_list.yaml"],
     "config_list.yaml: expected a mapping of sections"),
    (["run", "--out", "{tmp}/r", "--set", "train.lr=.inf"], "--set: train.lr: Input should be"),
    (["balance", "--out", "{tmp}/b", "--set", "balance.pseudo_label.threshold=.nan"],
     "balance.pseudo_label.threshold: Input should be a finite number"),
    (["balance", "--out", "{tmp}/b", "--set", "balance.pseudo_label.batch_size=-5"],
     "balance.pseudo_label.batch_size: Input should be greater than or equal to 1"),
    # ---- vectors that are not vectors: refused before training, naming the file and line
    ([*TINY, "--vectors", f"{FX}/vectors_passwd.txt"],
     "vectors_passwd.txt: line 1: not a vectors line"),
    ([*TINY, "--vectors", f"{FX}/vectors_empty.vec"],
     "vectors_empty.vec: no vectors found (the file has no lines)"),
    ([*TINY, "--vectors", f"{FX}/vectors_unrelated.vec"], "below model.min_vector_coverage=0.01"),
]  # fmt: skip


@pytest.fixture
def sandbox(monkeypatch, tmp_path_factory):
    """No real data, no download, no CUDA (also on a GPU machine): each case must fail."""
    import torch

    monkeypatch.delenv("EMOBALANCE_DATA", raising=False)
    monkeypatch.setenv("EMOBALANCE_CACHE", str(tmp_path_factory.mktemp("cache")))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("EMOBALANCE_GOEMOTIONS_URL", f"http://127.0.0.1:{port}/none")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(("argv", "needle"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_invocation_is_one_line_exit_2(argv, needle, sandbox, tmp_path, capsys):
    before = _tree(tmp_path)
    args = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert "Traceback" not in err and "╭" not in err
    assert needle.format(tmp=tmp_path) in err, err
    assert out == ""
    assert _tree(tmp_path) == before  # nothing written, not even an empty folder


def test_the_campaign_covers_every_command():
    commands = {"data", "train", "teacher", "evaluate", "predict", "explain", "export",
                "balance", "run", "serve"}  # fmt: skip
    assert {c[0][0] for c in CASES if not c[0][0].startswith("-")} >= commands
    assert len(CASES) >= 40


def test_help_and_version_still_exit_0(capsys):
    for argv in (["--help"], ["--version"], ["predict", "--help"], ["teacher", "train", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0, argv
    out, err = capsys.readouterr()
    assert "Usage" in out and err == ""
