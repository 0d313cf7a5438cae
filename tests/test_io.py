import hashlib
import json

import pytest

from emobalance.io import atomic_path, sha256_file, write_json_atomic, write_text_atomic


def test_atomic_path_success_renames_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "sub" / "deeper" / "out.txt"  # parents are created
    with atomic_path(dest) as tmp:
        assert tmp.parent == dest.parent
        assert tmp != dest
        assert not dest.exists()  # nothing visible until the block succeeds
        tmp.write_text("hello", encoding="utf-8")
    assert dest.read_text(encoding="utf-8") == "hello"
    assert [p.name for p in dest.parent.iterdir()] == ["out.txt"]


def test_atomic_path_suffix(tmp_path):
    with atomic_path(tmp_path / "plot.png", suffix=".png") as tmp:
        assert tmp.suffix == ".png"
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_path_failure_keeps_old_file_and_removes_temp(tmp_path, exc):
    dest = tmp_path / "out.txt"
    dest.write_text("old", encoding="utf-8")
    with pytest.raises(exc), atomic_path(dest) as tmp:
        tmp.write_text("partial", encoding="utf-8")
        raise exc()
    assert dest.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_failure_without_old_file_leaves_nothing(tmp_path):
    with pytest.raises(ValueError), atomic_path(tmp_path / "new.bin") as tmp:
        tmp.write_bytes(b"partial")
        raise ValueError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_text_atomic_overwrites(tmp_path):
    path = tmp_path / "a.txt"
    write_text_atomic(path, "first")
    write_text_atomic(path, "second – ünïcode")
    assert path.read_text(encoding="utf-8") == "second – ünïcode"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_write_json_atomic(tmp_path):
    path = tmp_path / "m.json"
    obj = {"label": "café", "values": [1, 2.5, None]}
    write_json_atomic(path, obj)
    raw = path.read_text(encoding="utf-8")
    assert raw.endswith("\n")
    assert "café" in raw  # not \u-escaped
    assert json.loads(raw) == obj


def test_sha256_file(tmp_path):
    data = bytes(range(256)) * 1000
    path = tmp_path / "blob"
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(path) == expected
    assert sha256_file(path, chunk_size=7) == expected  # chunking does not matter
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_atomic_path_refuses_a_directory_and_keeps_umask_permissions(tmp_path):
    import os

    from emobalance.errors import DataError

    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="is a directory"), atomic_path(tmp_path / "d"):
        pass
    write_text_atomic(tmp_path / "f.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~mask


# ------------------------------------------------------------------ issue 14: stale temporaries
# of killed writers, the output lock


def child_env():
    """The environment of a child Python that imports this emobalance."""
    import os
    from pathlib import Path

    import emobalance

    src = str(Path(emobalance.__file__).resolve().parents[1])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}


def dead_pid():
    """The pid of a process that has exited (and been reaped)."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                       capture_output=True, text=True, check=True)  # fmt: skip
    return int(p.stdout)


def test_temporaries_name_host_and_pid_and_stale_ones_are_removed(tmp_path):
    import os

    from emobalance.io import HOST_TAG, is_stale_temp, remove_stale_temps, temp_name

    name = temp_name("out.csv", ".csv")
    assert name.startswith(f".out.csv.tmp-{HOST_TAG}-{os.getpid()}-") and name.endswith(".csv")
    assert not is_stale_temp(name, "out.csv")  # this process runs
    pid = dead_pid()
    stale = f".out.csv.tmp-{HOST_TAG}-{pid}-0123abcd.csv"
    other_host = f".out.csv.tmp-{'f' * 8 if HOST_TAG != 'f' * 8 else '0' * 8}-{pid}-01.csv"
    (tmp_path / "out.csv").write_text("old")
    for n in (name, stale, other_host, ".out.csv.x1y2z3.csv", ".other.csv.tmp-" + stale[13:]):
        (tmp_path / n).write_text("x")
    (tmp_path / f".out.csv.tmp-{HOST_TAG}-{pid}-aa").mkdir()  # a staging folder
    (tmp_path / f".out.csv.tmp-{HOST_TAG}-{pid}-aa" / "part").write_text("x")
    removed = remove_stale_temps(tmp_path / "out.csv")
    assert sorted(p.name for p in removed) == sorted([stale, f".out.csv.tmp-{HOST_TAG}-{pid}-aa"])
    # a live writer's, another host's, an unknown name and another target's are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [name, other_host, ".out.csv.x1y2z3.csv", ".other.csv.tmp-" + stale[13:], "out.csv"]
    )


def test_a_write_killed_midway_is_cleaned_by_the_next_write(tmp_path):
    import signal
    import subprocess
    import sys

    child = (
        "import os, signal, sys\n"
        "from emobalance.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    dest = tmp_path / "out.txt"
    dest.write_text("old", encoding="utf-8")
    p = subprocess.run([sys.executable, "-c", child, str(dest)], check=False, env=child_env())
    assert p.returncode == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and left[1] == "out.txt" and ".out.txt.tmp-" in left[0]
    assert dest.read_text(encoding="utf-8") == "old"  # never a partial file
    write_text_atomic(dest, "new")
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # the stale temp is gone
    assert dest.read_text(encoding="utf-8") == "new"


def test_output_lock_is_exclusive_names_the_holder_and_leaves_no_file(tmp_path):
    import os
    import socket

    from emobalance.io import LockedError, lock_paths, output_lock

    out = tmp_path / "sub" / "out.csv"
    lock_file, owner_file = lock_paths(out)
    with output_lock(out, "emobalance predict"):
        assert lock_file.exists()
        assert json.loads(owner_file.read_text())["pid"] == os.getpid()
        with pytest.raises(LockedError) as exc, output_lock(out):
            pass
        msg = str(exc.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in msg
        assert "emobalance predict" in msg and "\n" not in msg
    assert list(out.parent.iterdir()) == []
    with pytest.raises(KeyboardInterrupt), output_lock(out):
        raise KeyboardInterrupt
    assert list(out.parent.iterdir()) == []
    with output_lock(out):  # free again
        pass


def test_a_killed_holders_lock_is_taken_over(tmp_path):
    import signal
    import subprocess
    import sys

    from emobalance.io import output_lock

    out = tmp_path / "out.csv"
    child = (
        "import os, signal, sys\n"
        "from emobalance.io import output_lock\n"
        "with output_lock(sys.argv[1]):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    p = subprocess.run([sys.executable, "-c", child, str(out)], check=False, env=child_env())
    assert p.returncode == -signal.SIGKILL
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.csv.lock", ".out.csv.lock.owner"]
    with output_lock(out):  # the kernel dropped the dead holder's flock
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_temp_name_with_a_huge_pid_is_left_alone(tmp_path):
    # a name of this form with a pid too large for os.kill (hand-made, another system):
    # neither removed nor an OverflowError out of the next write of the target
    from emobalance.io import HOST_TAG

    huge = tmp_path / f".out.txt.tmp-{HOST_TAG}-{10**30}-ab.tmp"
    huge.write_text("x")
    write_text_atomic(tmp_path / "out.txt", "ok")
    assert huge.exists() and (tmp_path / "out.txt").read_text() == "ok"
