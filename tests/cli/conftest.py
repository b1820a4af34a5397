"""Fixtures for the CLI tests: every test runs the ``gsoia`` command line with its working
directory in ``tmp_path``, so nothing touches the repository: in this process (``run``),
or the installed script in a subprocess (``run_script``) where the process is the point."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from cli_support import (
    GSOIA,
    REQUEST,
    SMALL_CATALOGUE,
    Result,
    Runner,
    run_gsoia,
    run_in_process,
)


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    """``run(*args, input=None, env=None) -> CompletedProcess``, in ``tmp_path``, in this
    process."""

    def _run(
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> Result:
        return run_in_process(*args, input=input, cwd=tmp_path, env=env, timeout=timeout)

    return _run


@pytest.fixture
def run_script(tmp_path: Path) -> Runner:
    """``run`` by the installed script, in a subprocess."""
    assert GSOIA.exists(), f"the gsoia script is not installed at {GSOIA}"

    def _run(
        *args: str,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> Result:
        return run_gsoia(*args, input=input, cwd=tmp_path, env=env, timeout=timeout)

    return _run


@pytest.fixture
def request_file(tmp_path: Path) -> Path:
    """The docs/decision.md §2 request, pretty-printed as a user would write it."""
    path = tmp_path / "request.json"
    path.write_text(json.dumps(REQUEST, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return path


@pytest.fixture
def small_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL_CATALOGUE, allow_unicode=True, sort_keys=False), "utf-8")
    return path


@pytest.fixture
def small_json(tmp_path: Path) -> Path:
    path = tmp_path / "small.json"
    path.write_text(json.dumps(SMALL_CATALOGUE, ensure_ascii=False, indent=2), "utf-8")
    return path
