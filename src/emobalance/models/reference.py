"""EmotionClassifier: the reference network (kind ``reference``) behind a scikit-learn face.

``fit(train, dev)`` builds the vocabulary and embedding matrix from the training texts, trains
with early stopping on dev and tunes per-label thresholds on dev. Learned state lives in
attributes ending in ``_``. ``save(dir)`` writes ``config.json``, ``vocab.json``,
``model.safetensors``, ``thresholds.json``, ``metrics.json`` and, once calibrated,
``calibration.json``; ``load(dir)`` checks them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..config import ModelConfig, TrainConfig, validate
from ..data.dataset import EmotionDataset
from ..errors import DataError, ModelError
from ..io import write_json_atomic
from ..text import Vocab, tokenize
from ..text.encoded import encode_cached
from ..training import Trainer, TrainResult, predict_logits, resolve_device, set_seed, sigmoid
from .base import (
    EmotionModel,
    check_batch_size,
    check_objective,
    config_schema,
    explanation,
    read_model_config,
    read_thresholds,
    thresholds_json,
)
from .calibration import CALIBRATION_FILE, read_calibration
from .cnn_bilstm_attention import CNNBiLSTMAttention, count_parameters
from .schema import (
    check_arrays,
    check_int,
    check_shapes,
    config_section,
    label_schema_fields,
    read_metrics,
    read_vocab,
    safetensors_shapes,
)
from .storage import write_model_folder

ARCHITECTURE = "cnn_bilstm_attention"
MODEL_FILES = ("config.json", "vocab.json", "model.safetensors", "thresholds.json", "metrics.json")


class EmotionClassifier(EmotionModel):
    """Multi-label emotion classifier (fastText vectors -> Conv -> BiLSTM -> attention).

    Parameters
    ----------
    model : ModelConfig or dict, optional
        Architecture and text settings.
    train : TrainConfig or dict, optional
        Training settings (epochs, loss, mixed precision, seed...).
    threshold_objective : {"f1", "micro_f1", "jaccard"}, optional
        What the dev thresholds are tuned for; default ``train.threshold_objective``.

    Attributes
    ----------
    labels_ : LabelSchema
        The training set's labels (the network has one output per label).
    vocab_ : Vocab
    network_ : CNNBiLSTMAttention
    thresholds_ : ndarray of shape (len(labels_),)
        Per-label decision thresholds tuned on dev (0.5 without dev).
    history_ : list of dict
        Per-epoch training record.
    metrics_ : dict
        ``dev`` (metrics on dev), embedding coverage, timings.

    Examples
    --------
    >>> clf = EmotionClassifier(train={"epochs": 5}).fit(train, dev)  # doctest: +SKIP
    >>> clf.predict(["thank you so much!"])  # doctest: +SKIP
    [['gratitude']]
    """

    kind = "reference"

    def __init__(
        self,
        model: ModelConfig | dict[str, Any] | None = None,
        train: TrainConfig | dict[str, Any] | None = None,
        threshold_objective: str | None = None,
    ) -> None:
        self.model_config = (
            model if isinstance(model, ModelConfig) else validate(ModelConfig, model or {}, "model")
        )
        self.train_config = (
            train if isinstance(train, TrainConfig) else validate(TrainConfig, train or {}, "train")
        )
        # None: the config section's (train.threshold_objective), so one key steers every job
        self.threshold_objective = check_objective(
            threshold_objective or self.train_config.threshold_objective
        )

    # ------------------------------------------------------------------ fitting
    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Token ids per text (normalised, truncated to ``max_len``; never empty)."""
        self._check_fitted()
        return self.vocab_.encode_texts(texts, self.model_config.max_len)

    def fit(
        self,
        train: EmotionDataset,
        dev: EmotionDataset | None = None,
        *,
        targets: np.ndarray | None = None,
        loss_fn: torch.nn.Module | None = None,
        vocab_texts: Sequence[str] | None = None,
    ) -> EmotionClassifier:
        """Build vocabulary and embeddings from ``train``, train, tune thresholds on ``dev``.

        Parameters
        ----------
        train : EmotionDataset
            Labelled training data (its ``weight`` column, when present, weights the loss);
            its ``schema`` becomes the model's ``labels_``.
        dev : EmotionDataset, optional
            Dev data for early stopping and threshold tuning, of the same schema. The test
            split never goes here.
        targets : ndarray of shape (n, len(train.schema)), optional
            Soft targets replacing ``train.labels`` (distillation).
        loss_fn : nn.Module, optional
            A per-element loss replacing the configured one.
        vocab_texts : sequence of str, optional
            Build the vocabulary from these texts instead of ``train``'s (distillation keeps
            the plain model's vocabulary, and so its size, this way).
        """
        from ..embeddings import build_embedding_matrix

        mc, tc = self.model_config, self.train_config
        if not train.is_labelled and targets is None:
            raise DataError("fit() needs a labelled training dataset")
        if len(train) == 0:
            raise DataError("the training dataset is empty")
        schema = self._check_dev(train, dev)
        t0 = time.perf_counter()
        self.calibration_ = None  # fitted on the probabilities of earlier weights
        set_seed(tc.seed)
        tokens = [tokenize(t) for t in (train.texts if vocab_texts is None else vocab_texts)]
        self.vocab_ = Vocab.build(tokens, min_freq=mc.min_freq, max_size=mc.max_vocab)
        vectors = mc.resolve_vectors()
        emb = None
        if mc.pretrained:
            emb = build_embedding_matrix(
                self.vocab_, vectors, corpus_tokens=tokens, dim=mc.embedding_dim, seed=tc.seed,
                min_coverage=mc.min_vector_coverage,
            )  # fmt: skip
            self.embedding_info_ = {
                "source": emb.source,
                "coverage": emb.coverage,
                "token_coverage": emb.token_coverage,
                "n_found": emb.n_found,
                "n_total": emb.n_total,
            }
        else:
            self.embedding_info_ = {"source": "random", "coverage": 0.0}
        set_seed(tc.seed)
        self.labels_ = schema
        self.network_ = CNNBiLSTMAttention(
            len(self.vocab_), mc, None if emb is None else emb.matrix, num_labels=len(schema)
        )
        prep_s = time.perf_counter() - t0
        # one padded matrix each, reused by every epoch (and by later fits on the same texts)
        seqs = encode_cached(self.vocab_, train.texts, mc.max_len)
        y = train.labels if targets is None else np.asarray(targets, dtype=np.float32)
        dev_seqs = None if dev is None else encode_cached(self.vocab_, dev.texts, mc.max_len)
        trainer = Trainer(self.network_, tc, single_label=schema.single_label,
                          threshold_objective=self.threshold_objective)  # fmt: skip
        result: TrainResult = trainer.fit(
            seqs,
            y,
            dev_seqs,
            None if dev is None else dev.labels,
            sample_weight=train.weight,
            loss_fn=loss_fn,
        )
        self.device_ = trainer.device
        self.network_.eval()
        self.history_ = result.history
        self.thresholds_ = np.full(len(schema), 0.5, dtype=np.float32)
        self.metrics_: dict[str, Any] = {
            "n_train": len(train),
            "prepare_seconds": prep_s,
            **result.summary(),
            "parameters": count_parameters(self.network_),
            "vocab_size": len(self.vocab_),
            "embedding": self.embedding_info_,
        }
        # in a torchrun job only rank 0 holds the best weights and evaluates
        if dev is not None and trainer.rank == 0:
            self._tune_on_dev(dev.labels, self.predict_proba(dev.texts))
        return self

    # ---------------------------------------------------------------- inference
    @property
    def max_tokens(self) -> int:
        """``model.max_len``: the tokens of a text the network reads."""
        return self.model_config.max_len

    def _predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Uncalibrated probabilities ``float32[n, L]`` of the first ``max_len`` tokens."""
        bs = check_batch_size(batch_size) or self.train_config.eval_batch_size
        seqs = self.encode(texts)
        logits = predict_logits(self.network_, seqs, bs, self._device())
        return sigmoid(logits)

    def explain(self, text: str, top_k: int = 5) -> dict[str, Any]:
        """Tokens with the network's attention weights, and the top emotions, for one text.

        Returns the dict of :meth:`EmotionModel.explain
        <emobalance.models.base.EmotionModel.explain>` with ``method="attention"``; the
        weights sum to 1 (all zeros for a network built without attention). The network
        reads the first ``max_len`` tokens, whatever the long-text policy; the probabilities
        are calibrated when the model is.
        """
        self._check_fitted()
        text = self._check_one_text(text)
        toks = tokenize(text)[: self.model_config.max_len]
        seq = self.encode([text])[0]
        ids = torch.from_numpy(seq.astype(np.int64)).unsqueeze(0).to(self._device())
        lens = torch.tensor([len(seq)])
        with torch.inference_mode():
            self.network_.eval()
            logits, weights = self.network_(ids, lens, return_attention=True)
        proba = self._calibrate(sigmoid(logits.float().cpu().numpy()))[0]
        if not toks:
            toks = [self.vocab_.itos[self.vocab_.unk_id]]
        attn = (
            weights[0, : len(toks)].float().cpu().numpy().tolist()
            if weights is not None
            else [0.0] * len(toks)
        )
        return explanation(
            text, toks, attn, proba, self.thresholds_, top_k, "attention", self.labels_
        )

    def _device(self) -> torch.device:
        return next(self.network_.parameters()).device

    # -------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model directory whole (a temporary folder renamed into place: a failure
        while saving leaves neither a partial folder nor temporary files)."""
        from safetensors.torch import save_file

        self._check_fitted()
        state = {k: v.detach().cpu().contiguous() for k, v in self.network_.state_dict().items()}

        def write(tmp: Path) -> None:
            save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
            self.vocab_.save(tmp / "vocab.json")
            write_json_atomic(
                tmp / "thresholds.json", thresholds_json(self.thresholds_, self.labels_)
            )
            if self.calibration_ is not None:
                write_json_atomic(tmp / CALIBRATION_FILE, self.calibration_.to_json())
            write_json_atomic(
                tmp / "metrics.json", {"metrics": self.metrics_, "history": self.history_}
            )
            write_json_atomic(
                tmp / "config.json",
                {
                    "emobalance_version": __version__,
                    "architecture": ARCHITECTURE,
                    **label_schema_fields(self.labels_),
                    "vocab_size": len(self.vocab_),
                    "model": self.model_config.model_dump(mode="json"),
                    "train": self.train_config.model_dump(mode="json"),
                    "threshold_objective": self.threshold_objective,
                },
            )

        stale = () if self.calibration_ is not None else (CALIBRATION_FILE,)
        return write_model_folder(path, write, stale=stale)

    @classmethod
    def saved_files(cls, path: str | os.PathLike[str]) -> dict[str, Path]:
        """The five files of :data:`MODEL_FILES` and, when present, ``calibration.json``
        (not an ONNX export kept beside them)."""
        d = Path(path)
        names = [*MODEL_FILES, *([CALIBRATION_FILE] if (d / CALIBRATION_FILE).is_file() else [])]
        return {name: d / name for name in names}

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "cpu") -> EmotionClassifier:
        """Load a model directory written by :meth:`save` onto ``device`` (``auto``: a GPU
        when there is one).

        Raises
        ------
        ModelError
            Naming the missing or mismatched file.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = Path(path)
        cfg = read_model_config(d, MODEL_FILES, ARCHITECTURE)
        cfg_path = str(d / "config.json")
        schema = config_schema(cfg, cfg_path)
        clf = cls(
            model=config_section(cfg.get("model"), ModelConfig, cfg_path, "model"),
            train=config_section(cfg.get("train"), TrainConfig, cfg_path, "train"),
            threshold_objective=check_objective(cfg.get("threshold_objective", "f1"), ModelError),
        )
        clf.labels_ = schema
        vocab_size = check_int(cfg.get("vocab_size"), cfg_path, "'vocab_size'", lo=2)
        clf.vocab_ = read_vocab(d / "vocab.json")
        if len(clf.vocab_) != vocab_size:
            raise ModelError(
                f"{d / 'vocab.json'}: {len(clf.vocab_)} tokens, config.json says {vocab_size}"
            )
        clf.thresholds_ = read_thresholds(d / "thresholds.json", schema)
        clf.calibration_ = read_calibration(d, schema)
        m = read_metrics(d / "metrics.json")
        weights = d / "model.safetensors"
        # the names and shapes the config implies, from a network on the meta device (no
        # memory, no random numbers drawn), checked against the header before any tensor is
        # read or a network of the config's size is built
        with torch.device("meta"):
            expected = CNNBiLSTMAttention(
                vocab_size, clf.model_config, num_labels=len(schema)
            ).state_dict()
        check_shapes(safetensors_shapes(weights), {k: tuple(v.shape) for k, v in
                                                   expected.items()}, str(weights))  # fmt: skip
        try:
            state = load_file(str(weights))
        except (SafetensorError, OSError) as exc:
            msg = str(exc).splitlines()[0][:200]
            raise ModelError(f"{weights}: cannot be read ({msg})") from None
        check_arrays({k: v.float().numpy() for k, v in state.items()}, str(weights))
        clf.network_ = CNNBiLSTMAttention(len(clf.vocab_), clf.model_config,
                                          num_labels=len(schema))  # fmt: skip
        try:
            clf.network_.load_state_dict(state)
        except RuntimeError as exc:
            msg = str(exc).splitlines()[0][:200]
            raise ModelError(f"{weights}: does not match config.json ({msg})") from None
        dev = resolve_device(device)
        clf.network_.to(dev).eval()
        clf.metrics_ = m.get("metrics", {})
        clf.history_ = m.get("history", [])
        clf.device_ = dev
        return clf
