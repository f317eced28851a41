"""The report as text: the comparison table in Markdown, and one self-contained HTML page with the figures.

Rows are ordered by validation accuracy: that is the split models are chosen on, so the order a
reader sees is the order a careful practitioner would pick in. Test figures are reported, not
used to rank. A cross-validation is one row of means ± standard deviations over its folds, and
every fold is listed in a table of its own.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from genre.data.info import SYNTHETIC_WARNING, describe
from genre.evaluate import with_interval
from genre.report.compare import ALPHA, versus_best
from genre.report.references import Reference
from genre.report.runs import RunRecord

COLUMNS = (
    "model",
    "features",
    "backend",
    "val accuracy",
    "test accuracy [95% CI]",
    "test macro-F1 [95% CI]",
    "test clips",
    "vs best (McNemar)",
    "train time",
    "inference / clip",
)
# How the intervals and the comparison are made, said under every table.
METHOD_NOTE = (
    "Intervals are 95%: accuracy by the exact Clopper-Pearson binomial interval, macro-F1 by a percentile "
    "bootstrap over test clips (2000 resamples, fixed seed). *vs best* compares each model with the one "
    f"ranked first by validation accuracy on the test clips both were scored on (exact McNemar test; when "
    f"that is fewer than either's own, the cell says how many); *tie*: p >= {ALPHA}, the data cannot "
    "separate the two."
)
CV_NOTE = (
    "Rows marked *K-fold CV* give the mean ± standard deviation over their folds (validation and test), "
    "with the 95% interval of the mean by the corrected resampled t (Nadeau and Bengio); their test clips "
    "are every clip of the data, tested once per repeat; *vs best* pairs them by their first repeat's "
    "out-of-fold predictions (each clip predicted once, by the fold that held it out)."
)
FOLD_COLUMNS = (
    "model",
    "repeat",
    "fold",
    "val accuracy",
    "test accuracy [95% CI]",
    "test macro-F1 [95% CI]",
    "test clips",
)


@dataclass(frozen=True)
class Figures:
    """Paths relative to the report folder."""

    per_genre_f1: str
    accuracy_cost: str
    confusion: dict[str, str]  # run label -> file
    curves: dict[str, str]
    per_genre_f1_folds: str | None = None  # cross-validations' per-genre F1 over folds, when there are any


def table_rows(records: list[RunRecord]) -> list[list[str]]:
    return [
        [
            r.label,
            r.features,
            r.backend,
            *(_fold_means(r.cross_validation) if r.cross_validation else _test_cells(r.metrics)),
            versus.text(),
            _seconds(r.metrics["train_seconds"]),
            f"{1000 * r.metrics['inference_seconds_per_clip']:.2f} ms",
        ]
        for r, versus in zip(records, versus_best(records), strict=True)
    ]


SCHEDULE_COLUMNS = ("net", "epochs given", "epochs trained", "measured / epoch", "planned", "trained", "why")


def schedule_rows(schedule, records: list[RunRecord]) -> list[list[str]]:
    """A budgeted study's allotment (`genre.budget.Schedule`) beside what each net's run then did."""
    runs = {r.metrics["model"]: r.metrics for r in records if r.kind == "net" and not r.metrics.get("tuning")}
    rows = []
    for job in schedule.jobs:
        m = runs.get(job.name)
        trained = "-" if m is None else f"{m['epochs']}" + (" (stopped early)" if m.get("stopped_early") else "")
        rows.append(
            [
                job.name + (f" ({job.runs} runs)" if job.runs > 1 else ""),
                str(job.epochs),
                trained,
                _seconds(job.epoch_seconds),
                _seconds(job.planned_seconds),
                "-" if m is None else _seconds(m["train_seconds"]),
                job.reason,
            ]
        )
    return rows


def _test_cells(metrics: dict) -> list[str]:
    return [
        _percent(metrics["val"]["accuracy"]),
        with_interval(metrics["test"], "accuracy"),
        with_interval(metrics["test"], "macro_f1", percent=False),
        str(metrics["test"]["clips"]),
    ]


def _fold_means(cv: dict) -> list[str]:
    """Validation and test cells of a cross-validation: mean ± sd over its folds, the mean's interval."""
    from genre.cross_validation import mean_text

    folds = f"{cv['k']} folds" + (f" × {cv['repeats']}" if cv["repeats"] > 1 else "")
    clips = f"{cv['clips']} ({folds})"
    return [
        f"{100 * cv['val_accuracy']['mean']:.1f}% ± {100 * cv['val_accuracy']['std']:.1f}",
        mean_text(cv["test_accuracy"], True),
        mean_text(cv["test_macro_f1"], False),
        clips,
    ]


