"""The layer rules `make lint` enforces (import-linter, configured in pyproject.toml) catch a planted
Django import in the engine and a planted import up the layers."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REPO

# The packages the layer contracts name, so that a new app is copied as soon as it is configured.
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The project's code and configuration, to plant imports in without touching the checkout."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "static")
        )
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(command), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


def planted(copy: Path, tmp_path: Path, module: str, line: str) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(copy, root)
    path = root / module
    path.write_text(f"{line}\n{path.read_text()}")
    return root


def test_the_layers_hold_as_the_code_stands(copy):
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_django_import_in_the_engine_fails_lint(copy, tmp_path):
    result = lint_imports(planted(copy, tmp_path, "engine/qof.py", "import django.db  # noqa"))
    assert result.returncode != 0
    assert "The engine is pure: no Django, no project code BROKEN" in result.stdout


def test_an_import_up_the_layers_fails_lint(copy, tmp_path):
    result = lint_imports(
        planted(copy, tmp_path, "accounts/selectors.py", "import reports.selectors  # noqa")
    )
    assert result.returncode != 0
    assert "Apps depend only on the apps below them BROKEN" in result.stdout


def test_an_action_importing_a_task_fails_lint(copy, tmp_path):
    result = lint_imports(
        planted(copy, tmp_path, "calculation/actions.py", "import calculation.tasks  # noqa")
    )
    assert result.returncode != 0
    assert "Writes and reads never reach up to pages or tasks BROKEN" in result.stdout
