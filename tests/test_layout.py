"""The package's layout rules (README, Layout): dependencies point one way, imports inside
functions included; no import cycle; no module over 500 lines.

Layers, lowest first: core <- zoo, hardware <- trace <- engine <- fit <- measure <- present <-
studies <- cli. A module may import its own subpackage and any lower layer; zoo and hardware
(one layer) do not import each other; only the command line imports the package's facade
(``roofline/__init__.py``, the public API). The one stated exception: the notebook hooks
(``_repr_html_``, ``plot`` and ``plot_*`` methods) may import ``present`` lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "roofline"
LAYERS = (("core",), ("zoo", "hardware"), ("trace",), ("engine",), ("fit",), ("measure",), ("present",),
          ("studies",), ("cli",))
RANK = {p: i for i, layer in enumerate(LAYERS) for p in layer}
HOOKS = ("_repr_html_", "plot")
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path) -> list[tuple[str, int, str]]:
    """(imported roofline module, line, enclosing function name or '') for every import in ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int, str]] = []

    def visit(node: ast.AST, func: str) -> None:
        for child in ast.iter_child_nodes(node):
            f = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and not func else func
            if isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_pkg else module.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "roofline" or target.startswith("roofline."):
                    for alias in child.names:
                        sub = f"{target}.{alias.name}"
                        found.append((sub if sub in MODULES else target, child.lineno, f))
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, f) for a in child.names if a.name.split(".")[0] == "roofline")
            visit(child, f)

    visit(tree, "")
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_subpackage_has_a_layer():
    packages = {_layer(m) for m in MODULES} - {None}
    assert packages <= set(RANK), f"subpackages without a layer: {sorted(packages - set(RANK))}"
    loose = [m for m in MODULES if m.count(".") == 1 and m.split(".")[1] not in RANK and m != "roofline.__main__"]
    assert not loose, f"modules outside the layers: {loose}"


def test_dependencies_point_one_way():
    bad = []
    for module, path in MODULES.items():
        own = _layer(module)
        if own is None:  # the package's facade (roofline/__init__.py) re-exports the API
            continue
        for target, line, func in _imports(module, path):
            dep = _layer(target)
            if dep is None and own != "cli":  # the command line is a view over the API (the facade)
                bad.append(f"{module}:{line} imports the facade {target}")
            elif dep is not None and dep != own and RANK[dep] >= RANK[own]:
                if dep == "present" and func.startswith(HOOKS):
                    continue  # a notebook hook
                bad.append(f"{module}:{line} ({func or 'module level'}) imports {target}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in _imports(m, p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # a package's __init__ re-exports its submodules: an import of the package by its own submodule
    # is not counted (it is the submodule importing a sibling through the package)
    for m in graph:
        graph[m] = {t for t in graph[m] if not (m.startswith(t + ".") and (MODULES[t].name == "__init__.py"))}
    state: dict[str, int] = {}
    cycles = []

    def dfs(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                dfs(t, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            dfs(m, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines (at most {MAX_LINES})"
