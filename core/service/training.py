"""The Train page's form: its starting values (the cpu preset), their words, its ranges,
and starting one training job per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.service import queue
from core.service.common import check_ranges, in_form_words

#: What the Train page calls each TrainConfig / ModelConfig field it sets.
TRAIN_FORM_LABELS = {
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "hidden": "Hidden channels",
    "input_frames": "Input frames",
    "rollout_steps": "Loss steps",
    "alpha": "Regulariser weight (alpha)",
    "max_train_windows": "Max training windows",
    "window_weighting": "Window weighting",
    "relaxed_hold": "RSteer symmetric start",
    "smoke": "Models see the smoke",
}


TRAIN_FORM_RANGES = {
    "epochs": (1, 500),
    "batch_size": (4, 256),
    "lr": (1e-6, 1.0),
    "hidden": (4, 256),
    "input_frames": (1, 10),
    "rollout_steps": (1, 10),
    "alpha": (0.0, 1.0),
    "max_train_windows": (0, 100_000),
    "window_weighting": (0.0, 100.0),
    "relaxed_hold": (0, 499),
}


def training_defaults() -> dict[str, Any]:
    """The Train page's starting values: the ``cpu`` sweep preset (the shipped runs' settings).

    Every TrainConfig field (the preset's value, else TrainConfig's default), plus the preset
    models' ``input_frames``, ``hidden`` and ``smoke``; ``alpha`` None: each model keeps its
    own regulariser weight (:func:`own_alphas`).
    """
    from core.models import ModelConfig
    from core.sweep import PRESETS
    from core.train.trainer import TrainConfig

    preset = PRESETS["cpu"]
    rsteer = ModelConfig.for_model("rsteer", **preset["model"])
    model = {"input_frames": rsteer.input_frames, "hidden": rsteer.hidden, "alpha": None}
    model["smoke"] = rsteer.smoke
    return {**TrainConfig.from_dict(preset["train"]).to_dict(), **model}


def own_alphas() -> dict[str, float]:
    """Each model with a regulariser and its own default weight: ``{label: alpha}`` (RSteer and
    RGroup pull their relaxed weights together, RPP's prior and CLCNN's hinge weigh more)."""
    from core.models import model_names, model_spec

    return {
        model_spec(n).label: model_spec(n).defaults.get("alpha", 0.0)
        for n in model_names()
        if model_spec(n).relaxed
    }


def width_words() -> str:
    """The Hidden channels field's help: which models need a multiple of their channel group."""
    from core.models import model_names, model_spec

    strict = [model_spec(n).label for n in model_names() if model_spec(n).hidden_multiple > 1]
    return (
        "Every model gets the same width, as in the shipped runs; "
        f"{', '.join(strict)} need a multiple of 4 (C4 regular fields)."
    )


def advanced_training_words(start: dict[str, Any]) -> str:
    """The Train form's expert settings at their starting values (:func:`training_defaults`),
    as one sentence a first-time user can read without opening them; returns it."""
    weighting = start["window_weighting"]
    hold = start["relaxed_hold"]
    parts = [
        f"batches of {start['batch_size']} windows",
        f"learning rate {start['lr']:g}",
        _count(start["input_frames"], "input frame"),
        _count(start["rollout_steps"], "autoregressive step") + " in the loss",
        "each model's own regulariser weight"
        if start["alpha"] is None
        else f"regulariser weight {start['alpha']:g}",
        "every training window",
        f"windows weighted by their one-step change (c = {weighting:g})" if weighting else "a plain loss",
        f"RSteer held symmetric for {_count(hold, 'epoch')}" if hold else "RSteer free to break symmetry",
        "the models see the smoke" if start["smoke"] else "the models see the velocity only",
    ]
    return "Left as they are: " + ", ".join(parts) + " (the shipped runs' settings)."


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


#: What showing the models the smoke (ModelConfig.smoke) does, for the Train and sweep forms.
SMOKE_INPUT_HELP = (
    "Every frame a model reads and predicts holds the smoke density beside the velocity. The "
    "buoyancy pushes the smoke, so a model that sees it can tell how strongly each plume is "
    "driven; errors and equivariance errors are still of the velocity alone (docs/RESULTS.md)."
)