def fold_rows(records: list[RunRecord]) -> list[list[str]]:
    """Every fold of every cross-validation among the records."""
    rows = []
    for r in records:
        if not r.cross_validation:
            continue
        for fold, metrics in zip(r.cross_validation["folds"], r.folds, strict=True):
            rows.append([r.label, str(fold["repeat"] + 1), str(fold["fold"] + 1), *_test_cells(metrics)])
    return rows


def reference_rows(references: tuple[Reference, ...]) -> list[list[str]]:
    """Published figures as table rows: only test accuracy is known; the rest is left blank, not guessed."""
    return [
        [f"published: {r.model}", r.features, "-", "-", _percent(r.test_accuracy), "-", "-", "-", "-", "-"]
        for r in references
    ]


def markdown(
    records: list[RunRecord], references: tuple[Reference, ...], not_run: list[str] = (), schedule=None
) -> str:
    lines = []
    if any(r.manifest.synthetic for r in records):
        lines += [f"> **{SYNTHETIC_WARNING}**", ""]
    lines += [
        "| " + " | ".join(COLUMNS) + " |",
        "| " + " | ".join(["---"] * 3 + ["---:"] * 4 + ["---"] + ["---:"] * 2) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(records) + reference_rows(references)]
    lines += ["", METHOD_NOTE]
    folds = fold_rows(records)
    if folds:
        lines += ["", CV_NOTE, "", "Every fold of the cross-validations:", ""]
        lines += ["| " + " | ".join(FOLD_COLUMNS) + " |", "| " + " | ".join(["---"] + ["---:"] * 6) + " |"]
        lines += ["| " + " | ".join(row) + " |" for row in folds]
    if references:
        lines += ["", "Rows marked *published* are documented figures on FMA small, quoted, not run here:"]
        lines += [f"- {r.model} on {r.features}: {_percent(r.test_accuracy)}, {r.source}" for r in references]
    if not_run:
        lines += ["", "Not run:", ""] + [f"- {reason}" for reason in not_run]
    if schedule is not None:
        lines += ["", f"Schedule ({schedule.summary()}):", ""]
        lines += ["| " + " | ".join(SCHEDULE_COLUMNS) + " |", "| --- | " + "---: | " * 5 + "--- |"]
        lines += ["| " + " | ".join(row) + " |" for row in schedule_rows(schedule, records)]
    for users, summary in data_sets(records):
        lines += ["", f"Data used by {users}:", "", "```", summary, "```"]
    return "\n".join(lines) + "\n"


