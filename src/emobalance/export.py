"""ONNX export of the reference network, and its parity check.

One file holds everything: the graph plus, in the ONNX ``metadata_props``, the vocabulary,
the per-label thresholds, the model config (tokenisation, ``max_len``) and the dev metrics,
so :class:`~emobalance.models.onnx.OnnxEmotionClassifier` loads from the ``.onnx`` file alone
and needs neither torch nor the model directory.

The graph takes ``ids`` (int64 ``[batch, seq]``) and returns ``logits`` (float32
``[batch, L]``, one per label) and ``attention`` (float32 ``[batch, seq]``; zeros for a model
without attention). It has no padding mask and no packed sequences: every row of a batch must be a
whole text, so the predictor runs batches whose texts all have the same token count, as
:func:`emobalance.training.inference_batches` does for the fast unpacked PyTorch path. The
plain LSTM over an unpadded batch is exact, and the results match PyTorch to float rounding.

Export needs ``torch`` and ``onnx``; prediction needs only ``onnxruntime``
(``pip install emobalance[onnx]``).
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .errors import DataError, EmobalanceError, ModelError
from .models.onnx import (
    DEFAULT_FILE,
    FORMAT,
    FORMAT_VERSION,
    META,
    OnnxEmotionClassifier,
    require,
)
from .models.schema import label_schema_fields
from .models.storage import temp_dir

if TYPE_CHECKING:
    from .models.reference import EmotionClassifier

DEFAULT_OPSET = 17
"""ONNX opset of the export; onnxruntime >= 1.18 runs it (LSTM, Softmax over the last axis)."""


# ------------------------------------------------------------------------------ export


def _graph_module(network: Any) -> Any:
    """An ``nn.Module`` computing ``ids -> (logits, attention)`` for unpadded batches."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class _FoldedConv(nn.Module):
        # A Conv1d over embeddings is linear in the embedding of each token, so tap j of a
        # kernel k is folded into a table E @ W[:, :, j].T (vocab x channels) read at offset
        # j - k // 2 (the Conv1d's padding k // 2, output cut to T). Gathers and adds replace
        # the convolutions (a third of the fp32 run time) and the embedding lookup.
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            emb = net.embedding.weight.detach().double()
            vocab = emb.shape[0]
            self.pad_id = vocab  # an extra all-zero row: the convolutions' zero padding
            widths = [conv.out_channels for conv in net.convs]
            starts = np.cumsum([0, *widths]).tolist()
            taps: dict[int, list[tuple[int, torch.Tensor]]] = {}
            for conv, lo in zip(net.convs, starts, strict=False):
                k = conv.kernel_size[0]
                w = conv.weight.detach().double()  # (out, dim, k)
                for j in range(k):
                    taps.setdefault(j - k // 2, []).append((lo, emb @ w[:, :, j].T))
            self.offsets = sorted(taps)
            self.spans: list[tuple[int, int]] = []
            self.channels = starts[-1]
            bias = torch.cat([conv.bias.detach().double() for conv in net.convs])
            for i, d in enumerate(self.offsets):
                lo = min(c for c, _ in taps[d])
                hi = max(c + t.shape[1] for c, t in taps[d])
                table = torch.zeros((vocab + 1, hi - lo), dtype=torch.float64)
                for c, t in taps[d]:
                    table[:vocab, c - lo : c - lo + t.shape[1]] += t
                if d == 0:  # every position has a real token at offset 0: the bias goes there
                    table[:vocab] += bias[lo:hi]
                self.register_buffer(f"table{i}", table.float())
                self.spans.append((lo, hi))
            if 0 not in taps or self.spans[self.offsets.index(0)] != (0, self.channels):
                raise ValueError("conv folding needs every kernel to have a centre tap")
            self.left, self.right = max(0, -self.offsets[0]), max(0, self.offsets[-1])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            t = ids.shape[1]
            padded = F.pad(ids, (self.left, self.right), value=self.pad_id)
            x = None
            for i, d in enumerate(self.offsets):
                g = F.embedding(
                    padded[:, self.left + d : self.left + d + t], self.get_buffer(f"table{i}")
                )
                lo, hi = self.spans[i]
                if (lo, hi) != (0, self.channels):
                    g = F.pad(g, (lo, self.channels - hi))
                x = g if x is None else x + g
            return torch.relu(x)

    class _Unpadded(nn.Module):
        # CNNBiLSTMAttention.forward without mask and packing: every position is a real token,
        # so masked_fill / mask products are identities and the LSTM sees whole sequences
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net
            self.conv = _FoldedConv(net) if net.convs is not None else None

        def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            net = self.net
            x = self.conv(ids) if self.conv is not None else net.embedding(ids)
            h, _ = net.lstm(x)
            mx = h.max(dim=1).values
            if net.attention is not None:
                att = net.attention
                scores = att.score(torch.tanh(att.proj(h))).squeeze(-1)
                weights = torch.softmax(scores, dim=-1)
                pooled = torch.bmm(weights.unsqueeze(1), h).squeeze(1)
                if net.config.attention_max_pool:
                    pooled = torch.cat([pooled, mx], dim=-1)
            else:
                weights = torch.zeros_like(ids, dtype=h.dtype)
                pooled = torch.cat([h.mean(dim=1), mx], dim=-1)
            return net.classifier(pooled), weights

    return _Unpadded(network)


def export_onnx(
    model: str | os.PathLike[str] | EmotionClassifier,
    out_path: str | os.PathLike[str] | None = None,
    quantize: str | None = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Export a trained model to one self-contained ONNX file (written atomically).

    Parameters
    ----------
    model : path or EmotionClassifier
        A model directory written by :meth:`EmotionClassifier.save`, or a fitted classifier.
    out_path : path, optional
        The ``.onnx`` file to write. Default: ``model.onnx`` (``model.int8.onnx`` with
        ``quantize="int8"``) inside the model directory.
    quantize : {None, "int8"}
        ``"int8"``: onnxruntime dynamic quantization (int8 weights of the folded embedding
        tables, LSTM and MatMul; activations quantized at run time). A 4x smaller file and
        about 1.6x faster; on the GoEmotions test set probabilities moved by 2e-3 on average
        (0.05 at most) and macro-F1 by under 1e-3.
    opset : int, default=17
        ONNX opset version.

    Returns
    -------
    Path
        The written file. The graph is always fp32 (training may have used bf16 autocast).

    Raises
    ------
    ModelError
        If the model directory is missing or invalid (naming the file).
    EmobalanceError
        If ``onnx`` is not installed, or ``quantize`` is not ``None`` / ``"int8"``.
    """
    if quantize not in (None, "int8"):
        raise EmobalanceError(f"quantize must be None or 'int8', got {quantize!r}")
    onnx = require("onnx")
    if quantize:
        require("onnxruntime")
    import torch

    from .models.reference import EmotionClassifier

    if isinstance(model, EmotionClassifier):
        clf = model
        clf._check_fitted()
        if out_path is None:
            raise EmobalanceError("export_onnx: give out_path when exporting a classifier object")
    else:
        clf = _load_reference(model)
        if out_path is None:
            out_path = Path(model) / ("model.int8.onnx" if quantize else DEFAULT_FILE)
    out = Path(out_path)
    # an fp32 CPU copy: the caller's network stays where it is, in whatever dtype it has
    net = copy.deepcopy(clf.network_).float().cpu().eval()
    graph = _graph_module(net).eval()
    example = torch.ones((2, 3), dtype=torch.int64)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # the legacy (TorchScript) exporter: nn.LSTM maps to one ONNX LSTM node, export takes
        # well under a second and needs no onnxscript; its deprecation and tracing notices are
        # expected here (the graph has no data-dependent branch)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example,),
            buf,
            dynamo=False,
            input_names=["ids"],
            output_names=["logits", "attention"],
            dynamic_axes={
                "ids": {0: "batch", 1: "seq"},
                "logits": {0: "batch"},
                "attention": {0: "batch", 1: "seq"},
            },
            opset_version=opset,
            do_constant_folding=True,
        )
    if out.is_dir():
        raise DataError(f"{out}: is a directory; give a file path")
    # every temporary file lives in one folder beside ``out``, removed on exit; one left by a
    # killed export (kill -9) is removed by the next export of ``out`` (storage.clean_stale)
    with temp_dir(out) as work:
        proto = onnx.load_from_string(buf.getvalue())
        if quantize == "int8":
            proto = _quantize_int8(proto, work)
        _set_metadata(proto, clf, quantize)
        tmp = work / out.name
        onnx.save(proto, str(tmp))
        os.replace(tmp, out)
    return out


def _set_metadata(proto: Any, clf: EmotionClassifier, quantize: str | None) -> None:
    """The vocabulary, thresholds, config, dev metrics and calibration into
    ``metadata_props``."""
    dev = getattr(clf, "metrics_", {}).get("dev")  # a network built by hand has no metrics
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "version": __version__,
        **{k: json.dumps(v) for k, v in label_schema_fields(clf.labels_).items()},
        "model": json.dumps(clf.model_config.model_dump(mode="json")),
        "vocab": json.dumps({"format": "emobalance-vocab", "version": 1, "itos": clf.vocab_.itos}),
        "thresholds": json.dumps([float(t) for t in clf.thresholds_]),
        "quantize": quantize or "none",
        "metrics": json.dumps({"dev": dev} if dev is not None else {}),
    }
    if getattr(clf, "calibration_", None) is not None:  # applied by the ONNX kind as by torch
        meta["calibration"] = json.dumps(clf.calibration_.to_json())
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = META + key, value
    proto.producer_name, proto.producer_version = "emobalance", __version__


SAMPLE_TEXTS = (
    "thank you so much, this made my day!",
    "I can't believe they did that again. Unreal.",
    "ok",
    "Not sure what to think about the meeting on Monday, maybe it is fine?",
    "wow",
    "This is the worst thing that could have happened and I am so angry right now",
    "",
    "lol 😂😂",
)


def check_export(
    model: str | os.PathLike[str] | EmotionClassifier,
    onnx_path: str | os.PathLike[str],
    texts: Sequence[str] = SAMPLE_TEXTS,
) -> float:
    """Largest absolute difference between ONNX and PyTorch probabilities on ``texts``.

    Parameters
    ----------
    model : path or EmotionClassifier
        The exported model (directory or fitted classifier).
    onnx_path : path
        The file written by :func:`export_onnx`.
    texts : sequence of str
        Texts to compare on (default: a few of different lengths).
    """
    from .models.reference import EmotionClassifier

    clf = model if isinstance(model, EmotionClassifier) else _load_reference(model)
    texts = list(texts)
    onnx_proba = OnnxEmotionClassifier.load(onnx_path).predict_proba(texts)
    return float(np.abs(onnx_proba - clf.predict_proba(texts)).max(initial=0.0))


def _load_reference(path: str | os.PathLike[str]) -> EmotionClassifier:
    """The reference model at ``path`` (through the registry); other kinds do not export."""
    from .models.registry import find_kind, load_model

    kind = find_kind(path)
    if kind not in (None, "reference"):  # refused before loading (a teacher is large)
        raise ModelError(f"{path}: a {kind} model; only the reference network exports to ONNX")
    return load_model(path)  # type: ignore[return-value]


def _quantize_int8(proto: Any, work: Path) -> Any:
    """Dynamic int8 quantization of an in-memory model (onnxruntime writes files only, here
    into the folder ``work``)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    q = work / "quantized.onnx"
    # onnxruntime logs a pre-processing hint at WARNING level on every call
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        quantize_dynamic(proto, q, weight_type=QuantType.QInt8)
    finally:
        logger.setLevel(level)
    return onnx.load(str(q))
