"""Run store, checkpoints, registry, rollout and splits: no dataset or process needed."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import torch

from core.models import build_model
from core.store.registry import Registry
from core.store.runs import CheckpointError, save_checkpoint
from core.symmetry import rotate_stacked_velocity
from core.train.checkpoints import load_checkpoint, load_checkpoint_file
from core.train.config import TrainConfig
from core.train.rollout import Scaled, rollout
from core.train.samples import SplitSpec, WindowDataset, make_splits, velocity_scale


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "assets"))


def _small(name: str):
    torch.manual_seed(0)
    return build_model(name, hidden=8, layers=2)


def test_rollout_equals_stepping_the_model_by_hand():
    model = _small("convnet")
    x0 = torch.randn(3, 1, 2, 16, 16)
    with torch.no_grad():
        out = rollout(model, x0, 4)
        window, manual = x0.reshape(3, 2, 16, 16), []
        for _ in range(4):
            window = model(window)
            manual.append(window)
    assert out.shape == (3, 4, 2, 16, 16)
    assert torch.equal(out, torch.stack(manual, dim=1))
    # The stacked form gives the same result.
    assert torch.equal(rollout(model, x0.reshape(3, 2, 16, 16), 4), out)


def test_rollout_slides_a_multi_frame_window():
    seen = []

    def model(x):
        seen.append(x.clone())
        return x[:, -2:] + 1.0  # "next frame = last frame + 1"

    x0 = torch.zeros(1, 2, 2, 4, 4)
    x0[:, 1] = 5.0
    out = rollout(model, x0, 3)
    assert [float(v) for v in out[0, :, 0, 0, 0]] == [6.0, 7.0, 8.0]
    # Third call sees frames (prediction 1, prediction 2), oldest first.
    assert float(seen[2][0, 0, 0, 0]) == 6.0 and float(seen[2][0, 2, 0, 0]) == 7.0
    with pytest.raises(ValueError, match="steps"):
        rollout(model, x0, 0)
    with pytest.raises(ValueError, match="initial_frames"):
        rollout(model, torch.zeros(2, 4, 4), 1)


def test_checkpoint_round_trip_and_upload_bytes(tmp_path):
    model = _small("rsteer")
    path = tmp_path / "c.pt"
    save_checkpoint(path, model, scale=2.5)
    loaded = load_checkpoint(path, expected_model="rsteer")
    x = torch.randn(2, 2, 16, 16)
    with torch.no_grad():
        assert torch.allclose(loaded(x), Scaled(model.eval(), 2.5)(x), atol=1e-6)
    from_bytes, payload = load_checkpoint_file(path.read_bytes())
    assert payload["scale"] == 2.5 and from_bytes.config.name == "rsteer"


def test_linear_skip_extrapolates_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = build_model("e2cnn", hidden=8, layers=2, input_frames=2)
    x = torch.randn(4, 4, 16, 16)
    wrapped = Scaled(model.eval(), 2.0, 0.5, skip="linear")
    with torch.no_grad():
        want = 2 * x[:, 2:] - x[:, :2] + 0.5 * model(x / 2.0)
        assert torch.allclose(wrapped(x), want, atol=1e-6)
        # The extrapolation commutes with rotations: an equivariant model stays equivariant.
        for k in (1, 2, 3):
            turned = wrapped(rotate_stacked_velocity(x, k))
            assert torch.allclose(turned, rotate_stacked_velocity(wrapped(x), k), atol=1e-4)
    path = tmp_path / "c.pt"
    save_checkpoint(path, model, scale=2.0, delta_scale=0.5, skip="linear")
    with torch.no_grad():
        assert torch.allclose(load_checkpoint(path)(x), wrapped(x), atol=1e-6)
    save_checkpoint(path, model, scale=2.0, delta_scale=0.5, skip="cubic")
    with pytest.raises(CheckpointError, match="skip"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="input_frames >= 2"):
        Scaled(build_model("convnet", hidden=8, layers=2), 1.0, 1.0, skip="linear")(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match="skip"):
        TrainConfig(skip="quadratic")
    with pytest.raises(ValueError, match="residual"):
        TrainConfig(skip="linear", residual=False)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _small("convnet"))
    with pytest.raises(CheckpointError, match="expected 'e2cnn'"):
        load_checkpoint(path, expected_model="e2cnn")
    # Same name but weights of another architecture: the state dict does not fit.
    payload = torch.load(path, weights_only=True)
    payload["model_config"] = _small("e2cnn").config.to_dict()
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit model 'e2cnn'"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, _small("convnet"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a torch checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="uploaded file"):
        load_checkpoint_file(b"not a checkpoint at all")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_never_executes(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "approxsym-checkpoint-1", "state_dict": _Evil(str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not a weights file") as refused:
        load_checkpoint(path)
    assert "weights_only" not in str(refused.value)  # never hint at the unsafe way to load it
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(_Evil(str(marker))))
    with pytest.raises(CheckpointError):
        load_checkpoint_file(plain.read_bytes())
    assert not marker.exists()


def test_random_bytes_are_reported_as_not_a_checkpoint():
    with pytest.raises(CheckpointError, match="not a torch checkpoint") as info:
        load_checkpoint_file(b"\x80\x02hello, this is not a checkpoint")
    assert "run code" not in str(info.value)


def test_a_refused_checkpoint_is_one_line_naming_the_file_and_never_torchs_unsafe_advice(
    tmp_path, monkeypatch
):
    """Whatever the container (zip, torch's legacy format, a bare pickle), a refusal names the file
    and the cause in one line, never torch's text (which advises weights_only=False)."""
    import io

    from core.service import runs

    monkeypatch.setenv("APPROXSYM_DATA_DIR", str(tmp_path / "data"))
    marker = tmp_path / "pwned"
    evil = {"format": "approxsym-checkpoint-1", "state_dict": _Evil(str(marker))}
    legacy = io.BytesIO()
    torch.save(evil, legacy, _use_new_zipfile_serialization=False)
    zipped = io.BytesIO()
    torch.save(evil, zipped)
    for data, why in (
        (legacy.getvalue(), "would run code"),
        (pickle.dumps(_Evil(str(marker)), protocol=2), "would run code"),
        (pickle.dumps({"plain": 1}), "not a torch checkpoint"),
        (zipped.getvalue()[:300], "truncated or not a torch checkpoint"),
        (b"not a checkpoint", "not a torch checkpoint"),
    ):
        with pytest.raises(CheckpointError) as refused:
            runs.import_checkpoint("mine.pt", data)
        said = str(refused.value)
        assert said.startswith("uploaded file 'mine.pt': ") and why in said, said
        assert "\n" not in said and "weights_only" not in said and "trust" not in said.lower(), said
    assert not marker.exists() and not (tmp_path / "data" / "runs").exists()


def test_registry_concurrent_job_creation_and_slot_claims(tmp_path):
    reg = Registry(tmp_path / "r.sqlite")
    ids, errors = [], []
    barrier = threading.Barrier(8)

    def submit(i):
        try:
            barrier.wait()
            ids.append(reg.create_job("train", {"i": i, "text": "x" * 1000}, slot="compute"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(ids)) == 8
    assert sorted(j.params["i"] for j in reg.list_jobs()) == list(range(8))
    # Racing claims of a one-job slot: exactly one wins.
    wins = []
    barrier2 = threading.Barrier(8)

    def claim(job_id):
        barrier2.wait()
        wins.append(reg.claim_slot(job_id, "compute", 1))

    threads = [threading.Thread(target=claim, args=(j,)) for j in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(wins) == 1
    assert [j.status for j in reg.list_jobs()].count("running") == 1
    with pytest.raises(ValueError, match="status"):
        reg.update_job(ids[0], status="bogus")
    with pytest.raises(ValueError, match="unknown job field"):
        reg.update_job(ids[0], colour="red")


def test_splits_disjoint_reproducible_and_recorded():
    spec = SplitSpec(input_frames=1, steps=2, seed=3, max_train_windows=12)
    a, b = make_splits(5, 30, spec), make_splits(5, 30, spec)
    assert a.to_dict() == b.to_dict()
    assert set(a.train_sims).isdisjoint(a.domain_sims) and len(a.domain_sims) == 1
    assert set(a.train_sims) | set(a.domain_sims) == set(range(5))
    train_frames = {(s, t + d) for s, t in a.train for d in range(3)}
    val_frames = {(s, t + d) for s, t in a.val for d in range(3)}
    assert train_frames.isdisjoint(val_frames)
    assert max(t for _, t in train_frames) < a.val_start <= min(t for _, t in val_frames)
    assert max(t for _, t in val_frames) < a.future_start
    assert len(a.train) == 3  # 12 samples = 3 windows x 4 orientations
    # each window is served in all four orientations: samples 4w..4w+3 are orientations 0..3
    velocity = np.arange(4 * 5 * 30 * 2 * 2 * 2, dtype=np.float32).reshape(4, 5, 30, 2, 2, 2)
    x, _ = WindowDataset(velocity, a.train, 1, 2).batch(range(4))
    s, t = a.train[0]
    assert all(torch.equal(x[o], torch.as_tensor(velocity[o, s, t])) for o in range(4))
    other = make_splits(5, 30, SplitSpec(input_frames=1, steps=2, seed=4, max_train_windows=12))
    assert other.train != a.train or other.domain_sims != a.domain_sims
    with pytest.raises(ValueError, match="frames"):
        make_splits(2, 6, SplitSpec(steps=3))
    assert make_splits(1, 30, spec).domain_sims == ()


def test_scale_is_one_scalar():
    v = np.random.default_rng(0).normal(size=(4, 2, 20, 2, 8, 8)).astype(np.float32)
    v[..., 0, :, :] *= 10  # very different components still give one scalar
    s = velocity_scale(v, make_splits(2, 20, SplitSpec()))
    assert isinstance(s, float) and 5 < s < 10


@pytest.mark.parametrize(
    "field,value", [("epochs", 0), ("lr", -1.0), ("lr_decay", 1.5), ("device", "tpu"), ("rollout_steps", 0)]
)
def test_train_config_names_the_bad_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_linear_extrapolation_is_exact_for_a_steadily_changing_flow_and_persistence_is_not():
    from core.train.baseline import LinearExtrapolation, Persistence

    a, b = torch.randn(3, 2, 8, 8), torch.randn(3, 2, 8, 8)
    frames = torch.stack([a + t * b for t in range(6)], 1)  # (B, T, 2, N, N), steady acceleration
    with torch.no_grad():
        linear = rollout(LinearExtrapolation(), frames[:, :2], 4)
        still = rollout(Persistence(), frames[:, :2], 4)
    assert torch.allclose(linear, frames[:, 2:], atol=1e-5)
    assert torch.allclose(still, frames[:, 1:2].expand(-1, 4, -1, -1, -1))
    assert (still - frames[:, 2:]).abs().max() > 0.1
    with pytest.raises(ValueError, match="input_frames >= 2"):
        rollout(LinearExtrapolation(), frames[:, :1], 1)


def test_orbit_noise_is_turned_with_each_orientation():
    from core.train.samples import orbit_noise

    noise = orbit_noise((8, 4, 6, 6), 0.5, torch.Generator().manual_seed(1))
    per_window = noise.reshape(2, 4, 4, 6, 6)
    for k in (1, 2, 3):
        assert torch.equal(per_window[:, k], rotate_stacked_velocity(per_window[:, 0], k))
    assert 0.3 < float(noise.std()) < 0.7 and not torch.equal(per_window[0], per_window[1])
    with pytest.raises(ValueError, match="multiple of 4"):
        orbit_noise((6, 4, 6, 6), 0.5, torch.Generator())
    with pytest.raises(ValueError, match="input_noise"):
        TrainConfig(input_noise=-1.0)


@pytest.mark.parametrize("bad", [0, -1.0, 101, float("nan"), "2"])
def test_relaxed_clip_out_of_range_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="relaxed_clip"):
        TrainConfig(relaxed_clip=bad)


@pytest.mark.parametrize("bad", [-0.1, 101, float("nan"), "1"])
def test_relaxed_decay_out_of_range_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="relaxed_decay"):
        TrainConfig(relaxed_decay=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", 5, 7])
def test_relaxed_hold_that_never_releases_or_is_not_a_count_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="relaxed_hold"):
        TrainConfig(epochs=5, relaxed_hold=bad)


@pytest.mark.parametrize("bad", [-0.1, 101, float("nan"), "1"])
def test_window_weighting_out_of_range_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="window_weighting"):
        TrainConfig(window_weighting=bad)


