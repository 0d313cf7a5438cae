import collections
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections import Counter
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pydantic
import pytest

from emobalance.balance.generate import (
    EDAAugmenter,
    GenerationConfig,
    GenerationError,
    LLMGenerator,
    _retry_after,
    build_messages,
    generate_candidates,
    nearest_neighbours,
    parse_completion,
    teacher_filter,
)
from emobalance.balance.teacher import TeacherError
from emobalance.data.dataset import EmotionDataset
from emobalance.embeddings import Vectors
from emobalance.errors import ConfigError, DataError
from emobalance.labels import LABEL_TO_ID, LABELS, names_to_matrix
from emobalance.text.normalize import normalize, tokenize

TEMPLATE = "EMOTION={emotion} N={n}\n{examples}"
SLEEP_S = 1.2  # the "slow" response; the client timeout is TIMEOUT_S
TIMEOUT_S = 0.4


# ------------------------------------------------------------------ fake OpenAI server
class FakeLLM:
    """State of the fake server: a script of failures served in arrival order, then 'ok'."""

    def __init__(self):
        self.script = collections.deque()
        self.requests = 0
        self.auth = []
        self.bodies = []
        self.lock = threading.Lock()
        self.uid = itertools.count()
        self.base_url = ""

    def ok_content(self, emotion, n):
        with self.lock:
            k = next(self.uid)
        lines = [
            f"{emotion} comment {k}-{i}: the weather was something else today" for i in range(n)
        ]
        extras = [lines[0].upper(), "ok", f"Existing text number one for {emotion}"]
        items = lines + extras
        if k % 3 == 0:
            return json.dumps(items)
        if k % 3 == 1:
            return "Here you go:\n" + "\n".join(f"{i + 1}. {t}" for i, t in enumerate(items))
        return "\n".join(f'- "{t}"' for t in items)


def _handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, code, body, headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw)
            with fake.lock:
                fake.requests += 1
                action = fake.script.popleft() if fake.script else "ok"
                fake.auth.append(self.headers.get("Authorization"))
                fake.bodies.append(body)
            try:
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                elif action == "429":
                    self._send(429, b'{"error": "slow down"}', [("Retry-After", "0")])
                elif action == "500":
                    self._send(500, b'{"error": "boom"}')
                elif action == "notjson":
                    self._send(200, b"<html>oops</html>")
                elif action == "nochoices":
                    self._send(200, b'{"id": "x", "object": "chat.completion"}')
                elif action == "drop":  # close the connection without an answer
                    self.close_connection = True
                elif action in ("400", "401"):
                    self._send(int(action), b'{"error": {"message": "rejected"}}')
                else:
                    if action == "sleep":
                        time.sleep(SLEEP_S)
                    m = re.search(r"EMOTION=(\w+) N=(\d+)", body["messages"][1]["content"])
                    content = fake.ok_content(m.group(1), int(m.group(2)))
                    reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                    self._send(200, json.dumps(reply).encode())
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@pytest.fixture
def llm():
    fake = FakeLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.base_url = f"http://127.0.0.1:{server.server_port}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def _no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def make_cfg(base_url, tmp_path, **kw):
    args = {
        "base_url": base_url,
        "model": "fake-model",
        "per_request": 5,
        "concurrency": 3,
        "timeout_s": TIMEOUT_S,
        "max_retries": 8,
        "backoff_base_s": 0.001,
        "backoff_max_s": 0.01,
        "cache_dir": tmp_path / "cache",
        "examples_per_prompt": 2,
        "prompt_template": TEMPLATE,
        "seed": 0,
    }
    args.update(kw)
    return GenerationConfig(**args)


@pytest.fixture
def examples():
    texts = [
        "I still can't believe she's gone, rest in peace",
        "Miss you every day, grandpa",
        "Funeral was today. Hardest thing I've done.",
        "Phew, the test came back negative",
        "So glad that's over with, finally",
        "This is a neutral remark about trains",
    ]
    rows = [["grief"], ["grief", "sadness"], ["grief"], ["relief"], ["relief"], ["neutral"]]
    return EmotionDataset(texts, names_to_matrix(rows), source="goemotions")


def cache_files(tmp_path):
    d = tmp_path / "cache"
    return sorted(d.rglob("*.json")) if d.exists() else []


