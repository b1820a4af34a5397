"""The repository explains its own rules: what it cites is in it.

README.md, docs/, benchmarks/ and src/ (code, templates, the bundled catalogue) name no
document outside the repository, every Markdown link of README.md and docs/ reaches a
file, and every ``*.md`` file named anywhere there exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "README.md", ROOT / "docs", ROOT / "benchmarks", ROOT / "src"]
TEXT = {".md", ".py", ".html", ".yaml", ".yml", ".json", ".css", ".js", ".txt", ".toml"}

OUTSIDE = re.compile(r"DECISION\.md|INTERFACES\.md|AGREEMENTS\.md|DESIGN\.md|STYLE\.md|shared/")
"""Documents that were never in the repository, and the directory they lived in."""
MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MD_NAME = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def _files() -> list[Path]:
    found: list[Path] = []
    for place in SCANNED:
        if place.is_file():
            found.append(place)
            continue
        found += sorted(
            p
            for p in place.rglob("*")
            if p.is_file() and p.suffix in TEXT and "__pycache__" not in p.parts
        )
    return found


FILES = _files()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_scan_sees_the_code_the_templates_and_the_catalogue() -> None:
    names = {_name(p) for p in FILES}
    assert "src/gsoia/decision/rulebook.py" in names
    assert "src/gsoia/catalogue/data/default.yaml" in names
    assert any(n.startswith("src/gsoia/web/templates/") for n in names)
    assert {"docs/decision.md", "docs/interfaces.md", "docs/agreements.md"} <= names


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_no_document_outside_the_repository(path: Path) -> None:
    text = path.read_text("utf-8")
    found = [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group()}" for m in OUTSIDE.finditer(text)
    ]
    assert found == []


def _exists(name: str, near: Path) -> bool:
    return (near.parent / name).exists() or (ROOT / name).exists()


@pytest.mark.parametrize("path", DOCS, ids=_name)
def test_every_link_reaches_a_file(path: Path) -> None:
    text = path.read_text("utf-8")
    broken = []
    for target in MARKDOWN_LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address, or a place in this page
        if not (path.parent / target.split("#")[0]).exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_every_markdown_file_named_exists(path: Path) -> None:
    text = path.read_text("utf-8")
    missing = sorted({n for n in MD_NAME.findall(text) if not _exists(n, path)})
    assert missing == []
