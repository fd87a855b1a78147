"""The paper's other Table-1 models (MLP, RPP, Combo, CLCNN, Lift, RGroup): each one's defining
fact, checkpoints, grids; and every registered model held to its declared symmetry (grid 16)."""

from __future__ import annotations

import pytest
import torch

from core.models import build_model, model_names, model_spec, register_model
from core.models.convnet import ConvNet
from core.models.registry import ModelSpec, unregister_model
from core.symmetry import model_equivariance_error
from tests.conftest import TINY_TRAINING

N, BATCH = 16, 2
BOUND = 1e-5
NEW_MODELS = ("mlp", "rpp", "combo", "clcnn", "lift", "rgroup")


def build(name: str, **options):
    """build_model at a small size, on this file's grid for a model with weights per cell."""
    defaults = model_spec(name).defaults
    small = {"hidden": 8, "layers": 3, "grid": N}
    return build_model(name, **{**{k: v for k, v in small.items() if k in defaults}, **options})


def batch(channels: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(BATCH, channels, N, N, generator=generator)


def relative_error(model, x, frame_channels: int = 2) -> float:
    return model_equivariance_error(model, x, frame_channels).relative_mean


# ------------------------------------------------------- every model keeps its promise


def broken_promise(name: str, steps: int = 3, seed: int = 0) -> str | None:
    """Return what is wrong with model ``name``'s declared symmetry (ModelSpec.symmetry), or None.

    "exact": equivariant (relative error <= BOUND at every group element) at initialisation
    and after ``steps`` Adam steps towards random targets; "relaxed": at initialisation;
    "none": nothing to check.
    """
    promise = model_spec(name).symmetry
    if promise == "none":
        return None
    torch.manual_seed(seed)
    model, x = build(name), batch(seed=seed)
    moments = ["at initialisation"] + (["after training"] if promise == "exact" else [])
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for moment in moments:
        if moment == "after training":
            for step in range(steps):
                optimiser.zero_grad()
                loss = (model(batch(seed=seed + step + 1)) - batch(seed=seed + 50 + step)).square().mean()
                (loss + model.regularization_loss()).backward()
                optimiser.step()
        errors = model_equivariance_error(model, x).relative_per_element
        worst = max(errors, key=errors.get)
        if not errors[worst] <= BOUND:
            where = f"{moment} its relative error at {90 * worst} degrees"
            return f"{name} is declared {promise!r} but {where} is {errors[worst]:.2e}"
    return None


@pytest.mark.parametrize("name", model_names())
def test_every_model_keeps_its_declared_symmetry(name):
    assert broken_promise(name) is None


def test_the_declarations():
    declared = {name: model_spec(name).symmetry for name in model_names()}
    assert declared["e2cnn"] == "exact"
    assert declared["rsteer"] == declared["rgroup"] == "relaxed"
    assert all(declared[name] == "none" for name in ("convnet", "mlp", "rpp", "combo", "clcnn", "lift"))
    with pytest.raises(ValueError, match="symmetry"):
        ModelSpec("odd", "Odd", ConvNet, symmetry="approximate")


@pytest.mark.parametrize("promise", ["exact", "relaxed"])
def test_a_model_declared_equivariant_but_built_without_symmetry_is_caught(promise):
    register_model(
        ModelSpec("pretender", "Pretender", ConvNet, model_spec("convnet").defaults, symmetry=promise)
    )
    try:
        problem = broken_promise("pretender")
    finally:
        unregister_model("pretender")
    assert problem is not None and "pretender" in problem and "at initialisation" in problem


def test_an_exact_model_that_loses_symmetry_in_training_is_caught():
    from core.models.rpp import RPP

    class Drifting(RPP):
        """An RPP whose non-equivariant path starts at zero: equivariant at start, not after a step."""

        def __init__(self, config):
            super().__init__(config)
            with torch.no_grad():
                for p in self.free.parameters():
                    p.zero_()

    spec = ModelSpec("drifting", "Drifting", Drifting, model_spec("rpp").defaults, 4, True, symmetry="exact")
    register_model(spec)
    try:
        problem = broken_promise("drifting")
    finally:
        unregister_model("drifting")
    assert problem is not None and "after training" in problem


# ------------------------------------------------------------ each model's defining fact


def test_rgroup_is_exactly_equivariant_at_init_and_tied():
    torch.manual_seed(0)
    for options, channels in (({}, 2), ({"input_frames": 2, "smoke": True}, 6)):
        model = build("rgroup", **options).double()
        x = batch(channels).double()
        assert relative_error(model, x, 3 if options else 2) <= 1e-6
        with torch.no_grad():
            for w in model.relaxed_parameters():
                w.add_(torch.randn(w.shape, dtype=w.dtype))
        assert relative_error(model, x, 3 if options else 2) > 1e-2  # unequal w_l(h) break it
        model.tie_weights()
        assert relative_error(model, x, 3 if options else 2) <= 1e-6


def test_rgroup_regulariser_is_the_spread_of_its_relaxed_weights():
    model = build("rgroup", alpha=0.5)
    assert float(model.regularization_loss().detach()) == 0.0
    with torch.no_grad():
        model.relaxed_parameters()[0][1, 2] += 1.0  # one bank, one group element, 3 others: 6 ordered pairs
    assert float(model.regularization_loss().detach()) == pytest.approx(0.5 * 6 * 1.0)


def _orbit_training(dataset_path, steps: int = 4):
    """RGroup trained ``steps`` Adam steps on one-step pairs of a dataset, all four orientations of
    each window in every batch; returns (model, probe input from the dataset)."""
    from core.data import load_dataset
    from core.models import ModelConfig
    from core.sweep import PRESETS
    from core.train.optim import make_optimizer
    from core.train.samples import frames_for

    torch.manual_seed(0)
    model = build("rgroup").double()  # float64, so that round-off stays far below the bounds
    frames = torch.as_tensor(frames_for(ModelConfig.for_model("rgroup"), load_dataset(dataset_path))).double()
    frames = frames / frames.abs().mean()
    x = frames[:, 0, 2:8].reshape(-1, 2, N, N)  # (4 orientations x 6 frames)
    y = frames[:, 0, 3:9].reshape(-1, 2, N, N)
    train = PRESETS["cpu"]["train"]
    optimiser = make_optimizer(
        model, 1e-2, train["relaxed_lr"], train["relaxed_noise_floor"], train["relaxed_clip"]
    )  # the trainer's optimiser, with the cpu preset's settings for relaxed weights
    for _ in range(steps):
        optimiser.zero_grad()
        ((model(x) - y).square().mean() + model.regularization_loss()).backward()
        optimiser.step()
    spread = max(float((w - w.mean(1, keepdim=True)).abs().max()) for w in model.relaxed_parameters())
    return model, frames[:, 1, 5].reshape(-1, 2, N, N), spread


def test_rgroup_stays_equivariant_when_trained_on_symmetric_data(symmetric_dataset_path, tiny_dataset_path):
    model, probe, spread = _orbit_training(symmetric_dataset_path)
    assert all(float((w - 1).abs().max()) > 1e-3 for w in model.relaxed_parameters())  # it did learn
    assert relative_error(model, probe) <= 1e-6 and spread < 1e-6
    # The same training on data whose orientations differ (buoyancy difference 0.3) relaxes it.
    model, probe, spread = _orbit_training(tiny_dataset_path)
    assert spread > 1e-4 and relative_error(model, probe) > 1e-5


def test_lift_without_its_encoder_is_exactly_equivariant():
    torch.manual_seed(0)
    model = build("lift")
    x = batch()
    assert relative_error(model, x) > 1e-2  # the encoder's features break the symmetry
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.zero_()
    assert relative_error(model, x) < BOUND
    smoke = build("lift", smoke=True, input_frames=2)
    with torch.no_grad():
        for p in smoke.encoder.parameters():
            p.zero_()
    assert relative_error(smoke, batch(6), 3) < BOUND


def test_rpp_with_an_infinite_prior_is_its_e2cnn_path():
    torch.manual_seed(0)
    model = build("rpp", alpha=1e-2)
    x = batch()
    assert float(model.regularization_loss().detach()) > 0
    assert not torch.allclose(model(x), model.equivariant(x))
    with torch.no_grad():  # the prior's limit: the non-equivariant path at zero
        for p in model.free.parameters():
            p.zero_()
    assert float(model.regularization_loss().detach()) == 0.0
    assert torch.equal(model(x), model.equivariant(x))
    assert relative_error(model, x) < BOUND


def test_rpp_prior_weighs_only_the_convnet_path():
    model = build("rpp", alpha=2.0)
    squares = sum(float(p.detach().square().sum()) for p in model.free.parameters())
    assert float(model.regularization_loss().detach()) == pytest.approx(2.0 * squares, rel=1e-5)


def test_combo_starts_plain_and_ends_steerable():
    model = build("combo", layers=5)
    assert len(model.free) == 3 and len(model.equivariant.convs) == 2
    assert relative_error(model, batch()) > 1e-2


@pytest.mark.parametrize("options, channels", [({}, 2), ({"smoke": True, "input_frames": 2}, 6)])
def test_clcnn_hinge_is_zero_exactly_when_the_kernel_is_equivariant(options, channels):
    torch.manual_seed(0)
    model = build("clcnn", alpha=1.0, **options)
    frame_channels = 3 if options else 2
    x = batch(channels)
    broken = float(model.regularization_loss().detach())
    assert broken > 1e-3 and relative_error(model, x, frame_channels) > 1e-2
    with torch.no_grad():
        for layer in model.layers:  # weights that differ from cell to cell
            layer.gain.add_(0.3 * torch.randn(layer.gain.shape))
    model.make_equivariant()
    assert float(model.regularization_loss().detach()) < 1e-12 * broken
    # The hinge's group action is the physical one: zero hinge means an equivariant model.
    assert relative_error(model, x, frame_channels) < BOUND
    assert len({float(layer.gain[0, 0, 1]) for layer in model.layers} | {1.0}) > 1  # not shared over cells
    with torch.no_grad():
        model.layers[1].gain[2, 3, 5] += 0.5  # one cell's kernel, not its rotated partners
    assert float(model.regularization_loss().detach()) > 1e-6


def test_clcnn_and_mlp_weights_are_per_cell():
    for name in ("clcnn", "mlp"):
        small, large = build(name, grid=16).parameter_count(), build(name, grid=32).parameter_count()
        assert large > 2 * small
        with pytest.raises(ValueError, match="16x16 grid"):
            build(name, grid=16)(torch.zeros(1, 2, 32, 32))


def test_mlp_has_no_spatial_bias():
    torch.manual_seed(0)
    model = build("mlp")
    x = batch()
    shifted = torch.roll(x, 3, dims=-1)
    # A convolution would give the shifted output (away from the walls); the MLP does not.
    assert not torch.allclose(
        model(shifted)[..., 4:12], torch.roll(model(x), 3, dims=-1)[..., 4:12], atol=1e-3
    )


def test_every_model_has_its_own_colour_on_every_figure():
    from dashboard import figures

    colours = [model_spec(name).color for name in model_names()]
    assert len(set(colours)) == len(colours)
    for name in model_names():
        assert (
            figures.model_color(name) == figures.model_color(model_spec(name).label) == model_spec(name).color
        )
    assert (
        figures.model_color("RGroupR") == model_spec("rgroup").color
    )  # a family name as the paper writes it
    fallbacks = {figures.model_color("someone's model", i) for i in range(6)}
    assert not fallbacks & set(colours)


def test_grid_belongs_to_per_cell_models_only():
    from core.models import ModelConfig

    with pytest.raises(ValueError, match="grid"):
        ModelConfig.for_model("convnet", grid=16)
    with pytest.raises(ValueError, match="grid"):
        ModelConfig(name="e2cnn", grid=16)
    with pytest.raises(ValueError, match="grid"):
        ModelConfig.for_model("mlp", grid=0)
    assert ModelConfig.for_model("mlp").for_grid(48).grid == 48
    assert ModelConfig.for_model("rgroup").for_grid(48).grid == 0


# ----------------------------------------------------------------- checkpoints, sizes


@pytest.mark.parametrize("name", model_names())
def test_checkpoint_round_trip_rebuilds_the_model(name, tmp_path):
    from core.models.budget import model_budget
    from core.store.runs import save_checkpoint
    from core.train.checkpoints import load_checkpoint_file

    torch.manual_seed(0)
    model = build(name, input_frames=2, smoke=True)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape))  # weights that are not a fresh initialisation
    save_checkpoint(tmp_path / "c.pt", model, scale=1.0, smoke_unit=1.0)
    loaded, payload = load_checkpoint_file(tmp_path / "c.pt", expected_model=name)
    assert loaded.model.config == model.config and payload["model_config"]["name"] == name
    x = batch(6)
    torch.testing.assert_close(loaded.model(x), model.eval()(x), rtol=0, atol=0)
    assert model_budget(model.config)["params"] == model.parameter_count()


