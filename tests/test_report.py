"""report.py builds the run report's figures and notes from data the pipeline passes in."""

import numpy as np

from emobalance.labels import LABELS
from emobalance.report import bootstrap_pairs, paired_bootstrap, roc_curves, run_figures, run_notes

PNG = b"\x89PNG\r\n\x1a\n"


def entries():
    rng = np.random.default_rng(0)
    out = []
    for v in ("imbalanced", "balanced"):
        for s in (0, 1):
            out.append({
                "variant": v, "seed": s,
                "test": {"per_label_f1": {lab: float(rng.random()) for lab in LABELS}},
                "efficiency": {"train_seconds": 60.0},
            })  # fmt: skip
    return out


def data(n=60):
    rng = np.random.default_rng(1)
    y = (rng.random((n, 28)) < 0.2).astype(np.uint8)
    y[:, LABELS.index("grief")] = 0  # no positive: no ROC curve for it
    probas = {v: rng.random((n, 28)).astype(np.float32) for v in ("imbalanced", "tfidf")}
    return y, probas


def test_roc_curves_skip_labels_without_positives():
    y, probas = data()
    curves = roc_curves(y, probas, ["grief", "pride", "anger"])
    assert list(curves) == ["pride", "anger"]
    assert set(curves["pride"]) == {"imbalanced", "tfidf"}  # balanced has no probabilities
    fpr, tpr, auc = curves["anger"]["tfidf"]
    assert fpr[0] == 0 and tpr[-1] == 1 and 0 <= auc <= 1


def test_run_figures_are_pngs_by_name():
    y, probas = data()
    hist = {"imbalanced": [{"epoch": 1, "train_loss": 1.0, "dev_macro_f1": 0.2},
                           {"epoch": 2, "train_loss": 0.5, "dev_macro_f1": 0.3}]}  # fmt: skip
    figs = run_figures(entries(), y, ["grief", "pride"], probas=probas, histories=hist,
                       balance_png=PNG + b"x")  # fmt: skip
    assert list(figs) == ["balance_counts", "per_label_f1", "roc", "training"]
    assert figs["balance_counts"] == PNG + b"x"
    assert all(png.startswith(PNG) for png in figs.values())
    bare = run_figures(entries(), y, ["grief", "pride"], probas={}, histories={})
    assert list(bare) == ["per_label_f1"]


def test_bootstrap_pairs_one_per_seed_with_its_own_generator():
    y, probas = data()
    a, b = (probas["imbalanced"] > 0.5), (probas["tfidf"] > 0.5)
    got = bootstrap_pairs(y, [(3, a, b), (4, b, a)], n_boot=20)
    assert [g["seed"] for g in got] == [3, 4]
    assert got[0] == paired_bootstrap(y, a, b, n_boot=20, random_state=3) | {"seed": 3}
    assert bootstrap_pairs(y, [(3, a, b)], n_boot=0) == []


def test_run_notes():
    es = entries()
    es[0]["distillation"] = {"teacher": "tfidf", "alpha": 0.5, "temperature": 1.0,
                             "train_rows": 1200, "external_rows": 80}  # fmt: skip
    es[3]["balanced_holdout_not_comparable"] = {"macro_f1": 0.5, "micro_f1": 0.6}
    notes = run_notes(es, seconds=120, seeds=[0, 1])
    assert notes[0].startswith("this invocation took 2.0 min") and "4.0 min" in notes[0]
    assert "seeds [0, 1]" in notes[0]
    assert any("distilled from tfidf" in n and "1,200 labelled rows" in n for n in notes)
    assert notes[-1].startswith("NOT COMPARABLE: seed 1 balanced model")


# --------------------------------------------------- external sets (run.external, issue 16)
def _ext(macro_f1, accuracy, mode="single_label"):
    second = "micro_f1" if mode == "multi_label" else "accuracy"
    return {"dataset": "guard", "path": "sentiment140_polarity_guard", "label_map": "polarity",
            "mode": mode, "macro_f1": macro_f1, second: accuracy, "n_rows": 10, "n_scored": 9,
            "scored_labels": ["positive", "negative"], "gold_outside_map": {"mixed": 1},
            "gold_unmapped": {}}  # fmt: skip


