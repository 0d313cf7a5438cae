"""Writing a saved model so that it appears whole or not at all.

:func:`write_model_folder` writes a model folder under a temporary name beside its target
and renames it into place at the end, so a failure while saving (a full disk, an exception,
a kill) never leaves a half-written folder; :func:`temp_dir` is the temporary folder of one
write (:func:`emobalance.export.export_onnx` writes its file in one too).

Temporary names are those of :func:`emobalance.io.temp_name`
(``.<target name>.tmp-<host>-<pid>-<random>``): a write killed by ``kill -9`` cannot remove
its own, so the next write of the same target removes those whose process, on this host, is
gone (:func:`clean_stale`, :func:`emobalance.io.remove_stale_temps`) and leaves those of live
writers, and of other hosts sharing the folder, alone.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..errors import ModelError
from ..io import remove_stale_temps, temp_name

__all__ = ["clean_stale", "temp_dir", "write_model_folder"]


def clean_stale(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files and folders of writes of ``target`` whose process is gone.

    Returns
    -------
    list of Path
        What was removed.
    """
    return remove_stale_temps(target)


@contextlib.contextmanager
def temp_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A new empty folder beside ``target`` (removed on exit, whatever happens), after
    removing the stale ones of killed writes of ``target``.

    The folder is made with mode ``0o777`` less the umask (as ``mkdir`` makes folders), not
    ``mkdtemp``'s 0700, so that a folder renamed into place has the usual permissions.
    """
    tmp = new_temp_dir(target)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def new_temp_dir(target: str | os.PathLike[str]) -> Path:
    """Make (and return) a new empty folder beside ``target``, mode ``0o777`` less the umask,
    after removing the stale ones of killed writes of ``target``; the caller removes or
    renames it."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(target)
    while True:
        tmp = target.parent / temp_name(target.name, suffix="")
        try:
            tmp.mkdir(mode=0o777)
            return tmp
        except FileExistsError:
            continue


def write_model_folder(
    path: str | os.PathLike[str],
    write: Callable[[Path], None],
    marker: str = "config.json",
    stale: Sequence[str] = (),
) -> Path:
    """Write a model folder whole: ``write(tmp)`` fills a temporary folder beside ``path``,
    which is then renamed to ``path``.

    A failure inside ``write`` (ENOSPC, any exception, a kill) leaves ``path`` as it was and
    no temporary files (a killed write's are removed by the next write of ``path``). Into an
    existing non-empty folder the files are moved one by one, ``marker`` (the file the
    registry recognises the kind by) removed first and moved last, so a reader never loads a
    mix of old and new files; files of the folder that the model does not write (an ONNX
    export, the user's own) are kept.

    Parameters
    ----------
    path : path
        The model folder.
    write : callable
        ``tmp -> None``: writes every file of the model into ``tmp``.
    marker : str, default="config.json"
        The file written last into an existing folder.
    stale : sequence of str
        Files an earlier model in the folder may hold that this one does not (e.g. the
        ``calibration.json`` of a calibrated model, saved over by an uncalibrated one):
        removed from an existing folder, after the marker and before the new files.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ModelError
        If ``path`` exists and is not a folder.
    OSError
        From ``write``, with the model folder's path as its file name.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out}: exists and is not a folder")
    with temp_dir(out) as tmp:
        try:
            write(tmp)
        except OSError as exc:  # name the folder, not the temporary file that is gone
            if exc.errno is None:
                raise
            raise OSError(exc.errno, f"cannot save the model ({exc.strerror})", str(out)) from exc
        if not out.is_symlink() and out.is_dir() and not any(out.iterdir()):
            with contextlib.suppress(OSError):
                out.rmdir()
        if not out.exists():
            try:
                os.replace(tmp, out)
                return out
            except OSError:
                if not out.is_dir():  # not a concurrent writer's folder: a real failure
                    raise
        (out / marker).unlink(missing_ok=True)
        for name in stale:
            if not (tmp / name).exists():
                (out / name).unlink(missing_ok=True)
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == marker):  # marker last
            os.replace(f, out / f.name)
    return out
