"""The paper's Figure 4 as an experiment: one dataset per buoyancy difference, each model trained on it.

config.py says what a sweep is (SweepConfig, presets); run.py runs it on this machine;
results.py writes ``sweeps/<sweep_id>/results.json`` and ``results.csv``; ray_engine.py runs the same
sweep as Ray tasks (``engine="ray"``); ``python -m core.sweep`` is its CLI. The process running a
sweep holds a lock in its folder; a sweep found 'running' with the lock free is marked
'interrupted' (results.list_sweeps) and ``resume_sweep`` continues it on either engine.
"""

from core.sweep.config import DEFAULT_LEVELS, LEVEL_FIELD, PRESETS, SweepConfig
from core.sweep.executor import SweepResult
from core.sweep.results import CSV_COLUMNS, list_sweeps, result_row
from core.sweep.run import ENGINES, resume_sweep, run_sweep

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_LEVELS",
    "ENGINES",
    "LEVEL_FIELD",
    "PRESETS",
    "SweepConfig",
    "SweepResult",
    "list_sweeps",
    "result_row",
    "resume_sweep",
    "run_sweep",
]
