"""Ray Data scoring (local Ray, 2 CPUs) against single-process scoring, and DDP under torchrun.

The Ray tests share one module-scoped ``ray.init``; each Ray job starts its own actors.
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emobalance import distributed as D
from emobalance.cli import main
from emobalance.data.dataset import EmotionDataset
from emobalance.errors import DataError, EmobalanceError
from emobalance.labels import LABEL_TO_ID
from emobalance.models.reference import EmotionClassifier
from emobalance.scoring import PROBA_COLUMNS, predict_file

HERE = Path(__file__).parent
TINY_MODEL = dict(
    vectors=None, embedding_dim=16, conv_channels=8, lstm_hidden=8, attention_dim=8,
    max_len=20, min_freq=1, dropout=0.0, embedding_dropout=0.0,
)  # fmt: skip
TINY_TRAIN = dict(
    epochs=2, batch_size=16, lr=0.01, lr_schedule="constant", patience=5,
    mixed_precision="off", progress=False, seed=0, num_threads=1,
)  # fmt: skip
WORDS = {
    "gratitude": ["thanks", "thank", "grateful", "appreciate"],
    "anger": ["furious", "angry", "rage", "mad"],
    "joy": ["happy", "glad", "delighted", "yay"],
    "neutral": ["table", "monday", "report", "meeting"],
}
FILLER = ["the", "a", "so", "it", "was", "really", "today", "and"]


def make_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts of 2 to 17 words (many lengths, so batches mix) and their labels."""
    rng = np.random.default_rng(seed)
    names = list(WORDS)
    texts, labels = [], np.zeros((n, 28), dtype=np.uint8)
    for i in range(n):
        lab = names[i % len(names)]
        words = list(rng.choice(WORDS[lab], size=2)) + list(rng.choice(FILLER, i % 16))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels[i, LABEL_TO_ID[lab]] = 1
    return texts, labels


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    texts, labels = make_texts(200, 0)
    dev_texts, dev_labels = make_texts(60, 1)
    clf = EmotionClassifier(model=TINY_MODEL, train=TINY_TRAIN).fit(
        EmotionDataset(texts, labels, source="user"),
        EmotionDataset(dev_texts, dev_labels, source="user"),
    )
    return clf.save(tmp_path_factory.mktemp("model") / "m")


@pytest.fixture(scope="module")
def ray_installed():
    """The ``distributed`` extra (the DDP tests need only torch)."""
    return pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local(ray_installed):
    """One local Ray (2 CPUs) for the module; each job starts its own actors."""
    ray = ray_installed
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def posts(tmp_path_factory):
    """3,000 rows in a Parquet file of 500-row row groups, with ids."""
    texts, _ = make_texts(3000, 5)
    path = tmp_path_factory.mktemp("in") / "posts.parquet"
    ids = [f"post-{i}" for i in range(len(texts))]
    pq.write_table(pa.table({"id": ids, "text": texts}), path, row_group_size=500)
    return path, texts


def single_process(clf, path, tmp_path) -> pd.DataFrame:
    out = tmp_path / "single.parquet"
    predict_file(clf, path, out)
    return pq.read_table(out).to_pandas()


def max_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    return float(np.abs(a[PROBA_COLUMNS].to_numpy() - b[PROBA_COLUMNS].to_numpy()).max())


# --------------------------------------------------------------------------- Ray Data


def test_ray_parquet_equals_single_process(model_dir, posts, ray_local, tmp_path):
    path, texts = posts
    out = tmp_path / "ray_out"
    rec = D.score_files(model_dir, str(path), str(out), workers=2, task_rows=800, chunk_size=400)
    assert rec["rows"] == len(texts) and rec["parts"] == 3 and rec["workers"] == 2
    got = pq.read_table(out).to_pandas()
    # no row lost or written twice
    assert len(got) == len(texts) and got["id"].is_unique
    assert sorted(got["row"]) == list(range(len(texts)))
    ref = single_process(EmotionClassifier.load(model_dir), path, tmp_path)
    ref["id"] = [f"post-{r}" for r in ref["row"]]
    joined = ref.merge(got, on="id", suffixes=("", "_ray"))
    assert len(joined) == len(texts)
    diff = float(
        np.abs(
            joined[PROBA_COLUMNS].to_numpy()
            - joined[[c + "_ray" for c in PROBA_COLUMNS]].to_numpy()
        ).max()
    )
    print(f"ray vs single-process max |dp| = {diff:.2e}")
    assert diff <= 1e-6
    assert (joined["labels"] == joined["labels_ray"]).all()
    assert json.loads((out / "_SUCCESS").read_text())["rows"] == len(texts)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_cli_ray_onnx_folder_of_csv_and_jsonl(model_dir, ray_local, tmp_path, capsys):
    from emobalance.export import export_onnx
    from emobalance.models.onnx import OnnxEmotionClassifier

    onnx_path = export_onnx(EmotionClassifier.load(model_dir), tmp_path / "m.onnx")
    texts, _ = make_texts(400, 7)
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    pd.DataFrame({"id": range(300), "text": texts[:300]}).to_csv(folder / "a.csv", index=False)
    with open(folder / "sub" / "b.jsonl", "w", encoding="utf-8") as f:
        for t in texts[300:]:
            f.write(json.dumps({"text": t}) + "\n")
    (folder / "_ignored.csv").write_text("not,read\n")
    out = tmp_path / "out"
    args = ["predict", str(onnx_path), "--input", str(folder), "--output", str(out)]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--engine", "ray", "--workers", "1", "--output-format", "csv"])
    assert exc.value.code in (0, None)
    assert "wrote 400 predictions" in capsys.readouterr().out
    got = pd.concat(
        [pd.read_csv(p, dtype={"id": str}) for p in sorted(out.glob("part-*.csv"))]
    ).sort_values(["file", "row"])
    assert len(got) == 400
    a = got[got["file"].str.endswith("a.csv")]
    assert a["id"].tolist() == [str(i) for i in range(300)]  # ids kept, as text
    b = got[got["file"].str.endswith("b.jsonl")]
    assert b["row"].tolist() == list(range(100)) and b["id"].isna().all()
    ref = OnnxEmotionClassifier.load(onnx_path).predict_proba(texts)
    assert np.abs(np.vstack([a[PROBA_COLUMNS], b[PROBA_COLUMNS]]) - ref).max() <= 1e-6


