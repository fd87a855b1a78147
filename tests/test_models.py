"""Tests of the model registry and of ConvNet's, E2CNN's and RSteer's symmetry properties (grid 16, batch 2).

The other Table-1 models' own properties, and every model's symmetry promise, are in test_table1_models.py."""

from __future__ import annotations

import json

import pytest
import torch

import core.models.base as base_module
from core.models import (
    MODEL_NAMES,
    ModelConfig,
    build_model,
    describe_models,
    model_from_config,
    model_spec,
)
from core.models.basis import make_r2conv
from core.models.rsteer import RelaxedSteerableConv, c4_irrep_parts, c4_orbit_mean
from core.symmetry import model_equivariance_error

N, BATCH = 16, 2
BOUND = 1e-5
SEEDS = (0, 1, 2)


def build(name: str, **options):
    """build_model, on this file's grid for a model with weights per cell (ModelConfig.grid)."""
    if "grid" in model_spec(name).defaults:
        options.setdefault("grid", N)
    return build_model(name, **options)


def batch(input_frames: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(BATCH, 2 * input_frames, N, N, generator=generator)


def relative_error(model, x) -> float:
    return model_equivariance_error(model, x).relative_mean


def perturb(model, scale: float = 0.5, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for w in model.relaxed_parameters():
            w.add_(scale * w.abs().mean() * torch.randn(w.shape, generator=generator))


# ---------------------------------------------------------------- every registry entry


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("input_frames", [1, 3])
def test_output_shape(name, input_frames):
    torch.manual_seed(0)
    model = build(name, input_frames=input_frames, hidden=8)
    out = model(batch(input_frames))
    assert out.shape == (BATCH, 2, N, N)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model.config.name == name and model.config.input_frames == input_frames


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_memory_layout_changes_nothing_and_outputs_are_contiguous(name):
    """The models run their convolutions channels-last (for speed); callers see neither."""
    torch.manual_seed(0)
    model = build(name, input_frames=2, hidden=8).eval()
    x = batch(2)
    with torch.no_grad():
        plain = model(x)
        from_channels_last = model(x.contiguous(memory_format=torch.channels_last))
    assert plain.is_contiguous() and from_channels_last.is_contiguous()
    assert torch.allclose(plain, from_channels_last, atol=1e-6)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = build(name, hidden=8)
    loss = model(batch(1)).square().mean() + model.regularization_loss()
    loss.backward()
    params = list(model.named_parameters())
    assert params
    for pname, p in params:
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
    assert any(float(p.grad.abs().sum()) > 0 for _, p in params)


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("source_mode", ["train", "eval"])
def test_config_round_trip_gives_identical_outputs(name, source_mode):
    torch.manual_seed(0)
    model = build(name, input_frames=2, hidden=8, layers=3, kernel_size=5)
    if name == "rsteer":
        perturb(model)  # relaxed weights that differ across offsets must survive the trip
    if name == "rgroup":
        with torch.no_grad():  # and relaxed weights that differ across group elements
            for w in model.relaxed_parameters():
                w.add_(torch.randn(w.shape))
    model.train(source_mode == "train")
    x = batch(2)
    expected = model.eval()(x)
    model.train(source_mode == "train")
    config_json = json.dumps(model.config.to_dict())
    state = model.state_dict()
    torch.manual_seed(123)  # a different initialisation, overwritten by the state dict
    rebuilt = model_from_config(json.loads(config_json))
    rebuilt.load_state_dict(state)  # strict: same keys whatever the modes
    assert rebuilt.config == model.config
    assert torch.equal(rebuilt.eval()(x), expected)
    assert torch.equal(rebuilt.train()(x), model.train()(x))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_from_config_accepts_a_config_object(name):
    config = ModelConfig.for_model(name, hidden=8)
    assert model_from_config(config).config == config
    assert model_from_config(config.to_dict()).config == config


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as err:
        build_model("resnet")
    for name in MODEL_NAMES:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="convnet"):
        model_from_config({"name": "unet"})


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize(
    "options, field",
    [
        ({"hidden": 0}, "hidden"),
        ({"hidden": "wide"}, "hidden"),
        ({"layers": 0}, "layers"),
        ({"kernel_size": 4}, "kernel_size"),
        ({"kernel_size": 2.0}, "kernel_size"),
        ({"input_frames": 0}, "input_frames"),
        ({"input_frames": True}, "input_frames"),
        ({"alpha": -1.0}, "alpha"),
        ({"alpha": float("nan")}, "alpha"),
        ({"width": 8}, "width"),
    ],
)
def test_invalid_options_name_the_field(name, options, field):
    with pytest.raises(ValueError, match=field):
        build_model(name, **options)


@pytest.mark.parametrize("name", ["e2cnn", "rsteer"])
def test_steerable_hidden_must_be_whole_fields(name):
    with pytest.raises(ValueError, match="hidden"):
        build_model(name, hidden=10)


@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if not model_spec(name).relaxed])
def test_alpha_is_refused_where_nothing_is_relaxed(name):
    with pytest.raises(ValueError, match="alpha"):
        build(name, alpha=1e-3)


