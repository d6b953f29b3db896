"""The source tree's shape (issue 10): no import cycles, small modules, subpackages by concern."""
from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"qdimd": ROOT / "qdimd", "inpaint": ROOT / "inpaint", "qdimd_cli": ROOT / "cli"}


def _modules() -> dict[str, Path]:
    """Every project module by dotted name (a package by its ``__init__``)."""
    out = {}
    for top, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that ``name`` imports anywhere in its file (also inside functions)."""
    is_pkg = path.name == "__init__.py"
    package = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in modules else mod for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # ``import a.b.c`` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .a import y\n")
    modules = {"p.a": tmp_path / "a.py", "p.b": tmp_path / "b.py"}
    graph = {n: _imports(n, p, modules) for n, p in modules.items()}
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_no_import_cycles():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _cycles(graph) == []


def _unit(name: str, modules: dict[str, Path]) -> str:
    """The subpackage a module belongs to (``qdimd.masks``), or the module itself at a package's top."""
    parts = name.split(".")
    if len(parts) > 2 or (len(parts) == 2 and modules[name].name == "__init__.py"):
        return ".".join(parts[:2])
    return name


def test_no_import_cycles_between_subpackages():
    """Data flows one way: strokes -> masks -> files -> sets; nn -> fill -> retrieval -> evaluation -> training."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        unit = _unit(name, modules)
        graph.setdefault(unit, set())
        for target in _imports(name, path, modules):
            if (other := _unit(target, modules)) != unit and "." in unit and "." in other:
                graph[unit].add(other)
    for units in graph.values():
        for unit in units:
            graph.setdefault(unit, set())
    subpackages = {u: d for u, d in graph.items() if modules.get(u, Path()).name == "__init__.py"}
    assert _cycles({u: {d for d in deps if d in subpackages} for u, deps in subpackages.items()}) == []


def test_no_module_imports_its_own_package_init():
    modules = _modules()
    for name, path in modules.items():
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        assert not (_imports(name, path, modules) & parents), name


@pytest.mark.parametrize("top", ["qdimd", "inpaint"])
def test_at_most_12_modules_at_the_top_of_each_package(top):
    folder = PACKAGES[top]
    entries = [p for p in folder.glob("*.py") if p.name != "__init__.py"] + [p for p in folder.iterdir() if (p / "__init__.py").exists()]
    assert len(entries) <= 12, sorted(p.name for p in entries)


def test_no_module_over_400_lines():
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


def test_cli_holds_only_click_commands_and_their_plumbing():
    """cli/ modules import no numpy or torch at module level: the work happens in the library."""
    for path in PACKAGES["qdimd_cli"].glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names]
        top += [n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module]
        assert not [m for m in top if m.split(".")[0] in ("numpy", "torch", "cv2", "PIL")], path.name


def test_every_subpackage_is_in_setup_cfg():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert listed == found
