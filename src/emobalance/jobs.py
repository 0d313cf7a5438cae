"""The jobs that the command line and the Python API share.

Each job takes the whole :class:`~emobalance.config.EmobalanceConfig` (one documented
arguments object, as setfit's ``TrainingArguments``) plus data and paths, returns the model or
the report, and never prints: what it has to say goes to the ``emobalance`` logger (call
:func:`emobalance.log.configure` to see it). torch and transformers load inside the jobs, so
``import emobalance.jobs`` stays cheap.

- :func:`train_model`: the reference network, DDP included (``emobalance train``);
- :func:`distill_model`: the reference network distilled from a teacher
  (``emobalance train --distill-from``);
- :func:`train_teacher`: the transformer teacher (``emobalance teacher train``);
- :func:`balance`: the balanced training set (``emobalance balance``);
- :func:`run`: the experiment and its report (``emobalance run``);
- :func:`evaluate_model`: the metrics of a model (``emobalance evaluate``);
- :func:`calibrate_model`: per-label calibration on dev, thresholds re-tuned
  (``emobalance calibrate``).

Every job takes the config first (``None``: all defaults). Data arguments take a split
name (``train``, ``dev``, ``test``: the config's ``data`` section, GoEmotions by default), a
dataset file (by extension) or an :class:`~emobalance.data.dataset.EmotionDataset`.

Examples
--------
>>> from emobalance import jobs
>>> from emobalance.config import load_config
>>> cfg = load_config(overrides=["train.epochs=4", "model.vectors=null"])
>>> clf = jobs.train_model(cfg, out="models/ref")  # doctest: +SKIP
>>> jobs.evaluate_model("models/ref", "test")["macro_f1"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .config import EmobalanceConfig, device_spec
from .data.dataset import EmotionDataset
from .errors import ConfigError, EmobalanceError
from .log import get_logger

log = get_logger(__name__)

DataLike = str | os.PathLike[str] | EmotionDataset

__all__ = [
    "Splits",
    "balance",
    "calibrate_model",
    "check_device",
    "distill_model",
    "evaluate_model",
    "is_main_process",
    "load_data",
    "load_splits",
    "preflight",
    "run",
    "train_model",
    "train_teacher",
]


class Splits:
    """The train, dev and test splits of a config's ``data`` section, and their schema.

    GoEmotions' official splits when ``data.train`` is unset; else the user's files
    (:func:`emobalance.data.own.load_own_data`), read once per process and config.
    ``notes`` says how they were made (e.g. a single file split deterministically).
    """

    def __init__(
        self,
        train: EmotionDataset,
        dev: EmotionDataset,
        test: EmotionDataset,
        notes: list[str] | None = None,
        files: dict[str, str] | None = None,
    ) -> None:
        self.train, self.dev, self.test = train, dev, test
        self.schema = train.schema
        self.notes = list(notes or [])
        self.files = dict(files or {})  # split -> path, for hashes and reports

    def get(self, name: str) -> EmotionDataset:
        return {"train": self.train, "dev": self.dev, "test": self.test}[name]


_SPLITS_CACHE: dict[str, Splits] = {}


def _data_section(config: EmobalanceConfig | None) -> Any:
    return getattr(config, "data", None) if config is not None else None


def own_data(config: EmobalanceConfig | None) -> bool:
    """Whether the config names the user's own data (``data.train`` set)."""
    section = _data_section(config)
    return section is not None and section.train is not None


def load_splits(
    config: EmobalanceConfig | None, data_dir: str | os.PathLike[str] | None = None
) -> Splits:
    """The three splits of ``config.data`` (GoEmotions' by default), cached per process."""
    section = _data_section(config)
    if not own_data(config):
        from .data import goemotions

        # keyed by the files themselves (where the environment points, their size and
        # time), so a changed EMOBALANCE_DATA or a rewritten file is read again
        files = {s: str(goemotions.locate(s, data_dir)) for s in goemotions.SPLITS}
        key = json.dumps(["goemotions", _file_keys(files.values())])
        if key not in _SPLITS_CACHE:
            sets = [goemotions.load(s, data_dir) for s in goemotions.SPLITS]
            _SPLITS_CACHE.clear()  # one set of splits at a time: they are large
            _SPLITS_CACHE[key] = Splits(*sets, files=files)
        return _SPLITS_CACHE[key]
    from .data.own import load_own_data

    named = {"train": section.train, "dev": section.dev, "test": section.test}
    files = {k: str(Path(v).expanduser()) for k, v in named.items() if v is not None}
    key = json.dumps([section.model_dump(mode="json"), _file_keys(files.values())])
    if key not in _SPLITS_CACHE:
        own = load_own_data(section)
        _SPLITS_CACHE.clear()
        _SPLITS_CACHE[key] = Splits(own.train, own.dev, own.test, own.notes, files)
    return _SPLITS_CACHE[key]