def test_from_dict_rejects_unknown_and_missing_fields():
    with pytest.raises(ValueError, match="depth"):
        ModelConfig.from_dict({"name": "convnet", "depth": 3})
    with pytest.raises(ValueError, match="name"):
        ModelConfig.from_dict({"hidden": 8})


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_wrong_input_shape_is_explained(name):
    model = build(name, input_frames=2, hidden=8)
    with pytest.raises(ValueError, match=r"\(B, 4, N, N\)"):
        model(torch.zeros(BATCH, 2, N, N))
    with pytest.raises(ValueError, match="floating"):
        model(torch.zeros(BATCH, 4, N, N, dtype=torch.int64))


def test_defaults_are_the_registry_entries_at_one_width():
    counts = describe_models()
    assert set(counts) == set(MODEL_NAMES) and all(c > 0 for c in counts.values())
    widths = {build_model(name).config.hidden for name in MODEL_NAMES}
    assert widths == {32}, "models are compared at equal hidden width"
    for name in MODEL_NAMES:
        assert build_model(name).config == ModelConfig(name=name, **model_spec(name).defaults)


def test_a_fourth_model_is_one_registry_entry(tmp_path):
    """A dummy model registered in one place builds, validates, sweeps and gets a colour."""
    from core.models import model_color, model_label, register_model
    from core.models.base import VelocityModel
    from core.models.registry import ModelSpec, unregister_model
    from core.sweep import SweepConfig

    class Zero(VelocityModel):
        def __init__(self, config):
            super().__init__(config)
            self.scale = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            self.check_input(x)
            return x[:, -self.config.frame_channels :] * self.scale

    # "smoke" among its options: it reads and predicts whatever frames the preset gives it.
    options = {"input_frames": 1, "hidden": 4, "smoke": False}
    register_model(ModelSpec("zero", "Zero", Zero, options, color="#000000"))
    try:
        model = build_model("zero")
        assert model(torch.ones(2, 2, 8, 8)).shape == (2, 2, 8, 8) and model.parameter_count() == 1
        assert "zero" in describe_models() and model_label("zero") == "Zero"
        assert model_color("zero") == "#000000"
        sweep = SweepConfig(levels=(0.0,), models=("zero", "convnet"))
        assert sweep.model_config("zero").hidden == 32  # the preset's width applies to every model
        assert build_model("zero", smoke=True)(torch.ones(2, 3, 8, 8)).shape == (2, 3, 8, 8)
        with pytest.raises(ValueError, match="alpha"):
            ModelConfig(name="zero", alpha=0.1)
    finally:
        unregister_model("zero")
    with pytest.raises(ValueError, match="unknown model 'zero'"):
        build_model("zero")


# ------------------------------------------------------------------------ symmetry


