"""The reference network on onnxruntime (kind ``onnx``): one self-contained ``.onnx`` file.

:func:`emobalance.export.export_onnx` writes the file: the graph plus, in the ONNX
``metadata_props``, the label schema (``emobalance.label_schema``; files written before
schemas existed hold only GoEmotions' ``labels``), the vocabulary, the per-label thresholds,
the model config (tokenisation, ``max_len``), the dev metrics and, for a calibrated model,
its calibration, so
:class:`OnnxEmotionClassifier` loads from the file alone and needs neither torch nor the
model directory. The graph takes ``ids`` (int64
``[batch, seq]``) and returns ``logits`` (float32 ``[batch, L]``) and ``attention`` (float32
``[batch, seq]``); it has no padding mask, so every batch holds texts of one token count.

Prediction needs only ``onnxruntime`` (a dependency of emobalance); export and rewriting
the file's metadata need ``onnx`` too (``pip install emobalance[onnx]``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import EmobalanceError, ModelError
from ..io import atomic_path
from ..labels import GOEMOTIONS, LabelSchema
from ..text import Vocab, tokenize
from .base import EmotionModel, check_batch_size, check_texts, explanation
from .calibration import PlattCalibration
from .schema import (
    check_arrays,
    check_int,
    config_section,
    first_line,
    json_object,
    parse_threshold_list,
    read_label_schema,
    show,
    vocab_from,
)

FORMAT = "emobalance-onnx"
FORMAT_VERSION = 1
DEFAULT_FILE = "model.onnx"
"""File name :func:`~emobalance.export.export_onnx` writes into a model directory, and that
:meth:`OnnxEmotionClassifier.load` looks for when given a directory."""
INSTALL_HINT = "pip install emobalance[onnx]"
META = "emobalance."


def require(module: str) -> Any:
    """Import an ONNX dependency, or a one-line error naming how to install it."""
    try:
        return __import__(module)
    except ImportError:
        hint = "pip install onnxruntime" if module == "onnxruntime" else INSTALL_HINT
        raise EmobalanceError(f"{module} is not installed: {hint}") from None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # the same formula as emobalance.training.sigmoid, without importing torch
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


class OnnxEmotionClassifier(EmotionModel):
    """The reference model on onnxruntime (CPU), loaded from one file of
    :func:`~emobalance.export.export_onnx`.

    Same face as :class:`~emobalance.models.reference.EmotionClassifier` for inference
    (:class:`~emobalance.models.base.EmotionModel`); ``explain`` gives the network's attention.
    Texts are grouped by token count and each group runs in batches with no padding.

    Attributes
    ----------
    path_ : Path
        The ``.onnx`` file.
    vocab_ : Vocab
    model_config : ModelConfig
    labels_ : LabelSchema
        The exported model's labels.
    thresholds_ : ndarray of shape (len(labels_),)
    metrics_ : dict
        ``dev``: the exported model's dev metrics (absent in files written before 0.2).
    quantize_ : str
        ``"none"`` or ``"int8"``.
    session_ : onnxruntime.InferenceSession
    batch_workers_ : int
        Batches run at the same time (see :meth:`load`).

    Examples
    --------
    >>> clf = OnnxEmotionClassifier.load("model.onnx")  # doctest: +SKIP
    >>> clf.predict(["thank you so much!"])  # doctest: +SKIP
    [['gratitude']]
    """

    kind = "onnx"

    def __init__(
        self,
        session: Any,
        vocab: Vocab,
        model_config: ModelConfig,
        thresholds: np.ndarray,
        path: Path,
        quantize: str = "none",
        batch_workers: int = 1,
        metrics: dict[str, Any] | None = None,
        schema: LabelSchema = GOEMOTIONS,
    ) -> None:
        self.labels_: LabelSchema = schema
        self.session_ = session
        self.vocab_ = vocab
        self.model_config = model_config
        self.thresholds_ = np.asarray(thresholds, dtype=np.float32)
        self.path_ = path
        self.quantize_ = quantize
        self.batch_workers_ = max(int(batch_workers), 1)
        self.metrics_ = dict(metrics or {})
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def saved_files(cls, path: str | os.PathLike[str]) -> dict[str, Path]:
        """The one ``.onnx`` file (``model.onnx`` inside a folder), named ``model.onnx``."""
        p = Path(path)
        return {DEFAULT_FILE: p / DEFAULT_FILE if p.is_dir() else p}

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        num_threads: int | None = None,
        batch_workers: int | None = None,
    ) -> OnnxEmotionClassifier:
        """Open an exported model.

        Parameters
        ----------
        path : path
            The ``.onnx`` file, or a model directory holding ``model.onnx``.
        num_threads : int, optional
            CPU threads to use; default the cores this process may run on.
        batch_workers : int, optional
            Batches run at the same time, each on ``num_threads // batch_workers``
            onnxruntime intra-op threads (``session.run`` releases the GIL). Default
            ``num_threads``: one thread per batch, which measured faster than intra-op
            threads on these small LSTM batches (those spend about as much CPU again on
            synchronisation, much more on a busy machine). One text (``explain``) runs
            on one thread either way.

        Raises
        ------
        ModelError
            If the file is missing, not an ONNX model, or not an emobalance export (the
            message names the file).
        EmobalanceError
            If onnxruntime is not installed.
        """
        ort = require("onnxruntime")
        p = Path(path)
        if p.is_dir():
            from .default import MANIFEST, verify

            # a folder of `emobalance package`: its file checked against its manifest first
            p = verify(p) if (p / MANIFEST).is_file() else p / DEFAULT_FILE
        if not p.is_file():
            raise ModelError(f"{p}: ONNX model file not found")
        opts = ort.SessionOptions()
        threads = num_threads or _available_cores()
        workers = min(max(batch_workers or threads, 1), threads)
        opts.intra_op_num_threads = max(threads // workers, 1)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # shape-inference notices, and the errors of a damaged file (raised below as one
        # line), are not for the user's terminal
        opts.log_severity_level = 4
        try:
            # onnxruntime print()s an "EP Error" banner before raising: keep stdout clean
            with contextlib.redirect_stdout(io.StringIO()):
                session = ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
            meta = session.get_modelmeta().custom_metadata_map
        except Exception as exc:  # onnxruntime's own classes (InvalidProtobuf, Fail...), and
            # UnicodeDecodeError from metadata that is not UTF-8
            msg = first_line(exc)
            raise ModelError(f"{p}: not a readable ONNX model ({msg})") from None
        if meta.get(META + "format") != FORMAT:
            raise ModelError(f"{p}: not an emobalance ONNX export (no {META}format metadata)")
        origin = f"{p}: metadata"

        def field(key: str, default: str | None = None) -> Any:
            raw = meta.get(META + key, default)
            if raw is None:
                raise ModelError(f"{origin} {META}{key} is missing")
            try:
                return json.loads(raw)
            except (ValueError, RecursionError) as exc:
                msg = str(exc).splitlines()[0][:200]
                raise ModelError(f"{origin} {META}{key} is not valid JSON ({msg})") from None

        version = check_int(field("format_version"), origin, f"{META}format_version", lo=1)
        if version > FORMAT_VERSION:
            raise ModelError(f"{p}: export format {version} is newer than {FORMAT_VERSION}")
        schema = read_label_schema(
            field("labels"), field("label_schema", "null"), origin, f"{META}labels",
            f"{META}label_schema",
        )  # fmt: skip
        config = config_section(field("model"), ModelConfig, origin, f"{META}model")
        vocab = vocab_from(field("vocab"), f"{origin} {META}vocab")
        thresholds = parse_threshold_list(field("thresholds"), origin, f"{META}thresholds", schema)
        metrics = json_object(field("metrics", "{}"), f"{origin} {META}metrics")
        quantize = meta.get(META + "quantize", "none")
        if quantize not in ("none", "int8"):
            raise ModelError(f"{origin} {META}quantize must be none or int8, got {show(quantize)}")
        names = {o.name for o in session.get_outputs()}
        if [i.name for i in session.get_inputs()] != ["ids"] or names != {"logits", "attention"}:
            raise ModelError(f"{p}: graph inputs/outputs are not ids -> logits, attention")
        calibration = None
        if META + "calibration" in meta:
            calibration = PlattCalibration.from_json(
                field("calibration"), f"{origin} {META}calibration", schema
            )
        _check_initializers(p)
        clf = cls(session, vocab, config, thresholds, p, quantize, workers, metrics, schema)
        clf.calibration_ = calibration
        clf._file_state = clf.metadata_state()
        _probe(clf, p)
        return clf

    # ---------------------------------------------------------------- inference
    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids per text (normalised, truncated to ``max_len``; never empty)."""
        return self.vocab_.encode_texts(texts, self.model_config.max_len)

    def predict_logits(self, texts: Sequence[str], batch_size: int | None = 256) -> np.ndarray:
        """Logits ``float32[n, len(labels_)]`` in input order."""
        texts = check_texts(texts)
        bs = check_batch_size(batch_size) or 256
        seqs = self.encode(texts)
        n = len(seqs)
        out = np.empty((n, len(self.labels_)), dtype=np.float32)
        if n == 0:
            return out
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=n)
        order = np.argsort(lengths, kind="stable")
        sorted_lengths = lengths[order]
        bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
        # one length per batch: no padding, so the plain ONNX LSTM is exact
        batches = [
            order[s : min(s + bs, hi)]
            for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n], strict=True)
            for s in range(lo, hi, bs)
        ]
        run = self.session_.run

        def score(idx: np.ndarray) -> None:
            out[idx] = run(["logits"], {"ids": np.stack([seqs[i] for i in idx])})[0]

        if self.batch_workers_ == 1 or len(batches) == 1:
            for idx in batches:
                score(idx)
            return out
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.batch_workers_, thread_name_prefix="onnx")
        # largest batches (rows x length) first, so the workers finish together
        batches.sort(key=lambda idx: -len(idx) * len(seqs[idx[0]]))
        for _ in self._pool.map(score, batches):
            pass
        return out

    @property
    def max_tokens(self) -> int:
        """``max_len`` of the exported model: the tokens of a text the graph reads."""
        return self.model_config.max_len

    def _predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Uncalibrated probabilities ``float32[n, L]`` (batches of 256 by default)."""
        return _sigmoid(self.predict_logits(texts, batch_size))

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Tokens with attention weights, and the top emotions, for one text.

        Returns the same dict as :meth:`EmotionClassifier.explain
        <emobalance.models.reference.EmotionClassifier.explain>` (the first ``max_len``
        tokens; calibrated probabilities when the model is).
        """
        text = self._check_one_text(text)
        toks = tokenize(text)[: self.model_config.max_len]
        seq = self.encode([text])[0]
        logits, weights = self.session_.run(["logits", "attention"], {"ids": seq[None, :]})
        proba = self._calibrate(_sigmoid(logits))[0]
        if not toks:
            toks = [self.vocab_.itos[self.vocab_.unk_id]]
        attn = weights[0, : len(toks)].astype(np.float64).tolist()
        return explanation(
            text, toks, attn, proba, self.thresholds_, top_k, "attention", self.labels_
        )

    def metadata_state(self) -> dict[str, str]:
        """The metadata entries the model in memory may have changed since it was loaded
        (thresholds, calibration, dev metrics), as :func:`~emobalance.export.export_onnx`
        writes them."""
        dev = self.metrics_.get("dev")
        state = {
            "thresholds": json.dumps([float(t) for t in self.thresholds_]),
            "metrics": json.dumps({"dev": dev} if dev is not None else {}),
        }
        if self.calibration_ is not None:
            state["calibration"] = json.dumps(self.calibration_.to_json())
        return state

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model to the ``.onnx`` file ``path`` (atomically); return ``path``.

        The file it was loaded from is copied; when its thresholds, calibration or dev
        metrics changed since (``with_thresholds``, ``emobalance calibrate``), the copy's
        metadata is rewritten with them (this needs the ``onnx`` package).
        """
        out = Path(path)
        if not self.path_.is_file():  # e.g. loaded from a temporary copy
            raise ModelError(f"{self.path_}: the ONNX file this model was loaded from is gone")
        state = self.metadata_state()
        with atomic_path(out, suffix=".onnx") as tmp:
            if state == getattr(self, "_file_state", None):
                shutil.copyfile(self.path_, tmp)
            else:
                onnx = require("onnx")
                proto = onnx.load(str(self.path_))
                set_metadata(proto, {**state, "calibration": state.get("calibration")})
                onnx.save(proto, str(tmp))
        return out

    def __repr__(self) -> str:
        return f"OnnxEmotionClassifier({str(self.path_)!r}, quantize={self.quantize_!r})"


def set_metadata(proto: Any, entries: dict[str, str | None]) -> None:
    """Set (or, for None, remove) ``emobalance.<key>`` entries of an ONNX model's
    ``metadata_props``; the other entries are kept in their order."""
    keys = {META + k: v for k, v in entries.items()}
    kept = [(e.key, e.value) for e in proto.metadata_props if e.key not in keys]
    del proto.metadata_props[:]
    for key, value in [*kept, *((k, v) for k, v in keys.items() if v is not None)]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _check_initializers(path: Path) -> None:
    """Every floating-point weight of the graph finite and bounded (needs the ``onnx``
    package; a prediction-only install without it relies on :func:`_probe`)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return
    try:
        proto = onnx.load(str(path), load_external_data=False)
        arrays = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    except Exception as exc:  # onnxruntime read it, so this is rare: a damaged tensor
        msg = first_line(exc)
        raise ModelError(f"{path}: unreadable graph weights ({msg})") from None
    check_arrays(arrays, str(path))


def _probe(clf: OnnxEmotionClassifier, path: Path) -> None:
    """Run the graph once on the first and last ids of the vocabulary: a graph whose tables
    do not cover the vocabulary, or whose shapes are damaged, fails here, not in predict."""
    ids = np.array([[0, 1, len(clf.vocab_) - 1]], dtype=np.int64)
    try:
        logits, attention = clf.session_.run(["logits", "attention"], {"ids": ids})
    except Exception as exc:  # onnxruntime's own classes
        msg = first_line(exc)
        raise ModelError(f"{path}: the graph fails on the vocabulary's ids ({msg})") from None
    n_labels = len(clf.labels_)
    if logits.shape != (1, n_labels) or attention.shape != ids.shape:
        raise ModelError(
            f"{path}: the graph gives logits {list(logits.shape)} and attention "
            f"{list(attention.shape)}, expected [1, {n_labels}] and {list(ids.shape)}"
        )
    if not (np.isfinite(logits).all() and np.isfinite(attention).all()):
        raise ModelError(f"{path}: the graph gives non-finite values (damaged weights)")


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1  # a container's share, not the host's cores
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