#: What RSteer's symmetric start (TrainConfig.relaxed_hold) does, for the Train and sweep forms.
SYMMETRIC_START_HELP = (
    "Epochs in which RSteer trains exactly equivariant before it may break symmetry (0: from the "
    "start, as in the shipped runs and sweep; it must be fewer than the epochs). With 5 in a "
    "30-epoch run RSteer was more accurate, but learnt only about two thirds of the data's "
    "asymmetry (docs/RESULTS.md)."
)


#: The loss charts' y axis, and what it measures, in a person's words (core.train.trainer.step_loss).
LOSS_AXIS_TITLE = "loss (error² / typical step²)"


LOSS_EXPLAINED = (
    "Loss: the squared error of each predicted step, in units of the typical one-step change "
    "squared (the RMS change over the training frames, with residual prediction, the "
    "default), summed over the loss steps; "
    "RSteer adds its small smoothness penalty. Lower is better; unitless, so runs on "
    "different data compare only roughly."
)


def submit_training(
    dataset_path: str | Path,
    models: list[str],
    *,
    hidden: int = 0,
    input_frames: int = 1,
    alpha: float | None = None,
    smoke: bool = False,
    **train_options: Any,
) -> list[str]:
    """Start one background training job per model on the dataset file; return the job ids.

    ``hidden`` 0 keeps each model's default width; ``alpha`` (the regulariser weight) applies
    to relaxed models only, None keeping each one's own (:func:`own_alphas`);
    ``smoke``: the models see the smoke (core.models.ModelConfig.smoke);
    ``train_options`` are core.train.trainer.TrainConfig fields, over the ``cpu`` sweep preset's.
    Every config is built (and so validated) before any job starts: bad settings raise
    ValueError and start nothing. A model whose identical training is already queued or
    running is not started again; :class:`queue.AlreadyQueued` when that leaves nothing to start.
    """
    from core.models import ModelConfig, model_spec
    from core.train.trainer import TrainConfig

    if not models:
        raise ValueError("Models: pick at least one model")
    from core.sweep import PRESETS

    check_ranges(
        {**train_options, "hidden": hidden or None, "input_frames": input_frames, "alpha": alpha},
        TRAIN_FORM_RANGES,
        TRAIN_FORM_LABELS,
    )

    try:
        # The page's values over the cpu preset's, so a default run trains the way the shipped runs did.
        train_config = TrainConfig.from_dict({**PRESETS["cpu"]["train"], **train_options}).to_dict()
        params = []
        for name in models:
            options: dict[str, Any] = {"input_frames": int(input_frames), "smoke": smoke}
            if hidden:
                options["hidden"] = int(hidden)
            if model_spec(name).relaxed and alpha is not None:
                options["alpha"] = float(alpha)
            model_config = ModelConfig.for_model(name, **options).to_dict()
            params.append(
                {"data_path": str(dataset_path), "model_config": model_config, "train_config": train_config}
            )
        _check_windows(dataset_path, model_config, train_config)
    except ValueError as exc:
        raise ValueError(in_form_words(str(exc), TRAIN_FORM_LABELS)) from exc
    started, already = [], []
    for p in params:  # a model whose job already runs is skipped; the others start
        try:
            started.append(queue.submit("train", p))
        except queue.AlreadyQueued as exc:
            already.append(str(exc))
    if not started:
        raise queue.AlreadyQueued(" ".join(already))
    return started


def _check_windows(dataset_path: str | Path, model_config: dict, train_config: dict) -> None:
    """Raise ValueError (before any job starts) if the dataset is too short for these windows."""
    from core.models import ModelConfig
    from core.service.common import dataset_config_of
    from core.train.samples import make_splits
    from core.train.trainer import TrainConfig, split_spec

    stored = dataset_config_of(dataset_path)
    if stored is None:
        raise ValueError(f"the dataset {Path(dataset_path).name} cannot be read")
    from core.data import DataConfig

    data_config = DataConfig.from_dict(stored)
    spec = split_spec(ModelConfig.from_dict(model_config), TrainConfig.from_dict(train_config), data_config)
    make_splits(data_config.sims, data_config.frames, spec)
