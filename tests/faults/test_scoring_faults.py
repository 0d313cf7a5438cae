"""Fault injection for the resumable batch scorer (``emobalance predict --input --output``).

(a) a child process kills itself (SIGKILL) before or after every write step of a run, then a
fresh process resumes; (b) the disk fills (ENOSPC) at a chosen part, then the run resumes;
(c) a second run on the same output while the first holds its lock. The property: after the
restart every row is written exactly once, in input order, with the probabilities of an
uninterrupted run, and the output folder holds nothing but the output.

Kept fast: a handful of rows, chunks of 2, a fake model, no torch.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import emobalance
from emobalance import scoring
from emobalance.io import LockedError

pytestmark = pytest.mark.faults

TEXTS = ["hi", 'a "quoted", text', "", "ünïcode – ok", "last one"]
FORMATS = ["csv", "jsonl", "parquet"]


class LengthModel:
    """The fake scorer of tests/test_scoring.py (no torch)."""

    thresholds_ = np.full(28, 0.5, dtype=np.float32)

    def predict_proba(self, texts, batch_size=256):
        lens = np.array([len(t) for t in texts], dtype=np.float32)[:, None]
        return (np.tanh(lens / 10.0) * np.linspace(0.1, 1, 28)[None, :]).astype(np.float32)


# The child: LengthModel of tests/test_scoring.py and a counter over the write steps of a run
# (each instrumented call counts once before and once after it). argv: mode, input, outputs.
# "kill": for k = 1, 2, ... fork a process that runs predict into outputs[0]/k<k>/ and kills
# itself (SIGKILL) at step k, until a run ends with fewer than k steps; print the killed
# outputs. "resume": resume every output given, one after the other, in this fresh process.
# (Forked from a process that has only imported: a fresh process per kill point, at the cost
# of a fork rather than of an interpreter start.)
CHILD = r"""
import json, os, signal, sys, traceback
import numpy as np
import pyarrow.parquet as pq
import emobalance.io as eio
import emobalance.scoring as sc

class LengthModel:
    thresholds_ = np.full(28, 0.5, dtype=np.float32)
    def predict_proba(self, texts, batch_size=256):
        lens = np.array([len(t) for t in texts], dtype=np.float32)[:, None]
        return (np.tanh(lens / 10.0) * np.linspace(0.1, 1, 28)[None, :]).astype(np.float32)

kill_at, steps = [0], [0]

def step():
    steps[0] += 1
    if steps[0] == kill_at[0]:
        os.kill(os.getpid(), signal.SIGKILL)

def instrument(owner, attr):
    real = getattr(owner, attr)
    def wrapped(*a, **k):
        step()
        out = real(*a, **k)
        step()
        return out
    setattr(owner, attr, wrapped)

for owner, attr in [
    (sc._Writer, "write"), (sc._Writer, "close"), (sc, "sha256_file"),
    (sc, "write_json_atomic"), (sc, "_join_parts"), (sc.shutil, "copyfileobj"),
    (pq.ParquetWriter, "write_table"), (eio.os, "replace"), (eio.os, "unlink"),
    (eio.os, "rmdir"), (eio.os, "mkdir"),
]:
    instrument(owner, attr)

mode, src, outs = sys.argv[1], sys.argv[2], sys.argv[3:]
if mode == "resume":
    rows = [sc.predict_file(LengthModel(), src, out, chunk_size=2, resume=True) for out in outs]
    print(json.dumps({"rows": rows}))
    sys.exit(0)
folder, name = os.path.split(outs[0])
# a first run here pays the one-time costs (lazy imports, pools) once, not in every fork
warm = os.path.join(folder, "warm", name)
sc.predict_file(LengthModel(), src, warm, chunk_size=2)
os.unlink(warm)
os.rmdir(os.path.dirname(warm))
killed = []
for k in range(1, 10_000):
    out = os.path.join(folder, f"k{k:03d}", name)
    os.makedirs(os.path.dirname(out))
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            steps[0], kill_at[0] = 0, k
            sc.predict_file(LengthModel(), src, out, chunk_size=2)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if not os.WIFSIGNALED(status):
        assert os.WEXITSTATUS(status) == 0, (k, status)
        break  # fewer than k steps: the run completed
    assert os.WTERMSIG(status) == signal.SIGKILL, status
    killed.append(out)
