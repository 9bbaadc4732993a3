"""A real release: the version, the package metadata, the typing marker and the CI steps that
build the sdist and the wheel and run the installed wheel."""

from __future__ import annotations

import tomllib
from pathlib import Path

import seatctl
from helpers import run_process

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_0_3_0_and_version_prints_it():
    assert seatctl.__version__ == "0.3.0"
    assert run_process("--version").out == "seatctl 0.3.0\n"


def test_the_license_is_an_spdx_expression():
    assert PROJECT["project"]["license"] == "MIT"
    requires = PROJECT["build-system"]["requires"]
    assert requires == ["setuptools>=77"], "setuptools reads SPDX license strings from 77"


def test_the_metadata_is_complete():
    project = PROJECT["project"]
    assert {"Homepage", "Documentation", "Source", "Changelog", "Issues"} <= set(project["urls"])
    assert "Typing :: Typed" in project["classifiers"]
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert project["keywords"]
    assert project["requires-python"] == ">=3.11"


def test_the_package_ships_a_py_typed_marker():
    assert (ROOT / "seatctl" / "py.typed").is_file()
    assert "py.typed" in PROJECT["tool"]["setuptools"]["package-data"]["seatctl"]


def test_the_dev_extra_has_what_ci_runs():
    dev = " ".join(PROJECT["project"]["optional-dependencies"]["dev"])
    for tool in ("mypy", "build", "ruff", "pytest"):
        assert tool in dev


def test_ci_type_checks_and_runs_the_built_wheel_from_a_fresh_environment():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "mypy --strict seatctl" in ci
    assert "python -m build" in ci
    assert 'python3 -m venv "$dist/venv"' in ci
    assert "seatctl-*.whl" in ci
    for step in ("--version", "init --seats", "lock 2 --user ci", "confirm 2 --user ci"):
        assert step in ci, step