def external_entries():
    # mean macro-F1 on "guard": imbalanced 0.70, balanced 0.68 (-0.02: flagged), tfidf 0.695
    f1 = {("imbalanced", 0): 0.71, ("imbalanced", 1): 0.69, ("balanced", 0): 0.69,
          ("balanced", 1): 0.67, ("tfidf", 0): 0.695}  # fmt: skip
    return [{"variant": v, "seed": s, "external": {"guard": _ext(f, f + 0.1)}}
            for (v, s), f in f1.items()]  # fmt: skip


def test_external_table_flags_a_loss_over_the_bar():
    from emobalance.report import EXTERNAL_LOSS_FLAG, external_table

    rows, flagged = external_table(external_entries(), ["imbalanced", "balanced", "tfidf"],
                                   "guard")  # fmt: skip
    assert EXTERNAL_LOSS_FLAG == 0.01 and flagged == ["balanced"]
    by = {r[0]: r for r in rows}
    assert by["imbalanced"][2] == f"0.7000 ± {np.std([0.71, 0.69], ddof=1):.4f}"
    assert by["imbalanced"][4] == "-" and by["balanced"][4] == "-0.0200"
    assert by["tfidf"][4] == "-0.0050" and by["tfidf"][6] == ""
    assert by["balanced"][6] == "LOSS > 0.01" and by["balanced"][5] == "9 / 10"
    assert by["tfidf"][3] == "0.7950"  # accuracy, one seed


def test_external_section_in_the_written_report(tmp_path):
    from emobalance.report import write_report

    es = external_entries()
    for e in es:
        e["test"] = {"per_label_f1": dict.fromkeys(LABELS, 0.5)}
    md_path, html_path = write_report(
        tmp_path, es, variants=["imbalanced", "balanced", "tfidf"], balance_report=None,
        rare=list(LABELS[:6]), bootstrap=None, figures={"per_label_f1": PNG}, efficiency=[],
        external=["guard"],
    )  # fmt: skip
    md = md_path.read_text()
    assert "## External datasets" in md
    assert "**guard** (sentiment140_polarity_guard, map polarity, single-label" in md
    assert "FLAGGED: balanced lose more than 0.01 macro-F1 to imbalanced on guard." in md
    assert "Gold labels not scored (outside the map or unmapped): mixed (1)." in md
    assert "<h2>External datasets</h2>" in html_path.read_text()
    none = write_report(
        tmp_path / "b", es, variants=["imbalanced"], balance_report=None,
        rare=list(LABELS[:6]), bootstrap=None, figures={"per_label_f1": PNG}, efficiency=[],
    )[0].read_text()  # fmt: skip
    assert "External datasets" not in none


# ------------------------------------------------------------- comparison over seeds
def seed_entries(seeds):
    """imbalanced, balanced and tfidf over ``seeds``: balanced +0.02 test macro-F1 a seed
    (plus the seed's thousandths), +0.1 on the rare labels, -0.01 on the guard's accuracy."""
    out = []
    for v, gain, dev in (
        ("imbalanced", 0.0, 0.40),
        ("balanced", 0.02, 0.41),
        ("tfidf", -0.1, 0.30),
    ):
        for s in seeds:
            g = gain + (s / 1000 if v == "balanced" else 0)
            rare = 0.2 + (0.1 if v == "balanced" else 0)
            out.append({
                "variant": v, "seed": s, "dev_macro_f1": dev + s / 100,
                "test": {"macro_f1": 0.45 + s / 100 + g,
                         "per_label_f1": dict.fromkeys(LABELS, rare)},
                "external": {"sentiment140_polarity_guard": {
                    "accuracy": 0.80 - (0.01 if v == "balanced" else 0)}},
            })  # fmt: skip
    return out


def comparison_of(es):
    from emobalance.evaluation import compare_variants, select_by_dev

    variants = ["imbalanced", "balanced", "tfidf"]
    return {"baseline": "imbalanced",
            "rows": compare_variants(es, "imbalanced", list(LABELS[:6]), variants=variants),
            "selected_by_dev": select_by_dev(es, variants[1:])}  # fmt: skip


def written(tmp_path, es, **kwargs):
    from emobalance.report import write_report

    md_path, html_path = write_report(
        tmp_path, es, variants=["imbalanced", "balanced", "tfidf"], balance_report=None,
        rare=list(LABELS[:6]), figures={"per_label_f1": PNG}, efficiency=[],
        **{"bootstrap": None} | kwargs,
    )  # fmt: skip
    return md_path.read_text(), html_path.read_text()


