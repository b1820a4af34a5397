"""gsoia's architecture, enforced: what each package may import, no import cycles, no
use of another module's private names, and the pages, the commands and the API reading
through the node, never the tables.

The scanner reads every module of ``src/gsoia`` with ``ast``: every import statement
anywhere in it (at the top, in a function, in a ``try``), except those under
``if TYPE_CHECKING:``, which never run. An import ``from a.b import c`` is an edge to the
module ``a.b.c`` when there is one, else to ``a.b``; ``import a.b.c`` is an edge to
``a.b.c``. The package ``__init__`` that Python runs on the way is not an edge of its own.

The rules, one test each:

- ``LAYERS``: which of gsoia's packages each package may import (itself and
  ``gsoia.errors`` always).
- No cycle among modules, counting imports inside functions; none among packages either.
- No module uses another's private names: ``from x import _y``, ``module._y`` (a module
  it imported), ``obj._y`` (any object but ``self``, ``cls``, ``super()`` and the module's
  own names, and a private name the module itself defines); ``ALLOWED_PRIVATE`` lists the
  exceptions, each with its reason.
- ``cli``, ``web`` and ``api`` import neither ``gsoia.store`` (the tables, the engine) nor
  SQLAlchemy (or another database library), and touch no engine or connection
  (``DATABASE_ATTRIBUTES``): they go through ``gsoia.node``.
- ``catalogue`` and ``decision`` are pure: no I/O library (``PURE_IMPORTS``).

Each failure names the file, the line and the rule broken. The scanner's own tests (on
small made-up sources) come first: each rule can fail.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = "gsoia"

# -- the rules -------------------------------------------------------------------------

_CORE = frozenset({"catalogue", "decision"})
_KEEP = _CORE | {"crypto", "store", "audit"}
_BELOW_NODE = _KEEP | {"federation", "labels_xml"}
_BELOW_TOP = _BELOW_NODE | {"node", ""}  # "": gsoia/__init__.py, the library's face

LAYERS: dict[str, frozenset[str]] = {
    # package: the packages of gsoia it may import (besides itself and gsoia.errors)
    "errors": frozenset(),  # the bottom: anyone may import it
    "catalogue": frozenset(),  # policies, agreements, equivalences
    "decision": frozenset({"catalogue"}),  # pure rules, compiled tables
    "crypto": _CORE | {"store"},  # one row: crypto, store and audit may use crypto and store
    "store": _CORE | {"crypto"},
    "audit": _CORE | {"crypto", "store"},  # the log is stored and signed
    "labels_xml": _CORE,  # SPIF and STANAG 4774 XML read into catalogue policies
    "federation": _KEEP,  # packages, outbox/inbox, peers, delivery
    "node": _BELOW_NODE,  # the use cases
    "web": _BELOW_TOP,  # server-rendered pages
    "api": _BELOW_TOP | {"web"},  # the one that serves mounts the pages
    "cli": _BELOW_TOP | {"api"},  # the command line starts the server
    "": _CORE,  # gsoia/__init__.py: __version__, today_utc, load_catalogue (above decision)
    "__main__": frozenset({"cli"}),  # python -m gsoia
}

TOP = frozenset({"cli", "web", "api"})
"""They read through the node: no ``gsoia.store``, no SQLAlchemy, no engine."""
FORBIDDEN_TO_TOP = frozenset({"store"})
"""gsoia's packages they may not import (the tables, the engine)."""
DATABASE_LIBRARIES = frozenset({"sqlalchemy", "alembic", "psycopg", "sqlite3"})
DATABASE_ATTRIBUTES = frozenset({"engine", "execute", "executemany", "scalar", "scalars"})
"""An engine or a connection at work: ``node.engine``, ``connection.execute(...)``."""

PURE = frozenset({"catalogue", "decision"})
PURE_IMPORTS = frozenset({"msgspec", "numpy", "pydantic", "typing_extensions", "yaml"})
"""The libraries outside the standard library that ``catalogue`` and ``decision`` may use
(they parse, validate and compute; the catalogue's YAML is read with ``pathlib``)."""
IO_STDLIB = frozenset(
    {
        "asyncio",
        "concurrent",
        "ftplib",
        "http",
        "imaplib",
        "multiprocessing",
        "poplib",
        "select",
        "selectors",
        "smtplib",
        "socket",
        "socketserver",
        "sqlite3",
        "ssl",
        "subprocess",
        "urllib",
        "xmlrpc",
    }
)
"""Standard library modules that talk to the network, a database or other processes."""

