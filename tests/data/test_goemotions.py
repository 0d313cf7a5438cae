import contextlib
import functools
import hashlib
import http.server
import shutil
import socket
import threading

import numpy as np
import pytest

from emobalance.data import goemotions
from emobalance.errors import ChecksumError, DataError, DataNotFoundError
from emobalance.io import sha256_file


# ------------------------------------------------------------------- read_tsv
def test_read_tsv_fixture(fixtures_dir):
    path = fixtures_dir / "goemotions" / "train.tsv"
    d = goemotions.read_tsv(path)
    assert len(d) == 5
    assert d.ids == ["id001", "id002", "id003", "id004", "id005"]
    assert d.source == ["goemotions"] * 5
    assert d.texts[1] == 'What did he say? "Really"?'  # quotes kept verbatim (QUOTE_NONE)
    assert d.texts[4] == 'Haha that is "so" funny'
    assert d.label_names() == [
        ["gratitude", "love"],
        ["confusion", "curiosity"],
        ["grief", "sadness"],
        ["neutral"],
        ["amusement"],
    ]
    assert d.labels.dtype == np.uint8
    assert goemotions.read_tsv(path, source="user").source == ["user"] * 5


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("wrong_columns.tsv", "line 3: expected 3 tab-separated fields, got 2"),
        ("label_28.tsv", "line 2: label id 28 outside 0..27"),
        ("empty_label.tsv", "line 3: empty label field"),
        ("non_integer.tsv", "line 1: label id 'joy' is not an integer"),
        ("negative_label.tsv", "line 2: label id '-1' is not an integer"),
        ("not_utf8.tsv", "not UTF-8"),
    ],
)
def test_read_tsv_malformed_names_file_and_line(fixtures_dir, name, match):
    path = fixtures_dir / "goemotions_bad" / name
    with pytest.raises(DataError, match=match) as info:
        goemotions.read_tsv(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_read_tsv_missing(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        goemotions.read_tsv(tmp_path / "train.tsv")


# --------------------------------------------------------------------- locate
@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No EMOBALANCE_DATA, an empty cache under tmp_path, no mirror URL from the environment."""
    monkeypatch.delenv("EMOBALANCE_DATA", raising=False)
    monkeypatch.delenv("EMOBALANCE_GOEMOTIONS_URL", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("EMOBALANCE_CACHE", str(cache))
    return cache


def test_unknown_split(isolated):
    with pytest.raises(DataError, match="unknown split 'validation'; expected one of train"):
        goemotions.locate("validation")


def test_locate_explicit_folder(fixtures_dir, isolated, tmp_path):
    folder = fixtures_dir / "goemotions"
    assert goemotions.locate("dev", folder) == folder / "dev.tsv"
    assert len(goemotions.load("test", folder)) == 3
    with pytest.raises(DataNotFoundError, match="no such file"):
        goemotions.locate("train", tmp_path / "empty")


def test_locate_environment_then_cache(fixtures_dir, isolated, monkeypatch, tmp_path):
    root = tmp_path / "data"
    (root / "goemotions").mkdir(parents=True)
    shutil.copy(fixtures_dir / "goemotions" / "dev.tsv", root / "goemotions" / "dev.tsv")
    monkeypatch.setenv("EMOBALANCE_DATA", str(root))
    assert goemotions.data_root() == root
    assert goemotions.locate("dev") == root / "goemotions" / "dev.tsv"
    # not in EMOBALANCE_DATA: the cache is next
    (isolated / "goemotions").mkdir(parents=True)
    shutil.copy(fixtures_dir / "goemotions" / "test.tsv", isolated / "goemotions" / "test.tsv")
    assert goemotions.cache_dir() == isolated
    assert goemotions.locate("test", download=False) == isolated / "goemotions" / "test.tsv"


def test_locate_without_download_names_the_variable(isolated):
    assert goemotions.data_root() is None
    with pytest.raises(DataNotFoundError, match="EMOBALANCE_DATA") as info:
        goemotions.locate("train", download=False)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------- download
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class _Stall(_Quiet):
    """Sends headers and a few bytes, then stalls (to trigger a read timeout)."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"partial")
        self.wfile.flush()
        self.server.release.wait(timeout=10)  # until the test is over


@contextlib.contextmanager
def serve(directory, handler=_Quiet):
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    server.release = threading.Event()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()  # joins the request threads
        thread.join(timeout=5)


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_download_good_file_lands_in_cache(fixtures_dir, isolated, monkeypatch):
    mirror = fixtures_dir / "goemotions"
    monkeypatch.setitem(goemotions.SHA256, "train.tsv", sha256_file(mirror / "train.tsv"))
    with serve(mirror) as url:
        d = goemotions.load("train", base_url=url + "/")
    assert len(d) == 5 and d.ids[0] == "id001"
    cached = isolated / "goemotions" / "train.tsv"
    assert _files(isolated) == ["goemotions/train.tsv"]  # no temp file beside it
    assert cached.read_bytes() == (mirror / "train.tsv").read_bytes()
    # the server is gone: the cached copy is used from now on
    assert goemotions.locate("train") == cached
    assert len(goemotions.load("train", download=False)) == 5


def test_download_via_mirror_environment_variable(fixtures_dir, isolated, monkeypatch):
    mirror = fixtures_dir / "goemotions"
    digest = hashlib.sha256((mirror / "dev.tsv").read_bytes()).hexdigest()
    monkeypatch.setattr(goemotions, "SHA256", {**goemotions.SHA256, "dev.tsv": digest})
    with serve(mirror) as url:
        monkeypatch.setenv("EMOBALANCE_GOEMOTIONS_URL", url)
        assert goemotions.locate("dev") == isolated / "goemotions" / "dev.tsv"
    assert _files(isolated) == ["goemotions/dev.tsv"]


def test_download_checksum_mismatch_leaves_nothing(fixtures_dir, isolated):
    # SHA256 holds the official hashes, which the tiny fixture cannot match
    with (
        serve(fixtures_dir / "goemotions") as url,
        pytest.raises(ChecksumError, match="sha256 mismatch") as info,
    ):
        goemotions.locate("train", base_url=url)
    assert f"{url}/train.tsv" in str(info.value)
    assert _files(isolated) == []
    assert isinstance(info.value, DataError)


def test_download_missing_file_on_server(fixtures_dir, isolated):
    with serve(fixtures_dir / "goemotions_bad") as url, pytest.raises(DataNotFoundError):
        goemotions.locate("train", base_url=url)
    assert _files(isolated) == []


def test_download_unreachable_gives_one_line_error(isolated):
    url = f"http://127.0.0.1:{_closed_port()}/goemotions"
    with pytest.raises(DataNotFoundError) as info:
        goemotions.load("test", base_url=url)
    msg = str(info.value)
    assert "EMOBALANCE_DATA" in msg
    assert f"{url}/test.tsv" in msg
    assert "\n" not in msg
    assert _files(isolated) == []


def test_download_stalled_transfer_gives_data_not_found(fixtures_dir, tmp_path):
    dest = tmp_path / "cache" / "train.tsv"
    with (
        serve(fixtures_dir / "goemotions", handler=_Stall) as url,
        pytest.raises(DataNotFoundError, match="EMOBALANCE_DATA"),
    ):
        goemotions.download_file(f"{url}/train.tsv", dest, sha256=None, timeout=0.3)
    assert _files(tmp_path) == []


# ------------------------------------------------------------------ real data
@pytest.mark.data
def test_real_files_match_published_sha256(data_dir):
    for name, digest in goemotions.SHA256.items():
        assert sha256_file(data_dir / "goemotions" / name) == digest


@pytest.mark.data
def test_real_splits(data_dir, monkeypatch, real_train):
    monkeypatch.setenv("EMOBALANCE_DATA", str(data_dir))
    sizes = {split: len(goemotions.load(split, download=False)) for split in ("dev", "test")}
    sizes["train"] = len(real_train)
    assert sizes == {"train": 43410, "dev": 5426, "test": 5427} == goemotions.EXPECTED_ROWS
    counts = real_train.label_counts()
    assert counts["neutral"] == 14219
    assert counts["grief"] == 77
    assert counts["admiration"] == 4130
    assert counts["pride"] == 111
    assert real_train.labels.sum(axis=1).min() >= 1  # every comment has a label
    assert len(set(real_train.ids)) == len(real_train)
    test = goemotions.load("test", download=False)
    assert test.label_counts()["neutral"] == 1787 and test.label_counts()["grief"] == 6


# ---------------------------------------------------------------- issue 14
@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("hi\t\u00b2\tid1\n", r"line 1: label id '\u00b2' is not an integer"),  # isdigit() is True
        ("hi\t1,\u0661\tid1\n", r"line 1: label id '\u0661' is not an integer"),  # Arabic-Indic 1
        ("hi\t" + "1" * 5000 + "\tid1\n", r"line 1: label id 1{40}\.\.\. outside 0\.\.27"),
        ("hi\t" + "0" * 5000 + "27\tid1\n", None),  # leading zeros: still id 27
    ],
)
def test_read_tsv_label_ids_are_ascii_digits(tmp_path, body, match):
    path = tmp_path / "odd.tsv"
    path.write_text(body, encoding="utf-8")
    if match is None:
        assert goemotions.read_tsv(path).label_names() == [["neutral"]]
        return
    with pytest.raises(DataError, match=match) as info:
        goemotions.read_tsv(path)
    assert str(info.value).startswith(f"{path}: ") and len(str(info.value)) < 300


def test_read_tsv_superscript_fixture(fixtures_dir):
    path = fixtures_dir / "goemotions_bad" / "superscript_label.tsv"
    with pytest.raises(DataError, match=rf"^{path}: line 1: label id '²' is not an integer$"):
        goemotions.read_tsv(path)


def test_read_tsv_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.tsv"
    path.write_bytes("\ufeffhello\t17\tid1\r\nbye\t25\tid2\r\n".encode())
    d = goemotions.read_tsv(path)
    assert d.texts == ["hello", "bye"] and d.ids == ["id1", "id2"]
