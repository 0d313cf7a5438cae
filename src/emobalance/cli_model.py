"""What the CLI adds to a loaded model, and the commands that change or show it:
``predict``'s long-text, threshold and view options (:class:`ModelOptions`,
:func:`print_predictions`), ``emobalance thresholds`` and ``emobalance calibrate``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli_options import (
    DataConfigFile,
    ModelPath,
    SetOption,
    ThresholdOption,
    ThresholdsOption,
    command_config,
    record_io,
)
from .errors import EmobalanceError


@dataclass(frozen=True)
class ModelOptions:
    """The options of ``predict`` (and ``serve``, ``thresholds``) that change a loaded model:
    thresholds, the long-text policy, the text-length limit. All None: the model as saved."""

    threshold: float | None = None
    thresholds: Path | None = None
    long_text: str | None = None
    aggregate: str | None = None
    window: int | None = None
    max_chars: int | None = None

    def __post_init__(self) -> None:
        from .models.long_text import LongTextPolicy

        # refused before the model loads: a typo should not wait for a transformer
        LongTextPolicy(self.long_text or "truncate", self.aggregate or "max", self.window)
        mode = (self.long_text or "truncate").strip().lower()
        if self.aggregate is not None and mode == "truncate":
            raise EmobalanceError("--aggregate needs --long-text sentences or windows")
        if self.window is not None and mode != "windows":
            raise EmobalanceError("--window needs --long-text windows")
        if self.thresholds is not None:
            from .models.thresholds import read_threshold_file

            # a bad file fails before the model loads; its labels are the model's to check
            read_threshold_file(self.thresholds, schema=None)

    @property
    def given(self) -> list[str]:
        """The flags given, as the user spelled them."""
        flags = {"--threshold": self.threshold, "--thresholds": self.thresholds,
                 "--long-text": self.long_text, "--aggregate": self.aggregate,
                 "--window": self.window, "--max-chars": self.max_chars}  # fmt: skip
        return [flag for flag, value in flags.items() if value is not None]

    def apply(self, clf: Any) -> Any:
        """``clf`` itself, or a copy with the options applied."""
        if self.threshold is not None:
            clf = clf.with_thresholds(self.threshold)
        if self.thresholds is not None:
            clf = clf.with_thresholds(self.thresholds)
        if self.long_text is not None:
            clf = clf.with_long_text(self.long_text, self.aggregate or "max", self.window)
        if self.max_chars is not None:
            clf = clf._copy()
            clf.max_text_chars = self.max_chars
        return clf

    def resume_ids(self, clf: Any, ids: list[str]) -> list[str]:
        """The ids ``predict --resume`` records: the model's, plus what changes its outputs
        (thresholds, long-text policy), so a resumed run never mixes two settings."""
        parts = []
        if self.threshold is not None or self.thresholds is not None:
            digest = hashlib.sha256(clf.thresholds_.astype("<f4").tobytes()).hexdigest()[:16]
            parts.append(f"thresholds={digest}")
        if self.long_text is not None:
            p = clf.long_text_policy
            parts.append(f"long_text={p.mode}/{p.aggregate}/{p.window or 'auto'}")
        return [f"{ids[0]}+{'+'.join(parts)}"] if parts else ids


def print_predictions(
    clf: Any, texts: list[str], top_k: int | None = None, view: str | None = None
) -> None:
    """One JSON line per text: ``text``, ``labels`` and ``top`` (``{label: p}``, the
    ``top_k`` most probable, 3 by default) in ``view`` (default the 28 labels)."""
    records = clf.predict_records(texts, top_k=3 if top_k is None else top_k,
                                  view=view or "labels")  # fmt: skip
    for text, rec in zip(texts, records, strict=True):
        top = {k: round(v, 4) for k, v in rec["top"]}
        line = {"text": text, "labels": rec["labels"], "top": top}
        typer.echo(json.dumps(line, ensure_ascii=False))


def thresholds_cmd(
    model_dir: ModelPath,
    threshold: ThresholdOption = None,
    thresholds: ThresholdsOption = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print {label: threshold}, a file --thresholds reads."),
    ] = False,
) -> None:
    """Print the model's per-label decision thresholds (tuned on dev), with --threshold /
    --thresholds applied as `predict` would apply them."""
    from .cli_tables import print_thresholds
    from .models.base import thresholds_json
    from .models.registry import load_model

    options = ModelOptions(threshold=threshold, thresholds=thresholds)
    record_io(reading=thresholds or model_dir)
    clf = load_model(model_dir)
    new = options.apply(clf)
    if as_json:
        typer.echo(json.dumps(thresholds_json(new.thresholds_, new.labels_)))
        return
    print_thresholds(
        new.thresholds_, clf.thresholds_, str(model_dir), new.calibration_, schema=clf.labels_
    )


def calibrate_cmd(
    model_dir: ModelPath,
    dev: Annotated[
        str, typer.Option("--dev", help="Labelled data to fit on: a split name or a file.")
    ] = "dev",
    test: Annotated[
        str,
        typer.Option("--test", help="Labelled data only measured (a split, a file, or none)."),
    ] = "test",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to save the calibrated model (default: over MODEL)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: DataConfigFile = None,
    sets: SetOption = None,
) -> None:
    """Calibrate the model's probabilities on dev (per-label Platt scaling), re-tune its
    thresholds on the calibrated dev probabilities, and save it.

    Prints the expected calibration error (ECE, 15 bins over all label-text pairs) and
    macro-F1 before and after, on dev and on test (test is only measured). `predict`,
    `evaluate`, `explain` and `serve` then use the calibrated probabilities.
    """
    from .cli_tables import print_calibration
    from .jobs import calibrate_model

    cfg = command_config(config, sets)
    target = out or model_dir
    record_io(reading=dev, writing=target)
    no_test = test.strip().lower() == "none"
    _, report = calibrate_model(model_dir, dev, None if no_test else test, out=target, config=cfg)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
        return
    print_calibration(report, dev, None if no_test else test)


def package_cmd(
    model_dir: ModelPath,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The folder to write (default: the package's default_model)."),
    ] = None,
    recipe: Annotated[
        str, typer.Option("--recipe", help="How MODEL was trained, recorded in the card.")
    ] = "",
    max_f1_drop: Annotated[
        float,
        typer.Option(
            "--max-f1-drop",
            min=0.0,
            max=1.0,
            help="Most test macro-F1 the int8 file may lose against the PyTorch model.",
        ),
    ] = 0.005,
    config: DataConfigFile = None,
    sets: SetOption = None,
) -> None:
    """Package a reference network as the default model: int8 ONNX, calibrated on dev,
    with its sha256 manifest and a model card written from what is measured here.

    Refuses a file that loses more than 0.005 test macro-F1 against the PyTorch model or is
    over 10 MB. `make model` trains the recipe and runs this. A model of your own labels is
    packaged the same way into its own --out folder, measured on the splits of --config.
    """
    from .jobs import load_splits, own_data
    from .models.default import DEFAULT_DIR
    from .packaging import package_model

    cfg = command_config(config, sets)
    if own_data(cfg) and out is None:
        raise EmobalanceError(
            "a model of your own labels is packaged into a folder of its own: give --out "
            "(the package's default_model folder holds the GoEmotions model)"
        )
    target = out or DEFAULT_DIR
    record_io(reading=model_dir, writing=target)
    splits = None
    if own_data(cfg):
        data = load_splits(cfg)
        splits = (data.dev, data.test)
    m = package_model(model_dir, target, recipe=recipe, max_f1_drop=max_f1_drop, splits=splits)
    t, p = m["metrics"], m["pytorch_metrics"]
    guard = t.get("polarity_guard_accuracy")  # GoEmotions models only
    typer.echo(
        f"wrote {target} ({m['bytes'] / 1e6:.1f} MB, sha256 {m['sha256'][:16]}...): test "
        f"macro-F1 {t['test']['macro_f1']:.4f} (PyTorch {p['test']['macro_f1']:.4f})"
        + (f", polarity guard {guard:.4f}" if guard is not None else "")
    )
