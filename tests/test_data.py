"""The smoke-plume data engine: config validation, real PhiFlow runs, files, cache and CLI."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
from conftest import TINY_CONFIG

from core.data import (
    FORMAT_VERSION,
    DataConfig,
    DatasetFileError,
    dataset_path,
    ensure_dataset,
    generate_dataset,
    load_dataset,
    orientation_geometry,
    write_dataset,
)
from core.data.simulate import simulate
from core.store.paths import PROJECT_ROOT
from core.symmetry import data_equivariance_error

SMALL = {"grid": 16, "frames": 8, "sims": 1}

# ------------------------------------------------------------------------- config

BAD_FIELDS = [
    ("grid", 15),
    ("grid", 4),
    ("grid", 16.0),
    ("frames", 1),
    ("sims", 0),
    ("buoyancy", 0.0),
    ("buoyancy", float("nan")),
    ("buoyancy_diff", -0.1),
    ("buoyancy_diff", "0.2"),
    ("inflow_radius", 0.0),
    ("inflow_rate", -1.0),
    ("inflow_offset", -0.1),
    ("inflow_offset", 0.45),
    ("sim_variation", 0.95),
    ("dt", 0.0),
    ("seed", -1),
    ("seed", True),
    ("warmup", -1),
    ("warmup", 2.5),
]


@pytest.mark.parametrize(("name", "value"), BAD_FIELDS, ids=[f"{n}={v!r}" for n, v in BAD_FIELDS])
def test_invalid_field_raises_value_error_naming_it(name, value):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        DataConfig(**{name: value})


def test_config_round_trip_and_hash():
    cfg = DataConfig(grid=32, buoyancy_diff=0.2, seed=3)
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    assert DataConfig(buoyancy=1).digest() == DataConfig(buoyancy=1.0).digest()
    assert cfg.digest() != DataConfig(grid=32, buoyancy_diff=0.3, seed=3).digest()
    # No warm-up hashes as before the field existed (the shipped files keep their names).
    assert DataConfig(grid=32, frames=40, sims=4, buoyancy_diff=0.3).digest() == "d85d8a0f81d9"
    assert cfg.digest() != DataConfig(grid=32, buoyancy_diff=0.2, seed=3, warmup=1).digest()
    with pytest.raises(ValueError, match="unknown DataConfig field.*colour"):
        DataConfig.from_dict({"colour": 1})


def test_orientation_geometry_rotates_inflow_and_buoyancy():
    cfg = DataConfig(grid=16, sims=2, buoyancy=0.5, buoyancy_diff=0.3, sim_variation=0.0)
    geo = orientation_geometry(cfg)
    centre = np.array([8.0, 8.0])
    offsets = geo["center"][::2] - centre  # first simulation of each orientation
    d = round(cfg.inflow_offset * 16 * 64) / 64
    np.testing.assert_array_equal(offsets, [[0, -d], [d, 0], [0, d], [-d, 0]])  # bottom, right, top, left
    # Opposite inflows are exact mirror images about the centre (no rounding asymmetry).
    firsts = geo["center"][::2]
    np.testing.assert_array_equal(firsts[:2] + firsts[2:], [2 * centre, 2 * centre])
    dirs = geo["buoyancy"][::2]
    strengths = np.linalg.norm(dirs, axis=1)
    np.testing.assert_allclose(strengths, 0.5 * (1 + 0.3 * np.arange(4)))
    np.testing.assert_allclose(dirs / strengths[:, None], [[0, 1], [-1, 0], [0, -1], [1, 0]], atol=0)


def test_simulations_of_one_orientation_differ_identically_across_orientations():
    geo = orientation_geometry(DataConfig(grid=16, sims=3, sim_variation=0.2))
    radius = geo["radius"].reshape(4, 3)
    assert len(set(radius[0])) == 3  # the S simulations really differ
    np.testing.assert_array_equal(radius, np.broadcast_to(radius[0], (4, 3)))


# -------------------------------------------------------------------- physics


@pytest.mark.parametrize("solver", ["dct", "scipy"])
def test_zero_buoyancy_difference_is_c4_symmetric(solver):
    calls = []
    run = simulate(DataConfig(**SMALL, buoyancy_diff=0.0), lambda f, m="": calls.append(f), solver=solver)
    velocity, smoke = run.velocity, run.smoke
    assert velocity.shape == (4, 1, 8, 2, 16, 16) and smoke.shape == (4, 1, 8, 16, 16)
    assert calls == [t / 8 for t in range(1, 9)]
    scale = float(np.abs(velocity).mean())
    assert scale > 1e-3  # the plume really moves
    assert smoke[0, 0, -1].sum() > smoke[0, 0, 0].sum() > 0  # smoke accumulates
    # The exact DCT projection keeps the symmetry to rounding; SciPy CG to its tolerance.
    assert data_equivariance_error(velocity) < (1e-10 if solver == "dct" else 1e-8) * scale
    assert run.data_ee_one_step.shape == (4, 1, 7) and run.data_ee_one_step.max() == 0.0
    # k = 0 rises: the mean vertical velocity of orientation 0 is upward.
    assert velocity[0, 0, -1, 1].mean() > 0


def test_dct_engine_matches_the_scipy_reference():
    config = DataConfig(**SMALL, buoyancy_diff=0.3)
    new, ref = simulate(config, solver="dct"), simulate(config, solver="scipy")
    assert np.abs(new.velocity - ref.velocity).max() < 1e-8 * np.abs(ref.velocity).max()
    assert np.abs(new.smoke - ref.smoke).max() < 1e-8 * np.abs(ref.smoke).max()
    np.testing.assert_allclose(new.data_ee_one_step, ref.data_ee_one_step, rtol=1e-8)


def test_unknown_solver_or_device_is_refused():
    with pytest.raises(ValueError, match="solver must be one of dct, scipy"):
        simulate(DataConfig(**SMALL), solver="cg")
    with pytest.raises(ValueError, match="device must be one of"):
        simulate(DataConfig(**SMALL), device="tpu")


def test_warmup_skips_the_first_steps_and_keeps_everything_after():
    full = simulate(DataConfig(**{**SMALL, "frames": 6}, buoyancy_diff=0.3))
    late = simulate(DataConfig(**{**SMALL, "frames": 3}, buoyancy_diff=0.3, warmup=3))
    np.testing.assert_allclose(late.velocity, full.velocity[:, :, 3:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(late.smoke, full.smoke[:, :, 3:], rtol=0, atol=1e-12)
    np.testing.assert_allclose(late.data_ee_one_step, full.data_ee_one_step[:, :, 3:], rtol=0, atol=1e-12)


def test_larger_buoyancy_difference_gives_larger_data_equivariance_error():
    deltas = (0.1, 0.3, 0.6)
    errors = [data_equivariance_error(simulate(DataConfig(**SMALL, buoyancy_diff=d))[0]) for d in deltas]
    assert errors[0] > 0
    assert errors[0] < errors[1] < errors[2], errors


# ----------------------------------------------------------------------- files


def test_tiny_dataset_file_is_self_describing(tiny_dataset_path):
    ds = load_dataset(tiny_dataset_path)
    cfg = DataConfig(**TINY_CONFIG)
    assert ds.config == cfg
    assert ds.velocity.dtype == np.float32 and ds.velocity.shape == (4, 2, 12, 2, 16, 16)
    assert ds.smoke.dtype == np.float32 and ds.smoke.shape == (4, 2, 12, 16, 16)
    assert ds.data_ee_trajectory == pytest.approx(data_equivariance_error(ds.velocity), rel=1e-12)
    assert ds.data_equivariance_error == ds.data_ee_trajectory > 0
    assert ds.data_ee_one_step.dtype == np.float64 and ds.data_ee_one_step.shape == (4, 2, 11)
    assert ds.data_ee_one_step_mean == pytest.approx(ds.data_ee_one_step.mean(), rel=1e-12)
    # The one-step error is much smaller than the trajectory one (REFERENCE.md section 8).
    assert 0 < ds.data_ee_one_step_mean < ds.data_ee_trajectory
    assert ds.attrs["data_ee_one_step"] == ds.data_ee_one_step_mean
    assert ds.attrs["format_version"] == FORMAT_VERSION
    assert ds.attrs["phiflow_version"].startswith("3.")
    assert tiny_dataset_path == dataset_path(cfg)
    with h5py.File(tiny_dataset_path) as f:
        assert f["velocity"].compression == "gzip"


def test_written_file_reloads_identically(tiny_dataset_path, tmp_path):
    ds = load_dataset(tiny_dataset_path)
    out = write_dataset(
        tmp_path / "copy.h5", ds.velocity, ds.smoke, ds.config, ds.data_ee_trajectory, ds.data_ee_one_step
    )
    again = load_dataset(out)
    np.testing.assert_array_equal(again.velocity, ds.velocity)
    np.testing.assert_array_equal(again.smoke, ds.smoke)
    np.testing.assert_array_equal(again.data_ee_one_step, ds.data_ee_one_step)
    assert again.config == ds.config
    assert again.data_equivariance_error == ds.data_equivariance_error
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_write_rejects_arrays_that_do_not_match_config(tiny_dataset_path, tmp_path):
    ds = load_dataset(tiny_dataset_path)
    with pytest.raises(ValueError, match="velocity shape"):
        write_dataset(tmp_path / "bad.h5", ds.velocity[:, :1], ds.smoke, ds.config, 0.0, ds.data_ee_one_step)
    with pytest.raises(ValueError, match="data_ee_one_step shape"):
        write_dataset(
            tmp_path / "bad.h5", ds.velocity, ds.smoke, ds.config, 0.0, ds.data_ee_one_step[..., 1:]
        )
    assert not (tmp_path / "bad.h5").exists()


def test_ensure_dataset_reuses_the_cached_file(tiny_dataset_path):
    before = tiny_dataset_path.stat().st_mtime_ns
    calls = []
    assert ensure_dataset(DataConfig(**TINY_CONFIG), lambda f, m="": calls.append(f)) == tiny_dataset_path
    assert tiny_dataset_path.stat().st_mtime_ns == before
    assert calls == [1.0]


def test_truncated_file_gives_clear_error(tiny_dataset_path, tmp_path):
    bad = tmp_path / "truncated.h5"
    data = tiny_dataset_path.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFileError, match="truncated.h5"):
        load_dataset(bad)


def test_corrupted_chunks_give_clear_error(tiny_dataset_path, tmp_path):
    bad = tmp_path / "corrupted.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad) as f:
        offset = f["velocity"].id.get_chunk_info(0).byte_offset
    with open(bad, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 64)  # garbage in the middle of a gzip stream
    with pytest.raises(DatasetFileError, match="corrupted.h5"):
        load_dataset(bad)


def test_non_hdf5_and_missing_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not an HDF5 file")
    with pytest.raises(DatasetFileError, match="notes.h5"):
        load_dataset(text)
    with pytest.raises(DatasetFileError, match="absent.h5.*does not exist"):
        load_dataset(tmp_path / "absent.h5")


def test_missing_field_is_named(tiny_dataset_path, tmp_path):
    bad = tmp_path / "nosmoke.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad, "r+") as f:
        del f["smoke"]
    with pytest.raises(DatasetFileError, match="nosmoke.h5 is missing smoke"):
        load_dataset(bad)


def test_older_format_version_is_refused(tiny_dataset_path, tmp_path):
    old = tmp_path / "v1.h5"
    shutil.copy(tiny_dataset_path, old)
    with h5py.File(old, "r+") as f:
        f.attrs["format_version"] = 1
    with pytest.raises(DatasetFileError, match="v1.h5 has format version 1, expected 2"):
        load_dataset(old)


@pytest.mark.parametrize("name", ["velocity", "smoke"])
def test_non_finite_values_are_refused_naming_the_first_bad_frame(name, tiny_dataset_path, tmp_path):
    bad = tmp_path / f"nan-{name}.h5"
    shutil.copy(tiny_dataset_path, bad)
    with h5py.File(bad, "r+") as f:
        values = f[name][()]
        values[2, 1, 5, ..., 3] = np.inf
        values[3, 0, 0, ..., 0] = np.nan  # a later orientation: not the first bad one
        f[name][...] = values
    pattern = rf"nan-{name}.h5: {name} holds non-finite values, first at .* = \(2, 1, 5\)"
    with pytest.raises(DatasetFileError, match=pattern):
        load_dataset(bad)


def test_file_larger_than_memory_is_refused_before_reading(tiny_dataset_path, monkeypatch):
    import core.data.store as store

    monkeypatch.setattr(store, "available_memory_bytes", lambda: 1000)
    with pytest.raises(
        DatasetFileError, match=r"smoke-.*\.h5 declares arrays of .*GiB.*velocity \(4, 2, 12, 2"
    ):
        load_dataset(tiny_dataset_path)


# ---------------------------------------------------------------------- memory


def test_estimated_bytes_counts_the_arrays():
    cfg = DataConfig(grid=16, frames=10, sims=2)
    arrays = 4 * 2 * 10 * 3 * 16 * 16 * 8
    assert cfg.estimated_bytes() > arrays * 1.5  # float64 arrays, float32 copies, working space
    # Ten more frames cost their float64 arrays and float32 copies, and nothing else.
    assert DataConfig(grid=16, frames=20, sims=2).estimated_bytes() - cfg.estimated_bytes() == arrays * 3 // 2
    assert DataConfig(grid=32, frames=10, sims=2).estimated_bytes() == 4 * cfg.estimated_bytes()


def test_config_too_large_for_memory_is_refused_before_allocating(tmp_path):
    huge = DataConfig(grid=256, frames=10_000, sims=1_000)
    assert huge.estimated_bytes() > 2**45
    pattern = r"grid 256, frames 10000, sims 1000 needs about [\d.e+]+ GiB .* only [\d.]+ GiB are available"
    for call in (
        lambda: simulate(huge),
        lambda: ensure_dataset(huge),
        lambda: generate_dataset(huge, tmp_path / "huge.h5"),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()
    assert not (tmp_path / "huge.h5").exists()


def test_simulation_with_non_finite_values_is_not_written(monkeypatch, tmp_path):
    sim = importlib.import_module("core.data.simulate")  # the package's `simulate` is the function
    real_step = sim.SmokeStepper.step
    calls = []

    def poisoned(self, state):
        new, scale = real_step(self, state)
        calls.append(1)
        if len(calls) == 4:  # frame 3 of member 2 (orientation 2, simulation 0)
            new.smoke[2, 5, 5] = float("nan")
        return new, scale

    monkeypatch.setattr(sim.SmokeStepper, "step", poisoned)
    with pytest.raises(ValueError, match=r"non-finite smoke .* = \(2, 0, 3\); nothing was written"):
        generate_dataset(DataConfig(grid=16, frames=6, sims=1), tmp_path / "nan.h5")
    assert not (tmp_path / "nan.h5").exists()


# ------------------------------------------------------------------------- CLI


def _cli(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "APPROXSYM_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "core.data", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, env=env
    )


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--grid", "15"], "grid"),
        (["--buoyancy-diff", "x"], "--buoyancy-diff"),
        (["--out", "a.txt"], "--out"),
    ],
)
def test_cli_bad_argument_exits_with_one_line(args, named, tmp_path):
    result = _cli(*args, data_dir=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_cli_writes_a_loadable_file(tmp_path):
    out = tmp_path / "cli.h5"
    args = ["--grid", "16", "--frames", "3", "--sims", "1", "--buoyancy-diff", "0.2", "--out", str(out)]
    result = _cli(*args, data_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frame 3/3" in result.stderr
    assert str(out) in result.stdout and "data equivariance error" in result.stdout
    ds = load_dataset(out)
    assert ds.config.buoyancy_diff == 0.2 and ds.velocity.shape == (4, 1, 3, 2, 16, 16)
