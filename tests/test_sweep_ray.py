"""A tiny Figure-4 sweep on a local Ray (2 CPUs): same rows and files as the local engine; a
killed Ray sweep resumes to the uninterrupted rows; ``--address`` joins a Ray head started apart
on loopback, and an unreachable address fails in one line.

One Ray start for the whole module (about 7 s), shut down at the end. Skipped when ray
is not installed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -r requirements.txt)")

from conftest import TINY_CONFIG  # noqa: E402
from test_sweep_resume import (  # noqa: E402
    CLI_OPTIONS,
    assert_same_rows,
    kill_after_first_row,
    tiny_config,
    wait_for,
)

from core.service import sweeps  # noqa: E402
from core.store.paths import PROJECT_ROOT  # noqa: E402
from core.store.runs import dataset_path_of  # noqa: E402
from core.sweep import CSV_COLUMNS, SweepConfig, list_sweeps, resume_sweep, run_sweep  # noqa: E402
from core.sweep.ray_engine import connect  # noqa: E402
from core.train.checkpoints import load_run  # noqa: E402

MODELS = ("convnet", "rsteer")
SMALL = {"hidden": 8, "layers": 2}


def _config(levels=(0.0, TINY_CONFIG["buoyancy_diff"]), models=MODELS) -> SweepConfig:
    return SweepConfig(
        levels=levels,
        models=models,
        data={k: TINY_CONFIG[k] for k in ("grid", "frames", "sims")},
        train={"epochs": 1, "batch_size": 4, "rollout_steps": 2, "max_train_windows": 8, "eval_steps": 3},
        model_options={m: dict(SMALL) for m in models},
    )


@pytest.fixture(scope="module")
def local_ray():
    assert connect(num_cpus=2), "a Ray was already running in this process"
    yield
    ray.shutdown()


@pytest.fixture
def env(tmp_data_dir, tiny_dataset_path, monkeypatch, tmp_path):
    # The 0.3 level is already in the head's cache (shipped to the tasks); level 0 is made by a task.
    monkeypatch.setenv("APPROXSYM_ASSETS_DIR", str(tmp_path / "no-assets"))
    return tmp_data_dir


def test_ray_sweep_writes_what_the_local_engine_writes(local_ray, env):
    seen = []
    result = run_sweep(_config(), progress=lambda f, m="", **k: seen.append(f), engine="ray")
    assert result.status == "done"
    assert seen[-1] == pytest.approx(1.0)
    assert [(r["level"], r["model"]) for r in result.rows] == [(0.0, m) for m in MODELS] + [
        (0.3, m) for m in MODELS
    ]
    stored = json.loads((result.path / "results.json").read_text())
    assert stored["status"] == "done" and stored["engine"] == "ray" and stored["rows"] == result.rows
    header = (result.path / "results.csv").read_text().splitlines()[0]
    assert header == ",".join(CSV_COLUMNS)
    for row in result.rows:
        assert row["status"] == "done" and row["rmse_future"] > 0 and row["model_ee_mean"] is not None
        run = load_run(row["run_id"])  # the run folder arrived in the head's data directory
        assert run.info.path.parent == env / "runs"
        assert set(run.info.paths) == {"run", "checkpoint", "history", "metrics", "evaluation"}
        assert dataset_path_of(run.info) == env / "datasets" / row["dataset"]  # the head's copy
        assert run.info.config["sweep_id"] == result.sweep_id  # findable without the sweep's rows
    assert result.rows[0]["data_ee_one_step"] < 1e-9 < result.rows[2]["data_ee_one_step"]
    assert result.rows[0]["data_ee_trajectory"] < 1e-6 < result.rows[2]["data_ee_trajectory"]
    assert result.sweep_id in [s["sweep_id"] for s in list_sweeps()]
    # Each row carries Figure 4's point frame by frame, and the page reads it back per level.
    for row in result.rows:
        by_frame = row["ee_by_frame"]
        assert np.mean(by_frame["model"]) == pytest.approx(row["model_ee_mean"], rel=1e-4)
        assert np.mean(by_frame["data"]) == pytest.approx(row["data_ee_one_step"], rel=1e-4, abs=1e-12)
        assert [name for name, _, _ in by_frame["regions"]] == ["training", "validation", "test-future"]
    assert sweeps.sweep_frame_levels(result.path) == [0.0, 0.3]
    shown = sweeps.sweep_ee_by_frame(result.path, 0.3)
    assert [r["label"] for r in shown["runs"]] == ["ConvNet", "RSteer"] and shown["regions"]
    assert "ee_by_frame" not in sweeps.sweep_csv(result.path).decode().splitlines()[0]

    # The local engine, on one (level, model) of the same sweep, writes rows with the same fields
    # and the same data equivariance error (the dataset is the one the Ray task made).
    local = run_sweep(_config(levels=(0.0,), models=("convnet",)))
    assert list(local.rows[0]) == list(result.rows[0])
    assert local.rows[0]["data_ee_one_step"] == result.rows[0]["data_ee_one_step"]
    assert local.rows[0]["dataset"] == result.rows[0]["dataset"]
    assert load_run(local.rows[0]["run_id"]).info.config["sweep_id"] == local.sweep_id
    assert "engine" not in json.loads((local.path / "results.json").read_text())


def test_the_local_ray_listens_on_loopback_only(local_ray):
    children = _descendants(os.getpid())  # the GCS, raylet, agents and workers this process started
    listening = _listening(children)
    assert listening and all(a.startswith("127.") for a in listening), listening


def test_ray_sweep_stops_when_asked(local_ray, env):
    result = run_sweep(_config(models=("convnet",)), should_stop=lambda: True, engine="ray")
    assert result.status == "cancelled" and result.rows == []
    assert json.loads((result.path / "results.json").read_text())["status"] == "cancelled"


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="engine"):
        run_sweep(_config(), engine="slurm")


#: Six levels: Ray runs a sweep's trainings at once, and on a quiet machine the four of two levels
#: all finished within the 0.05 s between the first row and the kill; twelve take seconds longer.
KILLED_LEVELS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


def test_a_killed_ray_sweep_settles_and_resumes_on_ray_to_the_uninterrupted_rows(local_ray, env):
    from dataclasses import replace

    levels = ",".join(f"{level:g}" for level in KILLED_LEVELS)
    folder = kill_after_first_row([*CLI_OPTIONS, "--engine", "ray", "--levels", levels], env)
    left = json.loads((folder / "results.json").read_text())
    total = 2 * len(KILLED_LEVELS)
    assert left["status"] == "running" and left["engine"] == "ray" and 1 <= len(left["rows"]) < total
    (listed,) = [s for s in list_sweeps() if s["sweep_id"] == folder.name]
    assert listed["status"] == "interrupted"

    resumed = resume_sweep(folder.name)  # on the engine it ran on: the module's local Ray
    assert resumed.status == "done" and resumed.path == folder
    record = json.loads((folder / "results.json").read_text())
    assert record["status"] == "done" and record["engine"] == "ray"
    assert record["rows"][: len(left["rows"])] == left["rows"] or all(
        r in record["rows"] for r in left["rows"]
    )
    uninterrupted = run_sweep(replace(tiny_config(), levels=KILLED_LEVELS), engine="ray")
    assert_same_rows(record["rows"], uninterrupted.rows)


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.sweep", *args], cwd=PROJECT_ROOT, env={**os.environ, **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_unreachable_or_malformed_address_fails_in_one_line(env):
    from core.jobs import validate_params

    for address, said in [
        ("127.0.0.1:1", "error: cannot reach the Ray cluster at 127.0.0.1:1: Connection refused"),
        ("256.1.1.1:1", "error: --address: '256.1.1.1' is not an IPv4 address"),  # hung 120 s before
        ("127.0.0.1", "error: --address: expected HOST:PORT"),
    ]:
        out = _cli(*CLI_OPTIONS, "--engine", "ray", "--address", address)
        assert out.returncode == 2 and out.stderr.strip().splitlines() == [out.stderr.strip()], out.stderr
        assert out.stderr.startswith(said), out.stderr
    assert not (env / "sweeps").is_dir() or not any(
        json.loads(f.read_text()).get("address") for f in (env / "sweeps").glob("*/results.json")
    )  # nothing was started for them
    params = {"sweep_config": tiny_config().to_dict(), "engine": "ray", "address": "256.1.1.1:1"}
    with pytest.raises(ValueError, match="not an IPv4 address"):
        validate_params("sweep", params)


# ------------------------------------------------- a Ray head started apart, on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(pids: set[int]) -> list[str]:
    """The TCP addresses the processes ``pids`` listen on, from /proc (e.g. '127.0.0.1:6379')."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                match = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
                inodes.update([match.group(1)] if match else [])
        except OSError:
            continue  # ended meanwhile
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp's little-endian hex ``ADDR:PORT`` as text (IPv6 as its IPv4 when mapped)."""
    import ipaddress

    host, port = hex_address.split(":")
    raw = b"".join(bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, len(host), 8))
    ip = ipaddress.ip_address(raw)
    ip = getattr(ip, "ipv4_mapped", None) or ip
    return f"{ip}:{int(port, 16)}"


