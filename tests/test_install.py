"""A fresh machine installs exactly what was tested: README, .ci/run and constraints.txt agree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt line {line!r} is not an exact pin (name==version)"
            pins[name.lower().replace("_", "-")] = version
    return pins


def _required(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            names.append(re.split(r"[<>=!~\[; ]", line)[0].lower().replace("_", "-"))
    return names


def test_every_requirement_is_pinned_exactly_in_constraints():
    pins = _pins()
    for req in ("requirements.txt", "requirements-dev.txt"):
        missing = [name for name in _required(ROOT / req) if name not in pins]
        assert not missing, f"{req} names {missing}, which constraints.txt does not pin (bash .ci/lock)"
    assert pins["torch"] == "2.13.0", "torch must stay 2.13.0 so a CPU machine takes the CPU build"


def test_readme_and_ci_install_with_the_constraints_and_run_the_same_tests():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = "python -m pip install -r requirements-dev.txt -c constraints.txt && python -m pytest"
    assert test_command in readme and test_command in ci
    assert "pip install -r requirements.txt -c constraints.txt && streamlit run dashboard/app.py" in readme
    assert "python3 -m venv" in ci, "CI must run in a brand-new virtual environment"


def test_readme_first_screen_holds_the_two_commands_and_links_the_results():
    """A newcomer finds what to type without scrolling: both commands in the first 60 lines,
    the results (the long discussion) one link away."""
    first_screen = (ROOT / "README.md").read_text().splitlines()[:60]
    commands = [line.strip() for line in first_screen if line.startswith("    ")]
    install = "python -m pip install -r requirements.txt -c constraints.txt && streamlit run dashboard/app.py"
    tests = "python -m pip install -r requirements-dev.txt -c constraints.txt && python -m pytest"
    assert any(line.startswith("python3 -m venv") and line.endswith(install) for line in commands), commands
    assert tests in commands, commands
    assert "## Results" in first_screen and any("docs/RESULTS.md" in line for line in first_screen)
    assert (ROOT / "docs" / "RESULTS.md").is_file()
    picture = next(line for line in first_screen if line.startswith("!["))
    image = ROOT / picture[picture.index("(") + 1 : picture.index(")")]
    assert image.is_file() and image.stat().st_size < 300_000
