"""A saved model appears whole or not at all (issue 14, class 9, model side).

ENOSPC (a monkeypatched writer raising ``OSError(ENOSPC)`` midway) and ``kill -9`` (a
subprocess that kills itself while writing) during ``save`` and ``export``: no half-written
folder, no partial file, no temporary file left, or left only until the next write of the same
target removes it.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emobalance.io import HOST_TAG
from emobalance.models.registry import load_model
from emobalance.models.storage import clean_stale, temp_dir

pytestmark = [pytest.mark.faults, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def disk_full_after(n_calls: int):
    """A writer that works ``n_calls`` times, then raises ENOSPC."""
    calls = {"n": 0}

    def writer(real):
        def write(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > n_calls:
                raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))
            return real(*args, **kwargs)

        return write

    return writer


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(params=["reference", "tfidf"])
def loaded(request, model_kind_paths):
    return request.param, load_model(model_kind_paths[request.param])


def _module(kind):
    import emobalance.models.baselines as baselines
    import emobalance.models.reference as reference

    return reference if kind == "reference" else baselines


def test_enospc_midway_leaves_no_folder_and_no_temp_files(loaded, tmp_path, monkeypatch):
    kind, model = loaded
    mod = _module(kind)
    # the weights are written first: this is the "folder holding only model.safetensors"
    monkeypatch.setattr(mod, "write_json_atomic", disk_full_after(1)(mod.write_json_atomic))
    out = tmp_path / "m"
    with pytest.raises(OSError) as exc:
        model.save(out)
    assert exc.value.errno == errno.ENOSPC and exc.value.filename == str(out)
    assert list(tmp_path.iterdir()) == []


def test_enospc_keeps_an_existing_folder_as_it_was(loaded, tmp_path, monkeypatch):
    kind, model = loaded
    out = model.save(tmp_path / "m")
    before = listing(out)
    mod = _module(kind)
    monkeypatch.setattr(mod, "write_json_atomic", disk_full_after(2)(mod.write_json_atomic))
    with pytest.raises(OSError, match="No space left"):
        model.save(out)
    assert listing(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_save_over_an_existing_folder_replaces_the_model_and_keeps_other_files(loaded, tmp_path):
    kind, model = loaded
    out = model.save(tmp_path / "m")
    (out / "notes.txt").write_text("mine")
    (out / "thresholds.json").write_text("{}")  # damaged: the new save repairs it
    model.save(out)
    assert (out / "notes.txt").read_text() == "mine"
    assert load_model(out).kind == kind
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())  # not mkdtemp's 0700


def test_save_into_an_empty_folder_and_refuses_a_file(loaded, tmp_path):
    from emobalance.errors import ModelError

    kind, model = loaded
    (tmp_path / "empty").mkdir()
    assert load_model(model.save(tmp_path / "empty")).kind == kind
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="exists and is not a folder"):
        model.save(tmp_path / "file")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- kill -9
KILL_DURING_SAVE = """
import os, signal, sys
import emobalance.models.reference as reference
from emobalance.models.registry import load_model

model = load_model(sys.argv[1])
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
reference.write_json_atomic = die  # after model.safetensors, as a full disk would stop it
model.save(sys.argv[2])
"""

KILL_DURING_EXPORT = """
import os, signal, sys
import onnx
from emobalance.export import export_onnx

def die(proto, path, *args, **kwargs):
    with open(path, "wb") as f:
        f.write(b"half an onnx file")
    os.kill(os.getpid(), signal.SIGKILL)
onnx.save = die
export_onnx(sys.argv[1], sys.argv[2])
"""


def killed(script: str, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def test_kill_during_save_leaves_a_temp_folder_the_next_save_removes(model_kind_paths, tmp_path):
    out = tmp_path / "m"
    killed(KILL_DURING_SAVE, str(model_kind_paths["reference"]), str(out))
    assert not out.exists()
    stale = [p.name for p in tmp_path.iterdir()]
    assert len(stale) == 1 and stale[0].startswith(".m.tmp-")
    assert (tmp_path / stale[0] / "model.safetensors").is_file()  # what it had written
    load_model(model_kind_paths["reference"]).save(out)
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_kill_during_export_leaves_a_temp_file_the_next_export_removes(model_kind_paths, tmp_path):
    from emobalance.export import export_onnx

    out = tmp_path / "model.onnx"
    killed(KILL_DURING_EXPORT, str(model_kind_paths["reference"]), str(out))
    assert not out.exists()
    stale = list(tmp_path.iterdir())
    assert len(stale) == 1 and stale[0].name.startswith(".model.onnx.tmp-")
    export_onnx(model_kind_paths["reference"], out)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert load_model(out).kind == "onnx"


def test_enospc_during_export_leaves_nothing(model_kind_paths, tmp_path, monkeypatch):
    import onnx

    from emobalance.export import export_onnx

    def full(proto, path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(onnx, "save", full)
    with pytest.raises(OSError, match="No space left"):
        export_onnx(model_kind_paths["reference"], tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []


def test_temp_files_of_live_writers_are_left_alone(tmp_path):
    target = tmp_path / "m"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".m.tmp-{HOST_TAG}-{sleeper.pid}-abcd"
        live.mkdir()
        dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                  capture_output=True, text=True).stdout.strip()  # fmt: skip
        dead = tmp_path / f".m.tmp-{HOST_TAG}-{dead_pid}-abcd"
        dead.mkdir()
        (dead / "model.safetensors").write_bytes(b"x")
        other = tmp_path / f".other.tmp-{HOST_TAG}-{dead_pid}-abcd"  # another target's: not ours
        other.write_text("x")
        # a dead pid's folder of another host sharing this folder: not ours to judge
        far = tmp_path / f".m.tmp-{'0' * 8 if HOST_TAG != '0' * 8 else '1' * 8}-{dead_pid}-ab"
        far.mkdir()
        old = tmp_path / f".m.tmp-{dead_pid}-abcd"  # no host tag: not a name of temp_name
        old.mkdir()
        assert clean_stale(target) == [dead]
        assert live.exists() and other.exists() and not dead.exists()
        assert far.exists() and old.exists()
        with temp_dir(target) as tmp:
            assert tmp.name.startswith(f".m.tmp-{HOST_TAG}-{os.getpid()}-")
        assert not tmp.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
        shutil.rmtree(tmp_path, ignore_errors=True)