def _file_keys(paths: Any) -> list[Any]:
    """Path, size and modification time of each file (None for a missing one)."""
    out: list[Any] = []
    for p in paths:
        try:
            st = Path(p).stat()
            out.append([str(p), st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([str(p), None, None])
    return out


def load_data(
    data: DataLike,
    data_dir: str | os.PathLike[str] | None = None,
    config: EmobalanceConfig | None = None,
) -> EmotionDataset:
    """A split by name (of ``config.data``), any dataset file by extension, or ``data`` itself.

    A file is read in the schema of ``config.data`` when the config names own data (so its
    label names are checked against that schema), else as GoEmotions (or the file's own
    schema, for Parquet written by emobalance).

    Raises
    ------
    EmobalanceError
        ``data`` is neither a split name nor an existing file.
    """
    if isinstance(data, EmotionDataset):
        return data
    from .data import goemotions, load_any

    if isinstance(data, str) and data in goemotions.SPLITS:
        if not own_data(config):  # the one split asked for, as before
            return goemotions.load(data, data_dir)
        return load_splits(config, data_dir).get(data)
    path = Path(data)
    if not path.exists():
        raise EmobalanceError(f"{data}: not a split (train, dev, test) nor an existing file")
    if own_data(config):
        return load_any(path, schema=load_splits(config).schema)
    return load_any(path)


def check_device(spec: str, field: str = "device") -> None:
    """Refuse a device this machine does not have, before any work starts.

    Parameters
    ----------
    spec : str
        A validated device string (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``).
    field : str
        The config field, named in the message (e.g. ``train.device``).

    Raises
    ------
    ConfigError
        ``device cuda: no CUDA device on this machine`` and the like.
    """
    try:
        device_spec(spec)
    except ValueError as exc:
        raise ConfigError(f"{field}: {exc}") from None
    if spec in ("auto", "cpu"):
        return  # never imports torch
    import torch

    if spec == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ConfigError(f"{field} mps: no MPS (Apple GPU) device on this machine")
        return
    if not torch.cuda.is_available():
        raise ConfigError(f"{field} {spec}: no CUDA device on this machine")
    index = int(spec.partition(":")[2] or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"{field} {spec}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})"
        )


def preflight(cfg: EmobalanceConfig, *sections: str) -> None:
    """Check what a job needs from the machine before any data loads or any training starts.

    Parameters
    ----------
    cfg : EmobalanceConfig
    *sections : str
        The sections the job uses: ``train`` (its device and, through ``model``, the vectors
        file) and ``teacher`` (its device).

    Raises
    ------
    ConfigError
        A device this machine lacks (``train.device cuda: no CUDA device on this machine``),
        or a ``model.vectors`` file that does not exist.
    """
    if "train" in sections:
        check_device(cfg.train.device, "train.device")
        vectors = cfg.model.resolve_vectors()
        if vectors is not None and not Path(vectors).is_file():
            raise ConfigError(f"model.vectors: {vectors}: no such file")
    if "teacher" in sections:
        check_device(cfg.teacher.device, "teacher.device")


def is_main_process() -> bool:
    """Whether this process reports: always outside torchrun, rank 0 under it."""
    return int(os.environ.get("RANK", "0")) == 0


def train_model(
    config: EmobalanceConfig | None,
    train: DataLike = "train",
    dev: DataLike = "dev",
    *,
    out: str | os.PathLike[str] | None = None,
    distributed: bool = False,
    progress: bool | None = None,
) -> Any:  # -> EmotionClassifier
    """Train the reference model (thresholds tuned on ``dev``) and save it to ``out``.

    Parameters
    ----------
    config : EmobalanceConfig or None
        Its ``model`` and ``train`` sections (None: the defaults).
    train, dev : split name, dataset file or EmotionDataset
    out : path, optional
        Model folder to write (under ``distributed``: by rank 0 only).
    distributed : bool
        Data-parallel training in the torchrun job of this process (gloo on CPU, nccl on
        GPU, each process on GPU ``LOCAL_RANK``); ``train.batch_size`` is per process and only
        rank 0 evaluates and saves (see :func:`is_main_process`).
    progress : bool, optional
        Overrides ``train.progress``.

    Returns
    -------
    EmotionClassifier
    """
    from .models.reference import EmotionClassifier

    cfg = config if config is not None else EmobalanceConfig()
    preflight(cfg, "train")
    tc = cfg.train if progress is None else cfg.train.model_copy(update={"progress": progress})
    if distributed:
        from .distributed import init_distributed

        info = init_distributed(tc.device)
        if info.backend == "nccl":
            tc = tc.model_copy(update={"device": f"cuda:{info.local_rank}"})
    try:
        train_ds, dev_ds = load_data(train, config=cfg), load_data(dev, config=cfg)
        clf = EmotionClassifier(model=cfg.model, train=tc).fit(train_ds, dev_ds)
        if out is not None and (not distributed or is_main_process()):
            clf.save(out)
    finally:
        if distributed:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    return clf


def distill_model(
    config: EmobalanceConfig | None,
    train: DataLike = "train",
    dev: DataLike = "dev",
    *,
    out: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Any:  # -> EmotionClassifier
    """The reference network distilled from the teacher named by ``distill.teacher``.

    The teacher is built (trained and cached when needed) from ``train`` and ``dev``; the
    external corpus ``distill.corpus`` is scored by it; dev texts and, when available, the
    GoEmotions test texts never enter training. The loss is ``distill.alpha`` BCE(gold) +
    (1 - alpha) BCE(teacher sharpened by ``distill.temperature``).

    Returns
    -------
    EmotionClassifier
        With ``metrics_["distillation"]``; saved to ``out`` when given.
    """
    from .data import goemotions
    from .data.corpora import load_corpus
    from .distill import balance_targets, fit_distilled
    from .teachers import build_teacher

    cfg = config if config is not None else EmobalanceConfig()
    preflight(cfg, "train", "teacher")
    tc = cfg.train if progress is None else cfg.train.model_copy(update={"progress": progress})
    train_ds, dev_ds = load_data(train, config=cfg), load_data(dev, config=cfg)
    dc = cfg.distill
    teacher, name = build_teacher(
        dc.teacher, train_ds, dev_ds, cfg.model, tc,
        cache_dir=goemotions.cache_dir() / "teachers", teacher_cfg=cfg.teacher,
    )  # fmt: skip
    ext = load_corpus(dc)
    exclude = list(dev_ds.texts)
    with contextlib.suppress(EmobalanceError):  # no test split here: nothing to exclude
        exclude += load_data("test", config=cfg).texts
    log.info(
        f"distilling from {name} over {len(train_ds):,} rows"
        + (f" + {len(ext):,} corpus rows" if ext is not None else "")
    )
    clf = fit_distilled(
        train_ds, dev_ds, teacher, ext, model=cfg.model, train_config=tc,
        distill=dc, exclude_texts=exclude, teacher_name=name,
        corpus_targets=balance_targets(cfg.balance, train_ds)
        if dc.corpus_selection == "balance" else None,
    )  # fmt: skip
    if out is not None:
        clf.save(out)
    return clf


def train_teacher(
    config: EmobalanceConfig | None,
    train: DataLike = "train",
    dev: DataLike = "dev",
    *,
    out: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> Any:  # -> TransformerClassifier
    """Fine-tune the transformer teacher of the ``teacher`` section and save it to ``out``.

    A bad ``teacher.base`` fails before the data is loaded. The folder is a Hugging Face
    encoder folder plus the head and dev thresholds: usable as ``balance.teacher``,
    ``distill.teacher`` or with :func:`evaluate_model`.

    Returns
    -------
    TransformerClassifier
    """
    from .models.transformer import TransformerClassifier, check_base

    cfg = config if config is not None else EmobalanceConfig()
    preflight(cfg, "teacher")
    tc = cfg.teacher if progress is None else cfg.teacher.model_copy(update={"progress": progress})
    check_base(tc.base)
    train_ds, dev_ds = load_data(train, config=cfg), load_data(dev, config=cfg)
    clf = TransformerClassifier(tc).fit(train_ds, dev_ds)
    if out is not None:
        clf.save(out)
    return clf


def balance(
    config: EmobalanceConfig | None,
    out: str | os.PathLike[str],
    *,
    train: DataLike | None = None,
    dev: DataLike | None = None,
    test: DataLike | None = None,
    teacher: Any = None,
    progress: bool | None = None,
) -> tuple[EmotionDataset, dict[str, Any]]:
    """Build the balanced training set of the ``balance`` section into ``out``.

    Writes ``balanced_train.parquet``, ``balance_report.json``, ``balance_counts.png`` and
    the resolved ``config.yaml``; dev and test texts never enter the output. The defaults are
    :class:`~emobalance.config.BalanceConfig`'s (the dev-selected recipe).

    Parameters
    ----------
    train, dev, test : split name, dataset file or EmotionDataset, optional
        Default: the GoEmotions splits (test is read only to keep its texts out).
    teacher : Teacher, optional
        Use this teacher instead of building ``balance.teacher``.

    Returns
    -------
    (EmotionDataset, dict)
        The balanced set and the report.
    """
    from .balance.build import run_balance

    cfg = config if config is not None else EmobalanceConfig()
    if teacher is None:  # the teacher is built here: by the reference network or MiniLM
        preflight(cfg, "train", "teacher")
    named = {"train": train, "dev": dev, "test": test}
    if own_data(cfg):  # the config's splits where none is given
        named = {k: k if v is None else v for k, v in named.items()}
    splits = {k: None if v is None else load_data(v, config=cfg) for k, v in named.items()}
    return run_balance(cfg, out, teacher=teacher, progress=progress, **splits)


def run(
    config: EmobalanceConfig | None,
    run_dir: str | os.PathLike[str],
    *,
    resume: bool = False,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """The experiment of ``emobalance run`` (see :mod:`emobalance.pipeline`).

    Trains every variant for every seed, evaluates each on the original test split and writes
    ``metrics.json``, ``report.md`` and ``report.html`` into ``run_dir``. ``resume`` skips the
    models already finished there. Returns the ``metrics.json`` entries.
    """
    from .pipeline import run_experiment

    cfg = config if config is not None else EmobalanceConfig()
    preflight(cfg, "train", "teacher")
    return run_experiment(cfg, run_dir, resume=resume, progress=progress)


def check_model_schema(model: Any, data: EmotionDataset, data_name: str) -> None:
    """Refuse data in another label schema than the model's (one line naming both)."""
    from .labels import schema_of

    schema_of(model).check_same(data.schema, "the model", str(data_name), error=ConfigError)


def evaluate_model(
    model: Any, data: DataLike = "test", config: EmobalanceConfig | None = None
) -> dict[str, Any]:
    """All metrics of ``model`` on labelled ``data``, with its dev-tuned thresholds.

    Parameters
    ----------
    model : path or model
        A model folder, or any model with ``predict_proba`` and ``thresholds_``.
    data : split name, dataset file or EmotionDataset
        Default: the test split of ``config.data`` (the original GoEmotions test split).
    config : EmobalanceConfig, optional
        Its ``data`` section names the splits; a model of another label schema than the
        data's is refused.

    Returns
    -------
    dict
        :func:`emobalance.metrics.evaluate`'s metrics plus ``macro_f1_at_0_5`` (every
        threshold at 0.5).
    """
    from .labels import schema_of
    from .metrics import evaluate
    from .models.registry import load_model

    clf = load_model(model) if isinstance(model, str | os.PathLike) else model
    ds = load_data(data, config=config)
    name = data if not isinstance(data, EmotionDataset) else "the dataset"
    if not ds.is_labelled:
        raise EmobalanceError(f"{name}: has no labels to evaluate against")
    check_model_schema(clf, ds, str(name))
    schema = schema_of(clf)
    proba = clf.predict_proba(ds.texts)
    m = evaluate(ds.labels, proba, clf.thresholds_, schema=schema)
    m["macro_f1_at_0_5"] = evaluate(ds.labels, proba, 0.5, groupings=(), schema=schema)["macro_f1"]
    return m


def calibrate_model(
    model: Any,
    dev: DataLike = "dev",
    test: DataLike | None = "test",
    out: str | os.PathLike[str] | None = None,
    config: EmobalanceConfig | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Calibrate a model's probabilities on dev, re-tune its thresholds, measure on test.

    Fits per-label Platt scaling (:class:`~emobalance.models.calibration.PlattCalibration`)
    on the model's uncalibrated dev probabilities (an earlier calibration is replaced), then
    re-tunes the per-label thresholds on the calibrated dev probabilities
    (:func:`emobalance.metrics.tune_thresholds`) so that predictions stay dev-optimal, and
    stores the dev metrics. ``test`` is only measured: expected calibration error
    (:func:`emobalance.metrics.expected_calibration_error`) and macro-F1 before and after.
    "Before" is the model as given.

    Parameters
    ----------
    model : path or EmotionModel
        A saved model of any kind, or a loaded one.
    dev : split name, dataset file or EmotionDataset, default="dev"
        Labelled data the calibration and thresholds are fitted on.
    test : split name, dataset file, EmotionDataset or None, default="test"
        Labelled data measured before and after (None: not measured).
    out : path, optional
        Where to save the calibrated model (the same folder or ``.onnx`` file as ``model``
        overwrites it); None: not saved.
    config : EmobalanceConfig, optional
        Its ``data`` section names the splits (GoEmotions' by default).

    Returns
    -------
    model : EmotionModel
        The calibrated copy (``calibration_`` set, ``thresholds_`` and ``metrics_["dev"]``
        re-tuned).
    report : dict
        ``n_dev``, ``n_test``, ``ece_dev_before``, ``ece_dev_after``, ``ece_test_before``,
        ``ece_test_after``, ``macro_f1_dev_before``, ``macro_f1_dev_after``,
        ``macro_f1_test_before``, ``macro_f1_test_after`` (test entries None without
        ``test``), ``identity_labels`` (left uncalibrated: no dev positive, or no ranking)
        and ``saved`` (the path, or None).
    """
    from .labels import schema_of
    from .metrics import expected_calibration_error, macro_f1, predict_labels
    from .models.calibration import PlattCalibration
    from .models.registry import load_model

    clf = load_model(model) if isinstance(model, str | os.PathLike) else model
    raw_model = clf.with_calibration(None).with_long_text()  # pieces as dev shows them: whole
    sets = {
        "dev": load_data(dev, config=config),
        "test": None if test is None else load_data(test, config=config),
    }
    for name, ds in sets.items():
        if ds is not None and (not ds.is_labelled or len(ds) == 0):
            raise EmobalanceError(f"{name} data: calibration needs labelled rows, it has none")
        if ds is not None:
            check_model_schema(clf, ds, f"{name} data")
    raw = {k: raw_model.predict_proba(ds.texts) for k, ds in sets.items() if ds is not None}
    schema = schema_of(clf)
    cal = PlattCalibration.fit(sets["dev"].labels, raw["dev"], schema=schema)
    new = clf.with_calibration(cal)
    dev_proba = cal.apply(raw["dev"])
    dev_m = new._tune_on_dev(sets["dev"].labels, dev_proba)
    if "macro_f1_at_0_5" in (clf.metrics_.get("dev") or {}):  # the TF-IDF baseline's record
        dev_m["macro_f1_at_0_5"] = macro_f1(sets["dev"].labels, dev_proba >= 0.5)
    report: dict[str, Any] = {"n_dev": len(sets["dev"]), "n_test": None}
    for name, ds in sets.items():
        for key in ("ece", "macro_f1"):
            report[f"{key}_{name}_before"] = report[f"{key}_{name}_after"] = None
        if ds is None:
            continue
        report[f"n_{name}"] = len(ds)
        states = (("before", clf, clf._calibrate(raw[name])), ("after", new, cal.apply(raw[name])))
        for when, m, p in states:
            report[f"ece_{name}_{when}"] = expected_calibration_error(ds.labels, p)
            pred = predict_labels(p, m.thresholds_, schema.single_label)
            report[f"macro_f1_{name}_{when}"] = macro_f1(ds.labels, pred)
    report["identity_labels"] = list(cal.info.get("identity", []))
    new.metrics_["calibration"] = {
        "method": cal.method, "n_dev": report["n_dev"],
        "ece_dev_before": report["ece_dev_before"], "ece_dev_after": report["ece_dev_after"],
    }  # fmt: skip
    report["saved"] = None if out is None else str(new.save(out))
    if out is not None:
        log.info("saved the calibrated model to %s", out)
        if new.kind != "onnx" and (Path(out) / "model.onnx").is_file():
            log.warning("%s holds an ONNX export of the uncalibrated model: export it again",
                        out)  # fmt: skip
    return new, report
