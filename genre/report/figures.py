"""The report's figures as PNG files: confusion matrices, training curves, per-genre F1, accuracy vs cost.

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


def accuracy_cost_figure(records: list[RunRecord], path: Path) -> Path:
    """Test accuracy with its 95% interval against training seconds (log scale): what each point of
    accuracy costs, and how far apart the points really are."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for r in records:
        seconds = max(r.metrics["train_seconds"], 1e-3)
        accuracy = r.metrics["test"]["accuracy"]
        low, high = r.metrics["test"].get("accuracy_interval", (accuracy, accuracy))
        ax.errorbar(
            seconds,
            accuracy,
            yerr=[[accuracy - low], [high - accuracy]],
            fmt="s" if r.kind == "baseline" else "o",
            markersize=6,
            capsize=3,
        )
        ax.annotate(r.label, (seconds, accuracy), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("training time, seconds (log scale)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.set_title("accuracy (95% interval) against training cost (squares: classic, circles: nets)", fontsize=10)
    return _save(fig, path)


def _split_name(split: str) -> str:
    return {"val": "validation"}.get(split, split)


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    return path