@pytest.mark.parametrize("input_frames", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_e2cnn_is_equivariant_to_the_physical_action(input_frames, seed):
    torch.manual_seed(seed)
    model = build_model("e2cnn", input_frames=input_frames, hidden=16)
    x = batch(input_frames, seed)
    assert relative_error(model.train(), x) < BOUND
    assert relative_error(model.eval(), x) < BOUND


def test_e2cnn_needs_the_row_flip(monkeypatch):
    torch.manual_seed(0)
    model = build_model("e2cnn", hidden=16)
    monkeypatch.setattr(base_module, "flip_rows", lambda t: t)
    # Without the flip it is equivariant to e2cnn's action, which is not the physical one.
    assert relative_error(model, batch(1)) > 1e-2


@pytest.mark.parametrize("input_frames", [1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_rsteer_is_equivariant_at_init_and_not_after_relaxing(input_frames, seed):
    torch.manual_seed(seed)
    model = build_model("rsteer", input_frames=input_frames, hidden=16)
    x = batch(input_frames, seed)
    assert relative_error(model.train(), x) < BOUND
    assert relative_error(model.eval(), x) < BOUND
    perturb(model, seed=seed)
    assert relative_error(model, x) > 1e-2
    model.tie_weights()
    assert relative_error(model.train(), x) < BOUND
    assert relative_error(model.eval(), x) < BOUND


def test_rsteer_with_c4_invariant_offset_weights_stays_equivariant():
    # w_l(g y) = w_l(y) is enough, since every basis kernel is equivariant: the symmetry
    # is broken only by the part of w that the orbit mean removes.
    torch.manual_seed(0)
    model = build_model("rsteer", hidden=16)
    perturb(model)
    with torch.no_grad():
        for w in model.relaxed_parameters():
            w.copy_(c4_orbit_mean(w))
    x = batch(1)
    assert relative_error(model, x) < BOUND
    summary = model.relaxation_summary()
    assert all(layer["relative_deviation"] > 1e-2 for layer in summary)
    assert all(layer["relative_asymmetry"] < 1e-6 for layer in summary)  # float32 rounding


@pytest.mark.parametrize("seed", SEEDS)
def test_convnet_is_not_equivariant(seed):
    torch.manual_seed(seed)
    model = build_model("convnet", hidden=8)
    assert relative_error(model, batch(1, seed)) > 1e-2


# ------------------------------------------------------------ regulariser, summary


def test_regulariser_zero_when_tied_positive_when_relaxed():
    torch.manual_seed(0)
    model = build_model("rsteer", hidden=8, alpha=1e-2)
    assert float(model.regularization_loss().detach()) == 0.0
    perturb(model)
    relaxed = float(model.regularization_loss().detach())
    assert relaxed > 0
    # alpha scales it linearly
    other = build_model("rsteer", hidden=8, alpha=2e-2)
    other.load_state_dict(model.state_dict())
    assert float(other.regularization_loss().detach()) == pytest.approx(2 * relaxed)
    model.tie_weights()
    assert float(model.regularization_loss().detach()) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", [name for name in MODEL_NAMES if not model_spec(name).relaxed])
def test_regulariser_is_zero_without_relaxed_weights(name):
    model = build(name, hidden=8)
    loss = model.regularization_loss()
    assert loss.shape == () and float(loss) == 0.0


def test_relaxation_summary_and_relaxed_weights():
    torch.manual_seed(0)
    model = build_model("rsteer", hidden=8, layers=3, kernel_size=5)
    weights = model.relaxed_weights()
    assert len(weights) == 3
    assert weights[0].shape[:2] == (2, 1) and weights[0].shape[-2:] == (5, 5)  # 2 regular fields <- 1 vector
    tied = model.relaxation_summary()
    assert all(layer["relative_deviation"] == pytest.approx(0.0, abs=1e-12) for layer in tied)
    perturb(model)
    assert not torch.equal(model.relaxed_weights()[0], weights[0])  # copies, not live views
    summary = model.relaxation_summary()
    for layer in summary:
        assert layer["deviation_map"].shape == (5, 5)
        assert layer["asymmetry_map"].shape == (5, 5)
        assert layer["relative_deviation"] > 1e-2
        assert layer["relative_asymmetry"] > 1e-2
        assert layer["deviation_map"].mean() == pytest.approx(layer["relative_deviation"])
    # A perturbation of a single offset shows up at that offset of the map.
    model.tie_weights()
    with torch.no_grad():
        model.relaxed_parameters()[1][..., 0, 4] += 1.0
    deviation = model.relaxation_summary()[1]["deviation_map"]
    assert deviation.argmax() == 4


# ------------------------------------------------------------ the basis is e2cnn's


@pytest.mark.parametrize(
    "in_kind, out_kind", [("vector", "regular"), ("regular", "regular"), ("regular", "vector")]
)
@pytest.mark.parametrize("kernel_size", [3, 5])
def test_tied_rsteer_kernel_equals_e2cnn_kernel(in_kind, out_kind, kernel_size):
    torch.manual_seed(0)
    layer = RelaxedSteerableConv(in_kind, 2, out_kind, 3, kernel_size)
    kernel, _ = layer.kernel()
    out_size, in_size = layer.out_size, layer.in_size
    for o in range(3):
        for i in range(2):
            reference = make_r2conv(in_kind, 1, out_kind, 1, kernel_size, bias=False)
            with torch.no_grad():
                reference.weights.copy_(layer.weight[o, i, :, 0, 0])
            expected, _ = reference.expand_parameters()
            block = kernel[o * out_size : (o + 1) * out_size, i * in_size : (i + 1) * in_size]
            torch.testing.assert_close(block, expected, rtol=1e-6, atol=1e-7)


def test_rsteer_bias_is_one_per_regular_field():
    model = build_model("rsteer", hidden=8, layers=2)
    first, last = model.convs
    assert first.bias.shape == (2,)  # 2 regular fields
    assert last.bias is None  # a vector field has no invariant part
    with torch.no_grad():
        first.bias.copy_(torch.tensor([1.0, -2.0]))
    _, bias = first.kernel()
    assert bias.tolist() == [1.0] * 4 + [-2.0] * 4
    assert relative_error(model, batch(1)) < BOUND


# ------------------------------------------------------------ eval-mode caches


@pytest.mark.parametrize("name", ["e2cnn", "rsteer"])
@torch.no_grad()
def test_eval_cache_follows_weight_changes(name):
    torch.manual_seed(0)
    model = build_model(name, hidden=8).eval()
    x = batch(1)
    before = model(x)
    assert model._cache_key is not None  # the cached path really ran
    layer = model.convs[1]
    (layer.weights if name == "e2cnn" else layer.weight).mul_(1.5)
    after = model(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, model.train()(x))
    other = build_model(name, hidden=8).eval()
    other(x)  # fills the cache
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other(x), after)


@pytest.mark.parametrize("name", ["e2cnn", "rsteer"])
def test_eval_mode_with_autograd_still_reaches_the_weights(name):
    torch.manual_seed(0)
    model = build_model(name, hidden=8).eval()
    with torch.no_grad():
        model(batch(1))  # a cached forward first must not detach later ones
    model(batch(1)).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_e2cnn_export_matches_and_is_plain_torch():
    torch.manual_seed(0)
    model = build_model("e2cnn", hidden=8)
    x = batch(1)
    exported = model.export()
    torch.testing.assert_close(exported(x), model(x), rtol=1e-5, atol=1e-6)
    assert model.training  # exporting did not switch the model's mode
    e2cnn_modules = [m for m in exported.modules() if type(m).__module__.startswith("e2cnn")]
    assert not e2cnn_modules


def test_rsteer_trained_on_symmetric_data_stays_equivariant():
    # With every sample present in all four orientations, the gradient of w is a C4-invariant
    # function of the offset: training moves w away from tied (deviation grows) but not away
    # from equivariance (asymmetry stays ~0). Asymmetric data must break it.
    from core.symmetry import rotate_stacked_velocity

    def train(symmetric: bool):
        torch.manual_seed(0)
        model = build_model("rsteer", hidden=8, layers=3)
        x, y = batch(1, 5), batch(1, 6)
        if symmetric:
            x = torch.cat([rotate_stacked_velocity(x, k) for k in range(4)])
            y = torch.cat([rotate_stacked_velocity(y, k) for k in range(4)])
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(5):
            optimiser.zero_grad()
            (model(x) - y).square().mean().backward()
            optimiser.step()
        return model, batch(1, 7)

    model, probe = train(symmetric=True)
    summary = model.relaxation_summary()
    assert max(layer["relative_deviation"] for layer in summary) > 1e-3
    assert max(layer["relative_asymmetry"] for layer in summary) < 1e-4
    assert relative_error(model, probe) < 1e-4
    model, probe = train(symmetric=False)
    assert max(layer["relative_asymmetry"] for layer in model.relaxation_summary()) > 1e-3
    assert relative_error(model, probe) > 1e-3


def test_irrep_parts_tell_which_symmetry_is_broken():
    torch.manual_seed(0)
    model = build_model("rsteer", hidden=8, layers=3)
    tied_energy = model.relaxation_summary()[0]["irrep_energy"]
    assert tied_energy["trivial"] == pytest.approx(1.0)
    perturb(model)
    with torch.no_grad():
        for w in model.relaxed_parameters():
            parts = c4_irrep_parts(w)
            torch.testing.assert_close(sum(parts.values()), w)
            w.copy_(parts["trivial"] + parts["sign"])  # keep 180-degree symmetry only
    for layer in model.relaxation_summary():
        energy = layer["irrep_energy"]
        assert sum(energy.values()) == pytest.approx(1.0)
        assert energy["sign"] > 1e-4 and energy["rotation"] < 1e-10
    error = model_equivariance_error(model, batch(1))
    assert error.relative_per_element[2] < BOUND  # still C2-equivariant
    assert error.relative_per_element[1] > 1e-2 and error.relative_per_element[3] > 1e-2


def test_a_sweep_refuses_repeated_levels_by_name():
    from core.sweep import SweepConfig

    with pytest.raises(ValueError, match="levels must not repeat: 0.3 given more than once"):
        SweepConfig(levels=(0.0, 0.3, 0.3))