def _descendants(root: int) -> set[int]:
    """The live processes below ``root`` (children, their children...)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit():
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _group(leader: int, marker: str) -> set[int]:
    """The live processes of ``leader``'s process group, or whose command line names ``marker``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == leader or marker.encode() in (entry / "cmdline").read_bytes():
                pids.add(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.fixture
def loopback_head():
    """``ray start --head --block`` on 127.0.0.1 in its own process group; yields
    ``(address, pids)``, stops the group at the end (never ``ray stop``: it stops every Ray here)."""
    port, temp = _free_port(), tempfile.mkdtemp(prefix="rayh", dir="/tmp")  # short: socket paths
    # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps --node-ip-address 127.0.0.1: without it Ray swaps
    # a loopback address for the machine's network one and its servers listen on every interface.
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--include-dashboard=false", "--disable-usage-stats", "--num-cpus=1", f"--temp-dir={temp}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(port) or head.poll() is not None, 120, "the Ray head")
        assert head.poll() is None, "ray start --head ended"
        yield f"127.0.0.1:{port}", lambda: _group(head.pid, temp)
    finally:
        for sig, grace in ((signal.SIGTERM, 3), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(head.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                head.wait(timeout=grace)
        for pid in _group(head.pid, temp) - {head.pid}:  # any that left the group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_a_sweep_joins_a_ray_head_started_apart_on_loopback(loopback_head, env):
    address, head_pids = loopback_head
    out = _cli(
        "--levels", "0.3", "--models", "convnet", "--grid", "16", "--frames", "12", "--sims", "2",
        "--epochs", "1", "--hidden", "8", "--layers", "2", "--max-train-windows", "8", "--eval-steps", "3",
        "--engine", "ray", "--address", address, APPROXSYM_DATA_DIR=str(env),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    sweep_id = out.stdout.split()[1]
    record = json.loads((env / "sweeps" / sweep_id / "results.json").read_text())
    assert record["status"] == "done" and record["address"] == address and len(record["rows"]) == 1
    assert record["rows"][0]["status"] == "done" and record["rows"][0]["rmse_future"] > 0
    # Every server of the head (GCS, raylet, agents; workers included) listens on loopback only.
    listening = _listening(head_pids())
    assert any(a == address for a in listening), listening
    assert all(a.startswith("127.") for a in listening), listening
