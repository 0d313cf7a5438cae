"""Exception hierarchy, and :func:`user_error`: the one place that turns an exception into the
one-line message and exit status of the CLI (no traceback)."""

from __future__ import annotations

import errno
import re
from collections.abc import Iterable, Mapping


class EmobalanceError(Exception):
    """Base class for every error emobalance raises on purpose (bad input, missing data...)."""


class DataError(EmobalanceError):
    """A data file or dataset is malformed; the message names the file, line or field."""


class DataNotFoundError(EmobalanceError):
    """Data could not be located locally nor downloaded."""


class ChecksumError(DataError):
    """A downloaded file does not match its published sha256."""


class ConfigError(EmobalanceError):
    """A configuration value is invalid."""


class ModelError(EmobalanceError):
    """A model directory is missing a file or its files do not match."""


# errors of a write: the output is the file to name when the OSError names none
_WRITE_ERRNOS = frozenset(
    getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS") if hasattr(errno, n)
)


_UNION_TAG = re.compile(
    r"(?:constrained-|function-|literal\[|list\[|dict\[|tagged-union)|^(?:int|float|str|bool|none)$"
)


def field_path(loc: Iterable[object]) -> str:
    """A pydantic error location as a dotted field name (``train.epochs``), without the
    tags pydantic adds for the members of a union (``target.constrained-int``)."""
    return ".".join(str(x) for x in loc if not (isinstance(x, str) and _UNION_TAG.search(x)))


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines included) made one space."""
    return " ".join(str(text).split())


def user_error(exc: BaseException, io: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """The one-line message and exit status of a user error, or None for a bug.

    Parameters
    ----------
    exc : BaseException
        What a command raised.
    io : mapping, optional
        ``{"reading": path, "writing": path}`` of the running command: names an ``OSError``
        that carries no file name (ENOSPC from a buffered write, an error of pyarrow).

    Returns
    -------
    (str, int) or None
        The message (without ``error: ``) and the status: 2 for a user error (an
        :class:`EmobalanceError`, a click usage error, a config value pydantic refuses, an
        ``OSError``, a damaged Arrow/Parquet file), 130 for an interrupt, 1 for click's Abort.
    """
    from pydantic import ValidationError

    io = io or {}
    usage, abort = _click_classes()
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, abort):
        return "aborted", 1
    if isinstance(exc, usage):  # a bad or missing option, an unknown command
        msg = one_line(exc.format_message()).rstrip(".")
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        return f"{msg[:1].lower()}{msg[1:]}{hint}", 2
    if isinstance(exc, EmobalanceError):
        return one_line(exc), 2
    if isinstance(exc, ValidationError):  # a named flag that the config models reject
        err = exc.errors(include_url=False, include_input=False)[0]
        return one_line(f"invalid value for {field_path(err['loc']) or exc.title}: {err['msg']}"), 2
    if isinstance(exc, OSError):  # unwritable output, disk full, a port in use...
        what = exc.strerror or str(exc) or type(exc).__name__
        if exc.filename is not None:
            target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
            return one_line(f"{exc.filename}{target}: {what}"), 2
        if exc.errno in _WRITE_ERRNOS and "writing" in io:
            return one_line(f"{io['writing']}: {what}"), 2
        return one_line(_while(what, io)), 2
    if _is_arrow_error(exc):  # a damaged Parquet/Arrow file (ArrowInvalid is a ValueError)
        return one_line(_while(str(exc), io)), 2
    return None


def _click_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(usage errors, aborts) of click: typer >= 0.2x vendors click (its ClickException is a
    ``typer.TyperException``), older typers use click itself."""
    import typer

    usage: list[type] = [typer.TyperException]
    abort: list[type] = [typer.Abort]
    try:
        import click
    except ImportError:  # pragma: no cover - typer without click
        pass
    else:
        usage.append(click.ClickException)
        abort.append(click.exceptions.Abort)
    return tuple(usage), tuple(abort)


def _while(what: str, io: Mapping[str, str]) -> str:
    where = ", ".join(f"{k} {v}" for k, v in io.items())
    return f"{what} (while {where})" if where else what


def _is_arrow_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("pyarrow") and any(
        c.__name__ == "ArrowException" for c in type(exc).__mro__
    )
