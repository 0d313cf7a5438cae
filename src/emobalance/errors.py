"""Exception hierarchy. The CLI prints any :class:`EmobalanceError` as one line, no traceback."""

from __future__ import annotations


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