# ------------------------------------------------------------------------ generation
def test_generation_survives_failures(llm, tmp_path, examples):
    llm.script.extend(["429", "429", "500", "sleep", "drop", "notjson", "nochoices"])
    existing = ["EXISTING   text number one for GRIEF", "unrelated"]
    t0 = time.perf_counter()
    gen = LLMGenerator(make_cfg(llm.base_url, tmp_path))
    out = gen.generate({"grief": 12, "relief": 7}, examples, existing_texts=existing)
    assert time.perf_counter() - t0 < 10
    assert len(out) == 19
    assert Counter(out.meta["intended"]) == {"grief": 12, "relief": 7}
    assert out.meta["intended"][:12] == ["grief"] * 12  # emotions in the order asked
    assert set(out.source) == {"generated"} and set(out.meta["model"]) == {"fake-model"}
    for i, emotion in enumerate(out.meta["intended"]):
        assert out.labels[i].tolist() == [int(j == LABEL_TO_ID[emotion]) for j in range(28)]
        assert re.fullmatch(rf"gen-{emotion}-[0-9a-f]{{10}}", out.ids[i])
    assert len(set(out.ids)) == 19
    keys = [normalize(t) for t in out.texts]
    assert len(set(keys)) == 19
    assert not set(keys) & {normalize(t) for t in existing + examples.texts}
    assert all(len(t) >= 10 for t in out.texts)
    assert not any(t.startswith(("-", '"', "1.")) for t in out.texts)
    # 3 + 2 completions, plus one request per scripted failure; no API key -> no header
    assert llm.requests == 5 + 7
    assert gen.stats_.requests == 12 and gen.stats_.retries == 7 and gen.stats_.jobs == 5
    assert set(llm.auth) == {None}
    assert len(cache_files(tmp_path)) == 5
    # the prompts carry real examples of the emotion as style anchors
    grief_prompts = [b["messages"][1]["content"] for b in llm.bodies if "=grief" in str(b)]
    assert any(t in p for p in grief_prompts for t in examples.texts[:3])
    assert all(b["model"] == "fake-model" and b["max_tokens"] == 1024 for b in llm.bodies)


def test_cache_second_run_is_free(llm, tmp_path, examples):
    cfg = make_cfg(llm.base_url, tmp_path)
    first = generate_candidates({"grief": 8, "relief": 3}, examples, cfg)
    assert llm.requests == 3
    gen = LLMGenerator(cfg)
    second = gen.generate({"grief": 8, "relief": 3}, examples)
    assert llm.requests == 3  # zero new requests
    assert gen.stats_.cache_hits == 3 and gen.stats_.requests == 0
    assert second.texts == first.texts and second.ids == first.ids
    # asking for more reuses the cached requests and only pays for the new ones
    generate_candidates({"grief": 12, "relief": 3}, examples, cfg)
    assert llm.requests == 4