def test_window_weighting_needs_two_rollout_steps():
    with pytest.raises(ValueError, match="window_weighting needs rollout_steps >= 2"):
        TrainConfig(window_weighting=1.0, rollout_steps=1)


class _Persistence(torch.nn.Module):
    """Predicts the newest input frame: its error on a window is that window's own change."""

    def forward(self, x):
        return x[:, -2:]

    def regularization_loss(self):
        return torch.zeros(())


def test_window_weighting_lets_small_changes_count_as_much_as_large_ones():
    from core.train.trainer import step_loss

    g = torch.Generator().manual_seed(0)
    x = torch.zeros(2, 4, 8, 8)
    steps = torch.randn(1, 1, 2, 8, 8, generator=g).cumsum(0) * torch.arange(1, 3).view(1, 2, 1, 1, 1)
    y = torch.cat([steps, 10 * steps])  # window 1: the same flow, ten times faster
    plain = float(step_loss(_Persistence(), x, y))
    # Plain MSE is dominated by the fast window (100 x the slow one's error)...
    slow = float(step_loss(_Persistence(), x[:1], y[:1]))
    assert plain == pytest.approx(slow * (1 + 100) / 2, rel=1e-5)
    # ...weighted by 1 / (own change + c) with c small, each window counts by its relative error.
    weighted = float(step_loss(_Persistence(), x, y, weighting=1e-6))
    change = ((y[:, 1] - y[:, 0]) ** 2).mean(dim=(1, 2, 3))
    per_window = ((y - 0) ** 2).mean(dim=(2, 3, 4)).sum(dim=1)
    expected = (per_window / (change + 1e-6)).sum() / (1 / (change + 1e-6)).sum()
    assert weighted == pytest.approx(float(expected), rel=1e-5)
    assert weighted < plain / 10


@pytest.mark.parametrize("bad", [3, 0, -4, 2.5, True])
def test_max_train_windows_below_four_is_refused_in_words_a_user_knows(bad):
    wanted = r"max_train_windows must be an integer >= 4 \(or left out"
    with pytest.raises(ValueError, match=wanted) as refused:
        TrainConfig(max_train_windows=bad)
    assert "None" not in str(refused.value)
