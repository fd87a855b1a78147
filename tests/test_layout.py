"""The frame layout (core.layout): written once, used by the rotation, the loss weights and the
models, and stored in the dataset files and the checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.layout import VELOCITY, VELOCITY_SMOKE, Field, FrameLayout
from core.symmetry import rotate_scalar, rotate_stacked_frames, rotate_velocity


def test_the_two_layouts_used_today_and_their_channels():
    assert VELOCITY.channels == ("vx", "vy") and VELOCITY.size == 2
    assert VELOCITY_SMOKE.channels == ("vx", "vy", "smoke") and VELOCITY_SMOKE.size == 3
    assert VELOCITY_SMOKE.vector_slices == (slice(0, 2),) and VELOCITY_SMOKE.scalar_indices == (2,)
    assert VELOCITY.scalar_indices == () and not VELOCITY.has_scalars
    assert VELOCITY_SMOKE.channel_weights(0.3) == (1.0, 1.0, 0.3)
    assert VELOCITY_SMOKE.field_types == "vector+scalar" and VELOCITY.field_types == "vector"
    assert FrameLayout.for_smoke(True) is VELOCITY_SMOKE and FrameLayout.of_size(2) is VELOCITY
    for layout in (VELOCITY, VELOCITY_SMOKE):
        assert FrameLayout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout
    with pytest.raises(ValueError, match="kind"):
        Field("smoke", "tensor", ("s",))
    with pytest.raises(ValueError, match="2 channel"):
        Field("velocity", "vector", ("vx",))
    with pytest.raises(ValueError, match="channels, got 4"):
        FrameLayout.of_size(4)
    with pytest.raises(ValueError, match="fields"):
        FrameLayout.from_dict({"fields": "vx"})


def test_the_model_config_takes_its_channel_counts_from_the_layout():
    from core.models import ModelConfig

    for smoke, layout in ((False, VELOCITY), (True, VELOCITY_SMOKE)):
        cfg = ModelConfig(name="convnet", input_frames=2, smoke=smoke)
        assert cfg.frame_layout == layout
        assert (cfg.frame_channels, cfg.in_channels) == (layout.size, 2 * layout.size)


def _old_rotate_stacked(x, k, c):
    """The rotation of stacked frames as it was written before the layout (the reference)."""
    b, total, n, m = x.shape
    frames = x.reshape(b, total // c, c, n, m)
    velocity = rotate_velocity(frames[:, :, :2], k)
    if c == 2:
        return velocity.reshape(b, total, n, m)
    return torch.cat([velocity, rotate_scalar(frames[:, :, 2:], k)], dim=2).reshape(b, total, n, m)


@pytest.mark.parametrize("layout", [VELOCITY, VELOCITY_SMOKE])
def test_rotating_stacked_frames_by_the_layout_equals_the_old_result(layout):
    x = torch.randn(3, 4 * layout.size, 8, 8, generator=torch.Generator().manual_seed(1))
    for k in range(4):
        old = _old_rotate_stacked(x, k, layout.size)
        assert torch.equal(rotate_stacked_frames(x, k, layout), old)
        assert torch.equal(rotate_stacked_frames(x, k, layout.size), old)
        assert np.array_equal(rotate_stacked_frames(x.numpy(), k, layout), old.numpy())


def test_the_rotation_follows_the_layout_not_the_channel_count():
    """A frame whose scalar comes first: the rotation mixes channels 1, 2 as a vector and only
    moves channel 0, as its layout says (a count-based rule would turn 0, 1 as the vector)."""
    layout = FrameLayout((Field("smoke", "scalar", ("smoke",)), Field("velocity", "vector", ("vx", "vy"))))
    assert layout.scalar_indices == (0,) and layout.velocity == slice(1, 3)
    x = torch.randn(2, 6, 8, 8, generator=torch.Generator().manual_seed(2))
    turned = rotate_stacked_frames(x, 1, layout).reshape(2, 2, 3, 8, 8)
    frames = x.reshape(2, 2, 3, 8, 8)
    assert torch.equal(turned[:, :, 0], rotate_scalar(frames[:, :, 0], 1))
    assert torch.equal(turned[:, :, 1:], rotate_velocity(frames[:, :, 1:], 1))
    assert layout.channel_weights(0.5) == (0.5, 1.0, 1.0)


def test_the_layout_round_trips_through_a_dataset_file(tiny_dataset_path, tmp_path):
    import h5py

    from core.data import load_dataset
    from core.data.store import DatasetFileError, write_dataset

    ds = load_dataset(tiny_dataset_path)
    assert ds.frame_layout == VELOCITY_SMOKE
    out = write_dataset(
        tmp_path / "copy.h5", ds.velocity, ds.smoke, ds.config, ds.data_ee_trajectory, ds.data_ee_one_step
    )
    with h5py.File(out) as f:
        assert json.loads(f.attrs["frame_layout"]) == VELOCITY_SMOKE.to_dict()
    assert load_dataset(out).frame_layout == VELOCITY_SMOKE
    with h5py.File(out, "a") as f:  # a file written before the attribute: velocity and smoke, as it holds
        del f.attrs["frame_layout"]
    assert load_dataset(out).frame_layout == VELOCITY_SMOKE
    with h5py.File(out, "a") as f:
        pressure = {"name": "pressure", "kind": "scalar", "channels": ["p"]}
        f.attrs["frame_layout"] = json.dumps({"fields": [pressure]})
    with pytest.raises(DatasetFileError, match="frame_layout names a scalar field 'pressure'"):
        load_dataset(out)


def test_the_layout_round_trips_through_a_checkpoint(tmp_path):
    from core.models import ModelConfig, model_from_config
    from core.store.runs import CheckpointError, read_payload, save_checkpoint, save_payload
    from core.train.checkpoints import checkpoint_layout, load_checkpoint_file

    for smoke, layout in ((False, VELOCITY), (True, VELOCITY_SMOKE)):
        cfg = ModelConfig(name="convnet", hidden=8, layers=2, smoke=smoke)
        path = tmp_path / f"smoke-{smoke}.pt"
        unit = {"smoke_unit": 2.0} if smoke else {}
        save_checkpoint(path, model_from_config(cfg.to_dict()), **unit)
        payload = read_payload(path)
        assert payload["frame_layout"] == layout.to_dict()
        assert checkpoint_layout(payload, cfg) == layout
        # An older checkpoint without the field: its ModelConfig's smoke says.
        old = {k: v for k, v in payload.items() if k != "frame_layout"}
        assert checkpoint_layout(old, cfg) == layout
        save_payload(path, old)
        load_checkpoint_file(path)
    wrong = {**payload, "frame_layout": VELOCITY.to_dict()}
    save_payload(path, wrong)
    with pytest.raises(CheckpointError, match="frame_layout"):
        load_checkpoint_file(path)
