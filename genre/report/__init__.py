"""`genre report`: the comparison of finished runs, from their run directories alone.

    OUT/report.md      the comparison table (also printed), published references, data summary
    OUT/index.html     the same table with every figure, one page
    OUT/figures/*.png  per-genre F1 (and, for cross-validations, its spread over folds), accuracy
                       against training time, a confusion matrix per run, training curves per net

Runs must share the genre list (the same prepared data, or data of the same genres) so their
per-genre figures line up; runs on different data sets are allowed and each set is described.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genre.report import figures as fig
from genre.report.page import Figures, html_page, markdown
from genre.report.references import references_for
from genre.report.runs import RunRecord, find_runs, label_runs, read_run

if TYPE_CHECKING:
    from genre.budget import Schedule

__all__ = ["Report", "build_report", "find_runs", "read_run"]


@dataclass(frozen=True)
class Report:
    out: Path
    markdown: str
    html: Path
    figures: list[Path]
    records: list[RunRecord]


def build_report(
    paths: list[Path],
    out: Path,
    title: str = "genre: model comparison",
    not_run: list[str] = (),
    schedule: Schedule | None = None,
) -> Report:
    """`not_run`: models left out of the runs, each with its reason; the report lists them.
    `schedule`: a budgeted study's epochs per net, shown with what each run then did."""
    runs = find_runs(paths)
    records = [read_run(p) for p in runs]
    genres = {tuple(r.genres) for r in records}
    if len(genres) > 1:
        raise ValueError(f"runs classify different genre lists {sorted(genres)}; report them separately")
    for r in records:
        if "test" not in r.metrics:
            raise ValueError(f"{r.path}: has no test metrics (a tuning trial?); report its refit run instead")
    records = label_runs(sorted(records, key=lambda r: (-r.metrics["val"]["accuracy"], r.metrics["train_seconds"])))

    out = Path(out)
    figure_dir = out / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    confusion, curves = {}, {}
    for r in records:
        confusion[r.label] = fig.confusion_figure(r, "test", figure_dir / f"confusion-{_slug(r.label)}.png")
        path = fig.curves_figure(r, figure_dir / f"curves-{_slug(r.label)}.png")
        if path is not None:
            curves[r.label] = path
    per_genre = fig.per_genre_f1_figure(records, "test", figure_dir / "per-genre-f1.png")
    per_genre_folds = fig.per_genre_f1_folds_figure(records, figure_dir / "per-genre-f1-folds.png")
    cost = fig.accuracy_cost_figure(records, figure_dir / "accuracy-vs-training-time.png")

    def rel(path: Path) -> str:
        return path.relative_to(out).as_posix()

    figures = Figures(
        per_genre_f1=rel(per_genre),
        accuracy_cost=rel(cost),
        confusion={k: rel(v) for k, v in confusion.items()},
        curves={k: rel(v) for k, v in curves.items()},
        per_genre_f1_folds=rel(per_genre_folds) if per_genre_folds is not None else None,
    )
    references = references_for(records[0].manifest) if len({r.data_identity for r in records}) == 1 else ()
    text = markdown(records, references, list(not_run), schedule)
    (out / "report.md").write_text(text)
    page = out / "index.html"
    page.write_text(html_page(records, references, figures, title, list(not_run), schedule))
    written = [per_genre, *([per_genre_folds] if per_genre_folds else []), cost, *confusion.values(), *curves.values()]
    return Report(out=out, markdown=text, html=page, figures=written, records=records)


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