ALLOWED_PRIVATE: dict[tuple[str, str], str] = {
    # (module using it, "what._name" or "*._name"): why it is legitimate
    ("*", "*._mapping"): "SQLAlchemy Row's public API (underscored not to clash with columns)",
    ("*", "*._asdict"): "a named tuple's public API (underscored not to clash with fields)",
    ("*", "*._replace"): "a named tuple's public API (underscored not to clash with fields)",
    ("*", "*._make"): "a named tuple's public API (underscored not to clash with fields)",
}
"""Uses of a private name outside its module that are accepted, each with its reason."""

ALLOWED_IMPORTS: dict[tuple[str, str], str] = {
    # (importing module, imported module): why the import is allowed for now
}
"""Imports that break ``LAYERS`` or make a cycle, accepted for now, each with its reason."""

# -- the scanner -----------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``path:line``."""

    source: str
    target: str
    names: tuple[str, ...]
    """The names a ``from`` import takes from ``target`` (empty: ``import target``)."""
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Private:
    """A use of a private name: ``what._name`` (or ``from what import _name``)."""

    source: str
    what: str
    name: str
    kind: str
    """``import`` (from x import _y), ``module`` (module._y), ``object`` (obj._y)."""
    path: str
    line: int

    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Module:
    name: str
    path: str
    tree: ast.Module
    is_package: bool
    imports: list[Import] = field(default_factory=list)
    attributes: list[tuple[str, str, int]] = field(default_factory=list)
    """Every ``value.attr`` read or written: (the value's text, attr, line)."""


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node under ``body``, skipping the bodies of ``if TYPE_CHECKING:``."""
    for statement in body:
        yield from _walk(statement)


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    if isinstance(node, ast.If) and _type_checking(node.test):
        yield node.test
        for other in node.orelse:
            yield from _walk(other)
        return
    yield node
    for child in ast.iter_child_nodes(node):
        yield from _walk(child)


class Project:
    """The modules of one package tree and their imports."""

    def __init__(self, root: str, files: Mapping[str, str], shown: str = "") -> None:
        """``files``: source by path relative to the root package's directory, e.g.
        ``{"__init__.py": "...", "node/service.py": "..."}``; ``shown`` prefixes paths in
        messages."""
        self.root = root
        self.modules: dict[str, Module] = {}
        for relative, source in sorted(files.items()):
            parts = relative.removesuffix(".py").split("/")
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            name = ".".join([root, *parts])
            tree = ast.parse(source, filename=relative)
            self.modules[name] = Module(name, f"{shown}{relative}", tree, is_package)
        for module in self.modules.values():
            self._scan(module)

    @classmethod
    def from_directory(cls, directory: Path) -> Project:
        files = {
            path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
            for path in directory.rglob("*.py")
        }
        shown = f"{directory.relative_to(directory.parent.parent).as_posix()}/"
        return cls(directory.name, files, shown)

    # -- reading ---------------------------------------------------------------------

    def _resolve(self, module: Module, level: int, name: str | None) -> str:
        if level == 0:
            return name or ""
        parts = module.name.split(".")
        if not module.is_package:
            parts = parts[:-1]
        parts = parts[: len(parts) - (level - 1)]
        return ".".join([*parts, name] if name else parts)

    def _scan(self, module: Module) -> None:
        for node in _statements(module.tree.body):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports.append(
                        Import(module.name, alias.name, (), module.path, node.lineno)
                    )
            elif isinstance(node, ast.ImportFrom):
                base = self._resolve(module, node.level, node.module)
                by_target: dict[str, list[str]] = {}
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    target = submodule if submodule in self.modules else base
                    by_target.setdefault(target, []).append(alias.name)
                for target, names in by_target.items():
                    module.imports.append(
                        Import(module.name, target, tuple(names), module.path, node.lineno)
                    )
            elif isinstance(node, ast.Attribute):
                module.attributes.append((ast.unparse(node.value), node.attr, node.lineno))

    # -- the graph -------------------------------------------------------------------

    def edges(self) -> dict[str, dict[str, Import]]:
        """Module -> the modules of the project it imports (the first import of each)."""
        graph: dict[str, dict[str, Import]] = {name: {} for name in self.modules}
        for module in self.modules.values():
            for edge in module.imports:
                if edge.target in self.modules and edge.target != module.name:
                    graph[module.name].setdefault(edge.target, edge)
        return graph

    def cycles(
        self, allowed: Mapping[tuple[str, str], str] | None = None, *, packages: bool = False
    ) -> list[list[Import]]:
        """One cycle (as its edges) through each strongly connected group of modules (or of
        gsoia's packages: an edge is a module of one importing a module of another), the
        ``allowed`` edges left out."""
        graph = self.edges()
        for source, target in allowed or {}:
            graph.get(source, {}).pop(target, None)
        if packages:
            between: dict[str, dict[str, Import]] = {}
            for source, targets in sorted(graph.items()):
                for target, edge in sorted(targets.items()):
                    mine, theirs = package_of(source), package_of(target)
                    between.setdefault(theirs, {})
                    if mine != theirs:
                        between.setdefault(mine, {}).setdefault(theirs, edge)
            graph = between
        found: list[list[Import]] = []
        for group in _strongly_connected(graph):
            if len(group) < 2:
                continue
            start = min(group)
            found.append(_cycle_through(graph, start, group))
        return found

    # -- private names ---------------------------------------------------------------

    def private_uses(self) -> list[Private]:
        uses: list[Private] = []
        for module in self.modules.values():
            own = _own_names(module.tree)
            defined = _private_definitions(module.tree)
            imported_modules = _imported_modules(module, self)
            for edge in module.imports:
                if edge.target == module.name:
                    continue
                for name in edge.names:
                    if private(name):
                        uses.append(Private(module.name, edge.target, name, "import", *_at(edge)))
                for part in edge.target.split(".")[1:]:
                    if private(part) and edge.target.split(".")[0] == self.root:
                        uses.append(Private(module.name, edge.target, part, "import", *_at(edge)))
            for value, attr, line in module.attributes:
                if not private(attr):
                    continue
                if value in {"self", "cls", "super()"}:
                    continue
                if value in imported_modules:
                    if imported_modules[value] == module.name:
                        continue
                    uses.append(Private(module.name, value, attr, "module", module.path, line))
                    continue
                if value in own or attr in defined:
                    continue
                uses.append(Private(module.name, value, attr, "object", module.path, line))
        return uses


def _at(edge: Import) -> tuple[str, int]:
    return edge.path, edge.line


def _own_names(tree: ast.Module) -> set[str]:
    """The names a module defines at its top level (not the ones it imports)."""
    names: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement]
            for target in targets:
                node = target if isinstance(target, ast.expr) else target.target
                for leaf in ast.walk(node):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
    return names


def _private_definitions(tree: ast.Module) -> set[str]:
    """The private names a module defines anywhere: functions, classes, methods, class
    attributes, ``self._x = ...`` and ``obj._x = ...``, fields of its classes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if private(name)}


