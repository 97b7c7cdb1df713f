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
