"""Mixed precision on this machine: seconds per training epoch (GoEmotions train) in fp32 and
bf16 autocast (CPU) with the default reference config, and which ``auto`` picks.

    python benchmarks/precision.py            # one epoch each, default config
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()

    import torch

    from emobalance.config import ModelConfig, TrainConfig
    from emobalance.data import goemotions
    from emobalance.models.cnn_bilstm_attention import CNNBiLSTMAttention
    from emobalance.text import Vocab, tokenize
    from emobalance.training import Trainer, cpu_has_native_bf16, resolve_precision

    train = goemotions.load("train")
    mc = ModelConfig()
    vocab = Vocab.build((tokenize(t) for t in train.texts), min_freq=mc.min_freq)
    seqs = vocab.encode_texts(train.texts, mc.max_len)
    res = {"machine": machine(), "cpu_native_bf16": cpu_has_native_bf16(), "n_train": len(seqs)}
    for mode in ("off", "bf16"):
        torch.manual_seed(0)
        model = CNNBiLSTMAttention(len(vocab), mc)
        tc = TrainConfig(epochs=args.epochs, mixed_precision=mode, progress=False)
        t0 = time.perf_counter()
        r = Trainer(model, tc).fit(seqs, train.labels.astype(np.float32))
        res[f"{'fp32' if mode == 'off' else mode}_epoch_seconds"] = float(
            np.mean([h["epoch_seconds"] for h in r.history])
        )
        res[f"{'fp32' if mode == 'off' else mode}_total_seconds"] = time.perf_counter() - t0
    res["auto_on_cpu"] = {None: "fp32", torch.bfloat16: "bf16"}[
        resolve_precision("auto", torch.device("cpu"))
    ]
    res["faster"] = "bf16" if res["bf16_epoch_seconds"] < res["fp32_epoch_seconds"] else "fp32"
    emit(res)


if __name__ == "__main__":
    main()
