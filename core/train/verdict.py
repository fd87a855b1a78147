"""Whether a model beats the persistence baseline ("next frame = this frame") on each test split,
decided from stored metrics. No torch here: the landing page reads these verdicts for every point
of a shipped sweep, and importing core.train.evaluate (torch) cost it 1.7 s per server start."""

from __future__ import annotations

from typing import Any

#: The test splits every run is measured on, in display order.
EVAL_SPLITS = ("test_future", "test_domain")
#: The mark every view of a run whose test RMSE is above persistence's carries.
WORSE_THAN_PERSISTENCE = "worse than persistence"


def worse_than_persistence(metrics: dict[str, Any] | None) -> list[str]:
    """The test splits (of EVAL_SPLITS, in that order) on which the model's rollout RMSE is
    above the persistence baseline's on the same windows: there the model is worse than
    predicting "no change". A non-finite RMSE counts as worse; a split without both numbers
    (empty, or recorded before the baseline) is left out. [] when it beats persistence.

    The one place this is decided: metrics.json stores it (core.train.evaluate), the CLIs, the
    service layer (runs, job cards) and the sweep rows (core.sweep.results.row_worse_than_persistence)
    read it.
    """
    worse = []
    for split in EVAL_SPLITS:
        part = (metrics or {}).get(split)
        if not isinstance(part, dict) or part.get("rmse") is None or part.get("persistence_rmse") is None:
            continue
        if not float(part["rmse"]) <= float(part["persistence_rmse"]):  # NaN compares False: worse
            worse.append(split)
    return worse


def persistence_warning(metrics: dict[str, Any] | None) -> str:
    """One line saying on which test splits the model is worse than persistence and by how
    much (e.g. "worse than persistence (predicting no change): test-future RMSE 85 x
    persistence's"); '' when it is not (:func:`worse_than_persistence`)."""
    parts = []
    for split in worse_than_persistence(metrics):
        part = metrics[split]
        base = float(part["persistence_rmse"])
        ratio = f"{float(part['rmse']) / base:.3g} x" if base > 0 else f"{float(part['rmse']):.3g} vs 0 for"
        parts.append(f"{split.replace('_', '-')} RMSE {ratio} persistence's")
    return f"{WORSE_THAN_PERSISTENCE} (predicting no change): {', '.join(parts)}" if parts else ""
