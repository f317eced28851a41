"""The report's figures as PNG files: confusion matrices, training curves, per-genre F1 (and its spread
over the folds of cross-validations), accuracy vs cost.

Built on `matplotlib.figure.Figure` directly, not pyplot: no global figure state, no GUI backend,
so reports can be built from worker threads and on machines with no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genre.report.runs import RunRecord

DPI = 110


def confusion_figure(record: RunRecord, split: str, path: Path) -> Path:
    """Rows: true genre, normalised to 1; each cell also prints its clip count."""
    from matplotlib.figure import Figure

    counts = np.asarray(record.metrics[split]["confusion"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    genres = record.genres
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_yticks(range(len(genres)), genres)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    accuracy = record.metrics[split]["accuracy"]
    ax.set_title(f"{record.label}: {_split_name(split)} confusion (accuracy {accuracy:.1%})", fontsize=10)
    for i in range(len(genres)):
        for j in range(len(genres)):
            if counts[i, j]:
                color = "white" if rates[i, j] > 0.5 else "black"
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8, color=color)
    fig.colorbar(image, ax=ax, label="share of the true genre's clips")
    return _save(fig, path)


def curves_figure(record: RunRecord, path: Path) -> Path | None:
    """Loss and accuracy per epoch, training and validation; None for a run without curves (baselines)."""
    from matplotlib.figure import Figure

    curves = record.curves
    if not curves.get("loss"):
        return None
    epochs = np.arange(1, len(curves["loss"]) + 1)
    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
    for i, (metric, title) in enumerate((("loss", "loss"), ("accuracy", "accuracy"))):
        ax = fig.add_subplot(1, 2, i + 1)
        for prefix, name in (("", "training"), ("val_", "validation")):
            values = curves.get(prefix + metric)
            if values:
                ax.plot(epochs[: len(values)], values, marker="o", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{record.label} ({record.backend})", fontsize=10)
    return _save(fig, path)


def per_genre_f1_figure(records: list[RunRecord], split: str, path: Path) -> Path:
    """A models x genres grid of F1, so a genre every model confuses stands out at a glance."""
    from matplotlib.figure import Figure

    genres = records[0].genres
    f1 = np.array([[r.metrics[split]["per_genre"][g]["f1"] for g in genres] for r in records])
    fig = Figure(figsize=(1.0 + 0.9 * len(genres), 1.2 + 0.45 * len(records)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(f1, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_yticks(range(len(records)), [r.label for r in records])
    for i in range(len(records)):
        for j in range(len(genres)):
            ax.text(
                j,
                i,
                f"{f1[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if f1[i, j] < 0.6 else "black",
            )
    ax.set_title(f"F1 per genre, {_split_name(split)} split", fontsize=10)
    fig.colorbar(image, ax=ax, label="F1")
    return _save(fig, path)


def fold_f1(record: RunRecord) -> tuple[np.ndarray, np.ndarray]:
    """A cross-validation's per-genre test F1: the mean and sample standard deviation over every fold
    (of every repeat), in the order of `record.genres`."""
    f1 = np.array([[m["test"]["per_genre"][g]["f1"] for g in record.genres] for m in record.folds])
    return f1.mean(axis=0), f1.std(axis=0, ddof=1) if len(f1) > 1 else np.full(len(record.genres), np.nan)


def per_genre_f1_folds_figure(records: list[RunRecord], path: Path) -> Path | None:
    """Per-genre test F1 of each cross-validation, bars at the mean over folds with error bars of one
    standard deviation: how much a genre's F1 moves with the training clips. None without any."""
    from matplotlib.figure import Figure

    cv = [r for r in records if r.cross_validation]
    if not cv:
        return None
    genres = cv[0].genres
    width = 0.8 / len(cv)
    fig = Figure(figsize=(2.0 + 0.5 * len(genres) * max(2, len(cv)), 4.4), layout="constrained")
    ax = fig.add_subplot()
    for i, r in enumerate(cv):
        mean, sd = fold_f1(r)
        x = np.arange(len(genres)) - 0.4 + width * (i + 0.5)
        ax.bar(x, mean, width, yerr=np.nan_to_num(sd), capsize=2, label=r.label)
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("test F1, mean over folds")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("F1 per genre over the folds (error bars: ± one standard deviation)", fontsize=10)
    return _save(fig, path)


def cost_point(record: RunRecord) -> tuple[float, float, float, float]:
    """(training seconds, test accuracy, low, high) of one run as the cost figure plots it: a run's
    accuracy with its exact interval over test clips; a cross-validation's mean over folds with the
    interval of that mean (the corrected resampled t), as its table row gives them."""
    seconds = record.metrics["train_seconds"]
    if record.cross_validation:
        s = record.cross_validation["test_accuracy"]
        return seconds, s["mean"], *s["interval"]
    accuracy = record.metrics["test"]["accuracy"]
    low, high = record.metrics["test"].get("accuracy_interval", (accuracy, accuracy))
    return seconds, accuracy, low, high


def accuracy_cost_figure(records: list[RunRecord], path: Path) -> Path:
    """Test accuracy with its 95% interval against training seconds (log scale): what each point of
    accuracy costs, and how far apart the points really are. A cross-validation is its mean over folds
    and the interval of that mean, at the mean training time of a fold, drawn hollow."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for r in records:
        seconds, accuracy, low, high = cost_point(r)
        seconds = max(seconds, 1e-3)
        ax.errorbar(
            seconds,
            accuracy,
            yerr=[[accuracy - low], [high - accuracy]],
            fmt="s" if r.kind == "baseline" else "o",
            markersize=6,
            capsize=3,
            markerfacecolor="none" if r.cross_validation else None,
        )
        ax.annotate(r.label, (seconds, accuracy), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training time, seconds (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title(
        "accuracy (95% interval) against training cost (squares: classic, circles: nets, hollow: K-fold CV)",
        fontsize=9,
    )
    return _save(fig, path)


def _split_name(split: str) -> str:
    return {"val": "validation"}.get(split, split)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path