def test_corrupt_cache_entry_is_requested_again(llm, tmp_path, examples, caplog):
    cfg = make_cfg(llm.base_url, tmp_path)
    first = generate_candidates({"grief": 15}, examples, cfg)
    files = cache_files(tmp_path)
    assert len(files) == 3 and llm.requests == 3
    files[0].write_text("{not json", encoding="utf-8")
    files[1].write_text(json.dumps({"key": "x", "no": "content"}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.generate"):
        second = generate_candidates({"grief": 15}, examples, cfg)
    assert llm.requests == 5
    assert sum("cache entry" in r.getMessage() for r in caplog.records) == 2
    assert len(second) == len(first) == 15
    for f in files:  # rewritten, valid again
        assert isinstance(json.loads(f.read_text(encoding="utf-8"))["content"], str)


def test_unreachable_endpoint_fails_fast_and_writes_nothing(tmp_path, examples):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = make_cfg(f"http://127.0.0.1:{port}/v1", tmp_path, backoff_base_s=1.0, max_retries=5)
    t0 = time.perf_counter()
    with pytest.raises(GenerationError, match=rf"127\.0\.0\.1:{port}.*refused"):
        generate_candidates({"grief": 20, "relief": 20}, examples, cfg)
    assert time.perf_counter() - t0 < 3
    assert not (tmp_path / "cache").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["401", "400"])
def test_client_error_is_not_retried(llm, tmp_path, examples, status):
    llm.script.append(status)
    cfg = make_cfg(llm.base_url, tmp_path, concurrency=1)
    with pytest.raises(GenerationError, match=rf"{re.escape(llm.base_url)}.* HTTP {status}") as ei:
        generate_candidates({"grief": 5}, examples, cfg)
    assert llm.requests == 1
    if status == "401":
        assert "OPENAI_API_KEY" in str(ei.value)
    assert cache_files(tmp_path) == []


def test_api_key_header_from_env(llm, tmp_path, examples, monkeypatch):
    monkeypatch.setenv("EMOB_TEST_KEY", "sekret")
    cfg = make_cfg(llm.base_url, tmp_path, api_key_env="EMOB_TEST_KEY", cache_dir=None)
    generate_candidates({"relief": 2}, examples, cfg)
    assert llm.auth == ["Bearer sekret"]


def test_persistently_malformed_request_is_skipped(llm, tmp_path, examples, caplog):
    llm.script.extend(["notjson", "nochoices"])
    cfg = make_cfg(llm.base_url, tmp_path, concurrency=1, max_retries=1)
    gen = LLMGenerator(cfg)
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.generate"):
        out = gen.generate({"grief": 10}, examples)
    assert len(out) == 10  # a second round made up for the skipped request
    assert gen.stats_.failed_jobs == 1 and llm.requests == 4
    assert any("skipping request grief" in r.getMessage() for r in caplog.records)
    assert len(cache_files(tmp_path)) == 2


def test_all_requests_failing_raises(llm, tmp_path, examples):
    llm.script.extend(["500"] * 10)
    cfg = make_cfg(llm.base_url, tmp_path, max_retries=1)
    with pytest.raises(GenerationError, match=r"all 1 requests .* failed.*HTTP 500"):
        generate_candidates({"grief": 5}, examples, cfg)
    assert llm.requests == 2


def test_input_validation(examples):
    with pytest.raises(GenerationError, match="unknown emotion 'happiness'"):
        generate_candidates({"happiness": 3}, examples, GenerationConfig(cache_dir=None))
    with pytest.raises(GenerationError, match=">= 0"):
        generate_candidates({"joy": -1}, examples)
    assert len(generate_candidates({"joy": 0}, examples)) == 0  # nothing asked, no request
    with pytest.raises(pydantic.ValidationError, match="placeholders"):
        GenerationConfig(prompt_template="{emotion} {n} {oops}")
    with pytest.raises(pydantic.ValidationError, match="http"):
        GenerationConfig(base_url="localhost:8000")
    assert (
        GenerationConfig(base_url="http://h:1/v1/").endpoint() == "http://h:1/v1/chat/completions"
    )
    assert GenerationConfig(base_url="http://h/v1/chat/completions").endpoint().count("chat") == 1


def test_default_prompt():
    msgs = build_messages("grief", ["rip buddy", "miss  you\nso much"], 7)
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "7" in user and "grief" in user and "death" in user  # n, name, definition
    assert "- rip buddy\n- miss you so much\n" in user
    assert "Real comments" not in build_messages("grief", [], 7)[1]["content"]


def test_parse_completion_formats():
    good = ["first comment is here", "second comment is here"]
    assert parse_completion(json.dumps(good)) == good
    assert parse_completion("```json\n" + json.dumps(good) + "\n```") == good
    assert parse_completion("<think>plan</think>" + json.dumps({"comments": good})) == good
    assert parse_completion(json.dumps([{"text": good[0]}, {"comment": good[1]}])) == good
    assert (
        parse_completion("Here are two:\n1. first comment is here\n2) second comment is here")
        == good
    )
    assert (
        parse_completion('* "first comment is here"\n• \u201csecond comment is here\u201d') == good
    )
    truncated = json.dumps(good)[:-10]  # cut short by max_tokens
    assert parse_completion("Sure:\n" + truncated) == good[:1]
    assert parse_completion("3.5 stars, would watch again") == ["3.5 stars, would watch again"]
    assert parse_completion("ok\n" + "x" * 400, max_chars=300) == []
    assert parse_completion("[NAME] you are the best ever") == ["[NAME] you are the best ever"]


def test_retry_after_parsing():
    assert _retry_after({"Retry-After": "2"}) == 2.0
    assert _retry_after({"Retry-After": "-3"}) == 0.0
    assert 8 < _retry_after({"Retry-After": formatdate(time.time() + 10, usegmt=True)}) <= 10
    assert _retry_after({"Retry-After": "soon"}) is None
    assert _retry_after({}) is None


# ----------------------------------------------------------------------- teacher filter
class KeywordTeacher:
    """grief 0.9 for texts with 'sure', 0.7 with 'maybe', else 0.1; relief always 0.8."""

    def predict_proba(self, texts):
        p = np.full((len(texts), 28), 0.1, dtype=np.float32)
        for i, t in enumerate(texts):
            p[i, LABEL_TO_ID["grief"]] = 0.9 if "sure" in t else 0.7 if "maybe" in t else 0.1
        p[:, LABEL_TO_ID["relief"]] = 0.8
        return p


def _candidates():
    texts = ["sure grief", "maybe grief", "no grief", "sure relief"]
    intended = ["grief", "grief", "grief", "relief"]
    return EmotionDataset(
        texts,
        names_to_matrix([[x] for x in intended]),
        source="generated",
        ids=[f"g{i}" for i in range(4)],
        meta={"intended": intended, "model": ["m"] * 4},
    )


def test_teacher_filter_keeps_confident_rows():
    out = teacher_filter(_candidates(), KeywordTeacher(), threshold=0.7)
    assert out.ids == ["g0", "g1", "g3"]  # 0.7 passes a 0.7 threshold
    np.testing.assert_allclose(out.teacher_score, [0.9, 0.7, 0.8], rtol=1e-6)
    assert out.meta["model"] == ["m"] * 3 and out.source == ["generated"] * 3
    assert teacher_filter(_candidates(), KeywordTeacher(), threshold=0.85).ids == ["g0"]


def test_teacher_filter_intended_from_labels_or_argument():
    c = _candidates()
    plain = EmotionDataset(c.texts, c.labels, ids=c.ids)  # no meta: labels are the intent
    assert teacher_filter(plain, KeywordTeacher(), 0.75).ids == ["g0", "g3"]
    both = [["grief", "relief"]] * 4  # several intended labels: the minimum counts
    out = teacher_filter(c, KeywordTeacher(), 0.75, intended=both, batch_size=3)
    assert out.ids == ["g0", "g3"]
    np.testing.assert_allclose(out.teacher_score, [0.8, 0.8], rtol=1e-6)
    assert len(teacher_filter(c.subset([]), KeywordTeacher())) == 0
    with pytest.raises(DataError, match="unknown intended label 'joyy'"):
        teacher_filter(c, KeywordTeacher(), intended=["joyy"] * 4)
    with pytest.raises(ConfigError):
        teacher_filter(c, KeywordTeacher(), threshold=1.5)


def test_teacher_filter_rejects_bad_teacher():
    class Wrong:
        def predict_proba(self, texts):
            return np.zeros((len(texts), 7), dtype=np.float32)

    with pytest.raises(TeacherError, match="shape"):
        teacher_filter(_candidates(), Wrong())


# ------------------------------------------------------------------------ EDA augmenter
VEHICLES = ("car", "truck", "van")
FILMS = ("movie", "film", "flick")


def tiny_vectors():
    rng = np.random.default_rng(0)
    base = np.eye(6, dtype=np.float32)
    groups = {VEHICLES: 0, FILMS: 1, ("happy", "cheerful", "sad"): 2, ("pizza",): 3}
    words, rows = [], []
    for members, axis in groups.items():
        for w in members:
            words.append(w)
            rows.append(base[axis] + 0.15 * rng.standard_normal(6).astype(np.float32))
    for w in ("the", "yesterday", "today"):  # far from everything
        words.append(w)
        rows.append(base[4 if w != "today" else 5] * 0.5 - base[0] * 0.3)
    return Vectors(words=words, matrix=np.stack(rows).astype(np.float32), dim=6)


@pytest.fixture
def corpus():
    texts = [
        "I watched the movie with my car yesterday and felt happy",
        "My truck broke down after the film, happy it was not worse",
        "That flick about a van made me cry today, yesterday too",
        "We ate pizza in the car, it was a good movie night",
        "[NAME] lost the truck and the movie tickets, what a day",
        "wow",
        "The van movie was generated text, not real",
        "Something sad and cheerful about the weather here",
    ]
    rows = [
        ["relief"],
        ["relief", "joy"],
        ["grief", "sadness"],
        ["grief"],
        ["grief", "sadness"],
        ["fear"],
        ["grief"],
        ["neutral"],
    ]
    src = ["goemotions"] * 6 + ["generated", "goemotions"]
    return EmotionDataset(texts, names_to_matrix(rows), source=src)


def test_nearest_neighbours():
    v = tiny_vectors()
    nn = nearest_neighbours(v, ["car", "movie", "pizza", "unknown"], v.words, k=2)
    assert set(nn["car"]) == {"truck", "van"} and set(nn["movie"]) == {"film", "flick"}
    assert "pizza" not in nn and "unknown" not in nn  # nothing similar enough / no vector
    nn = nearest_neighbours(v, ["car"], v.words, k=5, min_similarity=-1, chunk_elements=1)
    assert len(nn["car"]) == 5 and "car" not in nn["car"]


def test_eda_deterministic_with_provenance(corpus):
    aug = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=7)
    out = aug.augment(corpus, labels=["grief", "relief"])
    again = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=7).augment(
        corpus, labels=["grief", "relief"]
    )
    assert out.texts == again.texts and out.ids == again.ids
    other = EDAAugmenter(vectors=tiny_vectors(), n_aug=3, random_state=8).augment(
        corpus, labels=["grief", "relief"]
    )
    assert other.texts != out.texts
    # parents: real rows with grief or relief (the generated row 6 is not a parent)
    assert set(out.parent_id) == {corpus.ids[i] for i in range(5)}
    assert len(out) == 15 and set(out.source) == {"augmented"}
    by_id = {pid: i for i, pid in enumerate(corpus.ids)}
    counts = Counter()
    for k, (rid, pid) in enumerate(zip(out.ids, out.parent_id, strict=True)):
        assert rid == f"{pid}#aug{counts[pid]}"
        counts[pid] += 1
        np.testing.assert_array_equal(out.labels[k], corpus.labels[by_id[pid]])
    keys = [normalize(t) for t in out.texts]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {normalize(t) for t in corpus.texts}
    assert set(out.meta["aug_op"]) <= {"sr", "ri", "rs", "rd"}


