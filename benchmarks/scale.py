"""Scale-out throughput: rows/s of single-process file scoring and of the Ray path.

Builds a Parquet file of ``--rows`` GoEmotions texts (the train split repeated; ids
``post-N``; row groups of 10,000 rows), then scores it three times on this machine:

* ``single``: :func:`emobalance.scoring.predict_file`, one process, torch (or onnxruntime)
  on all cores, 10,000-text chunks, batch 256;
* ``ray1`` / ``ray2``: :func:`emobalance.distributed.score_files` on a local Ray started once
  with as many CPUs as this machine has (cluster start-up not timed, as a cluster outlives
  its jobs), 1 and 2 workers of 1 thread each, the same chunks and batches, tasks of
  ``--task-rows`` rows. Ray timings run from the job's start to the published output, so
  they include the workers' start-up (imports, model load) and the Parquet writes.

It checks that every Ray output holds each id exactly once and the same probabilities as
single-process scoring (max |dp| after joining on id), and prints one JSON object with
``single_rows_per_s``, ``ray1_rows_per_s``, ``ray2_rows_per_s``, ``ray2_vs_single``, the
checks, ``rows_per_worker_s`` (rows per second of a worker's busy time: read, score and write,
start-up excluded; the number to size a cluster with) and the machine.

    python benchmarks/scale.py                                # 200,000 rows; trains a model
    python benchmarks/scale.py --model /tmp/bench/models/reference --rows 200000
    python benchmarks/scale.py --model model.onnx             # onnxruntime in every path
    python benchmarks/scale.py --rows 20000 --train-rows 2000 --task-rows 10000  # smoke

Without ``--model`` it trains the reference architecture (default ``ModelConfig``, random
embeddings, 1 epoch on ``--train-rows`` rows of GoEmotions train): the speed depends on the
architecture, not on how well it was trained.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, peak_rss_mb


def make_input(path: Path, rows: int) -> None:
    """GoEmotions train texts repeated to ``rows`` rows, with ids, as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from emobalance.data import goemotions

    texts = goemotions.load("train").texts
    reps = -(-rows // len(texts))
    table = pa.table(
        {
            "id": [f"post-{i}" for i in range(rows)],
            "text": (texts * reps)[:rows],
        }
    )
    pq.write_table(table, path, row_group_size=10_000)


def train_model(out: Path, train_rows: int) -> Path:
    """The reference architecture, 1 epoch, random embeddings (speed needs no quality)."""
    from emobalance.data import goemotions
    from emobalance.models.reference import EmotionClassifier

    train = goemotions.load("train")
    train = train.subset(np.arange(min(train_rows, len(train))))
    dev = goemotions.load("dev")
    clf = EmotionClassifier(
        model={"pretrained": False, "vectors": None},
        train={"epochs": 1, "progress": False, "mixed_precision": "off"},
    ).fit(train, dev)
    return clf.save(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model directory or .onnx file (default: train one)")
    ap.add_argument("--rows", type=int, default=200_000, help="rows in the input file")
    ap.add_argument("--train-rows", type=int, default=43_410, help="rows to train on")
    ap.add_argument(
        "--task-rows", type=int, default=20_000, help="rows per Ray task (10,000-row groups)"
    )
    ap.add_argument("--workdir", help="where the files go (default: a temporary folder)")
    args = ap.parse_args()

    import pyarrow.parquet as pq
    import ray

    from emobalance.distributed import PROBA_COLUMNS, score_files
    from emobalance.scoring import predict_file

    tmp = tempfile.TemporaryDirectory(prefix="emobalance-scale-")
    work = Path(args.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = Path(args.model) if args.model else train_model(work / "model", args.train_rows)
    train_s = time.perf_counter() - t0
    engine = "onnx" if model.suffix.lower() == ".onnx" else "torch"
    src = work / "posts.parquet"
    make_input(src, args.rows)

    # single process, all cores
    if engine == "onnx":
        from emobalance.models.onnx import OnnxEmotionClassifier

        clf = OnnxEmotionClassifier.load(model)
    else:
        from emobalance.models.reference import EmotionClassifier

        clf = EmotionClassifier.load(model)
    single_out = work / "single.parquet"
    t1 = time.perf_counter()
    n = predict_file(clf, src, single_out, progress=False)
    single_s = time.perf_counter() - t1
    ref = pq.read_table(single_out, columns=["row", *PROBA_COLUMNS]).to_pandas()
    ref_p = ref.sort_values("row")[PROBA_COLUMNS].to_numpy()

    cores = os.cpu_count() or 1
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    result: dict = {}
    try:
        for workers in (1, 2):
            out = work / f"ray{workers}"
            t2 = time.perf_counter()
            rec = score_files(
                model, str(src), str(out), workers=workers, task_rows=args.task_rows, progress=False
            )
            wall = time.perf_counter() - t2
            got = pq.read_table(out, columns=["id", *PROBA_COLUMNS]).to_pandas()
            rows = got["id"].str.slice(5).astype(np.int64).to_numpy()
            ok = len(got) == n and got["id"].is_unique and rows.min() == 0 and rows.max() == n - 1
            diff = float(np.abs(got[PROBA_COLUMNS].to_numpy() - ref_p[rows]).max())
            result[f"ray{workers}"] = {
                "rows_per_s": n / wall,
                "seconds": wall,
                "rows_ok": bool(ok),
                "max_abs_diff": diff,
                "parts": rec["parts"],
                "rows_per_worker_s": rec["rows_per_worker_s"],
            }
    finally:
        ray.shutdown()
    single = n / single_s
    emit(
        {
            "benchmark": "scale",
            "rows": n,
            "engine": engine,
            "single_rows_per_s": round(single, 1),
            "ray1_rows_per_s": round(result["ray1"]["rows_per_s"], 1),
            "ray2_rows_per_s": round(result["ray2"]["rows_per_s"], 1),
            "ray2_vs_single": round(result["ray2"]["rows_per_s"] / single, 3),
            "single_seconds": round(single_s, 2),
            "ray1": result["ray1"],
            "ray2": result["ray2"],
            "model": str(model) if args.model else f"trained here in {train_s:.0f}s",
            "peak_rss_mb_driver": round(peak_rss_mb(), 1),
            "machine": machine(),
        }
    )
    tmp.cleanup()


if __name__ == "__main__":
    main()