def _imported_modules(module: Module, project: Project) -> dict[str, str]:
    """The names under which ``module`` holds a module: ``import a.b`` binds ``a`` (and
    ``a.b`` is read as such), ``import a.b as c`` binds ``c``, ``from a import b`` binds
    ``b`` when ``a.b`` is a module of the project."""
    held: dict[str, str] = {}
    for node in _statements(module.tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    held[alias.asname] = alias.name
                else:
                    parts = alias.name.split(".")
                    for end in range(1, len(parts) + 1):
                        held[".".join(parts[:end])] = ".".join(parts[:end])
        elif isinstance(node, ast.ImportFrom):
            base = project._resolve(module, node.level, node.module)
            for alias in node.names:
                if f"{base}.{alias.name}" in project.modules:
                    held[alias.asname or alias.name] = f"{base}.{alias.name}"
    return held


def _strongly_connected(graph: Mapping[str, Mapping[str, Import]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_through(
    graph: Mapping[str, Mapping[str, Import]], start: str, group: set[str]
) -> list[Import]:
    """The shortest cycle from ``start`` back to it, within ``group`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in group:
                    continue
                if child == start:
                    path = [graph[node][child]]
                    while node != start:
                        path.append(graph[previous[node]][node])
                        node = previous[node]
                    return path[::-1]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a group of two or more has one


def package_of(module: str) -> str:
    """``gsoia.node.exchange.release`` -> ``node``; ``gsoia`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def describe(cycle: list[Import], *, packages: bool = False) -> str:
    name = package_of if packages else str
    chain = " -> ".join([name(cycle[0].source), *(name(edge.target) for edge in cycle)])
    steps = "; ".join(f"{edge.source} imports {edge.target} at {edge.where()}" for edge in cycle)
    return f"{'package' if packages else 'import'} cycle {chain} ({steps})"


# -- the checks (on any project) -------------------------------------------------------


def layer_violations(
    project: Project,
    layers: Mapping[str, frozenset[str]],
    allowed: Mapping[tuple[str, str], str],
) -> list[str]:
    broken: list[str] = []
    for module in project.modules.values():
        mine = package_of(module.name)
        for edge in module.imports:
            if edge.target.split(".")[0] != project.root:
                continue
            theirs = package_of(edge.target)
            if theirs in {mine, "errors"} or (module.name, edge.target) in allowed:
                continue
            if mine not in layers:
                broken.append(f"{edge.where()}: package '{mine}' is not in LAYERS")
            elif theirs not in layers[mine]:
                may = ", ".join(sorted(layers[mine])) or "nothing but itself and errors"
                broken.append(
                    f"{edge.where()}: {module.name} imports {edge.target}: layer rule broken,"
                    f" '{mine or ROOT}' may import only {may}"
                )
    return broken


def cycle_violations(project: Project, allowed: Mapping[tuple[str, str], str]) -> list[str]:
    return [
        f"{cycle[0].where()}: {describe(cycle)}: no-cycle rule broken"
        for cycle in project.cycles(allowed)
    ]


def package_cycle_violations(project: Project, allowed: Mapping[tuple[str, str], str]) -> list[str]:
    """A cycle among packages: the layers allow crypto and store to use each other, not
    both ways at once."""
    return [
        f"{cycle[0].where()}: {describe(cycle, packages=True)}: no-cycle rule broken"
        for cycle in project.cycles(allowed, packages=True)
    ]


def private_violations(project: Project, allowed: Mapping[tuple[str, str], str]) -> list[str]:
    broken: list[str] = []
    for use in project.private_uses():
        keys = [
            (use.source, f"{use.what}.{use.name}"),
            (use.source, f"*.{use.name}"),
            ("*", f"{use.what}.{use.name}"),
            ("*", f"*.{use.name}"),
        ]
        if any(key in allowed for key in keys):
            continue
        if use.kind == "import":
            text = f"imports the private name {use.name} from {use.what}"
        elif use.kind == "module":
            text = f"uses the private name {use.what}.{use.name} of another module"
        else:
            text = f"uses the private attribute {use.name} of {use.what}, defined elsewhere"
        broken.append(f"{use.where()}: {use.source} {text}: private-name rule broken")
    return broken


def table_violations(project: Project) -> list[str]:
    broken: list[str] = []
    for module in project.modules.values():
        if package_of(module.name) not in TOP:
            continue
        for edge in module.imports:
            top = edge.target.split(".")[0]
            ours = top == project.root
            if (ours and package_of(edge.target) in FORBIDDEN_TO_TOP) or (
                not ours and top in DATABASE_LIBRARIES
            ):
                broken.append(
                    f"{edge.where()}: {module.name} imports {edge.target}: cli, web and"
                    " api read through gsoia.node, never the tables"
                )
        for value, attr, line in module.attributes:
            if attr in DATABASE_ATTRIBUTES:
                broken.append(
                    f"{module.path}:{line}: {module.name} uses {value}.{attr}: cli, web and"
                    " api read through gsoia.node, never an engine or a connection"
                )
    return broken


def purity_violations(project: Project) -> list[str]:
    broken: list[str] = []
    for module in project.modules.values():
        if package_of(module.name) not in PURE:
            continue
        for edge in module.imports:
            top = edge.target.split(".")[0]
            if top in {project.root, "__future__"} or top in PURE_IMPORTS:
                continue
            if top in sys.stdlib_module_names and top not in IO_STDLIB:
                continue
            broken.append(
                f"{edge.where()}: {module.name} imports {edge.target}: catalogue and"
                " decision are pure (no I/O library; see PURE_IMPORTS and IO_STDLIB)"
            )
    return broken


def _report(broken: list[str]) -> str:
    return f"{len(broken)} broken:\n" + "\n".join(broken)


# -- the scanner's own tests -----------------------------------------------------------


def _project(**files: str) -> Project:
    """A made-up package ``pkg``: ``_project(a="...", b__c="...")`` has ``pkg/a.py`` and
    ``pkg/b/c.py`` (and ``pkg/__init__.py``, ``pkg/b/__init__.py``)."""
    sources = {"__init__.py": ""}
    for name, source in files.items():
        parts = name.split("__")
        for end in range(1, len(parts)):
            sources.setdefault("/".join(parts[:end]) + "/__init__.py", "")
        sources["/".join(parts) + ".py"] = source
    return Project("pkg", sources)


def test_scanner_finds_a_cycle_through_an_import_inside_a_function() -> None:
    project = _project(
        a="from pkg.b import thing\n",
        b="def thing():\n    from pkg.a import other\n    return other\n",
    )
    broken = cycle_violations(project, {})
    assert len(broken) == 1
    assert "pkg.a -> pkg.b -> pkg.a" in broken[0]
    assert "pkg.b imports pkg.a at b.py:2" in broken[0]


def test_scanner_finds_a_longer_cycle_and_relative_imports() -> None:
    project = _project(
        x__a="from . import b\n",
        x__b="from .c import f\n",
        x__c="import pkg.x.a\n",
    )
    (cycle,) = project.cycles()
    assert [edge.target for edge in cycle] == ["pkg.x.b", "pkg.x.c", "pkg.x.a"]


def test_scanner_finds_a_cycle_among_packages() -> None:
    project = _project(
        low__a="from pkg.high.b import f\n",
        high__c="def g():\n    import pkg.low.d\n",
        low__d="",
        high__b="",
    )
    assert cycle_violations(project, {}) == []
    (broken,) = package_cycle_violations(project, {})
    assert broken.startswith("high/c.py:2: package cycle high -> low -> high (pkg.high.c")


def test_scanner_does_not_count_type_checking_imports() -> None:
    project = _project(
        a="from pkg.b import thing\n",
        b=(
            "from typing import TYPE_CHECKING\n"
            "import typing\n"
            "if TYPE_CHECKING:\n    from pkg.a import Other\n"
            "if typing.TYPE_CHECKING:\n    import pkg.a\n"
            "else:\n    import json\n"
            "def thing(x: Other) -> None: ...\n"
        ),
    )
    assert project.cycles() == []
    assert {edge.target for edge in project.modules["pkg.b"].imports} == {"typing", "json"}


def test_scanner_flags_private_names_of_other_modules() -> None:
    project = _project(
        a="def _helper(): ...\nclass A:\n    def __init__(self):\n        self._x = 1\n",
        b=(
            "from pkg.a import _helper\n"
            "import pkg.a\n"
            "from pkg import a as mod\n"
            "def f(thing, row):\n"
            "    mod._helper()\n"
            "    pkg.a._helper()\n"
            "    row._mapping\n"
            "    return thing._x\n"
        ),
    )
    broken = private_violations(project, ALLOWED_PRIVATE)
    assert len(broken) == 4, _report(broken)
    assert broken[0].startswith("b.py:1: pkg.b imports the private name _helper from pkg.a")
    assert "b.py:5: pkg.b uses the private name mod._helper" in broken[1]
    assert "b.py:6: pkg.b uses the private name pkg.a._helper" in broken[2]
    assert "b.py:8: pkg.b uses the private attribute _x of thing" in broken[3]


def test_scanner_lets_a_module_use_its_own_private_names() -> None:
    project = _project(
        a=(
            "import collections\n"
            "_CACHE = {}\n"
            "class A:\n"
            "    _count = 0\n"
            "    def __init__(self):\n        self._x = 1\n"
            "    def same(self, other: 'A') -> bool:\n"
            "        return other._x == self._x and A._count == type(self)._count\n"
            "def f():\n    return _CACHE.__len__(), super().__init__\n"
        ),
    )
    assert private_violations(project, ALLOWED_PRIVATE) == []


def test_scanner_checks_layers_tables_and_purity() -> None:
    project = _project(
        low__m="import socket\nfrom pkg.high.m import f\n",
        high__m="from pkg.low.m import g\nimport sqlalchemy\n",
    )
    layers = {"low": frozenset(), "high": frozenset({"low"}), "": frozenset()}
    broken = layer_violations(project, layers, {})
    assert len(broken) == 1
    assert broken[0].startswith("low/m.py:2: pkg.low.m imports pkg.high.m: layer rule broken")
    assert "pkg.high.m -> pkg.low.m -> pkg.high.m" in cycle_violations(project, {})[0]
    assert cycle_violations(project, {("pkg.low.m", "pkg.high.m"): "for now"}) == []
    assert table_violations(project) == []  # pkg has no cli, web or api
    assert purity_violations(project) == []  # nor catalogue or decision


def test_scanner_checks_tables_and_purity() -> None:
    project = _project(
        web__page="import sqlalchemy as sa\nfrom pkg.store.schema import users\n",
        cli__cmd="def f(node):\n    return node.engine.connect()\n",
        api__ok="def f(node):\n    return node.accounts.get('x')\n",
        decision__rule="import socket\nimport numpy\nimport json\nfrom pkg.catalogue import m\n",
        catalogue__load="def f():\n    import httpx\n",
    )
    tables = table_violations(project)
    assert len(tables) == 2 + 1, _report(tables)
    assert tables[0].startswith("cli/cmd.py:2: pkg.cli.cmd uses node.engine")
    assert tables[1].startswith("web/page.py:1: pkg.web.page imports sqlalchemy")
    pure = purity_violations(project)
    assert [line.split(":")[:2] for line in pure] == [
        ["catalogue/load.py", "2"],
        ["decision/rule.py", "1"],
    ]


# -- the rules, on gsoia ---------------------------------------------------------------


@pytest.fixture(scope="module")
def gsoia() -> Project:
    return Project.from_directory(SRC / ROOT)


def test_every_package_is_in_the_layers(gsoia: Project) -> None:
    packages = {package_of(name) for name in gsoia.modules}
    assert packages == set(LAYERS), "LAYERS names exactly gsoia's packages"


def test_each_package_imports_only_what_its_layer_allows(gsoia: Project) -> None:
    broken = layer_violations(gsoia, LAYERS, ALLOWED_IMPORTS)
    assert not broken, _report(broken)


def test_no_import_cycles(gsoia: Project) -> None:
    broken = cycle_violations(gsoia, ALLOWED_IMPORTS)
    assert not broken, _report(broken)


def test_no_import_cycles_among_packages(gsoia: Project) -> None:
    broken = package_cycle_violations(gsoia, ALLOWED_IMPORTS)
    assert not broken, _report(broken)


def test_no_module_uses_another_modules_private_names(gsoia: Project) -> None:
    broken = private_violations(gsoia, ALLOWED_PRIVATE)
    assert not broken, _report(broken)


def test_cli_web_and_api_read_through_the_node(gsoia: Project) -> None:
    broken = table_violations(gsoia)
    assert not broken, _report(broken)


def test_catalogue_and_decision_are_pure(gsoia: Project) -> None:
    broken = purity_violations(gsoia)
    assert not broken, _report(broken)


def test_the_allow_lists_hold_only_what_is_used(gsoia: Project) -> None:
    """An allowance nobody needs any more goes (so that the lists only shrink)."""
    edges = {(edge.source, edge.target) for m in gsoia.modules.values() for edge in m.imports}
    stale = [key for key in ALLOWED_IMPORTS if key not in edges]
    assert not stale, f"ALLOWED_IMPORTS holds imports no module makes: {stale}"
    for key in ALLOWED_IMPORTS:  # and each is still needed: without it, a rule breaks
        without = {k: v for k, v in ALLOWED_IMPORTS.items() if k != key}
        broken = (
            layer_violations(gsoia, LAYERS, without)
            + cycle_violations(gsoia, without)
            + package_cycle_violations(gsoia, without)
        )
        assert broken, f"ALLOWED_IMPORTS holds {key}, which no rule needs any more"
    uses = gsoia.private_uses()
    used = {(u.source, f"{u.what}.{u.name}") for u in uses} | {("*", f"*.{u.name}") for u in uses}
    used |= {(u.source, f"*.{u.name}") for u in uses} | {("*", f"{u.what}.{u.name}") for u in uses}
    stale_private = [key for key in ALLOWED_PRIVATE if key not in used]
    assert not stale_private, f"ALLOWED_PRIVATE holds uses no module makes: {stale_private}"
