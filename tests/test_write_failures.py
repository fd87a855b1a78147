"""A write that fails (a full disk, simulated) says so in one line naming the file and the cause,
and leaves the earlier files as they were (issue 28, point 7).

A full disk is simulated with RLIMIT_FSIZE in a child process (SIGXFSZ ignored, so a write past
the limit fails with EFBIG, as a full disk fails with ENOSPC): it needs no privileges, and the
tests run as root, which a read-only folder would not stop.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import TINY_CONFIG, TINY_TRAINING

ROOT = Path(__file__).resolve().parents[1]

#: Run in the child before the limit: what the limit is set by (after the earlier files are written).
LIMIT = """
import resource, signal
def limit_file_size(size):
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
"""


def _run(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python (the project importable, data dir in ``tmp_path``)."""
    environ = {**os.environ, "APPROXSYM_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-c", LIMIT + textwrap.dedent(code)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line(proc: subprocess.CompletedProcess, path: Path) -> str:
    """The child's one printed line, checked to name ``path`` and the cause."""
    assert proc.returncode == 0, f"rc {proc.returncode}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout
    assert lines[0] == f"WriteError could not write {path}: " + (
        "file too large (the file-size limit of this process or file system was reached)"
    )
    return lines[0]


def _no_temporary_files(folder: Path) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_dataset_write_on_a_full_disk_is_one_line_and_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "data" / "datasets" / "smoke-test.h5"
    proc = _run(
        f"""
        import numpy as np
        from core.data import DataConfig, write_dataset
        config = DataConfig(**{TINY_CONFIG!r})
        n, t, s = config.grid, config.frames, config.sims
        rng = np.random.default_rng(0)
        def arrays():
            return (rng.normal(size=(4, s, t, 2, n, n)), rng.random((4, s, t, n, n)), 0.1,
                    rng.random((4, s, t - 1)))
        velocity, smoke, trajectory, one_step = arrays()
        write_dataset({str(path)!r}, velocity, smoke, config, trajectory, one_step)
        limit_file_size(4096)
        velocity, smoke, trajectory, one_step = arrays()
        try:
            write_dataset({str(path)!r}, velocity, smoke, config, trajectory, one_step)
        except OSError as exc:
            print(type(exc).__name__, exc)
        """,
        tmp_path,
    )
    before = path.read_bytes()
    _one_line(proc, path)
    assert path.read_bytes() == before
    from core.data import load_dataset

    assert load_dataset(path).velocity.shape[0] == 4  # the earlier file still loads
    _no_temporary_files(path.parent)


def test_checkpoint_write_on_a_full_disk_is_one_line_and_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    proc = _run(
        f"""
        import torch
        from core.models import ModelConfig, model_from_config
        from core.store.runs import save_checkpoint
        model = model_from_config(ModelConfig.for_model("convnet", hidden=8, layers=2).to_dict())
        save_checkpoint({str(path)!r}, model, scale=2.0)
        limit_file_size(1024)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        try:
            save_checkpoint({str(path)!r}, model, scale=3.0)
        except OSError as exc:
            print(type(exc).__name__, exc)
        """,
        tmp_path,
    )
    before = _digest(path)
    _one_line(proc, path)
    assert _digest(path) == before
    from core.store.runs import read_payload

    assert read_payload(path)["scale"] == 2.0
    _no_temporary_files(path.parent)


def test_run_json_write_on_a_full_disk_is_one_line_and_a_done_run_stays_done(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run(
        f"""
        from pathlib import Path
        from core.store.runs import update_run_json, write_run_json
        write_run_json(Path({str(run_dir)!r}), {{"run_id": "r", "status": "done"}})
        limit_file_size(512)
        try:
            update_run_json(Path({str(run_dir)!r}), label="x" * 2000)
        except OSError as exc:
            print(type(exc).__name__, exc)
        """,
        tmp_path,
    )
    before = (run_dir / "run.json").read_bytes()
    _one_line(proc, run_dir / "run.json")
    assert (run_dir / "run.json").read_bytes() == before
    assert json.loads(before)["status"] == "done"
    _no_temporary_files(run_dir)


def test_a_later_status_never_replaces_a_finished_runs_done(tmp_path):
    from core.store.runs import read_run, update_run_json, write_run_json

    write_run_json(tmp_path, {"run_id": "r", "status": "done"})
    update_run_json(tmp_path, status="failed", error="could not write x: disk full")
    assert read_run(tmp_path).status == "done"
    assert "error" not in read_run(tmp_path).config
    update_run_json(tmp_path, status="running")  # a resume that trains it further
    assert read_run(tmp_path).status == "running"


def test_sweep_results_write_on_a_full_disk_is_one_line_and_keeps_the_earlier_file(tmp_path):
    out = tmp_path / "sweep"
    proc = _run(
        f"""
        from pathlib import Path
        from core.sweep.results import write_results
        out = Path({str(out)!r})
        out.mkdir()
        record = {{"sweep_id": "s", "status": "running"}}
        write_results(out, record, [{{"level": 0.0, "model": "convnet", "status": "done"}}])
        limit_file_size(2048)
        rows = [{{"level": float(i), "model": "convnet", "status": "done", "note": "x" * 100}}
                for i in range(40)]
        try:
            write_results(out, {{**record, "status": "done"}}, rows)
        except OSError as exc:
            print(type(exc).__name__, exc)
        """,
        tmp_path,
    )
    before = (out / "results.json").read_bytes()
    _one_line(proc, out / "results.json")
    assert (out / "results.json").read_bytes() == before
    assert json.loads(before)["status"] == "running" and len(json.loads(before)["rows"]) == 1
    _no_temporary_files(out)


def test_a_training_that_cannot_write_its_checkpoint_ends_failed_with_the_line(tmp_path, tiny_dataset_path):
    """run.json (small) can be written, the checkpoint (larger) cannot: the CLI says one line,
    and run.json says 'failed' with the same line."""
    limit = 6000
    args = ["--model", "convnet", "--hidden", "16", "--data", str(tiny_dataset_path), "--device", "cpu"]
    args += [f"--{k.replace('_', '-')}={v}" for k, v in TINY_TRAINING.items()]
    proc = _run(
        f"""
        import sys
        from core.train.__main__ import main
        limit_file_size({limit})
        sys.exit(main({args!r}))
        """,
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "data" / "runs").iterdir()
    # The error may follow the progress bar's last (unfinished) line: find it wherever it starts.
    error_lines = re.findall(r"error: [^\r\n]*", proc.stderr)
    expected = f"could not write {run_dir / 'checkpoint.pt'}: file too large"
    assert len(error_lines) == 1 and expected in error_lines[0], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "failed"
    assert record["error"].startswith(expected) and "\n" not in record["error"]
    assert not (run_dir / "checkpoint.pt").exists()
    _no_temporary_files(run_dir)


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "disk full (no space left on the device)"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only file system"),
    ],
)
def test_each_cause_of_a_failed_write_is_named(code, cause, tmp_path, monkeypatch):
    """The causes RLIMIT_FSIZE cannot make (root ignores a read-only folder): the rename fails."""
    from core.store import atomic

    atomic.write_json(tmp_path / "run.json", {"status": "done"})

    def refuse(src, dst):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(atomic.WriteError) as caught:
        atomic.write_json(tmp_path / "run.json", {"status": "failed"})
    assert str(caught.value) == f"could not write {tmp_path / 'run.json'}: {cause}"
    assert caught.value.errno == code and isinstance(caught.value, OSError)
    assert json.loads((tmp_path / "run.json").read_text()) == {"status": "done"}
    _no_temporary_files(tmp_path)