def test_comparison_section_with_three_seeds(tmp_path):
    from emobalance.evaluation import paired_seed_test

    es = seed_entries([0, 1, 2])
    md, html = written(tmp_path, es, comparison=comparison_of(es))
    assert "## Comparison over seeds" in md and "<h2>Comparison over seeds</h2>" in html
    t = paired_seed_test([0.45, 0.46, 0.47], [0.47, 0.481, 0.492])
    ci = f"{t['ci_low']:+.4f} … {t['ci_high']:+.4f}"
    row = (f"| balanced | test macro F1 | 3 | +0.0210 | {ci} | {t['p_t']:.4f} "
           f"({t['p_t_one_sided']:.4f}) | 0.2500 (0.1250) | 3/3 |")  # fmt: skip
    assert row in md
    assert "| balanced | rare-6 mean F1 | 3 | +0.1000 |" in md
    assert "| balanced | polarity guard accuracy | 3 | -0.0100 |" in md
    assert "| tfidf | test macro F1 | 3 | -0.1000 |" in md
    assert "Selected by dev mean macro-F1 among all the variants: balanced" in md
    assert "(dev mean macro-F1 0.4200)" in md and "The selection used dev only" in md
    assert "needs at least 2 seeds" not in md
    assert "<td>polarity guard accuracy</td>" in html


def test_comparison_section_with_one_seed(tmp_path):
    es = seed_entries([0])
    md, _ = written(tmp_path, es, comparison=comparison_of(es))
    assert "| balanced | test macro F1 | 1 | +0.0200 | - | - | - | 1/1 |" in md
    assert "A paired test needs at least 2 seeds" in md
    assert "Selected by dev mean macro-F1 among all the variants: balanced" in md
    # nothing to compare: no section
    only = [e for e in es if e["variant"] == "imbalanced"]
    md, _ = written(tmp_path / "b", only, comparison=comparison_of(only))
    assert "Comparison over seeds" not in md


def test_bootstrap_of_distilled_balanced_beside_balanced(tmp_path):
    y, probas = data()
    a, b = (probas["imbalanced"] > 0.5), (probas["tfidf"] > 0.5)
    got = bootstrap_pairs(y, [(0, a, b)], n_boot=20, variant="distilled_balanced")
    assert got == [paired_bootstrap(y, a, b, n_boot=20, random_state=0)
                   | {"seed": 0, "variant": "distilled_balanced"}]  # fmt: skip
    bal = bootstrap_pairs(y, [(0, b, a)], n_boot=20, variant="balanced")[0]
    md, _ = written(tmp_path, seed_entries([0]), bootstrap=bal, extra_bootstrap=got)
    lines = md.split("## Significance\n\n")[1].split("\n")
    assert lines[0].startswith(
        "Paired bootstrap on the test set (20 resamples, seed 0): "
        f"macro-F1(balanced) − macro-F1(imbalanced) = {bal['diff']:+.4f}"
    )
    assert (
        f"macro-F1(distilled_balanced) − macro-F1(imbalanced) = {got[0]['diff']:+.4f}" in lines[1]
    )
    md, _ = written(tmp_path / "b", seed_entries([0]), extra_bootstrap=got)
    assert "macro-F1(balanced)" not in md and "macro-F1(distilled_balanced)" in md


# ------------------------------------------------------- own label schemas (issue 24)
FIVE_NAMES = ("joy", "anger", "fear", "trust", "neutral")


def own_entries(names, single=False):
    """imbalanced and balanced over seeds 0 and 1, with the run's own labels."""
    out = []
    for v, f1 in (("imbalanced", 0.4), ("balanced", 0.5)):
        for s in (0, 1):
            test = {
                "macro_f1": f1 + s / 100,
                "micro_f1": f1 + 0.1,
                "jaccard": f1 - 0.1,
                "per_label_f1": {lab: f1 + j / 100 for j, lab in enumerate(names)},
            }
            if single:
                test["accuracy"] = f1 + 0.2
            out.append({"variant": v, "seed": s, "dev_macro_f1": f1, "test": test,
                        "efficiency": {"train_seconds": 1.0}})  # fmt: skip
    return out


def test_rare_count_follows_the_schema_size():
    from emobalance.labels import GOEMOTIONS, LabelSchema
    from emobalance.report import rare_count

    assert rare_count(GOEMOTIONS) == 6
    assert rare_count(LabelSchema(FIVE_NAMES)) == 1
    assert rare_count(LabelSchema([f"l{j}" for j in range(11)])) == 3  # 11 labels // 3
    assert rare_count(LabelSchema(["a", "b"])) == 1