def test_eda_synonyms_come_from_the_vectors(corpus):
    groups = [set(VEHICLES), set(FILMS)]
    sr = EDAAugmenter(0.3, 0, 0, 0, n_aug=4, vectors=tiny_vectors(), random_state=0)
    out = sr.augment(corpus, labels=["grief", "relief"])
    assert len(out) > 0 and set(out.meta["aug_op"]) == {"sr"}
    parents = dict(zip(corpus.ids, corpus.texts, strict=True))
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        new, old = tokenize(text), tokenize(parents[pid])
        assert len(new) == len(old)
        changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
        assert changed
        for a, b in changed:
            assert any(a in g and b in g for g in groups), (a, b)  # never happy -> sad
    ri = EDAAugmenter(0, 0.2, 0, 0, n_aug=4, vectors=tiny_vectors(), random_state=0)
    out = ri.augment(corpus, labels=["grief"])
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        extra = Counter(tokenize(text)) - Counter(tokenize(parents[pid]))
        assert extra and set(extra) <= set(VEHICLES) | set(FILMS)


def test_eda_protects_emotion_words(corpus):
    # "happy" has close neighbours "cheerful" and "sad" (row 7): replacing it could flip the
    # emotion, so emotion words are neither replaced nor inserted unless asked to
    def swaps(protect):
        aug = EDAAugmenter(
            0.5, 0.5, 0, 0, n_aug=10, vectors=tiny_vectors(), protect_emotion_words=protect,
            random_state=0,
        )  # fmt: skip
        out = aug.augment(corpus, labels=["relief"])
        return Counter(w for t in out.texts for w in tokenize(t))

    assert swaps(protect=False)["sad"] > 0
    protected = swaps(protect=True)
    assert protected["sad"] == protected["cheerful"] == 0


