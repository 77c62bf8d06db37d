"""The house's layering (docs/architecture.md): a module imports only its own layer or lower
ones, at module level or inside functions alike."""

import ast
from pathlib import Path

import handkit

LAYERS = [
    {"utils"},
    {"hand", "geometry", "external"},
    {"data", "losses", "render"},
    {"models"},
    {"eval"},
    {"mining", "infer"},
    {"tasks"},
    {"experiments"},
    {"commands", "cli"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
ROOT = Path(handkit.__file__).parent


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "handkit" and len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_every_package_has_a_layer():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    packages |= {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        if own == "__init__":
            continue
        for line, module in _imports(path):
            target = _package(module)
            if target is not None and RANK[target] > RANK[own]:
                upward.append(f"{rel}:{line} imports {module} ({own} -> {target})")
    assert not upward, "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from handkit.tasks.finetune import finetune\n")
    assert [m for _, m in _imports(bad)] == ["handkit.tasks.finetune"]