print(json.dumps({"killed": killed}))
"""


def child(*args: str) -> subprocess.CompletedProcess[str]:
    src = str(Path(emobalance.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=120
    )


def read_output(path: Path) -> tuple[list[int], list[str], np.ndarray]:
    """rows, texts and probabilities of an output file."""
    cols = scoring.PROBA_COLUMNS
    if path.suffix == ".parquet":
        t = pq.read_table(path)
        proba = np.stack([t.column(c).to_numpy() for c in cols], 1)
        return t.column("row").to_pylist(), t.column("text").to_pylist(), proba
    if path.suffix == ".jsonl":
        recs = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
    else:
        with open(path, newline="", encoding="utf-8") as f:
            recs = list(csv.DictReader(f))
    proba = np.array([[float(r[c]) for c in cols] for r in recs])
    return [int(r["row"]) for r in recs], [r["text"] for r in recs], proba


def make_input(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    src = d / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS), encoding="utf-8")
    return src


def assert_complete(out: Path, clean: Path) -> None:
    rows, texts, proba = read_output(out)
    want_rows, want_texts, want = read_output(clean)
    assert rows == list(range(len(TEXTS))) == want_rows  # every row exactly once, in order
    assert texts == TEXTS == want_texts
    np.testing.assert_array_equal(proba, want)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no stray file


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked processes (POSIX)")
@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_at_every_write_step_then_resume(tmp_path, fmt):
    src = make_input(tmp_path / "in")
    clean = tmp_path / "clean" / f"out.{fmt}"
    scoring.predict_file(LengthModel(), src, clean, chunk_size=2)
    run = child("kill", str(src), str(tmp_path / "runs" / f"out.{fmt}"))
    assert run.returncode == 0, run.stderr
    outs = json.loads(run.stdout)["killed"]
    # every write step of 3 parts, their progress records, the join and the clean-up
    assert len(outs) > 40
    print(f"{fmt}: killed at {len(outs)} write steps")
    run = child("resume", str(src), *outs)  # a fresh process resumes every killed run
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["rows"] == [len(TEXTS)] * len(outs)
    for out in outs:
        assert_complete(Path(out), clean)


def raise_enospc_at(monkeypatch, owner, attr, call):
    real, calls = getattr(owner, attr), [0]

    def fake(*a, **k):
        calls[0] += 1
        if calls[0] == call:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*a, **k)

    monkeypatch.setattr(owner, attr, fake)


# ENOSPC at the k-th write of a part, of a progress record, and in the final join
ENOSPC_POINTS = [
    *[(scoring._Writer, "write", k) for k in (1, 2, 3)],
    *[(scoring, "write_json_atomic", k) for k in (1, 2, 4)],
    (scoring, "_join_parts", 1),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("owner", "attr", "call"), ENOSPC_POINTS)
def test_disk_full_then_resume(tmp_path, monkeypatch, fmt, owner, attr, call):
    src = make_input(tmp_path / "in")
    clean = tmp_path / "clean" / f"out.{fmt}"
    scoring.predict_file(LengthModel(), src, clean, chunk_size=2)
    out = tmp_path / "out" / f"out.{fmt}"
    raise_enospc_at(monkeypatch, owner, attr, call)
    with pytest.raises(OSError, match="No space left on device") as exc:
        scoring.predict_file(LengthModel(), src, out, chunk_size=2)
    assert exc.value.errno == errno.ENOSPC and "\n" not in str(exc.value)
    left = sorted(p.name for p in out.parent.iterdir())
    assert left in ([], [f".out.{fmt}.parts"])  # finished parts only; no temp, no lock
    if left:
        assert "--resume" in str(exc.value)
    monkeypatch.undo()  # the disk is freed
    assert scoring.predict_file(LengthModel(), src, out, chunk_size=2, resume=True) == len(TEXTS)
    assert_complete(out, clean)


HOLDER = r"""
import os, sys, time
import numpy as np
import emobalance.scoring as sc

class WaitingModel:
    # scores its first chunk only once the test has created the file "go"
    thresholds_ = np.full(28, 0.5, dtype=np.float32)
    def predict_proba(self, texts, batch_size=256):
        open(sys.argv[3] + ".started", "w").close()
        while not os.path.exists(sys.argv[3] + ".go"):
            time.sleep(0.02)
        lens = np.array([len(t) for t in texts], dtype=np.float32)[:, None]
        return (np.tanh(lens / 10.0) * np.linspace(0.1, 1, 28)[None, :]).astype(np.float32)

print(sc.predict_file(WaitingModel(), sys.argv[1], sys.argv[2], chunk_size=2))
"""


def test_a_second_run_on_a_locked_output(tmp_path):
    src = make_input(tmp_path / "in")
    clean = tmp_path / "clean" / "out.csv"
    scoring.predict_file(LengthModel(), src, clean, chunk_size=2)
    out = tmp_path / "out" / "out.csv"
    flag = tmp_path / "flag"
    pkg = str(Path(emobalance.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([pkg, os.environ.get("PYTHONPATH", "")])}
    first = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(src), str(out), str(flag)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path(f"{flag}.started").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        for resume in (False, True):  # neither a fresh run nor a resume may step in
            with pytest.raises(LockedError) as exc:
                scoring.predict_file(LengthModel(), src, out, chunk_size=2, resume=resume)
            msg = str(exc.value)
            assert f"pid {first.pid} " in msg and "emobalance predict" in msg
            assert "\n" not in msg
        Path(f"{flag}.go").touch()
        stdout, stderr = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, stderr
    assert stdout.strip() == str(len(TEXTS))
    assert_complete(out, clean)  # the first run finished correctly, and left no lock
