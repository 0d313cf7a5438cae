"""Inference throughput: ``predict_proba`` texts/s on 5,000 GoEmotions test texts, batch 256.

Measures, in one run, the reference model (PyTorch), the same model exported to ONNX and run
on onnxruntime (fp32, and int8 dynamic quantization), the TF-IDF baseline and fastText
supervised (package ``fasttext-numpy2``, loss ``ova``), and prints one JSON object with
``torch_texts_per_s``, ``onnx_texts_per_s`` (fp32), ``onnx_int8_texts_per_s``,
``tfidf_texts_per_s``, ``fasttext_texts_per_s``, their ratios, and the largest probability
difference of each ONNX model from PyTorch on the measured texts.

    python benchmarks/speed.py --model-dir /tmp/ref   # reuse models saved by quality.py
    python benchmarks/speed.py                        # trains what it needs first
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine


def throughput(fn, texts: list[str], repeats: int = 3) -> float:
    """Best of ``repeats`` timed runs (texts/s), after one warm-up on a slice."""
    fn(texts[:512])
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


class FastTextModel:
    """fastText supervised one-vs-all classifier with a predict_proba over the 28 labels."""

    def __init__(self, train_texts, train_labels, epoch: int = 25, dim: int = 100) -> None:
        import fasttext

        from emobalance.labels import LABELS

        self.labels = LABELS
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            for text, row in zip(train_texts, train_labels, strict=True):
                tags = " ".join(f"__label__{LABELS[j]}" for j in np.flatnonzero(row))
                f.write(f"{tags} {self._clean(text)}\n")
            path = f.name
        self.model = fasttext.train_supervised(
            path, loss="ova", epoch=epoch, dim=dim, wordNgrams=2, lr=0.5, verbose=0, thread=2
        )
        Path(path).unlink()
        self.index = {f"__label__{lab}": j for j, lab in enumerate(LABELS)}

    @staticmethod
    def _clean(text: str) -> str:
        return " ".join(text.lower().split())

    def predict_proba(self, texts, batch_size: int = 256) -> np.ndarray:
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for s in range(0, len(texts), batch_size):
            chunk = [self._clean(t) for t in texts[s : s + batch_size]]
            labs, probs = self.model.predict(chunk, k=-1, threshold=0.0)
            for i, (ls, ps) in enumerate(zip(labs, probs, strict=True)):
                for lab, p in zip(ls, ps, strict=True):
                    out[s + i, self.index[lab]] = p
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model-dir", default=None, help="folder with reference/ and tfidf/")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=256)
    args = ap.parse_args()

    import torch

    from emobalance.data import goemotions
    from emobalance.export import export_onnx
    from emobalance.models.baselines import TfidfBaseline
    from emobalance.models.onnx import OnnxEmotionClassifier
    from emobalance.models.reference import EmotionClassifier

    train, dev, test = (goemotions.load(s) for s in ("train", "dev", "test"))
    texts = test.texts[: args.n]
    bs = args.batch_size
    if args.model_dir:
        ref = EmotionClassifier.load(Path(args.model_dir) / "reference")
        tfidf = TfidfBaseline.load(Path(args.model_dir) / "tfidf")
    else:
        ref = EmotionClassifier().fit(train, dev)
        tfidf = TfidfBaseline().fit(train, dev)
    ft = FastTextModel(train.texts, train.labels)
    with tempfile.TemporaryDirectory() as d:
        onnx32 = OnnxEmotionClassifier.load(export_onnx(ref, Path(d) / "ref.onnx"))
        onnx8 = OnnxEmotionClassifier.load(export_onnx(ref, Path(d) / "q.onnx", quantize="int8"))
    want = ref.predict_proba(texts, batch_size=bs)
    res = {
        "n_texts": len(texts),
        "batch_size": bs,
        "torch_threads": torch.get_num_threads(),
        "onnx_batch_workers": onnx32.batch_workers_,
        "onnx_intra_op_threads": onnx32.session_.get_session_options().intra_op_num_threads,
        "torch_texts_per_s": throughput(lambda t: ref.predict_proba(t, batch_size=bs), texts),
        "onnx_texts_per_s": throughput(lambda t: onnx32.predict_proba(t, batch_size=bs), texts),
        "onnx_int8_texts_per_s": throughput(lambda t: onnx8.predict_proba(t, batch_size=bs), texts),
        "onnx_max_abs_diff": float(np.abs(onnx32.predict_proba(texts) - want).max()),
        "onnx_int8_max_abs_diff": float(np.abs(onnx8.predict_proba(texts) - want).max()),
        "tfidf_texts_per_s": throughput(lambda t: tfidf.predict_proba(t), texts),
        "fasttext_texts_per_s": throughput(lambda t: ft.predict_proba(t, batch_size=bs), texts),
    }
    res["onnx_vs_torch"] = res["onnx_texts_per_s"] / res["torch_texts_per_s"]
    res["onnx_int8_vs_torch"] = res["onnx_int8_texts_per_s"] / res["torch_texts_per_s"]
    res["torch_vs_tfidf"] = res["torch_texts_per_s"] / res["tfidf_texts_per_s"]
    res["torch_vs_fasttext"] = res["torch_texts_per_s"] / res["fasttext_texts_per_s"]
    res["machine"] = machine()
    emit(res)


if __name__ == "__main__":
    main()
