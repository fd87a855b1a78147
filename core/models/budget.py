"""How big a model config is, computed without building it, and the budget a checkpoint may ask for.

A checkpoint (an upload included) names its model config; ``check_model_budget`` refuses one above
the budget before a single weight is allocated. A model whose class has ``parameter_bound(config)``
says its own size.
"""

from __future__ import annotations

from typing import Any

from core.models.config import ModelConfig
from core.models.registry import model_spec

#: Largest model a checkpoint may ask for: learnable parameters, and bytes to hold it and run it.
MAX_MODEL_PARAMS = 5_000_000
MAX_MODEL_BYTES = 1 << 30
#: Grid side assumed for the activation estimate (the largest the dashboard evaluates on).
BUDGET_GRID = 128


def model_budget(config: Any) -> dict[str, int]:
    """Size of the model a config describes, computed without building it.

    Returns ``params`` (learnable numbers), ``kernel`` (numbers of the dense convolution
    kernels a forward pass uses: steerable models expand theirs every call), ``basis``
    (steerable basis buffers), ``activations`` (floats of one sample's feature maps on a
    BUDGET_GRID square grid, or the model's own ``grid``) and ``bytes`` (float32 memory of all
    of them, weights twice for their gradients). ``config``: a ModelConfig or its dict (checked first).
    """
    cfg = ModelConfig.from_dict(config)
    k = cfg.kernel_size
    widths = [cfg.in_channels] + [cfg.hidden] * (cfg.layers - 1) + [cfg.frame_channels]
    kernel = sum(a * b * k * k + b for a, b in zip(widths[:-1], widths[1:], strict=True))
    params, basis = kernel, 0
    if cfg.name in ("e2cnn", "rsteer"):
        from core.models.basis import field_size, layer_plan, steerable_basis

        params = 0
        for in_kind, in_fields, out_kind, out_fields in layer_plan(
            cfg.input_frames, cfg.hidden, cfg.layers, cfg.smoke
        ):
            size = steerable_basis(in_kind, out_kind, k).shape[0]  # one field pair: small, cached
            per_offset = k * k if cfg.name == "rsteer" else 1
            params += out_fields * in_fields * size * per_offset
            # e2cnn biases every field with a trivial part (the smoke too); RSteer only regular ones.
            biased = ("regular", "vector+scalar") if cfg.name == "e2cnn" else ("regular",)
            params += out_fields if out_kind in biased else 0
            basis += size * field_size(out_kind) * field_size(in_kind) * k * k
    bound = getattr(model_spec(cfg.name).builder(), "parameter_bound", None)
    if bound is not None:  # the models that know their own size (core.models, one per module)
        params = bound(cfg)
    activations = sum(widths) * (cfg.grid or BUDGET_GRID) ** 2
    total = 4 * (2 * params + 2 * kernel + basis + 2 * activations)
    return {"params": params, "kernel": kernel, "basis": basis, "activations": activations, "bytes": total}


def check_model_budget(config: Any) -> dict[str, int]:
    """Refuse (ValueError naming the fields and the budget) a model config above
    MAX_MODEL_PARAMS parameters or MAX_MODEL_BYTES of memory; return :func:`model_budget`."""
    budget = model_budget(config)
    cfg = ModelConfig.from_dict(config).to_dict()
    sizes = ", ".join(f"{f}={cfg.get(f)}" for f in ("hidden", "layers", "kernel_size", "input_frames"))
    if budget["params"] > MAX_MODEL_PARAMS:
        raise ValueError(
            f"model_config ({sizes}) gives {budget['params'] / 1e6:.1f} M parameters; "
            f"the budget is {MAX_MODEL_PARAMS / 1e6:.0f} M"
        )
    if budget["bytes"] > MAX_MODEL_BYTES:
        raise ValueError(
            f"model_config ({sizes}) needs about {budget['bytes'] / 2**20:.0f} MiB; "
            f"the budget is {MAX_MODEL_BYTES / 2**20:.0f} MiB"
        )
    return budget
