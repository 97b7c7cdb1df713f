"""Nothing reaches up a floor: the generator does not import the baselines, the baselines neither the evaluation
protocol nor the generator, and the low floors none of them (checked on the source, so it cannot drift)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mgdd"
LOW = ["training.py", "selection.py", "objectives.py", "ridge.py", "augment.py", "nets", "data", "io.py", "device.py"]
FORBIDDEN = {
    "generator": {"mgdd.baselines", "mgdd.evaluation"},
    "baselines": {"mgdd.evaluation", "mgdd.generator"},
    **{low: {"mgdd.baselines", "mgdd.generator", "mgdd.evaluation", "mgdd.methods", "mgdd.release"} for low in LOW},
    # the shared loop and objective of the baselines and MGDD's refinement: below both
    **{shared: {"mgdd.baselines", "mgdd.generator", "mgdd.evaluation"} for shared in ("iterative.py", "feature_regression.py")},
    "synthetic.py": {"mgdd.release", "mgdd.baselines", "mgdd.generator", "mgdd.evaluation", "mgdd.methods"},
}


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the mgdd modules a file imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("mgdd")}


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_floor_imports_a_floor_above_it(floor):
    target = PACKAGE / floor
    files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert files
    for path in files:
        bad = {m for m in imported_modules(path) for above in FORBIDDEN[floor] if m == above or m.startswith(above + ".")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, known: set[str]) -> set[str]:
    """The mgdd modules ``path`` imports when it is imported (statements at module level, outside functions
    and ``if TYPE_CHECKING``), each resolved to the longest known module name."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            names = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("mgdd"):
                found.add(name)
    return found


def test_no_import_circle_at_import_time():
    """Modules imported when mgdd's modules load form no circle (lazy imports inside functions are allowed)."""
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in files}
    graph = {module_name(p): top_level_imports(p, known) - {module_name(p)} for p in files}
    # a package's __init__ importing its own submodules is the usual re-export, not a circle
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                raise AssertionError("import circle: " + " -> ".join(trail + [node, nxt]))
            if nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
