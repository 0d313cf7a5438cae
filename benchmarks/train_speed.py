"""Where a training epoch's time goes: one epoch of the reference network and one fine-tune
epoch of the teacher, profiled on the production code path, against this CPU's measured peak.

Prints one JSON line per model::

    python benchmarks/train_speed.py                          # reference, then the MiniLM teacher
    python benchmarks/train_speed.py --models reference --repeats 3

Each model is fitted for one epoch by its own ``fit`` (``EmotionClassifier.fit``,
``TransformerClassifier.fit``) with :class:`emobalance.training.Trainer` swapped for a subclass
that only adds timers: module forward hooks, post-accumulate-grad hooks on the parameters
(the end of each layer's backward), optimizer step hooks, and wrappers of the collate, loss,
bucketing and dev-scoring hooks. The step's timeline is cut at those marks:

- reference, forward: ``embedding``, ``embedding_dropout`` (the dropout and the transpose),
  ``conv``, ``lstm`` (the LSTM with the masking and max pooling around it), ``attention``,
  ``head`` (concatenation, dropout, classifier), ``loss``;
- reference, backward: ``head`` (from the loss, zero_grad included), ``attention``, ``lstm``
  (with the max-pool and mask glue), ``conv``, ``embedding`` (the dense embedding gradient);
- teacher: ``embeddings``, per layer ``attention`` and ``ffn`` (summed over the layers), ``head``
  (mean pooling, dropout, linear), in both directions;
- both: ``collate`` (padding the batch), ``clip`` (gradient norm clipping), ``optimizer`` (the
  AdamW step), ``other`` (the rest of the loop: LR schedule, loss read-out, progress).

Data preparation (tokenising, the vocabulary, the embedding matrix, bucketing) and the dev
evaluation after the epoch are timed too. FLOPs follow the usual rule: a layer's forward
multiply-adds x 2, training = 3 x forward (the backward computes two products per forward
one); the embedding lookup counts 0. Peaks are measured here: the rate of a 2048^3 matrix
product in fp32 and bf16 at the run's thread count.

Run it on an idle machine. It works on earlier versions of the package too (set PYTHONPATH to
another checkout's ``src``), which is how docs/BENCHMARKS.md gives "before" and "after".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine, peak_rss_mb


def measured_peaks() -> dict[str, float]:
    """GFLOP/s of a 2048^3 matrix product, fp32 and bf16, best of 5 (this process's threads)."""
    import torch

    out = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(2048, 2048, dtype=dtype)
        b = torch.randn(2048, 2048, dtype=dtype)
        a @ b
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
        out[name] = 2 * 2048**3 / best / 1e9
    return out


class Timeline:
    """Named time marks per training step; segments are differences of consecutive marks."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.totals: dict[str, float] = defaultdict(float)
        self.steps = 0

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter()

    def mark_once(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter())

    def add(self, name: str, seconds: float) -> None:
        self.totals[name] += seconds

    def close_step(self, segments: list[tuple[str, str, str]]) -> None:
        """Add ``end - start`` of each ``(name, start, end)`` whose two marks exist."""
        m = self.marks
        for name, start, end in segments:
            if start in m and end in m:
                self.totals[name] += m[end] - m[start]
        self.steps += 1
        self.marks = {}


def _after_grads(params: list, callback) -> None:
    """Call ``callback()`` once all of ``params`` have their gradient accumulated this step."""
    params = [p for p in params if p.requires_grad]
    pending = {"left": len(params)}

    def hook(_p) -> None:
        pending["left"] -= 1
        if pending["left"] == 0:
            callback()
            pending["left"] = len(params)

    for p in params:
        p.register_post_accumulate_grad_hook(hook)


def _forward_marks(module, tl: Timeline, name: str) -> None:
    module.register_forward_pre_hook(lambda *_: tl.mark(f"{name}.fwd.start"))
    module.register_forward_hook(lambda *_: tl.mark(f"{name}.fwd.end"))


def install_reference_hooks(net, tl: Timeline) -> list[tuple[str, str, str]]:
    """Marks on the reference network; the segments of one step."""
    _forward_marks(net.embedding, tl, "embedding")
    convs = list(net.convs) if net.convs is not None else []
    if convs:
        convs[0].register_forward_pre_hook(lambda *_: tl.mark("conv.fwd.start"))
        convs[-1].register_forward_hook(lambda *_: tl.mark("conv.fwd.end"))
        _after_grads([p for c in convs for p in c.parameters()], lambda: tl.mark("conv.bwd.end"))
    after_embedding = "conv.fwd.start" if convs else "lstm.fwd.start"
    if net.attention is not None:
        _forward_marks(net.attention, tl, "attention")
        _after_grads(list(net.attention.parameters()), lambda: tl.mark("attention.bwd.end"))
        pool_start = "attention.fwd.start"
        pool_end = "attention.fwd.end"
    else:
        net.classifier.register_forward_pre_hook(lambda *_: tl.mark("pool.end"))
        pool_start = pool_end = "pool.end"
    net.classifier.register_forward_hook(lambda *_: tl.mark("head.fwd.end"))
    _after_grads(list(net.classifier.parameters()), lambda: tl.mark("head.bwd.end"))
    _after_grads(list(net.lstm.parameters()), lambda: tl.mark("lstm.bwd.end"))
    _after_grads(list(net.embedding.parameters()), lambda: tl.mark("embedding.bwd.end"))
    lstm_start = "conv.fwd.end" if convs else "embedding.fwd.end"
    bwd_before_lstm = "attention.bwd.end" if net.attention is not None else "head.bwd.end"
    lstm_end_bwd_next = "conv.bwd.end" if convs else "embedding.bwd.end"
    return [
        ("collate", "collate.start", "collate.end"),
        ("fwd.embedding", "embedding.fwd.start", "embedding.fwd.end"),
        ("fwd.embedding_dropout", "embedding.fwd.end", after_embedding),
        ("fwd.conv", "conv.fwd.start", "conv.fwd.end"),
        ("fwd.lstm", lstm_start, pool_start),
        ("fwd.attention", "attention.fwd.start", "attention.fwd.end"),
        ("fwd.head", pool_end, "head.fwd.end"),
        ("fwd.loss", "head.fwd.end", "loss.end"),
        ("bwd.head", "loss.end", "head.bwd.end"),
        ("bwd.attention", "head.bwd.end", "attention.bwd.end"),
        ("bwd.lstm", bwd_before_lstm, "lstm.bwd.end"),
        ("bwd.conv", "lstm.bwd.end", "conv.bwd.end"),
        ("bwd.embedding", lstm_end_bwd_next, "embedding.bwd.end"),
        ("clip", "embedding.bwd.end", "opt.start"),
        ("optimizer", "opt.start", "opt.end"),
    ]


def install_teacher_hooks(net, tl: Timeline) -> list[tuple[str, str, str]]:
    """Marks on a BERT-style encoder (``embeddings``, ``encoder.layer[i]`` with ``attention``,
    ``intermediate``, ``output``) under the mean-pool head; the segments of one step."""
    enc = net.encoder
    layers = list(enc.encoder.layer)
    _forward_marks(enc.embeddings, tl, "embeddings")
    segments = [
        ("collate", "collate.start", "collate.end"),
        ("fwd.embeddings", "embeddings.fwd.start", "embeddings.fwd.end"),
    ]
    for i, layer in enumerate(layers):
        layer.attention.register_forward_pre_hook(lambda *_, i=i: tl.mark(f"l{i}.attn.start"))
        layer.attention.register_forward_hook(lambda *_, i=i: tl.mark(f"l{i}.attn.end"))
        layer.register_forward_hook(lambda *_, i=i: tl.mark(f"l{i}.end"))
        prev = "embeddings.fwd.end" if i == 0 else f"l{i - 1}.end"
        segments += [
            (f"fwd.attention.{i}", prev, f"l{i}.attn.end"),
            (f"fwd.ffn.{i}", f"l{i}.attn.end", f"l{i}.end"),
        ]
        ffn = [*layer.intermediate.parameters(), *layer.output.parameters()]
        _after_grads(ffn, lambda i=i: tl.mark(f"l{i}.ffn.bwd.end"))
        _after_grads(list(layer.attention.parameters()), lambda i=i: tl.mark(f"l{i}.attn.bwd.end"))
    net.head.register_forward_hook(lambda *_: tl.mark("head.fwd.end"))
    _after_grads(list(net.head.parameters()), lambda: tl.mark("head.bwd.end"))
    _after_grads(list(enc.embeddings.parameters()), lambda: tl.mark("embeddings.bwd.end"))
    last = len(layers) - 1
    segments += [
        ("fwd.head", f"l{last}.end", "head.fwd.end"),
        ("fwd.loss", "head.fwd.end", "loss.end"),
        ("bwd.head", "loss.end", "head.bwd.end"),
    ]
    for i in reversed(range(len(layers))):
        prev = "head.bwd.end" if i == last else f"l{i + 1}.attn.bwd.end"
        segments += [
            (f"bwd.ffn.{i}", prev, f"l{i}.ffn.bwd.end"),
            (f"bwd.attention.{i}", f"l{i}.ffn.bwd.end", f"l{i}.attn.bwd.end"),
        ]
    segments += [
        ("bwd.embeddings", "l0.attn.bwd.end", "embeddings.bwd.end"),
        ("clip", "embeddings.bwd.end", "opt.start"),
        ("optimizer", "opt.start", "opt.end"),
    ]
    return segments


def profiled_trainer(base, tl: Timeline, kind: str, record: dict[str, Any]):
    """A subclass of ``base`` (the package's Trainer) that only adds the timers."""
    import torch
    from torch import nn

    class TimedLoss(nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, logits, targets):
            out = self.inner(logits, targets)
            tl.mark("loss.end")
            return out

    class ProfiledTrainer(base):
        def _make_optimizer(self, model):
            opt = super()._make_optimizer(model)
            opt.register_step_pre_hook(lambda *_: tl.mark("opt.start"))
            opt.register_step_post_hook(lambda *_: tl.mark("opt.end"))
            record["optimizer"] = type(opt).__name__ + (
                " (fused)" if opt.defaults.get("fused") else
                " (foreach)" if opt.defaults.get("foreach") else " (for-loop)"
            )  # fmt: skip
            return opt

        def epoch_groups(self, lengths, epoch):
            t0 = time.perf_counter()
            groups = super().epoch_groups(lengths, epoch)
            tl.add("bucketing", time.perf_counter() - t0)
            record["batches"] = [g[0] for g in groups]
            record["lengths"] = np.asarray(lengths)
            return groups

        def fit(self, train_inputs, train_targets, dev_inputs=None, dev_labels=None,
                sample_weight=None, loss_fn=None):  # fmt: skip
            from emobalance import training

            net = self.model
            self.segments = (install_reference_hooks if kind == "reference"
                             else install_teacher_hooks)(net, tl)  # fmt: skip
            loss_fn = loss_fn or training.make_loss(self.config, np.asarray(train_targets),
                                                    self.device)  # fmt: skip
            collate, score_dev = self.collate, self.score_dev
            segments = self.segments

            def close_previous_step() -> None:
                if tl.marks:
                    tl.mark("next.start")
                    tl.close_step([*segments, ("other", "opt.end", "next.start")])

            def timed_collate(inputs, idx, device):
                close_previous_step()
                tl.mark("collate.start")
                out = collate(inputs, idx, device)
                tl.mark("collate.end")
                return out

            def timed_score_dev(model, inputs):
                close_previous_step()
                t0 = time.perf_counter()
                out = score_dev(model, inputs)
                record["dev_eval_seconds"] = time.perf_counter() - t0
                return out

            self.collate, self.score_dev = timed_collate, timed_score_dev
            record["threads"] = torch.get_num_threads()
            return super().fit(train_inputs, train_targets, dev_inputs, dev_labels,
                               sample_weight=sample_weight, loss_fn=TimedLoss(loss_fn))  # fmt: skip

    return ProfiledTrainer


def padded_tokens(batches: list[np.ndarray], lengths: np.ndarray) -> int:
    return int(sum(len(b) * int(lengths[b].max()) for b in batches if len(b)))


def reference_flops(net, tokens: int, rows: int) -> dict[str, float]:
    """Training FLOPs of an epoch (3 x forward) by layer, for ``tokens`` padded positions."""
    cfg = net.config
    d = cfg.embedding_dim
    fwd = {}
    if net.convs is not None:
        fwd["conv"] = sum(2 * k * d * cfg.conv_channels for k in cfg.conv_kernel_sizes) * tokens
        lstm_in = cfg.conv_channels * len(cfg.conv_kernel_sizes)
    else:
        lstm_in = d
    h = cfg.lstm_hidden
    per_dir = 0
    for layer in range(cfg.lstm_layers):
        i = lstm_in if layer == 0 else 2 * h
        per_dir += 2 * 4 * h * (i + h)
    fwd["lstm"] = 2 * per_dir * tokens
    if net.attention is not None:
        a = cfg.attention_dim
        fwd["attention"] = (2 * 2 * h * a + 2 * a + 2 * 2 * h) * tokens
    fwd["head"] = 2 * net.classifier.in_features * net.classifier.out_features * rows
    return {k: 3.0 * v for k, v in fwd.items()}


def teacher_flops(net, batches: list[np.ndarray], lengths: np.ndarray) -> dict[str, float]:
    cfg = net.encoder.config
    d, ff, n_layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    dense = attn = 0.0
    for b in batches:
        t = int(lengths[b].max())
        tok = len(b) * t
        dense += tok * (2 * 4 * d * d + 2 * 2 * d * ff)
        attn += tok * 2 * 2 * t * d  # Q K^T and weights x V
    return {"dense_layers": 3.0 * n_layers * dense, "attention_scores": 3.0 * n_layers * attn}


def summarise(tl: Timeline, record: dict[str, Any], epoch_s: float, flops: dict[str, float],
              peaks: dict[str, float], precision: str) -> dict[str, Any]:  # fmt: skip
    steps = max(tl.steps, 1)
    totals = dict(tl.totals)
    grouped: dict[str, float] = defaultdict(float)
    for k, v in totals.items():
        parts = k.split(".")
        grouped[".".join(parts[:2]) if parts[0] in ("fwd", "bwd") else parts[0]] += v
    stages = {k: v for k, v in sorted(grouped.items()) if k != "bucketing"}
    stage_sum = sum(stages.values())
    total_flops = sum(flops.values())
    achieved = total_flops / epoch_s / 1e9
    return {
        "epoch_seconds": epoch_s,
        "steps": tl.steps,
        "seconds_by_stage": {k: round(v, 3) for k, v in sorted(grouped.items())},
        "ms_per_step_by_stage": {k: round(v / steps * 1e3, 3) for k, v in stages.items()},
        "share_by_stage": {k: round(v / stage_sum, 4) for k, v in stages.items()},
        "stage_sum_seconds": stage_sum,
        "dev_eval_seconds": record.get("dev_eval_seconds"),
        "optimizer": record.get("optimizer"),
        "threads": record.get("threads"),
        "precision": precision,
        "train_flops": {k: float(v) for k, v in flops.items()},
        "train_tflop": total_flops / 1e12,
        "achieved_gflops": achieved,
        "peak_gflops": peaks,
        "fraction_of_peak": {k: achieved / v for k, v in peaks.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def profile_reference(peaks: dict[str, float], overrides: dict[str, Any]) -> dict[str, Any]:
    import emobalance.models.reference as ref_mod
    from emobalance import training
    from emobalance.data import goemotions
    from emobalance.text import vocab as vocab_mod

    train, dev = goemotions.load("train"), goemotions.load("dev")
    tl, record = Timeline(), {}
    prep: dict[str, float] = defaultdict(float)

    def timed(fn, name):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            prep[name] += time.perf_counter() - t0
            return out

        return wrapper

    # the tokenising of fit() (for the vocabulary) and the encoding of train and dev
    orig_tokenize, orig_encode = ref_mod.tokenize, vocab_mod.Vocab.encode_texts
    ref_mod.tokenize = timed(orig_tokenize, "tokenize")
    vocab_mod.Vocab.encode_texts = timed(orig_encode, "encode")
    base = training.Trainer
    training.Trainer = ref_mod.Trainer = profiled_trainer(base, tl, "reference", record)
    try:
        clf = ref_mod.EmotionClassifier(model=overrides.get("model", {}),
                                        train={**overrides.get("train", {}), "epochs": 1,
                                               "progress": False})  # fmt: skip
        t0 = time.perf_counter()
        clf.fit(train, dev)
        fit_s = time.perf_counter() - t0
    finally:
        training.Trainer = ref_mod.Trainer = base
        ref_mod.tokenize, vocab_mod.Vocab.encode_texts = orig_tokenize, orig_encode
    epoch_s = clf.history_[0]["epoch_seconds"]
    batches, lengths = record["batches"], record["lengths"]
    tokens = padded_tokens(batches, lengths)
    out = summarise(tl, record, epoch_s, reference_flops(clf.network_, tokens, len(lengths)),
                    peaks, clf.metrics_["precision"])  # fmt: skip
    prepare = dict(prep)
    prepare["vocab_and_embeddings"] = clf.metrics_["prepare_seconds"] - prep.get("tokenize", 0.0)
    out.update(
        model="reference",
        fit_seconds=fit_s,
        prepare_seconds={k: round(v, 3) for k, v in prepare.items()},
        bucketing_seconds=tl.totals.get("bucketing", 0.0),
        padded_tokens=tokens,
        real_tokens=int(lengths.sum()),
        batches=len(batches),
        one_length_batches=sum(len(set(lengths[b].tolist())) == 1 for b in batches),
        dev_macro_f1_after_one_epoch=clf.history_[0].get("dev_macro_f1"),
    )
    return out


def profile_teacher(peaks: dict[str, float], overrides: dict[str, Any]) -> dict[str, Any]:
    import emobalance.models.transformer as tr_mod
    from emobalance import training
    from emobalance.data import goemotions

    train, dev = goemotions.load("train"), goemotions.load("dev")
    tl, record = Timeline(), {}
    prep: dict[str, float] = {}
    orig_tokenize = tr_mod.TransformerClassifier._tokenize

    def timed_tokenize(self, texts):
        t0 = time.perf_counter()
        out = orig_tokenize(self, texts)
        prep[f"tokenize_{len(texts)}_texts"] = time.perf_counter() - t0
        return out

    base = training.Trainer
    training.Trainer = profiled_trainer(base, tl, "teacher", record)
    tr_mod.TransformerClassifier._tokenize = timed_tokenize
    try:
        clf = tr_mod.TransformerClassifier({**overrides.get("teacher", {}), "epochs": 1,
                                            "progress": False})  # fmt: skip
        t0 = time.perf_counter()
        clf.fit(train, dev)
        fit_s = time.perf_counter() - t0
    finally:
        training.Trainer = base
        tr_mod.TransformerClassifier._tokenize = orig_tokenize
    epoch_s = clf.history_[0]["epoch_seconds"]
    batches, lengths = record["batches"], record["lengths"]
    out = summarise(tl, record, epoch_s, teacher_flops(clf.network_, batches, lengths), peaks,
                    clf.metrics_.get("precision", "?"))  # fmt: skip
    out.update(
        model="minilm_teacher",
        fit_seconds=fit_s,
        prepare_seconds={k: round(v, 3) for k, v in prep.items()},
        bucketing_seconds=tl.totals.get("bucketing", 0.0),
        padded_tokens=padded_tokens(batches, lengths),
        real_tokens=int(lengths.sum()),
        batches=len(batches),
        dev_macro_f1_after_one_epoch=clf.history_[0].get("dev_macro_f1"),
    )
    return out


def main() -> None:
    import json

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="reference,minilm_teacher", help="comma-separated")
    ap.add_argument("--repeats", type=int, default=1, help="profile each model this many times")
    ap.add_argument(
        "--config", default="{}", help="JSON overrides {model: {...}, train: {...}, teacher: {...}}"
    )
    args = ap.parse_args()
    overrides = json.loads(args.config)
    import emobalance

    peaks = measured_peaks()
    for name in args.models.split(","):
        fn = {"reference": profile_reference, "minilm_teacher": profile_teacher}[name]
        for r in range(args.repeats):
            res = fn(peaks, overrides)
            res.update(repeat=r, emobalance_version=emobalance.__version__, machine=machine())
            emit(res)


if __name__ == "__main__":
    main()
