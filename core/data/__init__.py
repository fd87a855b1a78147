"""The PhiFlow smoke-plume data engine: config, batched simulation, HDF5 files, cache.

See docs/DATA_FORMAT.md for the file layout and ``python -m core.data --help`` for the CLI.
The config and the file reader load at once; the simulation and the cache (which need torch
and PhiFlow, over a second to import) only when first asked for, so that reading a sweep's
results or a dataset's settings does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.data.config import DataConfig
from core.data.store import FORMAT_VERSION, Dataset, DatasetFileError, load_dataset, write_dataset

#: Names imported on first use, and the module each lives in.
_LAZY = {
    "dataset_path": "core.data.cache",
    "ensure_dataset": "core.data.cache",
    "generate_dataset": "core.data.cache",
    "SmokeStepper": "core.data.simulate",
    "State": "core.data.simulate",
    "Trajectories": "core.data.simulate",
    "orientation_geometry": "core.data.simulate",
    "run_simulations": "core.data.simulate",
}
# ``simulate`` (the function) is imported from core.data.simulate itself: a lazy package name
# equal to a submodule's would become the module once anything imports the submodule.

__all__ = [
    "FORMAT_VERSION",
    "DataConfig",
    "Dataset",
    "DatasetFileError",
    "SmokeStepper",
    "State",
    "Trajectories",
    "dataset_path",
    "ensure_dataset",
    "generate_dataset",
    "load_dataset",
    "orientation_geometry",
    "run_simulations",
    "write_dataset",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.data' has no attribute {name!r}")