def test_eda_without_vectors_only_swaps_and_deletes(corpus):
    out = EDAAugmenter(random_state=0).augment(corpus, labels=["grief", "relief"])
    assert len(out) == 20 and set(out.meta["aug_op"]) <= {"rs", "rd"}
    parents = dict(zip(corpus.ids, corpus.texts, strict=True))
    for text, pid in zip(out.texts, out.parent_id, strict=True):
        assert not Counter(tokenize(text)) - Counter(tokenize(parents[pid]))
    sr_only = EDAAugmenter(0.3, 0.3, 0, 0, random_state=0)  # sr/ri are no-ops without vectors
    assert len(sr_only.augment(corpus, labels=["grief"])) == 0


def test_eda_n_per_label(corpus, caplog):
    aug = EDAAugmenter(vectors=tiny_vectors(), random_state=1)
    out = aug.augment(corpus, n_per_label={"relief": 5, "sadness": 4})
    counts = dict(zip(LABELS, out.labels.sum(axis=0).tolist(), strict=True))
    assert counts["relief"] == 5 and counts["sadness"] == 4 and len(out) == 9
    # a row made for grief also carries sadness: it counts for both
    out = aug.augment(corpus, n_per_label={"grief": 6, "sadness": 4})
    counts = dict(zip(LABELS, out.labels.sum(axis=0).tolist(), strict=True))
    assert counts["grief"] == 6 and counts["sadness"] >= 4 and len(out) == 6
    parents_used = Counter(out.parent_id)  # cycled evenly over the 3 real grief rows
    assert sorted(parents_used.values()) == [2, 2, 2]
    with caplog.at_level(logging.WARNING, logger="emobalance.balance.generate"):
        short = aug.augment(corpus, n_per_label={"fear": 3})  # only parent: "wow"
    assert len(short) == 0 and any("fear is 3 rows short" in r.getMessage() for r in caplog.records)


