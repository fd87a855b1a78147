"""The PhiFlow smoke-plume data engine: config, batched simulation, HDF5 files, cache.

See docs/DATA_FORMAT.md for the file layout and ``python -m core.data --help`` for the CLI.
"""

from core.data.cache import dataset_path, ensure_dataset, generate_dataset
from core.data.config import DataConfig
from core.data.simulate import (
    SmokeStepper,
    State,
    Trajectories,
    orientation_geometry,
    run_simulations,
    simulate,
)
from core.data.store import FORMAT_VERSION, Dataset, DatasetFileError, load_dataset, write_dataset

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
    "simulate",
    "write_dataset",
]