@pytest.mark.parametrize("name", model_names())
def test_a_training_step_is_finite_and_reaches_the_weights(name):
    torch.manual_seed(0)
    model = build(name)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = (model(batch()) - batch(seed=1)).square().mean() + model.regularization_loss()
    loss.backward()
    assert torch.isfinite(loss)
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    before = [p.detach().clone() for p in model.parameters()]
    optimiser.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


def test_presets_fit_the_checkpoint_budget():
    from core.models.budget import check_model_budget
    from core.sweep import PRESETS
    from core.sweep.config import SweepConfig

    for preset in PRESETS:
        sweep = SweepConfig(levels=(0.0,), models=NEW_MODELS, preset=preset)
        for name in NEW_MODELS:
            check_model_budget(sweep.model_config(name).for_grid(PRESETS[preset]["data"]["grid"]))


def test_training_builds_a_per_cell_model_for_the_data_grid(data_env):
    from core.models import ModelConfig
    from core.train.checkpoints import load_checkpoint
    from core.train.config import TrainConfig
    from core.train.trainer import train

    result = train(
        data_env, ModelConfig.for_model("mlp", hidden=8), TrainConfig(**{**TINY_TRAINING, "epochs": 1})
    )
    assert result.status == "done" and result.metrics is not None
    assert load_checkpoint(result.run_dir / "checkpoint.pt").config.grid == N
