"""Building the default model that ships in the package (``make model``).

:func:`package_model` turns a trained reference network (a distilled student) into the folder
:mod:`emobalance.models.default` loads: the int8 ONNX export, calibrated on dev (per-label
Platt scaling, thresholds re-tuned on dev), its ``manifest.json`` (sha256, size, source,
metrics) and a ``MODEL_CARD.md`` written from what was measured here, on the original
GoEmotions test split and the Sentiment140 polarity guard (or, with ``splits``, on the user's
own dev and test; the guard, mapped through GoEmotions' label maps, is measured only for a
GoEmotions model, and the manifest says when it was skipped). It refuses to package a file
whose test macro-F1 is more than ``max_f1_drop`` below the PyTorch model's, or that is larger
than ``max_mb``. Dev chooses and calibrates; test is only measured.

The folder is written whole into a temporary sibling and moved in
(:func:`~emobalance.models.storage.write_model_folder`, the manifest last), so a failed build
leaves the previous model in place.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError
from .io import sha256_file
from .labels import GOEMOTIONS, LabelSchema
from .log import get_logger
from .models.default import CARD, DEFAULT_DIR, MANIFEST, MODEL_FILE

if TYPE_CHECKING:
    from .data.dataset import EmotionDataset

Splits = tuple["EmotionDataset", "EmotionDataset"]
"""``(dev, test)``: the labelled sets a model is calibrated and measured on."""

log = get_logger(__name__)

__all__ = ["package_model", "render_model_card"]

GUARD = ("sentiment140_polarity_guard", "polarity")
GUARD_SKIPPED = "skipped: the polarity guard maps GoEmotions' labels; this model has its own"


def _arch(n_labels: int) -> str:
    return (f"word vectors -> convolution -> BiLSTM -> attention -> {n_labels} sigmoid outputs "
            "(the reference network)")  # fmt: skip


def _is_goemotions(schema: LabelSchema) -> bool:
    return schema.same_labels(GOEMOTIONS)


def _measure(model: Any, dev: Any, test: Any, guard_set: Any) -> dict[str, Any]:
    """Dev and test metrics at the model's thresholds, the test ECE and the polarity guard
    (None when ``guard_set`` is: a model of its own labels)."""
    from .evaluation.external import evaluate_external
    from .metrics import evaluate, expected_calibration_error

    schema = model.labels_
    p_dev, p_test = model.predict_proba(dev.texts), model.predict_proba(test.texts)
    guard = None if guard_set is None else evaluate_external(model, guard_set, GUARD[1])
    return {
        "dev": evaluate(dev.labels, p_dev, model.thresholds_, groupings=(), schema=schema),
        "test": evaluate(test.labels, p_test, model.thresholds_, groupings=(), schema=schema),
        "ece_test": expected_calibration_error(test.labels, p_test),
        "guard": None if guard is None else {
            k: guard[k] for k in ("n_scored", "accuracy", "macro_f1")
        },
    }  # fmt: skip


def _splits(splits: Any, schema: LabelSchema) -> Splits:
    """``(dev, test)``: GoEmotions' by default, else the user's (of the model's schema)."""
    from .errors import EmobalanceError

    if splits is None:
        from .data import goemotions

        dev, test = goemotions.load("dev"), goemotions.load("test")
    else:
        found = splits() if callable(splits) else splits
        if not isinstance(found, tuple | list) or len(found) not in (2, 3):
            raise EmobalanceError("splits: expected (dev, test) or (train, dev, test) datasets")
        dev, test = found[-2:]  # train, when given, is not used: the model is trained
    for name, ds in (("dev", dev), ("test", test)):
        if not ds.is_labelled or len(ds) == 0:
            raise EmobalanceError(f"{name} data: packaging needs labelled rows, it has none")
        schema.check_same(ds.schema, "the model", f"the {name} data", error=ModelError)
    return dev, test


def package_model(
    model_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] = DEFAULT_DIR,
    *,
    recipe: str = "",
    calibrate: bool = True,
    max_f1_drop: float = 0.005,
    max_mb: float = 10.0,
    splits: Splits | Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Export, calibrate, measure and package a reference network as the default model.

    Parameters
    ----------
    model_dir : path
        A reference-network folder (``train``, ``run`` or ``distill`` output).
    out_dir : path, default: the package's ``default_model`` folder
        The folder to (re)write.
    recipe : str
        How the model was trained (a command line), recorded in the card and the manifest.
    calibrate : bool, default=True
        Fit per-label Platt scaling on dev and re-tune the thresholds on dev.
    max_f1_drop : float, default=0.005
        Most test macro-F1 the packaged file may lose against the PyTorch model.
    max_mb : float, default=10
        Largest file allowed, in MB.
    splits : (dev, test) datasets, or a callable returning them, optional
        The labelled sets to calibrate on (dev) and measure on (dev, test), of the model's
        label schema; default GoEmotions' dev and test splits. A ``(train, dev, test)``
        triple (a run's data) is taken too, its train unused.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    ModelError
        If the folder is not a reference network, its schema differs from the splits', or
        the packaged model fails a bar.
    """
    from . import __version__
    from .evaluation.datasets import load_external
    from .export import export_onnx
    from .jobs import calibrate_model
    from .models.onnx import OnnxEmotionClassifier
    from .models.registry import find_kind, load_model, model_id
    from .models.storage import write_model_folder

    src = Path(model_dir)
    if find_kind(src) != "reference":
        raise ModelError(f"{src}: not a reference-network folder; only that model is packaged")
    out = Path(out_dir)
    torch_model = load_model(src)
    schema = torch_model.labels_
    dev, test = _splits(splits, schema)
    # read once, scored for both models; its label map speaks GoEmotions only
    guard_set = load_external(GUARD[0]) if _is_goemotions(schema) else None
    if guard_set is None:
        log.info("the polarity guard is %s", GUARD_SKIPPED)
    measured_torch = _measure(torch_model, dev, test, guard_set)
    manifest: dict[str, Any] = {}

    def write(stage: Path) -> None:
        onnx_file = stage / MODEL_FILE
        export_onnx(torch_model, onnx_file, quantize="int8")
        shipped: Any = OnnxEmotionClassifier.load(onnx_file)
        calibration = None
        if calibrate:
            shipped, calibration = calibrate_model(shipped, dev, test, out=onnx_file)
            shipped = OnnxEmotionClassifier.load(onnx_file)
        measured = _measure(shipped, dev, test, guard_set)
        drop = measured_torch["test"]["macro_f1"] - measured["test"]["macro_f1"]
        if drop > max_f1_drop:
            raise ModelError(
                f"{src}: the int8 ONNX model loses {drop:.4f} test macro-F1 against PyTorch "
                f"(bar {max_f1_drop}); not packaged"
            )
        size = onnx_file.stat().st_size
        if size > max_mb * 1e6:
            raise ModelError(f"{src}: the int8 ONNX file is {size / 1e6:.1f} MB (bar {max_mb})")
        manifest.update({
            "format": "emobalance-default-model",
            "format_version": 1,
            "file": MODEL_FILE,
            "sha256": sha256_file(onnx_file),
            "bytes": size,
            "built_with": f"emobalance {__version__}",
            "built_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "source_model": model_id(src),
            "source_parameters": torch_model.metrics_.get("parameters"),
            "recipe": recipe,
            "model_config": {"max_len": torch_model.model_config.max_len},
            "label_schema": schema.to_dict(),
            **({} if guard_set is not None else {"polarity_guard": GUARD_SKIPPED}),
            "calibration": None if calibration is None else {
                k: calibration[k] for k in ("ece_dev_before", "ece_dev_after")
            },
            "metrics": _summary(measured),
            "pytorch_metrics": _summary(measured_torch),
        })  # fmt: skip
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        card = render_model_card(manifest, measured, measured_torch, torch_model.metrics_, schema)
        (stage / CARD).write_text(card, encoding="utf-8")

    # written whole beside ``out`` and moved in, the manifest last: a failed build or a bar
    # missed leaves the previous model as it was
    write_model_folder(out, write, marker=MANIFEST)
    log.info("packaged %s into %s (%.1f MB)", src, out, manifest["bytes"] / 1e6)
    return manifest


def _summary(m: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("macro_f1", "micro_f1", "weighted_f1", "macro_auc", "exact_match")
    out = {
        "dev": {k: round(float(m["dev"][k]), 4) for k in keys if k in m["dev"]},
        "test": {k: round(float(m["test"][k]), 4) for k in keys if k in m["test"]},
        "ece_test": round(float(m["ece_test"]), 4),
    }
    if m["guard"] is not None:
        out["polarity_guard_accuracy"] = round(float(m["guard"]["accuracy"]), 4)
    return out


def _f(x: Any) -> str:
    return "–" if x is None else f"{float(x):.4f}"


def _how_built(m: Mapping[str, Any], cal: Mapping[str, Any], data: str = "GoEmotions") -> str:
    """The build steps, from what the trained model recorded about itself (``data``: the
    labelled data's name)."""
    dist = m.get("distillation") or {}
    emb = m.get("embedding") or {}
    steps = []
    if dist:
        steps.append(
            f"1. Distilled from the teacher `{dist.get('teacher')}` (per-label thresholds tuned "
            f"on dev): the loss mixes the hard labels and the teacher's probabilities "
            f"(alpha {dist.get('alpha')}, temperature {dist.get('temperature')}) over "
            f"{dist.get('train_rows', 0):,} labelled rows ({data} train as balanced) and "
            f"{dist.get('external_rows', 0):,} unlabelled rows that only the teacher labels "
            "(Sentiment140 tweets, less the polarity guard)."
        )
    else:
        steps.append(f"1. Trained on {m.get('n_train', 0):,} labelled {data} rows.")
    steps.append(
        f"2. Vocabulary of {m.get('vocab_size', 0):,} words, initialised from "
        f"`{Path(str(emb.get('source', '?'))).name}` ({emb.get('coverage', 0):.0%} of the "
        f"words found); {m.get('epochs_run')} epochs, the best on dev kept (epoch "
        f"{m.get('best_epoch')}), {m.get('precision')} mixed precision."
    )
    steps.append(
        "3. Exported to ONNX with int8 dynamic quantization (embedding tables, LSTM, MatMul), "
        "then calibrated on dev (per-label Platt scaling, thresholds re-tuned on dev); expected "
        f"calibration error on dev {_f(cal.get('ece_dev_before'))} before, "
        f"{_f(cal.get('ece_dev_after'))} after."
    )
    return "\n".join(steps) + "\n"


def render_model_card(
    manifest: Mapping[str, Any],
    measured: Mapping[str, Any],
    measured_torch: Mapping[str, Any],
    train_metrics: Mapping[str, Any],
    schema: LabelSchema = GOEMOTIONS,
) -> str:
    """The ``MODEL_CARD.md`` text, from the figures :func:`package_model` measured.

    A GoEmotions model's card describes GoEmotions, its licences and the polarity guard; a
    model of its own labels gets :func:`_own_card`, which describes only what is known of it.
    """
    t, d = measured["test"], measured["dev"]
    tt = measured_torch["test"]
    minutes = f"{(train_metrics.get('train_seconds') or 0) / 60:.1f}"
    support = {k: v["support"] for k, v in (t.get("per_label") or {}).items()}
    rows = "\n".join(
        f"| {lab} | {_f(t['per_label_f1'][lab])} | {_f(tt['per_label_f1'][lab])} | "
        f"{support.get(lab, '')} |"
        for lab in schema.names
    )
    cal = manifest.get("calibration") or {}
    params = manifest.get("source_parameters")
    max_len = (manifest.get("model_config") or {}).get("max_len", "max_len")
    head = (
        (
            "This file is written by `emobalance package` (`make model`) from the figures it "
            "measured when\n"
        )
        + f"""the model was built; do not edit it by hand.

| | |
|---|---|
| file | `{manifest["file"]}`, {manifest["bytes"] / 1e6:.1f} MB, sha256 `{manifest["sha256"]}` |
| built | {manifest["built_at"]} with {manifest["built_with"]} |
| architecture | {_arch(len(schema))}; {params:,} parameters before int8 quantization |
| source model | `{manifest["source_model"]}` |
| recipe | `{manifest.get("recipe") or "not recorded"}` |
"""
    )
    if not _is_goemotions(schema):
        return _own_card(head, schema, measured, measured_torch, train_metrics, rows, max_len)
    g, gt = measured["guard"], measured_torch["guard"]
    return f"""# emobalance default model: distilled CNN-BiLSTM-attention, int8 ONNX

{head}| labels | the 27 GoEmotions emotions + neutral, multi-label |
| licence | Apache-2.0 (the code and these weights); see the data licences below |

## How it was built
{_how_built(train_metrics, cal)}
Vocabulary, thresholds, calibration and the tokenizer settings are inside the ONNX file
(`metadata_props`); `emobalance.load()` checks the file's sha256 against `manifest.json`
before it loads it and needs only numpy and onnxruntime.

## Metrics
Original GoEmotions splits (dev 5,426 rows, test 5,427), the model's own dev-tuned thresholds.
The polarity guard is 5,000 Sentiment140 tweets held out of every training corpus, scored as
positive vs negative through the `polarity` label map.

| | this file (int8, calibrated) | the PyTorch student it came from |
|---|---|---|
| test macro-F1 | {_f(t["macro_f1"])} | {_f(tt["macro_f1"])} |
| test micro-F1 | {_f(t["micro_f1"])} | {_f(tt["micro_f1"])} |
| test macro AUC | {_f(t.get("macro_auc"))} | {_f(tt.get("macro_auc"))} |
| dev macro-F1 | {_f(d["macro_f1"])} | {_f(measured_torch["dev"]["macro_f1"])} |
| test expected calibration error | {_f(measured["ece_test"])} | {_f(measured_torch["ece_test"])} |
| polarity guard accuracy | {_f(g["accuracy"])} | {_f(gt["accuracy"])} |
| training minutes, as the student recorded them | | {minutes} |

Per-label F1 on test:

| label | F1 (this file) | F1 (PyTorch) | test support |
|---|---|---|---|
{rows}

## Training data and licences
- **GoEmotions** (Demszky et al., ACL 2020): 43,410 English Reddit comments (train), 5,426
  (dev). Released by Google Research under Apache-2.0 for research. The test split was
  used only to measure.
- **Sentiment140** (Go et al. 2009): 92,841 English tweets of 2009, used as unlabelled text
  (the teacher's soft labels). Research use; the data has no explicit licence.
- **Word vectors**: 300-d fastText-trained English vectors (Explosion, from spaCy
  `en_core_web_md` 3.7.1; OSCAR, Wikipedia, OpenSubtitles, WMT News Crawl).
- **all-MiniLM-L6-v2** (Apache-2.0) as the teacher's encoder; it is not part of this file.

## Intended uses
- Tagging short English social-media text (comments, posts, tweets) with emotions, for
  analysis in aggregate: dashboards, research, triage that a person reviews.
- A fast CPU baseline (thousands of texts a second) and a starting point to fine-tune.

## Limits and unintended uses
- **Reddit-style English only.** It was trained on Reddit comments and tweets; other
  languages, registers (formal writing, dialogue transcripts, clinical notes) and long
  documents score worse. Long texts are truncated to {max_len} tokens
  unless a long-text policy is chosen (`--long-text sentences`).
- **Rare emotions are weak**: grief, relief, pride, nervousness and embarrassment have a few
  dozen to a few hundred training examples; their F1 above is low and noisy.
- **Annotator bias.** GoEmotions labels are the judgement of a small pool of raters; the
  model inherits their reading of sarcasm, dialect and culture.
- **Not for decisions about people**: not for mental-health diagnosis, hiring, policing or
  moderation without human review. Emotion labels are guesses about text, not about the
  writer.
"""


def _own_card(
    head: str,
    schema: LabelSchema,
    measured: Mapping[str, Any],
    measured_torch: Mapping[str, Any],
    train_metrics: Mapping[str, Any],
    rows: str,
    max_len: Any,
) -> str:
    """The card of a model of its own labels: the figures measured on the user's splits."""
    t, d, tt = measured["test"], measured["dev"], measured_torch["test"]
    kind = "single-label" if schema.single_label else "multi-label"
    extra = ""
    if schema.single_label:
        extra = f"| test accuracy | {_f(t.get('accuracy'))} | {_f(tt.get('accuracy'))} |\n"
    cal = {}  # the calibration's figures are in the manifest
    minutes = f"{(train_metrics.get('train_seconds') or 0) / 60:.1f}"
    return f"""# emobalance packaged model ({schema.name}): CNN-BiLSTM-attention, int8 ONNX

{head}| labels | {len(schema)} labels of `{schema.name}` ({", ".join(schema.names)}), {kind} |

## How it was built
{_how_built(train_metrics, cal, f"`{schema.name}`")}
Vocabulary, label schema, thresholds, calibration and the tokenizer settings are inside the
ONNX file (`metadata_props`).

## Metrics
The dev ({d["n"]:,} rows) and test ({t["n"]:,} rows) splits given to `emobalance package`,
the model's own dev-tuned thresholds. The Sentiment140 polarity guard was {GUARD_SKIPPED}.

| | this file (int8, calibrated) | the PyTorch model it came from |
|---|---|---|
| test macro-F1 | {_f(t["macro_f1"])} | {_f(tt["macro_f1"])} |
| test micro-F1 | {_f(t["micro_f1"])} | {_f(tt["micro_f1"])} |
| test Jaccard (example-based) | {_f(t.get("jaccard"))} | {_f(tt.get("jaccard"))} |
{extra}| test macro AUC | {_f(t.get("macro_auc"))} | {_f(tt.get("macro_auc"))} |
| dev macro-F1 | {_f(d["macro_f1"])} | {_f(measured_torch["dev"]["macro_f1"])} |
| test expected calibration error | {_f(measured["ece_test"])} | {_f(measured_torch["ece_test"])} |
| training minutes, as the model recorded them | | {minutes} |

Per-label F1 on test:

| label | F1 (this file) | F1 (PyTorch) | test support |
|---|---|---|---|
{rows}

## Limits
- Texts are truncated to {max_len} tokens unless a long-text policy is chosen
  (`--long-text sentences`).
- The model knows only its training data: its domain, language and annotators' judgement;
  labels with few training examples score low and noisy F1 above.
"""
