"""How sure the report is of its ranking: each run's test accuracy against the run ranked first.

Runs are ranked by validation accuracy (the split models are chosen on); each other run on the same
data is compared with the first by the exact McNemar test on the test clips both were scored on,
matched by track id. A run the test cannot tell from the first (p >= `ALPHA`) is a tie: the data do
not separate them, whatever the points say.

A cross-validation is paired by its first repeat's out-of-fold test predictions: every clip of the
data, each predicted once, by the fold that held it out (later repeats predict the same clips again,
so pooling them would count a clip twice). Against a run tested on its stored test split, or a
cross-validation with other folds, the pair is scored on the clips both tested, every prediction still
a held-out one; the cell then says how many clips that was. Runs on other data, with no test clip in
common, or whose metrics hold no per-clip predictions (made before they were recorded), are not
compared, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.report.runs import RunRecord
from genre.uncertainty import ModelCorrectness, compare_with_best

ALPHA = 0.05


@dataclass(frozen=True)
class Versus:
    """One row's standing against the first: "best", "tie", "worse", "better", or "not compared".
    `shared`: the clips the pair was scored on, when fewer than either run's own test clips."""

    verdict: str
    p_value: float | None = None
    reason: str = ""
    shared: int | None = None

    def text(self) -> str:
        if self.p_value is None:
            return self.verdict if not self.reason else f"{self.verdict} ({self.reason})"
        on = f", {self.shared} shared clips" if self.shared is not None else ""
        return f"{self.verdict} (p={self.p_value:.2g}{on})"


def versus_best(records: list[RunRecord], split: str = "test") -> list[Versus]:
    """For records ranked by validation accuracy (first = best), each one's standing against the first."""
    if not records:
        return []
    best = records[0]
    out = []
    for r in records:
        if r is best:
            out.append(Versus("best"))
        elif r.data_identity != best.data_identity:
            out.append(Versus("not compared", reason="other data"))
        elif "predictions" not in r.metrics[split] or "predictions" not in best.metrics[split]:
            out.append(Versus("not compared", reason="no per-clip predictions"))
        else:
            out.append(_paired(r, best, split))
    return out


def _paired(r: RunRecord, best: RunRecord, split: str) -> Versus:
    """The exact McNemar test of `r` against `best` on the clips both were tested on."""
    ids, correct = _correctness(r, split)
    best_ids, best_correct = _correctness(best, split)
    shared, mine, theirs = np.intersect1d(ids, best_ids, assume_unique=True, return_indices=True)
    if len(shared) == 0:
        return Versus("not compared", reason="no test clip in common")
    rows = [
        ModelCorrectness(best.label, shared, best_correct[theirs]),
        ModelCorrectness(r.label, shared, correct[mine]),
    ]
    c = compare_with_best(rows, best=0, alpha=ALPHA)[1]
    verdict = "better" if c.distinguishable and c.difference > 0 else "worse" if c.distinguishable else "tie"
    partial = len(shared) < max(len(ids), len(best_ids))
    return Versus(verdict, c.p_value, shared=len(shared) if partial else None)


def _correctness(r: RunRecord, split: str) -> tuple[np.ndarray, np.ndarray]:
    p = r.metrics[split]["predictions"]
    ids = np.asarray(p["track_id"], dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{r.path}: its {split} predictions name a track id more than once")
    return ids, np.asarray(p["label"]) == np.asarray(p["predicted"])