def test_a_real_full_disk_is_named_disk_full(tmp_path):
    """A 64 KiB tmpfs, where this machine lets the tests mount one (root); skipped elsewhere."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        path = disk / "run" / "checkpoint.pt"
        proc = _run(
            f"""
            from core.models import ModelConfig, model_from_config
            from core.store.runs import save_checkpoint
            small = model_from_config(ModelConfig.for_model("convnet", hidden=8, layers=2).to_dict())
            save_checkpoint({str(path)!r}, small)
            large = model_from_config(ModelConfig.for_model("convnet", hidden=64, layers=4).to_dict())
            try:
                save_checkpoint({str(path)!r}, large)
            except OSError as exc:
                print(type(exc).__name__, exc)
            """,
            tmp_path,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert (
            proc.stdout.strip()
            == f"WriteError could not write {path}: disk full (no space left on the device)"
        )
        from core.store.runs import read_payload

        assert read_payload(path)["model_config"]["hidden"] == 8  # the earlier checkpoint
        _no_temporary_files(path.parent)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_the_data_cli_on_a_full_disk_says_one_line(tmp_path):
    out = tmp_path / "smoke.h5"
    args = ["--grid", "16", "--frames", "4", "--sims", "1", "--quiet", "--out", str(out)]
    proc = _run(
        f"""
        import sys
        from core.data.__main__ import main
        limit_file_size(4096)
        sys.exit(main({args!r}))
        """,
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines() == [
        f"error: could not write {out}: file too large (the file-size limit of this process or file system "
        "was reached)"
    ]
    assert not out.exists()
    _no_temporary_files(tmp_path)


def test_the_sweep_cli_on_a_full_disk_says_one_line(tmp_path):
    args = ["--levels", "0", "--models", "convnet", "--grid", "16", "--frames", "12", "--epochs", "1"]
    proc = _run(
        f"""
        import sys
        from core.sweep.__main__ import main
        limit_file_size(600)  # below results.json's first record (its config and resolved settings)
        sys.exit(main({args!r}))
        """,
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "data" / "sweeps").iterdir()
    errors = re.findall(r"error: [^\r\n]*", proc.stderr)
    assert errors == [
        f"error: could not write {sweep / 'results.json'}: file too large (the file-size limit of this "
        "process or file system was reached)"
    ], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    _no_temporary_files(sweep)