def test_malformed_input_names_file_and_line_and_writes_nothing(model_dir, ray_local, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"id": 1, "text": "fine"}\n' * 50, encoding="utf-8")
    lines = ['{"id": 1, "text": "ok"}', '{"id": 2, "text": "ok too"}', '{"id": 3, "text": 5}']
    (folder / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=r"b\.jsonl: line 3: field 'text'"):
        D.score_files(model_dir, str(folder), str(out), workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no staging


def test_unreachable_cluster_fails_fast_and_writes_nothing(
    ray_installed, model_dir, posts, tmp_path
):
    out = tmp_path / "out"
    t0 = time.perf_counter()
    with pytest.raises(EmobalanceError, match=r"cannot reach the Ray cluster at 127\.0\.0\.1:1 "):
        D.score_files(model_dir, str(posts[0]), str(out), address="127.0.0.1:1")
    with pytest.raises(EmobalanceError, match=r"ray://192\.0\.2\.1:10001 within 0\.3s"):
        D.probe_address("ray://192.0.2.1:10001", timeout=0.3)  # TEST-NET: never answers
    assert time.perf_counter() - t0 < 10
    assert not out.exists()


def test_cli_errors_are_one_line(ray_installed, model_dir, posts, tmp_path, monkeypatch, capsys):
    args = ["predict", str(model_dir), "--input", str(posts[0]), "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--engine", "ray", "--address", "ray://127.0.0.1:1", "--connect-timeout", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Ray cluster") and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(SystemExit):
        main([*args, "--engine", "ray"])
    err = capsys.readouterr().err
    assert "`distributed` extra" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_existing_output_that_is_not_ours_is_refused(ray_installed, model_dir, posts, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(DataError, match="not an output of this command"):
        D.score_files(model_dir, str(posts[0]), str(out))
    assert (out / "keep.txt").read_text() == "precious"


def test_list_inputs_glob_and_plan(tmp_path):
    for name in ("a.parquet", "b.parquet", ".hidden.parquet", "notes.txt"):
        pq.write_table(pa.table({"text": ["x"] * 30}), tmp_path / name, row_group_size=10)
    fs, files = D.list_inputs(str(tmp_path / "*.parquet"))
    assert [Path(f).name for f in files] == ["a.parquet", "b.parquet"]
    tasks, total = D.plan_tasks(fs, files, "text", task_rows=20)
    assert total == 60 and [(t.start, t.stop) for t in tasks] == [(0, 20), (20, 30)] * 2
    with pytest.raises(DataError, match="no column 'body'"):
        D.plan_tasks(fs, files, "body", task_rows=20)
    with pytest.raises(DataError, match="no input files"):
        D.list_inputs(str(tmp_path / "*.csv"))


def test_pseudo_label_on_ray_equals_local(model_dir, ray_local, tmp_path):
    from emobalance.balance.pseudo_label import score_corpus
    from emobalance.teachers import ClassifierTeacher

    texts, _ = make_texts(600, 9)
    corpus = EmotionDataset(texts, None, source="user")
    teacher = ClassifierTeacher(EmotionClassifier.load(model_dir), name="tiny")
    local = score_corpus(corpus, teacher, part_rows=200, teacher_name="tiny")
    on_ray = score_corpus(corpus, teacher, tmp_path, part_rows=200, teacher_name="tiny",
                          engine="ray")  # fmt: skip
    assert np.abs(local - on_ray).max() <= 1e-6
    assert sorted(p.name for p in tmp_path.glob("part-*.parquet")) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet",
    ]  # fmt: skip
    # resumable as the local engine: the parts are reused, nothing is rescored
    again = score_corpus(corpus, teacher, tmp_path, part_rows=200, teacher_name="tiny",
                         engine="ray")  # fmt: skip
    np.testing.assert_array_equal(again, on_ray)


# --------------------------------------------------------------------------- DDP


def _worker_module():
    spec = importlib.util.spec_from_file_location("ddp_worker", HERE / "ddp_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ddp_two_gloo_processes_equal_one_process_on_global_batches(tmp_path):
    import torch

    out = tmp_path / "rank0.npz"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(HERE / "ddp_worker.py"), str(out)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = _worker_module().train(distributed=False)
    finally:
        torch.set_num_threads(threads)
    got = np.load(out)
    assert sorted(got.files) == sorted(ref)
    diff = max(float(np.abs(ref[k] - got[k]).max()) for k in ref)
    print(f"DDP (2 x gloo) vs one process max |dparam| = {diff:.2e}")
    assert diff <= 1e-5


def test_train_distributed_outside_torchrun_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", str(tmp_path / "m"), "--distributed"])
    assert exc.value.code == 2
    assert "runs under torchrun" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["reference", "tfidf", "transformer", "onnx"])
def test_payload_ships_every_model_kind(kind, model_kind_paths):
    from emobalance.models.registry import load_model, model_id

    path = model_kind_paths[kind]
    payload = D.ModelPayload.from_path(path)
    assert payload.kind == kind and payload.model_id == model_id(path)
    texts = np.array(["thanks so much", "so angry"], dtype=object)
    out = D.Predictor(payload)({"id": np.array(["a", "b"]), "text": texts})
    model = load_model(path, device="cpu")
    got = np.stack([out[c] for c in PROBA_COLUMNS], axis=1)
    np.testing.assert_allclose(got, model.predict_proba(list(texts)), atol=1e-6)
    assert list(out["id"]) == ["a", "b"]


def test_stale_staging_of_a_dead_run_is_removed_and_a_local_output_locked(ray_installed, tmp_path):
    # issue 14: a driver killed mid-job leaves its hidden staging folder; the next run on the
    # same output removes it (its pid is gone), and a run in progress locks the output
    from emobalance.io import HOST_TAG, LockedError, output_lock

    (tmp_path / "in.jsonl").write_text('{"text": "hi"}\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f".out.tmp-{HOST_TAG}-{int(done.stdout)}-0123abcd"
    stale.mkdir()
    (stale / "part-000000.parquet").write_bytes(b"half a part")
    args = (tmp_path / "no-model", str(tmp_path / "in.jsonl"), str(tmp_path / "out"))
    with (
        output_lock(tmp_path / "out", "another job"),
        pytest.raises(LockedError, match=rf"pid {os.getpid()} .*another job"),
    ):
        D.score_files(*args)
    assert stale.is_dir()  # refused before anything was touched
    with pytest.raises(EmobalanceError):  # no such model: fails after the clean-up
        D.score_files(*args)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # no staging, no lock


# ------------------------------------------------------- own label schemas (issue 24)
class _FiveModel:
    """A model of 5 labels of its own: p(label j) = (j + 1) / 10."""

    def __init__(self, single_label=False):
        from emobalance.labels import LabelSchema

        self.labels_ = LabelSchema(["joy", "anger", "fear", "trust", "calm"], name="five",
                                   single_label=single_label)  # fmt: skip
        self.thresholds_ = np.full(5, 0.35, dtype=np.float32)

    def predict_proba(self, texts, batch_size=256):
        return np.tile((np.arange(5, dtype=np.float32) + 1) / 10, (len(texts), 1))


def test_predictor_answers_in_the_models_own_columns():
    pred = D.Predictor(_FiveModel())
    out = pred({"id": np.array(["a", "b"]), "text": np.array(["x", "y"], dtype=object)})
    assert list(out) == ["id", "labels", "p_joy", "p_anger", "p_fear", "p_trust", "p_calm"]
    assert out["labels"].tolist() == ["trust,calm"] * 2
    single = D.Predictor(_FiveModel(single_label=True))
    assert single({"text": np.array(["x"], dtype=object)})["labels"].tolist() == ["calm"]
    assert D.label_names(np.array([[0.9, 0.1]]), np.array([0.5, 0.5])) == ["label_0"]


def test_part_writer_writes_the_columns_it_is_given(tmp_path):
    import pyarrow.fs as pafs

    from emobalance.distributed.files import PartWriter

    cols = D.Predictor(_FiveModel())({"text": np.array(["x"], dtype=object)})
    cols = {"file": np.array(["in.csv"], dtype=object), "row": np.array([0])} | cols
    w = PartWriter(pafs.LocalFileSystem(), str(tmp_path / "part.parquet"), "parquet")
    w.write(cols)
    w.close()
    t = pq.read_table(tmp_path / "part.parquet")
    assert t.column_names == ["file", "row", "labels", "p_joy", "p_anger", "p_fear", "p_trust",
                              "p_calm"]  # fmt: skip
