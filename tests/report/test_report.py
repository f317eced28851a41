"""`genre report` from run directories alone: table, figures, data summary, warnings and references."""

from __future__ import annotations

import html
import json
import shutil

import numpy as np
import pytest
from matplotlib.image import imread

from genre import run_dir as rd
from genre.cli import main
from genre.data.info import SYNTHETIC_WARNING
from genre.report import build_report
from genre.report.references import FMA_SMALL_REFERENCES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_report_over_runs_from_both_backends(report_runs, tmp_path):
    report = build_report([report_runs], tmp_path / "report")
    labels = [r.label for r in report.records]
    assert sorted(labels) == ["conv1d, jax", "conv1d, tensorflow", "logreg", "nb"]
    val = [r.metrics["val"]["accuracy"] for r in report.records]
    assert val == sorted(val, reverse=True)  # ranked on validation, the split models are chosen on
    table = [line for line in report.markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 4
    for record in report.records:
        row = next(line for line in table if line.startswith(f"| {record.label} |"))
        assert f"{100 * record.metrics['test']['accuracy']:.1f}%" in row
        assert record.backend in row
    assert (tmp_path / "report" / "report.md").read_text() == report.markdown


def test_figures_are_valid_pngs(report_runs, tmp_path):
    report = build_report([report_runs], tmp_path / "report")
    names = sorted(p.name for p in report.figures)
    assert "per-genre-f1.png" in names and "accuracy-vs-training-time.png" in names
    assert sum(n.startswith("confusion-") for n in names) == 4
    assert sorted(n for n in names if n.startswith("curves-")) == [
        "curves-conv1d-jax.png",
        "curves-conv1d-tensorflow.png",
    ]
    for path in report.figures:
        assert path.read_bytes()[:8] == PNG_SIGNATURE, path
        pixels = imread(path)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200, path
        assert np.ptp(pixels[..., :3]) > 0.5, f"{path} is blank"  # something was drawn on it


def test_html_page_references_every_figure(report_runs, tmp_path):
    report = build_report([report_runs], tmp_path / "report")
    page = report.html.read_text()
    for path in report.figures:
        assert f'src="{path.relative_to(report.out).as_posix()}"' in page
    assert 'id="results"' in page


def test_generated_data_is_flagged_and_gets_no_published_references(report_runs, tmp_path):
    report = build_report([report_runs], tmp_path / "report")
    assert SYNTHETIC_WARNING in report.markdown
    assert SYNTHETIC_WARNING in report.html.read_text()
    assert "published" not in report.markdown


def test_real_fma_small_shows_the_published_references(report_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(report_runs, runs)
    for manifest_path in runs.glob(f"*/{rd.MANIFEST}"):
        manifest = json.loads(manifest_path.read_text())
        manifest["synthetic"] = False
        manifest["source"] = {"kind": "fma", "root": "/data/fma", "subset": "small", "split": "official"}
        manifest_path.write_text(json.dumps(manifest))
    report = build_report([runs], tmp_path / "report")
    assert SYNTHETIC_WARNING not in report.markdown
    for reference in FMA_SMALL_REFERENCES:
        assert f"published: {reference.model}" in report.markdown
        assert f"{100 * reference.test_accuracy:.1f}%" in report.markdown
        assert html.escape(reference.source) in report.html.read_text()


def test_cli_report_prints_the_table(report_runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(report_runs / "logreg"), str(report_runs / "nb"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| logreg | handcrafted | scikit-learn |" in printed and (out / "index.html").is_file()


def test_bad_inputs_name_the_problem(report_runs, tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) == 2
    assert "nowhere: no such run directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "r")]) == 2
    assert "holds no finished run" in capsys.readouterr().err
    trial = tmp_path / "trial"
    shutil.copytree(report_runs / "nb", trial)
    metrics = json.loads((trial / rd.METRICS).read_text())
    del metrics["test"]
    (trial / rd.METRICS).write_text(json.dumps(metrics))
    with pytest.raises(ValueError, match="has no test metrics"):
        build_report([trial], tmp_path / "r")


def test_the_table_gives_intervals_clip_counts_and_ties_with_the_best(report_runs, tmp_path):
    report = build_report([report_runs], tmp_path / "report")
    table = [line for line in report.markdown.splitlines() if line.startswith("| ")]
    assert "test accuracy [95% CI]" in table[0] and "test clips" in table[0] and "vs best (McNemar)" in table[0]
    first, *others = report.records
    rows = {r.label: next(line for line in table if line.startswith(f"| {r.label} |")) for r in report.records}
    low, high = first.metrics["test"]["accuracy_interval"]
    assert f"[{100 * low:.1f}%, {100 * high:.1f}%]" in rows[first.label]
    assert f"| {first.metrics['test']['clips']} |" in rows[first.label] and "| best |" in rows[first.label]
    for r in others:  # a few test clips cannot separate these models from the first
        assert "| tie (p=" in rows[r.label] or "| worse (p=" in rows[r.label] or "| better (p=" in rows[r.label]
    assert "Clopper-Pearson" in report.markdown and "McNemar" in report.markdown
    page = report.html.read_text()
    assert "[95% CI]" in page and 'id="method"' in page and "<em>tie</em>" in page


def test_a_model_wrong_on_every_clip_the_best_gets_right_is_worse(report_runs, tmp_path):
    """Two copies of one run, one made wrong wherever the other is right: the test must tell them apart."""
    runs = tmp_path / "runs"
    for name in ("right", "wrong"):
        shutil.copytree(report_runs / "nb", runs / name)
    for name, flip in (("right", False), ("wrong", True)):
        path = runs / name / rd.METRICS
        metrics = json.loads(path.read_text())
        p = metrics["test"]["predictions"]
        p["predicted"] = [(y + 1) % 8 if flip else y for y in p["label"]]
        metrics["val"]["accuracy"] = 0.1 if flip else 0.9  # ranks "right" first
        path.write_text(json.dumps(metrics))
    report = build_report([runs], tmp_path / "report")
    wrong = next(line for line in report.markdown.splitlines() if line.startswith("| nb") and "wrong |" in line)
    clips = len(p["label"])
    assert f"| worse (p={2 * 0.5**clips:.2g}) |" in wrong


def test_a_run_directory_without_metrics_is_named(report_runs, tmp_path, capsys):
    unfinished = tmp_path / "unfinished"
    shutil.copytree(report_runs / "nb", unfinished)
    (unfinished / rd.METRICS).unlink()  # killed before its test scores were written
    assert main(["report", str(unfinished), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{unfinished}: holds no finished run (no metrics.json" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_a_cross_validation_is_one_row_of_means_and_its_folds_are_listed(prepared, tmp_path, capsys):
    from genre.baselines.fit import default_baseline_config, fit_baseline
    from genre.cross_validation import CVConfig, cross_validate
    from genre.estimators import estimator_for
    from genre.train.config import apply_overrides

    runs = tmp_path / "runs"
    config = apply_overrides(default_baseline_config("logreg"), {"data": str(prepared)})
    summary = cross_validate(estimator_for("logreg"), config, runs / "cv-logreg", CVConfig(k=3), log=lambda _: None)
    fit_baseline(config, runs / "logreg")
    report = build_report([runs], tmp_path / "report")
    table = report.markdown.split("\n\n")[0 if not report.markdown.startswith(">") else 1].splitlines()[2:]
    assert len(table) == 2  # the ordinary run and the cross-validation: no row per fold
    cv_row = next(row for row in table if row.startswith("| logreg (3-fold CV) |"))
    cells = [c.strip() for c in cv_row.strip("|").split("|")]
    s = summary["test_accuracy"]
    low, high = s["interval"]
    assert cells[4] == f"{100 * s['mean']:.1f}% ± {100 * s['std']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    assert cells[5].startswith(f"{summary['test_macro_f1']['mean']:.3f} ± {summary['test_macro_f1']['std']:.3f}")
    assert cells[6] == "32 (3 folds)"
    other = next(row for row in table if row.startswith("| logreg |"))
    # Paired on the stored test clips, which the cross-validation predicted out of fold too.
    assert _shared_clips_cell(report.records, runs / "cv-logreg") in cv_row + other
    folds = [line for line in report.markdown.splitlines() if line.startswith("| logreg (3-fold CV) | 1 |")]
    assert len(folds) == 3
    for line, fold in zip(folds, summary["folds"], strict=True):
        assert f"| {100 * fold['test_accuracy']:.1f}% [" in line and line.endswith(f"| {fold['test_clips']} |")
    assert 'id="folds"' in report.html.read_text()

    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs / "cv-logreg", unfinished)
    (unfinished / rd.CV_SUMMARY).unlink()
    assert main(["report", str(unfinished), "--out", str(tmp_path / "r")]) == 2
    assert f"{unfinished}: holds no finished run" in capsys.readouterr().err


def _shared_clips_cell(records, cv_run) -> str:
    """The *vs best* cell of the second of two records, one a cross-validation, recomputed from the runs'
    own files: McNemar's exact test on the clips both tested, the cross-validation's first repeat."""
    from scipy.stats import binomtest

    def correct_by_track(run) -> dict[int, bool]:
        p = json.loads((run / "metrics.json").read_text())["test"]["predictions"]
        return {t: y == q for t, y, q in zip(p["track_id"], p["label"], p["predicted"], strict=True)}

    folds = json.loads((cv_run / "cv.json").read_text())["folds"]
    out_of_fold = {}
    for fold in folds:
        if fold["repeat"] == 0:
            out_of_fold |= correct_by_track(cv_run / fold["run"])
    best, second = records
    stored = correct_by_track((second if best.cross_validation else best).path)
    mine, theirs = (stored, out_of_fold) if best.cross_validation else (out_of_fold, stored)
    shared = sorted(stored)
    b = sum(mine[t] and not theirs[t] for t in shared)
    c = sum(theirs[t] and not mine[t] for t in shared)
    p = 1.0 if b + c == 0 else binomtest(b, b + c).pvalue
    verdict = "tie" if p >= 0.05 else ("better" if b > c else "worse")
    return f"| {verdict} (p={p:.2g}, {len(shared)} shared clips) |"


def _cells(markdown: str, label: str) -> dict[str, str]:
    """The table row of run `label`, by column name."""
    from genre.report.page import COLUMNS

    row = next(line for line in markdown.splitlines() if line.startswith(f"| {label} |"))
    cells = [c.strip() for c in row.strip("|").split(" | ")]
    assert len(cells) == len(COLUMNS), row
    return dict(zip(COLUMNS, cells, strict=True))


def _as_seconds(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"ms": 1e-3, "s": 1.0, "min": 60.0}[unit]


@pytest.mark.parametrize(
    ("train_seconds", "train_text", "per_clip", "per_clip_text"),
    [(0.25, "250 ms", 0.0123, "12.30 ms"), (42.0, "42.0 s", 0.5, "500.00 ms"), (600.0, "10.0 min", 2e-5, "0.02 ms")],
)
def test_the_time_columns_show_each_runs_own_times(
    report_runs, tmp_path, train_seconds, train_text, per_clip, per_clip_text
):
    runs = tmp_path / "runs"
    shutil.copytree(report_runs / "nb", runs / "nb")
    shutil.copytree(report_runs / "logreg", runs / "logreg")
    path = runs / "nb" / rd.METRICS
    metrics = json.loads(path.read_text())
    metrics["train_seconds"], metrics["inference_seconds_per_clip"] = train_seconds, per_clip
    path.write_text(json.dumps(metrics))
    report = build_report([runs], tmp_path / "report")
    nb = _cells(report.markdown, "nb")
    assert (nb["train time"], nb["inference / clip"]) == (train_text, per_clip_text)
    theirs = json.loads((runs / "logreg" / rd.METRICS).read_text())  # the other row keeps its own times
    logreg = _cells(report.markdown, "logreg")
    assert logreg["inference / clip"] == f"{1000 * theirs['inference_seconds_per_clip']:.2f} ms"
    assert _as_seconds(logreg["train time"]) == pytest.approx(theirs["train_seconds"], rel=0.05, abs=5e-4)
    page = report.html.read_text()
    assert f"<td>{train_text}</td><td>{per_clip_text}</td></tr>" in page
    assert "<th>train time</th><th>inference / clip</th>" in page


def test_each_data_set_is_summarised_once_with_its_counts_and_skipped_clips(report_runs, tmp_path):
    runs = tmp_path / "runs"
    for name in ("nb", "logreg"):
        shutil.copytree(report_runs / name, runs / name)
    # logreg as if trained on another preparation of the data, which skipped two clips.
    path = runs / "logreg" / rd.MANIFEST
    manifest = json.loads(path.read_text())
    manifest["identity"] = "another-preparation"
    manifest["skipped"] = [
        {"track_id": 91, "path": "fma_small/000/000091.mp3", "reason": "undecodable: bad header"},
        {"track_id": 92, "path": "fma_small/000/000092.mp3", "reason": "undecodable: truncated"},
    ]
    path.write_text(json.dumps(manifest))
    report = build_report([runs], tmp_path / "report")
    text, page = report.markdown, report.html.read_text()
    assert text.count("Data used by ") == 2 and page.count("<p>Used by: ") == 2
    nb_block = text.split("Data used by nb:")[1].split("Data used by")[0]
    logreg_block = text.split("Data used by logreg:")[1].split("Data used by")[0]
    assert "skipped   0 clip(s)" in nb_block
    assert "skipped   2 clip(s)" in logreg_block and "2  undecodable" in logreg_block
    counts = manifest["counts"]
    total = next(line for line in logreg_block.splitlines() if line.startswith("total"))
    assert total.split()[1:] == [str(sum(counts[s].values())) for s in counts]
    assert "source    synthetic" in nb_block or "source    fma" in nb_block
    assert "skipped   2 clip(s)" in page


def test_a_run_whose_metrics_lack_validation_is_named_in_one_line(report_runs, tmp_path, capsys):
    run = tmp_path / "no-val"
    shutil.copytree(report_runs / "nb", run)
    metrics = json.loads((run / rd.METRICS).read_text())
    del metrics["val"]
    (run / rd.METRICS).write_text(json.dumps(metrics))
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{run / rd.METRICS}: has no validation metrics" in err
    assert not (tmp_path / "r").exists()


def test_cli_report_on_a_run_whose_metrics_lack_test_names_it(report_runs, tmp_path, capsys):
    run = tmp_path / "no-test"
    shutil.copytree(report_runs / "nb", run)
    metrics = json.loads((run / rd.METRICS).read_text())
    del metrics["test"]
    (run / rd.METRICS).write_text(json.dumps(metrics))
    assert main(["report", str(run), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{run}: has no test metrics" in err and "Traceback" not in err


def test_the_figures_show_a_cross_validations_spread_over_folds(cv_report_runs, tmp_path):
    from sklearn.metrics import f1_score

    from genre.report.figures import cost_point, fold_f1

    report = build_report([cv_report_runs], tmp_path / "report")
    cv, stored = sorted(report.records, key=lambda r: r.cross_validation is None)
    summary = json.loads((cv_report_runs / "cv-logreg" / "cv.json").read_text())
    # Per-genre F1 over all six folds (two repeats), recomputed from each fold's own predictions.
    per_fold = []
    for fold in summary["folds"]:
        p = json.loads((cv_report_runs / "cv-logreg" / fold["run"] / "metrics.json").read_text())["test"]
        p = p["predictions"]
        per_fold.append(
            f1_score(p["label"], p["predicted"], labels=range(len(cv.genres)), average=None, zero_division=0)
        )
    mean, sd = fold_f1(cv)
    assert len(per_fold) == 6
    np.testing.assert_allclose(mean, np.mean(per_fold, axis=0))
    np.testing.assert_allclose(sd, np.std(per_fold, axis=0, ddof=1))
    # Accuracy against cost: the fold mean with the interval of the mean, as in the table; a run's own interval.
    assert cost_point(cv)[1:] == (summary["test_accuracy"]["mean"], *summary["test_accuracy"]["interval"])
    assert cost_point(stored)[1:] == (stored.metrics["test"]["accuracy"], *stored.metrics["test"]["accuracy_interval"])
    folds_figure = report.out / "figures" / "per-genre-f1-folds.png"
    assert folds_figure in report.figures and folds_figure.read_bytes()[:8] == PNG_SIGNATURE
    assert np.ptp(imread(folds_figure)[..., :3]) > 0.5
    assert 'src="figures/per-genre-f1-folds.png"' in report.html.read_text()
    # Without a cross-validation there is no spread to show, and no such figure.
    plain = build_report([cv_report_runs / "nb"], tmp_path / "plain")
    assert not (plain.out / "figures" / "per-genre-f1-folds.png").exists()
    assert "per-genre-f1-folds" not in plain.html.read_text()


def test_pairs_are_scored_on_the_clips_both_runs_tested_matched_by_track_id(cv_report_runs):
    from dataclasses import replace

    from genre.report.compare import versus_best
    from genre.report.runs import read_run

    record = read_run(cv_report_runs / "nb")

    def scored(ids, correct) -> object:
        labels = [1] * len(ids)
        predictions = {"track_id": list(ids), "label": labels, "predicted": [1 if c else 0 for c in correct]}
        return replace(
            record, metrics={**record.metrics, "test": {**record.metrics["test"], "predictions": predictions}}
        )

    best = scored(range(20), [True] * 20)
    # Wrong on the 20 clips the best tested, right on 10 others; listed in another order.
    other = scored([*range(29, 19, -1), *range(19, -1, -1)], [True] * 10 + [False] * 20)
    apart = scored(range(100, 120), [True] * 20)
    same = scored(range(19, -1, -1), [True] * 19 + [False])
    versus = versus_best([best, other, apart, same])
    assert [v.text() for v in versus] == [
        "best",
        "worse (p=1.9e-06, 20 shared clips)",
        "not compared (no test clip in common)",
        "tie (p=1)",
    ]
