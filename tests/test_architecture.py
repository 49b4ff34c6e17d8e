"""The package's shape: rooms imported left to right only, no import cycles, one registry.

Data flows one way (``../shared/DESIGN.md``, README "Layout"): a module may import its own
room and the rooms to its left, never one to its right, and no two modules import each other,
directly or round a loop. Every import counts, at the top of a module or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "swtwo_tf"

#: Each room's place, left to right; rooms of one rank must not import each other.
RANKS = {
    "config": 0, "files": 0, "tables": 0, "lesson": 0,
    "datasets": 1,
    "features": 2,
    "layers": 3,
    "models": 4,
    "training": 5,
    "evaluation": 6, "plots": 6, "distribute": 6, "trust": 6,
    "deploy": 7,
    "course": 8, "exercises": 8,
    "cli": 9,
}


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}``; a package is named by its ``__init__.py``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports: ``from pkg import sub`` counts as ``pkg.sub``
    when that is a module, else as ``pkg``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known
                     else node.module for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # import a.b.c of a module a.b
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    known = modules(root)
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop found by a depth-first walk, each as the modules round it."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def leftward_violations(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for source, targets in edges.items():
        for target in targets:
            a, b = room(source), room(target)
            if a is None or b is None or a == b:
                continue
            if RANKS[b] >= RANKS[a]:
                bad.append(f"{source} imports {target}: {b} is not to the left of {a}")
    return sorted(bad)


def test_every_room_has_a_place():
    rooms = {room(m) for m in modules()} - {None}
    assert rooms <= set(RANKS), f"rooms without a place in RANKS: {sorted(rooms - set(RANKS))}"


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_no_room_imports_one_to_its_right():
    assert leftward_violations(graph()) == []


def test_the_package_root_imports_nothing():
    assert graph()["swtwo_tf"] == set()


def test_the_checks_find_what_they_look_for():
    loop = {"swtwo_tf.a": {"swtwo_tf.b"}, "swtwo_tf.b": {"swtwo_tf.c"},
            "swtwo_tf.c": {"swtwo_tf.a"}}
    assert cycles(loop) == [["swtwo_tf.a", "swtwo_tf.b", "swtwo_tf.c", "swtwo_tf.a"]]
    assert leftward_violations({"swtwo_tf.datasets.core": {"swtwo_tf.training"}}) == [
        "swtwo_tf.datasets.core imports swtwo_tf.training: training is not to the left of "
        "datasets"]
    assert leftward_violations({"swtwo_tf.plots": {"swtwo_tf.evaluation"}})  # same rank


def test_a_function_level_import_counts(tmp_path):
    pkg = tmp_path / "swtwo_tf"
    (pkg / "datasets").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "training.py").write_text("")
    (pkg / "datasets" / "__init__.py").write_text("")
    (pkg / "datasets" / "core.py").write_text(
        "def f():\n    from swtwo_tf import training\n    return training\n")
    assert graph(pkg)["swtwo_tf.datasets.core"] == {"swtwo_tf.training"}
    assert leftward_violations(graph(pkg))
