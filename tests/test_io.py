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
