"""The package's structure, as ARCHITECTURE.md describes it, checked on the source.

* every ``astrotinyml.<module>`` is a module (no function shadows its module);
* no module imports another module's private (``_name``) object, and a private module is
  imported only from inside its own package;
* the import graph of the package's modules has no cycle (imports inside functions count:
  a cycle hidden in a function is still a cycle; ``if TYPE_CHECKING:`` imports do not);
* library code does not read the repository's ``tests/`` and cites no document that is not in
  the repository.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PKG_DIR = Path(__file__).resolve().parent.parent / "astrotinyml"
PKG = "astrotinyml"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG_DIR.rglob("*.py"))}
#: ``python -m astrotinyml`` runs the CLI on import: never imported by anything.
ENTRY_POINTS = {"astrotinyml.__main__"}


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never executed)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def _imports(module: str):
    """(target module, imported name or None, line) for every package-internal import of ``module``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    skip = _type_checking_nodes(tree)
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[: len(base) - node.level + 1]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != PKG and not target.startswith(PKG + "."):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, None, node.lineno
                else:
                    yield target, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PKG or alias.name.startswith(PKG + "."):
                    yield alias.name, None, node.lineno


def _package_of(module: str) -> str:
    path = MODULES[module]
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


@pytest.mark.parametrize("name", sorted(set(MODULES) - ENTRY_POINTS))
def test_every_submodule_is_a_module_not_a_function(name):
    module = importlib.import_module(name)
    if "." not in name:
        return
    parent_name, leaf = name.rsplit(".", 1)
    parent = importlib.import_module(parent_name)
    # ``import astrotinyml.searching as s`` reads this attribute: it must be the module.
    assert getattr(parent, leaf) is module, (
        f"{parent_name}.{leaf} is {getattr(parent, leaf)!r}, not the module {name}: a name exported by "
        f"{parent_name} shadows it")


def test_no_module_imports_another_modules_private_names():
    offences = []
    for module in MODULES:
        for target, name, line in _imports(module):
            if name is not None and _is_private(name) and target != module:
                offences.append(f"{module}:{line} imports {target}.{name}")
            leaf = target.rsplit(".", 1)[-1]
            # ``from ._version import __version__``: the packaging convention, a dunder name only.
            dunder_only = name is not None and name.startswith("__")
            if target in MODULES and _is_private(leaf) and target != module and not dunder_only:
                home = target.rsplit(".", 1)[0]
                if not (module == home or module.startswith(home + ".")) or module.count(".") > target.count("."):
                    offences.append(f"{module}:{line} imports the private module {target} from outside {home}")
    assert not offences, "private reach-ins:\n" + "\n".join(offences)


def test_no_attribute_reach_into_other_modules_privates():
    """``from . import mod`` then ``mod._thing``: the same reach-in spelled as an attribute."""
    offences = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        bound = {}  # local name -> internal module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    target = ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in MODULES:
                        bound[alias.asname or alias.name] = f"{target}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES and alias.asname:
                        bound[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and bound.get(node.value.id, module) != module and _is_private(node.attr)):
                offences.append(f"{module}:{node.lineno} reads {bound[node.value.id]}.{node.attr}")
    assert not offences, "private reach-ins by attribute:\n" + "\n".join(offences)


def test_import_graph_has_no_cycle():
    graph = {m: set() for m in MODULES}
    for m in MODULES:
        for t, _, _ in _imports(m):
            if t not in MODULES or t == m:
                continue
            graph[m].add(t)
            # Importing a.b.c first runs the package a.b (its __init__): an edge to the package,
            # unless the importer is inside it (its own package is already being imported).
            # The top package is left out: its __init__ re-exports the whole API by design.
            parts = t.split(".")
            for k in range(2, len(parts)):
                pkg = ".".join(parts[:k])
                if pkg in MODULES and not (m == pkg or m.startswith(pkg + ".")):
                    graph[m].add(pkg)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_library_code_does_not_read_the_repositorys_tests_or_cite_outside_documents():
    offences = []
    for module, path in MODULES.items():
        text = path.read_text()
        for i, line in enumerate(text.splitlines(), 1):
            if re.search(r"""["'](\.\./)*tests/""", line) or "DESIGN.md" in line:
                offences.append(f"{module}:{i}: {line.strip()[:100]}")
    assert not offences, "\n".join(offences)
