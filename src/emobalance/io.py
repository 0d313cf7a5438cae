"""Small I/O helpers shared by every module: atomic writes, stale temporary files, output
locks and file hashing.

Temporary files are named ``.<target>.tmp-<host>-<pid>-<random><suffix>`` beside their
target: a later write of the same target (:func:`atomic_path`, :func:`remove_stale_temps`)
removes those whose process, on this host, is gone (a ``kill -9``), and leaves the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, EmobalanceError

TEMP_MARK = ".tmp-"
# a short, file-name-safe tag of this host: pids are only checked on the host that wrote them
HOST_TAG = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]
_TEMP_TAIL = re.compile(r"([0-9a-f]{8})-(\d+)-[0-9a-f]+")


def temp_name(name: str, suffix: str = ".tmp") -> str:
    """A hidden temporary name for the target ``name`` that records this host and process."""
    return f".{name}{TEMP_MARK}{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}{suffix}"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (``True`` when that cannot be told)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # EPERM: someone else's live process; others: do not guess
        return True
    return True


def is_stale_temp(entry: str, target: str) -> bool:
    """Whether ``entry`` (a file name) is a temporary of ``target`` left by a dead process."""
    prefix = f".{target}{TEMP_MARK}"
    if not entry.startswith(prefix):
        return False
    m = _TEMP_TAIL.match(entry, len(prefix))
    return m is not None and m[1] == HOST_TAG and not pid_alive(int(m[2]))


def remove_stale_temps(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders of ``path`` whose writer died; return them.

    Only temporaries named by :func:`temp_name` on this host with a pid that no longer runs
    are removed: a live writer's temporary is never touched.
    """
    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for e in entries:
        if is_stale_temp(e.name, path.name):
            p = Path(e.path)
            with contextlib.suppress(OSError):
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(p)
                else:
                    p.unlink()
                removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    An exception leaves neither a partial ``path`` nor the temporary file behind; a kill
    leaves the temporary, which the next write of ``path`` removes (see :func:`temp_name`).
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp_path = path.parent / temp_name(path.name, suffix if suffix is not None else ".tmp")
    # O_EXCL as mkstemp; mode 0666 less the umask, as a plain open() would give
    os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- output locks


class LockedError(EmobalanceError):
    """Another process holds the lock on an output."""


def lock_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The lock file of output ``path`` and its companion naming the holder."""
    path = Path(path)
    return path.parent / f".{path.name}.lock", path.parent / f".{path.name}.lock.owner"


@contextlib.contextmanager
def output_lock(path: str | os.PathLike[str], command: str = "emobalance") -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on output ``path`` for the ``with`` block.

    The lock is a ``flock`` (the ``filelock`` package, >= 4) on ``.<name>.lock`` beside ``path``;
    the holder's pid, host and start time go to ``.<name>.lock.owner``. Both files are
    removed when the block ends, however it ends; a killed holder's lock is free again (the
    kernel drops it with the process) and its two files are taken over and removed by the
    next holder.

    Raises
    ------
    LockedError
        At once, naming the holder, when another process holds the lock.
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    lock_file, owner_file = lock_paths(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_file, timeout=0, thread_local=False)
    for attempt in range(5):
        try:
            lock.acquire(blocking=False)
            break
        except Timeout:
            # no owner record: a holder just starting or just finishing; look again shortly
            if attempt == 4 or owner_file.exists():
                raise LockedError(f"{path}: {_holder(owner_file)} is writing this output; "
                                  "wait for it to finish or stop it") from None  # fmt: skip
            time.sleep(0.05)
    try:
        write_json_atomic(
            owner_file,
            {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        )  # fmt: skip
        yield
    finally:
        try:
            # unlinked while still held: a process that opened the old file before and gets
            # its flock after the release sees no links left and does not count it as held
            # (filelock >= 4 checks), so no two processes ever hold the lock at once
            owner_file.unlink(missing_ok=True)
            lock_file.unlink(missing_ok=True)
        finally:
            lock.release()


def _holder(owner_file: Path) -> str:
    """``another process (pid N on host H, since T, command)`` from the companion file."""
    try:
        rec = json.loads(owner_file.read_text(encoding="utf-8"))
        return (f"another process (pid {int(rec['pid'])} on host {rec['host']}, "
                f"{rec.get('command', '?')}, since {rec.get('since', '?')})")  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