def html_page(
    records: list[RunRecord],
    references: tuple[Reference, ...],
    figures: Figures,
    title: str,
    not_run: list[str] = (),
    schedule=None,
) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
    ]
    if any(r.manifest.synthetic for r in records):
        parts.append(f'<p class="warning" id="synthetic-warning">{e(SYNTHETIC_WARNING)}</p>')
    parts.append("<h2>Comparison</h2>")
    parts.append(
        "<p>Ordered by validation accuracy, the split models are chosen on; the test split is scored once.</p>"
    )
    parts.append(_html_table(COLUMNS, table_rows(records), "results", reference_rows(references)))
    parts.append(f'<p id="method">{_inline_emphasis(e(METHOD_NOTE))}</p>')
    if fold_rows(records):
        parts.append(f'<p id="cv-method">{_inline_emphasis(e(CV_NOTE))}</p>')
        parts.append("<h2>Cross-validation folds</h2>")
        parts.append(_html_table(FOLD_COLUMNS, fold_rows(records), "folds"))
    if references:
        parts.append("<p>Rows marked <em>published</em> are documented figures on FMA small, quoted, not run here:</p>")
        parts.append(
            "<ul>" + "".join(f"<li>{e(f'{r.model} on {r.features}: {r.source}')}</li>" for r in references) + "</ul>"
        )
    if not_run:
        parts.append('<p>Not run:</p><ul id="not-run">' + "".join(f"<li>{e(r)}</li>" for r in not_run) + "</ul>")
    if schedule is not None:
        parts.append(f"<h2>Schedule</h2><p>{e(schedule.summary())}</p>")
        parts.append(_html_table(SCHEDULE_COLUMNS, schedule_rows(schedule, records), "schedule"))
    parts.append("<h2>Per genre and per cost</h2>")
    parts.append(_figure(figures.per_genre_f1, "F1 per genre and model, test split"))
    if figures.per_genre_f1_folds is not None:
        caption = "F1 per genre of each cross-validation: mean over folds, error bars ± one standard deviation"
        parts.append(_figure(figures.per_genre_f1_folds, caption))
    parts.append(_figure(figures.accuracy_cost, "Test accuracy against training time"))
    parts.append("<h2>Confusion matrices (test split)</h2>")
    parts.append('<div class="grid">')
    parts += [_figure(path, f"confusion matrix of {label}") for label, path in figures.confusion.items()]
    parts.append("</div>")
    if figures.curves:
        parts.append("<h2>Training curves</h2>")
        parts += [_figure(path, f"training curves of {label}") for label, path in figures.curves.items()]
    parts.append("<h2>Data</h2>")
    for users, summary in data_sets(records):
        parts.append(f"<p>Used by: {e(users)}</p>")
        parts.append(f"<pre>{e(summary)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def data_sets(records: list[RunRecord]) -> list[tuple[str, str]]:
    """Each distinct prepared data set once: the runs that used it, and `genre info`'s description of it."""
    groups: dict[str, list[RunRecord]] = {}
    for r in records:
        groups.setdefault(r.data_identity, []).append(r)
    return [(", ".join(r.label for r in group), describe(group[0].manifest)) for group in groups.values()]


def _html_table(columns, rows, css_id: str, reference_rows=()) -> str:
    e = html.escape

    def row_html(row, css_class=""):
        cells = "".join(f"<td>{e(cell)}</td>" for cell in row)
        return f'<tr class="{css_class}">{cells}</tr>' if css_class else f"<tr>{cells}</tr>"

    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = "".join(row_html(r) for r in rows) + "".join(row_html(r, "reference") for r in reference_rows)
    return f'<table id="{css_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _inline_emphasis(text: str) -> str:
    """Markdown's *word* as <em>word</em>."""
    import re

    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", text)


def _figure(path: str, caption: str) -> str:
    e = html.escape
    src = e(Path(path).as_posix())
    return f'<figure><img src="{src}" alt="{e(caption)}"><figcaption>{e(caption)}</figcaption></figure>'


def _percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def _seconds(s: float) -> str:
    if s < 1:
        return f"{1000 * s:.0f} ms"
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #bbb; padding: 0.3rem 0.7rem; }
th { background: #eef; }
tr.reference td { font-style: italic; color: #555; background: #fafafa; }
td:nth-child(n+4) { text-align: right; font-variant-numeric: tabular-nums; }
td:nth-child(8) { text-align: left; }
.warning { background: #fde8e8; border: 2px solid #c00; padding: 0.8rem; font-weight: bold; }
figure { display: inline-block; margin: 0.5rem; }
figure img { max-width: 100%; }
.grid { display: flex; flex-wrap: wrap; }
.grid figure { width: 48%; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
"""
