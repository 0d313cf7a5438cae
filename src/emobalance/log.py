"""The one logging mechanism: the ``emobalance`` logger and progress bars that step aside for it.

Library code logs through :func:`get_logger` and shows long loops through :func:`progress`;
it never prints and never installs handlers. The CLI (or an application) calls
:func:`configure` once to send the log to stderr; log lines then go through ``tqdm.write``,
so they never break a progress bar. Without a TTY, bars are off and the log lines remain.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm.auto import tqdm

ROOT = "emobalance"
T = TypeVar("T")


def get_logger(name: str | None = None) -> logging.Logger:
    """The ``emobalance`` logger, or its child for a module (``get_logger(__name__)``)."""
    if not name or name == ROOT:
        return logging.getLogger(ROOT)
    return logging.getLogger(name if name.startswith(ROOT + ".") else f"{ROOT}.{name}")


class _TqdmHandler(logging.Handler):
    """Writes records with ``tqdm.write`` so that an active progress bar is redrawn below."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream or sys.stderr)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        prefix = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"[{stamp}] {prefix}{record.getMessage()}"


def configure(level: int = logging.INFO, stream: Any = None) -> None:
    """Send the ``emobalance`` log to ``stream`` (default stderr) from ``level`` up.

    Idempotent: a second call replaces the handler instead of adding one.
    """
    logger = get_logger()
    for h in list(logger.handlers):
        if isinstance(h, _TqdmHandler):
            logger.removeHandler(h)
    handler = _TqdmHandler(stream)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


@contextlib.contextmanager
def configured(level: int = logging.INFO, stream: Any = None) -> Iterator[None]:
    """:func:`configure` for the duration of a block, then the logger as it was (so that a
    program or test calling the CLI in-process keeps its own logging set-up)."""
    logger = get_logger()
    saved = (list(logger.handlers), logger.level, logger.propagate)
    configure(level, stream)
    try:
        yield
    finally:
        logger.handlers[:] = saved[0]
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def progress_enabled(flag: bool | None = None) -> bool:
    """``flag`` when given, else whether stderr is a terminal."""
    return sys.stderr.isatty() if flag is None else bool(flag)


def progress(iterable: Iterable[T], *, desc: str, enabled: bool | None = None, **kw: Any) -> Any:
    """A tqdm bar over ``iterable`` on stderr, shown only when :func:`progress_enabled`."""
    kw.setdefault("leave", False)
    return tqdm(iterable, desc=desc, disable=not progress_enabled(enabled), file=sys.stderr, **kw)