def test_eda_vectors_from_a_file(corpus, tmp_path):
    v = tiny_vectors()
    path = tmp_path / "tiny.vec"
    lines = [f"{len(v)} {v.dim}"] + [w + " " + " ".join(f"{x:.6f}" for x in v[w]) for w in v.words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    a = EDAAugmenter(vectors=path, random_state=3).augment(corpus, labels=["grief"])
    b = EDAAugmenter(vectors=v, random_state=3).augment(corpus, labels=["grief"])
    assert a.texts == b.texts


def test_eda_errors(corpus):
    with pytest.raises(DataError, match="labelled"):
        EDAAugmenter().augment(EmotionDataset(["a b c"]))
    with pytest.raises(ConfigError, match="not both"):
        EDAAugmenter().augment(corpus, n_per_label={"grief": 1}, labels=["grief"])
    with pytest.raises(ConfigError, match="unknown emotion label"):
        EDAAugmenter().augment(corpus, n_per_label={"griefs": 1})
    with pytest.raises(ConfigError):
        EDAAugmenter(alpha_sr=2)


def test_eda_is_fast():
    rng = np.random.default_rng(0)
    vocab = ["".join(rng.choice(list("abcdefghij"), 5)) for _ in range(2000)]
    texts = [" ".join(rng.choice(vocab, size=rng.integers(6, 25))) + "!" for _ in range(2000)]
    labels = np.zeros((2000, 28), dtype=np.uint8)
    labels[:, LABEL_TO_ID["grief"]] = 1
    ds = EmotionDataset(texts, labels, source="goemotions")
    centers = rng.standard_normal((100, 50)).astype(np.float32)
    matrix = centers[np.arange(2000) % 100] + 0.3 * rng.standard_normal((2000, 50))
    vec = Vectors(words=vocab, matrix=matrix.astype(np.float32), dim=50)
    aug = EDAAugmenter(vectors=vec, n_aug=4, random_state=0)
    t0 = time.perf_counter()
    out = aug.augment(ds, labels=["grief"])
    elapsed = time.perf_counter() - t0
    assert len(out) == 8000 and {"sr", "ri", "rs", "rd"} == set(out.meta["aug_op"])
    assert len(out) / elapsed > 2000, f"{len(out) / elapsed:.0f} rows/s"
