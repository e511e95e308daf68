"""The layering, checked on the import graph (``ast`` over ``audit/`` and ``consumers/``).

Rules (README, "Architecture"; issue 10):

* **entry points** (``consumers/*.py``, ``audit/cli/*.py``, ``audit/api/**``, ``audit/ui/**``)
  import settings, wiring and services, never an adapter (``audit.adapters.*``)
  nor a client library (``elasticsearch``, ``elastic_transport``, ``kafka``, ``confluent_kafka``);
* **the domain** (``audit/domain``) does no I/O: it imports no client, network,
  process or resource-loading module (nor ``audit.settings``, which reads the
  environment), calls no file read (``open``, ``read_text``, ``read_bytes``) and does
  not locate bundled files (``__file__``): data is loaded at the edge and parsed here;
* **no upward import**: domain <- services <- adapters <- api/cli/wiring/consumers
  (and the tool packages ``replay``, ``stack``). ``audit.errors`` is shared by all;
  ``audit.settings`` by every layer but the domain.

Every import counts, also inside functions and ``TYPE_CHECKING`` blocks: a
lazy import is still a dependency.

``KNOWN_VIOLATIONS`` held the 41 violations found before the refactoring of
issue 10; that work emptied it. It stays as the one place an exception
would have to be argued for; a second test fails when a listed violation no
longer exists, so the list can only shrink.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("audit", "consumers")

CLIENT_LIBRARIES = ("elasticsearch", "elastic_transport", "kafka", "confluent_kafka")
# Modules whose import means I/O (network, processes, bundled files, environment).
DOMAIN_IO = (
    *CLIENT_LIBRARIES,
    "requests",
    "httpx",
    "aiohttp",
    "urllib.request",
    "urllib.error",
    "http.client",
    "http.server",
    "socket",
    "ssl",
    "subprocess",
    "importlib.resources",
    "importlib_resources",
    "pkgutil",
    "audit.settings",
    "os",
    "pathlib",
)
FILE_READ_CALLS = ("open", "read_text", "read_bytes")

LAYERS = {  # package prefix -> rank; a module may import ranks <= its own
    "audit.domain": 0,
    "audit.services": 1,
    "audit.adapters": 2,
    "audit.api": 3,
    "audit.cli": 3,
    "audit.wiring": 3,
    "consumers": 3,
    "audit.replay": 3,
    "audit.stack": 3,
}


@dataclass(frozen=True, order=True)
class Import:
    importer: str
    imported: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def source_files() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    known = source_files()
    for alias in node.names:
        # ``from audit.adapters import metrics`` imports the module audit.adapters.metrics
        submodule = f"{target}.{alias.name}"
        if submodule in known or submodule in DOMAIN_IO:
            yield submodule
        else:
            yield target


@cache
def trees() -> dict[str, ast.Module]:
    return {
        module: ast.parse(path.read_text(encoding="utf-8"), str(path))
        for module, path in source_files().items()
    }


@cache
def imports() -> tuple[Import, ...]:
    found: set[Import] = set()
    for module, tree in trees().items():
        is_package = source_files()[module].name == "__init__.py"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, is_package):
                    found.add(Import(module, target, node.lineno))
    return tuple(sorted(found))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def rank(module: str) -> int | None:
    for prefix, value in LAYERS.items():
        if _within(module, prefix):
            return value
    return None


def is_entry_point(module: str) -> bool:
    parts = module.split(".")
    return (
        (parts[0] == "consumers" and len(parts) == 2)
        or (parts[:2] == ["audit", "cli"] and len(parts) == 3)
        # The whole HTTP layer reaches adapters through audit.wiring only.
        or (parts[:2] == ["audit", "api"] and len(parts) >= 3)
        or (parts[:2] == ["audit", "ui"] and len(parts) >= 3)
    )


@cache
def violations() -> frozenset[str]:
    """Each as ``importer -> imported (rule)``, rule one of ``entry-point``,
    ``domain-io``, ``upward`` (the module docstring's three rules). The line is
    left out so that edits elsewhere in a file do not disturb the allow-list."""
    found: set[str] = set()
    for item in imports():
        importer, imported = item.importer, item.imported
        if is_entry_point(importer) and (
            _within(imported, "audit.adapters")
            or any(_within(imported, lib) for lib in CLIENT_LIBRARIES)
        ):
            found.add(f"{importer} -> {imported} (entry-point)")
        if _within(importer, "audit.domain") and any(_within(imported, m) for m in DOMAIN_IO):
            found.add(f"{importer} -> {imported} (domain-io)")
        low, high = rank(importer), rank(imported)
        if low is not None and high is not None and high > low:
            found.add(f"{importer} -> {imported} (upward)")
    for module, tree in trees().items():
        if not _within(module, "audit.domain"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "__file__":
                found.add(f"{module} -> __file__ (domain-io)")
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in FILE_READ_CALLS:
                    found.add(f"{module} -> {name}() (domain-io)")
    return frozenset(found)


# Empty since issue 10 landed; never add one without a reason beside it.
KNOWN_VIOLATIONS: frozenset[str] = frozenset()


def test_no_new_layering_violation() -> None:
    new = sorted(violations() - KNOWN_VIOLATIONS)
    assert not new, "new import-layering violations:\n" + "\n".join(new)


def test_the_allow_list_only_names_violations_that_still_exist() -> None:
    fixed = sorted(KNOWN_VIOLATIONS - violations())
    assert not fixed, (
        "fixed, delete from KNOWN_VIOLATIONS in tests/unit/test_architecture.py:\n"
        + "\n".join(fixed)
    )


def test_the_checker_sees_each_kind_of_violation() -> None:
    # The walk must resolve relative imports and find every rule's case, or
    # the tests above would pass on an empty graph.
    graph = imports()
    assert len(source_files()) > 100
    assert any(i.importer == "audit.services.ingest" for i in graph)
    tree = ast.parse("from ..ports.ingest import EventStore\nfrom . import chain_keeper\n")
    resolved = [
        t
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for t in _targets(node, "audit.services.x.y", is_package=False)
    ]
    assert resolved == ["audit.services.ports.ingest", "audit.services.x"]
    assert is_entry_point("consumers.ingest")
    assert is_entry_point("audit.api.routers.events")
    assert is_entry_point("audit.api.app")
    assert not is_entry_point("audit.wiring.api")
    assert rank("audit.domain.event") == 0 and rank("audit.wiring") == 3
