"""Locate, download, verify and parse the official GoEmotions splits.

Resolution order for :func:`load`: an explicit ``data_dir``, then ``$EMOBALANCE_DATA/goemotions``,
then the user cache (``~/.cache/emobalance/goemotions``, or ``$EMOBALANCE_CACHE/goemotions``),
then a download from the canonical google-research URLs, checked against published sha256 sums.
"""

from __future__ import annotations

import csv
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, DataError, DataNotFoundError
from ..io import atomic_path, sha256_file
from ..labels import GOEMOTIONS
from ..log import progress
from .dataset import EmotionDataset
from .readers import csv_reader, not_utf8_error

SPLITS = ("train", "dev", "test")
BASE_URL = (
    "https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data"
)
# sha256 of the official files (see shared/data/goemotions/SOURCES.md)
SHA256 = {
    "train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
    "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
    "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
}
EXPECTED_ROWS = {"train": 43410, "dev": 5426, "test": 5427}


def data_root() -> Path | None:
    """``$EMOBALANCE_DATA`` as a path, or ``None`` when unset."""
    root = os.environ.get("EMOBALANCE_DATA")
    return Path(root).expanduser() if root else None


def cache_dir() -> Path:
    """The user cache: ``$EMOBALANCE_CACHE`` or ``~/.cache/emobalance``."""
    root = os.environ.get("EMOBALANCE_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "emobalance"


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


def locate(
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
) -> Path:
    """Return the local path of ``{split}.tsv``, downloading it into the cache if needed.

    Parameters
    ----------
    split : {"train", "dev", "test"}
    data_dir : path, optional
        A directory holding ``{split}.tsv`` (checked first; an error if the file is absent).
    download : bool, default=True
        Whether to download when no local copy exists.
    base_url : str, optional
        Where to download from; default ``$EMOBALANCE_GOEMOTIONS_URL`` or the canonical
        google-research URL.
    """
    name = f"{_check_split(split)}.tsv"
    if data_dir is not None:
        path = Path(data_dir).expanduser() / name
        if not path.is_file():
            raise DataNotFoundError(f"{path}: no such file")
        return path
    root = data_root()
    if root is not None and (root / "goemotions" / name).is_file():
        return root / "goemotions" / name
    cached = cache_dir() / "goemotions" / name
    if cached.is_file():
        return cached
    if not download:
        raise DataNotFoundError(
            f"GoEmotions {name} not found: set EMOBALANCE_DATA to a folder holding goemotions/"
        )
    base = base_url or os.environ.get("EMOBALANCE_GOEMOTIONS_URL") or BASE_URL
    url = f"{base.rstrip('/')}/{name}"
    download_file(url, cached, SHA256[name])
    return cached


def download_file(url: str, dest: Path, sha256: str | None, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` with a progress bar; verify ``sha256`` before renaming.

    A failed download or a checksum mismatch leaves no file at ``dest``.
    """
    with atomic_path(dest) as tmp:
        try:
            resp = urllib.request.urlopen(url, timeout=timeout)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DataNotFoundError(
                f"cannot download {url} ({reason}); offline? set EMOBALANCE_DATA to a "
                "folder holding goemotions/{train,dev,test}.tsv"
            ) from None
        total = int(resp.headers.get("Content-Length") or 0) or None
        with (
            resp,
            open(tmp, "wb") as f,
            progress(
                None,
                desc=f"download {dest.name}",
                total=total,
                unit="B",
                unit_scale=True,
                leave=True,
            ) as bar,
        ):
            try:
                while chunk := resp.read(1 << 16):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                raise DataNotFoundError(
                    f"download of {url} failed ({exc or type(exc).__name__}); offline? set "
                    "EMOBALANCE_DATA to a folder holding goemotions/{train,dev,test}.tsv"
                ) from None
        if sha256 is not None:
            got = sha256_file(tmp)
            if got != sha256:
                raise ChecksumError(
                    f"{url}: sha256 mismatch (expected {sha256}, got {got}); file discarded"
                )
    return dest


def read_tsv(path: str | os.PathLike[str], source: str = "goemotions") -> EmotionDataset:
    """Parse a GoEmotions TSV (``text<TAB>label ids<TAB>id``, no header, ``QUOTE_NONE``).

    Raises
    ------
    DataError
        Naming the file and line of a row with the wrong column count, an empty label
        field, or a label id that is not an integer in 0..27.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    texts: list[str] = []
    ids: list[str] = []
    rows: list[list[int]] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv_reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        try:
            for fields in reader:
                where = f"{path}: line {reader.line_num}"
                if len(fields) != 3:
                    raise DataError(f"{where}: expected 3 tab-separated fields, got {len(fields)}")
                text, label_field, row_id = fields
                if not label_field.strip():
                    raise DataError(f"{where}: empty label field")
                texts.append(text)
                rows.append([_tsv_label_id(item.strip(), where) for item in label_field.split(",")])
                ids.append(row_id)
        except UnicodeDecodeError:
            raise not_utf8_error(path) from None
        except csv.Error as exc:
            raise DataError(f"{path}: line {reader.line_num}: {exc}") from None
    labels = np.zeros((len(texts), len(GOEMOTIONS)), dtype=np.uint8)
    for i, r in enumerate(rows):
        labels[i, r] = 1
    return EmotionDataset(texts, labels=labels, source=source, ids=ids)


def _tsv_label_id(item: str, where: str) -> int:
    # ASCII digits only: str.isdigit() also accepts "²" or "١", which int() refuses or reads
    if not (item.isascii() and item.isdigit()):
        shown = item if len(item) <= 40 else item[:40] + "..."
        raise DataError(f"{where}: label id {shown!r} is not an integer")
    if len(item.lstrip("0")) > 2:  # no int() of a 5,000-digit id (Python refuses it)
        shown = item if len(item) <= 40 else item[:40] + "..."
        raise DataError(f"{where}: label id {shown} outside 0..{len(GOEMOTIONS) - 1}")
    j = int(item.lstrip("0") or "0")
    if j >= len(GOEMOTIONS):
        raise DataError(f"{where}: label id {j} outside 0..{len(GOEMOTIONS) - 1}")
    return j


def load(
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
) -> EmotionDataset:
    """Load a GoEmotions split as an :class:`EmotionDataset` (``source="goemotions"``).

    Examples
    --------
    >>> from emobalance.data import goemotions
    >>> train = goemotions.load("train")  # doctest: +SKIP
    >>> len(train), train.label_counts()["grief"]  # doctest: +SKIP
    (43410, 77)
    """
    return read_tsv(locate(split, data_dir, download=download, base_url=base_url))
