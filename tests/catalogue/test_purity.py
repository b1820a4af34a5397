"""The pure core imports no web, database, network or CLI framework (as python-tuf).

``gsoia.catalogue`` and ``gsoia.decision`` decide; the store, the federation and the
interfaces call them, never the other way round.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FORBIDDEN = frozenset(
    {"sqlalchemy", "fastapi", "starlette", "httpx", "requests", "uvicorn", "typer"}
)
PURE_PACKAGES = ("catalogue", "decision")
SRC = Path(__file__).resolve().parents[2] / "src" / "gsoia"


def _imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``, wherever it is in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _python_files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


def test_the_pure_packages_have_python_files() -> None:
    for package in PURE_PACKAGES:
        assert _python_files(package), package


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_no_framework(package: str) -> None:
    offending = {
        str(path.relative_to(SRC)): sorted(_imported_modules(path) & FORBIDDEN)
        for path in _python_files(package)
        if _imported_modules(path) & FORBIDDEN
    }

    assert offending == {}


def test_the_import_finder_sees_nested_and_dotted_imports(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text(
        "import os\nfrom httpx import Client\nfrom . import sibling\n"
        "def f():\n    import sqlalchemy.orm\n",
        "utf-8",
    )

    assert _imported_modules(module) == {"os", "httpx", "sqlalchemy"}
