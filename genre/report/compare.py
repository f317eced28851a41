"""How sure the report is of its ranking: each run's test accuracy against the run ranked first.

Runs are ranked by validation accuracy (the split models are chosen on); each other run on the same
test clips is compared with the first by the exact McNemar test on those clips. A run the test cannot
tell from the first (p >= `ALPHA`) is a tie: the data do not separate them, whatever the points say.
Runs on other data, or on other test clips (a cross-validation's pooled predictions against a run's
test split, or cross-validations with other folds), or whose metrics hold no per-clip predictions (made
before they were recorded), are not compared, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.report.runs import RunRecord
from genre.uncertainty import ModelCorrectness, compare_with_best

ALPHA = 0.05


@dataclass(frozen=True)
class Versus:
    """One row's standing against the first: "best", "tie", "worse", "better", or "not compared"."""

    verdict: str
    p_value: float | None = None
    reason: str = ""

    def text(self) -> str:
        if self.p_value is None:
            return self.verdict if not self.reason else f"{self.verdict} ({self.reason})"
        return f"{self.verdict} (p={self.p_value:.2g})"


def versus_best(records: list[RunRecord], split: str = "test") -> list[Versus]:
    """For records ranked by validation accuracy (first = best), each one's standing against the first."""
    if not records:
        return []
    best = records[0]
    out, comparable = [], []
    for r in records:
        if r is best:
            out.append(Versus("best"))
        elif r.data_identity != best.data_identity:
            out.append(Versus("not compared", reason="other data"))
        elif r.test_clips_key != best.test_clips_key:
            out.append(Versus("not compared", reason="other test clips"))
        elif "predictions" not in r.metrics[split] or "predictions" not in best.metrics[split]:
            out.append(Versus("not compared", reason="no per-clip predictions"))
        else:
            out.append(None)
            comparable.append(r)
    if comparable:
        rows = [_correctness(best, split)] + [_correctness(r, split) for r in comparable]
        results = iter(compare_with_best(rows, best=0, alpha=ALPHA)[1:])
        for i, v in enumerate(out):
            if v is None:
                c = next(results)
                verdict = "tie" if c.tied else ("better" if c.difference > 0 else "worse")
                out[i] = Versus(verdict, c.p_value)
    return out


def _correctness(r: RunRecord, split: str) -> ModelCorrectness:
    p = r.metrics[split]["predictions"]
    return ModelCorrectness(r.label, np.asarray(p["track_id"]), np.asarray(p["label"]) == np.asarray(p["predicted"]))