def test_report_of_a_five_label_run(tmp_path):
    from emobalance.labels import LabelSchema
    from emobalance.metrics import rare_labels
    from emobalance.report import rare_count, report_schema, write_report

    schema = LabelSchema(FIVE_NAMES, name="five")
    es = own_entries(FIVE_NAMES)
    assert report_schema(es).names == FIVE_NAMES  # from the entries' per-label F1
    counts = {"joy": 40, "anger": 9, "fear": 3, "trust": 12, "neutral": 80}
    rare = rare_labels(counts, rare_count(schema), schema)
    assert rare == ["fear"]
    rng = np.random.default_rng(0)
    y = (rng.random((40, 5)) < 0.3).astype(np.uint8)
    probas = {"imbalanced": rng.random((40, 5)).astype(np.float32)}
    figs = run_figures(es, y, rare, probas=probas, histories={}, schema=schema)
    assert list(figs) == ["per_label_f1", "roc"]
    balance = {"label_counts_before": counts, "label_counts_after": dict.fromkeys(counts, 40),
               "mean_ir_before": 9.0, "mean_ir_after": 1.0, "leaked_texts": 0,
               "counts_by_source": {"original": 100}}  # fmt: skip
    md = write_report(
        tmp_path, es, variants=["imbalanced", "balanced"], balance_report=balance, rare=rare,
        bootstrap=None, figures=figs, efficiency=[], schema=schema,
    )[0].read_text()  # fmt: skip
    assert "the test split of five (5 labels)" in md and "GoEmotions" not in md
    assert "Mean F1 of the rarest training label (fear)" in md
    header = next(line for line in md.splitlines() if line.startswith("| variant | seeds"))
    assert "| micro F1 |" in header and "| macro F1 | Jaccard |" in header
    assert "accuracy" not in header
    row = next(line for line in md.splitlines() if line.startswith("| balanced | 2 |"))
    assert "0.4000" in row  # balanced's Jaccard, 0.5 - 0.1 on both seeds
    data_rows = [line for line in md.splitlines() if line.startswith("| fear |")]
    assert data_rows == ["| fear | 3 | 40 |"]  # the data table lists the schema's labels


def test_report_of_a_single_label_run_adds_accuracy(tmp_path):
    from emobalance.labels import LabelSchema
    from emobalance.report import write_report

    names = ("pos", "neg", "other")
    es = own_entries(names, single=True)
    schema = LabelSchema(names, name="three", single_label=True)
    md = write_report(
        tmp_path, es, variants=["imbalanced", "balanced"], balance_report=None, rare=["neg"],
        bootstrap=None, figures={"per_label_f1": PNG}, efficiency=[], schema=schema,
    )[0].read_text()  # fmt: skip
    header = next(line for line in md.splitlines() if line.startswith("| variant | seeds"))
    assert header.endswith("| Hamming loss | accuracy |")
    row = next(line for line in md.splitlines() if line.startswith("| imbalanced |"))
    assert row.endswith("| 0.6000 ± 0.0000 |")  # accuracy 0.4 + 0.2, both seeds
    notes = run_notes(es, seconds=60, seeds=[0, 1], rare=["neg"])
    assert "rare labels = the one with the fewest" in notes[0]


def test_goemotions_report_keeps_its_words_and_shows_jaccard_as_dash_when_absent(tmp_path):
    md, _ = written(tmp_path, seed_entries([0, 1]), comparison=comparison_of(seed_entries([0, 1])))
    assert "the original human-labelled GoEmotions test set" in md
    assert "Mean F1 of the six rarest training labels" in md and "rare-6 mean F1" in md
    row = next(line for line in md.splitlines() if line.startswith("| imbalanced | 2 |"))
    # entries without a jaccard key (written before it existed): "-", not nan
    assert "nan" not in row and "| - |" in row


def test_comparison_names_the_dev_metric_that_selected(tmp_path):
    from emobalance.report import comparison_section

    es = seed_entries([0, 1])
    comparison = comparison_of(es) | {"selected_by_dev_metric": "jaccard"}
    body = comparison_section(comparison)
    assert "Selected by dev mean Jaccard among all the variants: " in body
    assert "dev mean macro-F1" not in body
    none = comparison_section(comparison | {"selected_by_dev": None})
    assert "has a dev Jaccard to select by" in none
